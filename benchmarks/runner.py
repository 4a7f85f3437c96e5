"""Runs the rounds: every workload on Hoard then on each peer (moto, SeaweedFS), round after
round, with the server's CPU time and peak RSS taken around each run.

Interleaving (rather than all of Hoard, then all of the peer) means a noisy neighbour on this
shared machine hurts both sides alike, and the per-round ratio shows how steady a result is.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.loadgen import RunStats, percentile, run_async
from benchmarks.procstat import RssSampler, tree_cpu_seconds
from benchmarks.servers import Server
from benchmarks.summary import throughput_key
from benchmarks.workloads import GiB, MiB, Site, Workload


@dataclass
class Contender:
    """A server and the workloads' view of it."""

    server: Server
    site: Site


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sample(workload: Workload, who: Contender, round_no: int, stats: RunStats, cpu: float, rss: RssSampler, client_cpu: float) -> dict:
    """One run's figures, flat, as they go into latest.json."""
    elapsed = stats.elapsed or float("nan")
    gib = stats.nbytes / GiB
    return {
        "workload": workload.key,
        "server": who.server.name,
        "round": round_no,
        "ops": stats.ops,
        "errors": stats.errors,
        "first_error": stats.first_error,
        "truncated": stats.truncated,
        "elapsed_s": elapsed,
        "bytes": stats.nbytes,
        "ops_per_s": stats.ops / elapsed,
        "mib_per_s": stats.nbytes / MiB / elapsed,
        "p50_ms": percentile(stats.latencies, 50) * 1000,
        "p99_ms": percentile(stats.latencies, 99) * 1000,
        "server_cpu_s": cpu,
        "cpu_s_per_gib": cpu / gib if gib else None,
        "cpu_s_per_1k_ops": cpu / stats.ops * 1000 if stats.ops else None,
        "peak_rss_mib": rss.peak / MiB,
        "peak_pss_mib": rss.peak_pss / MiB,
        "client_cpu_s": client_cpu,
    }


async def run_once(workload: Workload, who: Contender, round_no: int) -> dict:
    # What the run before left in the page cache is written back now, not during this run: a
    # server that fsyncs (Hoard) would otherwise wait on a peer's unsynced writes (moto's).
    await asyncio.to_thread(os.sync)
    pid = who.server.pid
    cpu0, client0 = tree_cpu_seconds(pid), _client_cpu()
    with RssSampler(pid) as rss:
        stats = await workload.run(who.site)
    cpu1, client1 = tree_cpu_seconds(pid), _client_cpu()
    if not who.server.alive():
        stats.fail(RuntimeError(f"{who.server.name} died:\n{who.server.log_tail(10)}"))
    return sample(workload, who, round_no, stats, cpu1 - cpu0, rss, client1 - client0)


async def run_rounds(
    workloads: list[Workload], hoard: Contender, peers: Sequence[Contender], rounds: int, log: Callable[[str], None]
) -> list[dict]:
    samples: list[dict] = []
    for round_no in range(1, rounds + 1):
        t0 = time.perf_counter()
        for workload in workloads:
            line = [f"  r{round_no} {workload.key:<15}"]
            for who in (hoard, *(peers if workload.peer else ())):
                if not who.server.alive():
                    continue
                s = await run_once(workload, who, round_no)
                samples.append(s)
                metric = throughput_key(workload)
                rate = f"{s[metric]:8.1f} {'MiB/s' if metric == 'mib_per_s' else 'op/s'} ({s['elapsed_s']:.1f}s)"
                err = f" ({s['errors']} errors: {s['first_error'][:120]})" if s["errors"] else ""
                line.append(f"{who.server.name} {rate}{err}")
            log("  ".join(line))
        log(f"  round {round_no} took {time.perf_counter() - t0:.0f}s")
    return samples


def run(workloads: list[Workload], hoard: Contender, peers: Sequence[Contender], rounds: int, log: Callable[[str], None]) -> list[dict]:
    return run_async(run_rounds(workloads, hoard, peers, rounds, log))
