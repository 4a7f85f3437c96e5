"""Tagging: PutObjectTagging, GetObjectTagging, DeleteObjectTagging, PutBucketTagging,
GetBucketTagging, DeleteBucketTagging. (Tags given with a write, ``x-amz-tagging``, are taken by
the writes themselves; the rules of a tag set are in ``hoard.s3.tags``.)

An object's tags live in its version record on every drive of its set and in the index: a tag
change writes new records under a new id (an inline object's bytes carried over), swaps them in
only if the version is still there (409 ConditionalRequestConflict if it was replaced or
deleted first) and removes the old ones. ``versionId`` names a version other than the current one. A bucket's tags live in its bucket file on every drive.
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.model import Tags
from hoard.s3 import tags
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, operation, require_body_checksum, require_bucket
from hoard.s3.handlers.objects import get_record
from hoard.s3.handlers.payload import receive_document
from hoard.s3.handlers.versioning import version_headers


async def _set_object_tags(ctx: Context, new: Tags) -> dict[str, str]:
    """Give the named (or current) version these tags; returns the answer's version header."""
    record = await get_record(ctx)
    if record.tags != new:
        await ctx.services.data.replace_metadata(ctx.store, record, tags=new)
    return version_headers(record, named="versionId" in ctx.req.params)


@operation("PutObjectTagging")
async def put_object_tagging(ctx: Context) -> Response:
    require_body_checksum(ctx)
    new = tags.from_document(await receive_document(ctx))
    return Response(headers=await _set_object_tags(ctx, new))


@operation("GetObjectTagging")
async def get_object_tagging(ctx: Context) -> Response:
    record = await get_record(ctx)
    return xml_response(tags.render(record.tags), headers=version_headers(record, named="versionId" in ctx.req.params))


@operation("DeleteObjectTagging")
async def delete_object_tagging(ctx: Context) -> Response:
    return Response(status=204, headers=await _set_object_tags(ctx, ()))


@operation("PutBucketTagging")
async def put_bucket_tagging(ctx: Context) -> Response:
    await require_bucket(ctx)
    require_body_checksum(ctx)
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
