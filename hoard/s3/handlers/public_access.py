"""A bucket's public-access block: PutPublicAccessBlock, GetPublicAccessBlock,
DeletePublicAccessBlock.

What it enforces: BlockPublicAcls (a public ACL sent to the bucket is 403: ``grants.request_acl``,
``acl.py``), BlockPublicPolicy (a public bucket policy is refused: ``bucket_policy``),
RestrictPublicBuckets (a public policy lets no anonymous request in: ``hoard.iam.authorize``).
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import PUBLIC_ACCESS_BLOCK, Context, operation, require_bucket
from hoard.s3.handlers.payload import receive_document

SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def parse_block(body: bytes) -> dict[str, bool]:
    """A PublicAccessBlockConfiguration document; a setting left out is false, as in S3."""
    root = xml.parse(body)
    if root.tag != "PublicAccessBlockConfiguration":
        raise S3Error("MalformedXML")
    block: dict[str, bool] = {}
    for name in SETTINGS:
        text = xml.child_text(root, name)
        value = (text or "false").strip().lower()
        if value not in ("true", "false"):
            raise S3Error("MalformedXML")
        block[name] = value == "true"
    return block


@operation("PutPublicAccessBlock")
async def put_public_access_block(ctx: Context) -> Response:
    await require_bucket(ctx)
    block = parse_block(await receive_document(ctx))
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, PUBLIC_ACCESS_BLOCK, block)
    return Response()


@operation("GetPublicAccessBlock")
async def get_public_access_block(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    block = bucket.config.get(PUBLIC_ACCESS_BLOCK)
    if block is None:
        raise S3Error("NoSuchPublicAccessBlockConfiguration", BucketName=ctx.bucket)
    return xml_response(xml.render("PublicAccessBlockConfiguration", [(name, bool(block.get(name))) for name in SETTINGS]))


@operation("DeletePublicAccessBlock")
async def delete_public_access_block(ctx: Context) -> Response:
    await require_bucket(ctx)
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, PUBLIC_ACCESS_BLOCK, None)
    return Response(status=204)
