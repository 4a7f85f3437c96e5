"""The stored format of encrypted bytes: round trips, ranges, and every way of tampering refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoard.crypto import chunks
from hoard.crypto.chunks import ChunkTampered, Decryptor, Encryptor, plain_range_to_chunks, stored_size
from hoard.crypto.keys import new_data_key, new_encryption_id
from hoard.storage import erasure

BS = 64  # small blocks, so that small objects span many chunks
PLAIN = BS - chunks.OVERHEAD
KEY = new_data_key()
EID = new_encryption_id()


def encrypt(data: bytes, splits: list[int] | None = None, *, key=KEY, eid=EID, part=0, block_size=BS) -> list[bytes]:
    enc = Encryptor(key, eid, part, block_size=block_size)
    out: list[bytes] = []
    pos = 0
    for cut in sorted(splits or []):
        out += enc.feed(data[pos:cut])
        pos = cut
    out += enc.feed(data[pos:])
    out.append(enc.finish())
    assert enc.plain_size == len(data)
    return out


def decrypt(stored: list[bytes], size: int, *, key=KEY, eid=EID, part=0) -> bytes:
    dec = Decryptor(key, eid, part, size, block_size=BS)
    return b"".join(dec.open(i, c) for i, c in enumerate(stored))


def test_the_block_size_is_the_drives():
    assert chunks.BLOCK_SIZE == erasure.BLOCK_SIZE
    assert chunks.PLAIN_CHUNK + 28 == erasure.BLOCK_SIZE


def test_a_stored_chunk_is_one_real_block():
    data = bytes(range(256)) * 9000  # about 2.2 chunks
    stored = encrypt(data, [1, chunks.PLAIN_CHUNK + 5], block_size=chunks.BLOCK_SIZE)
    assert [len(c) for c in stored[:-1]] == [chunks.BLOCK_SIZE] * 2
    assert sum(map(len, stored)) == stored_size(len(data))
    dec = Decryptor(KEY, EID, 0, len(data))
    assert b"".join(dec.open(i, c) for i, c in enumerate(stored)) == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=PLAIN * 6), st.data())
def test_round_trip_over_any_writes(data, draw):
    splits = draw.draw(st.lists(st.integers(0, len(data)), max_size=8))
    stored = encrypt(data, splits)
    assert len(stored) == chunks.chunk_count(len(data), block_size=BS)
    assert all(len(c) == BS for c in stored[:-1])
    assert sum(map(len, stored)) == stored_size(len(data), block_size=BS)
    assert decrypt(stored, len(data)) == data


def test_a_write_larger_than_many_chunks_at_once():
    data = bytes(range(200)) * 7
    assert decrypt(encrypt(data), len(data)) == data
    enc = Encryptor(KEY, EID, block_size=BS)
    assert len(enc.feed(data)) == len(data) // PLAIN  # the last full chunk may be the last: kept back


def test_a_full_chunk_is_kept_back_until_more_comes():
    enc = Encryptor(KEY, EID, block_size=BS)
    assert enc.feed(b"x" * PLAIN) == []
    assert len(enc.feed(b"y")) == 1
    assert len(enc.finish()) == 1 + chunks.OVERHEAD


def test_an_empty_part_is_one_empty_chunk():
    stored = encrypt(b"")
    assert [len(c) for c in stored] == [chunks.OVERHEAD]
    assert stored_size(0) == chunks.OVERHEAD
    assert decrypt(stored, 0) == b""
    with pytest.raises(ChunkTampered):
        decrypt(stored, 0, key=new_data_key())  # a wrong key is refused even with no data
    span = plain_range_to_chunks(0, 0, 0)
    assert (span.first, span.count, span.stored_start, span.stored_end, span.length) == (0, 1, 0, chunks.OVERHEAD, 0)


def test_finished_is_finished():
    enc = Encryptor(KEY, EID)
    enc.finish()
    with pytest.raises(ValueError):
        enc.feed(b"x")
    with pytest.raises(ValueError):
        enc.finish()


@pytest.mark.parametrize(("key", "eid", "part"), [(b"k" * 16, EID, 0), (KEY, b"e" * 8, 0), (KEY, EID, -1), (KEY, EID, 2**32)])
def test_bad_places_are_refused(key, eid, part):
    with pytest.raises(ValueError):
        Encryptor(key, eid, part)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=PLAIN * 4 + 3))
def test_every_range_is_the_slice(data):
    stored = b"".join(encrypt(data))
    dec = Decryptor(KEY, EID, 0, len(data), block_size=BS)
    for start in range(len(data)):
        for end in range(start + 1, len(data) + 1):
            span = plain_range_to_chunks(start, end, len(data), block_size=BS)
            assert span.stored_start == span.first * BS
            piece = stored[span.stored_start : span.stored_end]
            blocks = [piece[i : i + BS] for i in range(0, len(piece), BS)]
            assert len(blocks) == span.count
            assert b"".join(dec.open_span(span, blocks)) == data[start:end]


@pytest.mark.parametrize(("start", "end", "size"), [(0, 0, 5), (3, 2, 5), (0, 6, 5), (-1, 2, 5), (5, 5, 5)])
def test_bad_ranges_are_refused(start, end, size):
    with pytest.raises(ValueError):
        plain_range_to_chunks(start, end, size, block_size=BS)


DATA = bytes(range(256))[: PLAIN * 3 + 7]  # four chunks, the last short


def test_swapped_chunks_fail():
    stored = encrypt(DATA)
    dec = Decryptor(KEY, EID, 0, len(DATA), block_size=BS)
    with pytest.raises(ChunkTampered):
        dec.open(0, stored[1])
    with pytest.raises(ChunkTampered):
        dec.open(1, stored[0])


def test_a_chunk_from_another_object_or_part_fails():
    stored = encrypt(DATA)
    other_object = encrypt(DATA, eid=new_encryption_id())
    other_part = encrypt(DATA, part=1)
    dec = Decryptor(KEY, EID, 0, len(DATA), block_size=BS)
    for i in range(len(stored)):
        for foreign in (other_object[i], other_part[i]):
            with pytest.raises(ChunkTampered):
                dec.open(i, foreign)
    with pytest.raises(ChunkTampered):
        decrypt(other_part, len(DATA), part=0)


def test_a_part_uploaded_twice_never_repeats_a_nonce():
    first, second = encrypt(DATA), encrypt(DATA)
    assert {c[:12] for c in first}.isdisjoint(c[:12] for c in second)
    assert decrypt(second, len(DATA)) == DATA


def test_truncation_fails():
    stored = encrypt(DATA)
    # Cut at a chunk boundary and told the shorter size: the new last chunk was not sealed as last.
    cut = PLAIN * 2
    with pytest.raises(ChunkTampered):
        decrypt(stored[:2], cut)
    # Told the full size but given fewer chunks.
    dec = Decryptor(KEY, EID, 0, len(DATA), block_size=BS)
    span = plain_range_to_chunks(0, len(DATA), len(DATA), block_size=BS)
    with pytest.raises(ChunkTampered):
        list(dec.open_span(span, stored[:3]))
    # A chunk cut short.
    with pytest.raises(ChunkTampered):
        dec.open(3, stored[3][:-1])
    # A short object claimed bigger: its last chunk is sealed as last.
    with pytest.raises(ChunkTampered):
        last = encrypt(DATA[: PLAIN * 2])[1]
        # Its last byte flipped, never set to a value it may already hold (a 1 in 256 pass).
        Decryptor(KEY, EID, 0, PLAIN * 2, block_size=BS).open(1, last[:-1] + bytes([last[-1] ^ 1]))


def test_a_wrong_key_fails():
    with pytest.raises(ChunkTampered):
        decrypt(encrypt(DATA), len(DATA), key=new_data_key())


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=PLAIN * 3), st.data())
def test_any_flipped_bit_fails(data, draw):
    stored = encrypt(data)
    index = draw.draw(st.integers(0, len(stored) - 1))
    chunk = bytearray(stored[index])
    bit = draw.draw(st.integers(0, len(chunk) * 8 - 1))
    chunk[bit // 8] ^= 1 << (bit % 8)
    dec = Decryptor(KEY, EID, 0, len(data), block_size=BS)
    with pytest.raises(ChunkTampered):
        dec.open(index, bytes(chunk))
