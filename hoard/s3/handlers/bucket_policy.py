"""Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy, GetBucketPolicyStatus.

A policy is checked with S3's rules when it is put (``hoard.iam.policy.parse_policy``: MalformedPolicy
otherwise), kept as its owner wrote it in the bucket's configuration (the index and the bucket
files on every drive), and evaluated by the authorization step on every request to the bucket.
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.iam.authorize import BUCKET_POLICY_CONFIG, bucket_policy
from hoard.iam.errors import PolicyError
from hoard.iam.policy import BUCKET_POLICY_LIMIT, parse_policy
from hoard.iam.public import is_public
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, operation, public_access_blocked, require_bucket
from hoard.s3.handlers.payload import receive_document


@operation("PutBucketPolicy")
async def put_bucket_policy(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    # Read past S3's limit, so that parse_policy refuses an oversized policy in S3's words.
    body = await receive_document(ctx, limit=4 * BUCKET_POLICY_LIMIT)
    try:
        policy = parse_policy(body, kind="bucket", bucket=ctx.bucket)
    except PolicyError as e:
        raise S3Error("MalformedPolicy", e.message) from None
    if is_public(policy) and public_access_blocked(ctx, bucket, "BlockPublicPolicy"):
        raise S3Error("AccessDenied", "The bucket's public access block forbids public policies.")
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, BUCKET_POLICY_CONFIG, body.decode("utf-8"))
    return Response(status=204)


@operation("GetBucketPolicy")
async def get_bucket_policy(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    text = bucket.config.get(BUCKET_POLICY_CONFIG)
    if not text:
        raise S3Error("NoSuchBucketPolicy", BucketName=ctx.bucket)
    return Response(headers={"content-type": "application/json"}, body=text.encode("utf-8"))


@operation("DeleteBucketPolicy")
async def delete_bucket_policy(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if BUCKET_POLICY_CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, BUCKET_POLICY_CONFIG, None)
    return Response(status=204)


@operation("GetBucketPolicyStatus")
async def get_bucket_policy_status(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    text = bucket.config.get(BUCKET_POLICY_CONFIG)
    policy = bucket_policy(text, ctx.bucket) if text else None
    public = policy is not None and is_public(policy)
    return xml_response(xml.render("PolicyStatus", [("IsPublic", public)]))
