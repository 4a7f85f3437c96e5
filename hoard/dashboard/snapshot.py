"""The dashboard's picture of the server now: version and uptime, drives and erasure sets,
background workers, healing, index, usage per bucket and storage class, replication backlog,
and the last hour's traffic. Read from the objects the leader process holds; nothing here
computes what the admin API or the readiness check already computes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hoard import __version__
from hoard.admin.lifecycle_api import usage_report
from hoard.admin.replication_api import replication_backlog
from hoard.config import Settings
from hoard.dashboard.health import overall_state
from hoard.dashboard.history import History
from hoard.meta.store import MetaStore
from hoard.observe import readiness_problems
from hoard.process_role import ProcessRole
from hoard.storage.pool import Storage
from hoard.tiers import TierStore
from hoard.workers.healer import Healer
from hoard.workers.periodic import RunStatus


@dataclass(frozen=True)
class DashboardSources:
    """What the composition root hands the dashboard (in the leader process)."""

    storage: Storage
    store: MetaStore
    role: ProcessRole
    started_at: float  # when the server started (the deployment's, as hoard_uptime_seconds counts)
    workers: Sequence[object] = ()  # the leader's background loops; those with a ``run_status`` are reported
    healer: Healer | None = None
    history: History | None = None
    tiers: Mapping[str, TierStore] = field(default_factory=dict)
    settings: Settings | None = None


def worker_statuses(workers: Sequence[object]) -> list[dict[str, Any]]:
    """The status record of each loop that keeps one (``Periodic`` and the healer's scanner)."""
    out = []
    for worker in workers:
        record = getattr(worker, "run_status", None)
        if isinstance(record, RunStatus):
            out.append(record.to_json())
    return out


def settings_shown(settings: Settings, role: ProcessRole) -> dict[str, Any]:
    """Settings worth seeing on a dashboard; never a key, a token or a secret."""
    return {
        "region": settings.region,
        "processes": role.count,
        "tls": settings.certs_dir is not None,
        "block_public_access": settings.block_public_access,
        "scanner_rate": settings.scanner_rate,
        "probe_interval": settings.probe_interval,
        "reclaim_grace": settings.reclaim_grace,
        "lifecycle_day_seconds": settings.lifecycle_day_seconds,
    }


async def snapshot(sources: DashboardSources, usage: bool = True) -> dict[str, Any]:
    """The dashboard's data now (JSON-ready). ``usage=False`` leaves out the usage per bucket and
    storage class, which reads the whole index (a dashboard refreshed often may want it less
    often than the rest).

    Shape::

        {"version", "now", "started_at", "uptime_seconds", "state": ok|degraded|down,
         "problems": [str], "role": {"index", "processes", "leader"},
         "drives": [{"position", "path", "id", "state": online|offline|healing, "set",
                     "total_bytes", "free_bytes", "used_bytes", "last_error"}],
         "sets": [{"index", "drives": [position], "data", "parity", "usable", "write_quorum",
                   "write_quorum_ok"}],
         "layout": {"set_size", "parity", "reduced_redundancy_parity", "data_shards", "inline_limit"},
         "workers": [{"name", "interval", "last_started", "last_finished", "next_run", "running",
                      "rounds", "errors", "last_error", "last_error_at"}],
         "healing": Healer.status() | None,
         "index": {"objects": int} | {"error": str},  (usage and replication likewise on failure)
         "usage": {"classes": [{"bucket", "storage_class", "objects", "bytes", "billable", "archived",
                                "tier_bytes"}], "minimumBillable": {class: bytes},
                   "tiers": [{"name", "where", "blobs", "bytes"} | {"name", "where", "error"}]} | None
                  (hoard admin usage's document),
         "replication": {"bucket": "", "pending", "failed", "completed", "lag_seconds"} | None,
         "traffic": History.summary() | None,
         "settings": {...} | None}
    """
    storage, store = sources.storage, sources.store
    now = time.time()
    info, problems = await asyncio.gather(asyncio.to_thread(storage.info), readiness_problems(storage, store))
    drives = info.pop("drives")
    info.pop("sets", None)  # as set_health, with more
    doc: dict[str, Any] = {
        "version": __version__,
        "now": now,
        "started_at": sources.started_at,
        "uptime_seconds": round(now - sources.started_at, 3),
        "state": overall_state((d["state"] for d in drives), problems),
        "problems": problems,
        "role": {"index": sources.role.index, "processes": sources.role.count, "leader": sources.role.leader},
        "drives": drives,
        "sets": storage.set_health(),
        "layout": info,
        "workers": worker_statuses(sources.workers),
        "healing": sources.healer.status() if sources.healer is not None else None,
        "index": await _index(store),
        "usage": await _or_error(usage_report(store, dict(sources.tiers))) if usage else None,
        "replication": await _or_error(replication_backlog(store)),
        "traffic": sources.history.summary() if sources.history is not None else None,
        "settings": settings_shown(sources.settings, sources.role) if sources.settings is not None else None,
    }
    return doc


async def _index(store: MetaStore) -> dict[str, Any]:
    try:
        return {"objects": await store.count_objects()}
    except Exception as e:  # noqa: BLE001 - the dashboard shows what it can; state and problems say the rest
        return {"error": f"{type(e).__name__}: {e}"}


async def _or_error(part: Any) -> dict[str, Any]:
    try:
        return await part
    except Exception as e:  # noqa: BLE001 - as _index
        return {"error": f"{type(e).__name__}: {e}"}
