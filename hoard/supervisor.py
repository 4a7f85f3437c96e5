"""Worker processes sharing the port (``hoard server --workers N``).

One Python process keeps at most about one core busy with its event loop; on two cores a second
process serves small requests 1.3-1.65x faster (benchmarks/README.md). The supervisor is started
after what must happen once, before any worker writes, is done (the drives locked, the
listening sockets bound by ``listen``: one per worker with ``SO_REUSEPORT``, so the kernel
spreads new connections evenly over the workers; then the drives opened and their temp files
swept, the index opened or rebuilt). It forks the workers, which inherit the sockets and the
drives' locks, starts again any that dies, and stops them all on SIGTERM or SIGINT (a second signal
makes them drop open connections). A worker dies with the supervisor even when it is killed
outright (``PR_SET_PDEATHSIG``): a SIGKILLed server leaves no process holding the port.

The supervisor runs no threads and no event loop of its own: ``fork`` copies only the thread
that calls it, and a child inheriting a half-used lock or thread pool would hang.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

import setproctitle

from hoard import metrics
from hoard.process_role import ProcessRole

log = logging.getLogger("hoard.supervisor")
PR_SET_PDEATHSIG = 1
BACKLOG = 2048
PORT_WAIT = 10.0  # seconds to wait for an address the workers of a killed server still hold
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
QUICK_DEATH = 2.0  # a worker that dies this soon after starting counts as failing to start
MAX_QUICK_DEATHS = 5

RunWorker = Callable[[ProcessRole, list[socket.socket]], None]


def _address_family(host: str) -> socket.AddressFamily:
    return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]


def _claim_port(host: str, port: int, family: socket.AddressFamily) -> int:
    """Fail as a single-process server would if anyone listens on the address; returns the port.

    ``SO_REUSEPORT`` sockets would otherwise bind beside another server's and share its traffic.
    A socket without it cannot bind where anything listens, so it tells. Workers of a server just
    killed may hold the address a moment longer (one in an fsync dies only when it returns): wait
    for them, a little.
    """
    deadline = time.monotonic() + PORT_WAIT
    waited = False
    while True:
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            return probe.getsockname()[1]
        except OSError as e:
            if e.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            if not waited:
                log.warning("%s:%d is in use; waiting up to %.0f s for it to be free", host, port, PORT_WAIT)
                waited = True
            time.sleep(0.1)
        finally:
            probe.close()


def _listener(host: str, port: int, family: socket.AddressFamily, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def listen(host: str, port: int, count: int) -> list[socket.socket]:
    """The listening sockets of a server of ``count`` processes: one, or one per worker.

    Bound before the server changes anything on its drives, so a server that cannot have its
    address stops before it has swept anything. Raises OSError if the address cannot be had.
    """
    family = _address_family(host)
    port = _claim_port(host, port, family)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(_listener(host, port, family, reuse_port=count > 1))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def name_process(kind: str, detail: str = "") -> None:
    """Name this process ``hoard: KIND DETAIL`` in ``ps`` (and ``top -c``), so the supervisor and
    each worker of each server are told apart; ``top`` and ``ps -o comm`` show only the first 15
    characters, which ``kind`` is chosen to fit (``worker 12`` becomes ``worker12`` there)."""
    setproctitle.setproctitle(f"hoard: {kind} {detail}".rstrip())
    short = f"hoard: {kind}"
    if len(short) > 15 and kind.startswith("worker "):
        short = f"hoard: worker{kind[7:]}"
    setproctitle.setthreadtitle(short[:15])


def _die_with(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the supervisor died before the line above took effect
        os._exit(1)


class Supervisor:
    def __init__(
        self,
        sockets: list[socket.socket],
        run_worker: RunWorker,
        started_at: float,
        title: str = "",
        website_sockets: list[socket.socket] | None = None,
        metrics_dir: str | None = None,
        console_socket: socket.socket | None = None,
        internal_sockets: list[socket.socket] | None = None,
    ) -> None:
        """``sockets``: one listening socket per worker, from ``listen``; ``title``: what the
        workers' process titles say after their role (the address and folders); ``metrics_dir``:
        the workers' metric files (``hoard.metrics``), removed when the supervisor ends."""
        if len(sockets) < 2:
            raise ValueError("a supervisor runs two or more workers")
        self.title = title
        self.metrics_dir = metrics_dir
        self.count = len(sockets)
        self.run_worker = run_worker
        self.started_at = started_at
        self.port = sockets[0].getsockname()[1]
        self.sockets = sockets
        self.website_sockets = website_sockets or []  # one per worker too, beside its S3 socket
        self.console_sockets = [console_socket] if console_socket is not None else []  # the leader's (worker 0's) alone
        self.internal_sockets = internal_sockets or []  # a cluster node's internal API over mutual TLS: one per worker
        # Only this server's processes know the name; the leader checks every request's signature anyway.
        self.leader_address = f"\0hoard-leader-{os.getpid()}-{secrets.token_hex(8)}"
        self.leader_socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.leader_socket.bind(self.leader_address)
        self.leader_socket.listen(BACKLOG)
        self.leader_socket.setblocking(False)
        self.pid = os.getpid()
        self.children: dict[int, int] = {}  # pid -> worker index
        self.spawned_at: dict[int, float] = {}  # worker index -> when
        self.quick_deaths: dict[int, int] = {}
        self.stopping = 0  # how many stop signals came
        self.exit_code = 0

    # -- the supervisor -------------------------------------------------------------------
    def serve(self) -> int:
        """Run the workers until a stop signal; returns the exit code."""
        if threading.active_count() > 1:
            names = ", ".join(t.name for t in threading.enumerate() if t is not threading.current_thread())
            raise RuntimeError(f"threads still run before the workers are forked: {names}")
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        # Objects made so far are left out of the workers' garbage collections: a collection
        # writes to every object it visits, which would copy the pages the workers share with
        # this process into each of them.
        gc.collect()
        gc.freeze()
        try:
            for index in range(self.count):
                if not self.stopping:
                    self._spawn(index)
            while self.children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                metrics.process_exited(pid)
                index = self.children.pop(pid, None)
                if index is None or self.stopping:
                    continue
                self._restart(index, pid, status)
        finally:
            if self.metrics_dir is not None:
                metrics.remove_directory(self.metrics_dir)
        return self.exit_code

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping += 1
        # The first stop lets workers finish what they are answering; a second one hurries them
        # (uvicorn takes a second signal as "force").
        forward = signal.SIGTERM if self.stopping == 1 else signal.SIGINT
        if self.stopping == 1:
            log.info("stopping %d workers", len(self.children))
        self._signal_all(forward)

    def _signal_all(self, sig: int) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _restart(self, index: int, pid: int, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        how = f"signal {-code}" if code < 0 else f"code {code}"
        if time.monotonic() - self.spawned_at[index] < QUICK_DEATH:
            self.quick_deaths[index] = self.quick_deaths.get(index, 0) + 1
        else:
            self.quick_deaths[index] = 0
        if self.quick_deaths[index] >= MAX_QUICK_DEATHS:
            log.error("worker %d (pid %d) exited with %s, again right after starting: stopping the server", index, pid, how)
            self.exit_code = 1
            self.stopping += 1
            self._signal_all(signal.SIGTERM)
            return
        log.error("worker %d (pid %d) exited with %s; starting it again", index, pid, how)
        time.sleep(0.2 * self.quick_deaths[index])
        if not self.stopping:
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        # Stop signals wait until the child is known (or, in the child, until it has its own
        # handlers): otherwise a child could miss the stop, or run the supervisor's handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = os.fork()
        if pid:
            self.children[pid] = index
            self.spawned_at[index] = time.monotonic()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            return
        self._worker(index)  # never returns

    # -- a worker (in the forked child) ---------------------------------------------------
    def _worker(self, index: int) -> None:
        code = 1
        try:
            _die_with(self.pid)
            name_process(f"worker {index}", self.title)
            # Its own process group: a Ctrl-C in the terminal reaches the supervisor, which stops
            # the workers once, rather than every process at the same time.
            os.setpgid(0, 0)
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            mine = [self.sockets[index], *self.website_sockets[index : index + 1], *self.internal_sockets[index : index + 1]]
            mine += [self.leader_socket, *self.console_sockets] if index == 0 else []
            for sock in [*self.sockets, *self.website_sockets, *self.internal_sockets, self.leader_socket, *self.console_sockets]:
                if sock not in mine:
                    sock.close()
            role = ProcessRole(index=index, count=self.count, started_at=self.started_at, leader_address=self.leader_address)
            self.run_worker(role, mine)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - a worker must never return into the supervisor's loop
            log.exception("worker %d failed", index)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
