"""What a node reads of the cluster's catalog to place and find objects: pure records, written
by ``hoard.meta.cluster`` and read by ``hoard.storage.cluster_storage``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PoolView:
    """One pool as placement needs it: each set's members as (node, drive id)."""

    pool: int
    state: str  # active, draining, decommissioned: only an active pool takes new writes
    parity: int
    sets: tuple[tuple[tuple[str, str], ...], ...]

    @property
    def set_size(self) -> int:
        return len(self.sets[0]) if self.sets else 0


@dataclass(frozen=True)
class ClusterView:
    """The layout at one version, every node's address, which nodes beat recently, and each
    pool's free bytes (the sum over its drives)."""

    version: int
    pools: tuple[PoolView, ...]
    internal_urls: Mapping[str, str]  # node -> the base URL of its internal API (https: over mutual TLS)
    live: frozenset[str]
    free_bytes: Mapping[int, int] = field(default_factory=dict)
