"""Object lock as writes, reads and deletes meet it: the ``x-amz-object-lock-*`` headers of
PutObject, CopyObject and CreateMultipartUpload, the ones GetObject and HeadObject answer with,
and the check a delete of a version passes. (The rules themselves: ``hoard.objects.lock``;
the lock operations: ``object_lock``.)
"""

from __future__ import annotations

import datetime as dt

from hoard.iam.authorize import AccessRequest
from hoard.model import Bucket, ObjectRecord
from hoard.objects.lock import MODES, NO_LOCK, LockSettings, default_retention, deletion_refused, lock_enabled
from hoard.s3 import xml
from hoard.s3.access import condition_keys
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, require_body_checksum

MISSING_LOCK = "Bucket is missing Object Lock Configuration"


def parse_date(value: str, name: str) -> float:
    """An ISO 8601 date-time (botocore's format for these dates) as a Unix time."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise S3Error("InvalidArgument", f"The {name} is not a valid ISO 8601 date.", ArgumentName=name, ArgumentValue=value) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def require_body_integrity(ctx: Context) -> None:
    """S3 takes object lock settings only with a Content-MD5 or a checksum of the body."""
    require_body_checksum(ctx, "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")


def lock_for_write(ctx: Context, bucket: Bucket, now: float, integrity: bool = False) -> LockSettings:
    """The retention and legal hold a new version gets: the request's ``x-amz-object-lock-*``
    headers, else the bucket's default retention. ``integrity``: the request carries the body,
    which must then come with a Content-MD5 or checksum (as S3 requires with object lock)."""
    h = ctx.req.headers
    mode = h.get("x-amz-object-lock-mode")
    until = h.get("x-amz-object-lock-retain-until-date")
    hold = h.get("x-amz-object-lock-legal-hold")
    if mode is None and until is None and hold is None:
        lock = default_retention(bucket, now) if lock_enabled(bucket) else NO_LOCK
        if lock.mode and integrity:
            require_body_integrity(ctx)
        return lock
    if not lock_enabled(bucket):
        raise S3Error("InvalidRequest", MISSING_LOCK)
    if (mode is None) != (until is None):
        raise S3Error("InvalidArgument", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
    settings = default_retention(bucket, now)
    if mode is not None and until is not None:
        if mode not in MODES:
            raise S3Error("InvalidArgument", "Unknown wormMode directive.", ArgumentName="x-amz-object-lock-mode", ArgumentValue=mode)
        retain_until = parse_date(until, "x-amz-object-lock-retain-until-date")
        if retain_until <= now:
            raise S3Error("InvalidArgument", "The retain until date must be in the future!")
        settings = LockSettings(mode, retain_until)
    if hold is not None and hold not in ("ON", "OFF"):
        raise S3Error("InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'", ArgumentName="x-amz-object-lock-legal-hold", ArgumentValue=hold)
    if integrity:
        require_body_integrity(ctx)
    return LockSettings(settings.mode, settings.until, hold == "ON")


def lock_headers(record: ObjectRecord) -> dict[str, str]:
    """The version's retention and legal hold, as GetObject and HeadObject answer them."""
    headers = {}
    if record.retention_mode:
        headers["x-amz-object-lock-mode"] = record.retention_mode
        headers["x-amz-object-lock-retain-until-date"] = xml.format_time(record.retain_until)
    if record.legal_hold:
        headers["x-amz-object-lock-legal-hold"] = "ON"
    return headers


async def bypasses_governance(ctx: Context, bucket: str, key: str) -> bool:
    """Whether the request asks to bypass GOVERNANCE retention: it must then be allowed to
    (``s3:BypassGovernanceRetention``), or it is refused."""
    if ctx.req.headers.get("x-amz-bypass-governance-retention", "").lower() != "true":
        return False
    keys = condition_keys(ctx.req, ctx.auth)
    await ctx.services.authorizer.authorize(AccessRequest(ctx.requester, "s3:BypassGovernanceRetention", bucket, key, keys))
    return True


async def deletion_guard(ctx: Context, bucket: Bucket, key: str, now: float):
    """The check a version passes, inside the index transaction that deletes it: AccessDenied
    while its retention or legal hold forbids it. None for a bucket without object lock."""
    if not lock_enabled(bucket):
        return None
    bypass = await bypasses_governance(ctx, bucket.name, key)

    def guard(record: ObjectRecord) -> None:
        reason = deletion_refused(record, now, bypass)
        if reason is not None:
            raise S3Error("AccessDenied", reason)

    return guard
