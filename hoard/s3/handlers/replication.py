"""Bucket replication's configuration: PutBucketReplication, GetBucketReplication,
DeleteBucketReplication. The rules (``hoard.replication.rules``) are kept as the bucket
configuration ``replication``; the versions they cover are queued as they are committed and sent
by the leader's replication engine.

As S3 requires, the source bucket's versioning must be Enabled (and, once a configuration is
there, cannot be suspended: ``versioning.py``), and the destination bucket must exist with
versioning Enabled. Hoard asks the remote the Role names (GetBucketVersioning, with the remote's
keys, ``REMOTE_TIMEOUT`` seconds at most) before it keeps the configuration: a destination that
is missing or unversioned is S3's 400 InvalidRequest; a remote that refuses the question (wrong
keys, no permission, a certificate not trusted) 400 InvalidRequest saying what it answered; a
remote that cannot be reached or answers 5xx 503 ServiceUnavailable, to try again later. Nothing
is kept unless every check passed.
"""

from __future__ import annotations

import asyncio

from hoard.http.response import Response, xml_response
from hoard.objects.versions import ENABLED
from hoard.replication import rules
from hoard.replication.remotes import Remote, describe, unreachable
from hoard.replication.rules import REPLICATION_CONFIG, ReplicationConfig, ReplicationConfigError
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, config_refusal, operation, require_body_checksum, require_bucket
from hoard.s3.handlers.payload import receive_document
from hoard.s3.handlers.versioning import versioning_of

REMOTE_TIMEOUT = 10.0  # seconds the remote has to answer about the destination bucket



async def _remote(ctx: Context, config: ReplicationConfig) -> Remote:
    remotes = ctx.services.remotes
    found = (await asyncio.to_thread(remotes.load)).get(config.remote) if remotes is not None else None
    if found is None:
        raise S3Error(
            "InvalidArgument",
            f"Invalid Role specified in replication configuration: there is no remote named {config.remote} "
            f"(hoard admin remote add {config.remote} URL --access-key ... --secret-key ...).",
            ArgumentName="Role",
            ArgumentValue=config.role,
        )
    return found


async def _check_destination(remote: Remote, bucket: str) -> None:
    """The destination bucket exists on the remote, versioning Enabled (S3's requirement)."""

    def ask() -> str | None:
        return remote.s3_client(timeout=REMOTE_TIMEOUT).get_bucket_versioning(Bucket=bucket).get("Status")

    where = f"the remote {remote.name} ({remote.url})"
    try:
        status = await asyncio.to_thread(ask)
    except Exception as e:  # noqa: BLE001 - whatever the remote did, this request's answer says it
        if (getattr(e, "response", None) or {}).get("Error", {}).get("Code") == "NoSuchBucket":
            raise S3Error("InvalidRequest", f"Destination bucket must exist. ({where} has no bucket {bucket})") from None
        if unreachable(e):
            raise S3Error("ServiceUnavailable", f"Cannot check the destination bucket {bucket}: {where} cannot be reached: {describe(e)}") from None
        raise S3Error("InvalidRequest", f"Cannot check the destination bucket {bucket}: {where} answered {describe(e)}") from None
    if status != ENABLED:
        raise S3Error("InvalidRequest", "Destination bucket must have versioning enabled.")


@operation("PutBucketReplication")
async def put_bucket_replication(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    require_body_checksum(ctx)
    body = await receive_document(ctx)
    if versioning_of(bucket) != ENABLED:
        raise S3Error("InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication configuration")
    try:
        config = rules.parse(body, xml.parse)
    except ReplicationConfigError as e:
        raise config_refusal(e) from None
    remote = await _remote(ctx, config)
    for destination in sorted({r.destination_bucket for r in config.rules}):
        await _check_destination(remote, destination)
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, REPLICATION_CONFIG, config.to_json())
    if any(r.enabled and r.existing_objects for r in config.rules):
        await ctx.store.replication_queue_bucket(ctx.bucket)  # ExistingObjectReplication: the versions already there too
    return Response()


@operation("GetBucketReplication")
async def get_bucket_replication(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    stored = bucket.config.get(REPLICATION_CONFIG)
    if not stored:
        raise S3Error("ReplicationConfigurationNotFoundError", BucketName=ctx.bucket)
    return xml_response(xml.render("ReplicationConfiguration", rules.render(ReplicationConfig.from_json(stored))))


@operation("DeleteBucketReplication")
async def delete_bucket_replication(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if REPLICATION_CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, REPLICATION_CONFIG, None)
    return Response(status=204)
