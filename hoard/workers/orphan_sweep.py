"""The orphan sweep: shard files and version records on this server's drives that no version names.

They are what a crash between writing a version's files and committing it leaves, and what a
reclaim could not reach (a cluster's reclaim asks every drive; one that was away keeps its copy).
Each server (each cluster node) sweeps its own drives: at start, everything written before the
start; then every ``interval``, what is older than ``grace``, since an upload's files are on the
drives a moment before its commit names them. The index is asked about what was found, and asked
again just before the files go, so a version committed meanwhile keeps its own.
"""

from __future__ import annotations

import asyncio
import logging

from hoard.meta.store import MetaStore
from hoard.storage.pool import Orphan, Storage
from hoard.workers.periodic import Periodic

log = logging.getLogger("hoard.reclaim")


class OrphanSweeper(Periodic):
    what = "orphan sweep"

    def __init__(
        self, store: MetaStore, storage: Storage, started_at: float, grace: float, interval: float, clustered: bool = False
    ) -> None:
        super().__init__(interval)
        self.store = store
        self.storage = storage
        self.started_at = started_at
        self.grace = grace
        # A node of a cluster shares its drives with every other node's uploads, which may have
        # written here just before this node started: its first sweep waits out the grace too.
        self.clustered = clustered

    async def run_once(self) -> int:
        cutoff, why = self.clock() - self.grace, f"that no version named for {self.grace:g} s"
        if self.run_status.rounds == 0 and not self.clustered:
            # One server's own uploads in flight began after its start: what is older was a crash's.
            cutoff, why = self.started_at, "left by an earlier crash"
        removed = await self.sweep(cutoff)
        if removed:
            log.info("orphan sweep removed %d shard files and records %s", removed, why)
        return removed

    async def sweep(self, cutoff: float) -> int:
        """Remove what this server's drives hold, unnamed by the index and last written before
        ``cutoff``; returns how many files went."""
        candidates = await asyncio.to_thread(self.storage.orphans, cutoff)
        if not candidates:
            return 0
        if self.clustered and not await self.store.objects_after("", "", 1):
            # A cluster's index naming nothing while the drives hold versions is a database lost
            # or made anew, not a crash's leftovers: they are what `hoard cluster rebuild-index` needs.
            log.warning("the index names no object but the drives hold %d files: the orphan sweep removes nothing", len(candidates))
            return 0
        candidates = await asyncio.to_thread(self._unnamed, candidates)
        if candidates:
            candidates = await asyncio.to_thread(self._unnamed, candidates)  # again: a commit may have come in between
        return await asyncio.to_thread(self.storage.remove_orphans, candidates)

    def _unnamed(self, candidates: list[Orphan]) -> list[Orphan]:
        shards = {o.item for o in candidates if o.kind == "shard"}
        records = {o.item for o in candidates if o.kind == "record"}
        named_shards, named_records = self.store.named(shards, records)
        return [o for o in candidates if o.item not in (named_shards if o.kind == "shard" else named_records)]
