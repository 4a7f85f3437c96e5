"""From per-run samples to per-workload medians and Hoard/peer ratios per round, for every peer."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from benchmarks.workloads import Workload

MEDIAN_OF = ("ops_per_s", "mib_per_s", "p50_ms", "p99_ms", "cpu_s_per_gib", "cpu_s_per_1k_ops", "client_cpu_s", "elapsed_s")


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and v == v]  # drop None and NaN
    return statistics.median(present) if present else None


def throughput_key(workload: Workload) -> str:
    """Workloads of 1 MiB operations and up compare in MiB/s; smaller ones in operations/s,
    which is what limits them (for a fixed size the ratio is the same either way)."""
    return "mib_per_s" if workload.op_size >= 1 << 20 else "ops_per_s"


def server_summary(samples: list[dict]) -> dict | None:
    if not samples:
        return None
    out: dict[str, object] = {m: median([s[m] for s in samples]) for m in MEDIAN_OF}
    out["errors"] = sum(s["errors"] for s in samples)
    out["first_error"] = next((s["first_error"] for s in samples if s["first_error"]), "")
    out["truncated_runs"] = sum(1 for s in samples if s["truncated"])
    out["peak_rss_mib"] = max(s["peak_rss_mib"] for s in samples)
    out["peak_pss_mib"] = max((s["peak_pss_mib"] for s in samples if "peak_pss_mib" in s), default=None)
    out["rounds"] = len(samples)
    return out


def per_round_ratios(mine: list[dict], theirs: dict[int, dict], key: str) -> tuple[list[float], list[float]]:
    """Hoard's figure over the peer's, round by round (only rounds both ran): throughput by
    ``key``, and CPU per operation (the same figure as CPU per GiB when both moved the same sizes)."""
    tput, cpu = [], []
    for s in mine:
        p = theirs.get(s["round"])
        if p is None:
            continue
        if p[key]:
            tput.append(s[key] / p[key])
        if s["cpu_s_per_1k_ops"] is not None and p["cpu_s_per_1k_ops"]:
            cpu.append(s["cpu_s_per_1k_ops"] / p["cpu_s_per_1k_ops"])
    return tput, cpu


def against(mine: list[dict], theirs: dict[int, dict], key: str) -> dict:
    """One peer's side of a row: its summary and Hoard/peer ratios per round and their medians."""
    tput, cpu = per_round_ratios(mine, theirs, key)
    return {
        "server": server_summary(list(theirs.values())),
        "throughput_ratio_per_round": [round(r, 3) for r in tput],
        "cpu_ratio_per_round": [round(r, 3) for r in cpu],
        "throughput_ratio": median(tput),
        "cpu_ratio": median(cpu),
    }


def summarize(samples: list[dict], workloads: list[Workload], peer_name: str | None, others: Sequence[str] = ()) -> list[dict]:
    """One row per workload. ``peer_name`` (moto) is the peer of the targets: its side and ratios
    sit at the row's top level (``peer``, ``throughput_ratio``...); every peer, ``others``
    (SeaweedFS) included, also has its own entry under ``peers``."""
    rows = []
    for w in workloads:
        mine = sorted((s for s in samples if s["workload"] == w.key and s["server"] == "hoard"), key=lambda s: s["round"])
        key = throughput_key(w)
        peers = {
            name: against(mine, {s["round"]: s for s in samples if s["workload"] == w.key and s["server"] == name}, key)
            for name in ([peer_name] if peer_name else []) + [o for o in others if o != peer_name]
        }
        main = peers.get(peer_name) if peer_name else None
        rows.append(
            {
                "workload": w.key,
                "title": w.title,
                "op_size": w.op_size,
                "concurrency": w.concurrency,
                "payload": w.payload,
                "throughput_metric": key,
                "note": w.note,
                "hoard": server_summary(mine),
                "peer": main["server"] if main else None,
                "throughput_ratio_per_round": main["throughput_ratio_per_round"] if main else [],
                "cpu_ratio_per_round": main["cpu_ratio_per_round"] if main else [],
                "throughput_ratio": main["throughput_ratio"] if main else None,
                "cpu_ratio": main["cpu_ratio"] if main else None,
                "peers": peers,
            }
        )
    return rows
