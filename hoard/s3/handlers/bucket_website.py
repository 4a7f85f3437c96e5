"""Website configurations: PutBucketWebsite, GetBucketWebsite, DeleteBucketWebsite. (The rules
are ``hoard.website.rules``; the website endpoint that serves them, ``hoard.s3.website``.)"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, config_refusal, operation, require_body_checksum, require_bucket
from hoard.s3.handlers.payload import receive_document
from hoard.website import rules
from hoard.website.rules import WEBSITE_CONFIG, WebsiteConfig, WebsiteConfigError


@operation("PutBucketWebsite")
async def put_bucket_website(ctx: Context) -> Response:
    await require_bucket(ctx)
    require_body_checksum(ctx)
    try:
        config = rules.parse(await receive_document(ctx), xml.parse)
    except WebsiteConfigError as e:
        raise config_refusal(e) from None
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, WEBSITE_CONFIG, config.to_json())
    return Response()


@operation("GetBucketWebsite")
async def get_bucket_website(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    value = bucket.config.get(WEBSITE_CONFIG)
    if not value:
        raise S3Error("NoSuchWebsiteConfiguration", BucketName=ctx.bucket)
    return xml_response(xml.render("WebsiteConfiguration", rules.render(WebsiteConfig.from_json(value))))


@operation("DeleteBucketWebsite")
async def delete_bucket_website(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if WEBSITE_CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, WEBSITE_CONFIG, None)
    return Response(status=204)
