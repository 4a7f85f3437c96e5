"""Object lock, as it is today: no bucket has it (CreateBucket refuses to turn it on with 501, and
it can only be turned on in a versioned bucket, which Hoard does not have yet). Each operation
gives S3's answer for a bucket without object lock: the truth, not a pretended lock.

PutObjectLockConfiguration, GetObjectLockConfiguration, PutObjectRetention, GetObjectRetention,
PutObjectLegalHold, GetObjectLegalHold.
"""

from __future__ import annotations

from hoard.http.response import Response
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, operation, require_bucket
from hoard.s3.handlers.objects import get_record
from hoard.s3.handlers.payload import receive_document

NOT_LOCKED = "Bucket is missing Object Lock Configuration"


async def _read_document(ctx: Context, root_tag: str) -> None:
    """The request's document must be well formed even to be refused for the bucket's state."""
    root = xml.parse(await receive_document(ctx))
    if root.tag != root_tag:
        raise S3Error("MalformedXML")


@operation("PutObjectLockConfiguration")
async def put_object_lock_configuration(ctx: Context) -> Response:
    await require_bucket(ctx)
    await _read_document(ctx, "ObjectLockConfiguration")
    # S3 turns object lock on only in a bucket whose versioning is Enabled; no bucket here is.
    raise S3Error("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")


@operation("GetObjectLockConfiguration")
async def get_object_lock_configuration(ctx: Context) -> Response:
    await require_bucket(ctx)
    raise S3Error("ObjectLockConfigurationNotFoundError", BucketName=ctx.bucket)


async def _refuse_for_an_unlocked_bucket(ctx: Context, document: str | None) -> Response:
    """S3's answer to a retention or legal hold asked of an object in a bucket without object lock."""
    await require_bucket(ctx)
    await get_record(ctx)
    if document is not None:
        await _read_document(ctx, document)
    raise S3Error("InvalidRequest", NOT_LOCKED)


@operation("PutObjectRetention")
async def put_object_retention(ctx: Context) -> Response:
    return await _refuse_for_an_unlocked_bucket(ctx, "Retention")


@operation("GetObjectRetention")
async def get_object_retention(ctx: Context) -> Response:
    return await _refuse_for_an_unlocked_bucket(ctx, None)


@operation("PutObjectLegalHold")
async def put_object_legal_hold(ctx: Context) -> Response:
    return await _refuse_for_an_unlocked_bucket(ctx, "LegalHold")


@operation("GetObjectLegalHold")
async def get_object_legal_hold(ctx: Context) -> Response:
    return await _refuse_for_an_unlocked_bucket(ctx, None)
