"""The JSON access and audit logs: one JSON object a line, appended by a thread of its own so the
event loop never waits on the disk.

Every worker process opens the file with O_APPEND and writes each line with one write() call:
the kernel appends each write whole, so processes sharing one file never interleave inside a line.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from typing import Any

from hoard.requestlog.record import RequestRecord

log = logging.getLogger("hoard")
MAX_QUEUED = 65536  # lines waiting for the disk; past that, lines are dropped (and counted), never the event loop blocked
READS = frozenset({"GET", "HEAD"})
_AUDIT_OPERATIONS = frozenset({"Admin"})


def iso_time(epoch: float) -> str:
    t = time.gmtime(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(epoch % 1 * 1000):03d}Z"


def fields(record: RequestRecord) -> dict[str, Any]:
    """The access log's object for a request (no secret: the query's credentials are gone, no
    header but the user agent is kept)."""
    return {
        "time": iso_time(record.time),
        "request_id": record.request_id,
        "host_id": record.host_id,
        "endpoint": record.endpoint,
        "remote": record.remote,
        "access_key": record.access_key,
        "principal": record.principal,
        "operation": record.operation,
        "bucket": record.bucket,
        "key": record.key,
        "method": record.method,
        "path": record.path,
        "query": record.query or None,
        "status": record.status,
        "error_code": record.error_code,
        "bytes_received": record.bytes_received,
        "bytes_sent": record.bytes_sent,
        "duration_ms": record.duration_ms,
        "user_agent": record.user_agent,
    }


def audited(record: RequestRecord) -> bool:
    """Whether the audit log has the request: it may have changed state (any S3 request but a
    read or a browser's preflight, any admin API call) or it was refused as unauthorized."""
    if record.denied:
        return True
    if record.operation in _AUDIT_OPERATIONS:
        return True
    return record.endpoint == "s3" and record.method not in READS and record.method != "OPTIONS" and record.operation not in ("-", "Health", "Metrics")


def outcome(record: RequestRecord) -> str:
    if record.denied:
        return "denied"
    if record.status >= 400 or record.status == 499:
        return "failed"
    return "succeeded"


def audit_fields(record: RequestRecord) -> dict[str, Any]:
    return {**fields(record), "outcome": outcome(record)}


def line(values: dict[str, Any]) -> bytes:
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class JsonLogWriter:
    """Appends lines to a file (or standard error, for ``-``) from its own thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.dropped = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(MAX_QUEUED)
        self._thread: threading.Thread | None = None
        self._fd: int | None = None

    def start(self) -> None:
        if self.path == "-":
            self._fd = 2
        else:
            self._fd = os.open(os.path.expanduser(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._thread = threading.Thread(target=self._run, name=f"hoard-log-{os.path.basename(self.path)}", daemon=True)
        self._thread.start()

    def write(self, values: dict[str, Any]) -> None:
        """Queue one line; never waits."""
        try:
            self._queue.put_nowait(line(values))
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 1000) or self.dropped % 100_000 == 0:
                log.warning("%s: the disk is not keeping up; %d log lines dropped so far", self.path, self.dropped)

    def close(self, timeout: float = 5.0) -> None:
        """Write out what is queued, then close."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None
        if self._fd is not None and self._fd != 2:
            os.close(self._fd)
        self._fd = None

    def _run(self) -> None:
        assert self._fd is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                os.write(self._fd, item)  # one line, one write: whole even beside other processes
            except OSError as e:
                log.warning("%s: could not write a log line: %s", self.path, e)
