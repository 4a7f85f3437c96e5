"""Which durability syscalls a server makes per PUT and per DELETE: ``strace -f -c`` on its whole
process tree while a few of them run (with ``--profile``, after the rounds; not measured for speed, as strace
stops the server at every traced call).

It answers a question the CPU figures cannot: does a server make an object durable before it
answers (fsync / fdatasync of what it wrote), and how many files does it open per object. The
counts include whatever else the server did in that window (heartbeats, background work), which
is why each PUT size runs enough operations for the per-PUT figure to stand out.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.loadgen import drive, run_async
from benchmarks.procstat import tree_pids
from benchmarks.workloads import DATA_BUCKET, KiB, MiB, Site, delete_op, put_op

# What is counted: the calls that make data durable, and those that create or replace files.
TRACED = ("fsync", "fdatasync", "sync_file_range", "syncfs", "msync", "openat", "rename", "renameat", "renameat2", "unlink", "unlinkat")
# Those that wait for the disk. sync_file_range (without SYNC_FILE_RANGE_WAIT_*, as Hoard calls it)
# only starts writeback, so it is counted apart.
DURABLE = ("fsync", "fdatasync", "syncfs", "msync")
# (label, operation, object size, operations, connections): enough operations to dwarf background
# calls. The DELETEs remove what the 4 KiB PUTs wrote.
LOADS = (
    ("PUT 4 KiB, c16", "PUT", 4 * KiB, 200, 16),
    ("PUT 1 MiB, c8", "PUT", MiB, 64, 8),
    ("PUT 64 MiB, c1", "PUT", 64 * MiB, 3, 1),
    ("DELETE 4 KiB, c16", "DELETE", 4 * KiB, 200, 16),
)


def available() -> bool:
    return shutil.which("strace") is not None


def parse_counts(text: str) -> dict[str, int]:
    """{syscall: calls} from the table ``strace -c`` writes (the ``errors`` column may be empty;
    the ``total`` line is left out)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 5 or words[-1] == "total" or not words[0].replace(".", "").isdigit():
            continue
        # % time, seconds, usecs/call, calls, [errors,] syscall
        out[words[-1]] = int(words[3])
    return out


def per_put(counts: dict[str, int], puts: int) -> dict[str, float]:
    """Calls per operation (PUT or DELETE) of every traced syscall (0 for those not seen), and their durable sum."""
    out = {name: round(counts.get(name, 0) / puts, 2) if puts else 0.0 for name in TRACED}
    out["durable"] = round(sum(counts.get(name, 0) for name in DURABLE) / puts, 2) if puts else 0.0
    return out


def count(pid: int, folder: Path, label: str, run: Callable[[], tuple[int, int]]) -> dict[str, object]:
    """strace -f -c every process of ``pid``'s tree while ``run()`` (returning ops, errors) runs."""
    out = folder / f"strace-{label}.txt"
    cmd = ["strace", "-f", "-c", "-o", str(out), "-e", f"trace={','.join(TRACED)}"]
    for p in tree_pids(pid):
        cmd += ["-p", str(p)]
    tracer = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # let strace attach to every thread before the load starts
        if tracer.poll() is not None:
            raise RuntimeError(f"strace exited: {tracer.stderr.read().decode(errors='replace')[-300:] if tracer.stderr else ''}")
        ops, errors = run()
        time.sleep(0.5)  # writes finishing after the last response (e.g. a group commit)
    finally:
        tracer.send_signal(signal.SIGINT)  # strace detaches and writes its table on Ctrl-C
        try:
            tracer.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.communicate()
    counts = parse_counts(out.read_text()) if out.exists() else {}
    return {"puts": ops, "errors": errors, "calls": counts, "per_put": per_put(counts, ops)}


def measure(sites: list[tuple[int, Site]], folder: Path, log: Callable[[str], None]) -> dict[str, dict]:
    """{server: {load label: count(...)}} for each (server pid, site); keys under ``strace/`` in
    the data bucket (the 4 KiB ones deleted again by the DELETE load)."""
    results: dict[str, dict] = {}
    if not available():
        log("  strace not installed: no syscall counts")
        return results
    for pid, site in sites:
        for label, method, size, n, conc in LOADS:

            def run(site: Site = site, method: str = method, size: int = size, n: int = n, conc: int = conc) -> tuple[int, int]:
                paths = [f"/{DATA_BUCKET}/strace/{size}/{i}" for i in range(n)]
                # PUTs signed below 64 MiB, as the workloads of these sizes send them.
                ops = (put_op(site, p, size, size < 64 * MiB) if method == "PUT" else delete_op(p) for p in paths)
                stats = run_async(drive(site.target, ops, conc, site.plan.time_limit))
                return stats.ops, stats.errors

            try:
                res = count(pid, folder, f"{site.name}-{size}", run)
            except (OSError, RuntimeError) as exc:
                res = {"error": str(exc)[:300]}
            results.setdefault(site.name, {})[label] = res
            pp = res.get("per_put", {})
            log(f"  strace {site.name} {label}: fsync {pp.get('fsync', '?')}, fdatasync {pp.get('fdatasync', '?')}, openat {pp.get('openat', '?')} per operation")
    return results
