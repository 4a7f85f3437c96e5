"""What the drives describe: every bucket file and readable version record.

Each drive of a version's set holds its record, so any drive that survived is enough to find
it again. Buckets come from the bucket files every drive keeps. The index is rebuilt from this
(``hoard.objects.index``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hoard.model import Bucket, ObjectRecord
from hoard.storage import record as record_file
from hoard.storage.erasure import codec
from hoard.storage.pool import Storage
from hoard.storage.shardfile import ShardGeometry

log = logging.getLogger("hoard.rebuild")


Progress = Callable[[int, int], None]  # (record files visited, record files on the usable drives)


def scan(storage: Storage, owner_id: str, region: str, progress: Progress | None = None) -> tuple[list[Bucket], list[ObjectRecord]]:
    """The buckets and object versions (every readable one, each key's null version once) the
    drives describe; ``progress`` is told how far the walk over the record files is, after each one."""
    found: dict[tuple[str, str], list[ObjectRecord]] = {}
    candidates: dict[tuple[str, str], list[ObjectRecord]] = {}
    seen: set[str] = set()
    total = visited = 0
    if progress is not None:
        for drive in storage.drives:
            try:
                total += drive.record_count() if drive.usable else 0
            except OSError:
                pass  # failed again (and marked) below
        progress(0, total)
    for drive in storage.drives:
        if not drive.usable:
            continue
        try:
            ids = [data_id for data_id, _ in drive.record_ids()]
        except OSError as e:
            drive.fail(e)
            continue
        for data_id in ids:
            if progress is not None:
                visited += 1
                progress(min(visited, total), total)  # files written since the count are not in it
            if data_id in seen:
                continue
            try:
                stored = record_file.decode(drive.read_record(data_id))
            except (OSError, record_file.CorruptRecord) as e:
                log.warning("skipping record %s on %s: %s", data_id, drive, e)
                continue  # another drive's copy may still be read
            seen.add(data_id)
            candidates.setdefault((stored.record.bucket, stored.record.key), []).append(stored.record)
    for where, versions in candidates.items():
        # A record another one replaced with the same bytes (a metadata change, same
        # last_modified) is left over from a crash before its removal: never the current one.
        superseded = {v.replaces for v in versions if v.replaces}
        versions = [v for v in versions if v.data_id not in superseded] or versions
        # A version whose shard files never became durable (a crash between writing its records
        # and committing it) was never acknowledged: left out, the one before stands. A key has
        # one null version: the newest; an older one is left over from a crash before its removal.
        kept: list[ObjectRecord] = []
        null_seen = False
        for r in sorted(versions, key=_newest_first, reverse=True):
            if r.version_id == "null" and null_seen or not _readable(storage, r):
                continue
            null_seen = null_seen or r.version_id == "null"
            kept.append(r)
        found[where] = kept
    buckets = {b.name: b for b in storage.load_buckets()}
    records = sorted((r for kept in found.values() for r in kept), key=lambda r: (r.bucket, r.key, _newest_first(r)))
    earliest: dict[str, float] = {}
    for r in records:
        earliest[r.bucket] = min(earliest.get(r.bucket, r.last_modified), r.last_modified)
    for name, created in earliest.items():
        if name not in buckets:
            log.warning("bucket %s has objects but no bucket file: recreating it", name)
            buckets[name] = Bucket(name, created, region, owner_id)
    return sorted(buckets.values(), key=lambda b: b.name), records


def _newest_first(r: ObjectRecord) -> tuple[str, float, str]:
    """Versions order by seq; records written before versioning (no seq) by time, before all others."""
    return r.seq, r.last_modified, r.data_id


def _readable(storage: Storage, r: ObjectRecord) -> bool:
    """Whether enough of the version's shard files exist, at their full size, to read it."""
    if r.inline:
        return True
    eset = storage.set_of(r.placement)
    c = codec(r.placement.data, r.placement.parity)
    for seg in r.segments:
        if not seg.stored_size or (r.archive is not None and not seg.blob):
            continue  # empty, or its bytes are in a tier
        expected = ShardGeometry(seg.stored_size, c).file_size()
        found = 0
        for position in r.placement.distribution:
            drive = eset.drives[position]
            try:
                found += drive.usable and drive.shard_size(seg.blob) == expected
            except OSError:
                continue
        if found < r.placement.data:
            return False
    return True
