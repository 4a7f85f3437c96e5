"""Optional profiling of the Hoard process with py-spy while one workload runs again.

The profiled run is extra: it is not one of the measured rounds, since sampling costs the
server CPU on a 2-core machine. Output is py-spy's "raw" (collapsed stacks) format, reduced
here to the frames that hold the most samples.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
_PREFIX = re.compile(r"^.*(?:site-packages/|/lib/python3\.\d+/)")  # greedy: the last one wins
_HOARD = re.compile(r"^.*/(hoard/)")
_GENERIC_FILES = (
    "<frozen runpy>",
    "uvicorn/_compat.py",
    "threading.py",
    "concurrent/futures/thread.py",
    "runpy.py",
    "click/",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "hoard/supervisor.py",  # every worker process's samples sit under its fork
    "asyncio/runners.py",
    "hoard/__main__.py",
    "hoard/cli/main.py",
)


def available() -> bool:
    return shutil.which("py-spy") is not None


class Recorder:
    def __init__(self, pid: int, output: Path, *, gil_only: bool = False, rate: int = 200) -> None:
        # --nonblocking: never pause the server (sampling is then slightly racy, which is fine
        # for finding where time goes). --gil: only the thread holding the GIL, i.e. the Python
        # code that serialises the whole process.
        # --subprocesses: with --workers N the server is a supervisor and N worker processes.
        self.cmd = ["py-spy", "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--output", str(output), "--nonblocking", "--subprocesses"]
        if gil_only:
            self.cmd.append("--gil")
        self.output = output
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Recorder:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")


# The two views of every profile: all active threads, then only the thread holding the GIL.
VIEWS = (("threads", "all active threads", False), ("gil", "thread holding the GIL", True))


def profile_views(
    pid: int, label: str, folder: Path, run_once: Callable[[], tuple[int, int]], log: Callable[[str], None], seconds: float = 4
) -> dict[str, dict]:
    """Record both views of one workload, ``run_once`` (returning its ops and errors) repeated
    for ``seconds`` each; {"<label> (<view>)": summary or {"error": ...}}."""
    out: dict[str, dict] = {}
    for view, what, gil_only in VIEWS:
        name = f"{label} ({what})"
        raw = folder / f"pyspy-{re.sub(r'[^A-Za-z0-9]+', '-', label)}-{view}.txt"
        try:
            with Recorder(pid, raw, gil_only=gil_only):
                time.sleep(0.5)  # let py-spy attach before the load starts
                t0, ops, errors = time.perf_counter(), 0, 0
                while time.perf_counter() - t0 < seconds and ops < 100_000:
                    done, failed = run_once()
                    ops, errors = ops + done, errors + failed
            out[name] = summarize(raw) | {"ops": ops, "errors": errors}
            log(f"  profiled {name}: {out[name]['samples']} samples; top self frame {out[name]['self'][:1]}")
        except (OSError, RuntimeError) as exc:
            out[name] = {"error": str(exc)[:300]}
            log(f"  profile of {name} failed: {exc}")
    return out


def _short(frame: str) -> str:
    """'func (/long/path/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py)': the lines of one
    function are summed, and paths lose their install prefix."""
    name, _, where = frame.partition(" (")
    path = _LINE.sub("", where.rstrip(")") + ")").rstrip(")")
    path = _PREFIX.sub("", path)
    path = _HOARD.sub(r"\1", path)
    return f"{name} ({path})" if where else name


def _generic(frame: str) -> bool:
    """Frames every sample of a thread sits under (start-up, thread pools): no information."""
    # "process N:..." is py-spy's root frame of each process with --subprocesses.
    return frame.startswith(("<module>", "process ")) or any(f"({p}" in frame for p in _GENERIC_FILES)


def summarize(raw: Path, top: int = 12) -> dict[str, object]:
    """Top frames by self samples (where the time is spent) and by inclusive samples (what it
    is spent under), as percentages of all samples."""
    own: collections.Counter[str] = collections.Counter()
    total_in: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total_in[frame] += n
    pct = 100 / samples if samples else 0.0
    return {
        "samples": samples,
        "self": [(f, round(c * pct, 1)) for f, c in own.most_common(top)],
        "inclusive": [(f, round(c * pct, 1)) for f, c in total_in.most_common() if not _generic(f)][:top],
    }
