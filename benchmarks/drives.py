"""Drives and erasure coding: the codec's own speed on this machine, then Hoard on 1, 4 and 8
drives side by side.

Three parts, all in the same run:

* **Codec.** ``hoard.storage.erasure.codec(k, m)`` encoding and decoding 1 MiB blocks on one
  core, for (4, 4) (what 8 drives use), (2, 2) (4 drives) and (6, 2) (8 drives with
  ``--parity 2``); encode alone and with BLAKE3 of every fragment (what a PUT computes per block);
  decode from the data fragments alone and with data fragments lost (parity needed). It runs in
  a fresh interpreter, twice: with glibc's default malloc, which is what a server process gets,
  and with the heap kept (``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``), which is the
  library's own speed. pyeclib allocates new fragment buffers for every block, so with the
  defaults each block can cost a round of fresh zeroed pages; the minor page faults per block
  are reported beside the rates to show it.
* **Drives.** Three Hoard servers at once, on 1, 4 and 8 data folders (separate temp folders,
  the background scanner off), taking the same PUTs and GETs of 64 MiB objects in turn: for
  each workload 1 drive, 4 drives, 8 drives, round after round, so a noisy neighbour hurts all
  three alike. The report gives medians and the per-round ratios 4/1 and 8/1.
* **Memory flat with object size.** Peak RSS of the 8-drive server during PUT + GET of small
  (8 MiB) and large (256 MiB, quick 128 MiB) objects, in the same rounds.

All the drives are folders on the one disk of this machine: the figures are the software's
cost of erasure coding (encoding, hashing, k + m files per object, m/k more bytes written), not
the gain of spreading I/O over real disks.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import pyspy, runner, servers
from benchmarks.loadgen import Target, drive, run_async
from benchmarks.procstat import tree_minor_faults, tree_rss_bytes
from benchmarks.signer import EMPTY_SHA256
from benchmarks.summary import median, server_summary
from benchmarks.workloads import DATA_BUCKET, MiB, Payloads, Plan, Site, Workload, delete_op, get_objects, put_objects, put_op

DRIVE_COUNTS = (1, 4, 8)
CODECS = ((4, 4), (2, 2), (6, 2))
OBJECT = 64 * MiB
SEEDED = 4  # 64 MiB objects per server that the GETs cycle over
# Targets from the issue: 8 drives against 1 drive, and memory that does not grow with size.
PUT_TARGET, GET_TARGET, FLAT_TOLERANCE = 0.60, 0.70, 0.10
# glibc: serve allocations below 32 MiB from the heap and keep up to 256 MiB of it free rather
# than handing it back after every block (setting either turns glibc's dynamic thresholds off).
HEAP_KEPT = {"MALLOC_MMAP_THRESHOLD_": str(32 * MiB), "MALLOC_TRIM_THRESHOLD_": str(256 * MiB)}

Log = Callable[[str], None]


@dataclass(frozen=True)
class DrivesPlan:
    """Sizes and counts of the drives part in one mode."""

    quick: bool
    rounds: int
    codec_seconds: float  # per codec measurement; each is repeated codec_reps times
    codec_reps: int
    concurrencies: tuple[int, ...]
    # Objects per run, by concurrency: GETs run faster than PUTs, so they get more to last as long.
    puts: dict[int, int]
    gets: dict[int, int]
    flat_small: int
    flat_large: int
    flat_counts: dict[str, int]  # PUT and GET counts for the small and the large objects


def plan_for(quick: bool, rounds: int) -> DrivesPlan:
    """``rounds`` is the main part's; this part takes at least 5, its ratios being the noisiest."""
    rounds = max(rounds, 5)
    # Each run should last a second or more on the slowest server (CPU is sampled in 10 ms
    # ticks, RSS every 50 ms), and the whole part a few minutes in quick mode.
    if quick:
        return DrivesPlan(
            quick=True, rounds=rounds, codec_seconds=0.3, codec_reps=3, concurrencies=(1, 4), puts={1: 6, 4: 12}, gets={1: 16, 4: 32},
            flat_small=8 * MiB, flat_large=128 * MiB, flat_counts={"small_put": 8, "small_get": 16, "large_put": 1, "large_get": 2},
        )  # fmt: skip
    return DrivesPlan(
        quick=False, rounds=rounds, codec_seconds=0.5, codec_reps=5, concurrencies=(1, 4), puts={1: 6, 4: 16}, gets={1: 32, 4: 64},
        flat_small=8 * MiB, flat_large=256 * MiB, flat_counts={"small_put": 16, "small_get": 32, "large_put": 1, "large_get": 2},
    )  # fmt: skip


# -- the codec, on one core ------------------------------------------------------------------


def _rate(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(1 MiB blocks per second, minor page faults per block) of ``fn`` over about ``seconds``."""
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    n, t0 = 0, time.perf_counter()
    deadline = t0 + seconds
    while True:
        fn()
        n += 1
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - t0
    return n / elapsed, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / n


def codec_rates(seconds: float, reps: int) -> dict:
    """Encode/decode MiB/s of 1 MiB blocks in this process (one thread, so one core).

    The operations of one repetition run back to back and the repetitions follow each other,
    so a burst of load from elsewhere lands on all of them rather than on one; medians.
    """
    from hoard.storage.bitrot import block_hash
    from hoard.storage.erasure import BLOCK_SIZE, codec

    block = os.urandom(BLOCK_SIZE)
    ops: dict[str, Callable[[], object]] = {"blake3": lambda: block_hash(block)}
    for k, m in CODECS:
        c = codec(k, m)
        frags = c.encode(block)
        lost = min(k, m)  # as many data fragments lost as the parity can stand in for
        cases = {
            "decode_data": {i: frags[i] for i in range(k)},
            "decode_1_lost": {i: frags[i] for i in range(1, k + m)},  # Codec.decode takes the first k left
            "decode_max_lost": {i: frags[i] for i in range(lost, k + m)},
        }
        for name, given in cases.items():
            if c.decode(given)[:BLOCK_SIZE] != block:  # a fast wrong answer would be worthless
                raise AssertionError(f"codec({k}, {m}) {name}: decoded block differs")
        ops[f"{k}+{m}:encode"] = lambda c=c: c.encode(block)
        # What a PUT computes per block: the fragments and a BLAKE3 of each (ShardSetWriter).
        ops[f"{k}+{m}:encode_blake3"] = lambda c=c: [block_hash(f) for f in c.encode(block)]
        for name, given in cases.items():
            ops[f"{k}+{m}:{name}"] = lambda c=c, g=given: c.decode(g)
    for fn in ops.values():  # warm-up: first calls build tables and grow the heap
        fn()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in ops}
    for _ in range(reps):
        for name, fn in ops.items():
            runs[name].append(_rate(fn, seconds))
    out: dict = {"blake3_mib_s": statistics.median(r for r, _ in runs.pop("blake3")), "codecs": []}
    for k, m in CODECS:
        row: dict = {"k": k, "m": m, "fragment_bytes": len(codec(k, m).encode(block)[0]), "lost_max": min(k, m)}
        for name, values in runs.items():
            prefix, _, op = name.partition(":")
            if prefix == f"{k}+{m}":
                row[f"{op}_mib_s"] = statistics.median(r for r, _ in values)
                row[f"{op}_faults_per_block"] = statistics.median(f for _, f in values)
        out["codecs"].append(row)
    return out


def measure_codecs(plan: DrivesPlan, src: Path | None, log: Log) -> dict:
    """codec_rates in two fresh interpreters: glibc's default malloc, and the heap kept."""
    repo = Path(__file__).resolve().parent.parent
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    base["PYTHONPATH"] = os.pathsep.join(str(p) for p in (src, repo) if p)
    out: dict = {"seconds": plan.codec_seconds, "reps": plan.codec_reps, "block_bytes": MiB, "modes": {}}
    for mode, extra in (("default", {}), ("heap_kept", HEAP_KEPT)):
        cmd = [sys.executable, "-m", "benchmarks.drives", str(plan.codec_seconds), str(plan.codec_reps)]
        done = subprocess.run(cmd, env=base | extra, cwd=repo, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"codec measurement ({mode}) failed:\n{done.stderr[-2000:]}")
        out["modes"][mode] = json.loads(done.stdout)
        for row in out["modes"][mode]["codecs"]:
            log(
                f"  codec {row['k']}+{row['m']} ({mode} malloc): encode {row['encode_mib_s']:,.0f} MiB/s "
                f"({row['encode_faults_per_block']:.0f} page faults/block), +BLAKE3 {row['encode_blake3_mib_s']:,.0f}, "
                f"decode {row['decode_data_mib_s']:,.0f} (data) / {row['decode_1_lost_mib_s']:,.0f} (1 lost) / "
                f"{row['decode_max_lost_mib_s']:,.0f} ({row['lost_max']} lost)"
            )
    return out


# -- Hoard on 1, 4 and 8 drives --------------------------------------------------------------


@dataclass
class Node:
    """One of the three servers."""

    drives: int
    contender: runner.Contender

    @property
    def pid(self) -> int:
        return self.contender.server.pid

    @property
    def site(self) -> Site:
        return self.contender.site


def _label(n: int) -> str:
    return f"{n} drive{'s' if n > 1 else ''}"


async def _measure(workload: Workload, node: Node, round_no: int) -> dict:
    """runner.run_once plus what this part needs: RSS before the run and minor page faults."""
    rss0, faults0 = tree_rss_bytes(node.pid), tree_minor_faults(node.pid)
    s = await runner.run_once(workload, node.contender, round_no)
    faults = tree_minor_faults(node.pid) - faults0
    s["drives"] = node.drives
    s["rss_start_mib"] = rss0 / MiB
    s["minor_faults_per_mib"] = faults / (s["bytes"] / MiB) if s["bytes"] else None
    return s


async def _seed(node: Node) -> None:
    site = node.site
    conn = site.target.connection()
    await conn.request("PUT", f"/{DATA_BUCKET}", payload_hash=EMPTY_SHA256)
    conn.close()
    paths = [f"/{DATA_BUCKET}/seed-64m/{i}" for i in range(SEEDED)]
    stats = await drive(site.target, (put_op(site, p, OBJECT, False) for p in paths), 2, time_limit=3600)
    if stats.errors:
        raise RuntimeError(f"{site.name}: seeding: {stats.first_error}")
    site.state["seed:64m"] = paths


async def _delete(node: Node, prefixes: list[str]) -> None:
    """Remove what a round's PUTs wrote (not measured), so the disk does not fill over rounds."""
    paths = [p for prefix in prefixes for p in node.site.state.pop(prefix, [])]
    await drive(node.site.target, (delete_op(p) for p in paths), 4, time_limit=600)


async def _settle(folder: Path, quiet: float = 1.5, limit: float = 60) -> None:
    """Wait until the servers have reclaimed the deleted bytes (the drives' usage stops
    changing), then flush the file system, so that no round pays for the last one's deletes."""
    t0, last, since = time.perf_counter(), -1, time.perf_counter()
    while time.perf_counter() - t0 < limit:
        used = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        if used != last:
            last, since = used, time.perf_counter()
        elif time.perf_counter() - since >= quiet:
            break
        await asyncio.sleep(0.25)
    os.sync()


def _put(key: str, size: int, count: int, concurrency: int, round_no: int) -> tuple[Workload, str]:
    """A PUT workload writing new keys this round (no overwrites: those add reclaim work)."""
    prefix = f"{key}/r{round_no}"
    title = f"PUT {size // MiB} MiB, c{concurrency}"
    return Workload(key, title, size, concurrency, "unsigned", put_objects(prefix, size, count, concurrency, False)), prefix


async def _rounds(nodes: list[Node], plan: DrivesPlan, folder: Path, log: Log) -> list[dict]:
    samples: list[dict] = []
    big = next(n for n in nodes if n.drives == max(DRIVE_COUNTS))
    for round_no in range(1, plan.rounds + 1):
        t0 = time.perf_counter()
        await _settle(folder)
        written: list[str] = []
        for c in plan.concurrencies:
            put, prefix = _put(f"put-64m-c{c}", OBJECT, plan.puts[c], c, round_no)
            get = Workload(f"get-64m-c{c}", f"GET 64 MiB, c{c}", OBJECT, c, "-", get_objects("64m", OBJECT, plan.gets[c], c))
            written.append(prefix)
            for w in (put, get):
                line = [f"  r{round_no} {w.key:<11}"]
                # The order turns every round (1-4-8, 4-8-1, 8-1-4): whichever server runs right
                # after another's PUTs meets a disk still busy with them, and that must not
                # always be the same one.
                turn = (round_no - 1) % len(nodes)
                for node in nodes[turn:] + nodes[:turn]:
                    s = await _measure(w, node, round_no)
                    samples.append(s)
                    err = f" ({s['errors']} errors: {s['first_error'][:100]})" if s["errors"] else ""
                    line.append(f"{_label(node.drives)} {s['mib_per_s']:7.1f} MiB/s{err}")
                line[1:] = sorted(line[1:], key=lambda text: int(text.split()[0]))
                log("  ".join(line))
        # Memory against object size on the 8-drive server: the small objects first, so the
        # first round's small peak comes before any large object was ever seen.
        line = [f"  r{round_no} flat-rss    "]
        for label, size in (("small", plan.flat_small), ("large", plan.flat_large)):
            put, prefix = _put(f"flat-{label}-put", size, plan.flat_counts[f"{label}_put"], 1, round_no)
            written.append(prefix)
            s = await _measure(put, big, round_no)
            samples.append(s)
            peak = s["peak_rss_mib"]
            big.site.state[f"seed:flat-{label}"] = list(big.site.state.get(prefix, []))
            if big.site.state[f"seed:flat-{label}"]:
                count = plan.flat_counts[f"{label}_get"]
                get = Workload(
                    f"flat-{label}-get", f"GET {size // MiB} MiB, c1", size, 1, "-", get_objects(f"flat-{label}", size, count, 1)
                )
                s = await _measure(get, big, round_no)
                samples.append(s)
                peak = max(peak, s["peak_rss_mib"])
            line.append(f"{size // MiB} MiB: peak {peak:.0f} MiB")
        log("  ".join(line))
        for node in nodes:
            await _delete(node, written)
        await _settle(folder)
        log(f"  drives round {round_no} took {time.perf_counter() - t0:.0f}s")
    return samples


def _profile(node: Node, plan: DrivesPlan, folder: Path, log: Log) -> dict[str, dict]:
    """py-spy the 8-drive server during extra 64 MiB PUTs (c1): all threads, then the GIL holder."""
    if not pyspy.available():
        log("  py-spy not installed (pip install py-spy): no drives profile")
        return {}
    written: list[str] = []

    def run_once() -> tuple[int, int]:
        w, prefix = _put("put-64m-c1", OBJECT, plan.puts[1], 1, 1000 + len(written))
        written.append(prefix)
        stats = run_async(w.run(node.site))
        return stats.ops, stats.errors

    out = pyspy.profile_views(node.pid, f"{_label(node.drives)}, put-64m-c1", folder, run_once, log, seconds=5)
    run_async(_delete(node, written))
    return out


def start_nodes(
    workdir: Path, src: Path | None, payloads: Payloads, plan: Plan, started: list[servers.Server], env: dict[str, str]
) -> list[Node]:
    """The three servers, each on its own folders; the scanner off so it reads nothing meanwhile,
    deleted bytes reclaimed at once (no grace) so that a round can wait for them to be gone."""
    nodes = []
    for n in DRIVE_COUNTS:
        server = servers.start_hoard(workdir, src, drives=n, name=f"hoard-{n}drive", env={"HOARD_SCANNER_RATE": "0", "HOARD_RECLAIM_GRACE": "0", **env})
        started.append(server)
        site = Site(server.name, Target(server.host, server.port, servers.CREDS), payloads, plan)
        nodes.append(Node(n, runner.Contender(server, site)))
    return nodes


def run(
    workdir: Path, plan: DrivesPlan, base: Plan, src: Path | None, log: Log, profile: bool = False, env: dict[str, str] | None = None
) -> tuple[dict, dict[str, dict]]:
    """The whole drives part: (its results for doc["drives"], profiles for doc["profile"]).
    ``env`` goes to the three servers (``--hoard-env``); the codec's own run does not take it."""
    log(f"Drives and erasure coding: codec on one core, then Hoard on {', '.join(map(str, DRIVE_COUNTS))} drives, {plan.rounds} rounds")
    codec = measure_codecs(plan, src, log)
    folder = workdir / "drives"
    folder.mkdir(parents=True, exist_ok=True)
    # One buffer large enough for the largest body; every body is a slice of it.
    payloads = Payloads(max(OBJECT, plan.flat_large))
    started: list[servers.Server] = []
    prof: dict[str, dict] = {}
    try:
        nodes = start_nodes(folder, src, payloads, base, started, env or {})
        log("  servers: " + ", ".join(f"{_label(n.drives)} (pid {n.pid})" for n in nodes))
        t0 = time.perf_counter()
        for node in nodes:
            run_async(_seed(node))
        log(f"  seeded {SEEDED} x 64 MiB on each in {time.perf_counter() - t0:.1f}s")
        samples = run_async(_rounds(nodes, plan, folder, log))
        if profile:
            prof = _profile(nodes[-1], plan, folder, log)
        versions = {n.drives: n.contender.server.version.split(" ")[0] for n in nodes}
    finally:
        for s in started:
            s.stop()
    result = summarize(samples, plan)
    result |= {"plan": asdict(plan), "codec": codec, "hoard_versions": versions, "hoard_env": env or {}, "samples": samples}
    return result, prof


# -- summary and targets ---------------------------------------------------------------------


def _placement(drives: int) -> str:
    """k + m that Hoard picks for one set of this many drives (layout.default_parity)."""
    from hoard.storage.layout import default_parity, erasure_sets

    size = len(erasure_sets(drives)[0])
    m = default_parity(size)
    return "plain (one copy)" if size == 1 else f"{size - m} data + {m} parity"


def summarize(samples: list[dict], plan: DrivesPlan) -> dict:
    rows = []
    for c in plan.concurrencies:
        for op in ("put", "get"):
            key = f"{op}-64m-c{c}"
            per: dict[str, dict | None] = {}
            by_round: dict[int, dict[int, float]] = {}
            for n in DRIVE_COUNTS:
                mine = sorted((s for s in samples if s["workload"] == key and s["drives"] == n), key=lambda s: s["round"])
                summary = server_summary(mine)
                if summary is not None:
                    summary["minor_faults_per_mib"] = median([s["minor_faults_per_mib"] for s in mine])
                per[str(n)] = summary
                for s in mine:
                    if not s["errors"]:
                        by_round.setdefault(s["round"], {})[n] = s["mib_per_s"]
            ratios = {str(n): [round(r[n] / r[1], 3) for _, r in sorted(by_round.items()) if n in r and r.get(1)] for n in DRIVE_COUNTS[1:]}
            rows.append(
                {
                    "workload": key,
                    "title": f"{op.upper()} 64 MiB, c{c}",
                    "op": op,
                    "concurrency": c,
                    "drives": per,
                    "ratio_per_round": ratios,
                    "ratio": {n: median(list(v)) for n, v in ratios.items()},
                }
            )
    flat = {}
    for label, size in (("small", plan.flat_small), ("large", plan.flat_large)):
        mine = [s for s in samples if s["workload"].startswith(f"flat-{label}-")]
        peaks_by_round: dict[int, float] = {}
        for s in mine:
            peaks_by_round[s["round"]] = max(peaks_by_round.get(s["round"], 0.0), s["peak_rss_mib"])
        flat[label] = {
            "size_mib": size // MiB,
            "peak_rss_mib": max(peaks_by_round.values()) if peaks_by_round else None,
            "peak_rss_per_round": [round(v, 1) for _, v in sorted(peaks_by_round.items())],
            "rss_start_mib": min((s["rss_start_mib"] for s in mine), default=None),
            "put_mib_per_s": median([s["mib_per_s"] for s in mine if "-put" in s["workload"]]),
            "get_mib_per_s": median([s["mib_per_s"] for s in mine if "-get" in s["workload"]]),
            "errors": sum(s["errors"] for s in mine),
        }
    return {
        "drive_counts": list(DRIVE_COUNTS),
        "placements": {str(n): _placement(n) for n in DRIVE_COUNTS},
        "rows": rows,
        "flat": flat,
        "targets": targets(rows, flat),
    }


def targets(rows: list[dict], flat: dict) -> list[dict]:
    top = str(max(DRIVE_COUNTS))
    out = []
    for r in rows:
        floor = PUT_TARGET if r["op"] == "put" else GET_TARGET
        ratio = r["ratio"].get(top)
        d = r["drives"]
        errors = sum((d[n] or {}).get("errors", 0) for n in d)
        if ratio is None:
            measured, met = "not measured", None
        else:
            one, eight = d["1"]["mib_per_s"], d[top]["mib_per_s"]
            measured = f"{eight:.0f} vs {one:.0f} MiB/s; per-round ratio median {ratio:.0%} ({', '.join(f'{x:.2f}' for x in r['ratio_per_round'][top])})"
            if errors:
                measured += f" ({errors} errors)"
            met = ratio >= floor and not errors
        out.append(
            {"target": f"{r['title']}: {top} drives >= {floor:.0%} of 1 drive", "measured": measured, "met": met, "key": f"drives:{r['title']}"}
        )
    small, large = flat.get("small", {}), flat.get("large", {})
    a, b = small.get("peak_rss_mib"), large.get("peak_rss_mib")
    if a and b:
        measured = f"peak {a:.0f} MiB with {small['size_mib']} MiB objects, {b:.0f} MiB with {large['size_mib']} MiB ({b / a - 1:+.0%})"
        met = b <= a * (1 + FLAT_TOLERANCE) and not (small["errors"] or large["errors"])
    else:
        measured, met = "not measured", None
    out.append(
        {
            "target": f"Server memory flat with object size ({top} drives): peak RSS within {FLAT_TOLERANCE:.0%} from "
            f"{small.get('size_mib', '?')} to {large.get('size_mib', '?')} MiB objects (PUT + GET)",
            "measured": measured,
            "met": met,
            "key": "drives:flat-rss",
        }
    )
    return out


if __name__ == "__main__":
    # Child process of measure_codecs: python -m benchmarks.drives SECONDS REPS -> JSON on stdout.
    print(json.dumps(codec_rates(float(sys.argv[1]), int(sys.argv[2]))))
