"""The placement simulation (benchmarks/placement_sim.py, docs/scaling.md) at a small size: the
properties its full run reports hold here too, with bounds loose enough for the smaller counts."""

from __future__ import annotations

import random

from benchmarks import placement_sim
from hoard.cluster.placement import build_sets


def test_uniform_keys_spread_evenly_over_the_sets():
    # 10 sets of about 1,000 keys: one standard deviation is about 3 %, so 25 % is far outside chance.
    result = placement_sim.spread(100, 1_000, random.Random(7))
    assert result.sets == 10 and result.keys == 10_000
    assert result.max_over_mean <= 1.25
    assert result.min_over_mean >= 0.75


def test_adding_a_pool_moves_nothing_and_a_rebalance_close_to_the_ideal():
    result = placement_sim.expansion(100, 50, random.Random(7))
    assert result.moved_without_rebalance == 0
    assert result.ideal_bytes > 0
    assert 1.0 <= result.moved_with_rebalance / result.ideal_bytes <= 1.1
    assert result.worst_write_share_error <= 0.10
    old_fill, new_fill = result.fills_after
    assert abs(old_fill - new_fill) < 0.05


def test_ten_thousand_drives_make_sets_of_sixteen_in_four_even_zones():
    assert placement_sim.drives_per_node(10_000) == 10  # 625 nodes of 16 would not split over 4 zones
    assert build_sets(placement_sim.pool_drives("a", 10_000)).set_size == 16
    assert placement_sim.drives_per_node(100) == 5


def test_the_command_prints_both_tables(capsys):
    assert placement_sim.main(["--drives", "100", "--keys-per-set", "100", "--objects-per-set", "20"]) == 0
    printed = capsys.readouterr().out
    assert "| 100 | 20 | 4 | 10 (6+4) | 10 | 1,000 | 100 |" in printed
    assert "| 100 + 100 | 200 |" in printed
