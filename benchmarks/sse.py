"""Server-side encryption (SSE-S3): what encrypting at rest costs Hoard.

One Hoard server of its own (the same ``--workers`` and ``--hoard-env`` as the one run against
the peers, a master key given to it so that nothing is written to the user's configuration
folder) takes the same PUTs and GETs twice per round: plain, and with
``x-amz-server-side-encryption: AES256`` (SSE-S3), a header the client signs as it signs every
header it sends. Which of the two goes first turns every round, so that neither always meets the
other's overwrites being reclaimed. The figure is SSE / plain throughput per round, then the
median; the issue's target is >= 70 % for each workload.

Every SSE answer (PUT and GET) must say ``x-amz-server-side-encryption: AES256`` and every plain
one must not: a server that silently stored the bytes in clear would otherwise look free.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import pyspy, runner, servers
from benchmarks.client import Response
from benchmarks.loadgen import RunStats, Target, drive, run_async
from benchmarks.signer import EMPTY_SHA256
from benchmarks.summary import median, server_summary
from benchmarks.workloads import MiB, Payloads, Plan, Site, Workload, get_op, put_op

BUCKET = "bench-sse"
SSE_HEADER = "x-amz-server-side-encryption"
SSE_S3 = {SSE_HEADER: "AES256"}
VARIANTS = ("plain", "sse")
TARGET = 0.70  # the issue: SSE-S3 at no less than 70 % of the same without encryption
SEEDED = {MiB: 8, 64 * MiB: 4}  # objects per variant and size that the GETs cycle over

Log = Callable[[str], None]


@dataclass(frozen=True)
class SsePlan:
    """Counts per run, by workload id: each run should last a second or more on the slower
    variant (CPU is sampled in 10 ms ticks), the whole part a couple of minutes in quick mode."""

    quick: bool
    rounds: int
    counts: dict[str, int]


# (id, op, object size, concurrency): the sizes, 1 MiB at c1 and c8, 64 MiB at c1.
SHAPES = (
    ("put-1m-c1", "put", MiB, 1),
    ("get-1m-c1", "get", MiB, 1),
    ("put-1m-c8", "put", MiB, 8),
    ("get-1m-c8", "get", MiB, 8),
    ("put-64m-c1", "put", 64 * MiB, 1),
    ("get-64m-c1", "get", 64 * MiB, 1),
)


def plan_for(quick: bool, rounds: int) -> SsePlan:
    """``rounds`` is the main part's; this part takes at least 5, a ratio of two runs on a shared
    machine being noisy (as the drives part)."""
    if quick:
        counts = {"put-1m-c1": 128, "get-1m-c1": 512, "put-1m-c8": 192, "get-1m-c8": 768, "put-64m-c1": 4, "get-64m-c1": 16}
    else:
        counts = {"put-1m-c1": 256, "get-1m-c1": 768, "put-1m-c8": 512, "get-1m-c8": 1536, "put-64m-c1": 8, "get-64m-c1": 32}
    return SsePlan(quick, max(rounds, 5), counts)


def expect_encryption(encrypted: bool) -> Callable[[Response], None]:
    """A check of an answer's ``x-amz-server-side-encryption``: AES256 when asked, absent when not."""

    def check(r: Response) -> None:
        got = r.headers.get(SSE_HEADER)
        if encrypted and got != "AES256":
            raise ValueError(f"asked for SSE-S3, the answer says {SSE_HEADER}: {got!r}")
        if not encrypted and got is not None:
            raise ValueError(f"asked for no encryption, the answer says {SSE_HEADER}: {got!r}")

    return check


def _seeded(variant: str, size: int) -> list[str]:
    return [f"/{BUCKET}/seed-{variant}-{size // MiB}m/{i}" for i in range(SEEDED[size])]


def workload(key: str, op: str, size: int, concurrency: int, count: int, variant: str) -> Workload:
    """One shape in one variant. PUTs overwrite the same keys every round (as the main part's)."""
    encrypted = variant == "sse"
    headers = SSE_S3 if encrypted else None
    check = expect_encryption(encrypted)

    def run(site: Site) -> Awaitable[RunStats]:
        if op == "put":
            paths = (f"/{BUCKET}/{variant}/{key}/{i}" for i in range(count))
            # 1 MiB PUTs signed (payload SHA-256), 64 MiB unsigned: as the main part's workloads.
            ops = (put_op(site, p, size, size < 64 * MiB, headers=headers, check=check) for p in paths)
        else:
            seeded = _seeded(variant, size)
            ops = (get_op(seeded[i % len(seeded)], size, check) for i in range(count))
        return drive(site.target, ops, concurrency, site.plan.time_limit)

    title = f"{op.upper()} {size // MiB} MiB, c{concurrency}"
    payload = ("signed" if size < 64 * MiB else "unsigned") if op == "put" else "-"
    return Workload(key, f"{title} ({'SSE-S3' if encrypted else 'plain'})", size, concurrency, payload, run)


def workloads(plan: SsePlan) -> list[tuple[Workload, Workload]]:
    """(plain, sse) per shape, in SHAPES' order."""
    return [
        (workload(key, op, size, c, plan.counts[key], "plain"), workload(key, op, size, c, plan.counts[key], "sse"))
        for key, op, size, c in SHAPES
    ]


async def _seed(site: Site) -> None:
    conn = site.target.connection()
    try:
        await conn.request("PUT", f"/{BUCKET}", payload_hash=EMPTY_SHA256)
    finally:
        conn.close()
    for variant in VARIANTS:
        encrypted = variant == "sse"
        for size in SEEDED:
            ops = (
                put_op(site, p, size, False, headers=SSE_S3 if encrypted else None, check=expect_encryption(encrypted))
                for p in _seeded(variant, size)
            )
            stats = await drive(site.target, ops, 4, time_limit=3600)
            if stats.errors:
                raise RuntimeError(f"seeding {variant} {size // MiB} MiB objects: {stats.first_error}")


async def _rounds(pairs: list[tuple[Workload, Workload]], who: runner.Contender, rounds: int, log: Log) -> list[dict]:
    samples: list[dict] = []
    for round_no in range(1, rounds + 1):
        t0 = time.perf_counter()
        for pair in pairs:
            line = [f"  r{round_no} sse {pair[0].key:<11}"]
            # Plain first in odd rounds, SSE first in even ones: whichever runs second meets the
            # first one's overwrites being reclaimed, and that must not always be the same one.
            order = pair if round_no % 2 else pair[::-1]
            got: dict[str, dict] = {}
            for variant_workload in order:
                variant = "sse" if variant_workload is pair[1] else "plain"
                s = await runner.run_once(variant_workload, who, round_no)
                s["variant"] = variant
                samples.append(s)
                got[variant] = s
            for variant in VARIANTS:
                s = got[variant]
                err = f" ({s['errors']} errors: {s['first_error'][:100]})" if s["errors"] else ""
                line.append(f"{variant} {s['mib_per_s']:7.1f} MiB/s{err}")
            if got["plain"]["mib_per_s"]:
                line.append(f"sse/plain {got['sse']['mib_per_s'] / got['plain']['mib_per_s']:.2f}")
            log("  ".join(line))
        log(f"  sse round {round_no} took {time.perf_counter() - t0:.0f}s")
    return samples


def _profile(pairs: list[tuple[Workload, Workload]], who: runner.Contender, keys: set[str], folder: Path, log: Log) -> dict[str, dict]:
    """py-spy the server during extra SSE runs of the given workloads (the ones below the target)."""
    if not pyspy.available():
        log("  py-spy not installed (pip install py-spy): no SSE profile")
        return {}
    out: dict[str, dict] = {}
    for _, sse in pairs:
        if sse.key in keys:

            def run_once(w: Workload = sse) -> tuple[int, int]:
                stats = run_async(w.run(who.site))
                return stats.ops, stats.errors

            out |= pyspy.profile_views(who.server.pid, f"sse {sse.key}", folder, run_once, log)
    return out


def run(
    workdir: Path, plan: SsePlan, base: Plan, src: Path | None, log: Log, profile: bool = False, env: dict[str, str] | None = None
) -> tuple[dict, dict[str, dict]]:
    """The whole SSE part: (its results for doc["sse"], profiles for doc["profile"]). ``env`` is
    the main Hoard server's (workers, ``--hoard-env``)."""
    log(f"SSE-S3 against plain, one Hoard server, {plan.rounds} rounds")
    folder = workdir / "sse"
    folder.mkdir(parents=True, exist_ok=True)
    # A master key of this run only: without one Hoard would make (and keep) one in ~/.config.
    master = base64.b64encode(os.urandom(32)).decode()
    server = servers.start_hoard(folder, src, name="hoard-sse", env={**(env or {}), "HOARD_MASTER_KEY": master})
    prof: dict[str, dict] = {}
    try:
        site = Site(server.name, Target(server.host, server.port, servers.CREDS), Payloads(64 * MiB), base)
        who = runner.Contender(server, site)
        log(f"  server: hoard-sse (pid {server.pid})")
        t0 = time.perf_counter()
        run_async(_seed(site))
        log(f"  seeded plain and SSE-S3 objects in {time.perf_counter() - t0:.1f}s")
        pairs = workloads(plan)
        samples = run_async(_rounds(pairs, who, plan.rounds, log))
        result = summarize(samples, plan)
        if profile:
            missed = {r["workload"] for r in result["rows"] if r["ratio"] is None or r["ratio"] < TARGET}
            prof = _profile(pairs, who, missed, folder, log)
        version = server.version.split(" ")[0]
    finally:
        server.stop()
    return result | {"plan": asdict(plan), "hoard_version": version, "hoard_env": env or {}, "samples": samples}, prof


# -- summary and target ----------------------------------------------------------------------


def summarize(samples: list[dict], plan: SsePlan) -> dict:
    """One row per shape: each variant's medians, SSE/plain throughput and CPU-per-GiB ratios per
    round and their medians; then the targets."""
    rows = []
    for key, op, size, c in SHAPES:
        mine = [s for s in samples if s["workload"] == key]
        by_variant = {v: {s["round"]: s for s in mine if s["variant"] == v} for v in VARIANTS}
        tput, cpu = [], []
        for round_no, p in sorted(by_variant["plain"].items()):
            e = by_variant["sse"].get(round_no)
            if e is None or p["errors"] or e["errors"]:
                continue
            if p["mib_per_s"]:
                tput.append(round(e["mib_per_s"] / p["mib_per_s"], 3))
            if p["cpu_s_per_gib"] and e["cpu_s_per_gib"] is not None:
                cpu.append(round(e["cpu_s_per_gib"] / p["cpu_s_per_gib"], 3))
        rows.append(
            {
                "workload": key,
                "title": f"{op.upper()} {size // MiB} MiB, c{c}",
                "op": op,
                "size": size,
                "concurrency": c,
                "plain": server_summary(sorted(by_variant["plain"].values(), key=lambda s: s["round"])),
                "sse": server_summary(sorted(by_variant["sse"].values(), key=lambda s: s["round"])),
                "ratio_per_round": tput,
                "ratio": median(list(tput)),
                "cpu_ratio_per_round": cpu,
                "cpu_ratio": median(list(cpu)),
            }
        )
    checked = targets(rows)
    return {"rows": rows, "target": TARGET, "targets": checked, "verdict": verdict(rows, checked)}


def targets(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        errors = sum((r[v] or {}).get("errors", 0) for v in VARIANTS)
        if r["ratio"] is None:
            measured, met = "not measured" + (f" ({errors} errors)" if errors else ""), None
        else:
            measured = (
                f"{r['sse']['mib_per_s']:.0f} vs {r['plain']['mib_per_s']:.0f} MiB/s; per-round ratio median {r['ratio']:.0%} "
                f"({', '.join(f'{x:.2f}' for x in r['ratio_per_round'])})" + (f" ({errors} errors)" if errors else "")
            )
            met = r["ratio"] >= TARGET and not errors
        out.append(
            {
                "target": f"{r['title']}: SSE-S3 >= {TARGET:.0%} of plain",
                "measured": measured,
                "met": met,
                "key": f"sse:{r['workload']}",
                "workloads": [],
            }
        )
    return out


def verdict(rows: list[dict], checked: list[dict]) -> str:
    """The one line the report leads with: does the 70 % target hold for every workload?"""
    missed = [
        f"{r['title']} {r['ratio']:.0%}" if r["ratio"] is not None else f"{r['title']} (errors)"
        for r, t in zip(rows, checked, strict=True)
        if t["met"] is False
    ]
    unmeasured = [r["title"] for r, t in zip(rows, checked, strict=True) if t["met"] is None]
    if missed:
        return f"The {TARGET:.0%} target does NOT hold: below it (or with errors), {'; '.join(missed)}."
    if unmeasured:
        return f"The {TARGET:.0%} target is not settled: not measured, {'; '.join(unmeasured)}."
    lowest = min(rows, key=lambda r: r["ratio"])
    return f"The {TARGET:.0%} target holds for every workload (lowest: {lowest['title']}, {lowest['ratio']:.0%})."
