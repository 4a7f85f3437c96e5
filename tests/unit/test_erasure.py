"""Erasure sets, placement, the codec, shard geometry and version records: pure logic."""

from __future__ import annotations

import dataclasses
import itertools
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoard.model import ObjectRecord, Placement, Segment
from hoard.storage import record as record_file
from hoard.storage.bitrot import HASH_SIZE, block_hash
from hoard.storage.erasure import BLOCK_SIZE, NotEnoughShards, codec
from hoard.storage.layout import (
    LayoutError,
    check_parity,
    default_parity,
    erasure_sets,
    place,
    reduced_parity,
    write_quorum,
)
from hoard.storage.shardfile import ShardGeometry


@pytest.mark.parametrize(
    ("drives", "sets"),
    [(1, [1]), (2, [2]), (4, [4]), (5, [5]), (8, [8]), (16, [16]), (20, [10, 10]), (24, [12, 12]), (32, [16, 16])],
)
def test_erasure_sets_split_evenly(drives, sets):
    groups = erasure_sets(drives)
    assert [len(g) for g in groups] == sets
    assert sorted(itertools.chain(*groups)) == list(range(drives))


@pytest.mark.parametrize("drives", [17, 19, 23, 0])
def test_erasure_sets_refuse_uneven_counts(drives):
    with pytest.raises(LayoutError):
        erasure_sets(drives)


def test_default_and_reduced_parity_follow_set_size():
    assert [default_parity(n) for n in (1, 4, 5, 6, 7, 8, 16)] == [0, 2, 2, 3, 3, 4, 4]
    assert [reduced_parity(n) for n in (4, 5, 6, 8, 16)] == [1, 1, 2, 2, 2]
    with pytest.raises(LayoutError):
        check_parity(5, 8)  # more parity than data
    with pytest.raises(LayoutError):
        check_parity(1, 1)


@pytest.mark.parametrize("drives", [1, 2, 3, 4, 6, 8, 16])
def test_default_parity_is_allowed_for_its_set(drives):
    """Every drive count's default parity passes the check a server start makes (three drives,
    a mirror with two copies, once did not)."""
    size = len(erasure_sets(drives)[0])
    check_parity(default_parity(size), size)
    check_parity(reduced_parity(size), size)
    with pytest.raises(LayoutError):
        check_parity(size, size)


def test_write_quorum():
    assert write_quorum(1, 0) == 1
    assert write_quorum(4, 4) == 4
    assert write_quorum(6, 2) == 7
    assert write_quorum(12, 4) == 13
    # Spread over a cluster's nodes, a set keeps one fragment of redundancy even when k = m: a
    # zone (up to m drives of the set) down leaves k, below the quorum.
    assert write_quorum(4, 4, spread=True) == 5
    assert write_quorum(6, 2, spread=True) == 7
    assert write_quorum(1, 0, spread=True) == 1


@given(st.text(min_size=1, max_size=50))
def test_placement_is_stable_and_a_permutation(key):
    a = place("bucket", key, 3, 8, 4)
    assert a == place("bucket", key, 3, 8, 4)
    assert sorted(a.distribution) == list(range(8))
    assert 0 <= a.set < 3
    assert (a.data, a.parity) == (4, 4)


def test_placement_spreads_keys_over_sets_and_drives():
    placements = [place("b", f"key-{i}", 2, 8, 4) for i in range(400)]
    assert {p.set for p in placements} == {0, 1}
    assert {p.distribution[0] for p in placements} == set(range(8))


@settings(max_examples=40, deadline=None)
@given(
    data=st.integers(1, 12),
    parity=st.integers(1, 4),
    block=st.binary(min_size=1, max_size=5000),
    seed=st.randoms(),
)
def test_any_data_count_fragments_rebuild_the_block(data, parity, block, seed):
    c = codec(data, parity)
    fragments = c.encode(block)
    assert len(fragments) == data + parity
    keep = seed.sample(range(data + parity), data)
    assert c.decode({i: fragments[i] for i in keep}) == block


def test_too_few_fragments_refused():
    c = codec(4, 2)
    fragments = c.encode(b"x" * 1000)
    with pytest.raises(NotEnoughShards):
        c.decode({0: fragments[0], 1: fragments[1], 5: fragments[5]})


def test_single_drive_and_mirrors_store_the_block_itself():
    assert codec(1, 0).encode(b"abc") == [b"abc"]
    assert codec(1, 2).encode(b"abc") == [b"abc"] * 3
    assert codec(1, 2).decode({2: b"abc"}) == b"abc"


def test_shard_geometry():
    c = codec(4, 4)
    g = ShardGeometry(2 * BLOCK_SIZE + 10, c)
    assert g.blocks == 3
    assert g.block_len(2) == 10
    full = c.fragment_size(BLOCK_SIZE)
    assert g.offset(2) == 2 * (HASH_SIZE + full)
    assert g.file_size() == 2 * (HASH_SIZE + full) + HASH_SIZE + c.fragment_size(10)
    assert list(g.blocks_for(BLOCK_SIZE - 1, BLOCK_SIZE)) == [0, 1]
    assert ShardGeometry(0, c).file_size() == 0


def _record() -> ObjectRecord:
    return ObjectRecord(
        bucket="b", key="ключ/../x", size=5, etag='"abc"', last_modified=1.5, storage_class="STANDARD",
        headers={"content-type": "text/plain", "x-amz-meta-a": "1"}, segments=(Segment("", 5),),
        placement=Placement(0, 4, 4, (3, 4, 5, 6, 7, 0, 1, 2)), data_id="d" * 32, inline=True,
    )


def test_record_round_trips():
    stored = record_file.decode(record_file.encode(_record(), 3, b"fragment"))
    assert stored.record == _record()
    assert (stored.fragment, stored.inline) == (3, b"fragment")


def test_record_carries_tags_and_reads_records_written_before_tags():
    tagged = dataclasses.replace(_record(), tags=(("colour", "blue"), ("é", "")))
    assert record_file.decode(record_file.encode(tagged, 0)).record.tags == (("colour", "blue"), ("é", ""))
    # A record written by a Hoard that knew no tags: the same bytes with no "tags" field.
    data = record_file.encode(_record(), 0)
    header = len(record_file.MAGIC) + 4
    (length,) = struct.unpack(">I", data[len(record_file.MAGIC) : header])
    doc = json.loads(data[header : header + length])
    del doc["tags"]
    raw = json.dumps(doc).encode()
    body = record_file.MAGIC + struct.pack(">I", len(raw)) + raw
    assert record_file.decode(body + block_hash(body)).record.tags == ()


def test_record_corruption_is_detected():
    data = bytearray(record_file.encode(_record(), 0, b"fragment"))
    for position in (0, 20, len(data) // 2, len(data) - 1):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        with pytest.raises(record_file.CorruptRecord):
            record_file.decode(bytes(damaged))
    with pytest.raises(record_file.CorruptRecord):
        record_file.decode(bytes(data[:-1]))
