"""For every target a run does not meet: the best figure reached and what bounds it.

The issue's rule: a target not met is reported with the profile that explains what bounds it
and the best number reached. The best number is taken from this run's rounds and from the
reports committed under ``results/`` (re-read here, so it needs no bookkeeping); the
explanation is text kept below, written from the profiles and measurements recorded in
``benchmarks/README.md``, and the report puts this run's own profile of the workload beside it
(``--profile`` profiles every workload whose target was not met).
"""

from __future__ import annotations

import json
from pathlib import Path

# What bounds each kind of target, by key prefix then workload (see targets.py for the keys).
_PUT_VS_PEER = (
    "moto keeps each object in memory (or a spooled temp file), never calls fsync and does not check a "
    "signed payload's SHA-256. Hoard must: per signed 1 MiB PUT, the SHA-256 of the payload (the `sha256` "
    "ceiling: ~0.6 ms), MD5 for the ETag (~1.4 ms) and a BLAKE3 per block (~0.2 ms) are ~2.2 ms of CPU "
    "before anything is received, written or committed, where moto spends ~5.5 ms per PUT in all; twice "
    "moto's throughput on two cores shared with the load generator would leave Hoard under ~3 ms per PUT. "
    "Then per object it fsyncs a shard file, a version record, their folders and the index (perf: a fifth "
    "of its CPU in thread switches and wake-ups, `finish_task_switch`, between the event loop, the writer "
    "threads and the index's group commit). At c8 Hoard keeps about one core busy: the rest is waiting on "
    "that fsync chain. Measured with perf (2026-12-06): written pages given back once durable "
    "(`drop_cached`) took PUT 1 MiB c8 from ~8.4 to ~5.7 ms of CPU per PUT on this VM, where filling "
    "fresh page-cache pages had cost ~3 ms per MiB."
)
_GET_VS_PEER = (
    "moto answers from memory. Hoard reads each 1 MiB block of the shard file (in the event loop when the "
    "page cache has it, with `RWF_NOWAIT`; else in a worker thread), checks its BLAKE3 and hands it to "
    "uvicorn, which copies it into the transport: no `sendfile`, since every block is verified on its way "
    "out. In the profile of the thread holding the GIL: uvicorn's `RequestResponseCycle.send`, "
    "`block_hash`, the read and the event loop. A second worker process does not help large GETs: the "
    "server and the load generator already keep both cores busy."
)
_SMALL_PUT = (
    "Durability per object: a version record file (create, write, fsync, rename, fsync of its folder) "
    "and the index commit (SQLite WAL, group-committed). The `small_file_create` ceiling is the same "
    "sequence on one thread; the GIL is held only about a third of the run (py-spy `--gil`): the rest is "
    "waiting on fsyncs and hand-offs between the event loop and the writer threads. On this shared disk "
    "the file system's own rate for that sequence varies about 2x between runs (1,300-4,800 per second "
    "at 16 threads), and the PUT rate follows it. Two worker processes (the report runs Hoard with "
    "`--workers 2`) take 1.2-1.5x the small PUTs of one; each group-commits its own writes, and the "
    "two take turns for the index's write lock. CPU per PUT stays what one process spends."
)
_PUT_CEILING = (
    "The ceiling is one stream of `recv_into` + `write` + MD5 in a thread, with no HTTP. Hoard adds "
    "uvicorn's body delivery through Python (chunks of up to 256 KiB, each copied twice inside uvicorn), "
    "a BLAKE3 per block, a version record and index commit per object, and shares the two cores with "
    "the load generator; MD5 (one thread per upload, ~42 % of the server's CPU in perf) is the longest "
    "lane. On its own (one server, a loop of 64 MiB PUTs to new keys, 2026-12-06) it reaches 400-440 "
    "MiB/s, 81-89 % of a 490 MiB/s ceiling; inside the benchmark's rounds, after other workloads and "
    "the peers have filled the page cache, 68-72 %: on this VM a write into page-cache pages that were "
    "not in use a moment before costs about 3 ms per MiB against 0.15 ms (perf: "
    "`copy_folio_from_iter_atomic`), so the figure follows what ran before it."
)
_GET_CEILING = (
    "The loopback ceiling sends one 1 MiB buffer from memory again and again and receives it with "
    "`recv_into`: no file is read, nothing is checked, no HTTP is parsed. Two ceilings measured in the "
    "same run bound every server below it: `file_read_verify_send` (each block of a cached shard file "
    "read and its BLAKE3 checked in one thread while another sends the block before: a verified GET "
    "with no HTTP, the read from the page cache one more copy of every byte on the same two cores) and "
    "`client_get` (this benchmark's own client receiving 64 MiB answers from a process that does "
    "nothing but send them from memory). Both came out at about half the loopback ceiling on this "
    "machine, so a 70 % target cannot be met here by any server; what Hoard adds beyond them is "
    "uvicorn writing each 1 MiB block into the transport from Python and the event loop's share of "
    "the two cores with the client."
)
_DELIM_PAGE = (
    "A page of 1,000 common prefixes costs one index seek per prefix (each skips the keys under the "
    "prefix just found), i.e. 1,000 SQLite queries from Python per page, where moto works on a dict in memory."
)

_DRIVES_PUT = (
    "Per 1 MiB block the 8-drive server encodes 4 data + 4 parity fragments (pyeclib, ISA-L), hashes "
    "each with BLAKE3 and writes twice the object's bytes into eight files, all in the writer thread, "
    "while the 1-drive server writes the block once into one file; then eight shard files and eight "
    "records are fsync'd instead of one each. The profile of the 8-drive server during extra 64 MiB PUTs "
    "is in the Profile section (`8 drives, put-64m-c1`): most samples are native code under the I/O "
    "threads (`_worker`: the encoder, and the ETag's MD5 in `ShardSetWriter._hash`; `perf` put "
    "`memmove` inside the encoder at ~17 % of CPU, benchmarks/README.md), then `FileWriter.write_block` "
    "(copies into the page cache) and BLAKE3 (`block_hash`). All three "
    "servers share one disk and two cores with the load generator, and the per-round ratio scatters "
    "from about 0.3 to 1.0 between rounds of one run; the median of five rounds is the target, and the "
    "committed reports show the runs where it held."
)

EXPLANATIONS: dict[str, str] = {
    "drives:PUT 64 MiB, c1": _DRIVES_PUT,
    "drives:PUT 64 MiB, c4": _DRIVES_PUT,
    "peer:put-1m-c1": _PUT_VS_PEER,
    "peer:put-1m-c8": _PUT_VS_PEER,
    "peer:put-64m-c1": _PUT_VS_PEER,
    "peer:put-64m-c8": _PUT_VS_PEER,
    "peer:get-1m-c1": _GET_VS_PEER,
    "peer:get-1m-c8": _GET_VS_PEER,
    "peer:get-64m-c1": _GET_VS_PEER,
    "peer:get-64m-c8": _GET_VS_PEER,
    "peer:put-4k-c16": _SMALL_PUT,
    "ops:put-4k-c16": _SMALL_PUT,
    "ceiling:put-64m-c1": _PUT_CEILING,
    "ceiling:get-64m-c1": _GET_CEILING,
    "peer:page-10k-delim": _DELIM_PAGE,
    "peer:mixed-70-30": "Its PUTs: " + _SMALL_PUT,
}


def _best_round(doc: dict, workload: str, metric: str, lowest: bool = False) -> tuple[str, float] | None:
    """(round, value) of Hoard's best round of ``workload`` by ``metric`` (highest, or lowest)."""
    rounds = [
        (str(s["round"]), float(s[metric]))
        for s in doc.get("samples", [])
        if s.get("workload") == workload and s.get("server") == "hoard" and s.get(metric) is not None
    ]
    if not rounds:
        return None
    return (min if lowest else max)(rounds, key=lambda x: x[1])


def best(doc: dict, target: dict) -> str | None:
    """The best round of ``doc`` for this target, as text, or None if ``doc`` did not measure it."""
    key = target.get("key", "")
    kind, _, workload = key.partition(":")
    if kind == "peer":
        row = next((r for r in doc.get("summary", []) if r["workload"] == workload), None)
        if not row or not row.get("throughput_ratio_per_round"):
            return None
        rounds = list(zip(row["throughput_ratio_per_round"], row.get("cpu_ratio_per_round") or [], strict=False))
        i, (t, c) = max(enumerate(rounds), key=lambda x: x[1][0])
        return f"{t:.2f}x throughput, {c:.2f}x CPU (round {i + 1})"
    if kind == "ceiling":
        ceiling = doc.get("ceilings", {}).get("receive_write_md5" if workload.startswith("put") else "loopback_sendrecv")
        top = _best_round(doc, workload, "mib_per_s")
        if not ceiling or not top:
            return None
        return f"{top[1]:.0f} MiB/s = {top[1] / ceiling['value']:.0%} of {ceiling['value']:.0f} (round {top[0]})"
    if kind == "ops":
        top = _best_round(doc, workload, "ops_per_s")
        return f"{top[1]:,.0f} ops/s (round {top[0]})" if top else None
    if kind == "walk":
        top = _best_round(doc, workload, "p50_ms", lowest=True)
        return f"{top[1] / 1000:.3f} s (round {top[0]})" if top else None
    if kind == "drives":
        drives = doc.get("drives") or {}
        row = next((r for r in drives.get("rows", []) if f"drives:{r['title']}" == key), None)
        per_round = (row or {}).get("ratio_per_round", {}).get("8") or []
        return f"{max(per_round):.0%} (best round)" if per_round else None
    if kind == "sse":
        row = next((r for r in (doc.get("sse") or {}).get("rows", []) if r["workload"] == workload), None)
        per_round = (row or {}).get("ratio_per_round") or []
        return f"{max(per_round):.0%} (best round)" if per_round else None
    return None


def history(results: Path, skip: str = "") -> list[tuple[str, dict]]:
    """(name, doc) of every report under ``results/``, oldest first; latest.* and ``skip`` left out."""
    out = []
    for path in sorted(results.glob("2*.json")):
        if path.stem == skip:
            continue
        try:
            out.append((path.stem, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue
    return out


def _keyed_targets(doc: dict) -> list[dict]:
    from benchmarks import targets as targets_mod

    rows = doc.get("targets", [])
    if "key" not in (rows[0] if rows else {}) and doc.get("summary"):
        # Reports written before targets had keys: evaluate them again.
        rows = targets_mod.evaluate(doc["summary"], doc.get("ceilings", {}), doc.get("run", {}).get("peer"))
    return rows


def best_in_history(target: dict, docs: list[tuple[str, dict]]) -> tuple[str, str] | None:
    """(report name, its best round) of the earlier report that came closest on this target."""
    scored = []
    for name, doc in docs:
        rows = _keyed_targets(doc)
        if not any(r.get("key") == target["key"] for r in rows):
            continue
        text = best(doc, target)
        if text is not None:
            scored.append((_score(text), name, text))
    if not scored:
        return None
    _, name, text = max(scored)
    return name, text


def _score(text: str) -> float:
    """The leading number of a ``best`` text, larger meaning better (times are negated)."""
    number = float(text.split()[0].rstrip("x%").replace(",", ""))
    return -number if text.split()[1] == "s" else number


def last_measured(target: dict, docs: list[tuple[str, dict]]) -> tuple[str, dict] | None:
    """(report name, its row) of the newest committed report that measured this target."""
    for name, doc in reversed(docs):
        row = next((r for r in _keyed_targets(doc) if r.get("key") == target.get("key") and r.get("met") is not None), None)
        if row is not None:
            return name, row
    return None


def unmeasured_section(doc: dict, results: Path) -> list[str]:
    """Targets this run did not measure (the 1,000,000-key bucket in quick mode), with the newest
    committed report that did, so the latest report accounts for every target."""
    missing = [t for t in doc["targets"] if t["met"] is None and t.get("key")]
    docs = history(results, skip=doc["run"].get("stamp", ""))
    found = [(t, last_measured(t, docs)) for t in missing]
    found = [(t, hit) for t, hit in found if hit is not None]
    if not found:
        return []
    lines = ["", "## Targets not measured in this run: their last measurement", "", "| target | report | measured | |", "| --- | --- | --- | --- |"]
    for t, (name, row) in found:
        lines.append(f"| {t['target']} | `{name}` | {row['measured']} | {'✅ met' if row['met'] else '❌ not met'} |")
    return lines


def section(doc: dict, results: Path) -> list[str]:
    """The report's "Targets not met" section."""
    missed = [t for t in doc["targets"] if t["met"] is False]
    if not missed:
        return []
    docs = history(results, skip=doc["run"].get("stamp", ""))
    profiled = {k.split(" ", 1)[0] for k in doc.get("profile", {})}
    lines = [
        "",
        "## Targets not met: the best reached and what bounds them",
        "",
        "Best round of this run, best round of the reports committed in `results/`, and what the "
        "profiles show bounds the figure (this run's profiles, where `--profile` was given, are in the "
        "Profile section; the findings behind the text are in `benchmarks/README.md`).",
    ]
    explained: dict[str, str] = {}  # explanation -> the first target it was given for
    for t in missed:
        here = best(doc, t)
        before = best_in_history(t, docs)
        lines += ["", f"### {t['target']}", "", f"- this run: {t['measured']}"]
        if here:
            lines.append(f"- best round of this run: {here}")
        if before:
            lines.append(f"- best in the committed reports: {before[1]} (`{before[0]}`)")
        workloads = [w for w in t.get("workloads", []) if w in profiled]
        if workloads:
            lines.append(f"- profile in this run: {', '.join(f'`{w}`' for w in workloads)} (Profile section)")
        why = EXPLANATIONS.get(t.get("key", ""), "not profiled yet.")
        if why in explained:
            lines.append(f"- what bounds it: as for *{explained[why]}* above.")
        else:
            explained[why] = t["target"]
            lines.append(f"- what bounds it: {why}")
    return lines
