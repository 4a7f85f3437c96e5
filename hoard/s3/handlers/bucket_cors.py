"""CORS configurations: PutBucketCors, GetBucketCors, DeleteBucketCors. (The rules, the preflight
answer and the headers on real answers: ``hoard.s3.cors``; applied by ``hoard.app``.)"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.s3 import cors
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, operation, require_body_checksum, require_bucket
from hoard.s3.handlers.payload import receive_document


@operation("PutBucketCors")
async def put_bucket_cors(ctx: Context) -> Response:
    await require_bucket(ctx)
    require_body_checksum(ctx)
    rules = cors.parse(await receive_document(ctx))
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, cors.CONFIG, [r.to_json() for r in rules])
    return Response()


@operation("GetBucketCors")
async def get_bucket_cors(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    rules = cors.rules_of(bucket.config)
    if not rules:
        raise S3Error("NoSuchCORSConfiguration", BucketName=ctx.bucket)
    return xml_response(cors.render(rules))


@operation("DeleteBucketCors")
async def delete_bucket_cors(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if cors.CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, cors.CONFIG, None)
    return Response(status=204)
