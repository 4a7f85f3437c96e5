"""Where a cluster keeps an object version, as pure functions (no I/O): a pool's drives arranged into
erasure sets that survive the loss of a node or a zone, a pool chosen in proportion to free space,
the set within it by a hash of bucket/key, and the moves that bring pools to one fill fraction.

The parity rule and the hash are also a single machine's (``hoard.storage.layout`` takes them from
here), so one drive folder and one cluster pool are placed by one rule.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Generic, TypeVar

from hoard.model import Placement

MIN_SET = 4
MAX_SET = 16

PoolId = TypeVar("PoolId", bound=Hashable)
_Item = TypeVar("_Item")
_Key = TypeVar("_Key", bound=Hashable)


class LayoutError(ValueError):
    """The drives given cannot be arranged into erasure sets; the message says which rule and what to change."""


class NoPoolForWrite(Exception):
    """No pool can take a write: every one is full or draining."""


# The parity rule: how many of a set's drives may be lost, by the set's size.


def default_parity(set_size: int) -> int:
    if set_size == 1:
        return 0
    if set_size < MIN_SET:
        return set_size - 1  # mirrors: every drive holds a whole copy
    if set_size <= 5:
        return 2
    if set_size <= 7:
        return 3
    return 4


def reduced_parity(set_size: int) -> int:
    """Parity for REDUCED_REDUNDANCY: less than STANDARD where the set allows it."""
    if set_size < MIN_SET:
        return default_parity(set_size)
    return 1 if set_size <= 5 else 2


def parity_range(set_size: int) -> tuple[int, int]:
    """The least and the most parity a set of ``set_size`` drives may have."""
    if set_size == 1:
        return 0, 0
    # Two or three drives mirror by default (one data fragment, the others copies): parity there
    # is more than half the set, which larger sets never allow.
    return 1, set_size - 1 if set_size < MIN_SET else set_size // 2


def check_parity(parity: int, set_size: int) -> None:
    low, high = parity_range(set_size)
    if set_size == 1 and parity != 0:
        raise LayoutError("a single drive has no parity")
    if not low <= parity <= high:
        raise LayoutError(f"parity must be between {low} and {high} for erasure sets of {set_size} drives")


def set_sizes(drive_count: int) -> list[int]:
    """The erasure-set sizes (4 to 16) that split ``drive_count`` drives evenly, largest first."""
    return [size for size in range(MAX_SET, MIN_SET - 1, -1) if drive_count % size == 0]


# Drives and erasure sets over nodes and zones.


@dataclass(frozen=True)
class DriveRef:
    """A drive of a pool: the node it is on, that node's zone (None where zones are not declared:
    then only the node limit applies) and its folder on the node."""

    node: str
    zone: str | None
    path: str

    def __str__(self) -> str:
        return f"{self.node}:{self.path}"


@dataclass(frozen=True)
class PoolGeometry:
    """A pool's erasure sets (each the same size, in the order fragments are laid over them) and its parity."""

    parity: int
    sets: tuple[tuple[DriveRef, ...], ...]

    @property
    def set_size(self) -> int:
        return len(self.sets[0])

    @property
    def data(self) -> int:
        return self.set_size - self.parity


def build_sets(drives: Sequence[DriveRef], set_size: int | None = None, parity: int | None = None) -> PoolGeometry:
    """Arrange a pool's drives into equal erasure sets with at most ``parity`` drives of a set on
    one node and at most ``parity`` in one zone, so losing a whole node or zone loses no set.

    Without ``set_size``, the largest size from 4 to 16 that divides the drive count and can keep
    those limits; without ``parity``, the default parity of that size. The same drives in the same
    order always give the same sets.
    """
    _check_drives(drives)
    size = _fitting_size(drives, parity) if set_size is None else set_size
    chosen_parity = _check_fit(drives, size, parity)
    return PoolGeometry(chosen_parity, _deal(drives, len(drives) // size))


def check_sets(sets: Sequence[Sequence[DriveRef]], parity: int) -> PoolGeometry:
    """An explicit set membership (a layout read back) checked against the same rules ``build_sets`` keeps."""
    if not sets:
        raise LayoutError("a pool needs at least one erasure set")
    sizes = {len(members) for members in sets}
    if len(sizes) != 1:
        raise LayoutError(f"a pool's erasure sets must all be the same size, not {sorted(sizes)}")
    _check_drives([drive for members in sets for drive in members])
    _check_shape(len(sets) * len(sets[0]), len(sets[0]), parity)
    for index, members in enumerate(sets):
        for kind, name, count in _crowded(members, parity):
            raise LayoutError(
                f"erasure set {index} holds {count} drives of {kind} {name}, more than its parity {parity}: "
                f"losing that {kind} would lose the set"
            )
    return PoolGeometry(parity, tuple(tuple(members) for members in sets))


def _check_drives(drives: Sequence[DriveRef]) -> None:
    """One entry per drive, one zone per node, and zones for every node of the pool or for none."""
    if not drives:
        raise LayoutError("a pool needs drives")
    for drive, count in Counter(drives).items():
        if count > 1:
            raise LayoutError(f"drive {drive} is listed {count} times: give each drive once")
    zones_of_node: dict[str, set[str | None]] = {}
    for drive in drives:
        zones_of_node.setdefault(drive.node, set()).add(drive.zone)
    for node, zones in zones_of_node.items():
        if len(zones) > 1:
            raise LayoutError(f"node {node} is given in zones {sorted(map(str, zones))}: a node is in one zone")
    declared = {drive.zone is not None for drive in drives}
    if len(declared) > 1:
        raise LayoutError("some of the pool's nodes have a zone and others none: give every node a zone, or none")


def _fitting_size(drives: Sequence[DriveRef], parity: int | None) -> int:
    sizes = set_sizes(len(drives))
    if not sizes:
        raise LayoutError(
            f"{len(drives)} drives cannot be split into equal erasure sets of {MIN_SET} to {MAX_SET} drives: "
            "give a number of drives that can (for example 4-16, or a multiple of such a size)"
        )
    reasons = []
    for size in sizes:
        try:
            _check_fit(drives, size, parity)
        except LayoutError as e:
            reasons.append(f"sets of {size}: {e}")
        else:
            return size
    raise LayoutError(f"no erasure-set size fits these {len(drives)} drives. " + "; ".join(reasons))


def _check_fit(drives: Sequence[DriveRef], set_size: int, parity: int | None) -> int:
    """The parity of a pool of ``drives`` in sets of ``set_size``, once it is known to keep every rule."""
    chosen = default_parity(set_size) if parity is None else parity
    _check_shape(len(drives), set_size, chosen)
    set_count = len(drives) // set_size
    breaches = [_breach(kind, name, count, set_count, chosen) for kind, name, count in _crowded(drives, set_count * chosen)]
    if breaches:
        raise LayoutError("; ".join(breaches))
    return chosen


def _check_shape(drive_count: int, set_size: int, parity: int) -> None:
    if not MIN_SET <= set_size <= MAX_SET:
        raise LayoutError(f"sets of {set_size} drives: a pool's erasure sets hold {MIN_SET} to {MAX_SET} drives")
    if drive_count % set_size:
        fitting = ", ".join(map(str, set_sizes(drive_count))) or "none"
        raise LayoutError(
            f"{drive_count} drives cannot be split into sets of {set_size}: give a multiple of {set_size} drives, "
            f"or a set size that divides {drive_count} (of {MIN_SET} to {MAX_SET}: {fitting})"
        )
    check_parity(parity, set_size)


def _crowded(drives: Sequence[DriveRef], limit: int) -> list[tuple[str, str, int]]:
    """The nodes, then the zones, holding more than ``limit`` of ``drives``: kind, name and count."""
    nodes = Counter(drive.node for drive in drives)
    zones = Counter(drive.zone for drive in drives if drive.zone is not None)
    return [("node", node, count) for node, count in nodes.items() if count > limit] + [
        ("zone", zone, count) for zone, count in zones.items() if count > limit
    ]


def _breach(kind: str, name: str, count: int, set_count: int, parity: int) -> str:
    return (
        f"{kind} {name} holds {count} of the pool's drives, but a set may have at most {parity} (its parity) in one {kind}, "
        f"so {set_count} sets take at most {set_count * parity}: spread the drives over more {kind}s, "
        f"put fewer in {kind} {name}, or give more parity (or smaller sets at the same parity)"
    )


def _deal(drives: Sequence[DriveRef], set_count: int) -> tuple[tuple[DriveRef, ...], ...]:
    # Drives of one zone, and within it of one node, stand together; dealt out in turn, any run of
    # D of them gives each set at most ceil(D / set_count), which keeps the limit exactly when one
    # can be kept at all (D <= set_count * parity), and differs between sets by at most one.
    zone_rank = _first_seen(drive.zone for drive in drives)
    node_rank = _first_seen(drive.node for drive in drives)
    ordered = sorted(drives, key=lambda drive: (zone_rank[drive.zone], node_rank[drive.node]))
    return tuple(tuple(_interleave(ordered[start::set_count])) for start in range(set_count))


def _interleave(members: list[DriveRef]) -> list[DriveRef]:
    """A set's drives ordered zone after zone, and within a zone node after node, so that a run of
    neighbouring positions (the data fragments ``place`` lays from one start) spans zones and nodes."""
    zones = _grouped(members, lambda drive: drive.zone)
    return _round_robin([_round_robin(list(_grouped(zone, lambda drive: drive.node).values())) for zone in zones.values()])


def _first_seen(keys: Iterable[_Key]) -> dict[_Key, int]:
    rank: dict[_Key, int] = {}
    for key in keys:
        rank.setdefault(key, len(rank))
    return rank


def _grouped(items: Iterable[_Item], key: Callable[[_Item], Hashable]) -> dict[Hashable, list[_Item]]:
    groups: dict[Hashable, list[_Item]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _round_robin(groups: list[list[_Item]]) -> list[_Item]:
    missing = object()
    layers = itertools.zip_longest(*groups, fillvalue=missing)
    return [item for layer in layers for item in layer if item is not missing]


# Where a version goes.


def key_hash(bucket: str, key: str) -> int:
    digest = hashlib.blake2b(f"{bucket}/{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def place(bucket: str, key: str, set_count: int, set_size: int, parity: int) -> Placement:
    """The set and fragment-to-drive order of a version, stable for a bucket and key.

    Rotating the order per key spreads data fragments (the ones reads prefer) over all drives.
    """
    h = key_hash(bucket, key)
    set_index = h % set_count
    data = set_size - parity
    start = (h // set_count) % set_size
    distribution = tuple((start + i) % set_size for i in range(set_size))
    return Placement(set_index, data, parity, distribution)


def choose_pool(free_bytes_by_pool: Mapping[PoolId, int], u: float, draining: AbstractSet[PoolId] = frozenset()) -> PoolId:
    """The pool a new version goes to, each with a chance in proportion to its free bytes.

    ``u`` is a uniform random number in [0, 1) the caller draws. A pool with no free space or one
    being drained is never chosen; the chosen pool is stored with the version, so reads never search.
    """
    if not 0 <= u < 1:
        raise ValueError(f"u must be in [0, 1), not {u}")
    open_pools = [(pool, free) for pool, free in free_bytes_by_pool.items() if free > 0 and pool not in draining]
    if not open_pools:
        raise NoPoolForWrite("no pool can take a write: every pool is full or being drained")
    point = u * sum(free for _, free in open_pools)
    for pool, free in open_pools:
        if point < free:
            return pool
        point -= free
    return open_pools[-1][0]  # u just below 1, rounded up past the last pool's share


# Rebalancing: what moves where so that pools end equally full.


@dataclass(frozen=True)
class PoolUsage:
    used: int
    capacity: int


@dataclass(frozen=True)
class Move(Generic[PoolId]):
    source: PoolId
    target: PoolId
    size: int  # bytes


def fill_targets(usage: Mapping[PoolId, PoolUsage], draining: AbstractSet[PoolId] = frozenset()) -> dict[PoolId, int]:
    """The bytes each pool holds once every pool is at the same fill fraction (a draining pool: none).

    Bytes are whole, so the shares are rounded down and the bytes left over go one each to the
    pools rounding cost most (largest remainders): the targets add up to exactly what is stored.
    """
    stored = sum(pool.used for pool in usage.values())
    room = {name: 0 if name in draining else pool.capacity for name, pool in usage.items()}
    total_room = sum(room.values())
    if stored > total_room:
        raise LayoutError(f"{stored} bytes stored do not fit in the {total_room} bytes of the pools not being drained")
    if stored == 0:
        return dict.fromkeys(usage, 0)
    targets = {name: stored * capacity // total_room for name, capacity in room.items()}
    left_over = stored - sum(targets.values())
    by_remainder = sorted(room, key=lambda name: stored * room[name] % total_room, reverse=True)
    for name in by_remainder[:left_over]:
        targets[name] += 1
    return targets


def plan_rebalance(usage: Mapping[PoolId, PoolUsage], draining: AbstractSet[PoolId] = frozenset()) -> list[Move[PoolId]]:
    """The moves that bring every pool to its ``fill_targets`` share.

    A pool only gives or only takes, so no byte moves twice: the moves add up to the pools'
    surpluses, the least any plan can move (the ideal the simulation measures against).
    """
    targets = fill_targets(usage, draining)
    givers = deque((name, pool.used - targets[name]) for name, pool in usage.items() if pool.used > targets[name])
    takers = deque((name, targets[name] - pool.used) for name, pool in usage.items() if pool.used < targets[name])
    moves: list[Move[PoolId]] = []
    while givers and takers:
        (source, surplus), (target, deficit) = givers[0], takers[0]
        size = min(surplus, deficit)
        moves.append(Move(source, target, size))
        _use(givers, size)
        _use(takers, size)
    return moves


def _use(queue: deque[tuple[PoolId, int]], size: int) -> None:
    """Take ``size`` bytes off the first pool's amount, and the pool off the queue once none is left."""
    name, amount = queue.popleft()
    if amount > size:
        queue.appendleft((name, amount - size))
