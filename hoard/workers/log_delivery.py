"""S3 server access log delivery: the leader's loop that turns the spooled lines of every
process (``hoard.requestlog.spool``) into log objects in each source bucket's target bucket,
every ``HOARD_LOGGING_DELIVERY_SECONDS``.

A round reads every ready spool file, groups the lines by source bucket, and writes one log object
per source bucket through the object engine (records and shard files durable before the index
makes the object visible, as any PutObject). The files are removed only once every object of the
round is committed: a crash in between delivers some lines twice, never loses one. Lines of a
bucket whose logging was turned off since, or whose target no longer exists, is another owner's,
or no longer lets log delivery write (its policy or ACL), are dropped, as S3 drops them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hoard.iam import acl
from hoard.iam.context import request_keys
from hoard.meta.store import MetaStore
from hoard.model import PENDING, REPLICATION_STATUS_HEADER, Bucket
from hoard.objects.data import ObjectData
from hoard.objects.encryption import default_mode
from hoard.objects.versions import VERSIONING_CONFIG, single_part_version
from hoard.replication.rules import REPLICATION_CONFIG
from hoard.requestlog import spool
from hoard.requestlog.permission import delivery_allowed
from hoard.requestlog.s3format import object_key
from hoard.requestlog.status import LoggingConfig, configured
from hoard.workers.periodic import Periodic

log = logging.getLogger("hoard")
MAX_ROUND_BYTES = 64 * 1024 * 1024  # spool files read in one round at most; the rest wait for the next


class LogDelivery(Periodic):
    what = "bucket log delivery"

    def __init__(
        self,
        store: MetaStore,
        data: ObjectData,
        folder: Path,
        interval: float,
        region: str,
        account_of: Callable[[str], str | None],
        live_names: set[str],
    ) -> None:
        super().__init__(interval)
        self.store = store
        self.data = data
        self.folder = folder
        self.region = region
        self.account_of = account_of  # a canonical id's 12-digit account id
        self.live_names = live_names  # the spool names of the processes now serving
        self.delivered = 0  # log objects written

    async def before_first(self) -> None:
        # Spools of worker processes that no longer exist (fewer --workers than the last run).
        def roll_orphans() -> None:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for name in spool.open_names(self.folder):
                if name not in self.live_names:
                    spool.roll(self.folder, name)

        await asyncio.to_thread(roll_orphans)

    async def run_once(self) -> int:
        """One round; returns the log objects written."""
        files, lines = await asyncio.to_thread(self._read)
        if not files:
            return 0
        by_source: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for bucket, when, text in lines:
            by_source[bucket].append((when, text))
        written = 0
        for source, entries in by_source.items():
            if await self._deliver(source, entries):
                written += 1
        for path in files:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        self.delivered += written
        return written

    def _read(self) -> tuple[list[Path], list[tuple[str, float, str]]]:
        files: list[Path] = []
        lines: list[tuple[str, float, str]] = []
        size = 0
        for path in spool.ready_files(self.folder):
            if files and size >= MAX_ROUND_BYTES:
                break
            try:
                size += path.stat().st_size
                lines.extend(spool.read_ready(path))
            except FileNotFoundError:
                continue
            files.append(path)
        return files, lines

    async def _deliver(self, source: str, entries: list[tuple[float, str]]) -> bool:
        bucket = await self.store.get_bucket(source)
        config = configured(bucket.config) if bucket is not None else None
        if bucket is None or config is None:
            return False
        target = await self.store.get_bucket(config.target_bucket)
        if target is None or target.owner_id != bucket.owner_id:
            log.warning("bucket logging: %s's logs dropped: its target bucket %s is gone or another owner's", source, config.target_bucket)
            return False
        entries.sort()
        now = time.time()
        key = object_key(
            config.target_prefix,
            now,
            partitioned=config.partitioned,
            date_source_time=entries[0][0] if config.date_source == "EventTime" else now,
            account=self.account_of(bucket.owner_id) or bucket.owner_id,
            region=self.region,
            bucket=source,
        )
        accounts = tuple(a for a in (self.account_of(bucket.owner_id), bucket.owner_id) if a)
        keys = request_keys(now=datetime.now(UTC), source_ip=None, secure_transport=True)
        if not delivery_allowed(target.name, target.config, key, source, accounts, keys):
            log.warning("bucket logging: %s's logs dropped: bucket %s does not let log delivery write %s", source, target.name, key)
            return False
        body = "".join(text + "\n" for _, text in entries).encode()
        await self._put(target, key, body, config)
        return True

    async def _put(self, target: Bucket, key: str, body: bytes, config: LoggingConfig) -> None:
        placement = self.data.placement(target.name, key, "STANDARD")
        md5 = hashlib.md5(usedforsecurity=False)
        inline = self.data.inline(len(body))
        # Log objects take the target bucket's default encryption, as any other new object does.
        encryption, data_key = self.data.keys.new_sse_s3() if default_mode(target.config) else (None, None)
        writer = await self.data.writer(placement, [md5], inline, data_key)

        def write() -> None:
            writer.write(body)
            writer.finish()

        try:
            await asyncio.to_thread(write)
        except BaseException:
            writer.abort()
            raise
        stored = writer.finish()
        headers = {"content-type": "text/plain"}
        if REPLICATION_CONFIG in target.config:
            headers[REPLICATION_STATUS_HEADER] = PENDING
        # The target's owner has FULL_CONTROL of every log object; the target grants add readers.
        grants = ((acl.CANONICAL_USER, target.owner_id, "FULL_CONTROL"), *config.grants) if config.grants else ()
        record = single_part_version(
            bucket=target.name,
            key=key,
            blob=stored.shard_id,
            size=stored.size,
            md5_hex=md5.hexdigest(),
            placement=placement,
            inline=stored.inline is not None,
            storage_class="STANDARD",
            headers=headers,
            versioning=target.config.get(VERSIONING_CONFIG),
            acl=grants,
            encryption=encryption,
            stored=stored.stored,
        )
        await self.data.commit_version(self.store, record, stored.inline, None, None if stored.inline is not None else writer)
