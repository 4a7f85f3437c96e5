"""The metadata index in SQLite (WAL), with group commit.

All writes go through one writer thread. It takes every write waiting in its queue, runs each
in its own SAVEPOINT inside one transaction, and commits once: a burst of small PUTs shares
one fsync (``synchronous=FULL``), and a failing write rolls back alone. Reads run in worker
threads on their own connections and see every committed write (WAL snapshots).
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hoard.meta.batching import Write, WriteQueue
from hoard.meta.errors import IndexVersionMismatch, MetaError
from hoard.meta.sqlstore import COMPLETED_UPLOAD_MEMORY, NULL_VERSION, SqlMetaStore, T, commit_failed
from hoard.nowait import WouldBlock

__all__ = ["COMPLETED_UPLOAD_MEMORY", "NULL_VERSION", "SCHEMA_VERSION", "SqliteMetaStore"]

log = logging.getLogger("hoard.meta")

SCHEMA_VERSION = 10
SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets(
    name TEXT PRIMARY KEY, created REAL NOT NULL, location TEXT NOT NULL, owner_id TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects(
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    last_modified REAL NOT NULL, storage_class TEXT NOT NULL, headers TEXT NOT NULL,
    segments TEXT NOT NULL, multipart INTEGER NOT NULL,
    checksum_algorithm TEXT NOT NULL, checksum_value TEXT NOT NULL, checksum_type TEXT NOT NULL,
    placement TEXT NOT NULL, data_id TEXT NOT NULL, inline INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    version_id TEXT NOT NULL DEFAULT 'null', seq TEXT NOT NULL DEFAULT '',
    delete_marker INTEGER NOT NULL DEFAULT 0, retention_mode TEXT NOT NULL DEFAULT '',
    retain_until REAL NOT NULL DEFAULT 0, legal_hold INTEGER NOT NULL DEFAULT 0,
    acl TEXT NOT NULL DEFAULT '[]', owner_id TEXT NOT NULL DEFAULT '',
    tiering TEXT NOT NULL DEFAULT '', encryption TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(bucket, key)
) WITHOUT ROWID;
-- A key's current version is its row in objects; every older one is here, newest first.
CREATE TABLE IF NOT EXISTS versions(
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    last_modified REAL NOT NULL, storage_class TEXT NOT NULL, headers TEXT NOT NULL,
    segments TEXT NOT NULL, multipart INTEGER NOT NULL,
    checksum_algorithm TEXT NOT NULL, checksum_value TEXT NOT NULL, checksum_type TEXT NOT NULL,
    placement TEXT NOT NULL, data_id TEXT NOT NULL, inline INTEGER NOT NULL, tags TEXT NOT NULL,
    version_id TEXT NOT NULL, seq TEXT NOT NULL, delete_marker INTEGER NOT NULL,
    retention_mode TEXT NOT NULL, retain_until REAL NOT NULL, legal_hold INTEGER NOT NULL,
    acl TEXT NOT NULL, owner_id TEXT NOT NULL DEFAULT '', tiering TEXT NOT NULL DEFAULT '',
    encryption TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(bucket, key, seq DESC)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS versions_by_id ON versions(bucket, key, version_id);
CREATE TABLE IF NOT EXISTS uploads(
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
    storage_class TEXT NOT NULL, headers TEXT NOT NULL, checksum_algorithm TEXT NOT NULL,
    checksum_type TEXT NOT NULL, owner_id TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]',
    retention_mode TEXT NOT NULL DEFAULT '', retain_until REAL NOT NULL DEFAULT 0, legal_hold INTEGER NOT NULL DEFAULT 0,
    acl TEXT NOT NULL DEFAULT '[]', encryption TEXT NOT NULL DEFAULT '', pool INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts(
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    blob TEXT NOT NULL, last_modified REAL NOT NULL, checksum TEXT NOT NULL, stored INTEGER NOT NULL DEFAULT 0,
    degraded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(upload_id, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS completed_uploads(
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL,
    checksum_algorithm TEXT NOT NULL, checksum_value TEXT NOT NULL, checksum_type TEXT NOT NULL,
    completed REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reclaim(blob TEXT PRIMARY KEY, queued REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS damage_reports(bucket TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(bucket, key)) WITHOUT ROWID;
-- Bucket replication: one row per version of a bucket with a replication configuration, added in
-- the transaction that commits the version (so a version is never visible and unqueued), kept
-- once done for the x-amz-replication-status it answers (PENDING, COMPLETED, FAILED).
CREATE TABLE IF NOT EXISTS replication(
    bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL, op TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL,
    queued REAL NOT NULL, error TEXT NOT NULL DEFAULT '', gen INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(bucket, key, version_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replication_due ON replication(status, next_try);
-- Versions the tier worker has something to do to, and when: bytes of a tiered class to move to
-- their tier (due at once), a restore's copy to make ready, or a restored copy to remove.
-- Written in the transaction that commits or changes the version (_track_tiering).
CREATE TABLE IF NOT EXISTS tier_tasks(
    bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL, due REAL NOT NULL,
    PRIMARY KEY(bucket, key, version_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tier_tasks_due ON tier_tasks(due);
CREATE TABLE IF NOT EXISTS heal_queue(
    bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL, not_before REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(bucket, key, version_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS heal_queue_due ON heal_queue(not_before);
"""

# What turns an index of schema version N into N + 1 (one transaction per step). Only additions:
# an older Hoard refuses a newer index (the version check), a newer one upgrades an older index.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE buckets ADD COLUMN config TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE objects ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE uploads ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'",
    ),
    # Versioning and object lock (the versions table itself is in SCHEMA).
    3: (
        "ALTER TABLE objects ADD COLUMN version_id TEXT NOT NULL DEFAULT 'null'",
        "ALTER TABLE objects ADD COLUMN seq TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE objects ADD COLUMN delete_marker INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE objects ADD COLUMN retention_mode TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE objects ADD COLUMN retain_until REAL NOT NULL DEFAULT 0",
        "ALTER TABLE objects ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE uploads ADD COLUMN retention_mode TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE uploads ADD COLUMN retain_until REAL NOT NULL DEFAULT 0",
        "ALTER TABLE uploads ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE objects ADD COLUMN acl TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE uploads ADD COLUMN acl TEXT NOT NULL DEFAULT '[]'",
    ),
    # Bucket replication: its table is in SCHEMA.
    5: (),
    # Accounts: who owns a version another account than the bucket's owner wrote.
    4: (
        "ALTER TABLE objects ADD COLUMN owner_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE versions ADD COLUMN owner_id TEXT NOT NULL DEFAULT ''",
    ),
    # Archival tiers and restores (the tier_tasks table is in SCHEMA).
    6: (
        "ALTER TABLE objects ADD COLUMN tiering TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE versions ADD COLUMN tiering TEXT NOT NULL DEFAULT ''",
    ),
    # Server-side encryption: how each version (and upload) is encrypted, and what each part keeps.
    7: (
        "ALTER TABLE objects ADD COLUMN encryption TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE versions ADD COLUMN encryption TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE uploads ADD COLUMN encryption TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE parts ADD COLUMN stored INTEGER NOT NULL DEFAULT 0",
    ),
    # Writes that missed a drive, queued for healing by their commit (the heal_queue table is in
    # SCHEMA), and the parts that missed one.
    8: ("ALTER TABLE parts ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0",),
    9: ("ALTER TABLE uploads ADD COLUMN pool INTEGER NOT NULL DEFAULT 0",),
}

MAX_BATCH = 512
READERS = 16


def _make_private(path: Path) -> None:
    """Create the index file (or take an existing one) readable and writable by this user only: it
    holds every key and its metadata. SQLite gives its WAL and shared-memory files the database
    file's mode when it creates them; older ones are tightened here too."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        try:
            os.chmod(path.with_name(path.name + suffix), 0o600)
        except FileNotFoundError:
            pass


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=OFF")
    return conn


def _commit_batch(conn: sqlite3.Connection, batch: list[Write]) -> None:
    """The writes waiting together (``hoard.meta.batching.WriteQueue``, one thread), each in its
    own savepoint, in one transaction: one fsync for all."""
    outcomes: list[tuple[Write, Any, BaseException | None]] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for write in batch:
            conn.execute("SAVEPOINT op")
            try:
                result = write.fn(conn)
            except BaseException as e:  # noqa: BLE001 - each write fails alone
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                outcomes.append((write, None, e))
            else:
                conn.execute("RELEASE op")
                outcomes.append((write, result, None))
        conn.execute("COMMIT")
    except BaseException as e:  # noqa: BLE001 - the commit failed: nothing in the batch happened
        log.exception("metadata commit failed")
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        for write in batch:
            if not write.future.done():
                write.future.set_exception(e if isinstance(e, MetaError) else commit_failed(e))
        return
    # A write that ran can no longer be cancelled (WriteQueue took it as running): its result is
    # always delivered.
    for write, result, error in outcomes:
        if error is not None:
            write.future.set_exception(error)
        else:
            write.future.set_result(result)


class SqliteMetaStore(SqlMetaStore):
    """The ``MetaStore`` (``hoard.meta.store``) in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _make_private(path)
        conn = _connect(path)
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = SCHEMA_VERSION if row is None else row[0]
        while version in MIGRATIONS and version < SCHEMA_VERSION:
            _migrate(conn, version)
            version += 1
        if version == SCHEMA_VERSION:
            conn.executescript(SCHEMA)
        if row is None:
            conn.execute("INSERT INTO schema_version VALUES(?)", (SCHEMA_VERSION,))
        elif version != SCHEMA_VERSION:
            conn.close()
            raise IndexVersionMismatch(
                f"the metadata index {path} has schema version {row[0]}, this Hoard needs {SCHEMA_VERSION}: "
                "move it aside and start again to rebuild it from the drives"
            )
        conn.close()
        # Read connections are opened once, up front: they keep working even if the index's
        # folder disappears under a running server (a lost drive), where a new one could not open.
        # Last in, first out: the connections in use stay the few whose page caches are warm,
        # instead of every one of them filling its own cache in turn (memory, per process).
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        for _ in range(READERS):
            self._readers.put(_connect(path))
        # One more, for lookups made in the event loop itself: it must never wait for a lock.
        self._nowait_reader = _connect(path)
        self._nowait_reader.execute("PRAGMA busy_timeout=0")
        self._nowait_lock = threading.Lock()
        self._write_conn = _connect(path)
        self._writes = WriteQueue(
            functools.partial(_commit_batch, self._write_conn), threads=1, max_batch=MAX_BATCH, name="hoard-meta-writer"
        )

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self._writes.close()
        self._write_conn.close()
        for _ in range(READERS):
            self._readers.get().close()
        self._nowait_reader.close()

    # -- plumbing -------------------------------------------------------------------------
    def _read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._readers.get()
        try:
            return fn(conn)
        finally:
            self._readers.put(conn)

    def _read_nowait(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in the calling thread (the event loop) on a connection of its own, or
        WouldBlock if SQLite would have to wait for a lock or another caller holds it."""
        if not self._nowait_lock.acquire(blocking=False):
            raise WouldBlock("the no-wait index connection is in use")
        try:
            return fn(self._nowait_reader)
        except sqlite3.OperationalError as e:  # "database is locked" (busy_timeout is 0), or a real error the thread will meet again
            raise WouldBlock(str(e)) from e
        finally:
            self._nowait_lock.release()

    # A failed COMMIT of a local file is a known failure: ``settle`` and ``idempotent`` are not needed.
    async def _write(self, fn: Callable[[sqlite3.Connection], T], settle: Any = None, idempotent: bool = False) -> T:
        return await self._writes.submit_async(fn, None, True)

    def _write_sync(self, fn: Callable[[sqlite3.Connection], T], settle: Any = None, idempotent: bool = False) -> T:
        return self._writes.submit(fn, None, True).result()

    def _snapshot_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def snapshot(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        return self._read_sync(snapshot)

    def _write_background(self, fn: Callable[[sqlite3.Connection], Any]) -> concurrent.futures.Future:
        return self._writes.submit(fn, None, True)


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in MIGRATIONS[version]:
            words = statement.split()
            if words[:2] == ["ALTER", "TABLE"] and conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (words[2],)).fetchone() is None:
                continue  # a table a later version added: SCHEMA makes it whole once the steps are done
            conn.execute(statement)
        conn.execute("UPDATE schema_version SET version=?", (version + 1,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.info("metadata index upgraded from schema version %d to %d", version, version + 1)
