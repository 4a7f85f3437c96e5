"""Writes the run's results: markdown for people, JSON for tools, both under results/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks import bounds, faster


def _f(value: float | None, fmt: str = ".1f") -> str:
    return "—" if value is None or value != value else format(value, fmt)


def _mark(met: bool | None) -> str:
    return {True: "✅ met", False: "❌ not met", None: "— not measured"}[met]


def markdown(doc: dict, results: Path | None = None) -> str:
    """The report; with ``results``, the targets not met are set against the reports kept there."""
    m, meta = doc["machine"], doc["run"]
    peer = meta["peer"] or "peer"
    peers = meta.get("peers") or {}
    against = " and ".join(f"{p['label']} {p['version']}" for p in peers.values()) or meta["peer_version"] or "no peer"
    lines = [
        f"# Hoard benchmark — {meta['mode']} mode, {meta['started']}",
        "",
        f"Hoard {meta['hoard_version']} (source: {meta['hoard_source']}; git {meta['git']}) against "
        f"{against}; {meta['rounds']} interleaved rounds; whole run {meta['duration_s']:.0f} s"
        + (f"; parts: {', '.join(meta['parts'])}" if meta.get("parts") else "")
        + (f"; Hoard against the peer with `--workers {meta['hoard_workers']}` (the drives part: one process)" if meta.get("hoard_workers") else "")
        + (f"; Hoard environment: {', '.join(f'`{k}={v}`' for k, v in meta['hoard_env'].items())}" if meta.get("hoard_env") else "")
        + ". Figures are medians over rounds; ratios are Hoard / peer per round, then their median.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in m.items()]
    lines += ["", "## Ceilings (this machine, no server)", "", "| ceiling | value | what | runs |", "| --- | ---: | --- | --- |"]
    lines += [f"| {name} | {c['value']:,.0f} {c['unit']} | {c['what']} | {c['runs']} |" for name, c in doc["ceilings"].items()]

    if doc["summary"]:
        lines += _against_peer(doc, peer)
        lines += faster.section(doc)
    if doc.get("drives"):
        lines += drives_section(doc["drives"])
    if doc.get("sse"):
        lines += sse_section(doc["sse"])

    lines += ["", "## Targets", "", "| target | measured | |", "| --- | --- | --- |"]
    lines += [f"| {t['target']} | {t['measured']} | {_mark(t['met'])} |" for t in doc["targets"]]
    met = sum(1 for t in doc["targets"] if t["met"])
    missed = sum(1 for t in doc["targets"] if t["met"] is False)
    lines += ["", f"{met} met, {missed} not met, {len(doc['targets']) - met - missed} not measured."]
    if results is not None:
        lines += bounds.section(doc, results)
        lines += bounds.unmeasured_section(doc, results)

    if doc.get("profile"):
        lines += ["", "## Profile (py-spy, Hoard process, one extra run each)"]
        for key, prof in doc["profile"].items():
            if "error" in prof:
                lines += ["", f"### {key}", "", f"py-spy failed: {prof['error']}"]
                continue
            lines += [
                "",
                f"### {key} ({prof['samples']} samples)",
                "",
                "| self % | frame | | inclusive % | frame |",
                "| ---: | --- | --- | ---: | --- |",
            ]
            for (sf, sp), (inf, ip) in zip(prof["self"], prof["inclusive"], strict=False):
                lines.append(f"| {sp} | `{sf}` | | {ip} | `{inf}` |")
    if doc.get("chart"):
        what = f"Hoard against {peer} and the ceilings" if doc["summary"] else "Hoard on 1, 4 and 8 drives"
        lines += ["", f"![{what}]({doc['chart']})"]
    return "\n".join(lines) + "\n"


def _x(value: float | None) -> str:
    return _f(value, ".2f") + ("x" if value is not None else "")


def _other_peers(doc: dict) -> list[str]:
    """The peers beside the targets' one (SeaweedFS), in the order they ran."""
    names = list((doc["run"].get("peers") or {}).keys())
    return [n for n in names if n != doc["run"]["peer"]]


def _against_peer(doc: dict, peer: str) -> list[str]:
    others = _other_peers(doc)
    labels = {n: (doc["run"].get("peers") or {}).get(n, {}).get("label", n) for n in others}
    head = f"| workload | payload | Hoard | {peer} | Hoard/{peer} (median) | per round | CPU Hoard/{peer} per op |"
    rule = "| --- | --- | ---: | ---: | ---: | --- | ---: |"
    for n in others:
        head += f" {labels[n]} | Hoard/{labels[n]} (median) | per round | CPU Hoard/{labels[n]} per op |"
        rule += " ---: | ---: | --- | ---: |"
    lines = [
        "",
        "## Throughput, Hoard against the peers",
        "",
        "Each ratio is Hoard's figure over the peer's in the same round, then the median over rounds: above 1 Hoard moved "
        "more; CPU below 1 Hoard spent less server CPU per operation. The targets are against moto"
        + (f"; {', '.join(labels.values())} is a second peer, run in the same rounds (each workload on Hoard, then on each peer in turn)." if others else "."),
        "",
        head,
        rule,
    ]
    for r in doc["summary"]:
        metric = r["throughput_metric"]
        unit = "MiB/s" if metric == "mib_per_s" else "op/s"
        h = r["hoard"][metric] if r["hoard"] else None
        p = r["peer"][metric] if r["peer"] else None
        per_round = ", ".join(f"{x:.2f}" for x in r["throughput_ratio_per_round"]) or "—"
        line = f"| {r['title']} | {r['payload']} | {_f(h)} {unit} | {_f(p)} {unit if p is not None else ''} | {_x(r['throughput_ratio'])} | {per_round} | {_x(r['cpu_ratio'])} |"
        for n in others:
            side = (r.get("peers") or {}).get(n)
            if not side or not side["server"]:
                line += " — | — | — | — |"
                continue
            v = side["server"][metric]
            rounds = ", ".join(f"{x:.2f}" for x in side["throughput_ratio_per_round"]) or "—"
            line += f" {_f(v)} {unit} | {_x(side['throughput_ratio'])} | {rounds} | {_x(side['cpu_ratio'])} |"
        lines.append(line)

    lines += [
        "",
        "## Every figure",
        "",
        "CPU is the server's process tree (utime+stime from /proc), peak RSS its summed VmRSS and peak PSS its summed "
        "proportional set size (pages shared between processes counted once), sampled every 50 ms; "
        "client CPU is the load generator's own, to show when the client rather than the server was the limit.",
        "",
        "| workload | server | op/s | MiB/s | p50 ms | p99 ms | errors | CPU s/GiB | CPU s/1k ops | peak RSS MiB | peak PSS MiB | client CPU s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["summary"]:
        sides = [("hoard", r["hoard"]), (peer, r["peer"])] + [(n, ((r.get("peers") or {}).get(n) or {}).get("server")) for n in others]
        for name, s in sides:
            if not s:
                continue
            cut = f" ({s['truncated_runs']} cut by time limit)" if s["truncated_runs"] else ""
            lines.append(
                f"| {r['title']} | {name} | {_f(s['ops_per_s'])} | {_f(s['mib_per_s'])} | {_f(s['p50_ms'], '.2f')} | "
                f"{_f(s['p99_ms'], '.2f')} | {s['errors']}{cut} | {_f(s['cpu_s_per_gib'], '.2f')} | {_f(s['cpu_s_per_1k_ops'], '.3f')} | "
                f"{s['peak_rss_mib']:.0f} | {_f(s.get('peak_pss_mib'), '.0f')} | {_f(s['client_cpu_s'], '.2f')} |"
            )
    errors = [
        (r["title"], side, r[side]["first_error"]) for r in doc["summary"] for side in ("hoard", "peer") if r[side] and r[side]["first_error"]
    ] + [
        (r["title"], n, r["peers"][n]["server"]["first_error"])
        for r in doc["summary"]
        for n in others
        if ((r.get("peers") or {}).get(n) or {}).get("server") and r["peers"][n]["server"]["first_error"]
    ]
    if errors:
        lines += ["", "First error of each workload that had any:", ""]
        lines += [f"- {t} ({side}): `{e[:200]}`" for t, side, e in errors]
    notes = sorted({r["note"] for r in doc["summary"] if r["note"]})
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    commands = [(p["label"], p["command"]) for p in (doc["run"].get("peers") or {}).values() if p.get("command")]
    for label, command in commands:
        lines += ["", f"{label} was run as (ports free ones on 127.0.0.1, folders under the run's temp folder):", "", f"`{command}`"]
    return lines


def _label(n: str) -> str:
    return f"{n} drive{'s' if n != '1' else ''}"


def drives_section(d: dict) -> list[str]:
    """The drives and erasure-coding part (benchmarks/drives.py)."""
    lines = ["", "## Drives and erasure coding"]
    if "error" in d:
        return lines + ["", f"The drives part failed: `{d['error'][:500]}`"]
    counts = [str(n) for n in d["drive_counts"]]
    plan = d["plan"]
    top = counts[-1]
    layout = "; ".join(f"{_label(n)}: {d['placements'][n]}" for n in counts)
    lines += [
        "",
        f"Three Hoard servers at once ({layout}), each on its own temp folders, all on the same disk, background "
        "scanner off (`HOARD_SCANNER_RATE=0`). Every workload runs on 1, 4 and 8 drives in turn, round after round "
        f"({plan['rounds']} rounds); figures are medians, ratios are taken per round against the 1-drive server in "
        "that round, then their median. PUTs are unsigned and write new keys; GETs cycle over 4 seeded objects (page cache). "
        "The drives are folders on one disk: this measures what erasure coding costs in software (encoding, hashing, "
        "k + m files and m/k more bytes written per object), not the gain of spreading I/O over real disks.",
    ]

    codec = d.get("codec") or {}
    modes = codec.get("modes", {})
    if modes:
        lines += [
            "",
            f"### Erasure codec on one core (1 MiB blocks, `hoard.storage.erasure.codec(k, m)`, median of {codec['reps']} x {codec['seconds']} s)",
            "",
            "MiB/s of block data. *encode + BLAKE3* also hashes every fragment, as a PUT does per block; *decode (data)* "
            "has the k data fragments, the others must rebuild lost data fragments from parity. Each measured in a fresh "
            "interpreter: with glibc's default malloc (what a server process gets) and with the heap kept "
            "(`MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` set), the library's own speed. Page faults per "
            "encoded block show fresh zeroed pages being handed out for every block's buffers.",
            "",
            "| k+m | fragment bytes | malloc | encode | encode + BLAKE3 | decode (data) | decode (1 data lost) | decode (most data lost) | page faults / encode |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for i in range(len(next(iter(modes.values()))["codecs"])):  # one codec, then its malloc modes
            for mode, res in modes.items():
                r = res["codecs"][i]
                lines.append(
                    f"| {r['k']}+{r['m']} | {r['fragment_bytes']:,} | {mode.replace('_', ' ')} | {r['encode_mib_s']:,.0f} | "
                    f"{r['encode_blake3_mib_s']:,.0f} | {r['decode_data_mib_s']:,.0f} | {r['decode_1_lost_mib_s']:,.0f} | "
                    f"{r['decode_max_lost_mib_s']:,.0f} ({r['lost_max']} lost) | {r['encode_faults_per_block']:,.0f} |"
                )
        lines += [
            "",
            "BLAKE3 of a 1 MiB block: "
            + ", ".join(f"{res['blake3_mib_s']:,.0f} MiB/s ({m.replace('_', ' ')})" for m, res in modes.items())
            + ".",
        ]

    lines += [
        "",
        "### PUT and GET of 64 MiB objects",
        "",
        "| workload | "
        + " | ".join(_label(n) for n in counts)
        + " | "
        + " | ".join(f"{n}/1 (median)" for n in counts[1:])
        + f" | {top}/1 per round |",
        "| --- | " + " | ".join("---:" for _ in counts) + " | " + " | ".join("---:" for _ in counts[1:]) + " | --- |",
    ]
    for r in d["rows"]:
        speeds = [_f((r["drives"][n] or {}).get("mib_per_s")) + " MiB/s" for n in counts]
        ratios = [_f(r["ratio"].get(n), ".0%") for n in counts[1:]]
        per_round = ", ".join(f"{x:.2f}" for x in r["ratio_per_round"].get(top, [])) or "—"
        lines.append(f"| {r['title']} | " + " | ".join(speeds) + " | " + " | ".join(ratios) + f" | {per_round} |")
    lines += [
        "",
        "| workload | drives | MiB/s | p50 ms | p99 ms | errors | CPU s/GiB | peak RSS MiB | page faults / MiB | client CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in d["rows"]:
        for n in counts:
            s = r["drives"][n]
            if not s:
                continue
            cut = f" ({s['truncated_runs']} cut by time limit)" if s["truncated_runs"] else ""
            lines.append(
                f"| {r['title']} | {n} | {_f(s['mib_per_s'])} | {_f(s['p50_ms'], '.0f')} | {_f(s['p99_ms'], '.0f')} | {s['errors']}{cut} | "
                f"{_f(s['cpu_s_per_gib'], '.2f')} | {s['peak_rss_mib']:.0f} | {_f(s['minor_faults_per_mib'], ',.0f')} | {_f(s['client_cpu_s'], '.2f')} |"
            )
    errors = [
        (r["title"], n, r["drives"][n]["first_error"])
        for r in d["rows"]
        for n in counts
        if r["drives"][n] and r["drives"][n]["first_error"]
    ]
    lines += [f"- first error, {t} on {_label(n)}: `{e[:200]}`" for t, n, e in errors]

    flat = d.get("flat", {})
    if flat:
        lines += [
            "",
            f"### Memory against object size ({_label(top)}, PUT then GET, c1)",
            "",
            "| objects | PUT MiB/s | GET MiB/s | peak RSS MiB | peak per round | lowest RSS before a run | errors |",
            "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
        ]
        for f in flat.values():
            lines.append(
                f"| {f['size_mib']} MiB | {_f(f['put_mib_per_s'])} | {_f(f['get_mib_per_s'])} | {_f(f['peak_rss_mib'], '.0f')} | "
                f"{', '.join(f'{x:.0f}' for x in f['peak_rss_per_round']) or '—'} | {_f(f['rss_start_mib'], '.0f')} | {f['errors']} |"
            )

    lines += ["", "### Targets (drives)", "", "| target | measured | |", "| --- | --- | --- |"]
    lines += [f"| {t['target']} | {t['measured']} | {_mark(t['met'])} |" for t in d["targets"]]
    return lines


def sse_section(d: dict) -> list[str]:
    """The SSE-S3 against plain part (benchmarks/sse.py): the verdict first, then the ratios."""
    lines = ["", "## Server-side encryption: SSE-S3 against plain"]
    if "error" in d:
        return lines + ["", f"The SSE part failed: `{d['error'][:500]}`"]
    plan = d["plan"]
    lines += [
        "",
        f"**{d['verdict']}**",
        "",
        "One Hoard server of its own takes every workload twice per round, plain and with "
        "`x-amz-server-side-encryption: AES256` (signed), the order turning every round "
        f"({plan['rounds']} rounds). Ratios are SSE / plain in the same round, then their median; the target is "
        f">= {d['target']:.0%}. CPU is the server's per GiB moved, SSE over plain (above 1, encryption costs CPU). "
        "Every SSE answer was checked to say AES256, every plain one to say nothing.",
        "",
        "| workload | plain MiB/s | SSE-S3 MiB/s | SSE/plain (median) | per round | CPU SSE/plain per GiB | |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    marks = {t["key"]: t["met"] for t in d["targets"]}
    for r in d["rows"]:
        plain, enc = r["plain"] or {}, r["sse"] or {}
        per_round = ", ".join(f"{x:.2f}" for x in r["ratio_per_round"]) or "—"
        lines.append(
            f"| {r['title']} | {_f(plain.get('mib_per_s'))} | {_f(enc.get('mib_per_s'))} | {_f(r['ratio'], '.0%')} | {per_round} | "
            f"{_x(r['cpu_ratio'])} | {_mark(marks.get('sse:' + r['workload']))} |"
        )
    lines += [
        "",
        "| workload | variant | op/s | MiB/s | p50 ms | p99 ms | errors | CPU s/GiB | peak PSS MiB | client CPU s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in d["rows"]:
        for variant in ("plain", "sse"):
            s = r[variant]
            if not s:
                continue
            cut = f" ({s['truncated_runs']} cut by time limit)" if s["truncated_runs"] else ""
            lines.append(
                f"| {r['title']} | {variant} | {_f(s['ops_per_s'])} | {_f(s['mib_per_s'])} | {_f(s['p50_ms'], '.2f')} | {_f(s['p99_ms'], '.2f')} | "
                f"{s['errors']}{cut} | {_f(s['cpu_s_per_gib'], '.2f')} | {_f(s.get('peak_pss_mib'), '.0f')} | {_f(s['client_cpu_s'], '.2f')} |"
            )
    errors = [(r["title"], v, r[v]["first_error"]) for r in d["rows"] for v in ("plain", "sse") if r[v] and r[v]["first_error"]]
    lines += [f"- first error, {t} ({v}): `{e[:200]}`" for t, v, e in errors]
    return lines


def write(doc: dict, results: Path, stamp: str, chart: Path | None) -> list[Path]:
    """results/<stamp>.{md,json,png} and the same as latest.*; returns the files written."""
    results.mkdir(parents=True, exist_ok=True)
    written = []
    if chart is not None:
        latest_png = results / "latest.png"
        shutil.copyfile(chart, latest_png)
        written += [chart, latest_png]
    for name in (stamp, "latest"):
        doc["chart"] = f"{name}.png" if chart is not None else None
        md, js = results / f"{name}.md", results / f"{name}.json"
        md.write_text(markdown(doc, results))
        js.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        written += [md, js]
    return written
