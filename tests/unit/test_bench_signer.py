"""The benchmark's own SigV4 signer gives the same Authorization header as botocore."""

from __future__ import annotations

import datetime
import hashlib
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from benchmarks import signer

ACCESS = "AKIDEXAMPLEBENCH0001"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
WHEN = datetime.datetime(2024, 5, 17, 12, 34, 56)
AMZ_DATE = "20240517T123456Z"
HOST = "127.0.0.1:9000"


def botocore_authorization(auth_cls: type[SigV4Auth], method: str, url: str, headers: dict[str, str], body: bytes, unsigned: bool) -> str:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    if unsigned:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        auth_cls(Credentials(ACCESS, SECRET), "s3", REGION).add_auth(request)
    return request.headers["Authorization"]


def ours(method: str, key_path: str, query: list[tuple[str, str]], extra: dict[str, str], payload_hash: str) -> str:
    headers = {"host": HOST, "x-amz-date": AMZ_DATE, "x-amz-content-sha256": payload_hash, **extra}
    return signer.authorization(
        method=method,
        encoded_path=signer.uri_encode(key_path, keep_slash=True),
        query=signer.encode_query(query),
        headers=headers,
        payload_hash=payload_hash,
        access_key=ACCESS,
        secret_key=SECRET,
        region=REGION,
        amz_date=AMZ_DATE,
    )


CASES = [
    ("PUT", "/bench-bucket/obj-0001", [], {}, b"x" * 4096),
    ("GET", "/bench-bucket/dir/obj 1 é+~.bin", [], {}, b""),
    ("HEAD", "/bench-bucket/a/b/c", [], {"Content-Type": "application/octet-stream"}, b""),
    ("GET", "/bench-bucket", [("list-type", "2"), ("max-keys", "1000"), ("delimiter", "/"), ("start-after", "p 1/é")], {}, b""),
    ("POST", "/bench-bucket/big", [("uploads", "")], {}, b""),
    ("PUT", "/bench-bucket/big", [("partNumber", "3"), ("uploadId", "abc/def+=")], {}, b"\0" * 1000),
]


@pytest.mark.parametrize("unsigned", [False, True])
@pytest.mark.parametrize(("method", "path", "query", "extra", "body"), CASES)
def test_matches_botocore_s3_signer(method, path, query, extra, body, unsigned):
    payload_hash = signer.UNSIGNED_PAYLOAD if unsigned else hashlib.sha256(body).hexdigest()
    url = f"http://{HOST}{signer.uri_encode(path, keep_slash=True)}"
    if query:
        url += "?" + signer.encode_query(query)
    expected = botocore_authorization(S3SigV4Auth, method, url, {"Host": HOST, **extra}, body, unsigned)
    assert ours(method, path, query, extra, payload_hash) == expected


def test_matches_botocore_generic_sigv4_auth():
    # The generic signer normalises and re-encodes the path, so use a plain one; it takes the
    # payload hash from x-amz-content-sha256 when that header is present.
    body = b"hello"
    digest = hashlib.sha256(body).hexdigest()
    headers = {"Host": HOST, "X-Amz-Content-SHA256": digest}
    expected = botocore_authorization(SigV4Auth, "PUT", f"http://{HOST}/bench-bucket/plain-key", headers, body, False)
    assert ours("PUT", "/bench-bucket/plain-key", [], {}, digest) == expected


def test_signing_key_is_the_documented_derivation():
    # AWS's documented example key derivation (SigV4 docs, "deriving the signing key").
    key = signer.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_canonical_request_trims_and_sorts_headers():
    creq, signed = signer.canonical_request(
        "get", "/b/k", "", {"X-Amz-Date": AMZ_DATE, "Host": HOST, "X-B": "  a   b "}, signer.EMPTY_SHA256
    )
    assert signed == "host;x-amz-date;x-b"
    assert creq.splitlines()[:6] == ["GET", "/b/k", "", f"host:{HOST}", f"x-amz-date:{AMZ_DATE}", "x-b:a b"]
