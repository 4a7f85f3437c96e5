"""What this machine is, for the report: numbers only mean something next to the hardware."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return float("nan")


def filesystem_of(path: Path) -> dict[str, str]:
    """The mount holding ``path``: the longest mount point that is a prefix of it."""
    best = {"mount": "?", "device": "?", "fstype": "?"}
    resolved = str(path.resolve())
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return best
    for line in mounts:
        device, mount, fstype, *_ = line.split()
        mount = mount.replace("\\040", " ")
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best["mount"] if best["mount"] != "?" else ""):
            best = {"mount": mount, "device": device, "fstype": fstype}
    return best


def describe(workdir: Path) -> dict[str, object]:
    fs = filesystem_of(workdir)
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(_mem_total_gib(), 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "disk": f"{fs['fstype']} on {fs['device']} (mounted at {fs['mount']})",
        "workdir": str(workdir),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
