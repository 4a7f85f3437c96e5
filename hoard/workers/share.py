"""Which objects this process's background walkers (the healer's scanner, the lifecycle and tier
workers) act on: on one server, all of them; on a cluster node, those in the partitions whose
leases it holds (``hoard.workers.partitions.PartitionKeeper``), so no two nodes do the same work."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol


class WorkShare(Protocol):
    @property
    def name(self) -> str:
        """What a walker's saved cursor is named after: "" on one server, the node's name on a
        cluster (each node walks the index for its own share, from a place of its own)."""
        ...

    def mine(self, bucket: str, key: str) -> bool: ...

    def fence(self, bucket: str, key: str) -> AbstractContextManager[None]:
        """Where the work on one object is done: on a cluster node, its index writes commit only
        while the node still holds the object's partition (else ``hoard.meta.cluster.LeaseLost``)."""
        ...


class Everything:
    """One server's share: everything, unfenced."""

    name = ""

    def mine(self, bucket: str, key: str) -> bool:
        return True

    def fence(self, bucket: str, key: str) -> AbstractContextManager[None]:
        return nullcontext()


EVERYTHING = Everything()


def cursor_setting(base: str, share: WorkShare) -> str:
    """The index setting a walker keeps its place in: one server's keeps its old name."""
    return f"{base}@{share.name}" if share.name else base
