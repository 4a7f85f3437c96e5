"""The pure parts of storage classes with a place: what may be read, what x-amz-restore says,
what moves to which tier, what the lifecycle worker tells the rules of a key's versions, its
rate limit, and the version record keeping where archived bytes are."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from hoard.model import Archive, ObjectRecord, Placement, Restore, Segment
from hoard.objects.tiering import COLD_TIER, IA_TIER, readable, restore_header, tier_for, wants_archive
from hoard.storage import record as record_file
from hoard.tiers import FolderTier
from hoard.workers.lifecycle import RateLimit, facts_of, rest_between_passes


def version(storage_class: str = "STANDARD", **kw) -> ObjectRecord:
    base = ObjectRecord(
        bucket="b", key="k", size=300_000, etag='"e"', last_modified=1000.0, storage_class=storage_class, headers={},
        segments=(Segment("shard", 300_000),), placement=Placement(0, 1, 0, (0,)), data_id="d1",
    )
    return dataclasses.replace(base, **kw)


def test_only_glacier_and_deep_archive_wait_for_a_restore():
    for sclass in ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "REDUCED_REDUNDANCY", "INTELLIGENT_TIERING"):
        assert readable(version(sclass), now=5000.0)
    for sclass in ("GLACIER", "DEEP_ARCHIVE"):
        assert not readable(version(sclass), now=5000.0)
        assert not readable(version(sclass, restore=Restore(4000.0, 2)), now=5000.0)  # under way
        assert readable(version(sclass, restore=Restore(4000.0, 2, 6000.0)), now=5000.0)
        assert not readable(version(sclass, restore=Restore(4000.0, 2, 6000.0)), now=6000.0)  # expired


def test_restore_header_as_s3_sends_it():
    assert restore_header(version("GLACIER")) is None
    assert restore_header(version("GLACIER", restore=Restore(1.0, 1))) == 'ongoing-request="true"'
    done = restore_header(version("GLACIER", restore=Restore(1.0, 1, 1356048000.0)))
    assert done == 'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'


def test_which_versions_move_and_where(tmp_path: Path):
    tiers = {COLD_TIER: FolderTier(COLD_TIER, tmp_path / "cold")}
    assert tier_for(tiers, "GLACIER_IR") is tiers[COLD_TIER]
    assert tier_for(tiers, "STANDARD_IA") is None  # no IA tier configured: IA stays on the drives
    tiers[IA_TIER] = FolderTier(IA_TIER, tmp_path / "ia")
    assert tier_for(tiers, "ONEZONE_IA") is tiers[IA_TIER]
    assert wants_archive(version("DEEP_ARCHIVE"), tiers) is tiers[COLD_TIER]
    assert wants_archive(version("STANDARD"), tiers) is None
    assert wants_archive(version("GLACIER", inline=True), tiers) is None
    assert wants_archive(version("GLACIER", size=0), tiers) is None
    assert wants_archive(version("GLACIER", delete_marker=True), tiers) is None
    assert wants_archive(version("GLACIER", archive=Archive(COLD_TIER, "b/x")), tiers) is None
    assert wants_archive(version("GLACIER", restore=Restore(1.0, 1)), tiers) is None  # not while restored


def test_version_records_keep_archive_and_restore():
    archived = version("GLACIER", archive=Archive(COLD_TIER, "b/d1", 1234), restore=Restore(10.0, 3, 99.0), segments=(Segment("", 300_000),))
    assert record_file.decode(record_file.encode(archived, 0)).record == archived
    plain = version()
    raw = record_file.encode(plain, 0)
    assert b"archive" not in raw and b"restore" not in raw  # a record that was never archived is as it always was
    assert record_file.decode(raw).record == plain
    assert Archive(COLD_TIER, "b/d1").blob_id == "tier:cold:b/d1"


def test_facts_of_a_keys_versions():
    newest = version(version_id="v3", last_modified=300.0)
    middle = version(version_id="v2", last_modified=200.0)
    oldest = version(version_id="v1", last_modified=100.0)
    facts = facts_of([newest, middle, oldest], versioned=True)
    assert [f.is_latest for f in facts] == [True, False, False]
    assert [f.noncurrent_since for f in facts] == [None, 300.0, 200.0]  # noncurrent since the next newer one came
    assert [f.newer_noncurrent for f in facts] == [0, 0, 1]
    assert not any(f.only_version for f in facts) and all(f.versioned for f in facts)
    (marker,) = facts_of([version(delete_marker=True)], versioned=True)
    assert marker.only_version and marker.delete_marker


def test_rest_between_passes_follows_the_day_within_bounds():
    assert rest_between_passes(86400) == 3600.0
    assert rest_between_passes(0.2) == 0.5
    assert rest_between_passes(8) == 2.0


def test_rate_limit_spaces_actions():
    clock = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limit = RateLimit(10, clock=lambda: clock[0], sleep=fake_sleep)

    async def five() -> None:
        for _ in range(5):
            await limit.wait()

    asyncio.run(five())
    assert slept == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert clock[0] == pytest.approx(0.4)
