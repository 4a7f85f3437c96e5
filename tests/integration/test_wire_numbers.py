"""Numbers on the wire, against a real server: every number a request carries (query parameters,
headers, aws-chunked chunk sizes, presigned lifetimes, XML part numbers) is plain ASCII digits or
S3's 400 for that field; what Python's int() would also take ("0x10", "1_0", " 7", "٣") is not
a number. And an aws-chunked trailer is bounded like a request head.

Requests are signed by botocore's signer (tests/wire.py) or, for aws-chunked bodies, by the
independent signer of test_auth.py. Each test checks the code S3 gives for that field, that
nothing was stored, and that the server goes on serving (the ``server`` fixture fails the
session on a traceback in its log, so a 500 anywhere is caught too).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import zlib
from urllib.parse import urlsplit

import pytest

from hoard.s3.auth.chunked import MAX_TRAILER_LINES
from tests.conftest import HoardServer
from tests.integration.test_auth import STREAMING_SIGNED, STREAMING_UNSIGNED_TRAILER, Signing, b64, chunk_signature, sign
from tests.integration.test_auth import send as send_signed
from tests.wire import Reply, assert_missing, open_raw, read_reply, send, signed

KiB = 1024

# What int() takes and S3 does not, as they go in a URL's query (percent-encoded where needed).
BAD_QUERY_NUMBERS = {
    "hex": "0x10",
    "underscore": "1_0",
    "leading-space": "%207",
    "trailing-space": "7%20",
    "arabic-indic": "%D9%A3",
    "superscript": "%C2%B2",
    "fullwidth": "%EF%BC%97",
    "seventy-digits": "1" * 70,
}
# The same in a header, where HTTP itself removes spaces around a value. Non-ASCII digits go as
# UTF-8 bytes, signed as such (utf8_on_the_wire).
BAD_HEADER_NUMBERS = {
    "hex": "0x10",
    "underscore": "1_0",
    "plus-hex": "+f",
    "inner-space": "7 7",
    "superscript": "\u00b2",
    "arabic-indic": "\u0663",
    "seventy-digits": "1" * 70,
}


def utf8_on_the_wire(headers: dict[str, str]) -> dict[str, str]:
    """Headers as http.client must be given them to send their UTF-8 bytes (it encodes latin-1):
    SigV4 signs a header's bytes, which for a signer given text are its UTF-8 encoding."""
    return {k: v.encode().decode("latin-1") for k, v in headers.items()}


def send_utf8(server: HoardServer, method: str, target: str, headers: dict[str, str]) -> Reply:
    return send(server, method, target, headers=utf8_on_the_wire(signed(server, method, target, b"", headers)), sign=False)


def assert_serving(server: HoardServer, bucket: str) -> None:
    s3 = server.client()
    s3.put_object(Bucket=bucket, Key="alive", Body=b"alive")
    assert s3.get_object(Bucket=bucket, Key="alive")["Body"].read() == b"alive"


# --- query parameters -------------------------------------------------------------------------

QUERY_TARGETS = {
    "ListObjects": "/{bucket}?max-keys={n}",
    "ListObjectsV2": "/{bucket}?list-type=2&max-keys={n}",
    "ListObjectVersions": "/{bucket}?versions=&max-keys={n}",
    "ListMultipartUploads": "/{bucket}?uploads=&max-uploads={n}",
    "ListParts-max-parts": "/{bucket}/{key}?uploadId={upload_id}&max-parts={n}",
    "ListParts-marker": "/{bucket}/{key}?uploadId={upload_id}&part-number-marker={n}",
    "ListBuckets": "/?max-buckets={n}",
    "GetObject-partNumber": "/{bucket}/obj?partNumber={n}",
    "HeadObject-partNumber": "/{bucket}/obj?partNumber={n}",
}


@pytest.mark.parametrize("operation", QUERY_TARGETS)
def test_query_numbers_are_ascii_digits_only(server, s3, bucket, upload, operation):
    key, upload_id = upload
    s3.put_object(Bucket=bucket, Key="obj", Body=b"data")
    method = "HEAD" if operation.startswith("HeadObject") else "GET"
    good = send(server, method, QUERY_TARGETS[operation].format(bucket=bucket, key=key, upload_id=upload_id, n="1"))
    assert good.status in (200, 206), (good.status, good.body[:300])  # a partNumber read is 206
    for name, raw in BAD_QUERY_NUMBERS.items():
        reply = send(server, method, QUERY_TARGETS[operation].format(bucket=bucket, key=key, upload_id=upload_id, n=raw))
        assert reply.status == 400, (name, reply.status, reply.body[:300])
        if method == "GET":  # a HEAD answer has no body to carry the code
            assert reply.code == "InvalidArgument", (name, reply.body[:300])


def test_complete_multipart_part_numbers_are_ascii_digits_only(server, s3, bucket, upload):
    key, upload_id = upload
    etag = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"][0]["ETag"]
    for number in ["0x1", "1_0", "\u0661", "\u00b9", "1" * 70]:
        body = f"<CompleteMultipartUpload><Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
        reply = send(server, "POST", f"/{bucket}/{key}?uploadId={upload_id}", body.encode())
        assert (reply.status, reply.code) == (400, "MalformedXML"), (number, reply.body[:300])
    assert_missing(s3, bucket, key)
    # XML's whitespace around the number is not part of it, as S3's schema has it.
    body = f"<CompleteMultipartUpload><Part><PartNumber>\n  1 </PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    assert send(server, "POST", f"/{bucket}/{key}?uploadId={upload_id}", body.encode()).status == 200
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"part one"


# --- headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["x-amz-max-parts", "x-amz-part-number-marker"])
def test_get_object_attributes_numbers(server, s3, bucket, header):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"data")
    target = f"/{bucket}/obj?attributes="
    base = {"x-amz-object-attributes": "ObjectParts"}
    assert send(server, "GET", target, headers={**base, header: "5"}).status == 200
    for name, raw in BAD_HEADER_NUMBERS.items():
        reply = send_utf8(server, "GET", target, {**base, header: raw})
        assert (reply.status, reply.code) == (400, "InvalidArgument"), (name, reply.body[:300])


@pytest.mark.parametrize("spec", ["bytes=0x1-5", "bytes=1_0-20", "bytes=+1-5", "bytes=1-0x5", "bytes=-0x3", f"bytes={'1' * 70}-"])
def test_range_that_int_would_read_serves_whole_object(server, s3, bucket, spec):
    # S3 ignores a Range it cannot parse and serves the whole object.
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789abcdefghijklmnopqrstuvwxyz")
    reply = send(server, "GET", f"/{bucket}/r", headers={"Range": spec})
    assert (reply.status, reply.body) == (200, b"0123456789abcdefghijklmnopqrstuvwxyz")


def test_copy_source_range_numbers(server, s3, bucket, upload):
    key, upload_id = upload
    s3.put_object(Bucket=bucket, Key="source", Body=b"0123456789")
    target = f"/{bucket}/{key}?partNumber=2&uploadId={upload_id}"
    for spec in ["bytes=0x0-4", "bytes=0-1_0", "bytes=+0-4", "bytes=\u00b2-4", "bytes=0-\u0663", f"bytes=0-{'1' * 70}"]:
        reply = send_utf8(server, "PUT", target, {"x-amz-copy-source": f"/{bucket}/source", "x-amz-copy-source-range": spec})
        assert (reply.status, reply.code) == (400, "InvalidArgument"), (spec, reply.body[:300])
    reply = send(server, "PUT", target, headers={"x-amz-copy-source": f"/{bucket}/source", "x-amz-copy-source-range": "bytes=0-4"})
    assert reply.status == 200, reply.body[:300]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]] == [1, 2]


@pytest.mark.parametrize("raw", ["0x10", "+f", "1_0", "\xb2", "\xd9\xa3"], ids=["hex", "plus-hex", "underscore", "superscript", "arabic-indic-utf8"])
def test_content_length_is_refused_by_the_http_parser(server, s3, bucket, raw):
    """httptools refuses a Content-Length that is not plain digits before the application sees the
    request: a bare 400 from the HTTP layer (not an S3 document) and the connection closed."""
    sock = open_raw(server, "PUT", f"/{bucket}/cl", {"Host": f"127.0.0.1:{server.port}", "Content-Length": raw})
    try:
        sock.sendall(b"0123456789abcdef")
        reply = read_reply(sock)
    finally:
        sock.close()
    assert reply is not None and reply.status == 400, reply
    assert reply.headers.get("connection") == "close"
    assert_missing(s3, bucket, "cl")
    assert_serving(server, bucket)


# --- aws-chunked bodies -----------------------------------------------------------------------


def _chunked_put(server: HoardServer, bucket: str, key: str, payload: bytes, *, size_line=None, decoded_length=None) -> Reply:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT of ``payload`` in 64 KiB chunks, each chunk's size
    written by ``size_line(size)`` (lowercase hex by default). The chunk signatures cover the data,
    not the size line, so a body with an odd size line is still signed right."""
    size_line = size_line or (lambda n: format(n, "x"))
    pieces = [payload[i : i + 64 * KiB] for i in range(0, len(payload), 64 * KiB)] + [b""]

    def body(signing: Signing) -> bytes:
        out, previous = bytearray(), signing.seed
        for data in pieces:
            previous = chunk_signature(signing, previous, data)
            out += size_line(len(data)).encode("latin-1") + f";chunk-signature={previous}\r\n".encode() + data + b"\r\n"
        return bytes(out)

    headers = {
        "host": f"127.0.0.1:{server.port}",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)) if decoded_length is None else decoded_length,
    }
    # Signatures have a fixed length, so a body signed with a dummy seed has the real length.
    headers["content-length"] = str(len(body(Signing(b"k", "s", "d", "0" * 64))))
    headers, signing = sign("PUT", f"/{bucket}/{key}", headers, STREAMING_SIGNED)
    return send_signed(server, "PUT", f"/{bucket}/{key}", utf8_on_the_wire(headers), body(signing))


def test_chunked_upload_with_plain_sizes_works(server, s3, bucket):
    data = os.urandom(150 * KiB)
    reply = _chunked_put(server, bucket, "k", data, size_line=lambda n: format(n, "X"))
    assert reply.status == 200, reply.body[:300]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


@pytest.mark.parametrize(
    "form",
    ["0x{}", "+{}", " {}", "{} ", "{}_0", "\t{}", "0000000000000000{}", "{}\xd9\xa3"],
    ids=["0x", "plus", "leading-space", "trailing-space", "underscore", "tab", "seventeen-digits", "arabic-indic"],
)
def test_chunk_size_that_int_would_read_is_incomplete_body(server, s3, bucket, form):
    data = os.urandom(100 * KiB)
    reply = _chunked_put(server, bucket, "k", data, size_line=lambda n: form.format(format(n, "x")))
    assert (reply.status, reply.code) == (400, "IncompleteBody"), reply.body[:300]
    assert_missing(s3, bucket, "k")
    assert_serving(server, bucket)


@pytest.mark.parametrize("raw", list(BAD_HEADER_NUMBERS.values()) + ["-5"], ids=[*BAD_HEADER_NUMBERS, "negative"])
def test_decoded_content_length_is_ascii_digits_only(server, s3, bucket, raw):
    reply = _chunked_put(server, bucket, "k", b"hello world", decoded_length=raw)
    assert (reply.status, reply.code) == (400, "InvalidArgument"), reply.body[:300]
    assert_missing(s3, bucket, "k")


def _trailer_put(server: HoardServer, bucket: str, key: str, payload: bytes, trailer_lines: list[str]) -> Reply:
    """A STREAMING-UNSIGNED-PAYLOAD-TRAILER PUT with its CRC32 trailer, then ``trailer_lines``."""
    crc = b64(zlib.crc32(payload).to_bytes(4, "big"))
    trailer = "".join(f"{line}\r\n" for line in [f"x-amz-checksum-crc32:{crc}", *trailer_lines])
    body = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n" + trailer.encode() + b"\r\n"
    headers = {
        "host": f"127.0.0.1:{server.port}",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "content-length": str(len(body)),
    }
    headers, _ = sign("PUT", f"/{bucket}/{key}", headers, STREAMING_UNSIGNED_TRAILER)
    return send_signed(server, "PUT", f"/{bucket}/{key}", headers, body)


def test_trailer_lines_are_bounded(server, s3, bucket):
    data = os.urandom(10 * KiB)
    fits = [f"x-pad-{i}:v" for i in range(MAX_TRAILER_LINES - 1)]
    reply = _trailer_put(server, bucket, "fits", data, fits)
    assert reply.status == 200, reply.body[:300]
    assert s3.get_object(Bucket=bucket, Key="fits")["Body"].read() == data
    reply = _trailer_put(server, bucket, "k", data, [*fits, "x-one-more:v"])
    assert (reply.status, reply.code) == (400, "MalformedTrailerError"), reply.body[:300]
    assert_missing(s3, bucket, "k")
    assert_serving(server, bucket)


def test_trailer_section_size_is_bounded(server, s3, bucket):
    # Three lines under the 4 KiB line bound, past the 8 KiB section bound together.
    reply = _trailer_put(server, bucket, "k", os.urandom(KiB), [f"x-pad-{i}:" + "v" * 3000 for i in range(3)])
    assert (reply.status, reply.code) == (400, "MalformedTrailerError"), reply.body[:300]
    assert_missing(s3, bucket, "k")
    assert_serving(server, bucket)


# --- presigned lifetimes ----------------------------------------------------------------------


def _url_reply(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    pairs = [p.split("=", 1) for p in parts.query.split("&")]
    query = "&".join(f"{k}={value if k == name else v}" for k, v in pairs)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"


@pytest.mark.parametrize("raw", ["0x10", "1_0", "%20300", "300%20", "%D9%A3", "+f", "1" * 70])
def test_presigned_v4_expires_is_ascii_digits_only(server, s3, bucket, raw):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    url = server.client(signature_version="s3v4").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    assert _url_reply(url) == (200, b"hello")
    status, body = _url_reply(_with_param(url, "X-Amz-Expires", raw))
    assert (status, Reply(status, body=body).code) == (400, "AuthorizationQueryParametersError"), body[:300]


def test_presigned_v4_far_negative_lifetime_is_expired(server, s3, bucket):
    """A valid number whose expiry no calendar shows: still S3's 403, not a failure to print it."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    url = server.client(signature_version="s3v4").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    status, body = _url_reply(_with_param(url, "X-Amz-Expires", "-" + "9" * 60))
    assert (status, Reply(status, body=body).code) == (403, "AccessDenied"), body[:300]


@pytest.mark.parametrize("raw", ["0x10", "1_0", "%20{}", "{}%20", "%D9%A3", "+{}", "1" * 70])
def test_presigned_v2_expires_is_ascii_digits_only(server, s3, bucket, raw):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    url = server.client().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url and _url_reply(url) == (200, b"hello")
    expires = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))["Expires"]
    status, body = _url_reply(_with_param(url, "Expires", raw.format(expires)))
    assert (status, Reply(status, body=body).code) == (403, "AccessDenied"), body[:300]
    assert b"Request has expired" not in body  # refused as no number, not read as some date


# --- the admin API ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["%C2%B2", "%D9%A3", "1_0", "1" * 70])
def test_admin_heal_job_id_is_ascii_digits_only(server, raw):
    # "²".isdigit() is true and int("²") raises: this was a 500.
    reply = send(server, "GET", f"/.hoard/admin/v1/heal?id={raw}")
    assert (reply.status, reply.code) == (400, "InvalidArgument"), reply.body[:300]
