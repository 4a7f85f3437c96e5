"""Storage classes with a place of their own: which tier a class's bytes go to, moving a
version's bytes there and back, reading them from there, and what a restore makes readable.

A version's storage class is what S3 shows and enforces; where its bytes are is separate. A
version of a class that has a tier (GLACIER, GLACIER_IR and DEEP_ARCHIVE: the cold tier;
STANDARD_IA and ONEZONE_IA: the IA tier, when one is configured) is written to the drives like any
other, and the lifecycle worker moves its bytes to the tier (``archive``): the tier blob is made
durable, a new version record (same version, ``archive`` set, no shard files) goes to the drives,
the index swaps it in and queues the old shard files for reclaim. Objects kept inline in their
records (smaller than ``inline_limit``, 128 KiB by default: S3 does not transition objects that
small either) stay there.

GLACIER and DEEP_ARCHIVE versions are read only once restored (``readable``), wherever their
bytes are; GLACIER_IR and the IA classes are read straight from their tier (``TierReader``). A
restore of archived bytes copies them back into shard files on the drives (``restore_copy``) at
the time the restore tier's delay says; when the restore expires the copy goes (``drop_copy``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from email.utils import formatdate

from hoard.meta.store import MetaStore
from hoard.model import Archive, ObjectRecord, Segment
from hoard.objects.data import ObjectData
from hoard.storage.erasure_set import new_id
from hoard.tiers import TierStore

log = logging.getLogger("hoard.tiering")

COLD_CLASSES = frozenset({"GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"})  # with IA_CLASSES, model.TIERED_CLASSES
RESTORE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})  # read only once restored
IA_CLASSES = frozenset({"STANDARD_IA", "ONEZONE_IA"})
# What Hoard stores (and accepts on writes); INTELLIGENT_TIERING is kept with STANDARD's bytes.
STORAGE_CLASSES = frozenset({"STANDARD", "REDUCED_REDUNDANCY", "INTELLIGENT_TIERING", *IA_CLASSES, *COLD_CLASSES})
COLD_TIER, IA_TIER = "cold", "ia"
# S3 bills objects in these classes as at least this big (the usage report shows both sizes).
MIN_BILLABLE = {"STANDARD_IA": 128 * 1024, "ONEZONE_IA": 128 * 1024, "GLACIER_IR": 128 * 1024, "GLACIER": 40 * 1024, "DEEP_ARCHIVE": 40 * 1024}


def tier_for(tiers: dict[str, TierStore], storage_class: str) -> TierStore | None:
    """The tier a storage class's bytes go to, if one is configured for it."""
    if storage_class in COLD_CLASSES:
        return tiers.get(COLD_TIER)
    if storage_class in IA_CLASSES:
        return tiers.get(IA_TIER)
    return None


def readable(record: ObjectRecord, now: float) -> bool:
    """Whether the version's bytes may be read: not an archive class that needs a restore, or
    restored and not yet expired."""
    if record.storage_class not in RESTORE_CLASSES:
        return True
    r = record.restore
    return r is not None and not r.ongoing and r.expires > now


def restore_header(record: ObjectRecord) -> str | None:
    """``x-amz-restore`` as S3 sends it, for a version a restore was asked of."""
    r = record.restore
    if r is None:
        return None
    if r.ongoing:
        return 'ongoing-request="true"'
    return f'ongoing-request="false", expiry-date="{formatdate(r.expires, usegmt=True)}"'


def wants_archive(record: ObjectRecord, tiers: dict[str, TierStore]) -> TierStore | None:
    """The tier this version's bytes are to move to, if they are still on the drives and may go."""
    if record.delete_marker or record.inline or not record.size or record.archive is not None or record.restore is not None:
        return None
    return tier_for(tiers, record.storage_class)


async def archive(data: ObjectData, store: MetaStore, record: ObjectRecord, tier: TierStore, storage_class: str | None = None) -> ObjectRecord:
    """Move the version's bytes to ``tier`` (from its shard files, or from the tier they are in),
    in ``storage_class`` if given (a lifecycle transition); returns the version as it now is.

    The blob is durable in the tier before any record names it; the new records are on the drives
    before the index swaps them in (only if the version is still as read: VersionChanged
    otherwise, and the blob goes again). What held the bytes before (shard files, or the blob in
    another tier) is reclaimed after the grace.
    """
    data_id = new_id()
    ref = f"{record.bucket}/{data_id}"
    info = await asyncio.to_thread(tier.put, ref, data.stored_chunks(record, 0, record.stored_size - 1))  # ciphertext stays ciphertext
    if record.archive is not None:
        before = [record.archive.blob_id]
    else:
        before = [s.blob for s in record.segments if s.blob]
    new = dataclasses.replace(
        record,
        storage_class=storage_class or record.storage_class,
        archive=Archive(tier.name, ref, info.stored),
        segments=tuple(dataclasses.replace(s, blob="") for s in record.segments),
        data_id=data_id,
        replaces=record.data_id,
    )
    try:
        missed = await data.publish(new, None)
        try:
            await store.replace_version(record, new, reclaim=before, heal=missed > 0)
        except BaseException:
            await data.retract(new, shards=False)
            raise
    except BaseException:
        await asyncio.to_thread(tier.delete, ref)
        raise
    await data.drop_records([record])
    return new


def _copy_back(data: ObjectData, record: ObjectRecord) -> tuple[tuple[Segment, ...], int]:
    """Shard files on the drives holding the archived bytes again, one per segment (so part
    reads keep their boundaries), and how many drives they missed. Blocks."""
    assert record.archive is not None
    tier = data.tiers[record.archive.tier]
    out: list[Segment] = []
    offset = 0
    missed = 0
    try:
        for seg in record.segments:
            writer = data.writer_sync(record.placement)
            try:
                if seg.stored_size:  # the bytes as kept (ciphertext, for an encrypted version)
                    for chunk in tier.read(record.archive.ref, offset, offset + seg.stored_size - 1):
                        writer.write(chunk)
                stored = writer.commit()
            except BaseException:
                writer.abort()
                raise
            out.append(dataclasses.replace(seg, blob=stored.shard_id))
            offset += seg.stored_size
            missed += stored.missed
    except BaseException:
        for seg in out:
            data.remove_shard(seg.blob)
        raise
    return tuple(out), missed


async def restore_copy(data: ObjectData, store: MetaStore, record: ObjectRecord, expires: float) -> ObjectRecord:
    """Finish an ongoing restore: the bytes on the drives (copied back from the tier if they
    left), readable until ``expires``."""
    assert record.restore is not None
    ready = dataclasses.replace(record.restore, expires=expires)
    if record.on_drives:  # never moved (or kept inline): only the restore's state changes
        return await data.replace_metadata(store, record, restore=ready)
    copied, missed = await asyncio.to_thread(_copy_back, data, record)
    new = dataclasses.replace(record, segments=copied, restore=ready, data_id=new_id(), replaces=record.data_id)
    try:
        missed += await data.publish(new, None)
        try:
            await store.replace_version(record, new, heal=missed > 0)
        except BaseException:
            await data.retract(new, shards=False)
            raise
    except BaseException:
        for seg in copied:
            await asyncio.to_thread(data.remove_shard, seg.blob)
        raise
    await data.drop_records([record])
    return new


async def drop_copy(data: ObjectData, store: MetaStore, record: ObjectRecord) -> ObjectRecord:
    """End an expired restore: the restored copy of archived bytes goes (reclaimed after the grace)."""
    copy = [s.blob for s in record.segments if s.blob] if record.archive is not None else []
    if not copy:  # the bytes never left the drives: only the restore's state changes
        return await data.replace_metadata(store, record, restore=None)
    segments = tuple(dataclasses.replace(s, blob="") for s in record.segments)
    new = dataclasses.replace(record, segments=segments, restore=None, data_id=new_id(), replaces=record.data_id)
    missed = await data.publish(new, None)
    try:
        await store.replace_version(record, new, reclaim=copy, heal=missed > 0)
    except BaseException:
        await data.retract(new, shards=False)
        raise
    await data.drop_records([record])
    return new
