"""Bucket replication's configuration: PutBucketReplication, GetBucketReplication,
DeleteBucketReplication. The rules (``hoard.replication.rules``) are kept as the bucket
configuration ``replication``; versions are queued as they are committed and sent by the
leader's engine (``hoard.workers.replicator``).

As S3 requires, the source bucket's versioning must be Enabled, and the destination bucket must
exist on the remote with versioning Enabled (asked of the remote when the configuration is put).
"""

from __future__ import annotations

import asyncio

from hoard.http.response import Response, xml_response
from hoard.objects.versions import ENABLED
from hoard.replication.remotes import Remote
from hoard.replication.rules import REPLICATION_CONFIG, ReplicationConfig, ReplicationConfigError, parse, render
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, operation, require_body_checksum, require_bucket
from hoard.s3.handlers.payload import receive_document
from hoard.s3.handlers.versioning import versioning_of

REMOTE_TIMEOUT = 10.0


@operation("PutBucketReplication")
async def put_bucket_replication(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    require_body_checksum(ctx)
    body = await receive_document(ctx)
    try:
        config = parse(body, xml.parse)
    except ReplicationConfigError as e:
        raise S3Error(e.code, e.message) from None
    if versioning_of(bucket) != ENABLED:
        raise S3Error("InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication configuration")
    remotes = await asyncio.to_thread(ctx.services.remotes.load) if ctx.services.remotes is not None else {}
    remote = remotes.get(config.remote)
    if remote is None:
        raise S3Error("InvalidArgument", f"Invalid Role: no remote named {config.remote!r} (hoard admin remote add).", ArgumentName="Role")
    for destination in sorted({r.destination_bucket for r in config.rules}):
        await asyncio.to_thread(_check_destination, remote, destination)
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, REPLICATION_CONFIG, config.to_json())
    if any(r.existing_objects and r.enabled for r in config.rules):
        await ctx.store.replication_queue_bucket(ctx.bucket)  # existing versions too, now
    return Response()


def _check_destination(remote: Remote, bucket: str) -> None:
    """S3 refuses a destination bucket that does not exist or is not versioned; so does Hoard, by asking."""
    try:
        status = remote.s3_client(timeout=REMOTE_TIMEOUT).get_bucket_versioning(Bucket=bucket).get("Status")
    except Exception as e:  # noqa: BLE001 - whatever the remote says or does not say, it is this request's answer
        code = getattr(e, "response", {}).get("Error", {}).get("Code")
        if code == "NoSuchBucket":
            raise S3Error("InvalidRequest", f"Destination bucket {bucket} must exist on the remote {remote.name}.") from None
        raise S3Error("InvalidRequest", f"The remote {remote.name} could not be asked about bucket {bucket}: {type(e).__name__}: {e}") from None
    if status != ENABLED:
        raise S3Error("InvalidRequest", "Destination bucket must have versioning enabled.")


@operation("GetBucketReplication")
async def get_bucket_replication(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    stored = bucket.config.get(REPLICATION_CONFIG)
    if stored is None:
        raise S3Error("ReplicationConfigurationNotFoundError", BucketName=ctx.bucket)
    return xml_response(xml.render("ReplicationConfiguration", render(ReplicationConfig.from_json(stored))))


@operation("DeleteBucketReplication")
async def delete_bucket_replication(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if REPLICATION_CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, REPLICATION_CONFIG, None)
    return Response(status=204)
