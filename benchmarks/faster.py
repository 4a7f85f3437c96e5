"""The report's "Where SeaweedFS is faster": every workload where a second peer (SeaweedFS) moved
more than Hoard in the median of the per-round ratios, with this run's figures beside it (CPU per
operation, latency, memory), the durability calls per PUT that strace counted (``--profile``),
Hoard's own profile of that workload (``--profile`` profiles every such workload) and what the
measurements say the difference is made of (``WHY``, written from the runs recorded in
benchmarks/README.md, "SeaweedFS").
"""

from __future__ import annotations

from benchmarks.workloads import MiB

# Why SeaweedFS is faster, by workload id: written from measurements (see benchmarks/README.md).
_SMALL_PUT = (
    "Durability. SeaweedFS answers a PUT once the needle is appended to an open volume file (`pwrite`, no new file) and the "
    "filer's entry is in its LevelDB log: strace counts no fsync or fdatasync at all on its whole process for these PUTs, "
    "so nothing reaches the disk before the answer. Hoard creates and fsyncs a record file and its folder per object, "
    "then group-commits the index (SQLite WAL), before it answers; on this disk that chain is most of a small PUT's "
    "latency (the `small_file_create` ceiling is the same sequence on one thread). Hoard's CPU per PUT is also higher: "
    "the request runs through Python (uvicorn, SigV4, the handler) where SeaweedFS runs compiled Go."
)
_LARGE_PUT = (
    "Per byte, both receive, hash (MD5 for the ETag; Hoard adds a BLAKE3 per 1 MiB block) and copy into the page cache. "
    "SeaweedFS appends chunks to preallocated-by-growth volume files and never fsyncs them (strace: 0 per PUT), so "
    "its PUT ends when the bytes are in the page cache; Hoard fsyncs the shard file and record before answering "
    "(writeback started every MiB, so the final fsync is short) and receives the body through uvicorn in chunks of "
    "at most ~64 KiB under the GIL."
)
_SMALL_READ = (
    "Per request CPU: SeaweedFS serves from compiled Go on all cores (goroutines, no GIL), Hoard from Python with two "
    "worker processes; for small requests the server's CPU per operation decides, and the figures above compare it."
)
_LARGE_GET = (
    "Large GETs: both read from the page cache. Hoard reads, verifies (BLAKE3 per 1 MiB block) and hands each block to "
    "uvicorn, which copies it into the socket under the GIL; SeaweedFS's S3 gateway fetches the object's chunks from its "
    "volume server over loopback HTTP and streams them without a per-block check in Python."
)
_LISTING = (
    "Listings: SeaweedFS walks the filer's LevelDB (sorted keys, one directory per prefix) in Go; Hoard queries its SQLite "
    "index from Python and builds the XML there."
)

WHY: dict[str, str] = {
    "put-4k-c16": _SMALL_PUT,
    "mixed-70-30": "Its 30 % PUTs. " + _SMALL_PUT,
    "put-1m-c1": _SMALL_PUT,
    "put-1m-c8": _SMALL_PUT,
    "put-64m-c1": _LARGE_PUT,
    "put-64m-c8": _LARGE_PUT,
    "multipart": _LARGE_PUT,
    "get-4k-c16": _SMALL_READ,
    "head-4k-c16": _SMALL_READ,
    "delete-4k-c16": _SMALL_READ,
    "get-1m-c1": _LARGE_GET,
    "get-1m-c8": _LARGE_GET,
    "get-64m-c1": _LARGE_GET,
    "get-64m-c8": _LARGE_GET,
    "list-10k": _LISTING,
    "page-10k": _LISTING,
    "page-10k-delim": _LISTING,
}


def strace_load(op_size: int) -> str:
    """Which of the strace loads (syscalls.LOADS) stands for a workload of this object size."""
    if op_size < MiB:
        return "PUT 4 KiB, c16"
    if op_size < 64 * MiB:
        return "PUT 1 MiB, c8"
    return "PUT 64 MiB, c1"


def faster_rows(summary: list[dict], peer: str) -> list[dict]:
    """The rows where ``peer`` beat Hoard: median Hoard/peer throughput ratio below 1."""
    out = []
    for r in summary:
        side = (r.get("peers") or {}).get(peer)
        if side and side.get("throughput_ratio") is not None and side["throughput_ratio"] < 1:
            out.append(r)
    return out


def busy_cores(s: dict) -> float | None:
    """Server CPU seconds per second of the run: operations/s x CPU seconds per operation."""
    ops, cpu = s.get("ops_per_s"), s.get("cpu_s_per_1k_ops")
    return ops * cpu / 1000 if ops is not None and cpu is not None else None


def _f(value: float | None, fmt: str) -> str:
    return "—" if value is None or value != value else format(value, fmt)


def _cpu(s: dict, per_gib: bool) -> str:
    return f"{_f(s.get('cpu_s_per_gib'), '.2f')} s/GiB" if per_gib else f"{_f(s.get('cpu_s_per_1k_ops'), '.3f')} s/1k ops"


def _calls(doc: dict, server: str, load: str) -> str | None:
    res = ((doc.get("syscalls") or {}).get(server) or {}).get(load)
    if not res or "per_put" not in res:
        return None
    pp = res["per_put"]
    return f"{pp['fsync']:g} fsync + {pp['fdatasync']:g} fdatasync and {pp['openat']:g} `openat` per PUT"


def _profile_lines(doc: dict, workload: str) -> list[str]:
    out = []
    for key, prof in (doc.get("profile") or {}).items():
        if key.split(" ", 1)[0] != workload or "error" in prof:
            continue
        top = ", ".join(f"`{frame}` {pct}%" for frame, pct in prof["self"][:4])
        out.append(f"- Hoard's profile {key[len(workload) + 1 :]}: top self frames {top}")
    return out


def section(doc: dict) -> list[str]:
    lines: list[str] = []
    peers = doc["run"].get("peers") or {}
    for name, meta in peers.items():
        if name == doc["run"]["peer"]:
            continue  # the targets' peer has its own section (targets not met)
        label = meta.get("label", name)
        rows = faster_rows(doc["summary"], name)
        lines += ["", f"## Where {label} is faster", ""]
        if not rows:
            lines.append(f"{label} moved less than Hoard in every workload of this run (median of the per-round ratios).")
        else:
            lines.append(
                f"Every workload where {label} moved more than Hoard (median of the per-round Hoard/{label} ratios below 1), "
                "with this run's figures and what they are made of."
            )
        for r in rows:
            side = r["peers"][name]
            h, p = r["hoard"] or {}, side["server"] or {}
            metric = r["throughput_metric"]
            unit = "MiB/s" if metric == "mib_per_s" else "op/s"
            per_gib = r["op_size"] >= MiB
            lines += [
                "",
                f"### {r['title']}: Hoard/{label} {side['throughput_ratio']:.2f}x throughput, {_f(side['cpu_ratio'], '.2f')}x CPU per op",
                "",
                f"- throughput: Hoard {_f(h.get(metric), ',.1f')} {unit}, {label} {_f(p.get(metric), ',.1f')} {unit} "
                f"(per round: {', '.join(f'{x:.2f}' for x in side['throughput_ratio_per_round'])})",
                f"- server CPU: Hoard {_cpu(h, per_gib)}, {label} {_cpu(p, per_gib)}; latency p50 Hoard {_f(h.get('p50_ms'), '.2f')} ms, "
                f"{label} {_f(p.get('p50_ms'), '.2f')} ms; peak RSS Hoard {_f(h.get('peak_rss_mib'), '.0f')} MiB, {label} {_f(p.get('peak_rss_mib'), '.0f')} MiB",
                f"- cores the server kept busy (op/s x CPU per op): Hoard {_f(busy_cores(h), '.2f')}, {label} {_f(busy_cores(p), '.2f')}, "
                "of the machine's cores, which the load generator shares: a server well under them was waiting (disk, "
                "latency) more than computing",
            ]
            if r["payload"] != "-":  # a PUT workload: what strace counted per PUT (--profile)
                load = strace_load(r["op_size"])
                mine, theirs = _calls(doc, "hoard", load), _calls(doc, name, load)
                if mine and theirs:
                    lines.append(f"- durability (strace, {load}): Hoard {mine}; {label} {theirs}")
            lines += _profile_lines(doc, r["workload"])
            lines.append(f"- why: {WHY.get(r['workload'], 'not examined yet.')}")
    if doc.get("syscalls"):
        lines += syscalls_table(doc)
    return lines


def syscalls_table(doc: dict) -> list[str]:
    """strace's counts per PUT for every server (``--profile``)."""
    lines = [
        "",
        "### Durability and file calls per PUT (strace -f -c on each server's process tree, this run)",
        "",
        "Counted over a few PUTs after the rounds (not timed: strace stops the server at every traced call); the "
        "counts include whatever else the server did meanwhile. *waits for the disk* is fsync + fdatasync + syncfs + "
        "msync; `sync_file_range` (Hoard: every MiB written, no wait flag) only starts writeback.",
        "",
        "| server | load | PUTs | fsync | fdatasync | waits for the disk | sync_file_range | openat | rename(at) | unlinkat |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for server, loads in doc["syscalls"].items():
        for load, res in loads.items():
            if "per_put" not in res:
                lines.append(f"| {server} | {load} | — | {res.get('error', 'failed')[:100]} | | | | | | |")
                continue
            pp = res["per_put"]
            renames = pp.get("rename", 0) + pp.get("renameat", 0) + pp.get("renameat2", 0)
            lines.append(
                f"| {server} | {load} | {res['puts']} | {pp['fsync']:g} | {pp['fdatasync']:g} | {pp['durable']:g} | "
                f"{pp['sync_file_range']:g} | {pp['openat']:g} | {renames:g} | {pp['unlinkat']:g} |"
            )
    return lines
