"""EncryptingWriter and DecryptingReader (hoard.objects.encryption) over fake raw writers and
readers: what a PUT stores and a GET returns, whatever the pieces' sizes, with the plaintext
hashed beside the encryption, and with reads tried in the event loop first (``nowait``)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import pytest

from hoard.crypto.chunks import BLOCK_SIZE, PLAIN_CHUNK, ChunkTampered, stored_size
from hoard.crypto.keys import new_data_key, new_encryption_id
from hoard.model import ObjectRecord, Placement, Segment
from hoard.nowait import WouldBlock
from hoard.objects.encryption import DataKey, DecryptingReader, EncryptingWriter, plan
from hoard.storage.erasure_set import HASH_BESIDE, StoredData

KEY = DataKey(new_data_key(), new_encryption_id())
PLACEMENT = Placement(0, 1, 0, (0,))


@dataclass
class FakeInner:
    """A ShardSetWriter's interface, keeping what it is handed."""

    stored: bytearray = field(default_factory=bytearray)
    writes: list[int] = field(default_factory=list)
    inline: bool = False
    shard_id: str = "s"
    placement: Placement = PLACEMENT

    def write(self, data: bytes | memoryview) -> None:
        self.writes.append(len(data))
        self.stored += data

    def finish(self) -> StoredData:
        return StoredData(self.shard_id, len(self.stored))

    commit = finish

    def abort(self) -> None:
        pass


def encrypt(plain: bytes, writes: list[int], part: int = 0) -> tuple[bytes, str]:
    """The stored bytes and the MD5 the writer's hasher saw, ``plain`` written in ``writes`` pieces."""
    inner, md5 = FakeInner(), hashlib.md5()
    writer = EncryptingWriter(inner, KEY, part, [md5])  # type: ignore[arg-type]
    at = 0
    for n in writes:
        writer.write(memoryview(plain)[at : at + n])
        at += n
    writer.write(plain[at:])
    done = writer.commit()
    assert done.size == len(plain) and done.stored == len(inner.stored) == stored_size(len(plain))
    return bytes(inner.stored), md5.hexdigest()


@dataclass
class FakeRaw:
    """A raw reader of stored bytes [start, end] in pieces of ``piece`` bytes (storage blocks, as a
    ShardSetReader's; or any size, as a tier's); the pieces in ``cold`` are not in the page cache."""

    data: bytes
    start: int
    end: int
    piece: int
    cold: set[int] | frozenset[int]
    closed: bool = False

    def pieces(self) -> list[tuple[int, int]]:
        return [(lo, min(self.end, lo + self.piece - 1)) for lo in range(self.start, self.end + 1, self.piece)]

    def read_piece(self, piece: tuple[int, int], nowait: bool = False) -> memoryview:
        if nowait and piece[0] in self.cold:
            raise WouldBlock()
        return memoryview(self.data)[piece[0] : piece[1] + 1]

    def close(self) -> None:
        self.closed = True


def record_of(sizes: list[int]) -> ObjectRecord:
    segments = tuple(Segment(f"s{i}", n, '"e"', "", stored_size(n)) for i, n in enumerate(sizes))
    return ObjectRecord(
        bucket="b", key="k", size=sum(sizes), etag='"e"', last_modified=1.0, storage_class="STANDARD", headers={},
        segments=segments, multipart=len(sizes) > 1, placement=PLACEMENT, data_id="d",
    )  # fmt: skip


def reader(
    plains: list[bytes], start: int, end: int, piece: int, cold: frozenset[int] = frozenset()
) -> tuple[DecryptingReader, list[FakeRaw]]:
    stored = b"".join(encrypt(p, [], part=i + 1 if len(plains) > 1 else 0)[0] for i, p in enumerate(plains))
    record = record_of([len(p) for p in plains])
    opened: list[FakeRaw] = []

    def raw_open(s: int, e: int) -> FakeRaw:
        opened.append(FakeRaw(stored, s, e, piece, {s + i for i in cold}))
        return opened[-1]

    return DecryptingReader(record, start, end, plan(record, KEY, start, end), raw_open).begin(), opened


def read_all(r: DecryptingReader, nowait: bool = False) -> bytes:
    """As hoard.objects.data.stream does: each piece tried without waiting, else read again."""
    out = bytearray()
    for p in r.pieces():
        try:
            out += r.read_piece(p, nowait=nowait)
        except WouldBlock:
            out += r.read_piece(p)
    return bytes(out)


PLAIN = os.urandom(3 * BLOCK_SIZE + 12345)


@pytest.mark.parametrize(
    "writes",
    [[BLOCK_SIZE] * 3, [PLAIN_CHUNK] * 3, [HASH_BESIDE - 1] * 5, [65536] * 40, [3 * BLOCK_SIZE]],
    ids=["blocks", "chunks", "small", "64k", "one-big"],
)
def test_the_writer_hashes_the_plaintext_and_stores_what_the_reader_opens(writes: list[int]) -> None:
    stored, md5 = encrypt(PLAIN, writes)
    assert md5 == hashlib.md5(PLAIN).hexdigest()
    assert PLAIN[:1000] not in stored
    r, _ = reader([PLAIN], 0, len(PLAIN) - 1, BLOCK_SIZE)
    assert read_all(r) == PLAIN


@pytest.mark.parametrize("piece", [BLOCK_SIZE, 100_000, 3 * BLOCK_SIZE + 7], ids=["blocks", "smaller", "larger"])
@pytest.mark.parametrize("span", [(0, len(PLAIN) - 1), (5, 6), (PLAIN_CHUNK - 3, PLAIN_CHUNK + 3), (BLOCK_SIZE, len(PLAIN) - 2)])
def test_every_range_in_any_pieces(piece: int, span: tuple[int, int]) -> None:
    start, end = span
    r, _ = reader([PLAIN], start, end, piece)
    assert read_all(r) == PLAIN[start : end + 1]


def test_begin_opens_the_first_part_and_only_it() -> None:
    a, b = os.urandom(2 * BLOCK_SIZE), os.urandom(1000)
    r, opened = reader([a, b], 0, len(a) + len(b) - 1, BLOCK_SIZE)
    assert len(opened) == 1 and r.segments == opened
    assert read_all(r) == a + b
    assert len(opened) == 2 and opened[0].closed


def test_nowait_reads_cached_pieces_and_leaves_the_rest_for_a_thread() -> None:
    a, b = os.urandom(2 * BLOCK_SIZE + 5), os.urandom(BLOCK_SIZE + 9)
    # The second stored block of each part is not in the page cache.
    r, _ = reader([a, b], 0, len(a) + len(b) - 1, BLOCK_SIZE, cold=frozenset({BLOCK_SIZE}))
    pieces = list(r.pieces())
    assert bytes(r.read_piece(pieces[0], nowait=True)) == a[:PLAIN_CHUNK]
    with pytest.raises(WouldBlock):
        r.read_piece(pieces[1], nowait=True)
    # Nothing was consumed: the same piece reads in full without nowait.
    assert bytes(r.read_piece(pieces[1])) == a[PLAIN_CHUNK : 2 * PLAIN_CHUNK]
    assert bytes(r.read_piece(pieces[2], nowait=True)) == a[2 * PLAIN_CHUNK :]
    with pytest.raises(WouldBlock):  # the next part's files are opened in a thread only
        r.read_piece(pieces[3], nowait=True)
    assert read_all_from(r, pieces[3:]) == b


def read_all_from(r: DecryptingReader, pieces: list) -> bytes:
    out = bytearray()
    for p in pieces:
        try:
            out += r.read_piece(p, nowait=True)
        except WouldBlock:
            out += r.read_piece(p)
    return bytes(out)


def test_nowait_with_pieces_smaller_than_a_chunk_keeps_what_it_read() -> None:
    r, _ = reader([PLAIN], 0, len(PLAIN) - 1, 300_000, cold=frozenset({600_000, 1_500_000}))
    assert read_all(r, nowait=True) == PLAIN


def test_a_cut_or_changed_chunk_does_not_open() -> None:
    stored, _ = encrypt(PLAIN, [])
    record = record_of([len(PLAIN)])
    changed = bytearray(stored)
    changed[BLOCK_SIZE + 100] ^= 1
    for data in (bytes(changed), stored[: 2 * BLOCK_SIZE]):
        r = DecryptingReader(
            record,
            0,
            len(PLAIN) - 1,
            plan(record, KEY, 0, len(PLAIN) - 1),
            lambda s, e, d=data: FakeRaw(d, s, min(e, len(d) - 1), BLOCK_SIZE, set()),
        ).begin()
        with pytest.raises(ChunkTampered):
            read_all(r)
