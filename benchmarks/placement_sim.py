"""``python -m benchmarks.placement_sim``: placement and rebalancing on paper, for clusters of 100 to
10,000 drives, through the cluster's own pure functions (``hoard.cluster.placement``): no server,
no drives. What it measures and why the numbers are what they are: docs/scaling.md.

* **Spread.** One pool of N drives (nodes of up to 16 drives, as many nodes in each of 4 zones,
  sets built by ``build_sets``) takes uniformly random keys, each to the set ``place`` hashes it to;
  reported: the fullest and the emptiest set against the mean.
* **Adding a pool.** The pool above holds objects of random sizes and is 70 % full; a second
  pool of as many drives, each twice as large, is added. New writes are drawn with
  ``choose_pool`` and compared with each pool's share of the free space. Without a rebalance
  nothing moves (every version row names its pool and set); with one, ``plan_rebalance`` says
  how many bytes should move, and moving whole objects from the old pool until that many have
  gone is compared with it. For contrast: the share of the stored bytes that would have to move
  at once, rebalance or not, if an object's set were found by hashing over all sets of both
  pools instead of being stored.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hoard.cluster.placement import (
    DriveRef,
    Move,
    PoolGeometry,
    PoolUsage,
    build_sets,
    choose_pool,
    key_hash,
    place,
    plan_rebalance,
)

BUCKET = "sim"
ZONES = 4
OLD_FILL = 0.7  # how full the first pool is when the second is added
NEW_DRIVE_SCALE = 2  # the added pool's drives, against the first pool's
SMALLEST_OBJECT_LOG2, LARGEST_OBJECT_LOG2 = 12, 26  # 4 KiB to 64 MiB, log-uniform
NEW_WRITES = 100_000


@dataclass(frozen=True)
class Spread:
    drives: int
    nodes: int
    set_size: int
    parity: int
    sets: int
    keys: int
    max_over_mean: float
    min_over_mean: float


@dataclass(frozen=True)
class Expansion:
    drives: int  # in each pool
    objects: int
    ideal_bytes: int  # the least a rebalance can move: the old pool's surplus over its share
    moved_without_rebalance: int
    moved_with_rebalance: int
    stored_bytes: int  # in the old pool when the new one is added
    moved_if_rehashed: int  # had sets been found by a hash over both pools' sets, not stored
    worst_write_share_error: float  # new writes' share of a pool against its share of free space, relative
    fills_after: tuple[float, float]  # old and new pool after the rebalance


def drives_per_node(drive_count: int) -> int:
    """Up to 16 drives a node (a common server): the most that split the drives into whole nodes,
    and those nodes evenly over the zones where some count can.

    Even zones matter: a set of 16 with parity 4 over 4 zones takes exactly 4 drives of each, so
    one zone with a node more than another leaves some set with 5 there, and ``build_sets``
    falls back to smaller sets.
    """
    whole = [per_node for per_node in range(16, 0, -1) if drive_count % per_node == 0]
    return next((per_node for per_node in whole if (drive_count // per_node) % ZONES == 0), whole[0])


def pool_drives(name: str, drive_count: int) -> list[DriveRef]:
    """A pool's drives: nodes named ``{name}-n1`` ... dealt over the zones in turn."""
    per_node = drives_per_node(drive_count)
    return [
        DriveRef(f"{name}-n{node + 1}", f"z{node % ZONES + 1}", f"/data{drive + 1}")
        for node in range(drive_count // per_node)
        for drive in range(per_node)
    ]


def random_key(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def set_of(key: str, geometry: PoolGeometry) -> int:
    return place(BUCKET, key, len(geometry.sets), geometry.set_size, geometry.parity).set


def spread(drive_count: int, keys_per_set: int, rng: random.Random) -> Spread:
    drives = pool_drives("a", drive_count)
    geometry = build_sets(drives)
    set_count = len(geometry.sets)
    keys = keys_per_set * set_count
    counts = [0] * set_count
    for _ in range(keys):
        # The set alone (key_hash modulo the set count, as place() takes it): the fragment order
        # place() also works out is not needed for counting, and the count is most of the run.
        counts[key_hash(BUCKET, random_key(rng)) % set_count] += 1
    mean = keys / set_count
    return Spread(
        drive_count,
        len({drive.node for drive in drives}),
        geometry.set_size,
        geometry.parity,
        set_count,
        keys,
        max(counts) / mean,
        min(counts) / mean,
    )


def expansion(drive_count: int, objects_per_set: int, rng: random.Random) -> Expansion:
    old, new = build_sets(pool_drives("a", drive_count)), build_sets(pool_drives("b", drive_count))
    objects = {random_key(rng): int(2 ** rng.uniform(SMALLEST_OBJECT_LOG2, LARGEST_OBJECT_LOG2)) for _ in range(objects_per_set * len(old.sets))}
    stored = {key: ("old", set_of(key, old)) for key in objects}  # what each version row records
    used = sum(objects.values())
    capacity = {"old": int(used / OLD_FILL), "new": int(used / OLD_FILL) * NEW_DRIVE_SCALE}
    usage = {"old": PoolUsage(used, capacity["old"]), "new": PoolUsage(0, capacity["new"])}
    plan = plan_rebalance(usage)
    # Adding a pool writes no version row and leaves the old pool's sets as they were: each object
    # is still where its row says, which is where the old pool's hash still puts it.
    moved_without = sum(objects[key] for key, where in stored.items() if where != ("old", set_of(key, old)))
    moved, held = rebalance(plan, objects, stored, {"old": old, "new": new})
    return Expansion(
        drive_count,
        len(objects),
        sum(move.size for move in plan),
        moved_without,
        moved,
        used,
        moved_if_rehashed(objects, len(old.sets), len(new.sets)),
        worst_write_share_error({name: capacity[name] - usage[name].used for name in usage}, rng),
        (held["old"] / capacity["old"], held["new"] / capacity["new"]),
    )


def rebalance(
    plan: list[Move[str]], objects: dict[str, int], stored: dict[str, tuple[str, int]], pools: dict[str, PoolGeometry]
) -> tuple[int, dict[str, int]]:
    """Carry out the plan as a mover walking each source pool's index in key order would: whole
    objects, until each move's bytes have gone, each object's new pool and set written into
    ``stored``. Returns the bytes moved and the bytes each pool holds after."""
    held = dict.fromkeys(pools, 0)
    for key, (pool, _) in stored.items():
        held[pool] += objects[key]
    walks = {name: iter(sorted(key for key, (pool, _) in stored.items() if pool == name)) for name in pools}
    moved = 0
    for move in plan:
        sent = 0
        while sent < move.size:
            key = next(walks[move.source])
            stored[key] = (move.target, set_of(key, pools[move.target]))
            sent += objects[key]
        held[move.source] -= sent
        held[move.target] += sent
        moved += sent
    return moved, held


def moved_if_rehashed(objects: dict[str, int], old_sets: int, new_sets: int) -> int:
    """Bytes whose set changes if an object's set were its hash modulo all sets of both pools
    (sets of the old pool numbered first) rather than a stored choice."""
    return sum(size for key, size in objects.items() if key_hash(BUCKET, key) % old_sets != key_hash(BUCKET, key) % (old_sets + new_sets))


def worst_write_share_error(free: dict[str, int], rng: random.Random) -> float:
    """The largest relative gap between a pool's share of new writes and its share of free space,
    over a batch of writes small against the free space (so the shares hold still)."""
    chosen = dict.fromkeys(free, 0)
    for _ in range(NEW_WRITES):
        chosen[choose_pool(free, rng.random())] += 1
    total_free = sum(free.values())
    return max(abs(chosen[name] / NEW_WRITES / (free[name] / total_free) - 1) for name in free)


def spread_table(rows: Sequence[Spread]) -> list[str]:
    lines = [
        "| drives | nodes | zones | set (k+m) | sets | keys | keys/set | max/mean | min/mean |",
        "| ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.drives:,} | {r.nodes:,} | {ZONES} | {r.set_size} ({r.set_size - r.parity}+{r.parity}) | {r.sets:,} | {r.keys:,} "
            f"| {r.keys // r.sets:,} | {r.max_over_mean:.3f} | {r.min_over_mean:.3f} |"
        )
    return lines


def expansion_table(rows: Sequence[Expansion]) -> list[str]:
    lines = [
        "| drives (old + new) | objects | ideal move | moved, no rebalance | moved, rebalance | rebalance / ideal "
        "| new writes vs free share | fill after (old, new) | moved at once by a rehash |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.drives:,} + {r.drives:,} | {r.objects:,} | {gib(r.ideal_bytes)} | {r.moved_without_rebalance} B "
            f"| {gib(r.moved_with_rebalance)} | {r.moved_with_rebalance / r.ideal_bytes:.4f}x "
            f"| ±{r.worst_write_share_error:.2%} | {r.fills_after[0]:.1%}, {r.fills_after[1]:.1%} "
            f"| {r.moved_if_rehashed / r.stored_bytes:.0%} of stored |"
        )
    return lines


def gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.placement_sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--drives", default="100,1000,10000", help="drive counts, comma-separated (default: %(default)s)")
    parser.add_argument("--keys-per-set", type=int, default=10_000, help="uniform keys per set on average (default: %(default)s)")
    parser.add_argument("--objects-per-set", type=int, default=200, help="objects per set of the first pool (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    counts = [int(count) for count in args.drives.split(",")]
    started = time.perf_counter()
    spreads = [spread(count, args.keys_per_set, rng) for count in counts]
    expansions = [expansion(count, args.objects_per_set, rng) for count in counts]
    print("\n".join(["Spread of uniform keys over one pool's sets", "", *spread_table(spreads), ""]))
    print("\n".join(["Adding a pool of as many drives, each twice as large, to a pool 70 % full", "", *expansion_table(expansions), ""]))
    print(f"seed {args.seed}, {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
