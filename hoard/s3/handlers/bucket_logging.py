"""Server access logging: PutBucketLogging, GetBucketLogging. The configuration's rules are
``hoard.requestlog.status``; who may receive the logs, ``hoard.requestlog.permission``; the lines
are spooled by ``hoard.requestlog.sink`` and delivered by ``hoard.workers.log_delivery``."""

from __future__ import annotations

from datetime import UTC, datetime

from hoard.http.response import Response, xml_response
from hoard.iam import acl
from hoard.iam.authorize import ACLS_DISABLED, OWNERSHIP_CONFIG
from hoard.iam.context import request_keys
from hoard.requestlog import status
from hoard.requestlog.permission import delivery_allowed
from hoard.requestlog.status import LOGGING_CONFIG, LoggingConfigError
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, config_refusal, operation, require_body_checksum, require_bucket
from hoard.s3.handlers.grants import XSI, known_ids, resolve_grantee
from hoard.s3.handlers.owners import display_name
from hoard.s3.handlers.payload import receive_document


def source_accounts(ctx: Context, owner: str) -> tuple[str, ...]:
    """The ids aws:SourceAccount is matched against: the owner's 12-digit account id (AWS's) and
    its canonical id (what S3 shows as the bucket's owner, and what RGW puts there)."""
    identities = ctx.services.identities
    account = identities.account_id(owner) if identities is not None else None
    return (account, owner) if account else (owner,)


@operation("PutBucketLogging")
async def put_bucket_logging(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    # S3: only the bucket's owner sets its logging, whatever a bucket policy grants others.
    requester = ctx.requester
    if requester is None or requester.owner_id != bucket.owner_id:
        raise S3Error("AccessDenied")
    require_body_checksum(ctx)
    try:
        config = status.parse(xml.parse(await receive_document(ctx)))
    except LoggingConfigError as e:
        raise config_refusal(e) from None
    if config is None:
        if LOGGING_CONFIG in bucket.config:
            await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, LOGGING_CONFIG, None)
        return Response()
    target = await ctx.store.get_bucket(config.target_bucket)
    if target is None:
        raise S3Error("InvalidTargetBucketForLogging", "The target bucket for logging does not exist", TargetBucket=config.target_bucket)
    if target.owner_id != bucket.owner_id:
        raise S3Error(
            "InvalidTargetBucketForLogging", "The owner for the bucket to be logged and the target bucket must be the same.", TargetBucket=config.target_bucket
        )
    if config.grants:
        if target.config.get(OWNERSHIP_CONFIG) == ACLS_DISABLED:
            # S3: a target bucket with ACLs off takes no target grants; access is the policy's.
            raise S3Error("AccessControlListNotSupported", "The target bucket for log delivery does not allow ACLs; use its bucket policy instead of TargetGrants.")
        known = known_ids(ctx)
        resolved = tuple(resolve_grantee(ctx, kind, value, permission, known) for kind, value, permission in config.grants)
        config = status.LoggingConfig(config.target_bucket, config.target_prefix, resolved, config.partitioned, config.date_source)
    keys = request_keys(now=datetime.now(UTC), source_ip=None, secure_transport=ctx.req.secure)
    if not delivery_allowed(config.target_bucket, target.config, config.target_prefix, ctx.bucket, source_accounts(ctx, bucket.owner_id), keys):
        raise S3Error(
            "AccessDenied",
            "The target bucket's policy does not allow the logging.s3.amazonaws.com service principal s3:PutObject under the target prefix "
            "for this source bucket, nor does its ACL grant the LogDelivery group WRITE.",
        )
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, LOGGING_CONFIG, config.to_json())
    return Response()


@operation("GetBucketLogging")
async def get_bucket_logging(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)

    def grantee(kind: str, who: str) -> tuple:
        if kind == acl.GROUP:
            return ("GRANTEE_GROUP", [("URI", who)])
        return ("GRANTEE_USER", [("ID", who), ("DisplayName", display_name(ctx, who))])

    body = xml.render("BucketLoggingStatus", status.render(status.configured(bucket.config), grantee))
    # A Grantee names its type in an xsi:type attribute, which the small XML writer does not write.
    for placeholder, kind in ((b"GRANTEE_GROUP", "Group"), (b"GRANTEE_USER", "CanonicalUser")):
        body = body.replace(b"<" + placeholder + b">", f'<Grantee xmlns:xsi="{XSI}" xsi:type="{kind}">'.encode())
        body = body.replace(b"</" + placeholder + b">", b"</Grantee>")
    return xml_response(body)
