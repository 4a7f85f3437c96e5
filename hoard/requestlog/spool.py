"""The per-process spool of S3 server access log lines, waiting for the leader to deliver them.

Each process appends to ``<folder>/<name>.open`` from a thread of its own, one batch of lines per
write and an fsync after each batch. Every ``roll_seconds`` a non-empty file is renamed to
``<name>-<time>-<random>.ready`` (and the folder fsync'd); the leader delivers ``.ready`` files
and removes each only once its lines are in log objects. A crash loses no line that was fsync'd:
a process started again finds its own ``.open`` file and rolls it first; a line cut short by the
crash has no newline and is skipped when read (``read_ready``).

A line: JSON ``{"b": source bucket, "t": request time, "l": the S3 log line}``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from hoard.durable import fsync_dir

log = logging.getLogger("hoard")
MAX_QUEUED = 65536
BATCH = 512


def spool_line(bucket: str, when: float, text: str) -> bytes:
    return json.dumps({"b": bucket, "t": when, "l": text}, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def roll(folder: Path, name: str) -> Path | None:
    """Rename ``name``'s open spool file to a ready one (None: nothing in it)."""
    path = folder / f"{name}.open"
    try:
        if path.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    ready = folder / f"{name}-{time.time_ns()}-{secrets.token_hex(4)}.ready"
    os.rename(path, ready)
    fsync_dir(folder)
    return ready


def ready_files(folder: Path) -> list[Path]:
    """The spool files waiting for delivery, oldest first."""
    try:
        return sorted(folder.glob("*.ready"), key=lambda p: p.stat().st_mtime_ns)
    except FileNotFoundError:
        return []


def open_names(folder: Path) -> list[str]:
    return [p.name[: -len(".open")] for p in folder.glob("*.open")]


def read_ready(path: Path) -> Iterator[tuple[str, float, str]]:
    """(source bucket, request time, line) of every whole line of a spool file."""
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                continue  # cut short by a crash
            try:
                item = json.loads(raw)
                yield str(item["b"]), float(item["t"]), str(item["l"])
            except (ValueError, KeyError, TypeError):
                continue


class Spool:
    """One process's spool writer."""

    def __init__(self, folder: Path, name: str, roll_seconds: float) -> None:
        self.folder = folder
        self.name = name
        self.roll_seconds = roll_seconds
        self.dropped = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(MAX_QUEUED)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.folder.chmod(0o700)  # the server user's alone, like the rest of .hoard (as an older copy may have left it)
            roll(self.folder, self.name)  # what an earlier run of this process left is delivered first
        except OSError as e:  # the drive is away: each batch will try again, and say so
            log.warning("bucket logging: spool folder %s: %s", self.folder, e)
        self._thread = threading.Thread(target=self._run, name="hoard-log-spool", daemon=True)
        self._thread.start()

    def add(self, line: bytes) -> None:
        """Queue a line; never waits."""
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 1000) or self.dropped % 100_000 == 0:
                log.warning("bucket logging: the spool is not keeping up; %d lines dropped so far", self.dropped)

    def close(self, timeout: float = 10.0) -> None:
        """Write out what is queued and roll the file, for the leader to deliver."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        path = self.folder / f"{self.name}.open"
        fd: int | None = None
        opened_at = time.monotonic()
        stopping = False
        while not stopping:
            wait = max(0.05, self.roll_seconds - (time.monotonic() - opened_at)) if fd is not None else None
            batch: list[bytes] = []
            try:
                item = self._queue.get(timeout=wait)
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
                while len(batch) < BATCH and not stopping:
                    item = self._queue.get_nowait()
                    if item is None:
                        stopping = True
                    else:
                        batch.append(item)
            except queue.Empty:
                pass
            try:
                if batch:
                    if fd is None:
                        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                        opened_at = time.monotonic()
                    os.write(fd, b"".join(batch))
                    os.fsync(fd)
                if fd is not None and (stopping or time.monotonic() - opened_at >= self.roll_seconds):
                    os.close(fd)
                    fd = None
                    roll(self.folder, self.name)
            except OSError as e:
                log.warning("bucket logging: could not spool %d lines: %s", len(batch), e)
        if fd is not None:
            os.close(fd)
