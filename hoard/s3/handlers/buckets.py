"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, GetBucketLocation, DeleteBucket.
(Versioning: ``versioning``.)"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time

from hoard.http.response import Response, xml_response
from hoard.iam import acl
from hoard.iam.authorize import ACLS_DISABLED, BUCKET_ACL_CONFIG, OWNERSHIP_CONFIG
from hoard.model import Bucket
from hoard.objects.data import DELETED_BUCKET_PREFIX
from hoard.objects.lock import LOCK_CONFIG
from hoard.objects.versions import ENABLED, VERSIONING_CONFIG
from hoard.s3 import tags, xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, int_param, now, operation, require_bucket
from hoard.s3.handlers.grants import request_acl
from hoard.s3.handlers.owners import owner_xml, requester_account
from hoard.s3.handlers.payload import receive_document

OWNERSHIPS = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(name: str) -> None:
    """S3's general-purpose bucket naming rules."""
    if (
        not _BUCKET_CHARS.match(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or _IP_ADDRESS.match(name)
        or name.startswith(_RESERVED_PREFIXES)
        or name.endswith(_RESERVED_SUFFIXES)
    ):
        raise S3Error("InvalidBucketName", BucketName=name)


def region_of(ctx: Context, bucket: Bucket) -> str:
    return bucket.location or ctx.services.settings.region


@operation("ListBuckets")
async def list_buckets(ctx: Context) -> Response:
    limit = int_param(ctx, "max-buckets", 10000, 1, 10000)
    prefix = ctx.req.params.get("prefix", "")
    token = ctx.req.params.get("continuation-token", "")
    after = ""
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise S3Error("InvalidArgument", "The continuation token provided is incorrect", ArgumentName="continuation-token") from None
    # An account lists its own buckets, as on S3.
    account = requester_account(ctx)
    buckets = await ctx.store.list_buckets(prefix, after, limit + 1, owner=account)
    truncated = len(buckets) > limit
    buckets = buckets[:limit]
    children: list = [
        ("Buckets", [
            ("Bucket", [
                ("Name", b.name),
                ("CreationDate", xml.format_time(b.created)),
                ("BucketRegion", region_of(ctx, b)),
            ])
            for b in buckets
        ]),
        ("Owner", owner_xml(ctx, account)),
    ]
    if truncated:
        children.append(("ContinuationToken", base64.urlsafe_b64encode(buckets[-1].name.encode()).decode()))
    if prefix:
        children.append(("Prefix", prefix))
    return xml_response(xml.render("ListAllMyBucketsResult", children))


@operation("CreateBucket")
async def create_bucket(ctx: Context) -> Response:
    validate_bucket_name(ctx.bucket)
    owner = requester_account(ctx)
    grants = request_acl(ctx, None, owner)
    location = ""
    config: dict = {}
    ownership = ctx.req.headers.get("x-amz-object-ownership")
    if ownership is not None:
        if ownership not in OWNERSHIPS:
            raise S3Error("InvalidArgument", "Invalid x-amz-object-ownership header", ArgumentName="x-amz-object-ownership", ArgumentValue=ownership)
        if ownership == ACLS_DISABLED and grants and grants != acl.default_acl(owner):
            raise S3Error("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
        config[OWNERSHIP_CONFIG] = ownership
    if ctx.req.headers.get("x-amz-bucket-object-lock-enabled", "").lower() == "true":
        # Object lock needs versions to protect: the bucket is born versioned, for good.
        config[VERSIONING_CONFIG] = ENABLED
        config[LOCK_CONFIG] = {"enabled": True}
    body = await receive_document(ctx)
    if body.strip():
        root = xml.parse(body)
        if root.tag != "CreateBucketConfiguration":
            raise S3Error("MalformedXML")
        location = (xml.child_text(root, "LocationConstraint") or "").strip()
        for unsupported in ("Location", "Bucket"):
            if root.find(unsupported) is not None:
                raise S3Error("NotImplemented", "Directory buckets are not implemented.")
        if root.find("Tags") is not None:
            pairs = [(xml.child_text(t, "Key") or "", xml.child_text(t, "Value") or "") for t in root.find("Tags") or ()]
            config[tags.BUCKET_CONFIG] = [list(t) for t in tags.check(pairs, tags.MAX_BUCKET_TAGS, bucket=True)]
    if location and not re.match(r"^[A-Za-z0-9-]{1,40}$", location):
        raise S3Error("InvalidLocationConstraint", LocationConstraint=location)
    if grants and grants != acl.default_acl(owner):
        config[BUCKET_ACL_CONFIG] = [list(g) for g in grants]
    bucket = Bucket(ctx.bucket, now(), location or ctx.services.settings.region, owner, config)
    existing = await ctx.store.get_bucket(ctx.bucket)
    if existing is not None and existing.owner_id == owner and bucket.location == existing.location == "us-east-1":
        # S3's us-east-1 answers its owner 200 (every other region: 409) and, "for legacy
        # compatibility", resets the bucket's ACL: to the one this request gives, else the default.
        if existing.config.get(OWNERSHIP_CONFIG) != ACLS_DISABLED and existing.config.get(BUCKET_ACL_CONFIG) != config.get(BUCKET_ACL_CONFIG):
            await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, BUCKET_ACL_CONFIG, config.get(BUCKET_ACL_CONFIG))
        return Response(headers={"location": f"/{ctx.bucket}"})
    await ctx.store.create_bucket(bucket)
    # Every drive keeps the bucket's configuration, so the index can be rebuilt without it.
    try:
        await asyncio.to_thread(ctx.services.data.save_bucket, bucket)
    except BaseException:
        await asyncio.to_thread(ctx.services.data.remove_bucket, ctx.bucket)
        await ctx.store.delete_bucket(ctx.bucket)
        raise
    return Response(headers={"location": f"/{ctx.bucket}"})


@operation("HeadBucket")
async def head_bucket(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    return Response(headers={"x-amz-bucket-region": region_of(ctx, bucket), "x-amz-access-point-alias": "false"})


@operation("GetBucketLocation")
async def get_bucket_location(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    # S3 reports us-east-1 as an empty LocationConstraint.
    location = "" if bucket.location == "us-east-1" else bucket.location
    return xml_response(xml.render_text("LocationConstraint", location))


@operation("DeleteBucket")
async def delete_bucket(ctx: Context) -> Response:
    await ctx.store.delete_bucket(ctx.bucket)
    await asyncio.to_thread(ctx.services.data.remove_bucket, ctx.bucket)
    # Remembered, so that another site of a site group deletes its copy rather than bring it back.
    await asyncio.to_thread(ctx.store.set_setting_sync, f"{DELETED_BUCKET_PREFIX}{ctx.bucket}", f"{time.time():.6f}")
    return Response(status=204)
