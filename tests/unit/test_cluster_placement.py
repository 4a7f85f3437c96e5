"""A cluster's placement: erasure sets over nodes and zones, the pool by free space, the set by a
hash, and rebalancing plans. Pure."""

from __future__ import annotations

import itertools
from collections import Counter
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoard.cluster.placement import (
    DriveRef,
    LayoutError,
    NoPoolForWrite,
    PoolUsage,
    build_sets,
    check_sets,
    choose_pool,
    default_parity,
    fill_targets,
    key_hash,
    parity_range,
    place,
    plan_rebalance,
    set_sizes,
)


def cluster(zones_of_nodes: list[str | None], drives_per_node: int | list[int]) -> list[DriveRef]:
    """Drives n1:/d1 ... in node order; node i+1 in zone zones_of_nodes[i]."""
    counts = drives_per_node if isinstance(drives_per_node, list) else [drives_per_node] * len(zones_of_nodes)
    return [
        DriveRef(f"n{i + 1}", zone, f"/d{j + 1}") for i, (zone, count) in enumerate(zip(zones_of_nodes, counts, strict=True)) for j in range(count)
    ]


def assert_keeps_the_rules(geometry, drives):
    flat = [drive for members in geometry.sets for drive in members]
    assert sorted(flat, key=str) == sorted(drives, key=str)  # every drive, once
    assert {len(members) for members in geometry.sets} == {geometry.set_size}
    for members in geometry.sets:
        assert max(Counter(d.node for d in members).values()) <= geometry.parity
        zones = Counter(d.zone for d in members if d.zone is not None)
        assert not zones or max(zones.values()) <= geometry.parity
    assert check_sets(geometry.sets, geometry.parity) == geometry


# The issue's test cluster and its refusals.


def test_the_issue_cluster_four_nodes_of_four_drives_in_two_zones_makes_two_sets_of_eight():
    drives = cluster(["z1", "z1", "z2", "z2"], 4)
    geometry = build_sets(drives)
    assert (geometry.set_size, geometry.parity, geometry.data, len(geometry.sets)) == (8, 4, 4, 2)
    assert_keeps_the_rules(geometry, drives)
    for members in geometry.sets:
        assert Counter(d.node for d in members) == {"n1": 2, "n2": 2, "n3": 2, "n4": 2}
        assert Counter(d.zone for d in members) == {"z1": 4, "z2": 4}


def test_a_set_s_neighbouring_drives_alternate_zones_and_nodes():
    """place() lays the data fragments over neighbouring positions: they should span zones and nodes."""
    geometry = build_sets(cluster(["z1", "z1", "z2", "z2"], 4))
    for members in geometry.sets:
        assert [d.zone for d in members] == ["z1", "z2"] * 4
        assert [d.node for d in members[:4]] == ["n1", "n3", "n2", "n4"]


def test_two_nodes_of_eight_drives_in_sets_of_eight_with_parity_two_are_refused_by_the_node_limit():
    drives = cluster(["z1", "z1"], 8)
    with pytest.raises(LayoutError, match="node n1 holds 8 of the pool's drives") as refused:
        build_sets(drives, set_size=8, parity=2)
    assert "at most 2 (its parity) in one node" in str(refused.value)
    assert "more nodes" in str(refused.value)  # what to change
    assert "zone z1 holds 16" in str(refused.value)  # the zone limit broken too, said after


def test_the_same_without_zones_names_only_the_node_limit():
    with pytest.raises(LayoutError, match="node n1") as refused:
        build_sets(cluster([None, None], 8), set_size=8, parity=2)
    assert "zone" not in str(refused.value)


def test_one_zone_cannot_survive_its_own_loss():
    with pytest.raises(LayoutError, match="zone z1 holds 16"):
        build_sets(cluster(["z1"] * 4, 4), set_size=8)


def test_without_a_size_the_largest_that_keeps_the_limits_is_chosen():
    # 16 drives on 4 nodes without zones: sets of 16 would hold 4 of each node (parity 4): fits.
    assert build_sets(cluster([None] * 4, 4)).set_size == 16
    # 16 drives on 2 nodes: a set of 16 or 8 holds 8 or 4 of a node; sets of 8 with parity 4 fit.
    assert build_sets(cluster([None] * 2, 8)).set_size == 8
    # With parity 2 asked for, only sets of 4 fit.
    assert build_sets(cluster([None] * 2, 8), parity=2).set_size == 4


def test_no_size_fits_says_why_for_each():
    with pytest.raises(LayoutError, match="no erasure-set size fits") as refused:
        build_sets(cluster([None], 16))
    for size in (16, 8, 4):
        assert f"sets of {size}:" in str(refused.value)


@pytest.mark.parametrize(
    ("drives", "set_size", "parity", "message"),
    [
        (cluster(["a", "b", "c", "d"], 4), 6, None, "16 drives cannot be split into sets of 6"),
        (cluster(["a", "b", "c", "d"], 4), 8, 5, "parity must be between 1 and 4"),
        (cluster(["a", "b", "c", "d"], 4), 2, None, "hold 4 to 16 drives"),
        (cluster(["a"] * 17, 1), None, None, "17 drives cannot be split into equal erasure sets"),
        (cluster(["a", "b"], 2) + cluster(["a"], 1), 4, None, "drive n1:/d1 is listed 2 times"),
        ([DriveRef("n1", "a", "/d1"), DriveRef("n1", "b", "/d2")] + cluster([None, None], 1), 4, None, "node n1 is given in zones"),
        (cluster(["a", None, "b", "c"], 1), 4, None, "give every node a zone, or none"),
        ([], None, None, "a pool needs drives"),
    ],
)
def test_refusals(drives, set_size, parity, message):
    with pytest.raises(LayoutError, match=message):
        build_sets(drives, set_size=set_size, parity=parity)


def test_layout_error_is_a_value_error_and_the_storage_layer_s():
    from hoard.storage import layout

    assert issubclass(LayoutError, ValueError)
    assert layout.LayoutError is LayoutError
    assert layout.default_parity is default_parity and layout.place is place


def test_the_same_drives_give_the_same_sets():
    drives = cluster(["z1", "z2", "z3", "z1", "z2", "z3"], [3, 4, 5, 3, 4, 5])
    assert build_sets(drives) == build_sets(list(drives))


# Explicit membership, as read back.


def test_check_sets_accepts_a_good_membership_and_names_a_crowded_node():
    geometry = build_sets(cluster(["z1", "z1", "z2", "z2"], 4))
    assert check_sets([list(s) for s in geometry.sets], 4) == geometry
    crowded = [sorted(geometry.sets[0] + geometry.sets[1], key=lambda d: d.node)[:8]]
    crowded.append([d for d in geometry.sets[0] + geometry.sets[1] if d not in crowded[0]])
    with pytest.raises(LayoutError, match="erasure set 0 holds 4 drives of node n1, more than its parity 3"):
        check_sets(crowded, 3)
    with pytest.raises(LayoutError, match="erasure set 0 holds 8 drives of zone z1"):
        check_sets(crowded, 4)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ([], "at least one erasure set"),
        ([cluster([None] * 4, 1), cluster([None] * 5, 1)], "the same size"),
        ([cluster([None] * 4, 1), cluster([None] * 4, 1)], "listed 2 times"),
        ([cluster([None] * 4, 1)], "parity must be between 1 and 2"),
    ],
)
def test_check_sets_refusals(sets, message):
    with pytest.raises(LayoutError, match=message):
        check_sets(sets, 3)


# Against a brute-force search, on small pools.


def arrangement_exists(drives: list[DriveRef], set_size: int, parity: int) -> bool:
    """Whether some split of the drives into sets of set_size keeps both limits: an exhaustive
    search over how many of each node's drives each set takes (nodes taken zone by zone)."""
    set_count = len(drives) // set_size
    zones_declared = drives[0].zone is not None
    node_counts = Counter((d.zone or "", d.node) for d in drives)
    nodes = sorted(node_counts)

    @cache
    def search(index: int, state: tuple[tuple[int, int], ...]) -> bool:
        if index == len(nodes):
            return all(total == set_size for total, _ in state)
        zone, _ = nodes[index]
        new_zone = index == 0 or nodes[index - 1][0] != zone
        for split in itertools.product(range(parity + 1), repeat=set_count):
            if sum(split) != node_counts[nodes[index]]:
                continue
            after = [(total + k, (0 if new_zone else in_zone) + k) for (total, in_zone), k in zip(state, split, strict=True)]
            if all(total <= set_size and (not zones_declared or in_zone <= parity) for total, in_zone in after):
                if search(index + 1, tuple(sorted(after))):
                    return True
        return False

    return search(0, ((0, 0),) * set_count)


# (zone, drives) for each node, and whether zones are declared at all.
small_pools = st.tuples(st.lists(st.tuples(st.sampled_from(["z1", "z2", "z3"]), st.integers(1, 5)), min_size=1, max_size=6), st.booleans())


def pool_of(nodes: list[tuple[str, int]], zoned: bool) -> list[DriveRef]:
    return cluster([zone if zoned else None for zone, _ in nodes], [count for _, count in nodes])


@settings(max_examples=300, deadline=None)
@given(small_pools, st.data())
def test_a_size_and_parity_are_refused_exactly_when_no_arrangement_exists(pool, data):
    drives = pool_of(*pool)
    sizes = set_sizes(len(drives))
    if not sizes:
        with pytest.raises(LayoutError):
            build_sets(drives)
        return
    set_size = data.draw(st.sampled_from(sizes))
    parity = data.draw(st.integers(*parity_range(set_size)))
    if arrangement_exists(drives, set_size, parity):
        geometry = build_sets(drives, set_size=set_size, parity=parity)
        assert (geometry.set_size, geometry.parity) == (set_size, parity)
        assert_keeps_the_rules(geometry, drives)
    else:
        with pytest.raises(LayoutError):
            build_sets(drives, set_size=set_size, parity=parity)


@settings(max_examples=200, deadline=None)
@given(small_pools)
def test_the_chosen_size_is_the_largest_that_can_be_arranged(pool):
    drives = pool_of(*pool)
    possible = [size for size in set_sizes(len(drives)) if arrangement_exists(drives, size, default_parity(size))]
    if not possible:
        with pytest.raises(LayoutError):
            build_sets(drives)
        return
    assert build_sets(drives).set_size == possible[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["z1", "z2", "z3", "z4"]), st.integers(1, 16)), min_size=1, max_size=24), st.booleans())
def test_built_sets_keep_the_limits_and_spread_evenly(nodes, zoned):
    drives = pool_of(nodes, zoned)
    try:
        geometry = build_sets(drives)
    except LayoutError:
        return
    assert_keeps_the_rules(geometry, drives)
    # Each node's and zone's drives split over the sets as evenly as counts allow: by at most one.
    for group in ((lambda d: d.node), (lambda d: d.zone)):
        for name in {group(d) for d in drives}:
            per_set = [sum(1 for d in members if group(d) == name) for members in geometry.sets]
            assert max(per_set) - min(per_set) <= 1


# The pool by free space.


def test_pools_are_chosen_in_proportion_to_free_space():
    free = {"a": 100, "b": 300, "c": 0, "d": 600}
    steps = 10_000
    chosen = Counter(choose_pool(free, i / steps) for i in range(steps))
    assert chosen == {"a": 1_000, "b": 3_000, "d": 6_000}


def test_a_draining_or_full_pool_is_never_chosen():
    free = {1: 0, 2: 10**12, 3: 5}
    assert {choose_pool(free, i / 100, draining={2}) for i in range(100)} == {3}
    with pytest.raises(NoPoolForWrite):
        choose_pool(free, 0.5, draining={2, 3})
    with pytest.raises(NoPoolForWrite):
        choose_pool({}, 0.0)


@pytest.mark.parametrize("u", [-0.1, 1.0, 2])
def test_u_outside_zero_to_one_is_refused(u):
    with pytest.raises(ValueError, match="u must be in"):
        choose_pool({"a": 1}, u)


@given(st.dictionaries(st.integers(0, 9), st.integers(-5, 10**15), min_size=1), st.floats(0, 1, exclude_max=True))
def test_the_chosen_pool_has_room(free, u):
    try:
        pool = choose_pool(free, u)
    except NoPoolForWrite:
        assert all(f <= 0 for f in free.values())
        return
    assert free[pool] > 0


# The set within a pool, by the hash a single machine uses.


def test_the_set_is_the_key_hash_modulo_the_set_count():
    # Pinned: versions already stored were placed by it (the values single-machine placement gave
    # before the hash moved down to the cluster).
    assert (key_hash("b", "k"), key_hash("photos", "cat.jpg")) == (18412059173811103570, 3146983654540141737)
    for i in range(200):
        assert place("b", f"k{i}", 7, 8, 4).set == key_hash("b", f"k{i}") % 7


# Rebalancing.


def test_adding_an_empty_pool_moves_what_makes_both_equally_full():
    usage = {"old": PoolUsage(used=600, capacity=1000), "new": PoolUsage(used=0, capacity=500)}
    assert fill_targets(usage) == {"old": 400, "new": 200}
    moves = plan_rebalance(usage)
    assert [(m.source, m.target, m.size) for m in moves] == [("old", "new", 200)]


def test_a_draining_pool_gives_everything():
    usage = {"a": PoolUsage(300, 1000), "b": PoolUsage(100, 1000), "c": PoolUsage(0, 2000)}
    assert fill_targets(usage, draining={"a"}) == {"a": 0, "b": 133, "c": 267}
    assert sum(m.size for m in plan_rebalance(usage, draining={"a"})) == 300
    with pytest.raises(LayoutError, match="do not fit"):
        fill_targets({"a": PoolUsage(10, 10), "b": PoolUsage(5, 9)}, draining={"a"})


def test_nothing_stored_nothing_moves():
    assert plan_rebalance({"a": PoolUsage(0, 5), "b": PoolUsage(0, 0)}) == []


@given(st.lists(st.tuples(st.integers(0, 10**13), st.integers(0, 10**13)), min_size=1, max_size=8))
def test_a_plan_ends_pools_equally_full_moving_each_byte_once(pools):
    usage = {i: PoolUsage(used=min(used, capacity), capacity=capacity) for i, (used, capacity) in enumerate(pools)}
    if sum(p.capacity for p in usage.values()) == 0:
        return
    targets = fill_targets(usage)
    assert sum(targets.values()) == sum(p.used for p in usage.values())
    moves = plan_rebalance(usage)
    after = {name: pool.used for name, pool in usage.items()}
    for move in moves:
        assert move.size > 0
        after[move.source] -= move.size
        after[move.target] += move.size
    assert after == targets
    assert not {m.source for m in moves} & {m.target for m in moves}
    assert sum(m.size for m in moves) == sum(max(0, p.used - targets[n]) for n, p in usage.items())
    assert len(moves) <= max(0, len(usage) - 1)
    total_used, total_capacity = sum(p.used for p in usage.values()), sum(p.capacity for p in usage.values())
    for name, pool in usage.items():  # within a byte of the exact share
        assert abs(targets[name] * total_capacity - total_used * pool.capacity) < total_capacity


def test_the_brute_force_search_knows_the_issue_s_cases():
    assert arrangement_exists(cluster(["z1", "z1", "z2", "z2"], 4), 8, 4)
    assert not arrangement_exists(cluster(["z1", "z1", "z2", "z2"], 4), 16, 4)
    assert not arrangement_exists(cluster(["z1", "z1"], 8), 8, 2)
    assert arrangement_exists(cluster([None, None], 8), 8, 4)
