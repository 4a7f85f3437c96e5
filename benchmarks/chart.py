"""The PNG: Hoard against the peer with this machine's ceilings drawn across, and Hoard on 1, 4 and 8 drives."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(doc: dict, path: Path) -> Path | None:
    """Three panels against the peers (moto, and SeaweedFS where it ran): data throughput (MiB/s),
    operation rates (op/s), and Hoard's server CPU per operation relative to each peer's; then, when the drives part ran, 64 MiB PUT
    and GET on 1, 4 and 8 drives beside the codec's speed.
    Returns None when matplotlib is missing (the tables still carry every figure)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display here
        import matplotlib.pyplot as plt
    except ImportError:
        return None

    rows = doc["summary"]
    peer = doc["run"]["peer"] or "peer"
    ceilings = doc["ceilings"]
    data = [r for r in rows if r["throughput_metric"] == "mib_per_s"]
    meta = [r for r in rows if r["throughput_metric"] == "ops_per_s"]
    drives = doc.get("drives") if doc.get("drives") and "error" not in doc["drives"] else None
    n_rows = (3 if rows else 0) + (1 if drives else 0)
    if not n_rows:
        return None
    fig = plt.figure(figsize=(13, 5 * n_rows), constrained_layout=True)
    grid = fig.add_gridspec(n_rows, 2)
    if drives:
        _drives(fig.add_subplot(grid[n_rows - 1, 0]), fig.add_subplot(grid[n_rows - 1, 1]), drives)
    if not rows:
        return _save(fig, plt, doc, path, "Hoard on 1, 4 and 8 drives")
    axes = [fig.add_subplot(grid[i, :]) for i in range(3)]

    peers = doc["run"].get("peers") or {}
    others = [n for n in peers if n != doc["run"]["peer"]]
    colors = {"hoard": "#1f77b4", "peer": "#ff7f0e"} | dict(zip(others, ("#2ca02c", "#9467bd", "#8c564b"), strict=False))

    def bars(ax, subset: list[dict], metric: str, unit: str) -> None:
        xs = range(len(subset))
        series = [("Hoard", "hoard", [(r["hoard"] or {}).get(metric) or 0 for r in subset])]
        series.append((peer, "peer", [(r["peer"] or {}).get(metric) or 0 for r in subset]))
        for n in others:
            ys = [((r.get("peers") or {}).get(n, {}).get("server") or {}).get(metric) or 0 for r in subset]
            series.append((peers[n].get("label", n), n, ys))
        width = 0.8 / len(series)
        for j, (label, key, ys) in enumerate(series):
            ax.bar([x + (j - (len(series) - 1) / 2) * width for x in xs], ys, width, label=label, color=colors[key])
        ax.set_xticks(list(xs), [r["title"] for r in subset], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(unit)
        ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)

    def line(ax, name: str, label: str, color: str) -> None:
        if name in ceilings:
            v = float(ceilings[name]["value"])
            ax.axhline(v, color=color, linestyle="--", linewidth=1, label=f"{label}: {v:,.0f} {ceilings[name]['unit']}")

    ax = axes[0]
    bars(ax, data, "mib_per_s", "MiB/s (log)")
    line(ax, "loopback_sendrecv", "loopback send/recv", "green")
    line(ax, "receive_write_md5", "receive + write + MD5", "red")
    line(ax, "disk_write_fsync", "disk write + fsync", "purple")
    ax.set_title("Data throughput (median over rounds)")
    ax.legend(fontsize=8)

    ax = axes[1]
    bars(ax, meta, "ops_per_s", "operations/s (log)")
    line(ax, "small_file_create", "small-file create + fsync", "red")
    ax.set_title("Operation rates (median over rounds)")
    ax.legend(fontsize=8)

    ax = axes[2]
    ratios = [(peer, "peer", [r["cpu_ratio"] for r in rows])]
    ratios += [(peers[n].get("label", n), n, [((r.get("peers") or {}).get(n) or {}).get("cpu_ratio") for r in rows]) for n in others]
    width = 0.8 / len(ratios)
    for j, (label, key, ys) in enumerate(ratios):
        xs = [i + (j - (len(ratios) - 1) / 2) * width for i, y in enumerate(ys) if y is not None]
        ax.bar(xs, [y for y in ys if y is not None], width, color=colors[key], label=f"Hoard CPU per op / {label} CPU per op")
    ax.axhline(0.5, color="red", linestyle="--", linewidth=1, label=f"target against {peer}: 0.5")
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="parity")
    ax.set_xticks(range(len(rows)), [r["title"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ratio (log)")
    names = " and ".join([peer] + [peers[n].get("label", n) for n in others])
    ax.set_title(f"Server CPU per operation, Hoard as a fraction of {names} (lower is better)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)

    return _save(fig, plt, doc, path, f"Hoard vs {' and '.join([peer] + [peers[n].get('label', n) for n in others])}")


def _save(fig: Any, plt: Any, doc: dict, path: Path, what: str) -> Path:
    fig.suptitle(f"{what} — {doc['run']['mode']} mode, {doc['run']['started']}, {doc['machine']['cpu_model']}")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _drives(left: Any, right: Any, drives: dict) -> None:
    """Left: 64 MiB PUT/GET MiB/s per drive count, with the 60 % / 70 % of 1 drive marks.
    Right: the codec's MiB/s per (k, m) with the default malloc and with the heap kept."""
    counts = [str(n) for n in drives["drive_counts"]]
    rows = drives["rows"]
    width = 0.8 / len(counts)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    for j, n in enumerate(counts):
        xs = [i + (j - (len(counts) - 1) / 2) * width for i in range(len(rows))]
        ys = [(r["drives"][n] or {}).get("mib_per_s") or 0 for r in rows]
        left.bar(xs, ys, width, label=f"{n} drive{'s' if n != '1' else ''}", color=colors[j % len(colors)])
    for i, r in enumerate(rows):  # the target for the largest drive count, relative to 1 drive
        one = (r["drives"]["1"] or {}).get("mib_per_s")
        if one:
            floor = 0.6 if r["op"] == "put" else 0.7
            left.hlines(one * floor, i - 0.45, i + 0.45, colors="red", linestyles="--", linewidth=1)
    left.plot([], [], color="red", linestyle="--", linewidth=1, label="target: 60 % (PUT) / 70 % (GET) of 1 drive")
    left.set_xticks(range(len(rows)), [r["title"] for r in rows], fontsize=8)
    left.set_ylabel("MiB/s")
    left.set_ylim(0, left.get_ylim()[1] * 1.25)  # room for the legend above the bars
    left.set_title("64 MiB objects on 1, 4 and 8 drives (median over rounds)")
    left.grid(axis="y", alpha=0.3)
    left.legend(fontsize=8, loc="upper right", ncol=2)

    modes = (drives.get("codec") or {}).get("modes", {})
    if not modes:
        right.set_axis_off()
        return
    ops = (
        ("encode", "encode"),
        ("encode_blake3", "encode+BLAKE3"),
        ("decode_data", "decode (data)"),
        ("decode_max_lost", "decode (parity)"),
    )
    labels = [f"{c['k']}+{c['m']}\n{m.replace('_', ' ')}" for c in next(iter(modes.values()))["codecs"] for m in modes]
    n_codecs = len(next(iter(modes.values()))["codecs"])
    values = [[res["codecs"][i][f"{op}_mib_s"] for i in range(n_codecs) for res in modes.values()] for op, _ in ops]
    width = 0.8 / len(ops)
    for j, ((_, title), ys) in enumerate(zip(ops, values, strict=True)):
        right.bar([i + (j - (len(ops) - 1) / 2) * width for i in range(len(labels))], ys, width, label=title, color=colors[j % len(colors)])
    right.set_xticks(range(len(labels)), labels, fontsize=7)
    right.set_yscale("log")
    right.set_ylim(top=right.get_ylim()[1] * 4)  # room for the legend above the bars (log scale)
    right.set_ylabel("MiB/s (log)")
    right.set_title("Erasure codec, 1 MiB blocks, one core")
    right.grid(axis="y", alpha=0.3)
    right.legend(fontsize=7, loc="upper right", ncol=2)
