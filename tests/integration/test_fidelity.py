"""S3 behaviours the conformance suite (ceph/s3-tests) checks, driven with boto3 and raw HTTP:
retried completes, parts sent twice, GetObjectAttributes, conditional writes, bodies without a
Content-Length, and response-* overrides that cannot be headers."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import threading
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_multipart import PART, error, multipart_etag, upload_parts
from tests.wire import assert_missing, signed


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# -- CompleteMultipartUpload sent again -------------------------------------------------------------
def test_retried_complete_answers_the_same(s3, bucket):
    """A client that lost the answer to its complete sends it again: same ETag and checksum."""
    blobs = [os.urandom(PART), b"tail"]
    created = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")
    upload_id = created["UploadId"]
    parts = []
    for number, body in enumerate(blobs, start=1):
        got = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=body, ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": number, "ETag": got["ETag"], "ChecksumSHA256": got["ChecksumSHA256"]})
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert again["ETag"] == first["ETag"] == multipart_etag(blobs)
    assert again["ChecksumSHA256"] == first["ChecksumSHA256"]
    assert again["ChecksumSHA256"].endswith("-2")
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(blobs)
    # The upload is gone for everything else.
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert error(exc) == (404, "NoSuchUpload")
    # Under another key, or once the object was replaced, the upload is simply unknown.
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="other", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert error(exc) == (404, "NoSuchUpload")
    s3.put_object(Bucket=bucket, Key="mp", Body=b"replaced")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert error(exc) == (404, "NoSuchUpload")
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"replaced"


def test_part_whose_first_send_finishes_last(s3, bucket):
    """Part 1 sent twice, the first send answered last: both ETags end up listed, the stored part
    (the last PUT to complete) is the object."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="re")["UploadId"]
    second = s3.upload_part(Bucket=bucket, Key="re", UploadId=upload_id, PartNumber=1, Body=b"B" * 8)
    first = s3.upload_part(Bucket=bucket, Key="re", UploadId=upload_id, PartNumber=1, Body=b"A" * 8)
    parts = [{"PartNumber": 1, "ETag": second["ETag"]}, {"PartNumber": 1, "ETag": first["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"A" * 8


# -- GetObjectAttributes ----------------------------------------------------------------------------
ALL_ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def test_object_attributes_of_a_single_part_object(s3, bucket):
    body = b"attribute me"
    put = s3.put_object(Bucket=bucket, Key="one", Body=body, ChecksumAlgorithm="SHA256", StorageClass="STANDARD_IA")
    got = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=ALL_ATTRIBUTES)
    assert got["ETag"] == put["ETag"].strip('"')
    assert got["ObjectSize"] == len(body)
    assert got["StorageClass"] == "STANDARD_IA"
    assert got["Checksum"] == {"ChecksumSHA256": sha256_b64(body), "ChecksumType": "FULL_OBJECT"}
    assert "ObjectParts" not in got  # only multipart objects have parts
    assert "VersionId" not in got and "DeleteMarker" not in got
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="one")["LastModified"]
    only = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == len(body) and "ETag" not in only and "StorageClass" not in only


def test_object_attributes_of_a_multipart_object_page_by_page(s3, bucket):
    blobs = [os.urandom(PART) for _ in range(3)] + [b"last"]
    created = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")
    upload_id = created["UploadId"]
    parts = upload_parts(s3, bucket, "mp", upload_id, blobs, ChecksumAlgorithm="SHA256")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts})
    got = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL_ATTRIBUTES)
    assert got["ETag"] == done["ETag"].strip('"')
    assert got["Checksum"]["ChecksumSHA256"] == done["ChecksumSHA256"]
    assert got["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert got["ObjectSize"] == sum(map(len, blobs))
    listed = got["ObjectParts"]
    assert listed["TotalPartsCount"] == 4 and listed["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in listed["Parts"]] == [
        (n, len(b), sha256_b64(b)) for n, b in enumerate(blobs, start=1)
    ]
    # A part read carries the part's own checksum.
    for number, blob in enumerate(blobs, start=1):
        part = s3.get_object(Bucket=bucket, Key="mp", PartNumber=number)
        assert part["ChecksumSHA256"] == sha256_b64(blob) and part["ChecksumType"] == "COMPOSITE"
        assert part["Body"].read() == blob
    page = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1, PartNumberMarker=2)
    assert page["ObjectParts"]["PartNumberMarker"] == 2
    assert page["ObjectParts"]["NextPartNumberMarker"] == 3
    assert page["ObjectParts"]["MaxParts"] == 1
    assert page["ObjectParts"]["IsTruncated"] is True
    assert [p["PartNumber"] for p in page["ObjectParts"]["Parts"]] == [3]
    last = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=10, PartNumberMarker=3)
    assert [p["PartNumber"] for p in last["ObjectParts"]["Parts"]] == [4]
    assert last["ObjectParts"]["IsTruncated"] is False


def test_object_attributes_errors(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert error(exc) == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Colour"])
    assert error(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"], MaxParts=-1)
    assert error(exc) == (400, "InvalidArgument")


# -- partNumber reads -------------------------------------------------------------------------------
def test_part_number_reads(s3, bucket):
    blobs = [os.urandom(PART), b"end"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = upload_parts(s3, bucket, "mp", upload_id, blobs)
    with pytest.raises(ClientError) as exc:  # not an object yet
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert error(exc) == (404, "NoSuchKey")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts})
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert head["PartsCount"] == 2 and head["ContentLength"] == 3
    for number in (3, 10000):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="mp", PartNumber=number)
        assert error(exc) == (400, "InvalidPart")
    for number in (0, 10001):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="mp", PartNumber=number)
        assert error(exc) == (400, "InvalidArgument")


# -- conditional writes -----------------------------------------------------------------------------
def test_conditional_put(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"1", IfNoneMatch="*")["ETag"]
    for value in ("*", etag):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="c", Body=b"2", IfNoneMatch=value)
        assert error(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"1"
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"3", IfNoneMatch='"not-this-one"')["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="c", Body=b"4", IfMatch='"not-this-one"')
    assert error(exc) == (412, "PreconditionFailed")
    s3.put_object(Bucket=bucket, Key="c", Body=b"5", IfMatch=etag)
    s3.put_object(Bucket=bucket, Key="c", Body=b"6", IfMatch="*")
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"6"
    s3.delete_object(Bucket=bucket, Key="c")
    for value in ("*", etag):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="c", Body=b"7", IfMatch=value)
        assert error(exc) == (404, "NoSuchKey")
    assert_missing(s3, bucket, "c")


def test_conditional_complete(s3, bucket):
    def upload(body: bytes) -> tuple[str, list[dict]]:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key="c")["UploadId"]
        return upload_id, upload_parts(s3, bucket, "c", upload_id, [body])

    def complete(upload_id, parts, **condition):
        return s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=upload_id, MultipartUpload={"Parts": parts}, **condition)

    first = complete(*upload(b"one"), IfNoneMatch="*")
    # The object was there before this upload began: the condition is simply false.
    upload_id, parts = upload(b"two")
    with pytest.raises(ClientError) as exc:
        complete(upload_id, parts, IfNoneMatch="*")
    assert error(exc) == (412, "PreconditionFailed")
    # The upload stays, and can be completed when the condition holds.
    done = complete(upload_id, parts, IfMatch=first["ETag"])
    assert s3.get_object(Bucket=bucket, Key="c")["ETag"] == done["ETag"]
    with pytest.raises(ClientError) as exc:
        complete(*upload(b"three"), IfMatch='"nope"')
    assert error(exc) == (412, "PreconditionFailed")
    # An object written while the upload was in progress: a conflict, the upload must start over.
    s3.delete_object(Bucket=bucket, Key="c")
    upload_id, parts = upload(b"four")
    s3.put_object(Bucket=bucket, Key="c", Body=b"raced")
    with pytest.raises(ClientError) as exc:
        complete(upload_id, parts, IfNoneMatch="*")
    assert error(exc) == (409, "ConditionalRequestConflict")
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"raced"


# -- bodies and headers -----------------------------------------------------------------------------
def test_put_with_transfer_encoding_chunked(server, s3, bucket):
    """A body sent in HTTP chunks with no Content-Length is stored whole, and a body cut short is not."""
    body = os.urandom(300_000)
    target = f"/{bucket}/chunked"
    headers = signed(server, "PUT", target, body, {"Transfer-Encoding": "chunked"})
    headers.pop("Content-Length", None)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("PUT", target, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    for i in range(0, len(body), 65536):
        piece = body[i : i + 65536]
        conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    conn.send(b"0\r\n\r\n")
    reply = conn.getresponse()
    assert reply.status == 200, reply.read()
    conn.close()
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == body


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("gzip", "gzip"), ("deflate, gzip", "deflate, gzip"), ("gzip, aws-chunked", "gzip"), ("aws-chunked, gzip", "gzip"), ("aws-chunked", None)],
)
def test_content_encoding_kept_as_sent_without_aws_chunked(s3, bucket, sent, kept):
    s3.put_object(Bucket=bucket, Key="enc", Body=b"x", ContentEncoding=sent)
    assert s3.head_object(Bucket=bucket, Key="enc").get("ContentEncoding") == kept


@pytest.mark.parametrize("value", ["a\x01b", "line\nbreak", "tab\tthen\x7f", "caf\u00e9", "\u2603"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_response_override_that_cannot_be_a_header_is_400(server, s3, bucket, value, method):
    """Every request gets an answer: a response-* override with a control or non-ASCII character
    is S3's 400 InvalidArgument, and the connection stays usable."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for param in ("response-content-type", "response-cache-control", "response-content-disposition"):
        target = f"/{bucket}/k?{urllib.parse.urlencode({param: value}, quote_via=urllib.parse.quote)}"
        conn.request(method, target, headers=signed(server, method, target))
        reply = conn.getresponse()
        payload = reply.read()
        assert reply.status == 400, (param, payload)
        if method == "GET":
            assert b"<Code>InvalidArgument</Code>" in payload
        assert all(v.isascii() and "\n" not in v for _, v in reply.getheaders())
    target = f"/{bucket}/k?response-content-type=text%2Fplain"
    conn.request("GET", target, headers=signed(server, "GET", target))
    ok = conn.getresponse()
    assert ok.status == 200 and ok.read() == b"body" and ok.getheader("content-type") == "text/plain"
    conn.close()


def test_more_body_than_content_length_gets_the_requests_own_answer(server, s3, bucket):
    """Content-Length says 2, three bytes come: the request is judged on its two bytes (its
    Content-MD5 was for three: BadDigest, S3's answer), the stray byte is not taken for a request
    of its own that would be answered a bare 400 first, and the connection closes after."""
    import socket

    target = f"/{bucket}/short"
    md5 = base64.b64encode(hashlib.md5(b"bar").digest()).decode()
    headers = signed(server, "PUT", target, b"ba", {"Content-MD5": md5, "Content-Length": "2"})
    head = f"PUT {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"bar")
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400"), received
    assert b"<Code>BadDigest</Code>" in rest
    assert received.count(b"HTTP/1.1") == 1  # one answer, then the close
    assert_missing(s3, bucket, "short")


def test_copy_of_a_source_being_replaced_takes_bytes_headers_and_tags_from_one_version(server, bucket):
    """A source overwritten while it is copied: the copy is one whole version (its bytes, metadata
    and tags together), never the bytes of one version with the metadata of another."""
    writer_s3, copier_s3 = server.client(), server.client()
    stop = time.monotonic() + 4
    errors: list[Exception] = []

    def overwrite() -> None:
        i = 0
        while time.monotonic() < stop:
            i += 1
            try:
                writer_s3.put_object(Bucket=bucket, Key="src", Body=f"v{i}".encode(), Metadata={"v": str(i)}, Tagging=f"v={i}")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    writer_s3.put_object(Bucket=bucket, Key="src", Body=b"v0", Metadata={"v": "0"}, Tagging="v=0")
    thread = threading.Thread(target=overwrite)
    thread.start()
    copies = 0
    try:
        while time.monotonic() < stop:
            try:
                copier_s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="COPY")
            except ClientError as e:
                assert e.response["Error"]["Code"] == "SlowDown"  # replaced too often: said so, nothing stored
                continue
            copies += 1
            got = copier_s3.get_object(Bucket=bucket, Key="dst")
            body = got["Body"].read().decode()
            version = got["Metadata"]["v"]
            assert body == f"v{version}"
            tag_set = copier_s3.get_object_tagging(Bucket=bucket, Key="dst")["TagSet"]
            assert tag_set == [{"Key": "v", "Value": version}]
    finally:
        thread.join()
    assert not errors and copies > 10
