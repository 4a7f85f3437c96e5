"""A drive is a folder. It holds shard files, version records and copies of the deployment's
configuration, all under ``.hoard``, named by random ids, never by object key.

Because files are named by ids, nothing a client puts in a key (``../``, ``//``, a NUL) ever
reaches a file path. Every file is written to ``.hoard/tmp``, fsync'd, renamed into place and its
directory fsync'd: only then may anything point at it.

``LocalDrive`` implements ``hoard.storage.drive_api.Drive``, the interface the erasure layer
uses, so a drive on another machine can implement the same methods over the network.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import fcntl
import json
import logging
import mmap
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from hoard.durable import fsync_dir
from hoard.nowait import pread_nowait
from hoard.storage.errors import DriveInUse

log = logging.getLogger("hoard.drive")
FANOUT = 256
WRITEBACK_EVERY = 1024 * 1024
LOCK_WAIT = 10.0  # seconds to wait for a lock whose recorded holder is gone (its workers are exiting)


class DriveState(enum.Enum):
    ONLINE = "online"
    OFFLINE = "offline"
    HEALING = "healing"  # a replaced drive being refilled; serves what it already holds


_STATES = list(DriveState)


class StateSlot:
    """A drive's state and last error, in memory every server process shares.

    Storage maps one anonymous shared region for all its drives before worker processes are
    forked (``hoard.supervisor``), so a drive that fails in one worker is offline in all of them
    at once, and the leader's probe brings it back for all.
    """

    SIZE = 256  # one byte of state, the rest the last error (UTF-8, NUL-padded)

    def __init__(self, memory: memoryview | None = None) -> None:
        self._memory = memory if memory is not None else memoryview(mmap.mmap(-1, self.SIZE))

    @staticmethod
    def shared(count: int) -> list[StateSlot]:
        region = memoryview(mmap.mmap(-1, count * StateSlot.SIZE))  # MAP_SHARED: survives fork shared
        return [StateSlot(region[i * StateSlot.SIZE : (i + 1) * StateSlot.SIZE]) for i in range(count)]

    @property
    def state(self) -> DriveState:
        return _STATES[self._memory[0]]

    @state.setter
    def state(self, value: DriveState) -> None:
        self._memory[0] = _STATES.index(value)

    @property
    def error(self) -> str:
        return bytes(self._memory[1:]).rstrip(b"\0").decode("utf-8", "replace")

    @error.setter
    def error(self, value: str) -> None:
        raw = value.encode("utf-8")[: self.SIZE - 1]
        self._memory[1:] = raw + b"\0" * (self.SIZE - 1 - len(raw))


class DriveOffline(OSError):
    """The drive is marked offline; nothing is read from or written to it until a probe succeeds."""


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return fn


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk now, without waiting for it.

    Linux's sync_file_range(SYNC_FILE_RANGE_WRITE) does only that; posix_fadvise(DONTNEED), the
    portable fallback, also walks the range to drop clean pages. Neither makes anything
    durable: the fsync at commit does.
    """
    if _SYNC_FILE_RANGE is not None and _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0:
        return
    os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def drop_cached(fd: int) -> None:
    """Let the kernel take back a durable file's pages (clean after its fsync) now.

    A file big enough to have had its writeback started early is object data written once and
    seldom read at once; its pages are better back with the free memory than crowding out what
    GETs read. And a write takes its page cache pages from the free memory: pages freed a moment
    ago are fast to fill, where fresh ones can be slow (in a VM that hands unused memory back to
    its host, 3 ms against 0.15 ms per MiB written was measured here).
    """
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


# Object keys, metadata and bytes are the server user's alone: nothing under a drive's .hoard/ is
# readable by other local users.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private(path: Path, mode: int) -> None:
    """Give ``path`` exactly ``mode`` (taking away what group and others had)."""
    if os.stat(path).st_mode & 0o777 != mode:
        os.chmod(path, mode)


def make_private_dir(path: Path) -> None:
    """A folder only the server's user may enter, whether new or left by an older Hoard."""
    try:
        os.mkdir(path, PRIVATE_DIR)
    except FileExistsError:
        pass
    make_private(path, PRIVATE_DIR)


class FileWriter:
    """Receives bytes into a temp file; ``commit`` makes them durable under their final name."""

    def __init__(self, drive: LocalDrive, final: Path, name: str) -> None:
        self.drive = drive
        self.final = final
        self.size = 0
        self._flushed = 0
        self._tmp = drive.tmp / f"{name}.{threading.get_ident():x}.{time.monotonic_ns():x}"
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        self._file: BinaryIO | None = os.fdopen(fd, "wb", buffering=0)

    def write(self, data: bytes | memoryview) -> None:
        assert self._file is not None
        self._file.write(data)
        self.size += len(data)
        self._start_writeback()

    def _start_writeback(self) -> None:
        if self._file is not None and self.size - self._flushed >= WRITEBACK_EVERY:
            # Start writing back what is done so far: the fsync at commit then has little left
            # to flush, and a large upload does not fill the page cache with dirty pages.
            start_writeback(self._file.fileno(), self._flushed, self.size - self._flushed)
            self._flushed = self.size

    def write_block(self, checksum: bytes, fragment: bytes) -> None:
        """One shard block, its checksum first; written together without joining them in memory."""
        assert self._file is not None
        fd = self._file.fileno()
        total = len(checksum) + len(fragment)
        written = os.writev(fd, [checksum, fragment])
        if written < total:  # a short write (rare): finish it plainly
            rest = (checksum + fragment)[written:]
            self._file.write(rest)
        self.size += total
        self._start_writeback()

    def commit(self) -> None:
        assert self._file is not None
        fd = self._file.fileno()
        os.fsync(fd)
        if self._flushed:
            drop_cached(fd)
        self._file.close()
        self._file = None
        os.rename(self._tmp, self.final)
        fsync_dir(self.final.parent)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            os.unlink(self._tmp)
        except OSError:
            pass


class LocalShardReader:
    """A shard file open for positional reads (so one reader serves any thread, no seek)."""

    __slots__ = ("_fd",)

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)

    def read(self, length: int, offset: int, nowait: bool = False) -> bytes | bytearray:
        # With nowait, only bytes already in the page cache (RWF_NOWAIT): see hoard.nowait.
        return pread_nowait(self._fd, length, offset) if nowait else os.pread(self._fd, length, offset)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


class LocalDrive:
    remote = False

    def __init__(self, root: Path, position: int = 0, slot: StateSlot | None = None) -> None:
        self.root = root
        self.position = position  # in the order given on the command line
        self.system = root / ".hoard"
        self.tmp = self.system / "tmp"
        self.shards = self.system / "shards"
        self.records = self.system / "records"
        self.buckets = self.system / "buckets"
        self.format_file = self.system / "format.json"
        self.lock_file = self.system / "lock"
        self._lock_fd: int | None = None
        self._slot = slot or StateSlot()
        self.state = DriveState.ONLINE
        self.last_error = ""
        self.drive_id = ""

    def __repr__(self) -> str:
        return f"<drive {self.position} {self.root} {self.state.value}>"

    # -- state ----------------------------------------------------------------------------
    @property
    def state(self) -> DriveState:
        return self._slot.state

    @state.setter
    def state(self, value: DriveState) -> None:
        self._slot.state = value

    @property
    def last_error(self) -> str:
        return self._slot.error

    @last_error.setter
    def last_error(self, value: str) -> None:
        self._slot.error = value

    @property
    def usable(self) -> bool:
        return self.state is not DriveState.OFFLINE

    def fail(self, error: BaseException | str) -> None:
        """Mark the drive offline after an I/O error; a probe brings it back."""
        if self.state is not DriveState.OFFLINE:
            log.warning("drive %s (%s) is offline: %s", self.position, self.root, error)
        self.state = DriveState.OFFLINE
        self.last_error = str(error)

    def check(self) -> None:
        if self.state is DriveState.OFFLINE:
            raise DriveOffline(f"drive {self.root} is offline")

    def present(self) -> bool:
        """Whether the drive still holds its identity (a deleted or unmounted folder does not)."""
        try:
            return self.format_file.is_file()
        except OSError:
            return False

    def missing_or_failed(self, error: OSError) -> bool:
        """After an error: True if the drive itself is gone (and is now marked offline)."""
        if isinstance(error, FileNotFoundError) and self.present():
            return False
        self.fail(error)
        return True

    # -- the lock: one server per drive ----------------------------------------------------
    @property
    def locked(self) -> bool:
        return self._lock_fd is not None and self._holds_lock_file()

    def _holds_lock_file(self) -> bool:
        """Whether the file locked is still the one at the lock's path (a folder emptied and
        reused as a replacement has a new one, which another server could otherwise take)."""
        assert self._lock_fd is not None
        try:
            held, current = os.fstat(self._lock_fd), os.stat(self.lock_file)
        except OSError:
            return False
        return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)

    def lock(self, wait: float = LOCK_WAIT) -> None:
        """Take the drive for this server, before anything on it is read or changed.

        An exclusive ``flock`` on ``.hoard/lock``, held as long as the file stays open: by this
        process and the worker processes it forks (they share the open file), released by the
        kernel however they end, so a killed server leaves nothing that blocks a restart. The
        holder writes its pid there to be named to a second server, which gets ``DriveInUse``.
        Workers of a killed server exit a moment after it (one in an fsync only when it returns):
        a lock whose recorded holder is gone is waited for, up to ``wait`` seconds.

        Raises ``DriveInUse``, or ``OSError`` if the folder cannot hold the lock file.
        """
        if self._lock_fd is not None and self._holds_lock_file():
            return
        if not self.root.is_dir():
            raise FileNotFoundError(f"drive folder {self.root} does not exist")
        self.system.mkdir(exist_ok=True)
        # O_CLOEXEC: a program this process runs must not inherit (and so keep) the lock.
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _lock_holder(fd)
                    if holder is not None and _alive(holder) or time.monotonic() > deadline:
                        raise DriveInUse(str(self.root), holder) from None
                    time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        previous, self._lock_fd = self._lock_fd, fd
        if previous is not None:
            os.close(previous)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)

    # -- layout ---------------------------------------------------------------------------
    def prepare(self, create_root: bool) -> int:
        """Lock the drive, create the layout and remove temp files a crash left behind; returns
        how many. Raises ``DriveInUse`` if another server holds the drive."""
        if create_root:
            self.root.mkdir(PRIVATE_DIR, parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise FileNotFoundError(f"drive folder {self.root} does not exist")
        self.lock(wait=0)  # a drive found at start-up is locked already, waiting if need be (Storage.lock)
        for d in (self.system, self.tmp, self.shards, self.records, self.buckets):
            make_private_dir(d)
        for top in (self.shards, self.records):
            for i in range(FANOUT):
                make_private_dir(top / f"{i:02x}")
            fsync_dir(top)
        # Files written before modes were set (the index and its WAL among them: object keys and
        # metadata) are made the server user's alone; shard and record files always were.
        for folder in (self.system, self.buckets):
            for path in folder.iterdir():
                if path.is_file():
                    make_private(path, PRIVATE_FILE)
        fsync_dir(self.system)
        fsync_dir(self.root)
        removed = 0
        for leftover in self.tmp.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink()
            removed += 1
        return removed

    def read_format(self) -> dict | None:
        try:
            return json.loads(self.format_file.read_text())
        except FileNotFoundError:
            return None

    def write_format(self, fmt: dict) -> None:
        self.write_file(self.format_file, json.dumps(fmt, indent=1).encode())
        self.drive_id = fmt["drive"]

    # -- small files written whole --------------------------------------------------------
    def write_file(self, final: Path, data: bytes) -> None:
        writer = FileWriter(self, final, final.name)
        try:
            writer.write(data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def read_file(self, path: Path) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def read_file_nowait(self, path: Path) -> bytearray:
        """The whole file if it is all in the page cache, else WouldBlock (see ``hoard.nowait``)."""
        fd = os.open(path, os.O_RDONLY)
        try:
            return pread_nowait(fd, os.fstat(fd).st_size, 0)
        finally:
            os.close(fd)

    def remove_file(self, path: Path) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    # -- shards ---------------------------------------------------------------------------
    def shard_path(self, shard_id: str) -> Path:
        return self.shards / shard_id[:2] / shard_id

    def create_shard(self, shard_id: str) -> FileWriter:
        return FileWriter(self, self.shard_path(shard_id), shard_id)

    def open_shard(self, shard_id: str) -> LocalShardReader:
        return LocalShardReader(self.shard_path(shard_id))

    def shard_size(self, shard_id: str) -> int:
        return os.stat(self.shard_path(shard_id)).st_size

    def remove_shard(self, shard_id: str) -> None:
        self.remove_file(self.shard_path(shard_id))

    def shard_ids(self) -> Iterator[tuple[str, float]]:
        """Every stored shard id with its modification time (for the orphan sweep)."""
        yield from _ids_with_mtime(self.shards)

    # -- version records ------------------------------------------------------------------
    def record_path(self, data_id: str) -> Path:
        return self.records / data_id[:2] / data_id

    def write_record(self, data_id: str, data: bytes) -> None:
        self.write_file(self.record_path(data_id), data)

    def read_record(self, data_id: str, nowait: bool = False) -> bytes | bytearray:
        path = self.record_path(data_id)
        return self.read_file_nowait(path) if nowait else self.read_file(path)

    def remove_record(self, data_id: str) -> None:
        self.remove_file(self.record_path(data_id))

    def record_ids(self) -> Iterator[tuple[str, float]]:
        yield from _ids_with_mtime(self.records)

    def record_count(self) -> int:
        return sum(len(os.listdir(sub)) for sub in self.records.iterdir())

    # -- space ----------------------------------------------------------------------------
    def usage(self) -> tuple[int, int]:
        """(total, free) bytes of the file system holding the drive."""
        st = os.statvfs(self.root)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def _lock_holder(fd: int) -> int | None:
    """The pid the lock's holder wrote (None before it has written it)."""
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    return True


def _ids_with_mtime(top: Path) -> Iterator[tuple[str, float]]:
    for sub in top.iterdir():
        for entry in os.scandir(sub):
            try:
                yield entry.name, entry.stat().st_mtime
            except FileNotFoundError:
                continue
