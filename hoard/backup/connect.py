"""boto3 clients for an S3 endpoint, and S3's errors said in one line.

Credentials are the ones ``hoard admin`` would sign with, minus the server's data folder (a
backup runs anywhere, not only on the server's machine): ``--profile NAME``, else
HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY, else whatever boto3 finds (AWS_* variables,
AWS_PROFILE or the default profile, and on AWS the instance's role).
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

DEFAULT_REGION = "us-east-1"


class S3Failure(Exception):
    """An S3 request that failed, said in one line (``Code: message``, as ``hoard admin`` says it)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class BadEndpoint(Exception):
    """Connection settings that cannot be used (an unknown profile, a URL that is not one)."""


@dataclass(frozen=True)
class Endpoint:
    """Where an S3 service is and how to sign for it; None: boto3's own choice."""

    url: str | None = None
    profile: str | None = None
    ca_bundle: str | None = None

    def describe(self) -> str:
        return self.url or "the AWS endpoint"


def client(endpoint: Endpoint, pool: int = 16) -> Any:
    """An S3 client for ``endpoint``. Raises BadEndpoint."""
    if endpoint.url is not None and urllib.parse.urlsplit(endpoint.url).scheme not in ("http", "https"):
        raise BadEndpoint(f"the endpoint must be an http:// or https:// URL, not {endpoint.url!r}")
    if endpoint.ca_bundle is not None and not os.path.isfile(endpoint.ca_bundle):
        raise BadEndpoint(f"the CA bundle {endpoint.ca_bundle!r} is not a file")
    try:
        if endpoint.profile is not None:
            session = boto3.Session(profile_name=endpoint.profile)
        elif os.environ.get("HOARD_ROOT_ACCESS_KEY") and os.environ.get("HOARD_ROOT_SECRET_KEY"):
            session = boto3.Session(
                aws_access_key_id=os.environ["HOARD_ROOT_ACCESS_KEY"], aws_secret_access_key=os.environ["HOARD_ROOT_SECRET_KEY"]
            )
        else:
            session = boto3.Session()
    except ProfileNotFound as e:
        raise BadEndpoint(str(e)) from None
    host = urllib.parse.urlsplit(endpoint.url).hostname or "" if endpoint.url else ""
    config = Config(
        # Hoard (and most servers that are not AWS) serve bucket names in the path; AWS picks
        # for itself.
        s3={"addressing_style": "auto" if not endpoint.url or host.endswith("amazonaws.com") else "path"},
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=pool,
        # A restore sends each body's MD5 itself, which is what lets it know its uploads by
        # their ETags; a checksum botocore adds on its own would ask each part's checksum again
        # at the completion of a multipart upload.
        request_checksum_calculation="when_required",
    )
    return session.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=session.region_name or DEFAULT_REGION,
        verify=endpoint.ca_bundle if endpoint.ca_bundle is not None else None,
        config=config,
    )


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def explain(error: BaseException, endpoint: Endpoint | None = None) -> S3Failure:
    """One line for a failed request: S3's code and message, or what kept it from being made."""
    if isinstance(error, S3Failure):
        return error
    if isinstance(error, ClientError):
        body = error.response.get("Error", {})
        code = str(body.get("Code", "")) or str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        message = body.get("Message") or {"404": "Not Found", "403": "Forbidden", "400": "Bad Request"}.get(code, "the request failed")
        return S3Failure(f"{code}: {message}", code)
    if isinstance(error, NoCredentialsError):
        return S3Failure(
            "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or HOARD_ROOT_ACCESS_KEY and "
            "HOARD_ROOT_SECRET_KEY), or use an AWS CLI profile (--profile NAME, AWS_PROFILE)",
            "NoCredentials",
        )
    if isinstance(error, EndpointConnectionError):
        where = endpoint.describe() if endpoint is not None else "the endpoint"
        return S3Failure(f"cannot reach {where}: {error}", "Connection")
    if isinstance(error, BotoCoreError):
        return S3Failure(str(error), type(error).__name__)
    raise error
