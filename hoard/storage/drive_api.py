"""What the erasure layer needs of a drive: the interface a drive on another machine would implement.

``LocalDrive`` (``hoard.storage.drive``) is the one implementation: a folder on this machine,
with its performance tricks (positional reads with ``RWF_NOWAIT``, ``writev``, early writeback)
kept inside it. No file descriptor or path crosses this interface: shards are opened as
reader and writer objects and named by id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from hoard.storage.drive import DriveState


class ShardReader(Protocol):
    """One shard file opened for reading; it stays readable after the file is removed."""

    def read(self, length: int, offset: int, nowait: bool = False) -> bytes | bytearray | memoryview:
        """Up to ``length`` bytes at ``offset`` (fewer only where the file ends); with ``nowait``,
        ``hoard.nowait.WouldBlock`` unless they can be had without waiting on the disk."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


class ShardWriter(Protocol):
    """A file being written under a temporary name; nothing can see it before ``commit``."""

    size: int

    def write(self, data: bytes | memoryview) -> None:
        """Append bytes."""
        ...

    def write_block(self, checksum: bytes, fragment: bytes) -> None:
        """Append one shard block, its checksum first."""
        ...

    def commit(self) -> None:
        """Make the file durable under its final name (and its directory entry with it)."""
        ...

    def abort(self) -> None:
        """Drop the file; safe to call after a failure or twice."""
        ...


class Drive(Protocol):
    """One drive: shard files and version records named by random ids, and its state.

    An I/O error marks the drive offline (``fail``); an offline drive is skipped until a probe
    brings it back.
    """

    position: int
    remote: bool  # another node's, reached over the network: each call a round trip

    @property
    def state(self) -> DriveState:
        """Online, offline or healing (shared by every server process)."""
        ...

    @property
    def usable(self) -> bool:
        """Not offline."""
        ...

    def fail(self, error: BaseException | str) -> None:
        """Mark the drive offline after an I/O error."""
        ...

    def check(self) -> None:
        """``DriveOffline`` if the drive is offline."""
        ...

    def missing_or_failed(self, error: OSError) -> bool:
        """After an error: True if the drive itself is gone (and is now marked offline), False if only the file was."""
        ...

    def create_shard(self, shard_id: str) -> ShardWriter:
        """A writer for a new shard file."""
        ...

    def open_shard(self, shard_id: str) -> ShardReader:
        """A reader of a stored shard file; FileNotFoundError if there is none."""
        ...

    def shard_size(self, shard_id: str) -> int:
        """The stored shard file's size in bytes; FileNotFoundError if there is none."""
        ...

    def remove_shard(self, shard_id: str) -> None:
        """Remove a shard file; no error if it is gone already."""
        ...

    def shard_ids(self) -> Iterator[tuple[str, float]]:
        """Every stored shard id with its modification time (Unix seconds)."""
        ...

    def write_record(self, data_id: str, data: bytes) -> None:
        """Store a version record durably (temp file, fsync, rename)."""
        ...

    def read_record(self, data_id: str, nowait: bool = False) -> bytes | bytearray:
        """A version record's bytes; with ``nowait``, WouldBlock unless already in memory."""
        ...

    def remove_record(self, data_id: str) -> None:
        """Remove a version record; no error if it is gone already."""
        ...

    def record_ids(self) -> Iterator[tuple[str, float]]:
        """Every stored record id with its modification time."""
        ...

    def record_count(self) -> int:
        """How many records are stored (cheaper than listing them: a rebuild's progress)."""
        ...

    def usage(self) -> tuple[int, int]:
        """(total, free) bytes."""
        ...
