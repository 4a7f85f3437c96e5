"""Background work split between live nodes: 256 hash partitions, each a lease, each node
holding its fair share. Pure: what to take and what to give up, from what the catalog shows.

A node prefers the partitions that rank highest for it by rendezvous hashing, so nodes reach for
different partitions instead of racing for the same ones, and a node joining or leaving moves
only about its share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

PARTITIONS = 256
LEASE_PREFIX = "part/"


def lease_name(partition: int) -> str:
    return f"{LEASE_PREFIX}{partition:03d}"


def partition_of_lease(name: str) -> int:
    return int(name.removeprefix(LEASE_PREFIX))


def partition_of(bucket: str, key: str, partitions: int = PARTITIONS) -> int:
    """The partition whose holder does a key's background work."""
    digest = hashlib.blake2b(f"{bucket}/{key}".encode("utf-8", "surrogatepass"), digest_size=8, person=b"hoard-part").digest()
    return int.from_bytes(digest, "big") % partitions


def fair_share(node: str, live: Iterable[str], partitions: int = PARTITIONS) -> int:
    """How many partitions ``node`` should hold: an even split, the remainder going one each to
    the first nodes by name (every node computes the same split from the same list)."""
    nodes = sorted(set(live) | {node})
    base, extra = divmod(partitions, len(nodes))
    return base + (1 if nodes.index(node) < extra else 0)


def _rank(node: str, partition: int) -> bytes:
    return hashlib.blake2b(f"{node}/{partition}".encode(), digest_size=8).digest()


@dataclass(frozen=True)
class Plan:
    take: tuple[int, ...]  # free partitions to acquire, best first
    release: tuple[int, ...]  # held partitions to give up (above the fair share)


def plan(
    node: str, live: Iterable[str], mine: Collection[int], others: Collection[int], partitions: int = PARTITIONS
) -> Plan:
    """What ``node`` should do now: ``mine`` are the partitions it holds, ``others`` those other
    nodes hold unexpired. Above its share it gives up its lowest-ranked ones (a newcomer takes
    them); below it, it takes free ones, highest-ranked first."""
    share = fair_share(node, live, partitions)
    by_rank = sorted(range(partitions), key=lambda p: _rank(node, p), reverse=True)
    if len(mine) > share:
        ranked_mine = [p for p in by_rank if p in mine]
        return Plan((), tuple(ranked_mine[share:]))
    held = set(mine) | set(others)
    free = [p for p in by_rank if p not in held]
    return Plan(tuple(free[: share - len(mine)]), ())
