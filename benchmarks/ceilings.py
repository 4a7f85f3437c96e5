"""This machine's ceilings: what the hardware and kernel allow before any server code runs.

Each figure is the median of a few short repetitions, measured with plain sockets, files and
hashlib in this process (threads where the real server would overlap work), so the server's
numbers can be read as a fraction of what is physically on offer here.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import queue
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

from benchmarks.client import Connection as HttpClient
from benchmarks.client import Credentials
from hoard.storage.bitrot import HASH_SIZE, block_hash

MiB = 1 << 20
_BUF = MiB


def _loopback_pair() -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair over 127.0.0.1 (TCP, not a socketpair: the servers use TCP)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


def _drain(sock: socket.socket) -> int:
    """Receive until EOF into one reused buffer; returns the byte count."""
    buf = bytearray(_BUF)
    view = memoryview(buf)
    total = 0
    while n := sock.recv_into(view):
        total += n
    return total


def _timed_stream(send: Callable[[socket.socket, float], None], seconds: float) -> float:
    """MiB/s of one sender thread streaming to a receiver for about ``seconds``."""
    tx, rx = _loopback_pair()
    with tx, rx:

        def sender() -> None:
            send(tx, time.perf_counter() + seconds)
            tx.shutdown(socket.SHUT_WR)

        thread = threading.Thread(target=sender)
        t0 = time.perf_counter()
        thread.start()
        got = _drain(rx)
        elapsed = time.perf_counter() - t0
        thread.join()
    return got / MiB / elapsed


def loopback_sendrecv(seconds: float) -> float:
    payload = os.urandom(_BUF)

    def send(sock: socket.socket, deadline: float) -> None:
        while time.perf_counter() < deadline:
            sock.sendall(payload)

    return _timed_stream(send, seconds)


def loopback_sendfile(seconds: float, workdir: Path) -> float:
    path = workdir / "ceiling-sendfile.bin"
    size = 256 * MiB
    with open(path, "wb") as f:
        chunk = os.urandom(_BUF)
        for _ in range(size // _BUF):
            f.write(chunk)
    try:
        with open(path, "rb") as f:
            fd = f.fileno()
            os.pread(fd, 1, 0)  # the file was just written: it is in the page cache, as a hot object would be

            def send(sock: socket.socket, deadline: float) -> None:
                offset = 0
                while time.perf_counter() < deadline:
                    sent = os.sendfile(sock.fileno(), fd, offset, 8 * MiB)
                    offset = (offset + sent) % size

            return _timed_stream(send, seconds)
    finally:
        path.unlink()


def _shard_file(path: Path, blocks: int) -> None:
    """A cached file laid out as Hoard's one-drive shard files are: [BLAKE3][1 MiB] per block."""
    block = os.urandom(_BUF)
    digest = block_hash(block)
    with open(path, "wb") as f:
        for _ in range(blocks):
            f.write(digest)
            f.write(block)
    with open(path, "rb") as f:
        while f.read(8 * MiB):  # in the page cache, as a hot object is
            pass


def file_read_verify_send(seconds: float, workdir: Path) -> float:
    """MiB/s of the least a GET that verifies every block must do, with no HTTP: read each block
    of a cached shard file and check its BLAKE3 in one thread while another sends the block
    before it (the two overlap, as a server's reader and event loop can)."""
    path = workdir / "ceiling-shard.bin"
    blocks, stride = 64, HASH_SIZE + _BUF
    _shard_file(path, blocks)
    fd = os.open(path, os.O_RDONLY)
    try:

        def send(sock: socket.socket, deadline: float) -> None:
            ready: queue.Queue[memoryview | None] = queue.Queue(2)
            ring = [memoryview(bytearray(stride)) for _ in range(4)]  # 2 queued, 1 sent, 1 read

            def reader() -> None:
                n = 0
                while time.perf_counter() < deadline:
                    view = ring[n % len(ring)]
                    os.preadv(fd, [view], (n % blocks) * stride)
                    if block_hash(view[HASH_SIZE:]) != view[:HASH_SIZE]:
                        raise RuntimeError("the ceiling's shard file does not verify")
                    ready.put(view[HASH_SIZE:])
                    n += 1
                ready.put(None)

            thread = threading.Thread(target=reader)
            thread.start()
            while (block := ready.get()) is not None:
                sock.sendall(block)
            thread.join()

        return _timed_stream(send, seconds)
    finally:
        os.close(fd)
        path.unlink()


def _do_nothing_responder(ready: Connection, size: int) -> None:
    """Answer every request on every connection with ``size`` bytes already in memory (a child process)."""
    body = os.urandom(size)
    head = f"HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n".encode()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ready.send(listener.getsockname()[1])
        while True:
            conn, _ = listener.accept()
            with conn:
                pending = b""
                try:
                    while True:
                        while b"\r\n\r\n" not in pending:
                            got = conn.recv(65536)
                            if not got:
                                raise ConnectionError
                            pending += got
                        pending = pending.split(b"\r\n\r\n", 1)[1]
                        conn.sendall(head)
                        conn.sendall(body)
                except OSError:
                    pass


def client_get(seconds: float, size: int = 64 * MiB) -> float:
    """MiB/s the benchmark's own client receives ``size``-byte GET answers from a server in another
    process that does nothing but send them from memory: the most any server can show in a GET
    workload of that size on this machine."""
    parent, child = multiprocessing.get_context("spawn").Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_do_nothing_responder, args=(child, size), daemon=True)
    proc.start()
    try:
        port = parent.recv()

        async def fetch() -> float:
            client = HttpClient("127.0.0.1", port, Credentials("ceiling", "ceiling"))
            await client.request("GET", "/ceiling/warm", payload_hash="UNSIGNED-PAYLOAD")
            got, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                got += (await client.request("GET", "/ceiling/object", payload_hash="UNSIGNED-PAYLOAD")).nbytes
            elapsed = time.perf_counter() - t0
            client.close()
            return got / MiB / elapsed

        return asyncio.run(fetch())
    finally:
        proc.kill()
        proc.join()


def disk_write_fsync(total: int, workdir: Path) -> float:
    """MiB/s writing ``total`` bytes in 1 MiB writes, the fsync included in the time."""
    path = workdir / "ceiling-disk.bin"
    chunk = os.urandom(_BUF)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(total // _BUF):
            os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - t0
    path.unlink()
    return total / MiB / elapsed


def hash_speed(name: str, seconds: float) -> float:
    """MiB/s of one hashlib algorithm on one core, 1 MiB updates."""
    data = os.urandom(_BUF)
    h = hashlib.new(name)
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        for _ in range(16):
            h.update(data)
        n += 16
    return n / (time.perf_counter() - t0)


def small_file_creates(seconds: float, workdir: Path) -> float:
    """Files/s: create, write 4 KiB, fsync the file, close, fsync the directory."""
    folder = workdir / "ceiling-small"
    folder.mkdir(exist_ok=True)
    data = os.urandom(4096)
    dir_fd = os.open(folder, os.O_RDONLY)
    n = 0
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            fd = os.open(folder / f"f{n}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.fsync(dir_fd)
            n += 1
        elapsed = time.perf_counter() - t0
    finally:
        os.close(dir_fd)
        for entry in folder.iterdir():
            entry.unlink()
        folder.rmdir()
    return n / elapsed


def receive_write_md5(object_size: int, objects: int, workdir: Path) -> float:
    """MiB/s of one stream doing what a PUT must: receive over loopback, write to a file, MD5
    alongside (in a second thread, as hashlib releases the GIL), fsync at the end of each object.
    """
    payload = os.urandom(_BUF)
    tx, rx = _loopback_pair()
    total = object_size * objects

    def sender() -> None:
        sent = 0
        while sent < total:
            tx.sendall(payload)
            sent += len(payload)

    ring = [bytearray(_BUF) for _ in range(4)]  # buffers in flight between receive and MD5
    pending: list[Future[None] | None] = [None] * len(ring)
    thread = threading.Thread(target=sender)
    with tx, rx, ThreadPoolExecutor(1) as md5_thread:
        t0 = time.perf_counter()
        thread.start()
        for i in range(objects):
            md5 = hashlib.md5()
            path = workdir / f"ceiling-rwm-{i}.bin"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            got, slot = 0, 0
            while got < object_size:
                if (f := pending[slot]) is not None:
                    f.result()  # never overwrite a buffer MD5 is still reading
                view = memoryview(ring[slot])
                filled = 0
                while filled < _BUF:
                    n = rx.recv_into(view[filled:])
                    if not n:
                        raise ConnectionError("sender stopped early")
                    filled += n
                os.write(fd, view)
                pending[slot] = md5_thread.submit(md5.update, view)
                got += _BUF
                slot = (slot + 1) % len(ring)
            for f in pending:
                if f is not None:
                    f.result()
            pending = [None] * len(ring)
            md5.hexdigest()
            os.fsync(fd)
            os.close(fd)
        elapsed = time.perf_counter() - t0
        thread.join()
    for i in range(objects):
        (workdir / f"ceiling-rwm-{i}.bin").unlink()
    return total / MiB / elapsed


def measure(workdir: Path, quick: bool, log: Callable[[str], None] = print) -> dict[str, dict[str, float | str]]:
    """All ceilings, each the median of 3 runs, as {name: {value, unit, what}}."""
    sec = 0.7 if quick else 2.0
    reps = 3
    specs: list[tuple[str, str, str, Callable[[], float]]] = [
        ("loopback_sendrecv", "MiB/s", "TCP over 127.0.0.1, send/recv of 1 MiB buffers, one stream", lambda: loopback_sendrecv(sec)),
        (
            "loopback_sendfile",
            "MiB/s",
            "TCP over 127.0.0.1, sendfile() from a cached file, one stream",
            lambda: loopback_sendfile(sec, workdir),
        ),
        (
            "file_read_verify_send",
            "MiB/s",
            "a cached file's 1 MiB blocks read and BLAKE3-checked in one thread, sent over loopback from another: a verified GET with no HTTP",
            lambda: file_read_verify_send(sec, workdir),
        ),
        (
            "client_get",
            "MiB/s",
            "this benchmark's client receiving 64 MiB GET answers from a process that only sends them from memory",
            lambda: client_get(max(sec, 1.5)),
        ),
        (
            "disk_write_fsync",
            "MiB/s",
            "1 MiB writes then fsync, in the benchmark's temp folder",
            lambda: disk_write_fsync((256 if quick else 1024) * MiB, workdir),
        ),
        ("md5", "MiB/s", "hashlib MD5 on one core", lambda: hash_speed("md5", sec)),
        ("sha256", "MiB/s", "hashlib SHA-256 on one core", lambda: hash_speed("sha256", sec)),
        (
            "small_file_create",
            "files/s",
            "create + 4 KiB write + fsync file + fsync dir, one thread",
            lambda: small_file_creates(sec, workdir),
        ),
        (
            "receive_write_md5",
            "MiB/s",
            "one stream: loopback receive + file write + MD5 in a thread beside it + fsync per 64 MiB object",
            lambda: receive_write_md5(64 * MiB, 4 if quick else 8, workdir),
        ),
    ]
    out: dict[str, dict[str, float | str]] = {}
    for name, unit, what, fn in specs:
        runs = [fn() for _ in range(reps)]
        out[name] = {"value": statistics.median(runs), "unit": unit, "what": what, "runs": ", ".join(f"{r:.0f}" for r in runs)}
        log(f"  ceiling {name}: {out[name]['value']:.0f} {unit}")
    return out
