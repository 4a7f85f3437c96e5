"""The admin API: cluster state, heal jobs and index rebuilds, for ``hoard admin``.

It lives under ``/.hoard/admin/v1/``: a leading dot is never part of a bucket name, so no S3
request can reach it. Requests are signed with SigV4 like S3's and must come from the root
identity; answers are JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from hoard import __version__
from hoard.admin.iam_api import IamAdmin
from hoard.admin.kms_api import KmsAdmin
from hoard.admin.lifecycle_api import LifecycleAdmin
from hoard.admin.pools_api import PoolsAdmin
from hoard.admin.remotes_api import RemotesAdmin
from hoard.admin.replication_api import ReplicationAdmin
from hoard.admin.site_sync import SiteSync
from hoard.admin.sites_api import SitesAdmin
from hoard.http.numbers import decimal
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.iam.authorize import administers
from hoard.iam.identities import Identities
from hoard.meta.cluster import ClusterCatalog
from hoard.meta.store import MetaStore
from hoard.objects.data import ObjectData
from hoard.objects.index import rebuild
from hoard.objects.rotation import MasterKeyRotation
from hoard.replication.remotes import Remotes
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error
from hoard.storage.pool import Storage
from hoard.workers.healer import Healer
from hoard.workers.lifecycle import LifecycleWorker, TierWorker
from hoard.workers.monitor import DriveMonitor

ADMIN_PREFIX = "/.hoard/admin/v1/"
log = logging.getLogger("hoard.admin")


def json_response(value: object, status: int = 200) -> Response:
    return Response(status=status, headers={"content-type": "application/json"}, body=json.dumps(value, indent=1).encode())


def check_admin_request(auth: AuthContext) -> None:
    """Admin requests come from the root account or an identity a policy allows ``admin:*``."""
    if auth.identity is None or not (auth.identity.is_root or administers(auth.identity)):
        raise S3Error("AccessDenied", "The admin API needs the root credentials or a policy allowing admin:*.")
    if auth.streaming:
        raise S3Error("InvalidRequest", "Admin requests are not sent in aws-chunked encoding.")


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
    identities: Identities  # users, keys, groups and policies (the admin API changes them)
    remotes: Remotes | None = None  # where bucket replication writes (hoard admin remote)
    data: ObjectData | None = None  # buckets made as another site has them (site replication)
    site_sync: SiteSync | None = None  # site replication's loop and what it last found
    lifecycle: LifecycleWorker | None = None  # what the lifecycle worker did (hoard admin lifecycle)
    tier_worker: TierWorker | None = None  # what the tier worker did
    rotation: MasterKeyRotation | None = None  # master key rotation (hoard admin kms rotate)
    catalog: ClusterCatalog | None = None  # a cluster node's catalog (hoard admin pool, hoard admin cluster)
    rotate_key: Callable[[], dict] | None = None  # a cluster node's key rotation (hoard admin cluster rotate-key)


@dataclass
class RebuildJob:
    """An index rebuild, run in the background and followed by polling: on a large index it
    takes longer than a client would wait for one answer."""

    id: int
    state: str = "reading"  # the drives' records, then "writing" the index; "finished" or "failed"
    records_read: int = 0
    records_total: int = 0  # record files on the usable drives (a version has one per drive of its set)
    objects: int = 0
    buckets: int = 0
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    @property
    def running(self) -> bool:
        return not self.finished

    def progress(self, step: str, done: int, total: int) -> None:
        # Called from the rebuild's thread; each field is set whole, read by the event loop.
        if step == "reading":
            self.records_read, self.records_total = done, total
        else:
            self.state, self.objects = step, done

    def to_json(self) -> dict:
        return {**asdict(self), "running": self.running}


class AdminApi:
    """Answered by the leader process, which holds the heal jobs and index rebuilds (see
    ``hoard.process_role``)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.healer = cluster.healer
        self.monitor = cluster.monitor
        self.rebuilds: dict[int, RebuildJob] = {}
        self.iam = IamAdmin(cluster.identities, self._buckets_owned)
        self.replication = ReplicationAdmin(cluster.store)
        self.lifecycle = LifecycleAdmin(cluster.store, cluster.data.tiers if cluster.data is not None else {}, cluster.lifecycle, cluster.tier_worker)
        self.remotes = RemotesAdmin(cluster.remotes, cluster.store) if cluster.remotes is not None else None
        sync = cluster.site_sync
        self.sites = (
            SitesAdmin(cluster.identities, cluster.store, cluster.data, cluster.remotes, lambda: dict(sync.site_status), sync.deleted)
            if sync is not None and cluster.data is not None and cluster.remotes is not None
            else None
        )
        self.kms = KmsAdmin(cluster.data.keys.kms if cluster.data is not None else None, cluster.rotation)
        self.pools = PoolsAdmin(cluster.catalog, cluster.store, cluster.rotate_key)
        self._rebuild_task: asyncio.Task | None = None

    async def _buckets_owned(self, owner: str) -> list[str]:
        return [b.name for b in await self.cluster.store.list_buckets("", "", 11, owner=owner)]

    async def handle(self, req: Request, auth: AuthContext) -> Response:
        check_admin_request(auth)
        name = req.path[len(ADMIN_PREFIX) :]
        action = (
            self.iam.routes.get((req.method, name))
            or self.replication.routes.get((req.method, name))
            or self.lifecycle.routes.get((req.method, name))
            or self.kms.routes.get((req.method, name))
            or self.pools.routes.get((req.method, name))
        )
        if action is None and self.remotes is not None:
            action = self.remotes.routes.get((req.method, name))
        if action is None and self.sites is not None:
            action = self.sites.routes.get((req.method, name))
        if action is not None:
            return await action(req, auth)
        action = {
            ("GET", "info"): self.info,
            ("POST", "heal"): self.start_heal,
            ("GET", "heal"): self.heal_status,
            ("POST", "rebuild-index"): self.rebuild_index,
            ("GET", "rebuild-index"): self.rebuild_status,
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
                "replication": await self.replication.backlog(""),
            }
        )
        return json_response(info)

    async def start_heal(self, req: Request) -> Response:
        target = req.params.get("target", "").lstrip("/")
        bucket, _, prefix = target.partition("/")
        if bucket and await self.cluster.store.get_bucket(bucket) is None:
            raise S3Error("NoSuchBucket", BucketName=bucket)
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
        """Start rebuilding the index from the drives (or answer the rebuild already running)."""
        if self.cluster.catalog is not None:
            # One node's drives hold a part of the cluster's objects: rebuilt from them alone, the
            # shared database would lose every other object.
            raise S3Error(
                "NotImplemented", "A cluster's index is rebuilt from every node's drives into a new database: hoard cluster rebuild-index."
            )
        running = self.rebuilds.get(len(self.rebuilds))
        if running is None or not running.running:
            running = RebuildJob(id=len(self.rebuilds) + 1)
            self.rebuilds[running.id] = running
            self._rebuild_task = asyncio.get_running_loop().create_task(self._rebuild(running))
        return json_response(running.to_json())

    async def rebuild_status(self, req: Request) -> Response:
        raw = req.params.get("id", "")
        if raw and not raw.isdigit():
            raise S3Error("InvalidArgument", "id must be a rebuild number.")
        job = self.rebuilds.get(int(raw) if raw else len(self.rebuilds))
        if raw and job is None:
            raise S3Error("InvalidArgument", f"No index rebuild {raw} since the server started.")
        return json_response({"job": job.to_json() if job else None})

    async def _rebuild(self, job: RebuildJob) -> None:
        cluster = self.cluster
        try:
            job.objects = await asyncio.to_thread(rebuild, cluster.storage, cluster.store, cluster.owner_id, cluster.region, job.progress)
            job.buckets = len(await cluster.store.list_buckets("", "", 1_000_000))
            job.state = "finished"
        except Exception as e:
            log.exception("index rebuild %d failed", job.id)
            job.state, job.error = "failed", str(e) or type(e).__name__
        finally:
            job.finished = time.time()
