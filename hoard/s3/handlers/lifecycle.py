"""Lifecycle configuration: PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration,
DeleteBucketLifecycle, and the ``x-amz-expiration`` an object a rule will expire shows.

The rules (``hoard.lifecycle.rules``: S3's model, checked as S3 checks it) are kept as the bucket
configuration ``lifecycle``; the leader's lifecycle worker (``hoard.workers.lifecycle``) carries
them out.
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.lifecycle import rules
from hoard.lifecycle.rules import LIFECYCLE_CONFIG, LifecycleConfig, LifecycleConfigError
from hoard.model import Bucket, ObjectRecord
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, config_refusal, operation, require_body_checksum, require_bucket
from hoard.s3.handlers.payload import receive_document

MIN_SIZE_HEADER = "x-amz-transition-default-minimum-object-size"



def lifecycle_of(bucket: Bucket | None) -> LifecycleConfig | None:
    return rules.configured(bucket.config) if bucket is not None else None


def expiration_header(ctx: Context, bucket: Bucket | None, record: ObjectRecord) -> dict[str, str]:
    """``x-amz-expiration`` for a current version a rule of its bucket will expire; {} otherwise."""
    config = lifecycle_of(bucket)
    if config is None or record.delete_marker:
        return {}
    found = rules.expiration_for(config, record.key, record.tags, record.size, record.last_modified, ctx.services.settings.lifecycle_day_seconds)
    return {} if found is None else {"x-amz-expiration": rules.expiration_header(*found)}


@operation("PutBucketLifecycleConfiguration")
async def put_bucket_lifecycle_configuration(ctx: Context) -> Response:
    await require_bucket(ctx)
    require_body_checksum(ctx)
    min_size = ctx.req.headers.get(MIN_SIZE_HEADER)
    try:
        config = rules.parse(await receive_document(ctx), xml.parse, min_size)
    except LifecycleConfigError as e:
        raise config_refusal(e) from None
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, LIFECYCLE_CONFIG, config.to_json())
    return Response(headers={MIN_SIZE_HEADER: config.min_object_size})


@operation("GetBucketLifecycleConfiguration")
async def get_bucket_lifecycle_configuration(ctx: Context) -> Response:
    config = lifecycle_of(await require_bucket(ctx))
    if config is None:
        raise S3Error("NoSuchLifecycleConfiguration", BucketName=ctx.bucket)
    return xml_response(xml.render("LifecycleConfiguration", rules.render(config)), headers={MIN_SIZE_HEADER: config.min_object_size})


@operation("DeleteBucketLifecycle")
async def delete_bucket_lifecycle(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if LIFECYCLE_CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, LIFECYCLE_CONFIG, None)
    return Response(status=204)
