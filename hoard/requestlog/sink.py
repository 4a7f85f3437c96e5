"""Where each finished request goes: the JSON access log, the JSON audit log, and, for a request
on a bucket with server access logging on, a line in this process's spool (delivered by the
leader's ``hoard.workers.log_delivery``). Nothing here waits on a disk in the event loop.

Log delivery writes through the object engine, not through requests, so its own writes are never
logged (no loop when a bucket logs into itself or two buckets log into each other).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hoard.requestlog import jsonlog, s3format, spool, status
from hoard.requestlog.record import RequestRecord

log = logging.getLogger("hoard")
SPOOL_FOLDER = ("log-spool",)  # under a data folder's .hoard: kept at start-up, unlike tmp/
MAX_LOOKUPS = 256  # buckets looked up at once for requests refused before authorization found theirs

BucketLookup = Callable[[str], Awaitable[Any]]  # a bucket by name (a Bucket, or None)


def spool_folder(first_drive_root: Path) -> Path:
    """Where a deployment's processes spool S3 log lines: on the first data folder, like the index."""
    return first_drive_root / ".hoard" / Path(*SPOOL_FOLDER)


class RequestLog:
    """One process's request logs. ``start``/``stop`` with the event loop (a ``Background``)."""

    def __init__(
        self, access_path: str | None, audit_path: str | None, spool_dir: Path | None, spool_name: str, roll_seconds: float, bucket_lookup: BucketLookup | None
    ) -> None:
        self.access = jsonlog.JsonLogWriter(access_path) if access_path else None
        self.audit = jsonlog.JsonLogWriter(audit_path) if audit_path else None
        self.spool = spool.Spool(spool_dir, spool_name, roll_seconds) if spool_dir is not None else None
        self._lookup = bucket_lookup
        self._lookups: set[asyncio.Task] = set()

    def start(self) -> None:
        for part in (self.access, self.audit, self.spool):
            if part is not None:
                part.start()

    async def stop(self) -> None:
        for task in list(self._lookups):
            task.cancel()
        for part in (self.access, self.audit, self.spool):
            if part is not None:
                await asyncio.to_thread(part.close)

    def finish(self, record: RequestRecord) -> None:
        """A request answered: into every log that wants it. Never raises, never waits."""
        try:
            if self.access is not None:
                self.access.write(jsonlog.fields(record))
            if self.audit is not None and jsonlog.audited(record):
                self.audit.write(jsonlog.audit_fields(record))
            if self.spool is not None and record.bucket:
                if record.looked_up:
                    self._spool(record, record.bucket_owner, record.bucket_config)
                elif self._lookup is not None and len(self._lookups) < MAX_LOOKUPS:
                    task = asyncio.get_running_loop().create_task(self._look_up_and_spool(record))
                    self._lookups.add(task)
                    task.add_done_callback(self._lookups.discard)
        except Exception:  # noqa: BLE001 - a log must never fail a request
            log.exception("request %s: could not be logged", record.request_id)

    def _spool(self, record: RequestRecord, owner: str | None, config: dict[str, Any] | None) -> None:
        if self.spool is None or owner is None or status.configured(config) is None:
            return
        assert record.bucket is not None
        self.spool.add(spool.spool_line(record.bucket, record.time, s3format.format_line(record, owner)))

    async def _look_up_and_spool(self, record: RequestRecord) -> None:
        assert self._lookup is not None and record.bucket is not None
        try:
            bucket = await self._lookup(record.bucket)
        except Exception:  # noqa: BLE001 - the request is logged in the JSON logs all the same
            return
        if bucket is not None:
            self._spool(record, bucket.owner_id, bucket.config)
