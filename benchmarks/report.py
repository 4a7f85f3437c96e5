"""Writes the run's results: markdown for people, JSON for tools, both under results/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def _f(value: float | None, fmt: str = ".1f") -> str:
    return "—" if value is None or value != value else format(value, fmt)


def _mark(met: bool | None) -> str:
    return {True: "✅ met", False: "❌ not met", None: "— not measured"}[met]


def markdown(doc: dict) -> str:
    m, meta = doc["machine"], doc["run"]
    peer = meta["peer"] or "peer"
    lines = [
        f"# Hoard benchmark — {meta['mode']} mode, {meta['started']}",
        "",
        f"Hoard {meta['hoard_version']} (source: {meta['hoard_source']}; git {meta['git']}) against "
        f"{meta['peer_version'] or 'no peer'}; {meta['rounds']} interleaved rounds; whole run {meta['duration_s']:.0f} s. "
        "Figures are medians over rounds; ratios are Hoard / peer per round, then their median.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in m.items()]
    lines += ["", "## Ceilings (this machine, no server)", "", "| ceiling | value | what | runs |", "| --- | ---: | --- | --- |"]
    lines += [f"| {name} | {c['value']:,.0f} {c['unit']} | {c['what']} | {c['runs']} |" for name, c in doc["ceilings"].items()]

    lines += [
        "",
        "## Throughput, Hoard against the peer",
        "",
        f"| workload | payload | Hoard | {peer} | Hoard/{peer} (median) | per round | CPU Hoard/{peer} per op |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in doc["summary"]:
        unit = "MiB/s" if r["throughput_metric"] == "mib_per_s" else "op/s"
        h = r["hoard"][r["throughput_metric"]] if r["hoard"] else None
        p = r["peer"][r["throughput_metric"]] if r["peer"] else None
        per_round = ", ".join(f"{x:.2f}" for x in r["throughput_ratio_per_round"]) or "—"
        ratio = _f(r["throughput_ratio"], ".2f") + ("x" if r["throughput_ratio"] is not None else "")
        cpu = _f(r["cpu_ratio"], ".2f") + ("x" if r["cpu_ratio"] is not None else "")
        lines.append(
            f"| {r['title']} | {r['payload']} | {_f(h)} {unit} | {_f(p)} {unit if p is not None else ''} | {ratio} | {per_round} | {cpu} |"
        )

    lines += [
        "",
        "## Every figure",
        "",
        "CPU is the server's process tree (utime+stime from /proc), peak RSS its summed VmRSS sampled every 50 ms; "
        "client CPU is the load generator's own, to show when the client rather than the server was the limit.",
        "",
        "| workload | server | op/s | MiB/s | p50 ms | p99 ms | errors | CPU s/GiB | CPU s/1k ops | peak RSS MiB | client CPU s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["summary"]:
        for side, name in (("hoard", "hoard"), ("peer", peer)):
            s = r[side]
            if not s:
                continue
            cut = f" ({s['truncated_runs']} cut by time limit)" if s["truncated_runs"] else ""
            lines.append(
                f"| {r['title']} | {name} | {_f(s['ops_per_s'])} | {_f(s['mib_per_s'])} | {_f(s['p50_ms'], '.2f')} | "
                f"{_f(s['p99_ms'], '.2f')} | {s['errors']}{cut} | {_f(s['cpu_s_per_gib'], '.2f')} | {_f(s['cpu_s_per_1k_ops'], '.3f')} | "
                f"{s['peak_rss_mib']:.0f} | {_f(s['client_cpu_s'], '.2f')} |"
            )
    errors = [
        (r["title"], side, r[side]["first_error"])
        for r in doc["summary"]
        for side in ("hoard", "peer")
        if r[side] and r[side]["first_error"]
    ]
    if errors:
        lines += ["", "First error of each workload that had any:", ""]
        lines += [f"- {t} ({side}): `{e[:200]}`" for t, side, e in errors]
    notes = sorted({r["note"] for r in doc["summary"] if r["note"]})
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]

    lines += ["", "## Targets", "", "| target | measured | |", "| --- | --- | --- |"]
    lines += [f"| {t['target']} | {t['measured']} | {_mark(t['met'])} |" for t in doc["targets"]]
    met = sum(1 for t in doc["targets"] if t["met"])
    missed = sum(1 for t in doc["targets"] if t["met"] is False)
    lines += ["", f"{met} met, {missed} not met, {len(doc['targets']) - met - missed} not measured."]

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
        lines += ["", f"![Hoard against {peer} and the ceilings]({doc['chart']})"]
    return "\n".join(lines) + "\n"


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
        md.write_text(markdown(doc))
        js.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        written += [md, js]
    return written
