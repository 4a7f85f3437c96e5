"""Where a backup's files live: a folder, or a bucket (``s3://bucket/prefix``) of any endpoint.

Both hold the same files under the same names, which the backup format (archive.py) makes
itself: never from an object's key, so no key can name a path outside the backup. A file
appears whole or not at all: in a folder it is written to ``tmp/``, fsync'd, renamed into
place and its folder fsync'd (the project's durability rule); in a bucket a PUT is already
all or nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from botocore.exceptions import ClientError

from hoard.backup.target import create_bucket
from hoard.durable import fsync_dir

# The names the format uses: lower-case words, digits, dots, dashes, underscores and slashes
# between them. Anything else is a bug, and refused before it reaches the file system.
_NAME = re.compile(r"[a-z0-9_.-]+(/[a-z0-9_.-]+)*")
BLOCK = 1 << 20


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or any(part in (".", "..") for part in name.split("/")):
        raise ValueError(f"not a backup file name: {name!r}")
    return name


class InUse(Exception):
    """Another run holds the backup."""


class Store(Protocol):
    """The files of one backup."""

    def describe(self) -> str:
        """Where it is, for messages."""

    def exists(self, name: str) -> bool: ...

    def empty(self) -> bool:
        """Whether nothing is there yet (a place that is not, and holds no backup, is refused)."""

    def read(self, name: str) -> bytes:
        """Raises FileNotFoundError."""

    def write(self, name: str, data: bytes) -> None:
        """Whole or not at all, durable once returned."""

    def names(self, folder: str) -> list[str]:
        """The names of the files under ``folder`` (and its subfolders), sorted."""

    def delete(self, name: str) -> None: ...

    def new_temp(self) -> tuple[Path, BinaryIO]:
        """A temp file to fill, for ``commit``."""

    def commit(self, temp: Path, name: str) -> None:
        """The filled temp file, flushed, becomes ``name`` (replacing nothing: callers check)."""

    def discard(self, temp: Path) -> None: ...

    def chunks(self, name: str) -> Iterator[bytes]:
        """The bytes of ``name`` in blocks. Raises FileNotFoundError."""

    def local(self, name: str) -> contextlib.AbstractContextManager[Path]:
        """A local file holding ``name``'s bytes, for as long as the context lasts."""

    def hold(self) -> contextlib.AbstractContextManager[None]:
        """Keep other runs out for as long as the context lasts (where it can be done)."""

    def make(self) -> None:
        """Make the backup's place (a folder, a bucket) if there is none yet."""

    def prepare(self) -> None:
        """Drop what an interrupted run left half-written."""


class FolderStore:
    """A backup in a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def describe(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def empty(self) -> bool:
        if not self.root.exists():
            return True
        if not self.root.is_dir():
            return False
        return all(p.name == ".lock" for p in self.root.iterdir())

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def _make_dirs(self, folder: Path) -> None:
        """Make ``folder`` and any parents missing, each made durable in its own parent: a
        renamed file is only as durable as the folders above it."""
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue
            fsync_dir(path.parent)

    def write(self, name: str, data: bytes) -> None:
        temp, out = self.new_temp()
        with out:
            out.write(data)
        self.commit(temp, name)

    def names(self, folder: str) -> list[str]:
        base = self._path(folder)
        if not base.is_dir():
            return []
        found = [str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()]
        return sorted(found)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def new_temp(self) -> tuple[Path, BinaryIO]:
        self._make_dirs(self.tmp)
        path = self.tmp / uuid.uuid4().hex
        return path, open(path, "xb")  # noqa: SIM115 - the caller closes it

    def commit(self, temp: Path, name: str) -> None:
        final = self._path(name)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._make_dirs(final.parent)
        os.rename(temp, final)
        fsync_dir(final.parent)

    def discard(self, temp: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    def chunks(self, name: str) -> Iterator[bytes]:
        with open(self._path(name), "rb") as f:
            while block := f.read(BLOCK):
                yield block

    @contextlib.contextmanager
    def local(self, name: str) -> Iterator[Path]:
        path = self._path(name)
        if not path.is_file():
            raise FileNotFoundError(name)
        yield path

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        # flock, not a pid file: the kernel lets go however the holder ends, so a killed run
        # never blocks the next one.
        self._make_dirs(self.root)
        with open(self.root / ".lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EACCES):
                    lock.seek(0)
                    holder = lock.read().strip() or "?"
                    raise InUse(f"{self.root} is in use by another backup run (pid {holder})") from None
                raise
            lock.seek(0)
            lock.truncate()
            lock.write(str(os.getpid()))
            lock.flush()
            yield

    def make(self) -> None:
        self._make_dirs(self.root)

    def prepare(self) -> None:
        # Whatever is in tmp/ was being written when a run stopped: never counted, so never missed.
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp)
        self._make_dirs(self.tmp)


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


class BucketStore:
    """A backup stored as objects under ``prefix`` in a bucket of any S3 endpoint."""

    def __init__(self, client, bucket: str, prefix: str, spool: Path | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        # Data is spooled to a local temp file first: its name is its SHA-256, known only once
        # all of it has been read.
        self.spool = spool

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, name: str) -> str:
        check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def exists(self, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as e:
            if _missing(e):
                return False
            raise
        return True

    def empty(self) -> bool:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else "", MaxKeys=1)
        return not listed.get("Contents")

    def read(self, name: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
        except ClientError as e:
            if _missing(e):
                raise FileNotFoundError(name) from None
            raise

    def write(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def names(self, folder: str) -> list[str]:
        base = self._key(folder) + "/"
        cut = len(self.prefix) + 1 if self.prefix else 0
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            found.extend(item["Key"][cut:] for item in page.get("Contents", []))
        return sorted(found)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def new_temp(self) -> tuple[Path, BinaryIO]:
        fd, path = tempfile.mkstemp(prefix="hoard-backup-", dir=self.spool)
        return Path(path), os.fdopen(fd, "wb")

    def commit(self, temp: Path, name: str) -> None:
        try:
            # upload_file: in parts when large, each part retried on its own.
            self.client.upload_file(str(temp), self.bucket, self._key(name))
        finally:
            self.discard(temp)

    def discard(self, temp: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    def chunks(self, name: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except ClientError as e:
            if _missing(e):
                raise FileNotFoundError(name) from None
            raise
        yield from body.iter_chunks(BLOCK)

    @contextlib.contextmanager
    def local(self, name: str) -> Iterator[Path]:
        temp, out = self.new_temp()
        try:
            with out:
                for block in self.chunks(name):
                    out.write(block)
            yield temp
        finally:
            self.discard(temp)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        # A bucket has no lock to take: one run at a time per destination is the user's to keep.
        yield

    def prepare(self) -> None:
        pass  # data is spooled outside the bucket: nothing half-written is ever in it

    def make(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            create_bucket(self.client, self.bucket)
