"""Authentication against a real server: SigV4 headers, presigned URLs, payload modes.

Raw requests are built with http.client and signed by the small SigV4 signer in this file,
written from the S3 reference independently of Hoard's own (it is checked against botocore's
signer below), so that the tests do not share a bug with the server.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.client
import io
import os
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import boto3
import botocore.auth
import botocore.crt.auth
import pytest
from awscrt import checksums as crt
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer
from tests.wire import Reply, assert_missing, error_code, status

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
KiB = 1024


# --- a small independent SigV4 signer -------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _enc(text: str, safe: str = "") -> str:
    return quote(text, safe="-_.~" + safe)


@dataclass
class Signing:
    key: bytes
    scope: str
    amz_date: str
    seed: str


def sign(
    method: str,
    path: str,
    headers: dict[str, str],
    payload_hash: str,
    *,
    query: list[tuple[str, str]] = (),
    access: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    region: str = REGION,
    when: float | None = None,
    date_header: bool = False,
) -> tuple[dict[str, str], Signing]:
    """Add x-amz-date, x-amz-content-sha256 and Authorization to ``headers`` (all of them signed).

    ``path`` is the decoded path (``/bucket/key``); it is sent encoded as S3 clients encode it.
    ``date_header``: carry the time in an HTTP ``Date`` header instead of ``x-amz-date``.
    """
    moment = time.gmtime(time.time() if when is None else when)
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", moment)
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    h = {k.lower(): v for k, v in headers.items()}
    if date_header:
        h["date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", moment)
    else:
        h["x-amz-date"] = amz_date
    h["x-amz-content-sha256"] = payload_hash
    names = sorted(h)
    canonical_query = "&".join(sorted(f"{_enc(k)}={_enc(v)}" for k, v in query))
    canonical = "\n".join(
        [method, _enc(path, "/"), canonical_query] + [f"{n}:{' '.join(h[n].split())}" for n in names] + ["", ";".join(names), payload_hash]
    )
    string_to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return h, Signing(key, scope, amz_date, signature)


def chunk_signature(s: Signing, previous: str, data: bytes) -> str:
    text = f"AWS4-HMAC-SHA256-PAYLOAD\n{s.amz_date}\n{s.scope}\n{previous}\n{EMPTY_SHA256}\n{hashlib.sha256(data).hexdigest()}"
    return hmac.new(s.key, text.encode(), hashlib.sha256).hexdigest()


def trailer_signature(s: Signing, previous: str, trailer_text: bytes) -> str:
    # S3 reference, sigv4-streaming-trailers: the trailing headers as "name:value\n" lines.
    text = f"AWS4-HMAC-SHA256-TRAILER\n{s.amz_date}\n{s.scope}\n{previous}\n{hashlib.sha256(trailer_text).hexdigest()}"
    return hmac.new(s.key, text.encode(), hashlib.sha256).hexdigest()


def aws_chunked(
    payload: bytes,
    signing: Signing | None,
    *,
    chunk_size: int = 64 * KiB,
    trailer: tuple[str, str] | None = None,
    tamper: str = "",
) -> bytes:
    """An aws-chunked body: signed chunks when ``signing`` is given, then the trailer if any.

    ``tamper``: "chunk-signature", "chunk-data" (a byte changed after signing) or "trailer-signature".
    """
    pieces = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] + [b""]
    out = bytearray()
    previous = signing.seed if signing else ""
    for index, data in enumerate(pieces):
        if signing is None:
            out += f"{len(data):x}\r\n".encode()
        else:
            previous = chunk_signature(signing, previous, data)
            sent = previous
            if tamper == "chunk-signature" and index == 1:
                sent = sent[:-4] + ("0000" if sent[-4:] != "0000" else "1111")
            out += f"{len(data):x};chunk-signature={sent}\r\n".encode()
        if tamper == "chunk-data" and index == 1:
            data = data[:-1] + bytes([data[-1] ^ 1])
        if data:
            out += data + b"\r\n"
    if trailer is not None:
        text = f"{trailer[0]}:{trailer[1]}\n".encode()
        out += text.replace(b"\n", b"\r\n")
        if signing is not None:
            signature = trailer_signature(signing, previous, text)
            if tamper == "trailer-signature":
                signature = trailer_signature(signing, previous, text + b"x")
            out += f"x-amz-trailer-signature:{signature}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


# --- sending --------------------------------------------------------------------------------


def send(server: HoardServer, method: str, path: str, headers: dict[str, str], body: bytes = b"", query: str = "") -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        target = _enc(path, "/") + (f"?{query}" if query else "")
        headers = {**headers, "content-length": str(len(body))} if "content-length" not in headers else headers
        try:
            conn.request(method, target, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before reading the whole body; its answer is still there
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def host(server: HoardServer) -> str:
    return f"127.0.0.1:{server.port}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "crc32c":
        return b64(crt.crc32c(data).to_bytes(4, "big"))
    if algorithm == "crc64nvme":
        return b64(crt.crc64nvme(data).to_bytes(8, "big"))
    return b64(hashlib.new(algorithm, data).digest())


def client(server: HoardServer, **kwargs):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=kwargs.pop("access", ACCESS_KEY),
        aws_secret_access_key=kwargs.pop("secret", SECRET_KEY),
        region_name=kwargs.pop("region", REGION),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **kwargs),
    )


def test_own_signer_agrees_with_botocore():
    """The signer above gives botocore's signature for the same request and time."""
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    when = time.time()
    request = AWSRequest(method="GET", url="http://127.0.0.1:9/bkt/a%20b/%C3%A9%2Bx", params={}, headers={"Range": "bytes=0-9"})
    request.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    auth = botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION)
    request.headers["X-Amz-Content-SHA256"] = EMPTY_SHA256
    request.headers["Host"] = "127.0.0.1:9"
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    headers, _ = sign("GET", "/bkt/a b/é+x", {"host": "127.0.0.1:9", "range": "bytes=0-9"}, EMPTY_SHA256, when=when)
    assert headers["authorization"].endswith(f"Signature={expected}")


# --- who is asking --------------------------------------------------------------------------


def test_unknown_access_key(server, bucket):
    with pytest.raises(ClientError) as e:
        client(server, access="AKIANOSUCHKEY0000000").list_objects_v2(Bucket=bucket)
    assert error_code(e) == "InvalidAccessKeyId"
    assert status(e) == 403


def test_wrong_secret(server, bucket):
    with pytest.raises(ClientError) as e:
        client(server, secret="not-the-secret").list_objects_v2(Bucket=bucket)
    assert error_code(e) == "SignatureDoesNotMatch"
    assert status(e) == 403


def test_wrong_secret_on_put_stores_nothing(server, s3, bucket):
    with pytest.raises(ClientError) as e:
        client(server, secret="not-the-secret").put_object(Bucket=bucket, Key="k", Body=b"data")
    assert error_code(e) == "SignatureDoesNotMatch"
    assert_missing(s3, bucket, "k")


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/{bucket}"), ("GET", "/{bucket}/k"), ("PUT", "/{bucket}/k")])
def test_anonymous_request_is_access_denied(server, s3, bucket, method, path):
    path = path.format(bucket=bucket)
    req = urllib.request.Request(server.endpoint + path, method=method, data=b"x" if method == "PUT" else None)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    body = e.value.read()
    root = ET.fromstring(body)
    assert root.tag == "Error"
    assert root.findtext("Code") == "AccessDenied"
    assert root.findtext("Message")
    assert root.findtext("Resource") == path
    request_id = root.findtext("RequestId")
    assert request_id
    assert e.value.headers["x-amz-request-id"] == request_id
    assert e.value.headers["content-type"] == "application/xml"
    if method == "PUT":
        assert_missing(s3, bucket, "k")


def test_bad_authorization_header_is_malformed(server, bucket):
    reply = send(
        server,
        "GET",
        f"/{bucket}",
        {"host": host(server), "authorization": "AWS4-HMAC-SHA256 nonsense", "x-amz-content-sha256": EMPTY_SHA256},
    )
    assert reply.status == 400
    assert reply.code == "AuthorizationHeaderMalformed"


@pytest.mark.parametrize("minutes", [-20, 20])
def test_clock_skew(server, bucket, minutes):
    headers, _ = sign("GET", f"/{bucket}", {"host": host(server)}, EMPTY_SHA256, when=time.time() + minutes * 60)
    reply = send(server, "GET", f"/{bucket}", headers)
    assert reply.status == 403
    assert reply.code == "RequestTimeTooSkewed"
    assert reply.field("MaxAllowedSkewMilliseconds") == "900000"


def test_date_header_instead_of_x_amz_date(server, bucket):
    headers, _ = sign("GET", f"/{bucket}", {"host": host(server)}, EMPTY_SHA256, date_header=True)
    assert "x-amz-date" not in headers
    assert send(server, "GET", f"/{bucket}", headers).status == 200
    headers, _ = sign("GET", f"/{bucket}", {"host": host(server)}, EMPTY_SHA256, date_header=True, when=time.time() - 3600)
    assert send(server, "GET", f"/{bucket}", headers).code == "RequestTimeTooSkewed"


def test_no_date_at_all(server, bucket):
    headers, _ = sign("GET", f"/{bucket}", {"host": host(server)}, EMPTY_SHA256)
    del headers["x-amz-date"]
    reply = send(server, "GET", f"/{bucket}", headers)
    assert reply.status == 403
    assert reply.code == "AccessDenied"


def test_credential_date_must_match_request_date(server, bucket):
    headers, _ = sign("GET", f"/{bucket}", {"host": host(server)}, EMPTY_SHA256)
    yesterday = time.strftime("%Y%m%d", time.gmtime(time.time() - 86400))
    headers["authorization"] = headers["authorization"].replace(f"/{headers['x-amz-date'][:8]}/", f"/{yesterday}/")
    reply = send(server, "GET", f"/{bucket}", headers)
    assert reply.status == 400
    assert reply.code == "AuthorizationHeaderMalformed"


def test_small_clock_skew_is_accepted(server, bucket):
    headers, _ = sign("GET", f"/{bucket}", {"host": host(server)}, EMPTY_SHA256, when=time.time() - 10 * 60)
    assert send(server, "GET", f"/{bucket}", headers).status == 200


def test_region_is_not_checked_by_default(server, bucket):
    s3 = client(server, region="ap-southeast-2")
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_strict_region(tmp_path):
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_REGION_STRICT": "1", "HOARD_REGION": "eu-west-3"}).start()
    try:
        good = client(srv, region="eu-west-3")
        good.create_bucket(Bucket="strict", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        good.put_object(Bucket="strict", Key="k", Body=b"data")
        for region in ("us-east-1", "eu-west-1"):
            headers, _ = sign("GET", "/strict/k", {"host": f"127.0.0.1:{srv.port}"}, EMPTY_SHA256, region=region)
            reply = send(srv, "GET", "/strict/k", headers)
            assert reply.status == 400
            assert reply.code == "AuthorizationHeaderMalformed"
            assert reply.field("Region") == "eu-west-3"
        # boto3 reads the Region of that error and signs again for it, as it does with AWS.
        assert client(srv, region="us-east-1").get_object(Bucket="strict", Key="k")["Body"].read() == b"data"
        assert good.get_object(Bucket="strict", Key="k")["Body"].read() == b"data"
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_virtual_hosted_style_signature(tmp_path):
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_DOMAIN": "s3.localhost"}).start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="vhost")
        s3.put_object(Bucket="vhost", Key="a b/c+d", Body=b"vh")
        vhost = f"vhost.s3.localhost:{srv.port}"
        headers, _ = sign("GET", "/a b/c+d", {"host": vhost}, EMPTY_SHA256)
        reply = send(srv, "GET", "/a b/c+d", headers)
        assert reply.status == 200
        assert reply.body == b"vh"
        query = [("list-type", "2"), ("prefix", "a b")]
        headers, _ = sign("GET", "/", {"host": vhost}, EMPTY_SHA256, query=query)
        reply = send(srv, "GET", "/", headers, query="list-type=2&prefix=a%20b")
        assert reply.status == 200
        assert ET.fromstring(reply.body).findtext("{http://s3.amazonaws.com/doc/2006-03-01/}KeyCount") == "1"
        # The host is signed: the same request sent to another bucket's host does not verify.
        headers["host"] = f"other.s3.localhost:{srv.port}"
        assert send(srv, "GET", "/", headers, query="list-type=2&prefix=a%20b").code == "SignatureDoesNotMatch"
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


# --- presigned URLs ---------------------------------------------------------------------------


def presigner(server):
    # boto3 presigns with Signature Version 2 in us-east-1 unless told to use version 4.
    return server.client(signature_version="s3v4")


def _fake_now(delta: datetime.timedelta):
    def now(remove_tzinfo: bool = True) -> datetime.datetime:
        value = datetime.datetime.now(datetime.UTC) + delta
        return value.replace(tzinfo=None) if remove_tzinfo else value

    return now


@pytest.fixture
def shifted_clock(monkeypatch):
    """Sign as if the client's clock were off by the given amount (both botocore signers)."""

    def shift(delta: datetime.timedelta) -> None:
        monkeypatch.setattr(botocore.auth, "get_current_datetime", _fake_now(delta))
        monkeypatch.setattr(botocore.crt.auth, "get_current_datetime", _fake_now(delta))

    return shift


def _urlopen(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    return urllib.request.urlopen(urllib.request.Request(url, method=method, data=data, headers=headers or {}), timeout=10)


def _url_error(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, ET.Element]:
    with pytest.raises(urllib.error.HTTPError) as e:
        _urlopen(url, method, data)
    return e.value.code, ET.fromstring(e.value.read())


@pytest.mark.parametrize("key", ["plain", "with space/and+plus", "unicode/é日本🙂", "a//b/../c", "per%cent"])
def test_presigned_put_then_get_with_urllib(server, s3, bucket, key):
    signer = presigner(server)
    data = os.urandom(3000)
    put_url = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    with _urlopen(put_url, "PUT", data) as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    get_url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    with _urlopen(get_url) as resp:
        assert resp.read() == data
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


def test_presigned_put_with_signed_headers(server, s3, bucket):
    url = presigner(server).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "k", "ContentType": "text/plain", "Metadata": {"a": "b c"}}, ExpiresIn=300
    )
    assert "content-type" in urlsplit(url).query.lower()
    code, err = _url_error_with(url, {"Content-Type": "text/html", "x-amz-meta-a": "b c"})
    assert code == 403
    assert err.findtext("Code") == "SignatureDoesNotMatch"
    assert_missing(s3, bucket, "k")
    with _urlopen(url, "PUT", b"data", {"Content-Type": "text/plain", "x-amz-meta-a": "b c"}) as resp:
        assert resp.status == 200
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"a": "b c"}


def _presign_with_query(server, method: str, path: str, query: str) -> str:
    """A SigV4 presigned URL whose query already carries parameters (as SDKs that "hoist"
    x-amz-* headers into the query make them), signed by botocore's own query signer."""
    request = AWSRequest(method=method, url=f"{server.endpoint}{quote(path)}?{query}")
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION, expires=300).add_auth(request)
    return request.url


def test_presigned_put_with_hoisted_headers(server, s3, bucket):
    """x-amz-* headers carried in a presigned URL's query (aws-sdk-js v3, the Ruby SDK) act as
    headers: metadata and storage class are applied, and the signature covers them."""
    query = "x-amz-meta-colour=bleu%20%C3%A9t%C3%A9&x-amz-storage-class=REDUCED_REDUNDANCY"
    url = _presign_with_query(server, "PUT", f"/{bucket}/hoisted", query)
    with _urlopen(url, "PUT", b"hoisted body") as resp:
        assert resp.status == 200
    head = s3.head_object(Bucket=bucket, Key="hoisted")
    # Non-ASCII metadata comes back MIME-encoded (RFC 2047), as S3 sends it.
    assert head["Metadata"] == {"colour": "=?UTF-8?B?" + base64.b64encode("bleu été".encode()).decode() + "?="}
    assert head["StorageClass"] == "REDUCED_REDUNDANCY"

    # The values are part of what is signed: changing one breaks the signature.
    tampered = url.replace("x-amz-storage-class=REDUCED_REDUNDANCY", "x-amz-storage-class=STANDARD")
    assert tampered != url
    code, err = _url_error_with(tampered.replace("/hoisted?", "/tampered?"), {})
    assert (code, err.findtext("Code")) == (403, "SignatureDoesNotMatch")
    assert_missing(s3, bucket, "tampered")


def test_presigned_copy_with_hoisted_copy_source(server, s3, bucket):
    """A hoisted x-amz-copy-source makes the presigned PUT a copy, as the header would."""
    s3.put_object(Bucket=bucket, Key="original", Body=b"copy this")
    url = _presign_with_query(server, "PUT", f"/{bucket}/copied", f"x-amz-copy-source={quote(f'{bucket}/original', safe='')}")
    with _urlopen(url, "PUT", b"") as resp:
        assert resp.status == 200
        assert b"CopyObjectResult" in resp.read()
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == b"copy this"


def _url_error_with(url: str, headers: dict[str, str]) -> tuple[int, ET.Element]:
    with pytest.raises(urllib.error.HTTPError) as e:
        _urlopen(url, "PUT", b"data", headers)
    return e.value.code, ET.fromstring(e.value.read())


@pytest.mark.parametrize(
    "extra",
    [
        {"x-amz-copy-source": "{bucket}/secret"},  # would turn the upload into a copy of any object
        {"x-amz-meta-added": "1"},
        {"x-amz-storage-class": "STANDARD_IA"},
    ],
)
def test_presigned_url_refuses_unsigned_amz_headers(server, s3, bucket, extra):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"top secret")
    url = presigner(server).generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "upload"}, ExpiresIn=300)
    headers = {k: v.format(bucket=bucket) for k, v in extra.items()}
    code, err = _url_error_with(url, headers)
    assert code == 403
    assert err.findtext("Code") == "AccessDenied"
    assert err.findtext("Message") == "There were headers present in the request which were not signed"
    assert err.findtext("HeadersNotSigned") == next(iter(extra))
    assert_missing(s3, bucket, "upload")


def test_presigned_url_ignores_stray_content_sha256_header(server, s3, bucket):
    url = presigner(server).generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    with _urlopen(url, "PUT", b"data", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}) as resp:
        assert resp.status == 200
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_header_auth_refuses_unsigned_amz_headers(server, s3, bucket):
    data = b"data"
    headers, _ = sign("PUT", f"/{bucket}/k", {"host": host(server)}, hashlib.sha256(data).hexdigest())
    headers["x-amz-meta-sneaky"] = "1"
    headers["x-amz-acl"] = "public-read"
    reply = send(server, "PUT", f"/{bucket}/k", headers, data)
    assert reply.status == 403
    assert reply.code == "AccessDenied"
    assert reply.field("HeadersNotSigned") == "x-amz-acl, x-amz-meta-sneaky"
    assert_missing(s3, bucket, "k")


def test_presigned_get_with_python_signer(server, s3, bucket, monkeypatch):
    monkeypatch.setitem(botocore.auth.AUTH_TYPE_MAPS, "s3v4-query", botocore.auth.S3SigV4QueryAuth)
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    url = presigner(server).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    with _urlopen(url) as resp:
        assert resp.read() == b"hello"


def test_presigned_url_expired(server, s3, bucket, shifted_clock):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    shifted_clock(-datetime.timedelta(hours=2))
    url = presigner(server).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=3600)
    code, err = _url_error(url)
    assert code == 403
    assert err.findtext("Code") == "AccessDenied"
    assert err.findtext("Message") == "Request has expired"


def test_presigned_put_expired_stores_nothing(server, s3, bucket, shifted_clock):
    shifted_clock(-datetime.timedelta(minutes=10))
    url = presigner(server).generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    code, err = _url_error(url, "PUT", b"data")
    assert code == 403
    assert err.findtext("Message") == "Request has expired"
    assert_missing(s3, bucket, "k")


def test_presigned_url_with_negative_lifetime_is_expired(server, s3, bucket):
    """boto3's ExpiresIn=-1000 (with botocore's own signer, as ceph/s3-tests runs it: awscrt's
    refuses to sign it) makes a URL that expired before it was made: 403, nothing stored."""
    request = AWSRequest(method="PUT", url=f"{server.endpoint}/{bucket}/k")
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION, expires=-1000).add_auth(request)
    url = request.url
    assert "X-Amz-Expires=-1000" in url
    code, err = _url_error(url, "PUT", b"data")
    assert code == 403
    assert err.findtext("Code") == "AccessDenied"
    assert err.findtext("Message") == "Request has expired"
    assert_missing(s3, bucket, "k")


def test_presigned_url_expires_over_a_week(server, bucket):
    url = presigner(server).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604801)
    assert "X-Amz-Expires=604801" in url
    code, err = _url_error(url)
    assert code == 400
    assert err.findtext("Code") == "AuthorizationQueryParametersError"


def test_presigned_url_of_exactly_a_week_works(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"week")
    url = presigner(server).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604800)
    with _urlopen(url) as resp:
        assert resp.read() == b"week"


@pytest.mark.parametrize("part", ["signature", "key", "expires"])
def test_presigned_url_tampered(server, s3, bucket, part):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="other", Body=b"secret")
    url = presigner(server).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    if part == "signature":
        head, _, sig = url.rpartition("X-Amz-Signature=")
        url = head + "X-Amz-Signature=" + sig[:-4] + ("0000" if sig[-4:] != "0000" else "1111")
    elif part == "key":
        url = url.replace(f"/{bucket}/k?", f"/{bucket}/other?")
    else:
        url = url.replace("X-Amz-Expires=300", "X-Amz-Expires=600")
    code, err = _url_error(url)
    assert code == 403
    assert err.findtext("Code") == "SignatureDoesNotMatch"


def test_presigned_url_with_wrong_secret(server, bucket):
    url = client(server, secret="nope", signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300
    )
    code, err = _url_error(url)
    assert code == 403
    assert err.findtext("Code") == "SignatureDoesNotMatch"


def test_presigned_url_missing_parameter(server, bucket):
    url = presigner(server).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    parts = urlsplit(url)
    query = "&".join(p for p in parts.query.split("&") if not p.startswith("X-Amz-Date="))
    code, err = _url_error(f"{server.endpoint}{parts.path}?{query}")
    assert code == 400
    assert err.findtext("Code") == "AuthorizationQueryParametersError"


def test_signature_v2_presigned_urls_work(server, s3, bucket):
    # What boto3 makes in us-east-1 by default: sharing links made with default settings work.
    s3.put_object(Bucket=bucket, Key="dir/a file+.txt", Body=b"hello")
    default = server.client()
    url = default.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a file+.txt"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url and "X-Amz-" not in url
    assert urllib.request.urlopen(url).read() == b"hello"
    # A signed response override is honoured; changing it breaks the signature.
    url = default.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dir/a file+.txt", "ResponseContentType": "text/x-test"}, ExpiresIn=300
    )
    assert urllib.request.urlopen(url).headers["content-type"] == "text/x-test"
    code, err = _url_error(url.replace("text%2Fx-test", "text%2Fother"))
    assert (code, err.findtext("Code")) == (403, "SignatureDoesNotMatch")
    # Upload through a presigned PUT.
    # Version 2 signs the Content-Type: the uploader sends the one the link was made for.
    put_url = default.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded", "ContentType": "application/octet-stream"}, ExpiresIn=300
    )
    request = urllib.request.Request(put_url, data=b"via v2", method="PUT", headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(request).read()
    assert s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read() == b"via v2"


def test_signature_v2_presigned_url_expired_or_tampered(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    url = server.client().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    parts = urlsplit(url)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&"))
    expired = dict(query, Expires=str(int(time.time()) - 10))
    code, err = _url_error(f"{server.endpoint}{parts.path}?" + "&".join(f"{k}={v}" for k, v in expired.items()))
    assert (code, err.findtext("Code"), err.findtext("Message")) == (403, "AccessDenied", "Request has expired")
    later = dict(query, Expires=str(int(query["Expires"]) + 60))  # a longer life than was signed
    code, err = _url_error(f"{server.endpoint}{parts.path}?" + "&".join(f"{k}={v}" for k, v in later.items()))
    assert (code, err.findtext("Code")) == (403, "SignatureDoesNotMatch")
    code, err = _url_error(f"{server.endpoint}/{bucket}/other?{parts.query}")
    assert (code, err.findtext("Code")) == (403, "SignatureDoesNotMatch")
    wrong_key = dict(query, AWSAccessKeyId="NOSUCHKEY")
    code, err = _url_error(f"{server.endpoint}{parts.path}?" + "&".join(f"{k}={v}" for k, v in wrong_key.items()))
    assert (code, err.findtext("Code")) == (403, "InvalidAccessKeyId")


def test_signature_v2_headers(server, bucket):
    # Older tools sign with "Authorization: AWS key:signature"; botocore still can.
    v2 = server.client(signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2 key/é", Body=b"signed v2", ContentType="text/plain", Metadata={"colour": "blue"})
    got = v2.get_object(Bucket=bucket, Key="v2 key/é")
    assert got["Body"].read() == b"signed v2" and got["Metadata"] == {"colour": "blue"}
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=bucket)["Contents"]] == ["v2 key/é"]
    bad = boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key="wrong",
        region_name="us-east-1", config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket=bucket, Key="v2 key/é")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("x_amz_date", "code"),
    [("", "AccessDenied"), ("Tue, 07 Jul 1950 21:53:04 GMT", "AccessDenied"), ("Tue, 07 Jul 2010 21:53:04 GMT", "RequestTimeTooSkewed"), ("junk", "AccessDenied")],
)
def test_signature_v2_x_amz_date_is_the_signed_date(server, bucket, x_amz_date, code):
    """With SigV2, an x-amz-date header (even an empty one) is the date, not Date: an empty or
    pre-1970 one is refused as no date at all, an old one as a skewed clock."""
    v2 = server.client(signature_version="s3")
    v2.meta.events.register("before-call.s3.PutObject", lambda params, **_: params["headers"].update({"x-amz-date": x_amz_date}))
    with pytest.raises(ClientError) as e:
        v2.put_object(Bucket=bucket, Key="dated", Body=b"x")
    assert e.value.response["Error"]["Code"] == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# --- payload modes ----------------------------------------------------------------------------


def test_unsigned_payload_put(server, s3, bucket):
    data = os.urandom(100 * KiB)
    headers, _ = sign("PUT", f"/{bucket}/u", {"host": host(server)}, "UNSIGNED-PAYLOAD")
    reply = send(server, "PUT", f"/{bucket}/u", headers, data)
    assert reply.status == 200, reply.body
    assert reply.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="u")["Body"].read() == data


def test_signed_payload_put(server, s3, bucket):
    data = os.urandom(10 * KiB)
    headers, _ = sign("PUT", f"/{bucket}/k é", {"host": host(server), "x-amz-meta-a": "b"}, hashlib.sha256(data).hexdigest())
    reply = send(server, "PUT", f"/{bucket}/k é", headers, data)
    assert reply.status == 200, reply.body
    got = s3.get_object(Bucket=bucket, Key="k é")
    assert got["Body"].read() == data
    assert got["Metadata"] == {"a": "b"}


def test_signed_payload_hash_mismatch(server, s3, bucket):
    data = os.urandom(10 * KiB)
    claimed = hashlib.sha256(b"something else").hexdigest()
    headers, _ = sign("PUT", f"/{bucket}/k", {"host": host(server)}, claimed)
    reply = send(server, "PUT", f"/{bucket}/k", headers, data)
    assert reply.status == 400
    assert reply.code == "XAmzContentSHA256Mismatch"
    assert reply.field("ClientComputedContentSHA256") == claimed
    assert reply.field("S3ComputedContentSHA256") == hashlib.sha256(data).hexdigest()
    assert_missing(s3, bucket, "k")


def test_signed_payload_hash_mismatch_keeps_old_object(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    headers, _ = sign("PUT", f"/{bucket}/k", {"host": host(server)}, hashlib.sha256(b"new!").hexdigest())
    assert send(server, "PUT", f"/{bucket}/k", headers, b"new?").code == "XAmzContentSHA256Mismatch"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


def test_missing_content_sha256_header(server, bucket):
    headers, _ = sign("GET", f"/{bucket}", {"host": host(server)}, EMPTY_SHA256)
    del headers["x-amz-content-sha256"]  # signed, but not sent
    reply = send(server, "GET", f"/{bucket}", headers)
    assert reply.status == 400


def test_invalid_content_sha256_value(server, bucket):
    headers, _ = sign("PUT", f"/{bucket}/k", {"host": host(server)}, "not-a-hash")
    reply = send(server, "PUT", f"/{bucket}/k", headers, b"data")
    assert reply.status == 400
    assert reply.code == "InvalidArgument"


def _streaming_put(
    server,
    bucket: str,
    key: str,
    payload: bytes,
    mode: str,
    *,
    trailer: tuple[str, str] | None = None,
    tamper: str = "",
    content_encoding: str = "aws-chunked",
    extra: dict[str, str] | None = None,
) -> Reply:
    """PUT ``payload`` as an aws-chunked body in ``mode``, with Content-Length signed."""
    headers = {
        "host": host(server),
        "content-encoding": content_encoding,
        "x-amz-decoded-content-length": str(len(payload)),
        **(extra or {}),
    }
    if trailer is not None:
        headers["x-amz-trailer"] = trailer[0]
    signed = mode != STREAMING_UNSIGNED_TRAILER
    # Signatures have a fixed length, so a body signed with a dummy seed has the real length.
    dummy = Signing(b"k", "s", "d", "0" * 64) if signed else None
    headers["content-length"] = str(len(aws_chunked(payload, dummy, trailer=trailer)))
    headers, signing = sign("PUT", f"/{bucket}/{key}", headers, mode)
    body = aws_chunked(payload, signing if signed else None, trailer=trailer, tamper=tamper)
    assert len(body) == int(headers["content-length"])
    return send(server, "PUT", f"/{bucket}/{key}", headers, body)


@pytest.mark.parametrize("size", [0, 1, 64 * KiB, 64 * KiB + 1, 200 * KiB + 7])
def test_streaming_signed_payload(server, s3, bucket, size):
    data = os.urandom(size)
    reply = _streaming_put(server, bucket, "k", data, STREAMING_SIGNED, extra={"content-type": "text/plain"})
    assert reply.status == 200, reply.body
    assert reply.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == data
    assert got["ContentLength"] == size
    assert got["ContentType"] == "text/plain"
    assert got.get("ContentEncoding") in (None, "")


def test_streaming_signed_payload_keeps_other_content_encoding(server, s3, bucket):
    data = os.urandom(1000)
    reply = _streaming_put(server, bucket, "k", data, STREAMING_SIGNED, content_encoding="aws-chunked,gzip")
    assert reply.status == 200, reply.body
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ContentEncoding"] == "gzip"
    assert got["Body"].read() == data


@pytest.mark.parametrize("tamper", ["chunk-signature", "chunk-data"])
def test_streaming_signed_payload_tampered(server, s3, bucket, tamper):
    data = os.urandom(200 * KiB)
    reply = _streaming_put(server, bucket, "k", data, STREAMING_SIGNED, tamper=tamper)
    assert reply.status == 403
    assert reply.code == "SignatureDoesNotMatch"
    assert_missing(s3, bucket, "k")


def test_streaming_signed_payload_tampered_keeps_old_object(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    reply = _streaming_put(server, bucket, "k", os.urandom(130 * KiB), STREAMING_SIGNED, tamper="chunk-data")
    assert reply.code == "SignatureDoesNotMatch"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


def test_streaming_decoded_length_mismatch(server, s3, bucket):
    data = os.urandom(1000)
    reply = _streaming_put(server, bucket, "k", data, STREAMING_SIGNED, extra={"x-amz-decoded-content-length": "999"})
    assert reply.status == 400
    assert_missing(s3, bucket, "k")


ALGORITHMS = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_streaming_unsigned_trailer(server, s3, bucket, algorithm):
    data = os.urandom(150 * KiB)
    value = checksum(algorithm, data)
    reply = _streaming_put(server, bucket, "k", data, STREAMING_UNSIGNED_TRAILER, trailer=(f"x-amz-checksum-{algorithm}", value))
    assert reply.status == 200, reply.body
    assert reply.headers[f"x-amz-checksum-{algorithm}"] == value
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{algorithm.upper()}"] == value
    assert got.get("ContentEncoding") in (None, "")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_streaming_unsigned_trailer_wrong_checksum(server, s3, bucket, algorithm):
    data = os.urandom(70 * KiB)
    wrong = checksum(algorithm, data + b"!")
    reply = _streaming_put(server, bucket, "k", data, STREAMING_UNSIGNED_TRAILER, trailer=(f"x-amz-checksum-{algorithm}", wrong))
    assert reply.status == 400
    assert reply.code == "BadDigest"
    assert_missing(s3, bucket, "k")


def test_streaming_unsigned_trailer_announced_but_missing(server, s3, bucket):
    data = os.urandom(1000)
    headers = {
        "host": host(server),
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    headers, _ = sign("PUT", f"/{bucket}/k", headers, STREAMING_UNSIGNED_TRAILER)
    reply = send(server, "PUT", f"/{bucket}/k", headers, aws_chunked(data, None))
    assert reply.status == 400
    assert_missing(s3, bucket, "k")


@pytest.mark.parametrize("algorithm", ["crc32", "crc64nvme", "sha256"])
def test_streaming_signed_trailer(server, s3, bucket, algorithm):
    data = os.urandom(140 * KiB)
    value = checksum(algorithm, data)
    reply = _streaming_put(server, bucket, "k", data, STREAMING_SIGNED_TRAILER, trailer=(f"x-amz-checksum-{algorithm}", value))
    assert reply.status == 200, reply.body
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{algorithm.upper()}"] == value


@pytest.mark.parametrize("tamper", ["trailer-signature", "chunk-signature", "chunk-data"])
def test_streaming_signed_trailer_tampered(server, s3, bucket, tamper):
    data = os.urandom(140 * KiB)
    value = checksum("crc32", data)
    reply = _streaming_put(server, bucket, "k", data, STREAMING_SIGNED_TRAILER, trailer=("x-amz-checksum-crc32", value), tamper=tamper)
    assert reply.status == 403
    assert reply.code == "SignatureDoesNotMatch"
    assert_missing(s3, bucket, "k")


def test_streaming_signed_trailer_wrong_checksum(server, s3, bucket):
    data = os.urandom(10 * KiB)
    wrong = checksum("crc32", b"other")
    reply = _streaming_put(server, bucket, "k", data, STREAMING_SIGNED_TRAILER, trailer=("x-amz-checksum-crc32", wrong))
    assert reply.status == 400
    assert reply.code == "BadDigest"
    assert_missing(s3, bucket, "k")


def test_streaming_upload_part(server, s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    data = os.urandom(5 * 1024 * KiB + 3)
    headers = {
        "host": host(server),
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    query = [("partNumber", "1"), ("uploadId", upload)]
    headers["content-length"] = str(len(aws_chunked(data, Signing(b"k", "s", "d", "0" * 64))))
    headers, signing = sign("PUT", f"/{bucket}/mp", headers, STREAMING_SIGNED, query=query)
    body = aws_chunked(data, signing)
    reply = send(server, "PUT", f"/{bucket}/mp", headers, body, query="&".join(f"{k}={_enc(v)}" for k, v in query))
    assert reply.status == 200, reply.body
    etag = reply.headers["etag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == data


# --- boto3 as users run it --------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC32C", "CRC64NVME", "SHA1", "CRC32"])
def test_boto3_checksum_algorithms_round_trip(s3, bucket, algorithm):
    data = os.urandom(40 * KiB)
    want = checksum(algorithm.lower(), data)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == want
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == want
    assert got["Body"].read() == data


@pytest.fixture
def boto3_trailers(monkeypatch):
    """Make botocore send checksums in aws-chunked trailers, as it does over HTTPS."""
    import botocore.httpchecksum

    real = botocore.httpchecksum.urlparse
    monkeypatch.setattr(botocore.httpchecksum, "urlparse", lambda url: real(url)._replace(scheme="https"))


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_boto3_trailer_checksums(server, bucket, boto3_trailers, algorithm):
    s3 = server.client()
    sent: list[dict] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: sent.append(dict(request.headers)))
    data = os.urandom(1024 * KiB + 5)  # more than one of botocore's 1 MiB aws-chunked chunks
    put = s3.put_object(Bucket=bucket, Key="k", Body=io.BytesIO(data), ChecksumAlgorithm=algorithm)
    assert sent[-1]["x-amz-content-sha256"] == STREAMING_UNSIGNED_TRAILER.encode()
    assert sent[-1]["Transfer-Encoding"] == b"chunked"
    want = checksum(algorithm.lower(), data)
    assert put[f"Checksum{algorithm}"] == want
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == want
    assert got.get("ContentEncoding") in (None, "")
    assert got["Body"].read() == data


def test_boto3_trailer_multipart_upload(server, bucket, boto3_trailers, tmp_path):
    from boto3.s3.transfer import TransferConfig

    s3 = server.client()
    data = os.urandom(11 * 1024 * KiB)
    path = tmp_path / "big"
    path.write_bytes(data)
    s3.upload_file(str(path), bucket, "big", Config=TransferConfig(multipart_threshold=5 * 1024 * KiB, multipart_chunksize=5 * 1024 * KiB))
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == data
    assert got["ETag"].endswith('-3"')


def test_boto3_default_checksum(s3, bucket):
    data = os.urandom(20 * KiB)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert put["ChecksumCRC32"] == checksum("crc32", data)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == checksum("crc32", data)
    assert got["Body"].read() == data


def test_boto3_upload_fileobj_with_checksum(s3, bucket, tmp_path):
    path = tmp_path / "f"
    data = os.urandom(300 * KiB)
    path.write_bytes(data)
    with open(path, "rb") as f:
        s3.upload_fileobj(f, bucket, "f", ExtraArgs={"ChecksumAlgorithm": "CRC32C"})
    got = s3.get_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumCRC32C"] == checksum("crc32c", data)


@pytest.mark.parametrize("signer", ["crt", "python"])
def test_boto3_signers_with_awkward_keys(server, bucket, monkeypatch, signer):
    if signer == "python":
        monkeypatch.setitem(botocore.auth.AUTH_TYPE_MAPS, "s3v4", botocore.auth.S3SigV4Auth)
    s3 = server.client()
    keys = ["sp ace", "plus+", "pct%41", "a//b", "a/../b", "./c", "ü/日本/🙂", "q?x=y&z#f", "~tilde*star"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="a/")
    assert [o["Key"] for o in listed["Contents"]] == ["a/../b", "a//b"]


def test_unique_request_ids(server, bucket):
    ids = set()
    for _ in range(5):
        reply = send(server, "GET", f"/{bucket}/{uuid.uuid4().hex}", {"host": host(server)})
        assert reply.status == 403
        ids.add(reply.headers["x-amz-request-id"])
        assert reply.field("RequestId") == reply.headers["x-amz-request-id"]
    assert len(ids) == 5
