"""The admin API's bucket replication requests (``hoard admin replicate``): a resync, which
queues every version of a bucket again (S3's existing-object replication, on demand), and the
backlog: how many versions wait, failed or are done, and how old the oldest waiting one is."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from hoard.admin.iam_api import json_answer
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.meta.store import MetaStore
from hoard.replication.rules import REPLICATION_CONFIG
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

Handler = Callable[[Request, AuthContext], Awaitable[Response]]


class ReplicationAdmin:
    def __init__(self, store: MetaStore) -> None:
        self.store = store
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", "replication/resync"): self.resync,
            ("GET", "replication/status"): self.status,
        }

    async def resync(self, req: Request, auth: AuthContext) -> Response:
        name = req.params.get("bucket", "")
        bucket = await self.store.get_bucket(name) if name else None
        if bucket is None:
            raise S3Error("NoSuchBucket", BucketName=name)
        if REPLICATION_CONFIG not in bucket.config:
            raise S3Error("ReplicationConfigurationNotFoundError", BucketName=name)
        queued = await self.store.replication_queue_bucket(name)
        return json_answer({"bucket": name, "queued": queued}, 202)

    async def status(self, req: Request, auth: AuthContext) -> Response:
        name = req.params.get("bucket", "")
        if name and await self.store.get_bucket(name) is None:
            raise S3Error("NoSuchBucket", BucketName=name)
        return json_answer(await self.backlog(name), 200)

    async def backlog(self, bucket: str) -> dict:
        return await replication_backlog(self.store, bucket)


async def replication_backlog(store: MetaStore, bucket: str = "") -> dict:
    """The replication queue of one bucket (every bucket: ""): counts by status, and the lag:
    how long the oldest version still waiting has waited (0 when none waits)."""
    backlog = await store.replication_backlog(bucket)
    oldest = backlog.pop("oldest_queued")
    return {"bucket": bucket, **backlog, "lag_seconds": round(time.time() - oldest, 3) if oldest else 0.0}
