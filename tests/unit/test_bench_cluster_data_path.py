"""The cluster data path benchmark's pure parts (benchmarks/cluster_data_path.py): the cluster is
compared with each baseline round by round, the floors are judged on the best gateway count, and
the expansion's verdicts on its failures and on where new writes landed."""

from __future__ import annotations

import pytest

from benchmarks import cluster_data_path as bench


def sample(workload: str, side: str, gateways: int, round_no: int, rate: float, cpu: float) -> dict:
    group = "64 MiB" if "64m" in workload else "4 KiB"
    return {
        "workload": workload, "group": group, "side": side, "gateways": gateways, "round": round_no, "errors": 0,
        "mib_per_s": rate if group == "64 MiB" else 0.0, "ops_per_s": rate if group == "4 KiB" else 0.0,
        "hoard_cpu_ms_per_op": cpu, "postgres_cpu_ms_per_op": 0.5,
    }  # fmt: skip


def samples() -> list[dict]:
    out = []
    for w in bench.WORKLOADS:
        for r, (one, one_pg, four) in enumerate(((100.0, 50.0, 60.0), (200.0, 100.0, 60.0)), start=1):
            out += [sample(w.id, bench.BASELINES[0], 1, r, one, 1.0), sample(w.id, bench.BASELINES[1], 1, r, one_pg, 2.0)]
            out += [sample(w.id, bench.CLUSTER, g, r, four * g, 4.0) for g in (1, 2, 4)]
    return out


def test_the_cluster_is_compared_with_each_baseline_in_the_same_round():
    rows = {(r["workload"], r["gateways"]): r for r in bench.summarize(samples())}
    row = rows[("get-4k-c16", 2)]
    assert row["single_ratios"] == [1.2, 0.6] and row["single_ratio"] == pytest.approx(0.9)  # 120/100 and 120/200
    assert row["single_pg_ratios"] == [2.4, 1.2]
    assert (row["single"], row["single_pg"], row["cluster"]) == (150.0, 75.0, 120.0)
    assert row["single_cpu_ratio"] == 4.0 and row["single_pg_cpu_ratio"] == 2.0
    assert {g for (_, g) in rows} == {1, 2, 4}


def test_floors_take_the_best_gateway_count_and_the_expansion_its_own_figures():
    grow = {"failed": 0, "puts": 2400, "share_error": 0.04, "share_pool2": 0.78, "expected_share_pool2": 0.75}
    verdicts = {name: (ok, text) for name, ok, text in bench.verdicts(bench.summarize(samples()), grow)}
    ok, text = verdicts["GET 4 KiB: four nodes at least 40% of one server"]
    assert ok and "x4" in text  # 240/100 and 240/200: 1.8 median
    assert verdicts["a pool added under 100 PUT/s: 0 failed requests"][0]
    assert verdicts["new writes in proportion to free space, within ±10%"][0]
    off = dict(grow, failed=3, share_error=-0.2)
    judged = {name: ok for name, ok, _ in bench.verdicts([], off)}
    assert judged == {"a pool added under 100 PUT/s: 0 failed requests": False, "new writes in proportion to free space, within ±10%": False}
    slow = [dict(s, mib_per_s=s["mib_per_s"] / 10) if s["side"] == bench.CLUSTER else s for s in samples()]
    assert not {name: ok for name, ok, _ in bench.verdicts(bench.summarize(slow), {"skipped": "x"})}["PUT 64 MiB: four nodes at least 50% of one server"]
