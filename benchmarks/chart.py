"""The PNG: Hoard against the peer, with this machine's ceilings drawn across."""

from __future__ import annotations

from pathlib import Path


def draw(doc: dict, path: Path) -> Path | None:
    """Three panels: data throughput (MiB/s), operation rates (op/s), and Hoard's server CPU per
    operation relative to the peer's.
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
    fig, axes = plt.subplots(3, 1, figsize=(13, 15), constrained_layout=True)

    def bars(ax, subset: list[dict], metric: str, unit: str) -> None:
        xs = range(len(subset))
        h = [(r["hoard"] or {}).get(metric) or 0 for r in subset]
        p = [(r["peer"] or {}).get(metric) or 0 for r in subset]
        ax.bar([x - 0.2 for x in xs], h, 0.4, label="Hoard", color="#1f77b4")
        ax.bar([x + 0.2 for x in xs], p, 0.4, label=peer, color="#ff7f0e")
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
    paired = [r for r in rows if r["cpu_ratio"] is not None]
    ax.bar(range(len(paired)), [r["cpu_ratio"] for r in paired], 0.6, color="#1f77b4", label=f"Hoard CPU per op / {peer} CPU per op")
    ax.axhline(0.5, color="red", linestyle="--", linewidth=1, label="target: 0.5")
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="parity")
    ax.set_xticks(range(len(paired)), [r["title"] for r in paired], rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ratio (log)")
    ax.set_title(f"Server CPU per operation, Hoard as a fraction of {peer} (lower is better)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)

    fig.suptitle(f"Hoard vs {peer} — {doc['run']['mode']} mode, {doc['run']['started']}, {doc['machine']['cpu_model']}")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
