"""Start and stop the servers under test: Hoard and the peer (moto_server), each on its own port.

Both run as separate processes so the load generator, the CPU accounting (/proc of the
server's tree) and the servers never share an interpreter.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchmarks.client import Credentials

CREDS = Credentials("HOARDBENCHACCESSKEY1", "hoard-bench-secret-key/0123456789abcdefXY")

# moto_server logs every request through werkzeug at INFO; Hoard does not log requests at its
# default level. Silencing werkzeug's access log keeps the comparison about serving, not about
# writing log lines (it only helps the peer).
_MOTO_BOOT = (
    "import logging, sys\nlogging.getLogger('werkzeug').setLevel(logging.WARNING)\nfrom moto.server import main\nmain(sys.argv[1:])\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    version: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    host: str = "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_listening(server: Server, timeout: float = 60) -> Server:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start-up:\n{server.log_tail()}")
        try:
            with socket.create_connection((server.host, server.port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} did not start listening in {timeout}s:\n{server.log_tail()}")


def hoard_version(src: Path | None, cwd: Path) -> str:
    """Hoard's version string as the server process will import it."""
    code = "import hoard; print(hoard.__version__, hoard.__file__)"
    env = dict(os.environ, PYTHONPATH=str(src)) if src else None
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def start_hoard(
    workdir: Path, src: Path | None = None, *, drives: int = 1, name: str = "hoard", env: dict[str, str] | None = None
) -> Server:
    """Start ``python -m hoard server``; with ``src``, from that source tree (PYTHONPATH) rather
    than the installed package, e.g. a ``git worktree`` of another commit.

    ``drives`` > 1 gives it that many data folders (``<name>-data/d1 .. dN``), which Hoard
    groups into erasure sets; ``env`` adds or overrides environment variables (HOARD_*)."""
    data = workdir / f"{name}-data"
    dirs = [data] if drives == 1 else [data / f"d{i}" for i in range(1, drives + 1)]
    port = free_port()
    env = dict(
        os.environ, HOARD_ROOT_ACCESS_KEY=CREDS.access_key, HOARD_ROOT_SECRET_KEY=CREDS.secret_key, HOARD_LOG_LEVEL="warning", **(env or {})
    )
    if src:
        env["PYTHONPATH"] = str(src)
    log_path = workdir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hoard", "server", "--address", f"127.0.0.1:{port}", *map(str, dirs)],
            env=env,
            cwd=workdir,  # not the repository: `python -m` puts the cwd first on sys.path
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return _wait_listening(Server(name, hoard_version(src, workdir), port, proc, log_path))


def start_moto(workdir: Path) -> Server:
    port = free_port()
    spool = workdir / "moto-spool"
    spool.mkdir(parents=True, exist_ok=True)
    # moto keeps objects over ~5 MiB in SpooledTemporaryFiles: point TMPDIR at the benchmark's
    # folder so both servers write to the same file system.
    env = dict(os.environ, TMPDIR=str(spool), AWS_ACCESS_KEY_ID=CREDS.access_key, AWS_SECRET_ACCESS_KEY=CREDS.secret_key)
    log_path = workdir / "moto.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MOTO_BOOT, "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=workdir,  # not the repository: `python -m` puts the cwd first on sys.path
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return _wait_listening(Server("moto", metadata.version("moto"), port, proc, log_path))


def have_moto() -> bool:
    """moto is run from this interpreter (to silence its access log), so it must import here."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True
