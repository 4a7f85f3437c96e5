"""ACLs: GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl.

A bucket's ACL is one of its configurations (index and bucket files); an object version's lives
in its record, changed as any metadata of a version is (``ObjectData.replace_metadata``). What
a grant allows is decided by the authorization step (``hoard.iam.authorize``).
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.iam import acl
from hoard.iam.authorize import BUCKET_ACL_CONFIG
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, operation, require_bucket
from hoard.s3.handlers.grants import check_public, document_acl, render, request_acl
from hoard.s3.handlers.objects import get_record
from hoard.s3.handlers.payload import receive_document
from hoard.s3.handlers.versioning import version_headers


async def _new_acl(ctx: Context, bucket) -> acl.Acl:
    """The ACL a PutBucketAcl or PutObjectAcl asks for: in its headers, or its document."""
    from_headers = request_acl(ctx, bucket)
    body = await receive_document(ctx)
    if from_headers is not None:
        if body.strip():
            raise S3Error("UnexpectedContent", "This request does not support content")
        return from_headers
    if not body.strip():
        raise S3Error("MissingSecurityHeader", "Your request was missing a required header", MissingHeaderName="x-amz-acl")
    grants = document_acl(ctx, body)
    check_public(bucket, grants)
    return grants


def _stored(grants: acl.Acl, owner: str) -> acl.Acl:
    """The default ACL is kept as none at all."""
    return () if grants == acl.default_acl(owner) else grants


@operation("GetBucketAcl")
async def get_bucket_acl(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    grants = tuple(tuple(g) for g in bucket.config.get(BUCKET_ACL_CONFIG, ()))
    return xml_response(render(ctx, grants))


@operation("PutBucketAcl")
async def put_bucket_acl(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    grants = _stored(await _new_acl(ctx, bucket), ctx.owner.owner_id)
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, BUCKET_ACL_CONFIG, [list(g) for g in grants] or None)
    return Response()


@operation("GetObjectAcl")
async def get_object_acl(ctx: Context) -> Response:
    record = await get_record(ctx)
    return xml_response(render(ctx, record.acl), headers=version_headers(record, named="versionId" in ctx.req.params))


@operation("PutObjectAcl")
async def put_object_acl(ctx: Context) -> Response:
    record = await get_record(ctx)
    bucket = await require_bucket(ctx)
    grants = _stored(await _new_acl(ctx, bucket), ctx.owner.owner_id)
    if grants != record.acl:
        await ctx.services.data.replace_metadata(ctx.store, record, acl=grants)
    return Response(headers=version_headers(record, named="versionId" in ctx.req.params))
