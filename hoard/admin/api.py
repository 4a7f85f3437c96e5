"""The admin API: cluster state, heal jobs and index rebuilds, for ``hoard admin``.

It lives under ``/.hoard/admin/v1/``: a leading dot is never part of a bucket name, so no S3
request can reach it. Requests are signed with SigV4 like S3's and must come from the root
identity; answers are JSON.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from hoard import __version__
from hoard.http.numbers import decimal
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.meta.store import MetaStore
from hoard.objects.index import rebuild
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error
from hoard.storage.pool import Storage
from hoard.workers.healer import Healer
from hoard.workers.monitor import DriveMonitor

ADMIN_PREFIX = "/.hoard/admin/v1/"


def json_response(value: object, status: int = 200) -> Response:
    return Response(status=status, headers={"content-type": "application/json"}, body=json.dumps(value, indent=1).encode())


def check_admin_request(auth: AuthContext) -> None:
    if auth.identity is None or not auth.identity.is_root:
        raise S3Error("AccessDenied", "The admin API needs the root credentials.")
    if auth.streaming:
        raise S3Error("InvalidRequest", "Admin requests carry no body.")


@dataclass(frozen=True)
class Cluster:
    """What the admin API reports on and acts on, handed over by the composition root."""

    storage: Storage
    store: MetaStore
    healer: Healer
    monitor: DriveMonitor
    workers: int  # server processes
    owner_id: str  # the root's, for buckets a rebuild must recreate
    region: str


class AdminApi:
    """Answered by the leader process, which holds the heal jobs (see ``hoard.process_role``)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.healer = cluster.healer
        self.monitor = cluster.monitor

    async def handle(self, req: Request, auth: AuthContext) -> Response:
        check_admin_request(auth)
        name = req.path[len(ADMIN_PREFIX) :]
        action = {
            ("GET", "info"): self.info,
            ("POST", "heal"): self.start_heal,
            ("GET", "heal"): self.heal_status,
            ("POST", "rebuild-index"): self.rebuild_index,
        }.get((req.method, name))
        if action is None:
            raise S3Error("InvalidRequest", f"Unknown admin request {req.method} {name}.")
        return await action(req)

    async def info(self, req: Request) -> Response:
        cluster = self.cluster
        await self.monitor.probe()
        info = await asyncio.to_thread(cluster.storage.info)
        info.update(
            {
                "version": __version__,
                "index": cluster.store.location,
                "objects": await cluster.store.count_objects(),
                "healing": self.healer.status(),
                "workers": cluster.workers,
            }
        )
        return json_response(info)

    async def start_heal(self, req: Request) -> Response:
        target = req.params.get("target", "").lstrip("/")
        bucket, _, prefix = target.partition("/")
        deep = req.params.get("deep", "true") != "false"
        await self.monitor.probe()
        job = self.healer.start_job(bucket, prefix, deep=deep)
        return json_response(job.to_json())

    async def heal_status(self, req: Request) -> Response:
        raw = req.params.get("id", "")
        job = decimal(raw) if raw else None
        if raw and job is None:
            raise S3Error("InvalidArgument", "id must be a heal job number.")
        return json_response(self.healer.status(job))

    async def rebuild_index(self, req: Request) -> Response:
        cluster = self.cluster
        count = await asyncio.to_thread(rebuild, cluster.storage, cluster.store, cluster.owner_id, cluster.region)
        return json_response({"objects": count, "buckets": len(await cluster.store.list_buckets("", "", 1_000_000))})
