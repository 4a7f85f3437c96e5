"""The data path as handlers see it: write a version's bytes and records, read them back, drop them.

Blocking work runs in worker threads; reads are streamed block by block with the next block
read while the current one is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from hoard.meta.errors import VersionChanged
from hoard.meta.store import BuildObject, MetaStore, Precondition
from hoard.model import Bucket, ObjectRecord, Placement, Upload
from hoard.nowait import WouldBlock
from hoard.objects.encryption import SSE_C, SSE_S3, DataKey, DecryptingReader, EncryptingWriter, KeyService, decrypt_inline, plan
from hoard.objects.tier_reader import TierReader
from hoard.storage.erasure_set import ShardSetReader, ShardSetWriter, new_id
from hoard.storage.errors import ReadQuorumError
from hoard.storage.pool import Storage
from hoard.tiers import TierStore, TierUnavailable

log = logging.getLogger("hoard.data")


# A bucket's configurations that stay with one site (site replication carries the others), and
# the one that says when those others last changed.
SITE_STAMP = "siteStamp"
SITE_LOCAL_CONFIGS = frozenset({"replication", "foreignObjects", SITE_STAMP})
DELETED_BUCKET_PREFIX = "bucket-deleted/"  # index settings: when each deleted bucket was deleted


Reader = ShardSetReader | TierReader | DecryptingReader


class ObjectData:
    def __init__(
        self, storage: Storage, on_damage: Callable[[ObjectRecord], None], tiers: dict[str, TierStore] | None = None, keys: KeyService | None = None
    ) -> None:
        self.storage = storage
        self.on_damage = on_damage
        # The data keys of encrypted versions (hoard.objects.encryption); none: nothing is encrypted here.
        self.keys = keys or KeyService(None)
        # Where archived versions' bytes are, by tier name (``hoard.objects.tiering``).
        self.tiers: dict[str, TierStore] = tiers or {}
        self._bucket_files = asyncio.Lock()

    def placement(self, bucket: str, key: str, storage_class: str, pool: int | None = None) -> Placement:
        return self.storage.placement(bucket, key, storage_class, pool)

    def upload_placement(self, upload: Upload) -> Placement:
        """Where a multipart upload's parts and its object go: the pool chosen when it began."""
        return self.storage.placement(upload.bucket, upload.key, upload.storage_class, pool=upload.pool or None)

    def inline(self, size: int) -> bool:
        return size < self.storage.inline_limit

    @staticmethod
    def new_data_id() -> str:
        return new_id()

    def writer_sync(
        self, placement: Placement, hashers: Iterable = (), inline: bool = False, key: DataKey | None = None, part: int = 0
    ) -> ShardSetWriter | EncryptingWriter:
        """``writer`` for a worker thread (a copy reads and writes in one). With ``key``, what is
        written is encrypted with it (as ``part`` of the version: 0 for a single-part one); the
        hashers still see the plaintext."""
        inner = self.storage.set_of(placement).writer(placement, () if key is not None else hashers, inline)
        return EncryptingWriter(inner, key, part, hashers) if key is not None else inner

    def open_sync(self, record: ObjectRecord, start: int, end: int, customer_key: bytes | None = None) -> Reader:
        """``open`` for a worker thread: bytes [start, end] as a client reads them (decrypted;
        an SSE-C version with the customer's key)."""
        if record.encryption is None:
            return self.open_stored_sync(record, start, end)
        key = self.keys.data_key(record.encryption, customer_key)
        if record.inline:
            raw = self.open_stored_sync(record, 0, record.stored_size - 1)
            return self.plain_inline(record, raw, key, start, end)
        parts = plan(record, key, start, end)
        return DecryptingReader(record, start, end, parts, lambda s, e: self.open_stored_sync(record, s, e)).begin()

    def open_stored_sync(self, record: ObjectRecord, start: int, end: int) -> ShardSetReader | TierReader:
        """Bytes [start, end] as the drives or the tier keep them (ciphertext, for an encrypted
        version): what moves to a tier, and what a decrypting read reads."""
        if record.archive is not None and not record.on_drives:
            return self._tier_reader(record, start, end)
        return self.storage.set_of(record.placement).open(record, start, end, self.on_damage)

    def stored_chunks(self, record: ObjectRecord, start: int, end: int) -> Iterator[bytes]:
        """Bytes [start, end] as kept (``open_stored_sync``), piece by piece, the files closed
        at the end or when abandoned: what moves to a tier or to another pool. Blocks."""
        reader = self.open_stored_sync(record, start, end)
        try:
            for piece in reader.pieces():
                yield bytes(reader.read_piece(piece))
        finally:
            reader.close()

    @staticmethod
    def plain_inline(record: ObjectRecord, raw: ShardSetReader | TierReader, key: DataKey, start: int, end: int) -> ShardSetReader | TierReader:
        """An encrypted inline version's reader, its bytes decrypted (a few chunks, in memory)."""
        assert raw.inline_data is not None
        return dataclasses.replace(raw, inline_data=decrypt_inline(record, key, bytes(raw.inline_data)), start=start, end=end)

    def _tier_reader(self, record: ObjectRecord, start: int, end: int) -> TierReader:
        assert record.archive is not None
        tier = self.tiers.get(record.archive.tier)
        if tier is None:
            raise TierUnavailable(f"the tier {record.archive.tier!r} holding {record.bucket}/{record.key} is not configured")
        return TierReader(tier, record, start, end).begin()

    def save_bucket(self, bucket: Bucket) -> None:
        """Keep the bucket's configuration on every drive, so the index can be rebuilt without it (blocks)."""
        self.storage.save_bucket(bucket)

    async def configure_bucket(self, store: MetaStore, name: str, config_name: str, value: Any) -> Bucket:
        """Set (or, with None, remove) one of a bucket's configurations, in the index and in the
        bucket's file on every drive; returns the bucket as it now is. BucketNotFound."""
        async with self._bucket_files:  # one bucket file write at a time in this process
            before = await store.get_bucket(name)
            bucket = await store.set_bucket_config(name, config_name, value)
            if config_name not in SITE_LOCAL_CONFIGS:
                # When it last changed: between sites, the newer configuration wins.
                bucket = await store.set_bucket_config(name, SITE_STAMP, round(time.time(), 6))
            try:
                written = bucket
                for _ in range(5):
                    await asyncio.to_thread(self.storage.save_bucket, written)
                    # Another process may have changed the bucket, and written its file, between
                    # our index write and our file write: the file must end as the index is.
                    current = await store.get_bucket(name)
                    if current is None or current.config == written.config:
                        break
                    written = current
            except BaseException:
                previous = before.config.get(config_name) if before is not None else None
                await store.set_bucket_config(name, config_name, previous)
                raise
            return bucket

    async def adopt_bucket(self, store: MetaStore, bucket: Bucket) -> Bucket:
        """Make a bucket what another site of the site group has: created with its owner if missing,
        else its configurations (all but this site's own) set as given, with the other site's
        stamp, not a new one (a new stamp would send them back). Returns the bucket as it now is."""
        async with self._bucket_files:
            current = await store.get_bucket(bucket.name)
            if current is None:
                await store.create_bucket(bucket)
                current = bucket
            else:
                wanted = {k: v for k, v in bucket.config.items() if k not in SITE_LOCAL_CONFIGS or k == SITE_STAMP}
                for name in sorted(set(wanted) | {k for k in current.config if k not in SITE_LOCAL_CONFIGS}):
                    if current.config.get(name) != wanted.get(name):
                        current = await store.set_bucket_config(bucket.name, name, wanted.get(name))
            await asyncio.to_thread(self.storage.save_bucket, current)
            return current

    async def replace_metadata(self, store: MetaStore, old: ObjectRecord, **changes: Any) -> ObjectRecord:
        """Give the current version ``old`` other metadata (tags, ...) and the same bytes.

        As any write: the new version record goes to the drives under a new id (an inline
        object's bytes read back and carried over), the index swaps it in only if ``old`` is still
        current (VersionChanged otherwise), and then the old record files go.
        """
        new = dataclasses.replace(old, data_id=new_id(), replaces=old.data_id, **changes)
        eset = self.storage.set_of(old.placement)
        try:
            fragments = await asyncio.to_thread(eset.inline_fragments, old, self.on_damage) if old.inline else None
        except FileNotFoundError:
            # Its records went with an overwrite or a delete between the lookup and now: the
            # change lost the race, as when the index refuses the swap below.
            raise VersionChanged(f"{old.bucket}/{old.key} was replaced while its metadata was being changed") from None
        missed = await asyncio.to_thread(eset.write_records, new, fragments)
        try:
            await store.replace_version(old, new, heal=missed > 0)
        except BaseException:
            await self.retract(new, shards=False)
            raise
        await self.drop_records([old])
        return new

    async def commit_version(
        self,
        store: MetaStore,
        record: ObjectRecord,
        inline: list[bytes] | None = None,
        precondition: Precondition | None = None,
        pending: ShardSetWriter | None = None,
        missed: int = 0,
    ) -> ObjectRecord | None:
        """Make a freshly written version current; returns the version it replaced.

        Its records go to the drives (and ``pending`` shard files are made durable beside them),
        then the index commit makes it visible (``precondition`` sees the current version inside
        that transaction). If anything fails, its new files are removed. The replaced version's
        records go at once, so an index rebuilt from the drives cannot bring it back; its shard
        files are queued for reclaim by the index. ``missed``: drives its shard files, committed
        already (a copy), did not reach; a version that missed any is queued for healing.
        """
        if record.encryption is not None:
            # A write that took its data key before a master key rotation commits it sealed under
            # the new key, so that the rotation leaves nothing under the old one behind it.
            record = dataclasses.replace(record, encryption=self.keys.fresh(record.encryption))
        try:
            missed += await self.publish(record, inline, pending)
            old = await store.put_object(record, precondition, heal=missed > 0)
        except BaseException:
            await self.retract(record)
            raise
        await self.drop_records([old])
        return old

    async def commit_multipart(
        self, store: MetaStore, upload_id: str, record: ObjectRecord, build: BuildObject, precondition: Precondition | None = None
    ) -> ObjectRecord:
        """Make an upload the current version of its key: ``record`` (built from the parts as
        they are now) goes to the drives, and the index transaction builds it again with
        ``build`` from the parts as they are then, which must give the same version (a part
        replaced in between fails the complete instead of lying). The parts' shard files become
        the version's, so a failure removes only its records."""
        missed = await self.publish(record, None)
        try:
            record, old = await store.complete_upload(upload_id, build, precondition, heal=missed > 0)
        except BaseException:
            await self.retract(record, shards=False)
            raise
        await self.drop_records([old])
        return record

    def remove_bucket(self, name: str) -> None:
        """Remove the bucket's file from every drive (blocks)."""
        self.storage.remove_bucket(name)

    async def writer(
        self, placement: Placement, hashers: Iterable = (), inline: bool = False, key: DataKey | None = None, part: int = 0
    ) -> ShardSetWriter | EncryptingWriter:
        if inline:  # opens no file: no trip to a worker thread
            return self.writer_sync(placement, hashers, inline, key, part)
        return await asyncio.to_thread(self.writer_sync, placement, hashers, inline, key, part)

    async def publish(self, record: ObjectRecord, inline: list[bytes] | None, pending: ShardSetWriter | None = None) -> int:
        """Write the version's record to its drives (before the index makes it visible); returns
        how many of its files missed a drive (a write quorum took it, and the index commit
        queues it for healing).

        ``pending`` shard files are made durable at the same time: the two chains of fsyncs run
        side by side, and nothing points at either until the index commits.
        """
        eset = self.storage.set_of(record.placement)
        if pending is None:
            return await asyncio.to_thread(eset.write_records, record, inline)
        results = await asyncio.gather(
            asyncio.to_thread(pending.commit), asyncio.to_thread(eset.write_records, record, inline), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                await asyncio.to_thread(pending.abort)
                raise result
        stored, missed_records = results
        return stored.missed + missed_records

    async def retract(self, record: ObjectRecord, shards: bool = True) -> None:
        """Remove a version that never became visible: its records and (unless they are an
        upload's parts, still owned by the upload) its shard files."""

        def work() -> None:
            eset = self.storage.set_of(record.placement)
            eset.remove_records(record)
            for seg in record.segments:
                if seg.blob and shards:
                    eset.remove_shard(seg.blob)

        await asyncio.to_thread(work)

    async def drop_records(self, records: Iterable[ObjectRecord | None]) -> None:
        """Remove the records of versions the index no longer holds (their shards go by reclaim).

        Done at once, so an index rebuilt from the drives does not bring a deleted object back;
        a failure here leaves an orphan that the start-up sweep removes.
        """
        gone = [r for r in records if r is not None and r.data_id]

        def work() -> None:
            for r in gone:
                self.storage.set_of(r.placement).remove_records(r)

        if gone:
            try:
                await asyncio.to_thread(work)
            except OSError as e:
                log.warning("could not remove replaced version records: %s", e)

    async def open(self, record: ObjectRecord, start: int, end: int, customer_key: bytes | None = None) -> Reader:
        return await asyncio.to_thread(self.open_sync, record, start, end, customer_key)

    async def lookup(
        self, store: MetaStore, bucket: str, key: str, read_inline: bool = True
    ) -> tuple[ObjectRecord | None, ShardSetReader | None]:
        """The current version and, for an inline one, its bytes read already.

        Tried first in the event loop itself, which for a small object costs less than the trip
        to a worker thread and back (measured: twice the 4 KiB GETs per second); whatever would
        wait on a lock or a disk is done in a thread instead (see ``hoard.nowait``).
        """

        def work(nowait: bool) -> tuple[ObjectRecord | None, ShardSetReader | None]:
            record = store.get_object_nowait(bucket, key) if nowait else store.get_object_sync(bucket, key)
            if record is None or not record.inline or not read_inline or (record.encryption is not None and record.encryption.mode == SSE_C):
                return record, None  # an SSE-C version opens with the request's key, in the read proper
            try:
                raw = self.storage.set_of(record.placement).open(record, 0, record.stored_size - 1, self.on_damage, nowait)
            except (FileNotFoundError, ReadQuorumError):
                return record, None  # the read proper retries or reports it
            if record.encryption is None:
                return record, raw
            if nowait and record.encryption.mode != SSE_S3:
                # The KMS may read its key document from the drives: not in the event loop.
                raise WouldBlock()
            return record, self.plain_inline(record, raw, self.keys.data_key(record.encryption), 0, record.size - 1)

        try:
            return work(nowait=True)
        except WouldBlock:
            return await asyncio.to_thread(work, False)

    def remove_shard(self, shard_id: str) -> None:
        self.storage.remove_shard(shard_id)


async def stream(reader: Reader) -> AsyncIterator[bytes]:
    """Yield the opened bytes in order; closes the files when done or abandoned."""
    pending: asyncio.Future | None = None
    try:
        if reader.inline_data is not None:
            yield reader.inline_data[reader.start : reader.end + 1]
            return
        # A block already in the page cache is read and verified here in the event loop: less
        # than the trip to a thread and back costs. One that would wait on the disk is read in
        # a thread, and the next one with it while this one is sent.
        pieces = list(reader.pieces())
        for i, piece in enumerate(pieces):
            if pending is None:
                try:
                    data = reader.read_piece(piece, nowait=True)
                except WouldBlock:
                    pending = asyncio.ensure_future(asyncio.to_thread(reader.read_piece, piece))
            if pending is not None:
                data = await pending
                pending = asyncio.ensure_future(asyncio.to_thread(reader.read_piece, pieces[i + 1])) if i + 1 < len(pieces) else None
            yield data
    finally:
        if pending is not None:
            try:
                await pending
            except Exception:  # noqa: BLE001 - the reader is being abandoned anyway
                pass
        if reader.segments:
            await asyncio.to_thread(reader.close)


def read_all(reader: Reader, sink: Callable[[bytes], None]) -> None:
    """Feed every opened byte to ``sink`` (copies; runs in a worker thread)."""
    if reader.inline_data is not None:
        if reader.end >= reader.start:
            sink(reader.inline_data[reader.start : reader.end + 1])
        return
    for piece in reader.pieces():
        sink(reader.read_piece(piece))
