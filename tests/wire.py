"""Requests as they go over the wire, for tests that send what boto3 would not: S3 answers read
from raw HTTP, SigV4 headers from botocore's own signer, and boto3 errors picked apart."""

from __future__ import annotations

import http.client
import re
import socket
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


def send(
    server: HoardServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    sign: bool = True,
    timeout: float = 10,
) -> Reply:
    """One request with http.client, its target sent verbatim (no dot-segment removal, no quoting)."""
    h = signed(server, method, target, body, headers) if sign else {"Host": f"127.0.0.1:{server.port}", **(headers or {})}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        try:
            conn.request(method, target, body=body, headers=h)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the whole body was read; the answer is still there to read
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def open_raw(server: HoardServer, method: str, target: str, headers: dict[str, str]) -> socket.socket:
    """A socket with the request line and headers sent; the caller sends (or withholds) the body."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode("latin-1"))
    return sock


def read_reply(sock: socket.socket, timeout: float = 10) -> Reply | None:
    """The first response on ``sock``; None when the server closed the connection without one."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        data += chunk
        head, sep, rest = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        if sep and length and len(rest) >= int(length.group(1)):
            break
    if not data:
        return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return Reply(int(lines[0].split()[1]), {k.strip().lower(): v.strip() for k, v in headers.items()}, rest)
