"""Bucket replication as the S3 path sees it: the status a source version shows, and the writes
a replication engine makes on its target.

A source version written into a bucket with a replication configuration carries
``x-amz-replication-status: PENDING`` among its stored headers; its actual state (PENDING,
COMPLETED, FAILED) is the replication queue's (``MetaStore.replication_status``), looked up only
for such versions. A replica written on a target carries ``REPLICA`` there, for good, which also
keeps it from being replicated onwards (``hoard.meta``: a replica is never queued), so two buckets
replicating to each other do not loop.

A replica keeps its source version's id, place among the key's versions (seq) and time, so that
both sides order a key's versions the same way and converge. Hoard's engine (``hoard.workers.
replicator``) sends them as ``x-hoard-replica-*`` headers on PutObject, CreateMultipartUpload and
DeleteObject (a delete marker); only an identity allowed ``s3:ReplicateObject`` (a delete marker:
``s3:ReplicateDelete``) may, into a bucket with versioning Enabled, as S3 requires of a destination.
"""

from __future__ import annotations

from hoard.http.numbers import decimal
from hoard.model import PENDING, REPLICA, REPLICATION_STATUS_HEADER, Bucket, ObjectRecord
from hoard.objects.replicas import REPLICA_HEADERS, REPLICA_MODIFIED_HEADER, REPLICA_SEQ_HEADER, ReplicaOf
from hoard.objects.versions import ENABLED, NULL_VERSION, is_version_id
from hoard.replication.rules import REPLICATION_CONFIG
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context
from hoard.s3.handlers.versioning import versioning_of


def parse_replica(headers: dict[str, str]) -> ReplicaOf | None:
    """The replica headers of a request (or an upload's stored headers); None if it has none."""
    if not any(h in headers for h in REPLICA_HEADERS):
        return None
    version_id, seq, modified = (headers.get(h, "") for h in REPLICA_HEADERS)
    # A seq is what new_seq makes (24 hex digits); a replica's version id is its seq, or null.
    if not is_version_id(seq) or seq == NULL_VERSION or version_id not in (seq, NULL_VERSION):
        raise S3Error("InvalidArgument", "The replica headers do not name a version.", ArgumentName=REPLICA_SEQ_HEADER, ArgumentValue=seq)
    millis = decimal(modified)
    if millis is None:
        raise S3Error("InvalidArgument", "The replica's last-modified time is not a number of milliseconds.", ArgumentName=REPLICA_MODIFIED_HEADER)
    return ReplicaOf(version_id, seq, millis / 1000)


async def replica_write(ctx: Context, bucket: Bucket, delete: bool = False) -> ReplicaOf | None:
    """The source version this write replicates, checked; None for an ordinary write."""
    replica = parse_replica(dict(ctx.req.headers))
    if replica is None:
        return None
    await ctx.authorize("ReplicateDelete" if delete else "ReplicateObject", ctx.bucket, ctx.key)
    if versioning_of(bucket) != ENABLED:
        raise S3Error("InvalidRequest", "Replicas are written only into a bucket with versioning Enabled.")
    return replica


def replication_marks(bucket: Bucket) -> dict[str, str]:
    """The header a new version of a replicated bucket is stored with: its status is then looked up."""
    return {REPLICATION_STATUS_HEADER: PENDING} if REPLICATION_CONFIG in bucket.config else {}


async def show_replication_status(ctx: Context, record: ObjectRecord, headers: dict[str, str]) -> None:
    """Put the version's ``x-amz-replication-status`` in GET's and HEAD's headers: a replica's
    REPLICA as stored; a source version's as the queue has it now (none if no rule covered it)."""
    marked = record.headers.get(REPLICATION_STATUS_HEADER)
    if marked is None or marked == REPLICA:
        return
    status = await ctx.store.replication_status(record.bucket, record.key, record.version_id)
    headers.pop(REPLICATION_STATUS_HEADER, None)
    if status is not None:
        headers[REPLICATION_STATUS_HEADER] = status
