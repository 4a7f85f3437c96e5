"""What an S3 request is to the authorization step: its IAM action and resource, and the
condition keys its policies may test (``aws:SourceIp``, ``s3:prefix``, ``s3:x-amz-acl``,
``s3:RequestObjectTag/<key>``, ...), read off the request (``hoard.iam.authorize``)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

from hoard.http.request import Request
from hoard.iam.authorize import AccessRequest
from hoard.iam.context import request_keys
from hoard.iam.credentials import Identity
from hoard.s3.auth.authenticate import AuthContext

# Request headers S3 offers as condition keys under their own names (s3:x-amz-acl, ...).
_HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-storage-class",
    "x-amz-content-sha256",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)
_LISTING_PARAMS = ("prefix", "delimiter", "max-keys")


def condition_keys(req: Request, auth: AuthContext | None, post: bool = False) -> dict[str, str | list[str]]:
    """The condition keys of one request."""
    keys: dict[str, str | list[str]] = dict(
        request_keys(
            now=dt.datetime.now(dt.UTC),
            source_ip=req.client_ip or None,
            secure_transport=req.secure,
            user_agent=req.headers.get("user-agent"),
            referer=req.headers.get("referer"),
        )
    )
    for name in _LISTING_PARAMS:
        if name in req.params:
            keys[f"s3:{name}"] = req.params[name]
    if "versionId" in req.params:
        keys["s3:versionid"] = req.params["versionId"]
    for name in _HEADER_KEYS:
        if name in req.headers:
            keys[f"s3:{name}"] = req.headers[name]
    tagging = req.header_utf8("x-amz-tagging")
    if tagging is not None:
        pairs = parse_qsl(tagging, keep_blank_values=True)
        for tag, value in pairs:
            keys[f"s3:RequestObjectTag/{tag}"] = value
        keys["s3:RequestObjectTagKeys"] = [tag for tag, _ in pairs]
    if auth is not None and auth.identity is not None:
        keys["s3:signatureversion"] = "AWS4-HMAC-SHA256" if auth.scope else "AWS"
    if post:
        keys["s3:authType"] = "POST"
    elif "X-Amz-Signature" in req.params or "Signature" in req.params:
        keys["s3:authType"] = "REST-QUERY-STRING"
    elif "authorization" in req.headers:
        keys["s3:authType"] = "REST-HEADER"
    return keys


def access_request(
    req: Request, auth: AuthContext | None, identity: Identity | None, operation: str, bucket: str | None, key: str | None, post: bool = False
) -> AccessRequest:
    """The authorization step's view of an S3 request for ``operation`` on bucket/key."""
    # The root account is allowed everything: its requests need no condition keys (the common
    # case, kept cheap).
    keys = {} if identity is not None and identity.is_root else condition_keys(req, auth, post)
    return AccessRequest.for_operation(identity, operation, bucket, key, keys, req.params.get("versionId"))
