"""One erasure set: writing an object's bytes as k + m shard files, reading them back verified,
and writing, reading and repairing the version records that describe them.

Every method here does blocking I/O and runs in a worker thread.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hoard.model import ObjectRecord, Placement, Segment
from hoard.storage import record as record_file
from hoard.storage.bitrot import HASH_SIZE, block_hash
from hoard.storage.drive import DriveOffline
from hoard.storage.drive_api import Drive, ShardReader, ShardWriter
from hoard.storage.erasure import BLOCK_SIZE, codec
from hoard.storage.errors import ReadQuorumError, WriteQuorumError
from hoard.storage.layout import write_quorum
from hoard.storage.remote import RemoteDrive
from hoard.storage.shardfile import ShardGeometry

log = logging.getLogger("hoard.erasure")

# Fsyncs and renames on several drives run side by side; they wait on the disk, not the GIL.
_DRIVE_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="hoard-drive")


def renew_drive_pool() -> None:
    """Stop the drive threads and start afresh, before forking worker processes: a forked child
    has none of its parent's threads, and a pool that believes it has some never runs its work."""
    global _DRIVE_POOL
    _DRIVE_POOL.shutdown(wait=True)
    _DRIVE_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="hoard-drive")


# Below this, handing the hashing to a drive thread costs more than running it here.
HASH_BESIDE = 256 * 1024


def hash_beside(hashers: list, data: bytes | memoryview, work: Callable[[], None]) -> None:
    """Feed ``data`` to ``hashers`` (MD5 for the ETag, the client's checksums) in a drive thread
    while ``work`` (encoding, encrypting) runs in this one: both release the GIL on large buffers,
    so a PUT keeps both cores busy. Returns once both are done; ``data`` is only read."""
    if not hashers or len(data) < HASH_BESIDE:
        for h in hashers:
            h.update(data)
        work()
        return
    hashing = _DRIVE_POOL.submit(_feed, hashers, data)
    try:
        work()
    finally:
        hashing.result()


def _feed(hashers: list, data: bytes | memoryview) -> None:
    for h in hashers:
        h.update(data)


def new_id() -> str:
    return secrets.token_hex(16)


def on_drives(fn: Callable, items: Iterable) -> list:
    """Run ``fn`` on every item on the drive pool; returns each result or the exception it raised."""

    def guarded(item):
        try:
            return fn(item)
        except Exception as e:  # noqa: BLE001 - each drive fails alone
            return e

    items = list(items)
    if len(items) == 1:  # one drive: no hand-off to another thread
        return [guarded(items[0])]
    return list(_DRIVE_POOL.map(guarded, items))


@dataclass
class StoredData:
    """What a writer produced: a shard id (shard files on the set's drives) or inline fragments."""

    shard_id: str
    size: int  # what the writer was handed (plaintext, through an encrypting writer)
    inline: list[bytes] | None = None
    stored: int = 0  # what the shard files hold, when it differs from ``size`` (hoard.objects.encryption)
    missed: int = 0  # drives of the placement the shard files did not reach: the version is queued for healing


class ShardSetWriter:
    """Streams object bytes into one drive file per fragment; hashers see the plain bytes on the way.

    Called from one worker thread at a time. A drive that fails mid-write is dropped; the write
    goes on while a quorum of drives remains.
    """

    def __init__(self, eset: ErasureSet, placement: Placement, hashers: Iterable, inline: bool) -> None:
        self.eset = eset
        self.placement = placement
        self.codec = codec(placement.data, placement.parity)
        self.quorum = write_quorum(placement.data, placement.parity, eset.spread)
        self.inline = inline
        self.shard_id = "" if inline else new_id()
        self.size = 0
        self._hashers = list(hashers)
        self._buffer = bytearray()
        self._finished: StoredData | None = None
        self._drives = [eset.drives[p] for p in placement.distribution]
        self._writers: list[ShardWriter | None] = [None] * len(self._drives)
        if inline:
            if sum(d.usable for d in self._drives) < self.quorum:
                raise WriteQuorumError(self._quorum_message(sum(d.usable for d in self._drives)))
            return
        for i, drive in enumerate(self._drives):
            if not drive.usable:
                continue
            try:
                self._writers[i] = drive.create_shard(self.shard_id)
            except OSError as e:
                drive.fail(e)
        self._require_quorum()

    def _quorum_message(self, alive: int) -> str:
        return f"only {alive} of {len(self._drives)} drives can take the write; {self.quorum} are needed"

    def _require_quorum(self) -> None:
        alive = sum(w is not None for w in self._writers)
        if alive < self.quorum:
            self.abort()
            raise WriteQuorumError(self._quorum_message(alive))

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if not self.inline and not self._buffer and len(data) == BLOCK_SIZE and isinstance(data, bytes):
            # The common case, a whole block: encoded where it lies, no copy.
            hash_beside(self._hashers, data, lambda: self._write_block(data))
            return
        self._buffer += data
        if self.inline or len(self._buffer) < BLOCK_SIZE:
            _feed(self._hashers, data)
            return
        hash_beside(self._hashers, data, self._write_buffered_blocks)

    def _write_buffered_blocks(self) -> None:
        while len(self._buffer) >= BLOCK_SIZE:
            with memoryview(self._buffer) as view:
                block = bytes(view[:BLOCK_SIZE])
            del self._buffer[:BLOCK_SIZE]
            self._write_block(block)

    def _write_block(self, block: bytes) -> None:
        fragments = self.codec.encode(block)

        # One fragment after the other, in this thread: handing each to a drive thread cost
        # more (wake-ups, eight writers contending for two cores) than it gained; measured,
        # 8-drive PUT went from 57% to 64-70% of 1-drive. The commit's fsyncs, which wait on
        # the disk rather than the CPU, still go side by side.
        for i, writer in enumerate(self._writers):
            if writer is None:
                continue
            try:
                writer.write_block(block_hash(fragments[i]), fragments[i])
            except OSError as e:
                self._drives[i].fail(e)
                writer.abort()
                self._writers[i] = None
        self._require_quorum()

    def finish(self) -> StoredData:
        """Write out what is buffered; the bytes are all there, not yet durable (see ``commit``)."""
        if self._finished is None:
            if self.inline:
                self._finished = StoredData("", self.size, self.codec.encode(bytes(self._buffer)))
            else:
                if self._buffer:
                    self._write_block(bytes(self._buffer))
                    self._buffer.clear()
                self._finished = StoredData(self.shard_id, self.size)
        return self._finished

    def commit(self) -> StoredData:
        """Make the shard files durable on a quorum of drives (fsync, rename, fsync directory)."""
        finished = self.finish()
        if self.inline:
            return finished
        live = [(i, w) for i, w in enumerate(self._writers) if w is not None]
        results = on_drives(lambda iw: iw[1].commit(), live)
        for (i, writer), result in zip(live, results, strict=True):
            if isinstance(result, Exception):
                self._drives[i].fail(result)
                writer.abort()
                self._writers[i] = None
        committed = [i for i, w in enumerate(self._writers) if w is not None]
        if len(committed) < self.quorum:
            for i in committed:
                _remove_quietly(self._drives[i], self.shard_id)
            raise WriteQuorumError(self._quorum_message(len(committed)))
        finished.missed = len(self._drives) - len(committed)
        return finished

    def abort(self) -> None:
        for writer in self._writers:
            if writer is not None:
                writer.abort()
        self._writers = [None] * len(self._writers)


def _remove_quietly(drive: Drive, shard_id: str) -> None:
    try:
        drive.remove_shard(shard_id)
    except OSError:
        pass


@dataclass
class _OpenSegment:
    segment: Segment
    start: int  # object offset of the segment's first byte
    geometry: ShardGeometry
    readers: list[ShardReader | None]  # one per fragment; None where it could not be opened


@dataclass
class ShardSetReader:
    """Shard files of one version opened for reading bytes [start, end]: verified, decoded blocks.

    Files are opened before the first byte is sent; an overwrite only queues the old files for
    reclaim and an open file outlives its unlink, so a read that started returns one whole version.
    """

    eset: ErasureSet
    record: ObjectRecord
    start: int
    end: int
    on_damage: Callable[[ObjectRecord], None]
    inline_data: bytes | None = None
    segments: list[_OpenSegment] = field(default_factory=list)
    _bad: set[tuple[int, int]] = field(default_factory=set)  # (segment index, fragment)
    _damage_reported: bool = False

    def close(self) -> None:
        for seg in self.segments:
            _close_all(seg.readers)
        self.segments = []

    def _damaged(self) -> None:
        if not self._damage_reported:
            self._damage_reported = True
            self.on_damage(self.record)

    def pieces(self) -> Iterator[tuple[int, int, int, int]]:
        """(segment index, block, first byte in block, last byte in block) in order."""
        for n, seg in enumerate(self.segments):
            lo = max(self.start, seg.start) - seg.start
            hi = min(self.end, seg.start + seg.segment.stored_size - 1) - seg.start
            if hi < lo:
                continue
            for b in seg.geometry.blocks_for(lo, hi):
                block_start = b * seg.geometry.block_size
                yield n, b, max(lo, block_start) - block_start, min(hi, block_start + seg.geometry.block_len(b) - 1) - block_start

    def read_piece(self, piece: tuple[int, int, int, int], nowait: bool = False) -> bytes | memoryview:
        """The piece's bytes; with ``nowait``, WouldBlock unless every fragment read is in the page cache."""
        n, b, lo, hi = piece
        block = self.read_block(n, b, nowait)
        return block[lo : hi + 1] if (lo, hi + 1) != (0, len(block)) else block

    def read_block(self, n: int, b: int, nowait: bool = False) -> bytes | memoryview:
        seg = self.segments[n]
        placement = self.record.placement
        geometry = seg.geometry
        length = HASH_SIZE + geometry.fragment_size(b)
        offset = geometry.offset(b)
        good: dict[int, memoryview] = {}
        # Data fragments first: with a systematic code they decode without arithmetic.
        for i in range(placement.data + placement.parity):
            if len(good) == placement.data:
                break
            shard = seg.readers[i]
            if shard is None or (n, i) in self._bad:
                continue
            drive = self.eset.drives[placement.distribution[i]]
            try:
                data = shard.read(length, offset, nowait)
            except OSError as e:
                drive.fail(e)
                data = b""
            # A view, not a slice: the fragment is verified and sent without another copy.
            fragment = memoryview(data)[HASH_SIZE:]
            if len(data) != length or block_hash(fragment) != data[:HASH_SIZE]:
                log.warning("fragment %d of %s/%s block %d on %s is damaged", i, self.record.bucket, self.record.key, b, drive)
                self._bad.add((n, i))
                self._damaged()
                continue
            good[i] = fragment
        if len(good) < placement.data:
            raise ReadQuorumError(
                f"{self.record.bucket}/{self.record.key}: only {len(good)} good fragments of block {b}, {placement.data} needed"
            )
        return codec(placement.data, placement.parity).decode(good)


class ErasureSet:
    def __init__(self, index: int, drives: list[Drive], spread: bool = False) -> None:
        self.index = index
        self.drives = drives
        self.spread = spread  # over a cluster's nodes: the write quorum is k+1 even when k = m

    # -- writing --------------------------------------------------------------------------
    def writer(self, placement: Placement, hashers: Iterable = (), inline: bool = False) -> ShardSetWriter:
        return ShardSetWriter(self, placement, hashers, inline)

    def write_records(self, record: ObjectRecord, inline: list[bytes] | None) -> int:
        """Store the version's record on each drive of its placement; a quorum must take it.
        Returns how many drives it missed (the version is then queued for healing)."""
        placement = record.placement
        quorum = write_quorum(placement.data, placement.parity, self.spread)

        def store(i: int) -> None:
            drive = self.drives[placement.distribution[i]]
            drive.check()
            try:
                drive.write_record(record.data_id, record_file.encode(record, i, inline[i] if inline else b""))
            except OSError as e:
                drive.fail(e)
                raise

        results = on_drives(store, range(len(placement.distribution)))
        written = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
        if len(written) < quorum:
            self.remove_records(record)
            raise WriteQuorumError(f"only {len(written)} drives took the version record; {quorum} are needed")
        return len(results) - len(written)

    def remove_records(self, record: ObjectRecord) -> None:
        def drop(position: int) -> None:
            drive = self.drives[position]
            if drive.usable:
                drive.remove_record(record.data_id)

        on_drives(drop, record.placement.distribution)

    def remove_shard(self, shard_id: str) -> None:
        on_drives(lambda d: d.usable and d.remove_shard(shard_id), self.drives)

    # -- reading --------------------------------------------------------------------------
    def open(
        self, record: ObjectRecord, start: int, end: int, on_damage: Callable[[ObjectRecord], None], nowait: bool = False
    ) -> ShardSetReader:
        """Open what bytes [start, end] of a version need.

        Raises FileNotFoundError when nothing of the version is left (it was replaced or deleted
        after it was looked up), ReadQuorumError when too little of it is left to read. With
        ``nowait`` (inline versions only), WouldBlock if that would mean waiting on a disk.
        """
        reader = ShardSetReader(self, record, start, end, on_damage)
        if record.inline:
            reader.inline_data = self._read_inline(record, on_damage, nowait)
            return reader
        placement = record.placement
        c = codec(placement.data, placement.parity)
        try:
            position = 0
            for seg in record.segments:
                seg_start = position
                position += seg.stored_size
                if seg.stored_size == 0 or seg_start + seg.stored_size - 1 < start or seg_start > end:
                    continue
                shards = [self._open_fragment(placement, i, seg.blob) for i in range(placement.data + placement.parity)]
                reader.segments.append(_OpenSegment(seg, seg_start, ShardGeometry(seg.stored_size, c), shards))
                found = sum(shard is not None for shard in shards)
                if found < len(shards):
                    on_damage(record)
                if found == 0 and all(self.drives[p].usable for p in placement.distribution):
                    raise FileNotFoundError(seg.blob)
                if found < placement.data:
                    raise ReadQuorumError(
                        f"{record.bucket}/{record.key}: only {found} of {len(shards)} shards are readable, {placement.data} needed"
                    )
        except BaseException:
            reader.close()
            raise
        return reader

    def _open_fragment(self, placement: Placement, i: int, shard_id: str) -> ShardReader | None:
        drive = self.drives[placement.distribution[i]]
        if not drive.usable:
            return None
        try:
            return drive.open_shard(shard_id)
        except OSError as e:
            drive.missing_or_failed(e)
            return None

    def read_record(self, drive: Drive, data_id: str, nowait: bool = False) -> record_file.StoredRecord | None:
        """The record on one drive, or None if it is missing, corrupt or the drive is offline."""
        if not drive.usable:
            return None
        try:
            raw: bytes | bytearray | OSError = drive.read_record(data_id, nowait)
        except OSError as e:
            raw = e
        return _stored_record(drive, data_id, raw)

    def read_records(self, drives: list[Drive], data_id: str) -> list[record_file.StoredRecord | None]:
        """``read_record`` of several drives at once: another node's drives in one request per
        node (each a round trip whatever it carries), the nodes and this node's drives side by side."""
        groups: dict[str | int, list[int]] = {}  # one request per node: the positions in ``drives`` it serves
        for n, drive in enumerate(drives):
            groups.setdefault(drive.node if isinstance(drive, RemoteDrive) and drive.usable else n, []).append(n)

        def read(members: list[int]) -> list[record_file.StoredRecord | None]:
            first = drives[members[0]]
            if len(members) == 1:
                return [self.read_record(first, data_id)]
            assert isinstance(first, RemoteDrive)
            others = [drives[n] for n in members[1:]]
            try:
                raws: list[bytes | OSError] = first.read_records_beside(data_id, others)  # type: ignore[arg-type]
            except OSError as e:
                first.missing_or_failed(e)
                return [None] * len(members)
            return [_stored_record(drives[n], data_id, raw) for n, raw in zip(members, raws, strict=True)]

        found: list[record_file.StoredRecord | None] = [None] * len(drives)
        for members, result in zip(groups.values(), on_drives(read, list(groups.values())), strict=True):
            if isinstance(result, Exception):
                raise result
            for n, stored in zip(members, result, strict=True):
                found[n] = stored
        return found

    def _read_inline(self, record: ObjectRecord, on_damage: Callable[[ObjectRecord], None], nowait: bool = False) -> bytes:
        placement = record.placement
        good: dict[int, bytes] = {}
        damaged = False
        # Data fragments first (decoding them is a copy), but this node's own drives before
        # another node's: a set spread over a cluster keeps only some of its drives here, and
        # each remote record is a round trip. Decoding a few KiB from parity costs less.
        drives = [self.drives[placement.distribution[i]] for i in range(placement.data + placement.parity)]
        order = list(range(len(drives)))
        if self.spread:  # one server's drives are all its own: the order as it is
            order.sort(key=_nearest_first(drives, record.data_id))
        while order and len(good) < placement.data:
            wanted = placement.data - len(good)
            batch, order = order[:wanted], order[wanted:]
            if nowait or len(batch) == 1 or not any(drives[i].remote for i in batch):
                found = [self.read_record(drives[i], record.data_id, nowait) for i in batch]
            else:  # other nodes' records asked at once, not one round trip after another
                found = self.read_records([drives[i] for i in batch], record.data_id)
            for i, stored in zip(batch, found, strict=True):
                if stored is None or stored.fragment != i:
                    damaged = True
                    continue
                good[i] = stored.inline
        if damaged:
            on_damage(record)
        if not good and all(self.drives[p].usable for p in placement.distribution):
            raise FileNotFoundError(record.data_id)
        if len(good) < placement.data:
            raise ReadQuorumError(f"{record.bucket}/{record.key}: only {len(good)} records are readable, {placement.data} needed")
        return codec(placement.data, placement.parity).decode(good)[: record.stored_size] if record.stored_size else b""

    def inline_fragments(self, record: ObjectRecord, on_damage: Callable[[ObjectRecord], None]) -> list[bytes]:
        """An inline version's bytes, read back and cut into fragments again: what a new record
        of the same bytes carries (one fragment per drive of the placement)."""
        data = self._read_inline(record, on_damage)
        placement = record.placement
        return codec(placement.data, placement.parity).encode(data)

    # -- healing --------------------------------------------------------------------------
    def heal(self, record: ObjectRecord, deep: bool) -> HealResult:
        """Check every record and shard of a version and rebuild the missing or damaged ones.

        ``deep`` verifies every block's checksum; otherwise only presence and size are checked.
        ``offline`` counts the fragments on drives that were away, or went away during the heal
        (a node unreachable when asked): what they hold was not checked, so the version is not
        known to be whole.
        """
        result = self._heal(record, deep)
        result.offline = max(result.offline, self.drives_away(record.placement))
        return result

    def drives_away(self, placement: Placement) -> int:
        """How many drives of the placement are not usable now."""
        return sum(not self.drives[p].usable for p in placement.distribution)

    def _heal(self, record: ObjectRecord, deep: bool) -> HealResult:
        result = HealResult()
        placement = record.placement
        c = codec(placement.data, placement.parity)
        total = placement.data + placement.parity
        usable = [self.drives[placement.distribution[i]].usable for i in range(total)]
        result.offline = total - sum(usable)

        records = {i: self.read_record(self.drives[placement.distribution[i]], record.data_id) for i in range(total) if usable[i]}
        bad_records = {i for i, r in records.items() if r is None or r.fragment != i or r.record.data_id != record.data_id}

        if record.inline:
            good = {i: r.inline for i, r in records.items() if i not in bad_records and r is not None}
            if bad_records:
                if len(good) < placement.data:
                    result.unrecoverable = True
                    return result
                data = c.decode(dict(list(good.items())[: placement.data]))[: record.stored_size] if record.stored_size else b""
                fragments = c.encode(data)
                self._rewrite_records(record, bad_records, fragments, result)
            return result

        for seg in record.segments:
            if seg.stored_size == 0 or not seg.blob:
                continue  # empty, or archived to a tier: no shard files (the records still heal)
            geometry = ShardGeometry(seg.stored_size, c)
            bad = self._check_shards(placement, seg.blob, geometry, deep, usable, result)
            if bad:
                self._rebuild_shards(record, seg.blob, geometry, bad, result)
        if bad_records and not result.unrecoverable:
            self._rewrite_records(record, bad_records, None, result)
        return result

    def _check_shards(
        self, placement: Placement, shard_id: str, geometry: ShardGeometry, deep: bool, usable: list[bool], result: HealResult
    ) -> set[int]:
        bad: set[int] = set()
        for i, ok in enumerate(usable):
            if not ok:
                continue
            drive = self.drives[placement.distribution[i]]
            try:
                if drive.shard_size(shard_id) != geometry.file_size():
                    bad.add(i)
                    continue
                if deep and not _verify_shard(drive, shard_id, geometry):
                    bad.add(i)
            except OSError as e:
                if not drive.missing_or_failed(e):
                    bad.add(i)
                else:  # the drive went away while asked: its fragment is left unchecked
                    usable[i] = False
                    result.offline += 1
        return bad

    def _rebuild_shards(self, record: ObjectRecord, shard_id: str, geometry: ShardGeometry, bad: set[int], result: HealResult) -> None:
        placement = record.placement
        c = geometry.codec
        total = placement.data + placement.parity
        shards: list[ShardReader | None] = [None] * total
        writers: dict[int, ShardWriter] = {}
        try:
            for i in range(total):
                if i not in bad:
                    shards[i] = self._open_fragment(placement, i, shard_id)
            for i in bad:
                writers[i] = self.drives[placement.distribution[i]].create_shard(shard_id)
            seg = _OpenSegment(Segment(shard_id, geometry.size), 0, geometry, shards)
            reader = ShardSetReader(self, record, 0, geometry.size - 1, lambda r: None, segments=[seg])
            for b in range(geometry.blocks):
                fragments = c.encode(reader.read_block(0, b))
                for i, writer in writers.items():
                    writer.write_block(block_hash(fragments[i]), fragments[i])
            for writer in writers.values():
                writer.commit()
                result.repaired_shards += 1
            writers.clear()
        except ReadQuorumError as e:
            log.error("cannot heal %s/%s: %s", record.bucket, record.key, e)
            result.unrecoverable = True
        except OSError as e:
            log.warning("healing %s/%s failed: %s", record.bucket, record.key, e)
            result.failed = True
        finally:
            for writer in writers.values():
                writer.abort()
            _close_all(shards)

    def _rewrite_records(self, record: ObjectRecord, bad: set[int], fragments: list[bytes] | None, result: HealResult) -> None:
        for i in bad:
            drive = self.drives[record.placement.distribution[i]]
            try:
                drive.check()
                drive.write_record(record.data_id, record_file.encode(record, i, fragments[i] if fragments else b""))
                result.repaired_records += 1
            except (OSError, DriveOffline) as e:
                drive.fail(e)
                result.failed = True


@dataclass
class HealResult:
    repaired_shards: int = 0
    repaired_records: int = 0
    offline: int = 0  # fragments on offline drives, left for later
    unrecoverable: bool = False
    failed: bool = False

    @property
    def repaired(self) -> int:
        return self.repaired_shards + self.repaired_records


def _verify_shard(drive: Drive, shard_id: str, geometry: ShardGeometry) -> bool:
    shard = drive.open_shard(shard_id)
    try:
        for b in range(geometry.blocks):
            length = HASH_SIZE + geometry.fragment_size(b)
            data = shard.read(length, geometry.offset(b))
            if len(data) != length or block_hash(data[HASH_SIZE:]) != data[:HASH_SIZE]:
                return False
    finally:
        shard.close()
    return True


def _nearest_first(drives: list[Drive], data_id: str) -> Callable[[int], tuple]:
    """The order to read an inline version's records in: this node's drives first, then another
    node's drives together (their records come in one request: ``read_records``), the nodes in an
    order that turns with the version (by its random id) so that no node takes every small read."""
    nodes = sorted({d.node for d in drives if isinstance(d, RemoteDrive)})
    try:
        turn = int(data_id[:8], 16)
    except ValueError:
        turn = 0
    rank = {node: (n - turn) % len(nodes) for n, node in enumerate(nodes)}

    def key(i: int) -> tuple:
        drive = drives[i]
        return (1, rank[drive.node], i) if isinstance(drive, RemoteDrive) else (0, 0, i)

    return key


def _stored_record(drive: Drive, data_id: str, raw: bytes | bytearray | OSError) -> record_file.StoredRecord | None:
    """A record read from a drive, decoded; None if it was missing, corrupt or the drive failed."""
    if isinstance(raw, OSError):
        drive.missing_or_failed(raw)
        return None
    try:
        return record_file.decode(raw)
    except record_file.CorruptRecord as e:
        log.warning("record %s on %s: %s", data_id, drive, e)
        return None


def _close_all(shards: list[ShardReader | None]) -> None:
    for shard in shards:
        if shard is not None:
            try:
                shard.close()
            except OSError:
                pass

