"""The tier blob: how an archived object's bytes are stored in a tier (a folder, a bucket).

One blob per object, written front to back in one pass (so it can stream to a file or an upload)
and readable at any offset without reading the rest (so a range GET of a large archived object
fetches only the frames it needs)::

    frame 0 | frame 1 | ... | frame n-1 | index | trailer

Frames are the object's bytes cut at every ``FRAME`` (1 MiB) of input, each stored zstd-compressed
(level 3) if that saves at least 1/16 of it, else raw: media and archives, already compressed,
cost no CPU to read back and never grow by more than the index entry. The frames follow each
other with nothing between; where each one starts is the sum of the stored lengths before it.

The index is one ``ENTRY`` (25 bytes, little-endian) per frame: uncompressed length (u32), stored
length (u32), kind (u8: 0 raw, 1 zstd), BLAKE3-128 of the stored bytes (16). The digest is of the
stored bytes, not of the uncompressed ones, so a damaged frame is caught before zstd ever sees it.

The trailer is the last ``TRAILER_SIZE`` (60) bytes: magic ``HOARDTB1`` (8), format version (u16),
flags (u16, zero), index length (u64), uncompressed size (u64), BLAKE3-128 of the index (16), and
BLAKE3-128 of the 44 trailer bytes before it (16): a flipped bit anywhere in the trailer is caught
there, not taken as a wrong length.

Everything here is pure: no files are opened; the callers hand in sinks and bytes.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import zstandard
from blake3 import blake3

from hoard.tiers.errors import TierCorrupt

__all__ = [
    "ENTRY",
    "FRAME",
    "MAGIC",
    "TRAILER_SIZE",
    "VERSION",
    "BlobIndex",
    "BlobInfo",
    "BlobWriter",
    "Frame",
    "Trailer",
    "TierCorrupt",
    "decode_frame",
    "decode_range",
    "footer_size",
    "index_span",
    "parse_index",
    "parse_trailer",
    "slice_frame",
]

FRAME = 1 << 20
LEVEL = 3
MAGIC = b"HOARDTB1"
VERSION = 1
RAW, ZSTD = 0, 1

_ENTRY = struct.Struct("<IIB16s")
_TRAILER_BODY = struct.Struct("<8sHHQQ16s")
ENTRY = _ENTRY.size  # 25
TRAILER_SIZE = _TRAILER_BODY.size + 16  # 60
DIGEST = 16


def _digest(data: bytes | memoryview) -> bytes:
    return blake3(data).digest(length=DIGEST)


def footer_size(frames: int) -> int:
    """The bytes a blob of ``frames`` frames stores besides its frames: the index and the trailer."""
    return frames * ENTRY + TRAILER_SIZE


@dataclass(frozen=True)
class BlobInfo:
    """What a finished blob holds: ``size`` bytes of the object in ``stored`` bytes of blob."""

    size: int
    stored: int
    frames: int


@dataclass(frozen=True)
class Frame:
    """One frame as the index lists it; ``offset`` is in the object, ``stored_offset`` in the blob."""

    offset: int
    length: int
    stored_offset: int
    stored_length: int
    raw: bool
    digest: bytes

    @property
    def end(self) -> int:
        """The object offset one past this frame's last byte."""
        return self.offset + self.length

    @property
    def stored_end(self) -> int:
        return self.stored_offset + self.stored_length


@dataclass(frozen=True)
class Trailer:
    version: int
    index_length: int
    size: int
    index_digest: bytes


@dataclass(frozen=True)
class BlobIndex:
    """A blob's parsed, verified index: where each frame of the object is."""

    size: int
    frames: tuple[Frame, ...]

    @property
    def stored_frames(self) -> int:
        """The bytes the frames take at the start of the blob (where the index begins)."""
        return self.frames[-1].stored_end if self.frames else 0

    @property
    def blob_length(self) -> int:
        return self.stored_frames + footer_size(len(self.frames))

    def frames_for(self, start: int, end: int) -> list[Frame]:
        """The frames holding object bytes ``start`` to ``end`` inclusive. ``end == start - 1``
        is the empty range (so ``0, size - 1`` is the whole object, even an empty one).
        ValueError for a range that is not within the object."""
        check_range(start, end, self.size)
        if end < start:
            return []
        first = bisect.bisect_right(self.frames, start, key=lambda f: f.offset) - 1
        last = bisect.bisect_right(self.frames, end, key=lambda f: f.offset) - 1
        return list(self.frames[first : last + 1])


def check_range(start: int, end: int, size: int) -> None:
    if not (0 <= start <= end + 1 <= size):
        raise ValueError(f"the range {start}-{end} is not within the blob's {size} bytes")


class BlobWriter:
    """Encodes an object into a blob as its bytes arrive, writing each frame to ``sink`` (a binary
    file, or a function taking bytes) as soon as it is complete, so memory holds one frame at
    most. ``finish`` writes the index and trailer; nothing may be written after it."""

    def __init__(self, sink: BinaryIO | Callable[[bytes], None]) -> None:
        self._emit = _sink_writer(sink)
        self._buffer = bytearray()
        self._entries: list[bytes] = []
        self._size = 0
        self._stored = 0
        self._finished = False
        # One compressor per writer: it keeps its working memory between frames, and a writer is
        # used by one thread at a time.
        self._zstd = zstandard.ZstdCompressor(level=LEVEL)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._finished:
            raise ValueError("the blob is finished")
        view = memoryview(data).cast("B")
        if self._buffer:
            take = min(FRAME - len(self._buffer), len(view))
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) < FRAME:
                return
            self._frame(bytes(self._buffer))
            self._buffer.clear()
        # Whole frames straight from the caller's bytes, without copying them through the buffer.
        while len(view) >= FRAME:
            self._frame(view[:FRAME])
            view = view[FRAME:]
        self._buffer += view

    def _frame(self, chunk: bytes | memoryview) -> None:
        packed = self._zstd.compress(chunk)
        # Compressed only if it saves 1/16 or more: below that, decompressing on every read costs
        # more than the bytes are worth.
        if len(packed) * 16 <= len(chunk) * 15:
            stored, kind = packed, ZSTD
        else:
            stored, kind = chunk, RAW
        self._entries.append(_ENTRY.pack(len(chunk), len(stored), kind, _digest(stored)))
        self._emit(stored)
        self._size += len(chunk)
        self._stored += len(stored)

    def finish(self) -> BlobInfo:
        if self._finished:
            raise ValueError("the blob is finished")
        if self._buffer:
            self._frame(bytes(self._buffer))
            self._buffer.clear()
        self._finished = True
        index = b"".join(self._entries)
        body = _TRAILER_BODY.pack(MAGIC, VERSION, 0, len(index), self._size, _digest(index))
        self._emit(index)
        self._emit(body + _digest(body))
        self._stored += len(index) + TRAILER_SIZE
        return BlobInfo(size=self._size, stored=self._stored, frames=len(self._entries))


def _sink_writer(sink: BinaryIO | Callable[[bytes], None]) -> Callable[[bytes | memoryview], None]:
    write = getattr(sink, "write", None)
    if write is None:
        call: Callable[[bytes], None] = sink  # type: ignore[assignment]

        # A function may keep what it is given: hand it bytes of its own, not a view of the caller's.
        return lambda data: call(data if isinstance(data, bytes) else bytes(data))

    def emit(data: bytes | memoryview) -> None:
        # A raw (unbuffered) file may take fewer bytes than it was given.
        view = memoryview(data)
        while view:
            n = write(view)
            if n is None:
                raise BlockingIOError("the sink would block")
            view = view[n:]

    return emit


def parse_trailer(data: bytes) -> Trailer:
    """The trailer from a blob's last ``TRAILER_SIZE`` bytes; TierCorrupt if they are not one."""
    if len(data) != TRAILER_SIZE:
        raise TierCorrupt(f"the blob's trailer is {len(data)} bytes, not {TRAILER_SIZE}")
    body, digest = data[: _TRAILER_BODY.size], data[_TRAILER_BODY.size :]
    magic, version, flags, index_length, size, index_digest = _TRAILER_BODY.unpack(body)
    if magic != MAGIC:
        raise TierCorrupt("the blob does not end in a tier blob's trailer (truncated, or not a tier blob)")
    if _digest(body) != digest:
        raise TierCorrupt("the blob's trailer does not match its checksum")
    if version != VERSION or flags != 0:
        raise TierCorrupt(f"the blob is of format version {version} (flags {flags:#x}); this reads version {VERSION}")
    if index_length % ENTRY:
        raise TierCorrupt(f"the blob's index length {index_length} is not a whole number of entries")
    return Trailer(version=version, index_length=index_length, size=size, index_digest=index_digest)


def index_span(trailer: Trailer, blob_length: int) -> tuple[int, int]:
    """Where the index lies in a blob of ``blob_length`` bytes: (offset, length)."""
    offset = blob_length - TRAILER_SIZE - trailer.index_length
    if offset < 0:
        raise TierCorrupt(f"the blob's index ({trailer.index_length} bytes) does not fit in its {blob_length} bytes")
    return offset, trailer.index_length


def parse_index(data: bytes, trailer: Trailer | bytes, blob_length: int | None = None) -> BlobIndex:
    """The index from its bytes, checked against the trailer's digest; with ``blob_length``, also
    checked to account for every byte of the blob (a truncated or extended blob is TierCorrupt)."""
    if not isinstance(trailer, Trailer):
        trailer = parse_trailer(trailer)
    if len(data) != trailer.index_length or _digest(data) != trailer.index_digest:
        raise TierCorrupt("the blob's index does not match its checksum")
    frames = []
    offset = stored_offset = 0
    for length, stored_length, kind, digest in _ENTRY.iter_unpack(data):
        # Verified bytes written by BlobWriter hold nothing else; anything else is a writer's bug
        # or a version this reader does not know, and must not be read as if it were data.
        if not 0 < length <= FRAME or kind not in (RAW, ZSTD) or (kind == RAW and stored_length != length):
            raise TierCorrupt(f"the blob's index has an impossible entry for frame {len(frames)}")
        frames.append(Frame(offset, length, stored_offset, stored_length, kind == RAW, digest))
        offset += length
        stored_offset += stored_length
    if offset != trailer.size:
        raise TierCorrupt(f"the blob's frames hold {offset} bytes, its trailer says {trailer.size}")
    index = BlobIndex(size=trailer.size, frames=tuple(frames))
    if blob_length is not None and index.blob_length != blob_length:
        raise TierCorrupt(f"the blob is {blob_length} bytes, its index accounts for {index.blob_length}")
    return index


def decode_frame(frame: Frame, stored: bytes | memoryview) -> bytes:
    """A frame's bytes of the object from its stored bytes, verified first. TierCorrupt if they
    are not what was written."""
    if len(stored) != frame.stored_length:
        raise TierCorrupt(f"the frame at {frame.offset} is {len(stored)} bytes, its index says {frame.stored_length}")
    if _digest(stored) != frame.digest:
        raise TierCorrupt(f"the frame at {frame.offset} does not match its checksum")
    if frame.raw:
        return bytes(stored)
    try:
        data = zstandard.ZstdDecompressor().decompress(stored, max_output_size=frame.length)
    except zstandard.ZstdError as e:  # verified bytes that do not decode: a writer's bug, not a read's
        raise TierCorrupt(f"the frame at {frame.offset} does not decompress: {e}") from None
    if len(data) != frame.length:
        raise TierCorrupt(f"the frame at {frame.offset} decompresses to {len(data)} bytes, its index says {frame.length}")
    return data


def slice_frame(frame: Frame, data: bytes, start: int, end: int) -> bytes:
    """The part of a decoded frame within object bytes ``start`` to ``end`` inclusive."""
    lo = max(start - frame.offset, 0)
    hi = min(end + 1 - frame.offset, frame.length)
    return data if lo == 0 and hi == frame.length else data[lo:hi]


def decode_range(frames: Iterable[tuple[Frame, bytes | memoryview]], start: int, end: int) -> Iterator[bytes]:
    """Object bytes ``start`` to ``end`` inclusive, one piece per frame, from the stored bytes of
    the frames ``BlobIndex.frames_for`` named, each verified as it comes."""
    for frame, stored in frames:
        yield slice_frame(frame, decode_frame(frame, stored), start, end)
