"""The cluster's layout kept on every node's drives, beside their format.

The database is the layout's one authority; this copy exists for the day it is lost. Each node
writes the catalog's snapshot (``ClusterCatalog.snapshot``: the cluster's id, nodes, drives,
pools and their sets, the layout's version) to each of its drives whenever the version moves, so
``hoard cluster rebuild-index`` can make the catalog again exactly as it was and find every
version record on every node's drives: records name their pool, set and positions, never drives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

log = logging.getLogger("hoard")

LAYOUT_FILE = "cluster-layout.json"


class Folder(Protocol):
    """What of a local drive this needs (``hoard.storage.drive.LocalDrive``, a layer above)."""

    root: Path
    system: Path

    @property
    def usable(self) -> bool: ...

    def write_file(self, final: Path, data: bytes) -> None: ...


def keep_layout(drives: Iterable[Folder], snapshot: dict) -> int:
    """Write ``snapshot`` to each usable drive (durably: temp file, fsync, rename); how many took it."""
    data = json.dumps(snapshot, sort_keys=True).encode()
    kept = 0
    for drive in drives:
        if not drive.usable:
            continue
        older = _read(drive.system)
        if older is not None and (older["cluster_id"] != snapshot["cluster_id"] or older["layout_version"] > snapshot["layout_version"]):
            # Another cluster's catalog, or an older one: a database made anew by mistake must not
            # erase the one copy that could bring the real one back.
            log.warning(
                "not keeping cluster %s's layout %d on %s: it keeps cluster %s's layout %d",
                snapshot["cluster_id"], snapshot["layout_version"], drive.root, older["cluster_id"], older["layout_version"],
            )  # fmt: skip
            continue
        try:
            drive.write_file(drive.system / LAYOUT_FILE, data)
            kept += 1
        except OSError as e:
            log.warning("cannot keep the cluster layout on %s: %s", drive.root, e)
    return kept


def newest_layout(folders: Iterable[Path]) -> dict | None:
    """The newest layout any of the drive folders keeps, or None if none keeps one."""
    newest: dict | None = None
    for folder in folders:
        doc = _read(folder / ".hoard")
        if doc is not None and (newest is None or doc["layout_version"] > newest["layout_version"]):
            newest = doc
    return newest


def _read(system: Path) -> dict | None:
    try:
        return json.loads((system / LAYOUT_FILE).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("cannot read the cluster layout in %s: %s", system, e)
        return None
