"""A bucket's public-access block: PutPublicAccessBlock, GetPublicAccessBlock,
DeletePublicAccessBlock; and PutBucketPolicy as far as the block decides it.

Nothing in Hoard can be made public yet (no ACL but ``private``, no bucket policies), so a block
holds by construction; what it enforces today is what S3 answers first: a public ACL or a public
policy sent to a bucket that blocks them is 403 AccessDenied (``common.check_acl_headers``,
``acl.py`` and ``PutBucketPolicy`` below), before anything else is said about it.
"""

from __future__ import annotations

import json

from hoard.http.response import Response, xml_response
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import PUBLIC_ACCESS_BLOCK, Context, operation, public_access_blocked, require_bucket
from hoard.s3.handlers.payload import receive_document

SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
MAX_POLICY = 20 * 1024


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


def policy_is_public(document: dict) -> bool:
    """Whether a bucket policy allows anyone at all: an Allow statement whose principal is ``*``.

    S3 also treats some conditions as making such a statement non-public (a source IP range, a
    source VPC, an account); Hoard checks the principal only, which can only call more policies
    public, never fewer.
    """
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if principal == "*":
            return True
        if isinstance(principal, dict):
            values = principal.get("AWS", [])
            if values == "*" or (isinstance(values, list) and "*" in values):
                return True
    return False


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


@operation("PutBucketPolicy")
async def put_bucket_policy(ctx: Context) -> Response:
    """Bucket policies are not evaluated yet, so none is accepted (accepting one would pretend);
    but a public policy sent to a bucket that blocks public policies gets the block's answer."""
    bucket = await require_bucket(ctx)
    body = await receive_document(ctx, limit=MAX_POLICY)
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise S3Error("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'") from None
    if not isinstance(document, dict):
        raise S3Error("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
    if policy_is_public(document) and public_access_blocked(bucket, "BlockPublicPolicy"):
        raise S3Error("AccessDenied", "The bucket's public access block forbids public policies.")
    raise S3Error("NotImplemented", "Bucket policies come with access control, which is not implemented yet.")
