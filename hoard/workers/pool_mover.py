"""Moving objects between a cluster's pools: emptying the pools being decommissioned (``hoard
admin pool decommission``) and carrying out a rebalance (``hoard admin pool rebalance``).

Each node walks the index and moves the versions of its own partitions (``hoard.objects.pool_move``),
fenced by the partition's lease as all background work on a cluster is: out of a draining pool to
wherever placement puts a new version now, or, for a rebalance, out of a pool that gives to the
pool the plan names, as long as the plan's bytes are not all taken on (``ClusterCatalog.take_move``,
before each move, so nodes share one budget). Nothing is kept of the walk but its place in memory:
after a restart a node walks again from the start, and what was moved is not moved again (the
versions no longer name the pool; the rebalance's bytes taken on stay taken). At the end of each
walk the catalog marks every draining pool that no version or open upload names any more as
decommissioned, after which its drives may go, and forgets a rebalance that is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from hoard.meta.cluster import ClusterCatalog, LeaseLost
from hoard.meta.errors import VersionChanged
from hoard.meta.store import MetaStore
from hoard.model import ObjectRecord
from hoard.objects.data import ObjectData
from hoard.objects.pool_move import move_version
from hoard.storage.cluster_storage import ClusterStorage
from hoard.workers.periodic import Periodic
from hoard.workers.share import WorkShare

log = logging.getLogger("hoard")


class PoolMover(Periodic):
    """Moves what draining pools hold and what a rebalance plans, ``PAGE`` keys of the index at a time."""

    what = "pool mover"
    PAGE = 100
    REST = 30.0  # seconds between walks that found nothing of this node's to move

    def __init__(
        self, store: MetaStore, data: ObjectData, storage: ClusterStorage, catalog: ClusterCatalog, share: WorkShare, interval: float = 2.0
    ) -> None:
        super().__init__(interval)
        self.store = store
        self.data = data
        self.storage = storage
        self.catalog = catalog
        self.share = share
        self._after = ("", "")  # the walk's place: the last (bucket, key) looked at
        self._moved_this_walk = 0
        self._rest_until = 0.0
        self.stats: Counter[str] = Counter()  # since this process started: moved, changed, failed

    async def _givers(self) -> set[int]:
        """The pools a rebalance still takes bytes from; a rebalance that is done is forgotten."""
        moves = await asyncio.to_thread(self.catalog.pool_moves)
        givers = {m.source for m in moves if m.moved < m.planned}
        if moves and not givers and await asyncio.to_thread(self.catalog.finish_moves):
            log.info("rebalance done: %s", ", ".join(f"pool {m.source} -> pool {m.target}: {m.moved} bytes" for m in moves))
        return givers

    async def run_once(self) -> int:
        """Walk on while there is something to move (a round every few seconds, resting longer
        after a walk that found nothing of this node's); the versions moved."""
        moved = 0
        while self.clock() >= self._rest_until:
            draining, givers = self.storage.draining(), await self._givers()
            if not draining and not givers:
                return moved
            records = await self.store.objects_after(*self._after, self.PAGE)
            if not records:  # a whole walk done
                if not self._moved_this_walk:  # nothing (left) of this node's: look again later
                    self._rest_until = self.clock() + self.REST
                self._after, self._moved_this_walk = ("", ""), 0
                for pool in await asyncio.to_thread(self.catalog.pools_emptied):
                    log.info("pool %d holds nothing any more: decommissioned (its drives may be taken out)", pool)
                return moved
            page = 0
            for record in records:
                pool = record.placement.pool
                if not (pool in draining or pool in givers) or not self.share.mine(record.bucket, record.key):
                    continue
                target = None
                if pool not in draining:
                    target = await asyncio.to_thread(self.catalog.take_move, pool, record.size)
                    if target is None:  # every move out of it has its bytes
                        givers.discard(pool)
                        continue
                page += await self._move(record, target)
            moved += page
            self._moved_this_walk += page
            self._after = (records[-1].bucket, records[-1].key)
        return moved

    async def _move(self, record: ObjectRecord, target: int | None) -> int:
        try:
            with self.share.fence(record.bucket, record.key):
                await move_version(self.data, self.store, record, target)
        except VersionChanged:
            self.stats["changed"] += 1  # written or deleted meanwhile: the new version is placed anew
            return 0
        except LeaseLost as e:
            log.info("moving %s/%s left to the partition's new holder: %s", record.bucket, record.key, e)
            return 0
        except Exception as e:  # noqa: BLE001 - one version that cannot move now waits for the next walk
            self.stats["failed"] += 1
            log.warning("could not move %s/%s version %s out of pool %d yet: %s", record.bucket, record.key, record.version_id, record.placement.pool, e)
            return 0
        self.stats["moved"] += 1
        return 1
