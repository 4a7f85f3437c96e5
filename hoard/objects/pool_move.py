"""Moving a version's bytes from one pool of a cluster to another (``hoard admin pool
decommission``): the same commit protocol as a write, so a move is never half visible.

The bytes are copied as they are kept (ciphertext stays ciphertext) into shard files of a set in
a pool placement chooses now (an active one), the version's records written there, and the index
swaps the moved version in for the old one in one transaction, only if the version is still as
read (VersionChanged otherwise: the copy goes, nothing changed). The old shard files are then
queued for reclaim and the old records removed. A crash at any point leaves either the old
version whole (the copy is an orphan the sweep removes) or the new one (the old files an orphan
or a queued reclaim).
"""

from __future__ import annotations

import asyncio
import dataclasses

from hoard.meta.store import MetaStore
from hoard.model import ObjectRecord, Placement, Segment
from hoard.objects.data import ObjectData
from hoard.storage.erasure_set import new_id


def _copy(data: ObjectData, record: ObjectRecord, placement: Placement) -> tuple[tuple[Segment, ...], list[bytes] | None, int]:
    """The version's bytes written at ``placement``: its segments (new shard files, one per
    segment so that part reads keep their boundaries), the inline fragments of a version kept in
    its records, and how many drives the copy missed. Blocks."""
    if record.inline:
        payload = b""
        if record.stored_size:
            raw = data.open_stored_sync(record, 0, record.stored_size - 1)
            assert raw.inline_data is not None
            payload = bytes(raw.inline_data)
        writer = data.writer_sync(placement, inline=True)
        try:
            writer.write(payload)
            stored = writer.commit()
        except BaseException:
            writer.abort()
            raise
        return record.segments, stored.inline, stored.missed
    out: list[Segment] = []
    missed = offset = 0
    try:
        for seg in record.segments:
            if not seg.blob:  # no shard file: the bytes are in a tier, or there are none
                out.append(seg)
                offset += seg.stored_size
                continue
            writer = data.writer_sync(placement)
            try:
                if seg.stored_size:
                    for chunk in data.stored_chunks(record, offset, offset + seg.stored_size - 1):
                        writer.write(chunk)
                stored = writer.commit()
            except BaseException:
                writer.abort()
                raise
            out.append(dataclasses.replace(seg, blob=stored.shard_id))
            missed += stored.missed
            offset += seg.stored_size
    except BaseException:
        for seg, old in zip(out, record.segments, strict=False):  # out: those copied so far
            if seg.blob and seg.blob != old.blob:
                data.remove_shard(seg.blob)
        raise
    return tuple(out), None, missed


async def move_version(data: ObjectData, store: MetaStore, record: ObjectRecord, pool: int | None = None) -> ObjectRecord:
    """Move the version to ``pool``, or to a pool placement chooses now; returns it as it now is.
    VersionChanged if it changed meanwhile (nothing moved)."""
    placement = data.placement(record.bucket, record.key, record.storage_class, pool)
    segments, inline, missed = await asyncio.to_thread(_copy, data, record, placement)
    copied = [s.blob for s, old in zip(segments, record.segments, strict=True) if s.blob and s.blob != old.blob]
    new = dataclasses.replace(record, placement=placement, segments=segments, data_id=new_id(), replaces=record.data_id)
    try:
        missed += await data.publish(new, inline)
        try:
            await store.replace_version(record, new, reclaim=[s.blob for s in record.segments if s.blob], heal=missed > 0)
        except BaseException:
            await data.retract(new, shards=False)
            raise
    except BaseException:
        for blob in copied:
            await asyncio.to_thread(data.remove_shard, blob)
        raise
    await data.drop_records([record])
    return new
