"""The S3 and admin clients a session's pages act through, signed with the user's own keys.

Going through the server's own S3 port rather than calling its handlers keeps one path for every
request: the same signature check, the same policy engine, the same errors as the AWS CLI gets.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hoard.admin.client import AdminClient, AdminError
from hoard.console.web import Refused

T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    url: str  # where the console sends its own S3 requests
    public_url: str  # what share links and downloads point browsers at
    region: str

    @property
    def verify(self) -> bool:
        # The server talking to itself over loopback: its own certificate, whatever names it holds.
        host = urlsplit(self.url).hostname or ""
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host != "localhost"


def s3_client(endpoint: Endpoint, access_key: str, secret_key: str, url: str | None = None) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=url or endpoint.url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=endpoint.region,
        verify=endpoint.verify,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": 1},
            connect_timeout=10,
            read_timeout=120,
            # The console sends whole bodies it already holds: MD5-free, no trailing checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def admin_client(endpoint: Endpoint, access_key: str, secret_key: str) -> AdminClient:
    client = AdminClient(endpoint.url, access_key, secret_key, endpoint.region)
    if client.tls is not None and not endpoint.verify:
        client.tls.check_hostname = False
        client.tls.verify_mode = 0  # ssl.CERT_NONE: loopback only (see Endpoint.verify)
    return client


def explain(error: Exception) -> Refused:
    """A client's error as the page shows it: S3's code and message."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        code, message = info.get("Code", "Error"), info.get("Message", "")
        return Refused(f"{code}: {message}" if message else code, status if 400 <= status < 600 else 400)
    if isinstance(error, AdminError):
        return Refused(str(error), error.status if 400 <= error.status < 600 else 502)
    return Refused(f"The S3 endpoint could not be reached: {error}", 502)


async def call(work: Callable[[], T]) -> T:
    """Run a blocking client call in a thread; its error becomes a Refused."""
    try:
        return await asyncio.to_thread(work)
    except (ClientError, BotoCoreError, AdminError) as e:
        raise explain(e) from None


def session_s3(session: Any, endpoint: Endpoint) -> Any:
    client = session.cache.get("s3")
    if client is None:
        client = session.cache["s3"] = s3_client(endpoint, session.access_key, session.secret_key)
    return client


def session_admin(session: Any, endpoint: Endpoint) -> AdminClient:
    client = session.cache.get("admin")
    if client is None:
        client = session.cache["admin"] = admin_client(endpoint, session.access_key, session.secret_key)
    return client


def presigner(session: Any, endpoint: Endpoint) -> Any:
    """A client whose presigned URLs name the public S3 URL (nothing is sent with it)."""
    client = session.cache.get("presign")
    if client is None:
        client = session.cache["presign"] = s3_client(endpoint, session.access_key, session.secret_key, endpoint.public_url)
    return client
