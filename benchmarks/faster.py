"""The report's "Where SeaweedFS is faster": every workload where a second peer (SeaweedFS) moved
more than Hoard in the median of the per-round ratios, with this run's figures beside it (CPU per
operation, latency, memory), the durability calls per PUT that strace counted (``--profile``),
Hoard's own profile of that workload (``--profile`` profiles every such workload) and what the
measurements say the difference is made of (``WHY``, written from the runs recorded in
benchmarks/README.md, "SeaweedFS").
"""

from __future__ import annotations

from benchmarks.workloads import MiB

# Why SeaweedFS is faster, by workload id: written from measurements (strace, py-spy, the figures of
# the runs in results/; benchmarks/README.md, "SeaweedFS against Hoard"). Each states what was
# measured; where SeaweedFS's own internals are concerned, only what strace and its files show.
_SMALL_PUT = (
    "Durability, then CPU. SeaweedFS answers once the object is appended to a volume file it already holds open "
    "(strace: no `openat` per PUT; its data folder holds one `.dat` + `.idx` per 1 GiB volume) and its filer entry is "
    "in LevelDB (`filerldb2`), with no fsync or fdatasync anywhere in its process for these PUTs: the only fsyncs "
    "strace ever caught come when it creates new volumes, seven at a time (each `.vif` written, fsync'd, renamed, "
    "the folder fsync'd), not per object. Hoard makes every object durable before it answers: a record file created, "
    "fsync'd, renamed and its folder fsync'd (2 fsyncs, 2 `openat` per 4 KiB PUT; 4 for a 1 MiB object, which also "
    "has a shard file), then the index's group commit (SQLite WAL, ~0.4 fdatasync per PUT). Its profile "
    "across threads puts `FileWriter.commit` and `fsync_dir` at the top, and the `small_file_create` ceiling is that "
    "same chain on one thread. Hoard also spends more CPU per PUT (Python: uvicorn, SigV4, the handler, thread "
    "hand-offs, against compiled Go), which the CPU ratio shows; but it kept under one core busy while the fsync "
    "calls top its profile across threads: the waits, more than its CPU, hold its rate."
)
_DELETE = (
    "Durability again, and CPU. A Hoard DELETE removes the index row in a group-committed SQLite write "
    "(synchronous=FULL: it waits for the WAL's sync) and unlinks the object's record file before it answers: "
    "measured with strace (300 DELETEs at c16, twice), 1 `unlink` and 0.42-0.46 fdatasync per DELETE, one disk "
    "wait per two or three DELETEs. Its profile across threads has the index writer `_Writer._run_batch` and "
    "`Condition.wait` near the top, and in the thread holding the GIL the hand-off to that writer thread "
    "(`Condition.notify`). SeaweedFS makes no fsync, fdatasync, `openat` or unlink at all for the same DELETEs, "
    "and spends about half Hoard's CPU per DELETE (Go against Python: the CPU ratio above)."
)
_LARGE_PUT = (
    "Per byte, both receive, hash (MD5 for the ETag; Hoard adds a BLAKE3 per 1 MiB block) and copy into the page "
    "cache. SeaweedFS appends the chunks to open volume files and does not fsync them (strace: 0 per PUT outside "
    "volume creation); Hoard fsyncs the shard file and record before answering (writeback started every MiB with "
    "`sync_file_range`, so the final fsync is short) and receives the body through uvicorn in chunks of at most "
    "~64 KiB under the GIL."
)
_SMALL_READ = (
    "CPU per request: SeaweedFS serves from compiled Go on both cores (goroutines, no GIL), Hoard from Python in two "
    "worker processes; the figures above give each one's CPU per operation. Nothing is written. Check the per-round "
    "ratios: when they fall on both sides of 1, the two are level within this shared machine's noise."
)
_HEAD = (
    "Level within noise: in the runs of 2026-12-04 the per-round ratios fell on both sides of 1 (Hoard ahead in one "
    "run's median, SeaweedFS in the other's). A HEAD writes nothing; Hoard spends more CPU on it (Python against "
    "Go: the CPU ratio above), most of it per-request Python: in the thread holding the GIL, uvicorn writing the "
    "response (`RequestResponseCycle.send`) leads, the lookup itself (`_get_object`, in the event loop) is a few "
    "per cent."
)
_LARGE_GET = (
    "Both read from the page cache. Hoard reads, verifies (BLAKE3 per 1 MiB block) and hands each block to uvicorn, "
    "which copies it into the socket under the GIL (`RequestResponseCycle.send` leads its GIL profile); SeaweedFS "
    "streams the chunks from Go."
)
_DELIM = (
    "SeaweedFS's filer keeps a folder tree (an S3 key's `/`s make folders; its store is LevelDB, `filerldb2`): each "
    "`p000123/` of these keys is a folder, so the 1,000 common prefixes of a delimiter page are 1,000 entries of one "
    "folder. Measured, such a page costs it about a quarter of the CPU of its own flat 1,000-key page, which has to "
    "go into 100 folders (*CPU s/1k ops*: 9 against 37 and 8 against 31 s in the two runs of 2026-12-04), while "
    "Hoard pays not much less for the delimiter page than for the flat one (18 against 21, 12 against 18). Hoard's index is flat (one SQLite row per key): each common prefix costs "
    "one index seek past the keys under it, from Python, so a page is 1,000 SQLite queries (`_list` leads its "
    "profile, across threads and holding the GIL), then the XML of 1,000 entries is built in Python (`_render`, "
    "`_escape`). The flat listings go the other way: Hoard is faster there (the table above)."
)
_LISTING = (
    "Listings: SeaweedFS reads its filer's folder tree in LevelDB from Go; Hoard queries its flat SQLite index from "
    "Python and builds the XML there."
)
_VERSIONS = (
    "A 1,000-version page costs Hoard about 25 ms of CPU, most of it building the XML in Python: py-spy of one "
    "worker during 8 s of these pages (2026-12-04) had the entries' elements (`_contents`, 20 % of the samples) "
    "and their rendering (`xml.render`, 36 %, of which `_escape` 29 %) ahead of the index's two range scans and "
    "their merge (`_list_versions`, 9 %). SeaweedFS builds the same document in Go. The per-round ratios of the "
    "first run scattered on both sides of 1 (1.07, 0.81, 0.46)."
)

WHY: dict[str, str] = {
    "put-4k-c16": _SMALL_PUT,
    "mixed-70-30": "Its 30 % PUTs (64 KiB), for the reasons of the 4 KiB PUTs; its 70 % GETs are Hoard's strength "
    "(see GET 4 KiB). Check the per-round ratios: when they fall on both sides of 1, the two are level within this "
    "machine's noise. The 4 KiB PUTs: " + _SMALL_PUT,
    "put-1m-c1": _SMALL_PUT,
    "put-1m-c8": _SMALL_PUT,
    "put-64m-c1": _LARGE_PUT,
    "put-64m-c8": _LARGE_PUT,
    "multipart": _LARGE_PUT,
    "get-4k-c16": _SMALL_READ,
    "head-4k-c16": _HEAD,
    "delete-4k-c16": _DELETE,
    "get-1m-c1": _LARGE_GET,
    "get-1m-c8": _LARGE_GET,
    "get-64m-c1": _LARGE_GET,
    "get-64m-c8": _LARGE_GET,
    "list-10k": _LISTING,
    "page-10k": _LISTING,
    "page-10k-delim": _DELIM,
    "versions-small": _VERSIONS,
}


def strace_load(workload: str, payload: str, op_size: int) -> str | None:
    """Which of the strace loads (syscalls.LOADS) stands for a workload: PUTs by object size, the
    small DELETEs; None for reads (nothing to make durable)."""
    if workload.startswith("delete"):
        return "DELETE 4 KiB, c16"
    if payload == "-":
        return None
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


def _mem(s: dict) -> float | None:
    """Peak PSS (what the tree takes: Hoard's workers share pages with their supervisor), else RSS."""
    return s.get("peak_pss_mib") or s.get("peak_rss_mib")


def _f(value: float | None, fmt: str) -> str:
    return "—" if value is None or value != value else format(value, fmt)


def _cpu(s: dict, per_gib: bool) -> str:
    return f"{_f(s.get('cpu_s_per_gib'), '.2f')} s/GiB" if per_gib else f"{_f(s.get('cpu_s_per_1k_ops'), '.3f')} s/1k ops"


def _unlinks(pp: dict) -> str:
    """unlink + unlinkat per operation; reports from before ``unlink`` was traced (Python's
    ``os.unlink`` calls it, not unlinkat) show "—" rather than an undercount."""
    return f"{pp['unlink'] + pp['unlinkat']:g}" if "unlink" in pp else "—"


def _calls(doc: dict, server: str, load: str) -> str | None:
    res = ((doc.get("syscalls") or {}).get(server) or {}).get(load)
    if not res or "per_put" not in res:
        return None
    pp = res["per_put"]
    per = "DELETE" if load.startswith("DELETE") else "PUT"
    return f"{pp['fsync']:g} fsync + {pp['fdatasync']:g} fdatasync, {pp['openat']:g} `openat` and {_unlinks(pp)} `unlink(at)` per {per}"


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
                f"{label} {_f(p.get('p50_ms'), '.2f')} ms; peak PSS Hoard {_f(_mem(h), '.0f')} MiB, {label} {_f(_mem(p), '.0f')} MiB",
                f"- cores the server kept busy (op/s x CPU per op): Hoard {_f(busy_cores(h), '.2f')}, {label} {_f(busy_cores(p), '.2f')} "
                "(the machine's cores are shared with the load generator and whatever else runs: see the load average)",
            ]
            load = strace_load(r["workload"], r["payload"], r["op_size"])  # what strace counted (--profile)
            if load:
                mine, theirs = _calls(doc, "hoard", load), _calls(doc, name, load)
                if mine and theirs:
                    lines.append(f"- durability (strace, {load}): Hoard {mine}; {label} {theirs}")
            lines += _profile_lines(doc, r["workload"])
            lines.append(f"- why: {WHY.get(r['workload'], 'not examined yet.')}")
    if doc.get("syscalls"):
        lines += syscalls_table(doc)
    return lines


def syscalls_table(doc: dict) -> list[str]:
    """strace's counts per operation for every server (``--profile``)."""
    lines = [
        "",
        "### Durability and file calls per PUT and DELETE (strace -f -c on each server's process tree, this run)",
        "",
        "Counted over a few PUTs after the rounds (not timed: strace stops the server at every traced call); the "
        "counts include whatever else the server did meanwhile. *waits for the disk* is fsync + fdatasync + syncfs + "
        "msync; `sync_file_range` (Hoard: every MiB written, no wait flag) only starts writeback. Where SeaweedFS shows "
        "fsyncs, they came with `openat` of new volume files: traced call by call, its only fsyncs are at volume creation "
        "(seven volumes at a time, each `.vif` file fsync'd and renamed, the folder fsync'd), never for an object's data.",
        "",
        "| server | load | operations | fsync | fdatasync | waits for the disk | sync_file_range | openat | rename(at) | unlink(at) |",
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
                f"{pp['sync_file_range']:g} | {pp['openat']:g} | {renames:g} | {_unlinks(pp)} |"
            )
    return lines
