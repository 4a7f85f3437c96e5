"""Reading an object's bytes: a byte range across its segments, streamed in fixed-size chunks.

The files a read needs are opened before the first byte is sent. An overwrite or delete that
commits afterwards only queues the old files for reclaim, and an open file stays readable
after unlink, so a read that has started always returns one whole version.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence

from hoard.meta.records import Segment
from hoard.storage.drive import LocalDrive

CHUNK = 1024 * 1024


class OpenRange:
    """File descriptors and offsets covering bytes [start, end] of an object."""

    def __init__(self, pieces: list[tuple[int, int, int]]) -> None:
        self.pieces = pieces  # (fd, offset, length)

    def close(self) -> None:
        for fd, _, _ in self.pieces:
            try:
                os.close(fd)
            except OSError:
                pass
        self.pieces = []


def open_range(drive: LocalDrive, segments: Sequence[Segment], start: int, end: int) -> OpenRange:
    """Open what bytes [start, end] (inclusive) need. Raises FileNotFoundError if a blob is gone."""
    pieces: list[tuple[int, int, int]] = []
    position = 0
    try:
        for seg in segments:
            seg_start, seg_end = position, position + seg.size - 1
            position += seg.size
            if seg.size == 0 or seg_end < start or seg_start > end:
                continue
            fd = os.open(drive.blob_path(seg.blob), os.O_RDONLY)
            lo = max(start, seg_start) - seg_start
            hi = min(end, seg_end) - seg_start
            pieces.append((fd, lo, hi - lo + 1))
    except BaseException:
        OpenRange(pieces).close()
        raise
    return OpenRange(pieces)


def _read(fd: int, offset: int, length: int) -> bytes:
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise OSError(f"short read: wanted {length} bytes at {offset}, got {len(data)}")
    return data


async def stream_range(opened: OpenRange) -> AsyncIterator[bytes]:
    """Yield the opened bytes in chunks; closes the files when done or abandoned."""
    try:
        for fd, offset, length in opened.pieces:
            while length > 0:
                n = min(CHUNK, length)
                yield await asyncio.to_thread(_read, fd, offset, n)
                offset += n
                length -= n
    finally:
        opened.close()
