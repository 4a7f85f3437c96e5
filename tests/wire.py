"""Requests as they go over the wire, for tests that send what boto3 would not: S3 answers read
from raw HTTP, SigV4 headers from botocore's own signer, and boto3 errors picked apart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def code(self) -> str | None:
        """The S3 error code, None when the body is not an S3 error document."""
        try:
            return ET.fromstring(self.body).findtext("Code")
        except ET.ParseError:
            return None

    def field(self, name: str) -> str | None:
        return ET.fromstring(self.body).findtext(name)


def signed(
    server: HoardServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    unsigned_payload: bool = False,
    secret: str = SECRET_KEY,
) -> dict[str, str]:
    """Headers of a request signed by botocore's S3 SigV4 signer. ``target`` (path and query) is
    signed exactly as it will be sent: S3 signs the path as received, without normalising it."""
    req = AWSRequest(method=method, url=server.endpoint + target, data=body, headers=dict(headers or {}))
    if unsigned_payload:
        # How botocore itself asks for x-amz-content-sha256: UNSIGNED-PAYLOAD.
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(Credentials(ACCESS_KEY, secret), "s3", REGION).add_auth(req)
    out = dict(req.headers.items())
    out["Host"] = f"127.0.0.1:{server.port}"  # what the signer assumed
    return out


def error_code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def status(exc: pytest.ExceptionInfo) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def assert_missing(s3, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert status(e) == 404
