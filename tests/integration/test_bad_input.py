"""Bad input against a real server: malformed and hostile XML, invalid names and keys, clients
that lie about or abandon their bodies, bad part numbers, a storm of requests on one key,
requests meant for another AWS service, and oversized headers.

Each test checks S3's error code and status, then that the server still answers and that no
partial object became visible. A 500 anywhere also fails the session: the ``server`` fixture
refuses a log with a traceback in it.

Requests that boto3 will not send are built by hand and signed by botocore's own S3 SigV4
signer, then sent with http.client or a raw socket, byte for byte.

Covered elsewhere, so not repeated here:
- a tampered chunk signature (or chunk data) in a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload:
  test_auth.py::test_streaming_signed_payload_tampered (403 SignatureDoesNotMatch, no object)
  and ::test_streaming_signed_payload_tampered_keeps_old_object;
- an x-amz-decoded-content-length that lies: test_auth.py::test_streaming_decoded_length_mismatch;
- boto3's CreateBucket with invalid names: test_buckets.py::test_invalid_bucket_names (here the
  same rules on the raw wire, with names boto3 refuses to send).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import random
import select
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer, wait_for
from tests.wire import Reply, assert_missing, error_code, open_raw, read_reply, send, signed, status

KiB = 1024
MiB = 1024 * KiB


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def assert_serving(s3, bucket: str | None = None) -> None:
    """The server still answers ordinary requests after the bad one."""
    s3.list_buckets()
    if bucket is not None:
        key = f"alive-{uuid.uuid4().hex[:8]}"
        s3.put_object(Bucket=bucket, Key=key, Body=b"alive")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"alive"
        s3.delete_object(Bucket=bucket, Key=key)


def temp_files(server: HoardServer) -> set[str]:
    # Uploads in progress live in DATA/.hoard/tmp until committed (ARCHITECTURE.md, on-disk layout).
    return {p.name for p in (server.data_dir / ".hoard" / "tmp").iterdir()}


# --- XML request documents ------------------------------------------------------------------

MALFORMED_XML = {
    "truncated": b"<Delete><Object><Key>a</Key></Object>",
    "not-xml": b"this is not xml at all",
    "empty": b"",
    "wrong-root": b"<Other><Object><Key>a</Key></Object></Other>",
    "trailing-garbage": b"<Delete><Object><Key>a</Key></Object></Delete><more/>",
    "bad-nesting": b"<Delete><Object><Key>a</Object></Key></Delete>",
    "no-objects": b"<Delete><Quiet>true</Quiet></Delete>",
    "object-without-key": b"<Delete><Object><VersionId>null</VersionId></Object></Delete>",
}

# Nine levels of ten: a billion "lol"s if a parser expanded entities.
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol0 "lol">\n'
    + b"".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n'.encode() for i in range(1, 10))
    + b"]>\n"
)
EXTERNAL_ENTITY = b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'


@pytest.mark.parametrize("body", MALFORMED_XML.values(), ids=MALFORMED_XML.keys())
def test_delete_objects_malformed_xml(server, s3, bucket, body):
    s3.put_object(Bucket=bucket, Key="a", Body=b"kept")
    reply = send(server, "POST", f"/{bucket}?delete=", body, {"Content-MD5": b64md5(body)})
    assert (reply.status, reply.code) == (400, "MalformedXML")
    # Nothing of a rejected document is acted on.
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"kept"
    assert_serving(s3, bucket)


def test_delete_objects_more_than_1000_keys(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k0", Body=b"kept")
    body = b"<Delete>" + b"".join(b"<Object><Key>k%d</Key></Object>" % i for i in range(1001)) + b"</Delete>"
    reply = send(server, "POST", f"/{bucket}?delete=", body, {"Content-MD5": b64md5(body)})
    assert (reply.status, reply.code) == (400, "MalformedXML")
    assert s3.get_object(Bucket=bucket, Key="k0")["Body"].read() == b"kept"


COMPLETE_MALFORMED = {
    "truncated": b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
    "not-xml": b"garbage",
    "empty": b"",
    "no-parts": b"<CompleteMultipartUpload></CompleteMultipartUpload>",
    "wrong-root": b"<Delete><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Delete>",
    "part-without-etag": b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
    "part-number-not-a-number": b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
}


@pytest.mark.parametrize("body", COMPLETE_MALFORMED.values(), ids=COMPLETE_MALFORMED.keys())
def test_complete_multipart_upload_malformed_xml(server, s3, bucket, upload, body):
    key, upload_id = upload
    reply = send(server, "POST", f"/{bucket}/{key}?uploadId={upload_id}", body)
    assert (reply.status, reply.code) == (400, "MalformedXML")
    assert_missing(s3, bucket, key)
    # The upload survives a bad Complete: the client may retry with a good document.
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]] == [1]
    assert_serving(s3, bucket)


def test_delete_objects_body_over_the_size_cap(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k0", Body=b"kept")
    # 1,000 keys of 2,100 bytes: well-formed, but twice the 1 MiB the server accepts for a document.
    body = b"<Delete>" + b"".join(b"<Object><Key>k%d%s</Key></Object>" % (i, b"x" * 2100) for i in range(1000)) + b"</Delete>"
    assert len(body) > 2 * MiB
    reply = send(server, "POST", f"/{bucket}?delete=", body, {"Content-MD5": b64md5(body)})
    assert reply.status == 400
    assert reply.code in ("MalformedXML", "MaxMessageLengthExceeded")
    assert s3.get_object(Bucket=bucket, Key="k0")["Body"].read() == b"kept"
    assert_serving(s3, bucket)


def test_endless_xml_body_is_refused_without_reading_it_all(server, s3, bucket):
    """A DeleteObjects body declared at 256 MiB is refused after S3-sized XML, not buffered whole."""
    declared = 256 * MiB
    headers = signed(
        server,
        "POST",
        f"/{bucket}?delete=",
        headers={"Content-Length": str(declared), "Content-MD5": b64md5(b"")},
        unsigned_payload=True,
    )
    sock = open_raw(server, "POST", f"/{bucket}?delete=", headers)
    chunk = b"<Delete>" + b"<Object><Key>" + b"k" * (64 * KiB) + b"</Key></Object>"
    sent = 0
    try:
        sock.setblocking(False)
        while sent < declared:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable or not writable:
                break
            try:
                sent += sock.send(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
        reply = read_reply(sock)
    finally:
        sock.close()
    assert reply is not None
    assert reply.status == 400
    assert reply.code in ("MalformedXML", "MaxMessageLengthExceeded")
    # The answer came long before the declared body was sent: the server stopped reading it.
    assert sent < 32 * MiB
    assert_serving(s3, bucket)


@pytest.mark.parametrize("prolog", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
@pytest.mark.parametrize("operation", ["DeleteObjects", "CompleteMultipartUpload", "CreateBucket"])
def test_xml_entities_are_refused(server, s3, bucket, upload, prolog, operation):
    ref = b"&lol9;" if prolog is BILLION_LAUGHS else b"&xxe;"
    key, upload_id = upload
    new_bucket = f"bomb-{uuid.uuid4().hex[:12]}"
    if operation == "DeleteObjects":
        target = f"/{bucket}?delete="
        body = prolog + b"<Delete><Object><Key>" + ref + b"</Key></Object></Delete>"
        extra = {"Content-MD5": b64md5(body)}
    elif operation == "CompleteMultipartUpload":
        target = f"/{bucket}/{key}?uploadId={upload_id}"
        body = (
            prolog + b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + ref + b"</ETag></Part></CompleteMultipartUpload>"
        )
        extra = {}
    else:
        target = f"/{new_bucket}"
        body = prolog + b"<CreateBucketConfiguration><LocationConstraint>" + ref + b"</LocationConstraint></CreateBucketConfiguration>"
        extra = {}
    started = time.monotonic()
    reply = send(server, "PUT" if operation == "CreateBucket" else "POST", target, body, extra)
    assert (reply.status, reply.code) == (400, "MalformedXML")
    assert time.monotonic() - started < 2, "the document was expanded, not refused"
    assert b"root:" not in reply.body
    assert_missing(s3, bucket, key)
    assert new_bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert_serving(s3, bucket)


# --- names and keys -------------------------------------------------------------------------

INVALID_BUCKET_NAMES = [
    "UpperCase",
    "ab",
    "a" * 64,
    "192.168.1.10",
    "double..dot",
    "-leading-dash",
    "under_score",
    # boto3 refuses these before sending; a raw client does not.
    "a" * 300,
    "bang!name",
    "space%20name",
    "%C3%BCnicode",
]


@pytest.mark.parametrize("name", INVALID_BUCKET_NAMES)
def test_invalid_bucket_names_on_the_wire(server, s3, name):
    reply = send(server, "PUT", f"/{name}")
    assert (reply.status, reply.code) == (400, "InvalidBucketName")
    listed = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in listed and name.lower() not in listed
    assert_serving(s3)


def test_a_key_holding_nul_is_refused(s3, bucket):
    """%00 in a key: InvalidURI for every request naming it, InvalidArgument in a listing's
    parameters or a copy's source; nothing is written (the same with either index store)."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    for call in (
        lambda: s3.put_object(Bucket=bucket, Key="a\x00b", Body=b"x"),
        lambda: s3.get_object(Bucket=bucket, Key="a\x00b"),
        lambda: s3.delete_object(Bucket=bucket, Key="a\x00b"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="a\x00b"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), error_code(e)) == (400, "InvalidURI")
    for call in (
        lambda: s3.list_objects_v2(Bucket=bucket, Prefix="a\x00"),
        lambda: s3.list_objects(Bucket=bucket, Marker="a\x00"),
        lambda: s3.list_object_versions(Bucket=bucket, KeyMarker="a\x00"),
        lambda: s3.list_multipart_uploads(Bucket=bucket, Prefix="a\x00"),
        lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "a\x00b"}),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), error_code(e)) == (400, "InvalidArgument")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src"]


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 513, "😀" * 256 + "k"], ids=["ascii", "2-byte", "4-byte"])
def test_key_over_1024_bytes_is_refused_by_every_write(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    for call in (
        lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key=key),
        lambda: s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": "src"}),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), error_code(e)) == (400, "KeyTooLongError")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("key", ["k" * 1024, "é" * 512, "😀" * 256], ids=["ascii", "2-byte", "4-byte"])
def test_key_of_exactly_1024_bytes_works(s3, bucket, key):
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"longest")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"longest"
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, MetadataDirective="REPLACE")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


PATH_TRICK_KEYS = [
    "../../etc/passwd",
    "..%2F..%2Fx",
    "/abs",
    "//double-abs",
    "a/../../b",
    "..",
    "./.",
    "..\\..\\windows\\win.ini",
    # "nul\x00byte": refused, InvalidURI (test_a_key_holding_nul_is_refused)
    "ctrl\x01\x1b\x7f",
]


def _tree(root: Path, skip: Path) -> set[Path]:
    """Every path under ``root``, leaving out ``skip`` (Hoard's own files, which change as it works)."""
    return {p for p in root.rglob("*") if skip not in p.parents and p != skip}


def test_path_trick_keys_are_ordinary_keys(server, s3, bucket):
    data = server.data_dir
    outside = data.parent.parent  # pytest's session folder: the data folder's parent and siblings
    before = _tree(outside, data / ".hoard")
    bodies = {key: f"body of {key!r}".encode() for key in PATH_TRICK_KEYS}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(bodies)

    # The same kind of key sent raw, unencoded: S3 takes the path as it is, dots and all.
    for target, key in (
        (f"/{bucket}/../../raw/passwd", "../../raw/passwd"),
        (f"/{bucket}/./raw-dot", "./raw-dot"),
        (f"/{bucket}//raw-abs", "/raw-abs"),
    ):
        reply = send(server, "PUT", target, b"raw " + key.encode())
        assert reply.status == 200, reply.body
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"raw " + key.encode()

    assert _tree(outside, data / ".hoard") - before == set(), "a key became a file outside .hoard"
    assert not any(p.name in ("passwd", "win.ini") for p in outside.rglob("*"))
    for key in [*bodies, "../../raw/passwd", "./raw-dot", "/raw-abs"]:
        s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_key_that_is_not_utf8_is_invalid_uri(server, s3, bucket):
    reply = send(server, "PUT", f"/{bucket}/bad%FF%FEkey", b"x")
    assert (reply.status, reply.code) == (400, "InvalidURI")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert_serving(s3, bucket)


# --- bodies that lie ------------------------------------------------------------------------


def test_content_length_longer_than_body_then_close(server, s3, bucket):
    before = temp_files(server)
    headers = signed(server, "PUT", f"/{bucket}/liar", headers={"Content-Length": str(MiB)}, unsigned_payload=True)
    sock = open_raw(server, "PUT", f"/{bucket}/liar", headers)
    sock.sendall(os.urandom(100 * KiB))
    sock.close()
    assert wait_for(lambda: temp_files(server) <= before), "the abandoned upload left a temp file"
    assert_missing(s3, bucket, "liar")
    assert_serving(s3, bucket)


def test_content_length_longer_than_body_then_half_close(server, s3, bucket):
    headers = signed(server, "PUT", f"/{bucket}/liar", headers={"Content-Length": str(MiB)}, unsigned_payload=True)
    sock = open_raw(server, "PUT", f"/{bucket}/liar", headers)
    try:
        sock.sendall(os.urandom(100 * KiB))
        # "That is all": the client will send nothing more but still listens for the answer.
        sock.shutdown(socket.SHUT_WR)
        reply = read_reply(sock)
    finally:
        sock.close()
    # S3 answers 400 IncompleteBody; closing without an answer also stores nothing.
    if reply is not None:
        assert (reply.status, reply.code) == (400, "IncompleteBody")
    assert_missing(s3, bucket, "liar")
    assert_serving(s3, bucket)


def test_content_length_shorter_than_body(server, s3, bucket):
    body = os.urandom(1000)
    declared = body[:500]
    # The payload hash covers the declared 500 bytes: what HTTP says the body is.
    headers = signed(server, "PUT", f"/{bucket}/short", declared, {"Content-Length": "500"})
    sock = open_raw(server, "PUT", f"/{bucket}/short", headers)
    try:
        sock.sendall(body)
        reply = read_reply(sock)
    finally:
        sock.close()
    # The bytes past Content-Length are the next "request", which is garbage: a 400 and a
    # closed connection. The PUT itself either completed with exactly the declared bytes, or was
    # dropped with that connection; never is anything else stored.
    assert reply is None or reply.status in (200, 400)
    try:
        stored = s3.get_object(Bucket=bucket, Key="short")["Body"].read()
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    else:
        assert stored == declared
    assert_serving(s3, bucket)


@pytest.mark.parametrize("what", ["PutObject", "UploadPart"])
def test_client_disconnects_mid_upload(server, s3, bucket, what):
    before = temp_files(server)
    query = ""
    upload_id = ""
    if what == "UploadPart":
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key="half")["UploadId"]
        query = f"?partNumber=1&uploadId={upload_id}"
    target = f"/{bucket}/half{query}"
    headers = signed(server, "PUT", target, headers={"Content-Length": str(8 * MiB)}, unsigned_payload=True)
    sock = open_raw(server, "PUT", target, headers)
    try:
        sock.sendall(os.urandom(4 * MiB))
        # Proof that the upload really was under way on the server when the client vanished.
        assert wait_for(lambda: temp_files(server) - before), "no temp file appeared for the upload"
    finally:
        sock.close()
    assert wait_for(lambda: temp_files(server) <= before), "the abandoned upload left a temp file"
    assert_missing(s3, bucket, "half")
    if upload_id:
        assert s3.list_parts(Bucket=bucket, Key="half", UploadId=upload_id).get("Parts", []) == []
        s3.abort_multipart_upload(Bucket=bucket, Key="half", UploadId=upload_id)
    assert_serving(s3, bucket)


# --- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [0, 10001, -1, 2**31])
def test_upload_part_number_out_of_range(s3, bucket, upload, number):
    key, upload_id = upload
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"x")
    assert (status(e), error_code(e)) == (400, "InvalidArgument")
    assert e.value.response["Error"].get("ArgumentName") == "partNumber"
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]] == [1]


# Python's int() reads " 1" as 1, "1_0" as 10 and the Arabic-Indic "١" as 1; S3 takes ASCII decimals only.
@pytest.mark.parametrize("raw", ["abc", "", "1.5", "0x1", "%201", "1_0", "%C2%B2", "%D9%A1"])
def test_upload_part_number_not_a_number(server, s3, bucket, upload, raw):
    key, upload_id = upload
    reply = send(server, "PUT", f"/{bucket}/{key}?partNumber={raw}&uploadId={upload_id}", b"x")
    assert (reply.status, reply.code) == (400, "InvalidArgument")
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]] == [1]


def test_upload_part_number_edges_work(s3, bucket, upload):
    key, upload_id = upload
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=10000, Body=b"last")
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]] == [1, 10000]


@pytest.mark.parametrize("raw", ["1_0", "%205", "%C2%B2"])
def test_max_keys_not_a_number(server, bucket, raw):
    reply = send(server, "GET", f"/{bucket}?max-keys={raw}")
    assert (reply.status, reply.code) == (400, "InvalidArgument")


@pytest.mark.parametrize("spec", ["bytes=\xb2-5", "bytes=0-\xb9", "bytes=\xb3\xb2-"])
def test_range_with_non_ascii_digits_serves_whole_object(server, s3, bucket, spec):
    """Superscript digits are latin-1 bytes that str.isdigit() accepts and int() refuses (this was a 500)."""
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    headers = signed(server, "GET", f"/{bucket}/r")
    # Left unsigned: botocore would sign the UTF-8 form of "²", http.client sends its one latin-1 byte.
    headers["Range"] = spec
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", f"/{bucket}/r", headers=headers)
        resp = conn.getresponse()
        got = (resp.status, resp.read())
    finally:
        conn.close()
    # S3 ignores a Range it cannot parse and serves the whole object.
    assert got == (200, b"0123456789")


# --- many requests on one key ---------------------------------------------------------------


def _version(index: int) -> bytes:
    """A body that proves its own integrity: SHA-256 of the rest, then the rest."""
    rng = random.Random(index)
    size = rng.choice([0, 1, 700, 16 * KiB, 100 * KiB, 300 * KiB]) if index % 50 else MiB + 4321
    rest = f"version {index}:".encode() + rng.randbytes(size)
    return hashlib.sha256(rest).digest() + rest


def _whole(body: bytes) -> bool:
    return len(body) >= 32 and hashlib.sha256(body[32:]).digest() == body[:32]


def test_thousand_concurrent_requests_on_one_key(server, bucket):
    client = server.client(max_pool_connections=32)
    versions = {i: _version(i) for i in range(1, 351)}
    client.put_object(Bucket=bucket, Key="hot", Body=_version(0))
    written = {hashlib.sha256(_version(0)).digest()} | {hashlib.sha256(v).digest() for v in versions.values()}

    def put(index: int) -> None:
        body = versions[index]
        etag = client.put_object(Bucket=bucket, Key="hot", Body=body)["ETag"]
        assert etag == f'"{hashlib.md5(body).hexdigest()}"'

    def get(_: int) -> bytes:
        resp = client.get_object(Bucket=bucket, Key="hot")
        body = resp["Body"].read()
        assert len(body) == resp["ContentLength"]
        assert resp["ETag"] == f'"{hashlib.md5(body).hexdigest()}"', "body and ETag of different versions"
        return body

    jobs = [(put, i) for i in versions] + [(get, i) for i in range(650)]
    random.Random(7).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda job: job[0](job[1]), jobs))
    bodies = [r for r in results if r is not None]
    assert len(bodies) == 650
    torn = [b[:60] for b in bodies if not _whole(b)]
    assert not torn, f"{len(torn)} GETs returned a mix of versions"
    assert all(hashlib.sha256(b).digest() in written for b in bodies)

    final = client.get_object(Bucket=bucket, Key="hot")["Body"].read()
    assert _whole(final) and hashlib.sha256(final).digest() in written


# --- requests meant for something else ------------------------------------------------------


def _sign_for_service(server: HoardServer, service: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=dict(headers))
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(req)
    return {**dict(req.headers.items()), "Host": f"127.0.0.1:{server.port}"}


@pytest.mark.parametrize("signing", ["iam", "s3", "anonymous"])
def test_iam_style_post_to_service_root(server, s3, signing):
    body = b"Action=ListUsers&Version=2010-05-08"
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if signing == "anonymous":
        headers = {"Host": f"127.0.0.1:{server.port}", **form}
    elif signing == "iam":
        headers = _sign_for_service(server, "iam", body, form)
    else:
        headers = signed(server, "POST", "/", body, form)
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        reply = Reply(resp.status, {}, resp.read())
    finally:
        conn.close()
    assert time.monotonic() - started < 2
    assert 400 <= reply.status < 500 or reply.status == 501, (reply.status, reply.body)
    assert reply.code is not None, "not an S3 error document"
    assert_serving(s3)


# --- oversized headers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Big": "v" * (100 * KiB)},
        {f"X-Many-{i}": "v" * 24 for i in range(500)},
        {"X-Amz-Meta-Huge": "m" * (64 * KiB)},
    ],
    ids=["100KiB-value", "500-headers", "64KiB-metadata"],
)
def test_oversized_headers(server, s3, bucket, headers):
    # Signed like a real client, so the size, not the signature, is what is refused.
    target = f"/{bucket}/oversized"
    h = signed(server, "PUT", target, b"data", {**headers, "Content-Length": "4"})
    sock = open_raw(server, "PUT", target, h)
    try:
        sock.sendall(b"data")
        reply = read_reply(sock)
    finally:
        sock.close()
    # S3: 400 RequestHeaderSectionTooLarge (its limit is 8 KiB); closing the connection is clean too.
    if reply is not None:
        assert (reply.status, reply.code) == (400, "RequestHeaderSectionTooLarge"), (reply.status, reply.body[:300])
    assert_missing(s3, bucket, "oversized")
    assert_serving(s3, bucket)


def test_large_but_legal_headers_still_work(s3, bucket):
    """Just under S3's 8 KiB: a 1,024-byte key of 4-byte characters as copy source (3 KiB once
    percent-encoded) plus 2 KiB of user metadata."""
    source = "😀" * 256
    s3.put_object(Bucket=bucket, Key=source, Body=b"copy me")
    metadata = {"m1": "a" * 1000, "m2": "b" * 1000}
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": source}, MetadataDirective="REPLACE", Metadata=metadata)
    got = s3.get_object(Bucket=bucket, Key="copy")
    assert got["Body"].read() == b"copy me"
    assert got["Metadata"] == metadata


def test_stalled_body_gets_request_timeout(tmp_path):
    # S3 answers 400 RequestTimeout when a body stops arriving; the stalled upload leaves nothing.
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_BODY_TIMEOUT": "1"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="stall")
        headers = signed(srv, "PUT", "/stall/slow", headers={"Content-Length": str(MiB)}, unsigned_payload=True)
        sock = open_raw(srv, "PUT", "/stall/slow", headers)
        sock.sendall(os.urandom(300 * KiB))
        started = time.monotonic()
        reply = read_reply(sock, timeout=15)
        sock.close()
        assert reply is not None and reply.status == 400, reply
        assert b"<Code>RequestTimeout</Code>" in reply.body
        assert reply.headers.get("connection") == "close"
        assert time.monotonic() - started < 10
        assert temp_files(srv) == set()
        assert_missing(s3, "stall", "slow")
        s3.put_object(Bucket="stall", Key="after", Body=b"fine")  # and the server goes on serving
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_endless_header_lines_are_cut_off_with_bounded_memory(server, s3, bucket):
    """A head that never ends: answered 400 once it passes the protocol's bound, the connection
    closed, and the server's memory does not grow with what the client keeps sending."""
    import psutil


    def rss() -> int:
        return sum(psutil.Process(pid).memory_info().rss for pid in server.pids())

    before = rss()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sent = 0
    try:
        sock.sendall(f"PUT /{bucket}/endless HTTP/1.1\r\nHost: x\r\n".encode())
        line = b"X-Junk: " + b"j" * 4000 + b"\r\n"
        try:
            while sent < 64 * MiB:
                sock.sendall(line)
                sent += len(line)
        except OSError:
            pass  # the server closed the connection: what it should do
        reply = read_reply(sock)
    finally:
        sock.close()
    assert sent < 64 * MiB, "the server kept taking header bytes"
    # The answer may be lost to the reset that the client's next send after the close provokes.
    if reply is not None:
        assert (reply.status, reply.code) == (400, "RequestHeaderSectionTooLarge"), reply
    assert rss() - before < 32 * MiB
    assert_missing(s3, bucket, "endless")
    assert_serving(s3, bucket)


def test_a_head_past_the_bound_is_answered(server, s3, bucket):
    """Just past the protocol's bound, then nothing more: the 400 arrives (no reset to lose it)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        head = f"PUT /{bucket}/long-head HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-Pad-{i}: {'p' * 1000}\r\n" for i in range(80))
        sock.sendall(head.encode())
        reply = read_reply(sock)
    finally:
        sock.close()
    assert reply is not None and (reply.status, reply.code) == (400, "RequestHeaderSectionTooLarge"), reply
    assert reply.headers.get("connection") == "close"
    assert_missing(s3, bucket, "long-head")


def half_closed_put(server: HoardServer, target: str, declared: int, body: bytes) -> Reply | None:
    """A PUT declaring ``declared`` bytes that sends ``body`` and then shuts down its sending side."""
    h = signed(server, "PUT", target, headers={"Content-Length": str(declared)}, unsigned_payload=True)
    sock = open_raw(server, "PUT", target, h)
    try:
        sock.sendall(body)
        sock.shutdown(socket.SHUT_WR)
        return read_reply(sock)
    finally:
        sock.close()


def test_half_close_mid_body_is_answered_incomplete_body(server, s3, bucket):
    """The client shuts down its sending side after half of the declared body: it still gets S3's
    400 IncompleteBody, and nothing is stored."""
    reply = half_closed_put(server, f"/{bucket}/half-closed", 1000, os.urandom(500))
    assert reply is not None and (reply.status, reply.code) == (400, "IncompleteBody"), reply
    assert reply.headers.get("connection") == "close"
    assert_missing(s3, bucket, "half-closed")
    assert not temp_files(server)
    assert_serving(s3, bucket)


def test_half_close_after_a_whole_body_still_gets_the_answer(server, s3, bucket):
    """The whole body, then a half-close (legal HTTP: the client is done sending, not reading).
    The upload is still stored and acknowledged; before, the answer was lost with the connection."""
    body = os.urandom(4 * MiB)  # enough that the server is still storing it when the half-close comes
    reply = half_closed_put(server, f"/{bucket}/sent-whole", len(body), body)
    assert reply is not None and reply.status == 200, reply
    assert reply.headers.get("etag") == f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="sent-whole")["Body"].read() == body


@pytest.mark.parametrize("expect", [True, False], ids=["expect-100-continue", "no-expect"])
def test_an_answer_given_before_the_body_reaches_a_client_that_sends_it_anyway(server, s3, bucket, expect):
    """A PUT refused before its body is read (here: not signed), whose client sends the body
    anyway (as botocore does after waiting a second for a 100): the client can send it all and
    then reads the refusal; the connection is not reset under it."""
    size = 8 * 1024 * 1024
    headers = {"Host": f"127.0.0.1:{server.port}", "Content-Length": str(size)}
    if expect:
        headers["Expect"] = "100-continue"
    sock = open_raw(server, "PUT", f"/{bucket}/early-answer", headers)
    try:
        time.sleep(0.3)  # the refusal is written before the body comes
        sock.sendall(os.urandom(size))  # reset under the sender, this raises
        reply = read_reply(sock)
    finally:
        sock.close()
    assert reply is not None and reply.status == 403 and b"<Code>AccessDenied</Code>" in reply.body
    assert_missing(s3, bucket, "early-answer")
    assert_serving(s3, bucket)
