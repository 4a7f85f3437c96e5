"""The admin API: cluster state, heal jobs and index rebuilds, for ``hoard admin``.

It lives under ``/.hoard/admin/v1/``: a leading dot is never part of a bucket name, so no S3
request can reach it. Requests are signed with SigV4 like S3's and must come from the root
identity; answers are JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from hoard import __version__
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.objects.index import rebuild
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

if TYPE_CHECKING:
    from hoard.app import HoardApp
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


class AdminApi:
    """Answered by the leader process, which holds the heal jobs (see ``hoard.process_role``)."""

    def __init__(self, app: HoardApp) -> None:
        self.app = app

    @property
    def healer(self) -> Healer:
        assert self.app.healer is not None  # the admin API lives in the leader, which has one
        return self.app.healer

    @property
    def monitor(self) -> DriveMonitor:
        assert self.app.monitor is not None
        return self.app.monitor

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
        app = self.app
        await self.monitor.probe()
        info = await asyncio.to_thread(app.storage.info)
        info.update(
            {
                "version": __version__,
                "index": app.store.location,
                "objects": await app.store.count_objects(),
                "healing": self.healer.status(),
                "workers": app.role.count,
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
        if raw and not raw.isdigit():
            raise S3Error("InvalidArgument", "id must be a heal job number.")
        return json_response(self.healer.status(int(raw) if raw else None))

    async def rebuild_index(self, req: Request) -> Response:
        app = self.app
        count = await asyncio.to_thread(rebuild, app.storage, app.store, app.services.root.owner_id, app.settings.region)
        return json_response({"objects": count, "buckets": len(await app.store.list_buckets("", "", 1_000_000))})
