"""Each node's share of the cluster's background work: the partition leases it holds, renewed
every round, taken and given up as nodes come and go (``hoard.cluster.partitions`` decides
which; the catalog's leases make it so)."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractContextManager

from hoard.cluster.partitions import LEASE_PREFIX, lease_name, partition_of, partition_of_lease, plan
from hoard.meta.cluster import ClusterCatalog, Lease, LeaseLost, fenced
from hoard.workers.periodic import Periodic

log = logging.getLogger("hoard")


class PartitionKeeper(Periodic):
    """Keeps this node's partition leases. Rounds come every ``ttl / 5`` seconds, so a lease is
    renewed several times before it could expire; a node that stops renewing (dead, cut off,
    paused) loses its partitions to the others within ``ttl`` of its last round."""

    what = "partition leases"

    def __init__(self, catalog: ClusterCatalog, node: str, ttl: float = 10.0) -> None:
        super().__init__(interval=ttl / 5)
        self.catalog = catalog
        self.node = node
        self.ttl = ttl
        self._held: dict[int, Lease] = {}

    def held(self) -> dict[int, Lease]:
        """The partitions this node holds as of its last round, with the leases that fence
        the work done for them."""
        return dict(self._held)

    def owns(self, partition: int) -> Lease | None:
        return self._held.get(partition)

    # As a WorkShare (hoard.workers.share): the walkers act on the objects of held partitions.
    @property
    def name(self) -> str:
        return self.node

    def mine(self, bucket: str, key: str) -> bool:
        return partition_of(bucket, key) in self._held

    def fence(self, bucket: str, key: str) -> AbstractContextManager[None]:
        partition = partition_of(bucket, key)
        lease = self._held.get(partition)
        if lease is None:
            raise LeaseLost(f"partition {partition} is no longer held by {self.node}")
        return fenced(lease)

    async def run_once(self) -> None:
        await asyncio.to_thread(self.step)

    def step(self) -> set[int]:
        """One round: renew, then give up or take what the plan says. Returns the partitions held."""
        renewed = self.catalog.renew_all(self._held.values(), self.ttl)
        lost = set(self._held) - {partition_of_lease(lease.name) for lease in renewed}
        if lost:
            log.warning("node %s lost %d partition leases (not renewed in time)", self.node, len(lost))
        self._held = {partition_of_lease(lease.name): lease for lease in renewed}
        live = self.catalog.live_nodes(within=self.ttl)
        others = {
            partition_of_lease(lease.name)
            for lease in self.catalog.leases(LEASE_PREFIX)
            if lease.holder != self.node and lease.expires_in > 0
        }
        step = plan(self.node, live, set(self._held), others)
        for partition in step.release:
            self.catalog.release(self._held.pop(partition))
        for partition in step.take:
            lease = self.catalog.acquire(lease_name(partition), self.node, self.ttl)
            if lease is not None:
                self._held[partition] = lease
        return set(self._held)

    def release_all(self) -> None:
        """Give every partition up (a clean stop), so the others need not wait for the leases to expire."""
        for lease in self._held.values():
            self.catalog.release(lease)
        self._held.clear()
