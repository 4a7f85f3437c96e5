"""Partitions of background work between live nodes (pure): fair shares, what to take and give
up, and convergence: simulated nodes following their plans end with every partition held once
and shares within one of each other, moving little when a node joins or leaves."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from hoard.cluster.partitions import PARTITIONS, fair_share, lease_name, partition_of, partition_of_lease, plan


def test_fair_shares_add_up_and_differ_by_at_most_one():
    for n in range(1, 20):
        nodes = [f"n{i}" for i in range(n)]
        shares = [fair_share(x, nodes) for x in nodes]
        assert sum(shares) == PARTITIONS
        assert max(shares) - min(shares) <= 1
    # A node not yet among the live counts itself in.
    assert fair_share("new", ["a", "b", "c"]) == 64


def test_partition_names_round_trip_and_keys_spread():
    assert lease_name(7) == "part/007" and partition_of_lease("part/007") == 7
    counts = Counter(partition_of("bucket", f"key-{i}") for i in range(256 * 200))
    assert set(counts) == set(range(PARTITIONS))
    assert max(counts.values()) < 200 * 1.5 and min(counts.values()) > 200 * 0.5
    assert partition_of("b", "k") == partition_of("b", "k")


def test_plan_takes_free_partitions_up_to_the_share():
    p = plan("n1", ["n1", "n2"], mine=set(), others=set(range(100)))
    assert len(p.take) == 128 and not set(p.take) & set(range(100)) and p.release == ()
    # Fewer free than the share: it takes what is free and waits for the rest.
    p = plan("n1", ["n1", "n2"], mine={200}, others=set(range(200)))
    assert set(p.take) == set(range(201, 256))


def test_plan_releases_above_the_share_when_a_node_joins():
    p = plan("n1", ["n1", "n2"], mine=set(range(PARTITIONS)), others=set())
    assert len(p.release) == 128 and p.take == ()


def _simulate(nodes: list[str], holdings: dict[str, set[int]], rounds: int = 6) -> dict[str, set[int]]:
    """Nodes follow their plans in turn against a shared table of holders, as they would
    through the catalog's leases (an acquire fails when someone else holds it)."""
    owner = {p: n for n, held in holdings.items() for p in held if n in nodes}
    for _ in range(rounds):
        for node in nodes:
            mine = {p for p, n in owner.items() if n == node}
            others = {p for p, n in owner.items() if n != node}
            step = plan(node, nodes, mine, others)
            for part in step.release:
                del owner[part]
            for part in step.take:
                owner.setdefault(part, node)
    result = {n: set() for n in nodes}
    for part, node in owner.items():
        result[node].add(part)
    return result


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=3))
def test_nodes_following_their_plans_converge(n, leaving):
    nodes = [f"node-{i}" for i in range(n)]
    held = _simulate(nodes, {})
    assert sum(len(h) for h in held.values()) == PARTITIONS
    assert max(map(len, held.values())) - min(map(len, held.values())) <= 1

    # Some nodes die: their leases expire (dropped here) and the survivors take them over.
    survivors = nodes[min(leaving, n - 1):]
    after = _simulate(survivors, held)
    assert sum(len(h) for h in after.values()) == PARTITIONS
    assert max(map(len, after.values())) - min(map(len, after.values())) <= 1
    for node in survivors:
        assert held[node] <= after[node]  # survivors keep theirs and only gain


def test_a_joining_node_moves_only_its_share():
    nodes = ["a", "b", "c"]
    before = _simulate(nodes, {})
    after = _simulate([*nodes, "d"], before)
    moved = sum(len(before[n] - after[n]) for n in nodes)
    assert len(after["d"]) == 64 and moved == 64
