"""From per-run samples to per-workload medians and Hoard/peer ratios per round."""

from __future__ import annotations

import statistics

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


def summarize(samples: list[dict], workloads: list[Workload], peer_name: str | None) -> list[dict]:
    rows = []
    for w in workloads:
        mine = sorted((s for s in samples if s["workload"] == w.key and s["server"] == "hoard"), key=lambda s: s["round"])
        theirs = {s["round"]: s for s in samples if s["workload"] == w.key and s["server"] == peer_name}
        key = throughput_key(w)
        tput_ratios, cpu_ratios = [], []
        for s in mine:
            p = theirs.get(s["round"])
            if p is None:
                continue
            if p[key]:
                tput_ratios.append(s[key] / p[key])
            # CPU per operation: the same figure as CPU per GiB when both moved the same sizes.
            if s["cpu_s_per_1k_ops"] is not None and p["cpu_s_per_1k_ops"]:
                cpu_ratios.append(s["cpu_s_per_1k_ops"] / p["cpu_s_per_1k_ops"])
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
                "peer": server_summary(list(theirs.values())),
                "throughput_ratio_per_round": [round(r, 3) for r in tput_ratios],
                "cpu_ratio_per_round": [round(r, 3) for r in cpu_ratios],
                "throughput_ratio": median(tput_ratios),
                "cpu_ratio": median(cpu_ratios),
            }
        )
    return rows
