"""ACLs: GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl; and object ownership, which can
turn them off: PutBucketOwnershipControls, GetBucketOwnershipControls, DeleteBucketOwnershipControls
(BucketOwnerEnforced: ACLs neither taken nor evaluated; the bucket's owner owns every object).

A bucket's ACL is one of its configurations (index and bucket files); an object version's lives
in its record, changed as any metadata of a version is (``ObjectData.replace_metadata``). What
a grant allows is decided by the authorization step (``hoard.iam.authorize``).
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.iam import acl
from hoard.iam.authorize import ACLS_DISABLED, BUCKET_ACL_CONFIG, OWNERSHIP_CONFIG
from hoard.model import Bucket
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.buckets import OWNERSHIPS
from hoard.s3.handlers.common import Context, operation, require_bucket
from hoard.s3.handlers.grants import acls_disabled, check_public, document_acl, render, request_acl
from hoard.s3.handlers.objects import get_record
from hoard.s3.handlers.payload import receive_document
from hoard.s3.handlers.versioning import version_headers


async def _new_acl(ctx: Context, bucket: Bucket, owner: str) -> acl.Acl:
    """The ACL a PutBucketAcl or PutObjectAcl asks for, on what ``owner`` owns: in its headers,
    or its document."""
    if acls_disabled(bucket):
        raise S3Error("AccessControlListNotSupported")
    from_headers = request_acl(ctx, bucket, owner)
    body = await receive_document(ctx)
    if from_headers is not None:
        if body.strip():
            raise S3Error("UnexpectedContent", "This request does not support content")
        return from_headers
    if not body.strip():
        raise S3Error("MissingSecurityHeader", "Your request was missing a required header", MissingHeaderName="x-amz-acl")
    grants = document_acl(ctx, body, owner)
    check_public(ctx, bucket, grants)
    return grants


def _stored(grants: acl.Acl, owner: str) -> acl.Acl:
    """The default ACL is kept as none at all."""
    return () if grants == acl.default_acl(owner) else grants


@operation("GetBucketAcl")
async def get_bucket_acl(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    stored = bucket.config.get(BUCKET_ACL_CONFIG)
    return xml_response(render(ctx, None if stored is None else tuple(tuple(g) for g in stored), bucket.owner_id))


@operation("PutBucketAcl")
async def put_bucket_acl(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    grants = await _new_acl(ctx, bucket, bucket.owner_id)
    # The default is kept as none at all; an ACL of no grants (every one revoked) as an empty one.
    value = None if grants == acl.default_acl(bucket.owner_id) else [list(g) for g in grants]
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, BUCKET_ACL_CONFIG, value)
    return Response()


@operation("GetObjectAcl")
async def get_object_acl(ctx: Context) -> Response:
    record = await get_record(ctx)
    bucket = await require_bucket(ctx)
    return xml_response(render(ctx, record.acl or None, record.owner_id or bucket.owner_id), headers=version_headers(record, named="versionId" in ctx.req.params))


@operation("PutObjectAcl")
async def put_object_acl(ctx: Context) -> Response:
    record = await get_record(ctx)
    bucket = await require_bucket(ctx)
    owner = record.owner_id or bucket.owner_id
    grants = _stored(await _new_acl(ctx, bucket, owner), owner)
    if grants != record.acl:
        await ctx.services.data.replace_metadata(ctx.store, record, acl=grants)
    return Response(headers=version_headers(record, named="versionId" in ctx.req.params))


@operation("PutBucketOwnershipControls")
async def put_bucket_ownership_controls(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    root = xml.parse(await receive_document(ctx))
    rules = root.findall("Rule") if root.tag == "OwnershipControls" else []
    if len(rules) != 1:
        raise S3Error("MalformedXML")
    ownership = (rules[0].findtext("ObjectOwnership") or "").strip()
    if ownership not in OWNERSHIPS:
        raise S3Error("MalformedXML")
    if ownership == ACLS_DISABLED and any(g[1] != bucket.owner_id for g in bucket.config.get(BUCKET_ACL_CONFIG) or ()):
        # ACLs that grant others something would silently stop applying: S3 refuses instead.
        raise S3Error("InvalidBucketAclWithObjectOwnership")
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, OWNERSHIP_CONFIG, ownership)
    return Response()


@operation("GetBucketOwnershipControls")
async def get_bucket_ownership_controls(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    ownership = bucket.config.get(OWNERSHIP_CONFIG)
    if ownership is None:
        raise S3Error("OwnershipControlsNotFoundError", BucketName=ctx.bucket)
    return xml_response(xml.render("OwnershipControls", [("Rule", [("ObjectOwnership", ownership)])]))


@operation("DeleteBucketOwnershipControls")
async def delete_bucket_ownership_controls(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if OWNERSHIP_CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, OWNERSHIP_CONFIG, None)
    return Response(status=204)
