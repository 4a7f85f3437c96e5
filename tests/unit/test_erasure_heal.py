"""Healing one version on a set of local drives: what it could not check is never reported whole."""

from __future__ import annotations

import errno
import os
import time

from hoard.model import ObjectRecord, Placement, Segment
from hoard.storage.drive import LocalDrive
from hoard.storage.erasure_set import ErasureSet, new_id


def _set_with_one_object(tmp_path, body: bytes) -> tuple[ErasureSet, ObjectRecord]:
    drives = []
    for i in range(4):
        drive = LocalDrive(tmp_path / f"d{i}", position=i)
        drive.prepare(create_root=True)
        drives.append(drive)
    eset = ErasureSet(0, drives)
    placement = Placement(0, 2, 2, (0, 1, 2, 3))
    writer = eset.writer(placement)
    writer.write(body)
    stored = writer.commit()
    record = ObjectRecord(
        "b", "k", len(body), '"x"', time.time(), "STANDARD", {}, (Segment(stored.shard_id, len(body)),), placement=placement, data_id=new_id()
    )
    eset.write_records(record, None)
    return eset, record


def test_a_drive_that_goes_away_during_the_heal_leaves_the_version_not_whole(tmp_path):
    eset, record = _set_with_one_object(tmp_path, os.urandom(300_000))

    def gone(shard_id: str) -> int:
        raise OSError(errno.EHOSTUNREACH, "No route to host")

    eset.drives[3].shard_size = gone  # answers nothing when asked: as a node cut off mid-heal
    result = eset.heal(record, deep=False)
    assert not eset.drives[3].usable
    assert result.offline >= 1  # drive 3's fragment was not checked: the version is not known whole


def test_a_heal_of_a_whole_version_reports_nothing_away(tmp_path):
    eset, record = _set_with_one_object(tmp_path, os.urandom(300_000))
    result = eset.heal(record, deep=True)
    assert (result.offline, result.repaired, result.failed, result.unrecoverable) == (0, 0, False, False)
