"""Reclaiming bytes: blobs of replaced or deleted objects, and orphans a crash left behind.

Replaced bytes are removed only after a grace period, never in the request path, so a reader
that looked an object up just before it was replaced can still open it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hoard.meta.sqlite import SqliteMetaStore
from hoard.storage.pool import Storage

log = logging.getLogger("hoard.reclaim")
BATCH = 1000


class Reclaimer:
    def __init__(
        self, store: SqliteMetaStore, storage: Storage, grace: float, started_at: float | None = None, interval: float = 1.0
    ) -> None:
        self.store = store
        self.storage = storage
        self.grace = grace
        self.interval = interval
        # The orphan sweep spares files written after this: they may be uploads in flight.
        self.started_at = time.time() if started_at is None else started_at
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        try:
            removed = await asyncio.to_thread(self.sweep_orphans)
            if removed:
                log.info("removed %d orphaned shard files and records left by an earlier crash", removed)
        except Exception:
            log.exception("orphan sweep failed")
        while True:
            try:
                await self.reclaim_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reclaim failed")
            await asyncio.sleep(self.interval)

    async def reclaim_once(self) -> int:
        blobs = await self.store.reclaimable(time.time() - self.grace, BATCH)
        if not blobs:
            return 0
        await asyncio.to_thread(lambda: [self.storage.remove_shard(b) for b in blobs])
        await self.store.reclaimed(blobs)
        return len(blobs)

    def sweep_orphans(self) -> int:
        """Remove shard files and records the index does not point at, written before the server
        started: a crash between writing them and the metadata commit leaves such files."""
        shards, records = self.store.referenced()
        return self.storage.sweep_orphans(shards, records, self.started_at)
