"""CPU time and memory of a server's whole process tree, read from /proc.

Read from /proc directly (not psutil) so the suite needs nothing more, and so the exact
figures are plain: utime+stime from /proc/<pid>/stat, VmRSS from /proc/<pid>/status, Pss from
/proc/<pid>/smaps_rollup.

Summed RSS counts a page shared by several processes once per process: worker processes forked
from one supervisor share its code and heap until they write to them, so for Hoard with
``--workers N`` summed RSS overstates what the server takes. PSS divides each shared page among
its sharers, so summed PSS is the memory the tree uses; with one process the two nearly agree.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; everything after the last ')'
    # is space-separated, starting with field 3 (state).
    return raw[raw.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    """Direct children via /proc/<pid>/task/<tid>/children (cheap), else a scan of /proc."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    try:
        for tid in tasks:
            out.extend(int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        return out
    except FileNotFoundError:
        # Kernel without CONFIG_PROC_CHILDREN: find children by their parent id.
        return [int(e) for e in os.listdir("/proc") if e.isdigit() and (_stat_fields(int(e)) or ["", ""])[1] == str(pid)]
    except OSError:
        return out


def process_start(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), or None if
    it is gone: with the pid, it names one process even if the pid is later reused."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def tree_pids(root: int) -> list[int]:
    """The root and every live descendant (threads are not processes and need no walk)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(_children(pid))
    return out


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of the live tree, plus the root's reaped children (cutime+cstime), so a
    worker that exits during a workload still counts."""
    total = 0
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if not fields:
            continue
        # Fields 14..17 (utime stime cutime cstime) sit at 11..14 once the first two are gone.
        total += int(fields[11]) + int(fields[12])
        if pid == root:
            total += int(fields[13]) + int(fields[14])
    return total / _TICKS


def tree_minor_faults(root: int) -> int:
    """Minor page faults (minflt) of the live tree plus the root's reaped children (cminflt).

    Each one is a page the kernel had to hand out and zero: a process that keeps getting fresh
    memory for every buffer (e.g. malloc returning it to the kernel and asking again) shows it
    here long before it shows in RSS."""
    total = 0
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if not fields:
            continue
        # Fields 10 (minflt) and 11 (cminflt) sit at 7 and 8 once the first two are gone.
        total += int(fields[7])
        if pid == root:
            total += int(fields[8])
    return total


def _summed_kib(pids: list[int], file: str, field: str) -> int:
    """The sum over ``pids`` of one ``Name:   N kB`` line of /proc/<pid>/<file>, in bytes."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def tree_rss_bytes(root: int) -> int:
    return _summed_kib(tree_pids(root), "status", "VmRSS:")


class RssSampler:
    """Samples the tree's RSS and PSS in a thread while a workload runs and keeps the peaks.

    A thread rather than an asyncio task: the load generator's event loop is saturated on
    purpose, and a task there would sample late exactly when memory peaks.
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        pids = tree_pids(self.root)
        self.peak = max(self.peak, _summed_kib(pids, "status", "VmRSS:"))
        self.peak_pss = max(self.peak_pss, _summed_kib(pids, "smaps_rollup", "Pss:"))
