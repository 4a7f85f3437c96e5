"""SigV4 as S3 uses it: AWS's published examples, botocore's signer, and aws-chunked decoding.

Every published example below comes from the Amazon S3 API reference pages "Signature
Calculations for the Authorization Header" (sig-v4-header-based-auth, sigv4-streaming) and
"Authenticating Requests: Using Query Parameters" (sigv4-query-string-auth). Requests built by
boto3 are captured before they are sent and fed to Hoard's authenticator, so Hoard is checked
against what real clients put on the wire.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
from urllib.parse import unquote, urlsplit

import boto3
import botocore.auth
import pytest
from botocore.config import Config

from hoard.crypto import sigv4
from hoard.http.request import BodyStream, Request
from hoard.iam.credentials import FixedKeys, Identity, canonical_id
from hoard.s3.auth.authenticate import AuthContext, Authenticator
from hoard.s3.auth.chunked import ChunkedDecoder
from hoard.s3.auth.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    Credential,
    chunk_string_to_sign,
    parse_authorization,
    trailer_string_to_sign,
)
from hoard.s3.errors import S3Error

# The credentials and time every AWS example uses.
EX_ACCESS = "AKIAIOSFODNN7EXAMPLE"
EX_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EX_DATE = "20130524T000000Z"
EX_SCOPE = "20130524/us-east-1/s3/aws4_request"


@pytest.fixture
def ex_key() -> bytes:
    return sigv4.signing_key(EX_SECRET, "20130524", "us-east-1", "s3")


def _signature(key: bytes, method: str, uri: str, query: str, headers: dict[str, str], payload: str) -> str:
    signed = tuple(sorted(headers))
    canonical = sigv4.canonical_request(method, uri, query, headers, signed, payload)
    return sigv4.sign(key, sigv4.string_to_sign(EX_DATE, EX_SCOPE, canonical))


# --- AWS's published examples -------------------------------------------------------------


def test_signing_key_derivation_matches_hmac_chain():
    k = hmac.new(b"AWS4" + EX_SECRET.encode(), b"20130524", hashlib.sha256).digest()
    for part in (b"us-east-1", b"s3", b"aws4_request"):
        k = hmac.new(k, part, hashlib.sha256).digest()
    assert sigv4.signing_key(EX_SECRET, "20130524", "us-east-1", "s3") == k


def test_aws_example_get_object_with_range(ex_key):
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": sigv4.EMPTY_SHA256,
        "x-amz-date": EX_DATE,
    }
    canonical = sigv4.canonical_request("GET", "/test.txt", "", headers, tuple(sorted(headers)), sigv4.EMPTY_SHA256)
    assert canonical == (
        "GET\n/test.txt\n\n"
        "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{sigv4.EMPTY_SHA256}\nx-amz-date:{EX_DATE}\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{sigv4.EMPTY_SHA256}"
    )
    sts = sigv4.string_to_sign(EX_DATE, EX_SCOPE, canonical)
    assert sts == (f"AWS4-HMAC-SHA256\n{EX_DATE}\n{EX_SCOPE}\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    assert sigv4.sign(ex_key, sts) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


def test_aws_example_put_object_with_dollar_in_key(ex_key):
    body = b"Welcome to Amazon S3."
    payload = hashlib.sha256(body).hexdigest()
    assert payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    headers = {
        "date": "Fri, 24 May 2013 00:00:00 GMT",
        "host": "examplebucket.s3.amazonaws.com",
        "x-amz-content-sha256": payload,
        "x-amz-date": EX_DATE,
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
    }
    uri = sigv4.uri_encode("/test$file.text", keep_slash=True)
    assert uri == "/test%24file.text"
    assert _signature(ex_key, "PUT", uri, "", headers, payload) == ("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")


def test_aws_example_get_bucket_lifecycle(ex_key):
    headers = {"host": "examplebucket.s3.amazonaws.com", "x-amz-content-sha256": sigv4.EMPTY_SHA256, "x-amz-date": EX_DATE}
    query = sigv4.canonical_query([("lifecycle", "")])
    assert query == "lifecycle="
    assert _signature(ex_key, "GET", "/", query, headers, sigv4.EMPTY_SHA256) == (
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    )


def test_aws_example_list_objects(ex_key):
    headers = {"host": "examplebucket.s3.amazonaws.com", "x-amz-content-sha256": sigv4.EMPTY_SHA256, "x-amz-date": EX_DATE}
    query = sigv4.canonical_query([("prefix", "J"), ("max-keys", "2")])
    assert query == "max-keys=2&prefix=J"
    assert _signature(ex_key, "GET", "/", query, headers, sigv4.EMPTY_SHA256) == (
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    )


def test_aws_example_presigned_get(ex_key):
    pairs = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{EX_ACCESS}/{EX_SCOPE}"),
        ("X-Amz-Date", EX_DATE),
        ("X-Amz-Expires", "86400"),
        ("X-Amz-SignedHeaders", "host"),
        ("X-Amz-Signature", "ignored: excluded from the canonical query"),
    ]
    query = sigv4.canonical_query(pairs, exclude="X-Amz-Signature")
    assert query == (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    )
    headers = {"host": "examplebucket.s3.amazonaws.com"}
    assert _signature(ex_key, "GET", "/test.txt", query, headers, UNSIGNED_PAYLOAD) == (
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


CHUNKED_HEADERS = {
    "content-encoding": "aws-chunked",
    "content-length": "66824",
    "host": "s3.amazonaws.com",
    "x-amz-content-sha256": STREAMING_SIGNED,
    "x-amz-date": EX_DATE,
    "x-amz-decoded-content-length": "66560",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
}
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
CHUNK_DATA = [b"a" * 65536, b"a" * 1024, b""]


def test_aws_example_chunked_upload_signatures(ex_key):
    seed = _signature(ex_key, "PUT", "/examplebucket/chunkObject.txt", "", CHUNKED_HEADERS, STREAMING_SIGNED)
    assert seed == SEED
    previous = seed
    for data, expected in zip(CHUNK_DATA, CHUNK_SIGS, strict=True):
        text = chunk_string_to_sign(EX_DATE, EX_SCOPE, previous, hashlib.sha256(data).hexdigest())
        assert text.startswith(f"AWS4-HMAC-SHA256-PAYLOAD\n{EX_DATE}\n{EX_SCOPE}\n{previous}\n{sigv4.EMPTY_SHA256}\n")
        previous = sigv4.sign(ex_key, text)
        assert previous == expected


def _example_chunked_body(sigs: list[str] = CHUNK_SIGS, data: list[bytes] = CHUNK_DATA) -> bytes:
    body = b"".join(f"{len(d):x};chunk-signature={s}\r\n".encode() + d + b"\r\n" for d, s in zip(data, sigs, strict=True))
    assert len(body) == 66824 or sigs is not CHUNK_SIGS  # the example's Content-Length
    return body


def test_trailer_string_to_sign_layout():
    # The S3 reference (sigv4-streaming-trailers): algorithm AWS4-HMAC-SHA256-TRAILER, the date,
    # the scope, the previous (final chunk's) signature and the hex SHA-256 of the trailing headers.
    trailer = b"x-amz-checksum-crc32c:sOO8/Q==\n"
    text = trailer_string_to_sign(EX_DATE, EX_SCOPE, "f" * 64, trailer)
    assert text == "\n".join(["AWS4-HMAC-SHA256-TRAILER", EX_DATE, EX_SCOPE, "f" * 64, hashlib.sha256(trailer).hexdigest()])


# --- parsing and encoding -----------------------------------------------------------------


def test_parse_authorization_header():
    auth = parse_authorization(
        f"AWS4-HMAC-SHA256 Credential={EX_ACCESS}/{EX_SCOPE}, SignedHeaders=host;range;x-amz-date,"
        "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
    )
    assert auth.credential == Credential(EX_ACCESS, "20130524", "us-east-1", "s3")
    assert auth.credential.scope == EX_SCOPE
    assert auth.signed_headers == ("host", "range", "x-amz-date")
    assert auth.signature == "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"


@pytest.mark.parametrize(
    "header",
    [
        "AWS4-HMAC-SHA1 Credential=a/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=a/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=a/20130524/us-east-1/s3, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=a/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 garbage",
    ],
)
def test_parse_authorization_rejects_malformed(header):
    with pytest.raises(sigv4.MalformedAuth):
        parse_authorization(header)


@pytest.mark.parametrize(
    ("text", "keep_slash", "encoded"),
    [
        ("AZaz09-._~", False, "AZaz09-._~"),
        ("a b", False, "a%20b"),
        ("a+b", False, "a%2Bb"),
        ("a*b", False, "a%2Ab"),
        ("100%", False, "100%25"),
        ("a/b", False, "a%2Fb"),
        ("a/b", True, "a/b"),
        ("=&?#", False, "%3D%26%3F%23"),
        ("é", False, "%C3%A9"),
        ("日本", True, "%E6%97%A5%E6%9C%AC"),
    ],
)
def test_uri_encode(text, keep_slash, encoded):
    assert sigv4.uri_encode(text, keep_slash) == encoded


def test_canonical_query_sorts_encoded_pairs_and_keeps_empty_values():
    pairs = [("prefix", "a b"), ("delimiter", "/"), ("acl", ""), ("a", "2"), ("a", "1"), ("X-Amz-Signature", "s")]
    assert sigv4.canonical_query(pairs, exclude="X-Amz-Signature") == "a=1&a=2&acl=&delimiter=%2F&prefix=a%20b"


def test_canonical_headers_trim_and_collapse_whitespace():
    canonical = sigv4.canonical_request(
        "GET", "/", "", {"host": "h", "x-amz-meta-a": "  one   two  "}, ("host", "x-amz-meta-a"), "UNSIGNED-PAYLOAD"
    )
    assert "x-amz-meta-a:one two\n" in canonical


def test_signatures_equal():
    assert sigv4.signatures_equal("ab" * 32, "ab" * 32)
    assert not sigv4.signatures_equal("ab" * 32, "ab" * 31 + "ac")


# --- Hoard against botocore's signer --------------------------------------------------------

TEST_ACCESS = "HOARDUNITACCESSKEY01"
TEST_SECRET = "unit/secret+key/0123456789abcdefghijXYZ"
IDENTITY = Identity(TEST_ACCESS, TEST_SECRET, canonical_id(TEST_ACCESS), "unit")


class _Captured(Exception):
    def __init__(self, request):
        self.request = request


@pytest.fixture(params=["crt", "python"])
def signer(request, monkeypatch):
    """Which of botocore's signers boto3 uses: awscrt's (the default when awscrt is installed) or
    botocore's own Python one."""
    if request.param == "python":
        monkeypatch.setitem(botocore.auth.AUTH_TYPE_MAPS, "s3v4", botocore.auth.S3SigV4Auth)
        monkeypatch.setitem(botocore.auth.AUTH_TYPE_MAPS, "s3v4-query", botocore.auth.S3SigV4QueryAuth)
    return request.param


@pytest.fixture
def botocore_canonical(monkeypatch, signer):
    """Every canonical request botocore's Python SigV4 signers build (none with the CRT signer)."""
    seen: list[str] = []
    original = botocore.auth.SigV4Auth.canonical_request

    def recording(self, request):
        text = original(self, request)
        seen.append(text)
        return text

    monkeypatch.setattr(botocore.auth.SigV4Auth, "canonical_request", recording)
    return seen


def _same_canonical(hoard: str, seen: list[str], signer: str) -> bool:
    if signer == "crt":
        return True  # awscrt does not expose its canonical request; the signature check covers it
    assert len(seen) == 1
    return hoard == seen[0]


def _client(region: str = "us-east-1"):
    c = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id=TEST_ACCESS,
        aws_secret_access_key=TEST_SECRET,
        region_name=region,
        # boto3 presigns with Signature Version 2 in us-east-1 unless told otherwise
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4"),
    )

    def capture(request, **_):
        raise _Captured(request)

    c.meta.events.register("before-send.s3", capture)
    return c


@pytest.fixture
def client(signer):
    return _client()


def _fake_now(delta: datetime.timedelta):
    def now(remove_tzinfo: bool = True) -> datetime.datetime:
        value = datetime.datetime.now(datetime.UTC) + delta
        return value.replace(tzinfo=None) if remove_tzinfo else value

    return now


def _patch_clock(monkeypatch, delta: datetime.timedelta) -> None:
    import botocore.crt.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", _fake_now(delta))
    monkeypatch.setattr(botocore.crt.auth, "get_current_datetime", _fake_now(delta))


def _wire(client, operation: str, **params):
    """The request boto3 would send for ``operation``, without sending it."""
    with pytest.raises(_Captured) as caught:
        getattr(client, operation)(**params)
    return caught.value.request


def _hoard_request(method: str, url: str, headers) -> Request:
    parts = urlsplit(url)
    headers = dict(headers.items())
    if not any(k.lower() == "host" for k in headers):
        headers["Host"] = parts.netloc  # added by urllib3 when it sends the request
    scope = {
        "type": "http",
        "method": method,
        "path": unquote(parts.path),
        "raw_path": parts.path.encode("latin-1"),
        "query_string": parts.query.encode("latin-1"),
        "headers": [(k.lower().encode("latin-1"), v if isinstance(v, bytes) else v.encode("utf-8")) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request.from_scope(scope, receive)


def _authenticator(region: str = "us-east-1", strict: bool = False) -> Authenticator:
    return Authenticator(FixedKeys([IDENTITY]), region, strict)


def _hoard_canonical(req: Request) -> str:
    auth = parse_authorization(req.headers["authorization"])
    return sigv4.canonical_request(
        req.method,
        sigv4.uri_encode(req.path, keep_slash=True),
        sigv4.canonical_query(req.query),
        req.headers,
        auth.signed_headers,
        req.headers["x-amz-content-sha256"],
    )


AWKWARD_KEYS = [
    "plain.txt",
    "unicode-ключ-日本語-é.txt",
    "with space.txt",
    "plus+sign",
    "percent%20literal%",
    "a//b",
    "a/../b",
    "../up",
    "./dot/./x",
    "trailing/",
    "/leading",
    "tilde~star*paren()!'",
    "semi;colon=eq&amp?q#hash",
    'brackets[]{}<>|^`\\"',
    "emoji-🙂",
]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_header_signature_matches_botocore_get(client, botocore_canonical, signer, key):
    wire = _wire(client, "get_object", Bucket="bkt", Key=key, Range="bytes=0-9")
    req = _hoard_request(wire.method, wire.url, wire.headers)
    assert req.path == f"/bkt/{key}"
    assert _same_canonical(_hoard_canonical(req), botocore_canonical, signer)
    ctx = _authenticator().authenticate(req)
    assert ctx.identity == IDENTITY
    assert ctx.payload_hash == sigv4.EMPTY_SHA256


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_header_signature_matches_botocore_put(client, botocore_canonical, signer, key):
    body = b"hello \xff world"
    wire = _wire(client, "put_object", Bucket="bkt", Key=key, Body=body, Metadata={"note": "a  b"})
    req = _hoard_request(wire.method, wire.url, wire.headers)
    assert _same_canonical(_hoard_canonical(req), botocore_canonical, signer)
    ctx = _authenticator().authenticate(req)
    assert ctx.payload_hash in (hashlib.sha256(body).hexdigest(), UNSIGNED_PAYLOAD)


@pytest.mark.parametrize(
    "params",
    [
        {"Prefix": "a b+c%/ü", "Delimiter": "/"},
        {"Prefix": "x=y&z", "StartAfter": "k?#", "MaxKeys": 7},
        {"Prefix": "", "EncodingType": "url", "ContinuationToken": "tok/en+=="},
        {"Delimiter": "日", "FetchOwner": True},
    ],
)
def test_query_signature_matches_botocore(client, botocore_canonical, signer, params):
    wire = _wire(client, "list_objects_v2", Bucket="bkt", **params)
    req = _hoard_request(wire.method, wire.url, wire.headers)
    assert req.params["list-type"] == "2"
    assert _same_canonical(_hoard_canonical(req), botocore_canonical, signer)
    assert _authenticator().authenticate(req).identity == IDENTITY


def test_response_override_query_matches_botocore(client, botocore_canonical, signer):
    wire = _wire(
        client,
        "get_object",
        Bucket="bkt",
        Key="k",
        ResponseContentDisposition='attachment; filename="a b+c.txt"',
        ResponseContentType="text/plain; charset=utf-8",
        VersionId="null",
    )
    req = _hoard_request(wire.method, wire.url, wire.headers)
    assert _same_canonical(_hoard_canonical(req), botocore_canonical, signer)
    assert _authenticator().authenticate(req).identity == IDENTITY


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@pytest.mark.parametrize("method", ["get_object", "put_object"])
def test_presigned_url_matches_botocore(client, botocore_canonical, signer, key, method):
    url = client.generate_presigned_url(method, Params={"Bucket": "bkt", "Key": key}, ExpiresIn=300)
    parts = urlsplit(url)
    req = _hoard_request("GET" if method == "get_object" else "PUT", url, {"host": parts.netloc})
    ctx = _authenticator().authenticate(req)
    assert ctx.identity == IDENTITY
    assert ctx.payload_hash == UNSIGNED_PAYLOAD
    hoard = sigv4.canonical_request(
        req.method,
        sigv4.uri_encode(req.path, keep_slash=True),
        sigv4.canonical_query(req.query, exclude="X-Amz-Signature"),
        req.headers,
        tuple(req.params["X-Amz-SignedHeaders"].split(";")),
        UNSIGNED_PAYLOAD,
    )
    assert _same_canonical(hoard, botocore_canonical, signer)


def test_botocore_signature_for_aws_example_request(monkeypatch):
    """botocore's S3 signer, at the examples' time, gives the published signature too."""
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: datetime.datetime(2013, 5, 24))
    request = AWSRequest(method="GET", url="https://examplebucket.s3.amazonaws.com/test.txt", headers={"Range": "bytes=0-9"})
    botocore.auth.S3SigV4Auth(Credentials(EX_ACCESS, EX_SECRET), "s3", "us-east-1").add_auth(request)
    assert request.headers["Authorization"].endswith("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


# --- the authenticator's decisions, on botocore-signed requests ---------------------------


def _assert_s3_error(code: str, fn, *args):
    with pytest.raises(S3Error) as caught:
        fn(*args)
    assert caught.value.code == code
    return caught.value


def test_wrong_secret_is_signature_mismatch(client):
    wire = _wire(client, "get_object", Bucket="bkt", Key="k")
    req = _hoard_request(wire.method, wire.url, wire.headers)
    other = Authenticator(FixedKeys([Identity(TEST_ACCESS, "another-secret", "0" * 64, "x")]), "us-east-1", False)
    _assert_s3_error("SignatureDoesNotMatch", other.authenticate, req)


def test_unknown_access_key(client):
    wire = _wire(client, "get_object", Bucket="bkt", Key="k")
    req = _hoard_request(wire.method, wire.url, wire.headers)
    other = Authenticator(FixedKeys([Identity("SOMEONEELSE", TEST_SECRET, "0" * 64, "x")]), "us-east-1", False)
    _assert_s3_error("InvalidAccessKeyId", other.authenticate, req)


def test_tampered_header_is_signature_mismatch(client):
    wire = _wire(client, "get_object", Bucket="bkt", Key="k", Range="bytes=0-9")
    headers = dict(wire.headers)
    headers["Range"] = "bytes=0-10"
    _assert_s3_error("SignatureDoesNotMatch", _authenticator().authenticate, _hoard_request(wire.method, wire.url, headers))


def test_tampered_path_is_signature_mismatch(client):
    wire = _wire(client, "get_object", Bucket="bkt", Key="k")
    req = _hoard_request(wire.method, wire.url.replace("/bkt/k", "/bkt/j"), wire.headers)
    _assert_s3_error("SignatureDoesNotMatch", _authenticator().authenticate, req)


def test_unsigned_amz_header_is_refused(client):
    wire = _wire(client, "get_object", Bucket="bkt", Key="k")
    headers = dict(wire.headers)
    headers["x-amz-copy-source"] = "bkt/other"
    err = _assert_s3_error("AccessDenied", _authenticator().authenticate, _hoard_request(wire.method, wire.url, headers))
    assert err.extra["HeadersNotSigned"] == "x-amz-copy-source"
    url = client.generate_presigned_url("put_object", Params={"Bucket": "bkt", "Key": "k"}, ExpiresIn=300)
    headers = {"host": urlsplit(url).netloc, "x-amz-copy-source": "bkt/other", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    err = _assert_s3_error("AccessDenied", _authenticator().authenticate, _hoard_request("PUT", url, headers))
    assert err.extra["HeadersNotSigned"] == "x-amz-copy-source"


def test_region_is_free_unless_strict(signer):
    c = _client("eu-west-3")
    wire = _wire(c, "get_object", Bucket="bkt", Key="k")
    req = _hoard_request(wire.method, wire.url, wire.headers)
    assert _authenticator("us-east-1", strict=False).authenticate(req).scope.split("/")[1] == "eu-west-3"
    _assert_s3_error("AuthorizationHeaderMalformed", _authenticator("us-east-1", strict=True).authenticate, req)
    assert _authenticator("eu-west-3", strict=True).authenticate(req).identity == IDENTITY


@pytest.mark.parametrize("minutes", [-16, 16])
def test_clock_skew(client, monkeypatch, minutes):
    _patch_clock(monkeypatch, datetime.timedelta(minutes=minutes))
    wire = _wire(client, "get_object", Bucket="bkt", Key="k")
    req = _hoard_request(wire.method, wire.url, wire.headers)
    _assert_s3_error("RequestTimeTooSkewed", _authenticator().authenticate, req)


def test_presign_expired_and_too_long(client, monkeypatch):
    _patch_clock(monkeypatch, -datetime.timedelta(hours=2))
    url = client.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "k"}, ExpiresIn=3600)
    req = _hoard_request("GET", url, {"host": urlsplit(url).netloc})
    err = _assert_s3_error("AccessDenied", _authenticator().authenticate, req)
    assert err.message == "Request has expired"
    _patch_clock(monkeypatch, datetime.timedelta(0))
    url = client.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "k"}, ExpiresIn=604801)
    req = _hoard_request("GET", url, {"host": urlsplit(url).netloc})
    _assert_s3_error("AuthorizationQueryParametersError", _authenticator().authenticate, req)


def test_anonymous_request_has_no_identity():
    req = _hoard_request("GET", "http://127.0.0.1:9000/bkt/k", {"host": "127.0.0.1:9000"})
    ctx = _authenticator().authenticate(req)
    assert ctx.identity is None


# --- aws-chunked decoding -----------------------------------------------------------------


def _feed(data: bytes, piece: int):
    """An ASGI receive that hands over ``data`` in pieces of ``piece`` bytes."""
    pieces = [data[i : i + piece] for i in range(0, len(data), piece)] or [b""]
    it = iter(range(len(pieces)))

    async def receive():
        i = next(it)
        return {"type": "http.request", "body": pieces[i], "more_body": i < len(pieces) - 1}

    return receive


def _decode(body: bytes, ctx: AuthContext, piece: int = 7000) -> tuple[bytes, dict[str, str]]:
    async def run():
        decoder = ChunkedDecoder(BodyStream(_feed(body, piece)), ctx)
        out = bytearray()
        async for data in decoder.payload():
            out += data
        return bytes(out), decoder.trailers

    return asyncio.run(run())


def _example_ctx(ex_key: bytes, mode: str = STREAMING_SIGNED) -> AuthContext:
    return AuthContext(identity=None, payload_hash=mode, signing_key=ex_key, scope=EX_SCOPE, amz_date=EX_DATE, seed_signature=SEED)


@pytest.mark.parametrize("piece", [997, 4096, 65536, 66824])
def test_decode_aws_example_chunked_body(ex_key, piece):
    data, trailers = _decode(_example_chunked_body(), _example_ctx(ex_key), piece=piece)
    assert data == b"a" * 66560
    assert trailers == {}


def test_decode_small_body_byte_by_byte(ex_key):
    data = [b"hello ", b"world", b""]
    sigs, previous = [], SEED
    for d in data:
        previous = sigv4.sign(ex_key, chunk_string_to_sign(EX_DATE, EX_SCOPE, previous, hashlib.sha256(d).hexdigest()))
        sigs.append(previous)
    out, _ = _decode(_example_chunked_body(sigs, data), _example_ctx(ex_key), piece=1)
    assert out == b"hello world"


@pytest.mark.parametrize("which", [0, 1, 2])
def test_decode_rejects_tampered_chunk_signature(ex_key, which):
    sigs = list(CHUNK_SIGS)
    sigs[which] = sigs[which][:-1] + ("0" if sigs[which][-1] != "0" else "1")
    with pytest.raises(S3Error) as caught:
        _decode(_example_chunked_body(sigs), _example_ctx(ex_key))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_decode_rejects_tampered_chunk_data(ex_key):
    data = [b"a" * 65535 + b"b", b"a" * 1024, b""]
    with pytest.raises(S3Error) as caught:
        _decode(_example_chunked_body(CHUNK_SIGS, data), _example_ctx(ex_key))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_decode_rejects_missing_chunk_signature(ex_key):
    body = b"400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n"
    with pytest.raises(S3Error) as caught:
        _decode(body, _example_ctx(ex_key))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_decode_rejects_truncated_body(ex_key):
    with pytest.raises(S3Error) as caught:
        _decode(_example_chunked_body()[:-200], _example_ctx(ex_key))
    assert caught.value.code == "IncompleteBody"


def _signed_trailer_body(ex_key: bytes, payload: bytes, trailer: bytes, bad_signature: bool = False) -> bytes:
    previous, out = SEED, bytearray()
    for d in (payload, b""):
        previous = sigv4.sign(ex_key, chunk_string_to_sign(EX_DATE, EX_SCOPE, previous, hashlib.sha256(d).hexdigest()))
        out += f"{len(d):x};chunk-signature={previous}\r\n".encode() + d
        out += b"\r\n" if d else b""
    # written independently of trailer_string_to_sign, from the S3 reference
    text = f"AWS4-HMAC-SHA256-TRAILER\n{EX_DATE}\n{EX_SCOPE}\n{previous}\n{hashlib.sha256(trailer).hexdigest()}"
    signature = hmac.new(ex_key, text.encode(), hashlib.sha256).hexdigest()
    if bad_signature:
        signature = "0" * 64
    out += trailer.replace(b"\n", b"\r\n") + f"x-amz-trailer-signature:{signature}\r\n\r\n".encode()
    return bytes(out)


def test_decode_signed_trailer(ex_key):
    trailer = b"x-amz-checksum-crc32:DUoRhQ==\n"
    body = _signed_trailer_body(ex_key, b"hello world", trailer)
    data, trailers = _decode(body, _example_ctx(ex_key, STREAMING_SIGNED_TRAILER), piece=3)
    assert data == b"hello world"
    assert trailers == {"x-amz-checksum-crc32": "DUoRhQ=="}


def test_decode_signed_trailer_wrong_signature(ex_key):
    body = _signed_trailer_body(ex_key, b"hello world", b"x-amz-checksum-crc32:DUoRhQ==\n", bad_signature=True)
    with pytest.raises(S3Error) as caught:
        _decode(body, _example_ctx(ex_key, STREAMING_SIGNED_TRAILER))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_decode_signed_trailer_tampered_value(ex_key):
    body = _signed_trailer_body(ex_key, b"hello world", b"x-amz-checksum-crc32:DUoRhQ==\n")
    body = body.replace(b"DUoRhQ==", b"AAAAAA==")
    with pytest.raises(S3Error) as caught:
        _decode(body, _example_ctx(ex_key, STREAMING_SIGNED_TRAILER))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_decode_unsigned_trailer():
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
    ctx = AuthContext(identity=None, payload_hash=STREAMING_UNSIGNED_TRAILER)
    data, trailers = _decode(body, ctx, piece=2)
    assert data == b"hello world"
    assert trailers == {"x-amz-checksum-crc32": "DUoRhQ=="}


@pytest.mark.parametrize(
    "body,code",
    [
        (b"zz\r\nhello\r\n0\r\n\r\n", "IncompleteBody"),  # size is not hex
        (b"5\r\nhelloEXTRA\r\n0\r\n\r\n", "IncompleteBody"),  # data longer than declared
        (b"5\r\nhello\r\n0\r\nno-colon-here\r\n\r\n", "MalformedTrailerError"),
    ],
)
def test_decode_rejects_malformed_framing(body, code):
    ctx = AuthContext(identity=None, payload_hash=STREAMING_UNSIGNED_TRAILER)
    with pytest.raises(S3Error) as caught:
        _decode(body, ctx)
    assert caught.value.code == code
