"""Tagging: PutObjectTagging, GetObjectTagging, DeleteObjectTagging, PutBucketTagging,
GetBucketTagging, DeleteBucketTagging. (Tags given with a write, ``x-amz-tagging``, are taken by
the writes themselves; the rules of a tag set are in ``hoard.s3.tags``.)

An object's tags live in its version record on every drive of its set and in the index: a tag
change writes new records under a new id (an inline object's bytes carried over), swaps them in
only if the version is still the current one (409 ConditionalRequestConflict if an overwrite came
first) and removes the old ones. A bucket's tags live in its bucket file on every drive.
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.model import Tags
from hoard.s3 import checksums, tags
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, operation, require_bucket
from hoard.s3.handlers.objects import check_version_id, get_record
from hoard.s3.handlers.payload import receive_document


def _require_body_checksum(ctx: Context) -> None:
    """S3 takes a tag set only with a Content-MD5 or a checksum of the body (SDKs send one)."""
    h = ctx.req.headers
    if "content-md5" not in h and not checksums.requested_algorithm(h)[0]:
        raise S3Error("InvalidRequest", "Missing required header for this request: Content-MD5")


def _version_header(ctx: Context) -> dict[str, str]:
    # Buckets are unversioned: S3 names the version (null) only when the request named one.
    return {"x-amz-version-id": "null"} if "versionId" in ctx.req.params else {}


async def _set_object_tags(ctx: Context, new: Tags) -> None:
    record = await get_record(ctx)
    if record.tags != new:
        await ctx.services.data.replace_metadata(ctx.store, record, tags=new)


@operation("PutObjectTagging")
async def put_object_tagging(ctx: Context) -> Response:
    check_version_id(ctx)
    _require_body_checksum(ctx)
    new = tags.from_document(await receive_document(ctx))
    await _set_object_tags(ctx, new)
    return Response(headers=_version_header(ctx))


@operation("GetObjectTagging")
async def get_object_tagging(ctx: Context) -> Response:
    check_version_id(ctx)
    record = await get_record(ctx)
    return xml_response(tags.render(record.tags), headers=_version_header(ctx))


@operation("DeleteObjectTagging")
async def delete_object_tagging(ctx: Context) -> Response:
    check_version_id(ctx)
    await _set_object_tags(ctx, ())
    return Response(status=204, headers=_version_header(ctx))


@operation("PutBucketTagging")
async def put_bucket_tagging(ctx: Context) -> Response:
    await require_bucket(ctx)
    _require_body_checksum(ctx)
    new = tags.from_document(await receive_document(ctx), tags.MAX_BUCKET_TAGS, bucket=True)
    # An empty tag set leaves the bucket without one, as DeleteBucketTagging does.
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, tags.BUCKET_CONFIG, [list(t) for t in new] or None)
    return Response(status=204)


@operation("GetBucketTagging")
async def get_bucket_tagging(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    stored = bucket.config.get(tags.BUCKET_CONFIG)
    if not stored:
        raise S3Error("NoSuchTagSet", BucketName=ctx.bucket)
    return xml_response(tags.render(tuple((k, v) for k, v in stored)))


@operation("DeleteBucketTagging")
async def delete_bucket_tagging(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if tags.BUCKET_CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, tags.BUCKET_CONFIG, None)
    return Response(status=204)
