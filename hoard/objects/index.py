"""The metadata index the drives name: opened, or rebuilt from the drives when it is missing or stale.

The index is a cache of the drives (principle 3): a rebuild reads every version record and
bucket file (``hoard.storage.scan``) and makes the store hold exactly that.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hoard.meta.store import MetaStore
from hoard.storage.pool import Storage
from hoard.storage.scan import scan

log = logging.getLogger("hoard.rebuild")
INDEX_ID = "index_id"
S = TypeVar("S", bound=MetaStore)


def open_index(storage: Storage, owner_id: str, region: str, open_store: Callable[[Path], S]) -> tuple[S, int | None]:
    """Open the metadata index the drives name, or build a new one from the drives.

    ``open_store`` opens (or creates) the index file at a path on a drive. Returns the store
    and, when it was rebuilt, how many objects the drives gave back. The drives record the
    current index's identity, so a stale index (on a drive that was away while another took
    over) is never trusted: trusting it would hide newer objects, and the orphan sweep would
    then delete their files.
    """
    wanted = storage.index_id()
    candidates = storage.index_candidates()
    for path in candidates:
        if path.exists() and wanted is not None:
            store = open_store(path)
            if store.get_setting_sync(INDEX_ID) == wanted:
                return store, None
            store.close()
    path = candidates[0]
    if path.exists():
        aside = path.with_name(f"meta.db.stale-{int(time.time())}")
        log.warning("the index at %s is not the one the drives name: keeping it as %s and rebuilding", path, aside)
        for suffix in ("", "-wal", "-shm"):
            old = path.with_name(path.name + suffix)
            if old.exists():
                old.rename(aside.with_name(aside.name + suffix))
    store = open_store(path)
    count = rebuild(storage, store, owner_id, region)
    index_id = uuid.uuid4().hex
    store.set_setting_sync(INDEX_ID, index_id)
    storage.set_index_id(index_id)
    return store, count


class SharedIndexRefused(Exception):
    """A shared index (PostgreSQL) that these drives cannot use: unreachable, or another
    deployment's. Said in words; nothing was changed."""


def open_shared_index(storage: Storage, store: S, owner_id: str, region: str) -> tuple[S, int | None]:
    """Use an index kept outside the drives (a PostgreSQL database) for these drives.

    An empty database is filled from the drives (a new deployment, or one moving its index off
    SQLite: every version the drives record comes back). One whose index the drives name is used
    as it is. One holding another index is refused, never overwritten: it may be another
    deployment's, or an old copy restored by mistake (``hoard admin rebuild-index`` rebuilds a
    database on purpose). Returns the store and, when it was filled, how many objects that was.
    """
    wanted = storage.index_id()
    have = store.get_setting_sync(INDEX_ID)
    if have is not None and have == wanted:
        return store, None
    if have is not None:
        store.close()
        raise SharedIndexRefused(
            f"the metadata database {store.location} holds index {have}, but these drives name index {wanted or '(none)'}: "
            "it is another deployment's, or a copy of an older one; give these drives their own database (an empty one is filled from the drives)"
        )
    count = rebuild(storage, store, owner_id, region)
    index_id = uuid.uuid4().hex
    store.set_setting_sync(INDEX_ID, index_id)
    storage.set_index_id(index_id)
    return store, count


RebuildProgress = Callable[[str, int, int], None]  # (step: "reading" | "writing", records read, records in all)


def rebuild(storage: Storage, store: MetaStore, owner_id: str, region: str, progress: RebuildProgress | None = None) -> int:
    """Make the index hold what the drives describe; returns how many objects that is.

    ``progress`` hears how many record files have been read, then that the index is being written.
    """
    report = (lambda done, total: progress("reading", done, total)) if progress is not None else None
    buckets, records = scan(storage, owner_id, region, report)
    if progress is not None:
        progress("writing", len(records), len(records))
    store.replace_contents(buckets, records)
    if records or buckets:
        log.warning("rebuilt the index from the drives: %d buckets, %d objects", len(buckets), len(records))
    return len(records)
