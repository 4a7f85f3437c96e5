"""Rebuilding the metadata index from the drives: every version record, the newest per key wins.

Each drive of a version's set holds its record, so any drive that survived is enough to find
it again. Buckets come from the bucket files every drive keeps.
"""

from __future__ import annotations

import logging
import time
import uuid

from hoard.meta.sqlite import SqliteMetaStore
from hoard.model import Bucket, ObjectRecord
from hoard.storage import record as record_file
from hoard.storage.erasure import codec
from hoard.storage.pool import Storage
from hoard.storage.shardfile import ShardGeometry

log = logging.getLogger("hoard.rebuild")
INDEX_ID = "index_id"


def scan(storage: Storage, owner_id: str, region: str) -> tuple[list[Bucket], list[ObjectRecord]]:
    """The buckets and current object versions the drives describe."""
    newest: dict[tuple[str, str], ObjectRecord] = {}
    candidates: dict[tuple[str, str], list[ObjectRecord]] = {}
    seen: set[str] = set()
    for drive in storage.drives:
        if not drive.usable:
            continue
        try:
            ids = [data_id for data_id, _ in drive.record_ids()]
        except OSError as e:
            drive.fail(e)
            continue
        for data_id in ids:
            if data_id in seen:
                continue
            try:
                stored = record_file.decode(drive.read_record(data_id))
            except (OSError, record_file.CorruptRecord) as e:
                log.warning("skipping record %s on %s: %s", data_id, drive.root, e)
                continue  # another drive's copy may still be read
            seen.add(data_id)
            candidates.setdefault((stored.record.bucket, stored.record.key), []).append(stored.record)
    for where, versions in candidates.items():
        # Newest first; a version whose shard files never became durable (a crash between
        # writing its records and committing it) was never acknowledged: the one before stands.
        for r in sorted(versions, key=lambda v: (v.last_modified, v.data_id), reverse=True):
            if _readable(storage, r):
                newest[where] = r
                break
    buckets = {b.name: b for b in storage.load_buckets()}
    for bucket, _ in newest:
        if bucket not in buckets:
            log.warning("bucket %s has objects but no bucket file: recreating it", bucket)
            buckets[bucket] = Bucket(bucket, min(r.last_modified for (b, _), r in newest.items() if b == bucket), region, owner_id)
    return sorted(buckets.values(), key=lambda b: b.name), sorted(newest.values(), key=lambda r: (r.bucket, r.key))


def _readable(storage: Storage, r: ObjectRecord) -> bool:
    """Whether enough of the version's shard files exist, at their full size, to read it."""
    if r.inline:
        return True
    eset = storage.set_of(r.placement)
    c = codec(r.placement.data, r.placement.parity)
    for seg in r.segments:
        if not seg.size:
            continue
        expected = ShardGeometry(seg.size, c).file_size()
        found = 0
        for position in r.placement.distribution:
            drive = eset.drives[position]
            try:
                found += drive.usable and drive.shard_path(seg.blob).stat().st_size == expected
            except OSError:
                continue
        if found < r.placement.data:
            return False
    return True


def open_index(storage: Storage, owner_id: str, region: str) -> tuple[SqliteMetaStore, int | None]:
    """Open the metadata index the drives name, or build a new one from the drives.

    Returns the store and, when it was rebuilt, how many objects the drives gave back. The
    drives record the current index's identity, so a stale index (on a drive that was away
    while another took over) is never trusted: trusting it would hide newer objects, and the
    orphan sweep would then delete their files.
    """
    wanted = storage.index_id()
    candidates = storage.index_candidates()
    for path in candidates:
        if path.exists() and wanted is not None:
            store = SqliteMetaStore(path)
            if store.get_setting_sync(INDEX_ID) == wanted:
                return store, None
            store.close()
    path = candidates[0]
    if path.exists():
        aside = path.with_name(f"meta.db.stale-{int(time.time())}")
        log.warning("the index at %s is not the one the drives name: keeping it as %s and rebuilding", path, aside)
        for suffix in ("", "-wal", "-shm"):
            old = path.with_name(path.name + suffix)
            if old.exists():
                old.rename(aside.with_name(aside.name + suffix))
    store = SqliteMetaStore(path)
    count = rebuild(storage, store, owner_id, region)
    index_id = uuid.uuid4().hex
    store.set_setting_sync(INDEX_ID, index_id)
    storage.set_index_id(index_id)
    return store, count


def rebuild(storage: Storage, store: SqliteMetaStore, owner_id: str, region: str) -> int:
    buckets, records = scan(storage, owner_id, region)
    store.replace_contents(buckets, records)
    if records or buckets:
        log.warning("rebuilt the index from the drives: %d buckets, %d objects", len(buckets), len(records))
    return len(records)
