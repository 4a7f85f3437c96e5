"""Who owns what a request makes, and how owners are shown.

Accounts own buckets and objects (``hoard.iam.directory``): a bucket belongs to the account of
whoever created it; an object version to the bucket's owner, unless another account wrote it
into a bucket whose object ownership is ObjectWriter (the default where none is set), as on S3
before ACLs were turned off by default.
"""

from __future__ import annotations

from hoard.iam import acl
from hoard.iam.acl import Acl
from hoard.iam.authorize import ACLS_DISABLED, FOREIGN_OBJECTS_CONFIG, OWNERSHIP_CONFIG
from hoard.model import Bucket
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context

BUCKET_OWNER_PREFERRED = "BucketOwnerPreferred"


def requester_account(ctx: Context) -> str:
    """The canonical id of the requester's account (the deployment's for an anonymous request)."""
    return ctx.requester.owner_id if ctx.requester is not None else ctx.services.root.owner_id


def writer(ctx: Context, bucket: Bucket | None) -> str:
    """Who a written version would belong to before ownership rules: the requester's account;
    an anonymous writer's versions belong to the bucket owner."""
    if ctx.requester is None and bucket is not None:
        return bucket.owner_id
    return requester_account(ctx)


def version_owner(ctx: Context, bucket: Bucket, grants: Acl) -> str:
    """The owner of a version the request writes into ``bucket`` with ``grants``: "" for the
    bucket's owner, else the writing account's canonical id (ObjectWriter ownership)."""
    return owner_of_upload(bucket, writer(ctx, bucket), grants)


def owner_of_upload(bucket: Bucket, writer_id: str, grants: Acl) -> str:
    if writer_id == bucket.owner_id:
        return ""
    ownership = bucket.config.get(OWNERSHIP_CONFIG)
    if ownership == ACLS_DISABLED:
        return ""
    if ownership == BUCKET_OWNER_PREFERRED and (acl.CANONICAL_USER, bucket.owner_id, "FULL_CONTROL") in grants:
        return ""
    return writer_id


async def note_owner(ctx: Context, bucket: Bucket, owner: str) -> None:
    """Mark the bucket as holding another account's objects, before the first one is committed:
    from then on authorization looks at such objects' own ACLs (``hoard.iam.authorize``)."""
    if owner and owner != bucket.owner_id and not bucket.config.get(FOREIGN_OBJECTS_CONFIG):
        await ctx.services.data.configure_bucket(ctx.store, bucket.name, FOREIGN_OBJECTS_CONFIG, True)


def display_name(ctx: Context, canonical: str) -> str:
    identities = ctx.services.identities
    if identities is not None:
        return identities.owner_name(canonical)
    return ctx.services.root.display_name if canonical == ctx.services.root.owner_id else canonical


def owner_xml(ctx: Context, canonical: str) -> list[tuple[str, str]]:
    return [("ID", canonical), ("DisplayName", display_name(ctx, canonical))]


async def check_expected_owner(ctx: Context) -> None:
    """``x-amz-expected-bucket-owner``: a request meant for a bucket of a given account (its
    12-digit id) is refused, 403, when another account owns the bucket of that name."""
    expected = ctx.req.headers.get("x-amz-expected-bucket-owner")
    if expected is None or ctx.op.bucket is None:
        return
    bucket = await ctx.store.get_bucket(ctx.op.bucket)
    if bucket is None:
        return  # the handler says NoSuchBucket
    identities = ctx.services.identities
    actual = identities.account_id(bucket.owner_id) if identities is not None else None
    if expected.strip() != actual:
        raise S3Error("AccessDenied", "The bucket is owned by another account than the one expected.")
