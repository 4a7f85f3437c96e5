"""A drive is a folder. Blobs (object bytes) live under ``.hoard/blobs`` by id, never by key.

Because files are named by random ids, nothing a client puts in a key (``../``, ``//``,
a NUL) ever reaches a file path. A blob is written to ``.hoard/tmp``, fsync'd, renamed into
place and its directory fsync'd: only then may metadata point at it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

FANOUT = 256


class Hasher(Protocol):
    def update(self, data: bytes) -> None: ...


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_blob_id() -> str:
    return secrets.token_hex(16)


class BlobWriter:
    """Receives bytes into a temp file; ``commit`` makes them durable under a blob id."""

    def __init__(self, drive: LocalDrive, hashers: Iterable[Hasher]) -> None:
        self.drive = drive
        self.blob_id = new_blob_id()
        self.size = 0
        self._hashers = list(hashers)
        self._tmp = drive.tmp / self.blob_id
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb", buffering=0)

    def write(self, data: bytes | memoryview) -> None:
        assert self._file is not None
        self._file.write(data)
        self.size += len(data)
        for h in self._hashers:
            h.update(data)

    def commit(self) -> str:
        assert self._file is not None
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        final = self.drive.blob_path(self.blob_id)
        os.rename(self._tmp, final)
        fsync_dir(final.parent)
        return self.blob_id

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass


class LocalDrive:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.system = root / ".hoard"
        self.tmp = self.system / "tmp"
        self.blobs = self.system / "blobs"

    def prepare(self) -> int:
        """Create the layout and remove temp files a crash left behind; returns how many."""
        for d in (self.root, self.system, self.tmp, self.blobs):
            d.mkdir(exist_ok=True)
        for i in range(FANOUT):
            (self.blobs / f"{i:02x}").mkdir(exist_ok=True)
        fsync_dir(self.blobs)
        fsync_dir(self.system)
        removed = 0
        for leftover in self.tmp.iterdir():
            leftover.unlink()
            removed += 1
        return removed

    def blob_path(self, blob_id: str) -> Path:
        return self.blobs / blob_id[:2] / blob_id

    def create(self, hashers: Iterable[Hasher] = ()) -> BlobWriter:
        return BlobWriter(self, hashers)

    def open(self, blob_id: str) -> BinaryIO:
        return open(self.blob_path(blob_id), "rb", buffering=0)

    def remove(self, blob_id: str) -> None:
        try:
            os.unlink(self.blob_path(blob_id))
        except FileNotFoundError:
            pass

    def blob_ids(self) -> Iterator[tuple[str, float]]:
        """Every stored blob id with its modification time (for the orphan sweep)."""
        for sub in self.blobs.iterdir():
            for entry in os.scandir(sub):
                try:
                    yield entry.name, entry.stat().st_mtime
                except FileNotFoundError:
                    continue
