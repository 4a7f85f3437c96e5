"""A drive on another node of the cluster, reached over the internal API
(``hoard.internal_api``): the same ``Drive`` interface as a local folder, so the erasure layer
neither knows nor cares where a fragment lives.

Requests are synchronous (the erasure layer calls drives from worker threads) on a small pool of
keep-alive connections per node. A node that refuses a connection or does not connect within
``connect_timeout`` marks every drive of that node offline at once: they are skipped, at the cost
of one timeout, until a probe finds them back. A node that stops answering on a connection
already open (its cable pulled, its machine dead) is found the same way: the kernel gives up on
data or keep-alive probes the node does not acknowledge within ``connect_timeout``
(TCP_USER_TIMEOUT), while a node that is alive but slow to answer keeps ``io_timeout``. Every
request is signed by ``sign`` (the cluster key).
"""

from __future__ import annotations

import errno
import http.client
import json
import logging
import socket
import ssl
import struct
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from hoard.cluster.internal_auth import Signer
from hoard.nowait import WouldBlock
from hoard.storage.drive import DriveOffline, DriveState

log = logging.getLogger("hoard")

PREFIX = "/.hoard/internal/v1/drives/"
# An idle connection is used again only this soon: the node's keep-alive timeout is 30 s.
IDLE_SECONDS = 10.0
# How long a shard's upload waits on a node that takes none of its bytes (a zero window: its
# event loop held up) before giving the drive up; more than the connect timeout a silent node
# costs elsewhere, as a node under load may stall that long without being gone.
STREAM_PATIENCE = 5.0
# What a node that cannot be reached at all gives: every drive of it is offline at once. Anything
# else (a reset, a close) is one connection's or one drive's trouble.
_UNREACHABLE_ERRNOS = {errno.ETIMEDOUT, errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}
BLOCK_HEADER_SIZE = 4  # hoard.internal_api.BLOCK_HEADER: a block's fragment length, u32 big-endian
READ_AHEAD_BYTES = 4 * 1024 * 1024  # the most a shard's sequential reads ask a node for at once
# A record read from several of a node's drives in one request (hoard.internal_api): per drive,
# its outcome and length, then the bytes (the record, or why the drive failed).
RECORD_FRAME = struct.Struct(">BI")
RECORD_FOUND, RECORD_MISSING, RECORD_FAILED = 0, 1, 2


class RemoteError(OSError):
    """The other node answered with an error."""


class _Connection(http.client.HTTPConnection):
    reused = False  # taken from the idle pool: the node may have closed it meanwhile
    idle_since = 0.0
    patient = False  # a shard upload lengthened its TCP_USER_TIMEOUT (STREAM_PATIENCE)


class _TlsConnection(http.client.HTTPSConnection, _Connection):
    """The same over the cluster's mutual TLS: the node's certificate checked against the
    cluster's CA and its host name, this node's certificate presented."""


# The context connections to other nodes are made from, asked for at each new connection: a
# renewed certificate replaces the context whole (hoard.http.mutual_tls).
TlsContext = Callable[[], ssl.SSLContext]


class NodeConnections:
    """Keep-alive connections to one node, shared by its drives (a connection is one request at a time)."""

    def __init__(self, base_url: str, connect_timeout: float = 2.0, io_timeout: float = 30.0, tls: TlsContext | None = None) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"a node's address is http://HOST:PORT or https://HOST:PORT, not {base_url!r}")
        self.base_url = base_url
        self.host, self.port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        self.connect_timeout, self.io_timeout = connect_timeout, io_timeout
        self.tls = tls
        # A node of a cluster that uses internal TLS never sends to a node in clear, nor can one
        # without it call a node that requires it: such a node is as unreachable.
        self.refusal: str | None = None
        if url.scheme == "https" and tls is None:
            self.refusal = f"{base_url} takes internal calls over TLS only, and this node has no --internal-tls"
        elif url.scheme == "http" and tls is not None:
            self.refusal = f"{base_url} serves the internal API without TLS, and this node sends nothing in clear (--internal-tls)"
        self.drives: list[RemoteDrive] = []  # the node's drives this pool serves
        self.silent = False  # the last connection tried did not reach the node
        self._idle: list[_Connection] = []
        # Every connection made, idle or in use, for ``interrupt`` (gone when its user drops it).
        self._open: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def take(self, fresh: bool = False) -> _Connection:
        """A connection to the node: an idle one unless ``fresh``, else a new one."""
        now = time.monotonic()
        while not fresh:
            with self._lock:
                if not self._idle:
                    break
                conn = self._idle.pop()
            if now - conn.idle_since < IDLE_SECONDS:
                conn.reused = True
                return conn
            conn.close()  # idle long enough that the node may be closing it
        if self.refusal is not None:
            raise ConnectionRefusedError(errno.ECONNREFUSED, self.refusal)
        if self.tls is not None:
            conn: _Connection = _TlsConnection(self.host, self.port, timeout=self.connect_timeout, context=self.tls())
        else:
            conn = _Connection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()  # the connect timeout applies here (to the handshake too); the I/O timeout after
        except ssl.SSLError as e:
            # A certificate either side refuses: no call will pass until it is replaced.
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"TLS handshake with {self.base_url} failed: {e}") from None
        self.silent = False
        with self._lock:
            self._open.add(conn)
        assert conn.sock is not None
        conn.sock.settimeout(self.io_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _give_up_on_a_silent_peer(conn.sock, self.connect_timeout)
        return conn

    def unreachable(self, error: BaseException) -> None:
        """The node did not answer on the network: none of its drives will, until probed back."""
        self.silent = True
        self.close()
        for drive in list(self.drives):
            drive.fail_one(error)

    def give_back(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        if conn.patient and conn.sock is not None:
            _user_timeout(conn.sock, self.connect_timeout)  # as it was before the upload
            conn.patient = False
        with self._lock:
            if len(self._idle) < 16:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def interrupt(self) -> None:
        """Break every connection to the node, idle or in use. For a node found silent another way
        (its heartbeat stopped): paused, its kernel still acknowledges what is sent, so no TCP
        timeout ends a call waiting on its answer before ``io_timeout``; broken, the call fails now
        and the erasure layer goes on without the node's drives."""
        self.close()
        with self._lock:
            in_use = list(self._open)
        for conn in in_use:
            sock = conn.sock
            if sock is not None:
                try:
                    # The plain socket's shutdown (not SSLSocket's, which would unwrap it under
                    # the thread reading): the reader's recv sees the end at once.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass


def _give_up_on_a_silent_peer(sock: socket.socket, seconds: float) -> None:
    """Keep-alive probes after a second of silence, and TCP_USER_TIMEOUT: data or probes left
    unacknowledged for ``seconds`` end the connection. A peer that acknowledges but is slow to
    answer is waited for (the socket's own timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 1), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 2)):
        if hasattr(socket, option):  # Linux's; elsewhere the socket's timeout alone applies
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    _user_timeout(sock, seconds)


def _user_timeout(sock: socket.socket, seconds: float) -> None:
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(seconds * 1000))


class RemoteShardWriter:
    """Streams a shard's blocks to the other node as they are made, in one chunked PUT; the
    node answers once the file is durable under its name (``commit``)."""

    def __init__(self, drive: RemoteDrive, shard_id: str) -> None:
        self._drive = drive
        self.size = 0
        path = drive.item_path("shards", shard_id)
        # A new connection: a body streamed onto one the node closed meanwhile could not be sent again.
        self._conn: _Connection | None = drive.connect(fresh=True)
        try:
            assert self._conn.sock is not None
            _user_timeout(self._conn.sock, STREAM_PATIENCE)
            self._conn.patient = True
            self._conn.putrequest("PUT", path, skip_accept_encoding=True)
            # Signed for a chunked body: the headers carry transfer-encoding: chunked.
            for name, value in drive.sign("PUT", path, "", None).items():
                self._conn.putheader(name, value)
            self._conn.endheaders()
        except OSError as e:
            self._lost(e)

    def _lost(self, error: OSError) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._drive.fail(error)
        raise error

    def write_block(self, checksum: bytes, fragment: bytes) -> None:
        if self._conn is None:
            raise RemoteError("the shard's upload was abandoned")
        length = len(fragment)
        chunk = len(checksum) + length + BLOCK_HEADER_SIZE
        try:
            self._conn.send(b"%x\r\n%s%s" % (chunk, length.to_bytes(BLOCK_HEADER_SIZE, "big"), checksum))
            self._conn.send(fragment)
            self._conn.send(b"\r\n")
        except OSError as e:
            self._lost(e)
        self.size += len(checksum) + length

    def commit(self) -> None:
        if self._conn is None:
            raise RemoteError("the shard's upload was abandoned")
        conn, self._conn = self._conn, None
        try:
            # The end mark (a block of length 0) says the shard is whole; then the body's end.
            conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (BLOCK_HEADER_SIZE, bytes(BLOCK_HEADER_SIZE)))
            self._drive.answer(conn, "PUT shard")
        except RemoteError:
            conn.close()
            raise
        except OSError as e:
            conn.close()
            self._drive.fail(e)
            raise

    def abort(self) -> None:
        # Closing mid-body: the node sees the client go and drops its temp file.
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class RemoteShardReader:
    """Ranged reads of one shard file on the other node (never in the event loop: ``nowait``
    always says it would wait)."""

    def __init__(self, drive: RemoteDrive, shard_id: str) -> None:
        self._drive = drive
        self._path = drive.item_path("shards", shard_id)
        # Read-ahead: a GET reads a shard's blocks one after another, and each request costs
        # both nodes far more than the bytes do. Reads that follow on from the last one ask for
        # twice as much as the last request did, up to READ_AHEAD_BYTES; a read elsewhere (a
        # range) starts again at what it asked for.
        self._buffer: memoryview = memoryview(b"")
        self._buffer_at = 0
        self._next = -1  # where a read following on from the last one starts
        self._ahead = 1  # how many reads' worth the next sequential request asks for

    def read(self, length: int, offset: int, nowait: bool = False) -> bytes | bytearray | memoryview:
        if nowait:
            raise WouldBlock("a remote drive is read over the network")
        start = offset - self._buffer_at
        if 0 <= start and start + length <= len(self._buffer):
            self._next = offset + length
            return self._buffer[start : start + length]
        self._ahead = min(self._ahead * 2, max(1, READ_AHEAD_BYTES // max(length, 1))) if offset == self._next else 1
        data = self._drive.request("GET", self._path, f"length={length * self._ahead}&offset={offset}")
        self._buffer, self._buffer_at = memoryview(data), offset
        self._next = offset + length
        return self._buffer[:length]

    def close(self) -> None:
        pass


class RemoteDrive:
    """One drive of another node: ``drive_id`` is its id there, ``connections`` that node's pool."""

    remote = True

    def __init__(self, position: int, node: str, drive_id: str, connections: NodeConnections, sign: Signer) -> None:
        self.position = position
        self.node = node
        self.drive_id = drive_id
        self.use(connections)
        self.sign = sign
        self._state = DriveState.ONLINE
        self.last_error = ""

    def use(self, connections: NodeConnections) -> None:
        """Reach the node through ``connections`` (its pool, which takes this drive offline with
        the node's others when the node cannot be reached)."""
        self.connections = connections
        connections.drives.append(self)

    def __repr__(self) -> str:
        return f"RemoteDrive({self.node}:{self.drive_id})"

    # -- state -------------------------------------------------------------------------------
    @property
    def state(self) -> DriveState:
        return self._state

    @state.setter
    def state(self, value: DriveState) -> None:
        self._state = value

    @property
    def usable(self) -> bool:
        return self._state is not DriveState.OFFLINE

    def fail(self, error: BaseException | str) -> None:
        """Offline: this drive when the node answered that it failed, every drive of the node
        when the node itself did not answer."""
        if unreachable(error):
            self.connections.unreachable(error)
        else:
            self.fail_one(error)

    def fail_one(self, error: BaseException | str) -> None:
        if self._state is not DriveState.OFFLINE:
            log.warning("drive %s on node %s is offline: %s", self.drive_id, self.node, error)
        self._state = DriveState.OFFLINE
        self.last_error = str(error)

    def check(self) -> None:
        if self._state is DriveState.OFFLINE:
            raise DriveOffline(f"drive {self.drive_id} on node {self.node} is offline")

    def missing_or_failed(self, error: OSError) -> bool:
        if isinstance(error, FileNotFoundError):
            return False  # the node answered: only the file is missing
        self.fail(error)
        return True

    def probe(self) -> bool:
        """Ask the node how the drive is; online again if it answers so."""
        try:
            doc = json.loads(self.request("GET", PREFIX + self.drive_id, ""))
        except OSError:
            return False
        self._state = DriveState(doc["state"])
        return self.usable

    # -- requests ----------------------------------------------------------------------------
    def item_path(self, kind: str, item: str) -> str:
        return f"{PREFIX}{self.drive_id}/{kind}/{item}"

    def connect(self, fresh: bool = False) -> _Connection:
        try:
            return self.connections.take(fresh)
        except OSError as e:
            self.fail(e)  # refused or timed out: offline at once, skipped from now on
            raise

    def answer(self, conn: _Connection, what: str) -> bytes:
        """Read the answer to a request sent on ``conn``; errors as OSErrors (404: FileNotFoundError)."""
        response = conn.getresponse()
        body = response.read()
        self._done_with(conn, response)
        if response.status in (200, 204):
            return body
        message = _message(body)
        if response.status == 404:
            raise FileNotFoundError(f"{what} on {self.node}: {message}")
        if response.status == 503:
            self.fail(message)
        raise RemoteError(f"{what} on {self.node} answered {response.status}: {message}")

    def _done_with(self, conn: _Connection, response: http.client.HTTPResponse) -> None:
        if response.will_close:
            conn.close()
        else:
            self.connections.give_back(conn)

    def _exchange(self, send: Callable[[_Connection], Any]) -> Any:
        """``send`` on a connection to the node. A kept-alive connection the node closed
        meanwhile fails before any answer: the request (every one sent this way may be repeated)
        goes once more on a new connection."""
        conn = self.connect()
        while True:
            try:
                return send(conn)
            except (RemoteError, FileNotFoundError):
                raise
            except OSError as e:
                conn.close()
                # Not once the drive is offline: the connection may have been broken on purpose
                # (``NodeConnections.interrupt``), and a new one would wait on the same silent node.
                if conn.reused and self.usable and isinstance(e, (ConnectionResetError, BrokenPipeError)):
                    conn = self.connect(fresh=True)
                    continue
                self.fail(e)
                raise

    def request(self, method: str, path: str, query: str, body: bytes = b"") -> bytes:
        target = f"{path}?{query}" if query else path

        def send(conn: _Connection) -> bytes:
            conn.request(method, target, body=body, headers=self.sign(method, path, query, len(body)))
            return self.answer(conn, f"{method} {path.rsplit('/', 2)[-2]}")

        return self._exchange(send)

    def _head(self, path: str) -> dict[str, str]:
        def send(conn: _Connection) -> http.client.HTTPResponse:
            conn.request("HEAD", path, headers=self.sign("HEAD", path, "", 0))
            response = conn.getresponse()
            response.read()
            self._done_with(conn, response)
            return response

        response = self._exchange(send)
        if response.status == 404:
            raise FileNotFoundError(f"no shard at {path} on {self.node}")
        if response.status != 200:
            raise RemoteError(f"HEAD on {self.node} answered {response.status}")
        return {k.lower(): v for k, v in response.getheaders()}

    # -- the Drive interface -----------------------------------------------------------------
    def create_shard(self, shard_id: str) -> RemoteShardWriter:
        self.check()
        return RemoteShardWriter(self, shard_id)

    def open_shard(self, shard_id: str) -> RemoteShardReader:
        self.shard_size(shard_id)  # FileNotFoundError now, as a local drive's open would
        return RemoteShardReader(self, shard_id)

    def shard_size(self, shard_id: str) -> int:
        return int(self._head(self.item_path("shards", shard_id))["x-hoard-size"])

    def remove_shard(self, shard_id: str) -> None:
        try:
            self.request("DELETE", self.item_path("shards", shard_id), "")
        except FileNotFoundError:
            pass

    def shard_ids(self) -> Iterator[tuple[str, float]]:
        return self._listing("shards")

    def write_record(self, data_id: str, data: bytes) -> None:
        self.request("PUT", self.item_path("records", data_id), "", data)

    def read_record(self, data_id: str, nowait: bool = False) -> bytes | bytearray:
        if nowait:
            raise WouldBlock("a remote drive is read over the network")
        return self.request("GET", self.item_path("records", data_id), "")

    def read_records_beside(self, data_id: str, others: list[RemoteDrive]) -> list[bytes | OSError]:
        """The record from this drive and ``others`` (drives of the same node) in one request:
        for each in that order its bytes, or the error its own ``read_record`` would have raised
        (a drive that failed there is marked offline here too)."""
        body = memoryview(self.request("GET", self.item_path("records", data_id), "with=" + ",".join(d.drive_id for d in others)))
        found: list[bytes | OSError] = []
        at = 0
        for drive in [self, *others]:
            if at + RECORD_FRAME.size > len(body):
                raise RemoteError(f"GET records on {self.node}: the answer is cut short")
            outcome, length = RECORD_FRAME.unpack_from(body, at)
            at += RECORD_FRAME.size
            if at + length > len(body):
                raise RemoteError(f"GET records on {self.node}: the answer is cut short")
            data = bytes(body[at : at + length])
            at += length
            if outcome == RECORD_FOUND:
                found.append(data)
            elif outcome == RECORD_MISSING:
                found.append(FileNotFoundError(f"record {data_id} on {drive}"))
            else:
                message = data.decode(errors="replace")
                drive.fail_one(message)
                found.append(RemoteError(f"record {data_id} on {drive}: {message}"))
        return found

    def remove_record(self, data_id: str) -> None:
        try:
            self.request("DELETE", self.item_path("records", data_id), "")
        except FileNotFoundError:
            pass

    def record_ids(self) -> Iterator[tuple[str, float]]:
        return self._listing("records")

    def record_count(self) -> int:
        return int(json.loads(self.request("GET", f"{PREFIX}{self.drive_id}/records", "count="))["count"])

    def usage(self) -> tuple[int, int]:
        doc = json.loads(self.request("GET", PREFIX + self.drive_id, ""))
        return int(doc["total"]), int(doc["free"])

    def _listing(self, kind: str) -> Iterator[tuple[str, float]]:
        """Every id a line at a time as the node sends them: a drive's listing is never held whole."""
        path = f"{PREFIX}{self.drive_id}/{kind}"
        conn = self.connect()
        try:
            conn.request("GET", path, headers=self.sign("GET", path, "", 0))
            response = conn.getresponse()
            if response.status != 200:
                conn.close()
                raise RemoteError(f"listing {kind} on {self.node} answered {response.status}: {_message(response.read())}")
            while line := response.readline():
                item, mtime = json.loads(line)
                yield item, float(mtime)
        except OSError as e:
            conn.close()
            if not isinstance(e, RemoteError):
                self.fail(e)
            raise
        if response.will_close:
            conn.close()
        else:
            self.connections.give_back(conn)


def unreachable(error: BaseException | str) -> bool:
    """Whether ``error`` says the node could not be reached at all (refused, timed out, no route)."""
    if isinstance(error, (RemoteError, FileNotFoundError)) or not isinstance(error, OSError):
        return False
    return isinstance(error, (TimeoutError, ConnectionRefusedError)) or error.errno in _UNREACHABLE_ERRNOS


def _message(body: bytes) -> str:
    try:
        doc: Any = json.loads(body)
        return str(doc.get("message", doc))
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")
