"""Reclaiming bytes: blobs of replaced or deleted objects (the orphan sweep, apart, removes what
no version names).

Replaced bytes are removed only after a grace period, never in the request path, so a reader
that looked an object up just before it was replaced can still open it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hoard.meta.store import MetaStore
from hoard.model import TIER_BLOB_PREFIX
from hoard.storage.pool import Storage
from hoard.tiers import TierStore, TierUnavailable
from hoard.workers.periodic import Periodic

log = logging.getLogger("hoard.reclaim")
BATCH = 1000
# A batch claimed is another node's again after this long, should this one die before it is done.
CLAIM_SECONDS = 120.0


class Reclaimer(Periodic):
    what = "reclaim"

    def __init__(
        self,
        store: MetaStore,
        storage: Storage,
        grace: float,
        interval: float = 1.0,
        tiers: dict[str, TierStore] | None = None,
        claim: bool = False,
    ) -> None:
        super().__init__(interval)
        self.store = store
        self.claim = claim  # a cluster node's batches are claimed (see Replicator.claim)
        self.storage = storage
        self.tiers = tiers or {}  # archived bytes left behind go from their tier
        self.grace = grace

    async def run_once(self) -> int:
        return await self.reclaim_once()

    async def reclaim_once(self) -> int:
        older_than = time.time() - self.grace
        blobs = await (self.store.claim_reclaimable(older_than, BATCH, CLAIM_SECONDS) if self.claim else self.store.reclaimable(older_than, BATCH))
        if not blobs:
            return 0
        done = await asyncio.to_thread(self._remove, blobs)
        if done:
            await self.store.reclaimed(done)
        return len(done)

    def _remove(self, blobs: list[str]) -> list[str]:
        """Remove shard files and tier blobs; returns those done with. A tier that cannot be reached
        keeps its blobs queued for a later round; one no longer configured cannot be cleaned here."""
        done: list[str] = []
        for blob in blobs:
            if blob.startswith(TIER_BLOB_PREFIX):
                name, _, ref = blob[len(TIER_BLOB_PREFIX) :].partition(":")
                tier = self.tiers.get(name)
                if tier is None:
                    log.warning("tier %s is no longer configured: its blob %s is left there", name, ref)
                    done.append(blob)
                    continue
                try:
                    tier.delete(ref)
                except TierUnavailable as e:
                    log.warning("tier %s unreachable, its blob %s stays queued for reclaim: %s", name, ref, e)
                    continue
            else:
                self.storage.remove_shard(blob)
            done.append(blob)
        return done
