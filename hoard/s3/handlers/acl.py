"""ACLs, as far as they are true today: the owner has FULL_CONTROL of everything, nobody else has anything.

Setting an ACL that says exactly that (canned ``private``) is accepted; any other ACL answers
NotImplemented until access control arrives, because accepting it would pretend.
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.model import Bucket
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.buckets import owner_xml
from hoard.s3.handlers.common import PUBLIC_GROUPS, Context, check_acl_headers, operation, public_access_blocked, require_bucket
from hoard.s3.handlers.objects import get_record
from hoard.s3.handlers.payload import receive_document

XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _policy(ctx: Context) -> Response:
    grantee = f'<Grantee xmlns:xsi="{XSI}" xsi:type="CanonicalUser">'
    owner = owner_xml(ctx)
    body = xml.render(
        "AccessControlPolicy",
        [("Owner", owner), ("AccessControlList", [("Grant", [("GRANTEE", owner), ("Permission", "FULL_CONTROL")])])],
    )
    # The Grantee element needs its xsi:type attribute, which the tiny writer does not do.
    body = body.replace(b"<GRANTEE>", grantee.encode()).replace(b"</GRANTEE>", b"</Grantee>")
    return xml_response(body)


async def _accept_private_only(ctx: Context, bucket: Bucket) -> None:
    check_acl_headers(ctx, bucket)
    body = await receive_document(ctx)
    if not body.strip():
        if "x-amz-acl" not in ctx.req.headers:
            raise S3Error("MissingSecurityHeader", "Your request was missing a required header", MissingHeaderName="x-amz-acl")
        return
    root = xml.parse(body)
    if root.tag != "AccessControlPolicy":
        raise S3Error("MalformedXML")
    grants = root.findall("AccessControlList/Grant")
    public = any((g.findtext("Grantee/URI") or "") in PUBLIC_GROUPS for g in grants)
    if public and public_access_blocked(bucket, "BlockPublicAcls"):
        raise S3Error("AccessDenied", "The bucket's public access block forbids public ACLs.")
    only_owner = len(grants) == 1 and (
        (grants[0].findtext("Grantee/ID") or "") == ctx.owner.owner_id
        and (grants[0].findtext("Permission") or "") == "FULL_CONTROL"
    )
    if not only_owner:
        raise S3Error("NotImplemented", "ACLs other than the owner's FULL_CONTROL come with access control, which is not implemented yet.")


@operation("GetBucketAcl")
async def get_bucket_acl(ctx: Context) -> Response:
    await require_bucket(ctx)
    return _policy(ctx)


@operation("PutBucketAcl")
async def put_bucket_acl(ctx: Context) -> Response:
    await _accept_private_only(ctx, await require_bucket(ctx))
    return Response()


@operation("GetObjectAcl")
async def get_object_acl(ctx: Context) -> Response:
    await get_record(ctx)
    return _policy(ctx)


@operation("PutObjectAcl")
async def put_object_acl(ctx: Context) -> Response:
    await get_record(ctx)
    await _accept_private_only(ctx, await require_bucket(ctx))
    return Response()
