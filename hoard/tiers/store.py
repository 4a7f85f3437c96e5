"""The tier interface, and the tier that is a local folder.

A tier holds one blob (``hoard.tiers.blob``) per archived object, under a *ref* its caller chooses
(``bucket-hash/dataid``). Blobs are written whole, read by range, deleted whole; a ref is never
changed in place.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from hoard.durable import fsync_dir
from hoard.tiers.blob import TRAILER_SIZE, BlobIndex, BlobInfo, BlobWriter, Frame, decode_range, index_span, parse_index, parse_trailer
from hoard.tiers.errors import TierCorrupt, TierError, TierMissing, TierUnavailable

__all__ = [
    "SUFFIX",
    "FolderTier",
    "TierCorrupt",
    "TierError",
    "TierMissing",
    "TierStore",
    "TierUnavailable",
    "TierUsage",
    "check_ref",
]

SUFFIX = ".tb"
MAX_REF = 1024
MAX_SEGMENT = 200  # with SUFFIX, well inside the 255 bytes a file name may have
_REF_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
# Temp names can never be a blob's: no blob's name lacks SUFFIX, and 't' is not a hex digit.
_TEMP_PREFIX = ".tmp-"
_TEMP = re.compile(r"\.tmp-[0-9a-f]{32}")


@dataclass(frozen=True)
class TierUsage:
    objects: int  # blobs
    stored: int  # bytes the blobs take (their stored size, after compression)


@runtime_checkable
class TierStore(Protocol):
    """Where the blobs of archived objects live. Every method may block (disk, network): call
    them from a thread, not an event loop."""

    name: str  # the tier's name in config and records, e.g. "cold"

    def put(self, ref: str, chunks: Iterable[bytes]) -> BlobInfo:
        """Store the object whose bytes ``chunks`` yields under ``ref``: durable when it returns.
        A blob already under ``ref`` is replaced whole, atomically: a reader sees the old blob
        or the new one, never a mix, and a crash leaves one or the other."""
        ...

    def read(self, ref: str, start: int, end: int) -> Iterator[bytes]:
        """Object bytes ``start`` to ``end`` inclusive (``end == start - 1``: none), one piece per
        frame, each verified. TierMissing, TierUnavailable and a TierCorrupt trailer or index
        are raised by the call itself, before any byte; a frame that does not verify raises
        TierCorrupt from the iterator when it is reached. ValueError for a range not within
        the object."""
        ...

    def delete(self, ref: str) -> None:
        """Remove the blob under ``ref``; nothing there is fine."""
        ...

    def exists(self, ref: str) -> bool: ...

    def usage(self) -> TierUsage: ...

    def describe(self) -> str:
        """Where the tier is, for people: ``folder /path`` or ``s3 http://host:port/bucket/prefix``."""
        ...


def check_ref(ref: str) -> str:
    """A ref made of [A-Za-z0-9._/-], in segments separated by '/', none of them empty, '.' or
    '..': a name that stays inside the tier's folder or prefix wherever it comes from.
    ValueError otherwise."""
    problem = None
    if not isinstance(ref, str) or not ref:
        problem = "it is empty"
    elif len(ref) > MAX_REF:
        problem = f"it is longer than {MAX_REF} characters"
    elif not _REF_CHARS.fullmatch(ref):
        problem = "only letters, digits, '.', '_', '-' and '/' may be used"
    else:
        segments = ref.split("/")
        for i, segment in enumerate(segments):
            if segment in ("", ".", ".."):
                problem = "a segment between '/' is empty, '.' or '..'"
            elif len(segment) > MAX_SEGMENT:
                problem = f"a segment is longer than {MAX_SEGMENT} characters"
            elif i < len(segments) - 1 and segment.endswith(SUFFIX):
                # A folder named like a blob would be the place of another ref's blob ("a" -> a.tb).
                problem = f"a folder segment ends in {SUFFIX!r}"
            if problem:
                break
    if problem:
        raise ValueError(f"the tier ref {ref!r} is not valid: {problem}")
    return ref


def make_dirs(folder: Path) -> None:
    """Make ``folder`` and whatever parents it lacks, each one's entry made durable in its own
    parent: a renamed file is only as durable as the folders above it."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if not path.is_dir():
                raise
            continue  # made by a concurrent put, which makes it durable itself
        fsync_dir(path.parent)


def _pread(fd: int, length: int, offset: int) -> bytes:
    data = os.pread(fd, length, offset)
    # pread may return less only at the end of the file: a blob shorter than its index says.
    while len(data) < length:
        more = os.pread(fd, length - len(data), offset + len(data))
        if not more:
            raise TierCorrupt(f"the blob ends before byte {offset + length}")
        data += more
    return data


class FolderTier:
    """A tier in a local folder: ``root/<ref>.tb``, each written through a temp file beside it."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = Path(root)
        make_dirs(self.root)

    def describe(self) -> str:
        return f"folder {self.root}"

    def __repr__(self) -> str:
        return f"FolderTier({self.name!r}, {str(self.root)!r})"

    def path(self, ref: str) -> Path:
        return self.root / (check_ref(ref) + SUFFIX)

    def put(self, ref: str, chunks: Iterable[bytes]) -> BlobInfo:
        final = self.path(ref)
        make_dirs(final.parent)
        temp = final.parent / f"{_TEMP_PREFIX}{secrets.token_hex(16)}"
        try:
            with open(temp, "xb") as out:
                writer = BlobWriter(out)
                for chunk in chunks:
                    writer.write(chunk)
                info = writer.finish()
                out.flush()
                os.fsync(out.fileno())
            # The blob is whole on disk before it takes the ref's name, and the name is durable
            # before put returns: a crash leaves the old blob or the new one, never a torn one.
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        fsync_dir(final.parent)
        return info

    def read(self, ref: str, start: int, end: int) -> Iterator[bytes]:
        path = self.path(ref)
        try:
            # Unbuffered: every read is a pread at an offset. The open file is the blob as it was
            # at open: a put replacing it meanwhile does not change what this read returns.
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by _frames, or below
        except (FileNotFoundError, NotADirectoryError):
            raise TierMissing(f"no blob {ref!r} in tier {self.name!r}") from None
        try:
            index = self._index(f, ref)
            frames = index.frames_for(start, end)
        except BaseException:
            f.close()
            raise
        return self._frames(f, frames, start, end)

    def _index(self, f: BinaryIO, ref: str) -> BlobIndex:
        fd = f.fileno()
        length = os.fstat(fd).st_size
        if length < TRAILER_SIZE:
            raise TierCorrupt(f"the blob {ref!r} is {length} bytes, shorter than a trailer")
        trailer = parse_trailer(_pread(fd, TRAILER_SIZE, length - TRAILER_SIZE))
        offset, size = index_span(trailer, length)
        return parse_index(_pread(fd, size, offset), trailer, length)

    def _frames(self, f: BinaryIO, frames: list[Frame], start: int, end: int) -> Iterator[bytes]:
        with f:
            fd = f.fileno()
            # One frame in memory at a time, however long the range.
            yield from decode_range(((fr, _pread(fd, fr.stored_length, fr.stored_offset)) for fr in frames), start, end)

    def index(self, ref: str) -> BlobIndex:
        """The blob's verified index (its size, its frames). TierMissing, TierCorrupt."""
        try:
            with open(self.path(ref), "rb", buffering=0) as f:
                return self._index(f, ref)
        except (FileNotFoundError, NotADirectoryError):
            raise TierMissing(f"no blob {ref!r} in tier {self.name!r}") from None

    def delete(self, ref: str) -> None:
        path = self.path(ref)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        # Durable, so a blob deleted (and its space counted free) does not come back after a
        # crash. Folders are left: removing one could race a put about to write into it.
        fsync_dir(path.parent)

    def exists(self, ref: str) -> bool:
        return self.path(ref).is_file()

    def _files(self) -> Iterator[os.DirEntry[str]]:
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield entry

    def usage(self) -> TierUsage:
        objects = stored = 0
        for entry in self._files():
            if entry.name.endswith(SUFFIX):
                with contextlib.suppress(FileNotFoundError):  # deleted while counted
                    stored += entry.stat(follow_symlinks=False).st_size
                    objects += 1
        return TierUsage(objects=objects, stored=stored)

    def sweep_temp(self, older_than_seconds: float = 3600.0) -> int:
        """Remove the temp files of puts that did not finish (a crash, a kill) and are older than
        ``older_than_seconds``, old enough that no put still running can own them. How many."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self._files():
            if not _TEMP.fullmatch(entry.name):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
