"""Health checks and the Prometheus scrape, under the reserved prefix ``/.hoard/`` of the S3 port.

``/.hoard/health/live``: the process answers. ``/.hoard/health/ready``: the index answers and
every erasure set has a write quorum of usable drives; else 503 and why. Neither asks for
credentials: load balancers and Kubernetes probes send none, and they tell nothing about data.
``/.hoard/metrics``: the text exposition of ``hoard.metrics``'s instruments (every worker
process's, summed and per worker) and of what is read when scraped (drives, queues, lifecycle);
behind a bearer token when ``HOARD_METRICS_TOKEN`` is set. No bucket name starts with ".", so
none of these paths can be a bucket's.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from hoard import __version__, metrics
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.meta.store import MetaStore
from hoard.storage.drive import DriveState
from hoard.storage.pool import Storage
from hoard.workers.lifecycle import STATS_SETTING

log = logging.getLogger("hoard")
LIVE = "/.hoard/health/live"
READY = "/.hoard/health/ready"
METRICS = "/.hoard/metrics"
OPERATIONS = {LIVE: "Health", READY: "Health", METRICS: "Metrics"}
INDEX_TIMEOUT = 2.0  # seconds the readiness check waits for the index before calling it down


def _json(status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    h = {"content-type": "application/json", "cache-control": "no-store"}
    h.update(headers or {})
    return Response(status=status, headers=h, body=json.dumps(doc).encode())


def token_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries ``Bearer TOKEN``, compared in constant time."""
    if header is None:
        return False
    scheme, _, given = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def readiness_problems(storage: Storage, store: MetaStore) -> list[str]:
    """Why this server should get no traffic, in words: the index does not answer, or an erasure
    set lacks a write quorum; empty when ready."""
    problems: list[str] = []
    try:
        await asyncio.wait_for(asyncio.to_thread(store.get_setting_sync, STATS_SETTING), INDEX_TIMEOUT)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of the index is "not ready", said in words
        problems.append(f"index: {type(e).__name__}: {e}".rstrip(": "))
    return problems + storage.sets_without_write_quorum()


class Observer:
    """Answers the health and metrics paths of one process."""

    def __init__(self, storage: Storage, store: MetaStore, token: str | None, started_at: float) -> None:
        self.storage = storage
        self.store = store
        self.token = token
        self.started_at = started_at

    @staticmethod
    def operation(path: str) -> str | None:
        """The operation name of a path this serves (for the request metrics), None if it serves none."""
        return OPERATIONS.get(path)

    async def handle(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            return _json(405, {"status": "error", "error": f"{req.method} is not allowed here"}, {"allow": "GET, HEAD"})
        if req.path == LIVE:
            return _json(200, {"status": "ok"})
        if req.path == READY:
            return await self.ready()
        return await self.scrape(req)

    async def ready(self) -> Response:
        problems = await readiness_problems(self.storage, self.store)
        if problems:
            return _json(503, {"status": "unavailable", "problems": problems})
        return _json(200, {"status": "ok"})

    async def scrape(self, req: Request) -> Response:
        if self.token is not None and not token_matches(req.headers.get("authorization"), self.token):
            return _json(401, {"status": "error", "error": "a bearer token is needed"}, {"www-authenticate": 'Bearer realm="hoard metrics"'})
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        # Reading the other workers' files and the index blocks: not in the event loop.
        body = await asyncio.to_thread(generate_latest, _Families(self.families))  # type: ignore[arg-type]
        return Response(headers={"content-type": CONTENT_TYPE_LATEST, "cache-control": "no-store"}, body=body)

    def families(self) -> list[Any]:
        """Every metric family of a scrape. Blocks."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        out = metrics.per_worker(metrics.instruments().collect())
        states = GaugeMetricFamily("hoard_drives", "Drives by state", labels=["state"])
        info = GaugeMetricFamily("hoard_drive_info", "One per drive (1), its state as a label; hoard_drive_online says 1 when usable", labels=["drive", "path", "set", "state"])
        online = GaugeMetricFamily("hoard_drive_online", "1 while the drive is online or healing, 0 while offline", labels=["drive"])
        counts = dict.fromkeys((s.value for s in DriveState), 0)
        for drive in self.storage.drives:  # this server's own (a cluster node's other drives are other nodes')
            state = drive.state.value
            counts[state] += 1
            info.add_metric([str(drive.position), str(drive.root), str(self.storage.set_of_drive(drive)), state], 1)
            online.add_metric([str(drive.position)], 0 if drive.state is DriveState.OFFLINE else 1)
        for state, n in counts.items():
            states.add_metric([state], n)
        out += [states, info, online]
        out += self._index_families(GaugeMetricFamily, CounterMetricFamily)
        out.append(GaugeMetricFamily("hoard_uptime_seconds", "Seconds since the server started", value=time.time() - self.started_at))
        build = GaugeMetricFamily("hoard_build_info", "Hoard's version (1)", labels=["version"])
        build.add_metric([__version__], 1)
        out.append(build)
        return out

    def _index_families(self, gauge: Any, counter: Any) -> list[Any]:
        try:
            sizes = self.store.queue_sizes_sync()
            raw = self.store.get_setting_sync(STATS_SETTING)
        except Exception as e:  # noqa: BLE001 - a scrape still answers what it can; readiness tells the rest
            log.warning("metrics: the index could not be read: %s", e)
            return [gauge("hoard_index_up", "1 when the index answered this scrape", value=0)]
        backlog = gauge("hoard_replication_backlog", "Versions waiting to be replicated, by status", labels=["status"])
        backlog.add_metric(["pending"], sizes["replication_pending"])
        backlog.add_metric(["failed"], sizes["replication_failed"])
        actions = counter("hoard_lifecycle_actions", "Lifecycle actions taken, by action (saved at the end of each pass)", labels=["action"])
        saved = json.loads(raw).get("actions", {}) if raw else {}
        for action, n in sorted(saved.items()):
            actions.add_metric([action], n)
        return [
            gauge("hoard_index_up", "1 when the index answered this scrape", value=1),
            gauge("hoard_reclaim_queue", "Replaced shard files and tier blobs waiting to be deleted", value=sizes["reclaim"]),
            gauge("hoard_heal_queue", "Versions whose write missed a drive, waiting to be healed", value=sizes["heal"]),
            backlog,
            gauge("hoard_tier_tasks", "Versions with tier work due or scheduled (moves, restores, expiries)", value=sizes["tier_tasks"]),
            actions,
        ]


class _Families:
    """What ``generate_latest`` collects from: the families of one scrape."""

    def __init__(self, families: Any) -> None:
        self._families = families

    def collect(self) -> Iterable[Any]:
        return self._families()
