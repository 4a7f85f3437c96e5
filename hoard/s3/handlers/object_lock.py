"""Object lock operations: PutObjectLockConfiguration, GetObjectLockConfiguration,
PutObjectRetention, GetObjectRetention, PutObjectLegalHold, GetObjectLegalHold.

A bucket gets object lock at creation (``x-amz-bucket-object-lock-enabled``) or later once its
versioning is Enabled, and never loses it. A version's retention and legal hold change as any
metadata of a version does: a new record under a new id, swapped in only if the version is still
as it was read (``ObjectData.replace_metadata``), so a change that races another is refused
(409) rather than lost. The rules are in ``hoard.objects.lock``.
"""

from __future__ import annotations

from hoard.http.numbers import field_decimal
from hoard.http.response import Response, xml_response
from hoard.model import Bucket, ObjectRecord
from hoard.objects.lock import DAY, LOCK_CONFIG, MODES, YEAR, lock_enabled, retention_change_refused
from hoard.objects.versions import ENABLED
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, now, operation, require_bucket
from hoard.s3.handlers.objects import get_record
from hoard.s3.handlers.payload import receive_document
from hoard.s3.handlers.retention import MISSING_LOCK, bypasses_governance, parse_date, require_body_integrity
from hoard.s3.handlers.versioning import version_headers, versioning_of

MAX_RETENTION_DAYS = 36500  # S3 allows default retention periods up to 100 years


async def _document(ctx: Context, root_tag: str):
    root = xml.parse(await receive_document(ctx))
    if root.tag != root_tag:
        raise S3Error("MalformedXML")
    return root


def _period(text: str | None) -> int:
    value = field_decimal(text or "", signed=True)
    if value is None:
        raise S3Error("MalformedXML")
    if not 0 < value <= MAX_RETENTION_DAYS:
        raise S3Error("InvalidRetentionPeriod", "Default retention period must be a positive integer value.")
    return value


@operation("PutObjectLockConfiguration")
async def put_object_lock_configuration(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    require_body_integrity(ctx)
    root = await _document(ctx, "ObjectLockConfiguration")
    if xml.child_text(root, "ObjectLockEnabled") != "Enabled":
        raise S3Error("MalformedXML")
    config: dict = {"enabled": True}
    rule = root.find("Rule")
    if rule is not None:
        default = rule.find("DefaultRetention")
        if default is None:
            raise S3Error("MalformedXML")
        mode = xml.child_text(default, "Mode")
        days, years = xml.child_text(default, "Days"), xml.child_text(default, "Years")
        if mode not in MODES or (days is None) == (years is None):
            raise S3Error("MalformedXML")
        config["mode"] = mode
        if days is not None:
            config["days"] = _period(days)
        else:
            config["years"] = _period(years)
            if config["years"] * YEAR > MAX_RETENTION_DAYS * DAY:
                raise S3Error("InvalidRetentionPeriod", "Default retention period is too large.")
    if not lock_enabled(bucket) and versioning_of(bucket) != ENABLED:
        raise S3Error("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, LOCK_CONFIG, config)
    return Response()


@operation("GetObjectLockConfiguration")
async def get_object_lock_configuration(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    config = bucket.config.get(LOCK_CONFIG)
    if not config:
        raise S3Error("ObjectLockConfigurationNotFoundError", BucketName=ctx.bucket)
    children: list = [("ObjectLockEnabled", "Enabled")]
    if config.get("mode"):
        period = ("Days", config["days"]) if config.get("days") else ("Years", config["years"])
        children.append(("Rule", [("DefaultRetention", [("Mode", config["mode"]), period])]))
    return xml_response(xml.render("ObjectLockConfiguration", children))


async def _locked_version(ctx: Context) -> tuple[Bucket, ObjectRecord]:
    """The bucket (which must have object lock) and the version the request names."""
    bucket = await require_bucket(ctx)
    if not lock_enabled(bucket):
        raise S3Error("InvalidRequest", MISSING_LOCK)
    return bucket, await get_record(ctx)


def _named(ctx: Context, record: ObjectRecord) -> dict[str, str]:
    return version_headers(record, named="versionId" in ctx.req.params)


@operation("PutObjectRetention")
async def put_object_retention(ctx: Context) -> Response:
    _, record = await _locked_version(ctx)
    require_body_integrity(ctx)
    root = await _document(ctx, "Retention")
    mode = xml.child_text(root, "Mode")
    raw_until = xml.child_text(root, "RetainUntilDate")
    at = now()
    if mode is None and raw_until is None:
        until = 0.0  # no retention at all: a removal, which only GOVERNANCE with bypass allows
        mode = ""
    else:
        if mode not in MODES or raw_until is None:
            raise S3Error("MalformedXML")
        until = parse_date(raw_until, "RetainUntilDate")
        if until <= at:
            raise S3Error("InvalidArgument", "The retain until date must be in the future!")
    reason = retention_change_refused(record, mode, until, at, await bypasses_governance(ctx, ctx.bucket, ctx.key))
    if reason is not None:
        raise S3Error("AccessDenied", reason)
    if (mode, until) != (record.retention_mode, record.retain_until):
        await ctx.services.data.replace_metadata(ctx.store, record, retention_mode=mode, retain_until=until)
    return Response(headers=_named(ctx, record))


@operation("GetObjectRetention")
async def get_object_retention(ctx: Context) -> Response:
    _, record = await _locked_version(ctx)
    if not record.retention_mode:
        raise S3Error("NoSuchObjectLockConfiguration")
    body = xml.render("Retention", [("Mode", record.retention_mode), ("RetainUntilDate", xml.format_time(record.retain_until))])
    return xml_response(body, headers=_named(ctx, record))


@operation("PutObjectLegalHold")
async def put_object_legal_hold(ctx: Context) -> Response:
    _, record = await _locked_version(ctx)
    require_body_integrity(ctx)
    status = xml.child_text(await _document(ctx, "LegalHold"), "Status")
    if status not in ("ON", "OFF"):
        raise S3Error("MalformedXML")
    if (status == "ON") != record.legal_hold:
        await ctx.services.data.replace_metadata(ctx.store, record, legal_hold=status == "ON")
    return Response(headers=_named(ctx, record))


@operation("GetObjectLegalHold")
async def get_object_legal_hold(ctx: Context) -> Response:
    _, record = await _locked_version(ctx)
    body = xml.render("LegalHold", [("Status", "ON" if record.legal_hold else "OFF")])
    return xml_response(body, headers=_named(ctx, record))
