"""The cluster layout each node keeps on its drives for the day the database is lost."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hoard.cluster.layout_file import LAYOUT_FILE, keep_layout, newest_layout


@dataclass
class Folder:
    root: Path
    usable: bool = True

    @property
    def system(self) -> Path:
        return self.root / ".hoard"

    def write_file(self, final: Path, data: bytes) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        final.write_bytes(data)


def layout(version: int, cluster: str = "c1") -> dict:
    return {"cluster_id": cluster, "layout_version": version, "key_ids": ["k"], "nodes": [], "drives": [], "pools": [], "members": []}


def test_each_usable_drive_keeps_the_layout_and_the_newest_is_found(tmp_path):
    drives = [Folder(tmp_path / "a"), Folder(tmp_path / "b"), Folder(tmp_path / "c", usable=False)]
    assert keep_layout(drives, layout(3)) == 2
    assert not (tmp_path / "c" / ".hoard" / LAYOUT_FILE).exists()
    assert keep_layout(drives[:1], layout(4)) == 1
    assert newest_layout([tmp_path / "a", tmp_path / "b", tmp_path / "c"])["layout_version"] == 4
    assert newest_layout([tmp_path / "b"])["layout_version"] == 3
    assert newest_layout([tmp_path / "c"]) is None


def test_an_older_layout_or_another_clusters_never_replaces_the_one_kept(tmp_path):
    drive = Folder(tmp_path / "a")
    keep_layout([drive], layout(5))
    # A database made anew by mistake (another cluster, or this one's catalog at version 1).
    assert keep_layout([drive], layout(1, cluster="c2")) == 0
    assert keep_layout([drive], layout(2)) == 0
    assert json.loads((drive.system / LAYOUT_FILE).read_text())["layout_version"] == 5
    assert keep_layout([drive], layout(5)) == 1  # the same again (a node's address changed) is kept


def test_an_unreadable_layout_is_passed_over(tmp_path):
    (tmp_path / "a" / ".hoard").mkdir(parents=True)
    (tmp_path / "a" / ".hoard" / LAYOUT_FILE).write_text("{not json")
    keep_layout([Folder(tmp_path / "b")], layout(2))
    assert newest_layout([tmp_path / "a", tmp_path / "b"])["layout_version"] == 2
