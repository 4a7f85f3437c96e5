"""The benchmark's SSE-S3 part (benchmarks/sse.py): its checks of the answers, its ratios, the
70 % verdict and its report section. Pure helpers only: nothing starts."""

from __future__ import annotations

import pytest

from benchmarks import report, sse
from benchmarks.client import Response


def test_an_answer_must_say_what_encryption_was_asked_for() -> None:
    encrypted = Response(200, {"x-amz-server-side-encryption": "AES256"}, 0)
    plain = Response(200, {}, 0)
    sse.expect_encryption(True)(encrypted)
    sse.expect_encryption(False)(plain)
    with pytest.raises(ValueError):
        sse.expect_encryption(True)(plain)  # stored in clear would otherwise look free
    with pytest.raises(ValueError):
        sse.expect_encryption(False)(encrypted)


def test_the_sse_workloads_sign_the_header() -> None:
    plan = sse.plan_for(True, 3)
    assert plan.rounds == 5 and set(plan.counts) == {key for key, *_ in sse.SHAPES}
    pairs = sse.workloads(plan)
    assert [p.key for p, _ in pairs] == [e.key for _, e in pairs] == [key for key, *_ in sse.SHAPES]
    assert all("SSE-S3" in e.title and "plain" in p.title for p, e in pairs)


def _sample(workload: str, variant: str, rnd: int, mib_s: float, errors: int = 0) -> dict:
    return {
        "workload": workload, "variant": variant, "server": "hoard-sse", "round": rnd, "ops_per_s": mib_s, "mib_per_s": mib_s,
        "p50_ms": 1.0, "p99_ms": 2.0, "cpu_s_per_gib": 1.0 if variant == "plain" else 1.5, "cpu_s_per_1k_ops": 1.0,
        "client_cpu_s": 0.1, "elapsed_s": 1.0, "errors": errors, "first_error": "boom" if errors else "", "truncated": False,
        "peak_rss_mib": 10.0, "peak_pss_mib": 8.0,
    }  # fmt: skip


def _samples(sse_speed: dict[str, list[float]]) -> list[dict]:
    out = []
    for key, *_ in sse.SHAPES:
        for rnd, speed in enumerate(sse_speed.get(key, [90.0, 80.0, 100.0]), start=1):
            out += [_sample(key, "plain", rnd, 100.0), _sample(key, "sse", rnd, speed)]
    return out


def test_ratios_per_round_their_median_and_the_verdict() -> None:
    doc = sse.summarize(_samples({"get-64m-c1": [60.0, 75.0, 65.0]}), sse.plan_for(True, 3))
    row = next(r for r in doc["rows"] if r["workload"] == "get-64m-c1")
    assert row["ratio_per_round"] == [0.6, 0.75, 0.65] and row["ratio"] == 0.65 and row["cpu_ratio"] == 1.5
    met = {t["key"]: t["met"] for t in doc["targets"]}
    assert met.pop("sse:get-64m-c1") is False and all(met.values())
    assert doc["verdict"].startswith("The 70% target does NOT hold") and "GET 64 MiB, c1 65%" in doc["verdict"]

    doc = sse.summarize(_samples({}), sse.plan_for(True, 3))
    assert doc["verdict"] == "The 70% target holds for every workload (lowest: PUT 1 MiB, c1, 90%)."
    section = "\n".join(report.sse_section(doc | {"plan": {"rounds": 3}}))
    assert "**The 70% target holds" in section and "| PUT 1 MiB, c1 | 100.0 | 90.0 | 90% | 0.90, 0.80, 1.00 | 1.50x | ✅ met |" in section


def test_a_workload_with_errors_does_not_meet_the_target() -> None:
    samples = _samples({})
    samples.append(_sample("put-1m-c8", "sse", 4, 100.0, errors=2))
    samples.append(_sample("put-1m-c8", "plain", 4, 100.0))
    doc = sse.summarize(samples, sse.plan_for(True, 3))
    row = next(r for r in doc["rows"] if r["workload"] == "put-1m-c8")
    assert len(row["ratio_per_round"]) == 3  # the round with errors is left out of the ratios
    assert {t["key"]: t["met"] for t in doc["targets"]}["sse:put-1m-c8"] is False
    assert "NOT hold" in doc["verdict"]
