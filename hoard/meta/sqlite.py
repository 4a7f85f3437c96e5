"""The metadata index in SQLite (WAL), with group commit.

All writes go through one writer thread. It takes every write waiting in its queue, runs each
in its own SAVEPOINT inside one transaction, and commits once: a burst of small PUTs shares
one fsync (``synchronous=FULL``), and a failing write rolls back alone. Reads run in worker
threads on their own connections and see every committed write (WAL snapshots).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import heapq
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from hoard.meta.errors import (
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    CommitFailed,
    IndexVersionMismatch,
    MetaError,
    UploadNotFound,
    VersionChanged,
)
from hoard.meta.listing import Bound, Page, first_bound, prefix_end, rolled_up_marker
from hoard.model import (
    COMPLETED,
    FAILED,
    PENDING,
    REPLICA,
    REPLICATION_STATUS_HEADER,
    TIERED_CLASSES,
    Archive,
    Bucket,
    ClassUsage,
    CompletedUpload,
    Encryption,
    ListedObject,
    Listing,
    ObjectRecord,
    Part,
    Placement,
    ReplicationTask,
    Restore,
    Segment,
    Tags,
    Upload,
)
from hoard.nowait import WouldBlock

log = logging.getLogger("hoard.meta")
Guard = Callable[[ObjectRecord], None]
NULL_VERSION = "null"  # the id of the version written where versioning is not Enabled
T = TypeVar("T")

SCHEMA_VERSION = 8
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
    acl TEXT NOT NULL DEFAULT '[]', encryption TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts(
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    blob TEXT NOT NULL, last_modified REAL NOT NULL, checksum TEXT NOT NULL, stored INTEGER NOT NULL DEFAULT 0,
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
}

MAX_BATCH = 512
COMPLETED_UPLOAD_MEMORY = 86400.0
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


def _prefix_range(column: str, prefix: str) -> tuple[str, list[Any]]:
    """SQL (to AND in) and arguments selecting values of ``column`` that start with ``prefix``:
    an index range, not a LIKE."""
    if not prefix:
        return "", []
    sql, args = f" AND {column} >= ?", [prefix]
    end = prefix_end(prefix)
    if end:
        sql += f" AND {column} < ?"
        args.append(end)
    return sql, args


def _segments_json(segments: Iterable[Segment]) -> str:
    return json.dumps([s.to_json() for s in segments])


def _encryption_json(encryption: Encryption | None) -> str:
    return json.dumps(encryption.to_json(), sort_keys=True) if encryption is not None else ""


def _encryption_from_json(raw: str) -> Encryption | None:
    return Encryption.from_json(json.loads(raw)) if raw else None


def _tags_json(tags: Tags) -> str:
    return json.dumps([list(t) for t in tags])


def _tags_from_json(raw: str) -> Tags:
    return tuple((k, v) for k, v in json.loads(raw))


def _tiering_json(r: ObjectRecord) -> str:
    if r.archive is None and r.restore is None:
        return ""
    return json.dumps([r.archive.to_json() if r.archive else None, r.restore.to_json() if r.restore else None])


def _tiering_from_json(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    archive, restore = json.loads(raw)
    return {"archive": Archive.from_json(archive), "restore": Restore.from_json(restore)}


def _object_row(r: ObjectRecord) -> tuple:
    return (
        r.bucket, r.key, r.size, r.etag, r.last_modified, r.storage_class, json.dumps(r.headers),
        _segments_json(r.segments), int(r.multipart), r.checksum_algorithm, r.checksum_value,
        r.checksum_type, json.dumps(r.placement.to_json()), r.data_id, int(r.inline), _tags_json(r.tags),
        r.version_id, r.seq, int(r.delete_marker), r.retention_mode, r.retain_until, int(r.legal_hold),
        json.dumps([list(g) for g in r.acl]), r.owner_id, _tiering_json(r), _encryption_json(r.encryption),
    )


# The same columns in objects (current versions) and versions (older ones).
_OBJECT_COLUMNS = (
    "bucket, key, size, etag, last_modified, storage_class, headers, segments, multipart, "
    "checksum_algorithm, checksum_value, checksum_type, placement, data_id, inline, tags, "
    "version_id, seq, delete_marker, retention_mode, retain_until, legal_hold, acl, owner_id, tiering, encryption"
)
_OBJECT_SLOTS = ",".join("?" * 26)
_SEQ_AT = 17


def _object_from_row(row: tuple) -> ObjectRecord:
    return ObjectRecord(
        bucket=row[0], key=row[1], size=row[2], etag=row[3], last_modified=row[4],
        storage_class=row[5], headers=json.loads(row[6]),
        segments=tuple(Segment(*s) for s in json.loads(row[7])), multipart=bool(row[8]),
        checksum_algorithm=row[9], checksum_value=row[10], checksum_type=row[11],
        placement=Placement.from_json(json.loads(row[12])), data_id=row[13], inline=bool(row[14]),
        tags=_tags_from_json(row[15]), version_id=row[16], seq=row[17], delete_marker=bool(row[18]),
        retention_mode=row[19], retain_until=row[20], legal_hold=bool(row[21]),
        acl=tuple(tuple(g) for g in json.loads(row[22])), owner_id=row[23],
        **_tiering_from_json(row[24]), encryption=_encryption_from_json(row[25]),
    )


# A listing reads only what it shows (the key must be the second column, as in _OBJECT_COLUMNS).
_LISTED_COLUMNS = "bucket, key, size, etag, last_modified, storage_class, checksum_algorithm, checksum_type, owner_id, tiering"


def _listed_restore(raw: str) -> Restore | None:
    """A listed version's restore, for ListObjects' RestoreStatus (parsed only where there is one)."""
    return _tiering_from_json(raw).get("restore") if raw else None


def _listed_from_row(row: tuple) -> ListedObject:
    return ListedObject(row[1], row[2], row[3], row[4], row[5], row[6], row[7], owner_id=row[8], restore=_listed_restore(row[9]))


# A version listing's rows: the listed columns, then the version's id, seq and marker flag, and
# whether it is the current one (1 from objects, 0 from versions).
_VERSION_LISTED_COLUMNS = _LISTED_COLUMNS + ", version_id, seq, delete_marker"


def _listed_version_from_row(row: tuple) -> ListedObject:
    return ListedObject(
        row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[10], bool(row[13]), bool(row[12]), owner_id=row[8], restore=_listed_restore(row[9])
    )


_UPLOAD_COLUMNS = (
    "upload_id, bucket, key, initiated, storage_class, headers, checksum_algorithm, checksum_type, owner_id, tags, "
    "retention_mode, retain_until, legal_hold, acl, encryption"
)


def _upload_from_row(row: tuple) -> Upload:
    return Upload(
        row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7], row[8], _tags_from_json(row[9]), row[10], row[11], bool(row[12]),
        tuple(tuple(g) for g in json.loads(row[13])), _encryption_from_json(row[14]),
    )


_BUCKET_COLUMNS = "name, created, location, owner_id, config"


def _bucket_from_row(row: tuple) -> Bucket:
    return Bucket(row[0], row[1], row[2], row[3], json.loads(row[4]))


def _bucket_row(b: Bucket) -> tuple:
    return (b.name, b.created, b.location, b.owner_id, json.dumps(b.config, sort_keys=True))


def _queue_reclaim(conn: sqlite3.Connection, blobs: Iterable[str]) -> None:
    now = time.time()
    conn.executemany("INSERT OR IGNORE INTO reclaim(blob, queued) VALUES(?, ?)", [(b, now) for b in blobs])


def _commit_failed(error: BaseException) -> CommitFailed:
    failed = CommitFailed(f"the metadata commit failed: {error}")
    failed.__cause__ = error
    return failed


class _Writer(threading.Thread):
    def __init__(self, path: Path) -> None:
        super().__init__(name="hoard-meta-writer", daemon=True)
        self._path = path
        self._queue: queue.Queue = queue.Queue()

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((fn, fut))
        return fut

    def stop(self) -> None:
        self._queue.put(None)

    def run(self) -> None:
        conn = _connect(self._path)
        while True:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._run_batch(conn, batch)
            if stop:
                break
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list) -> None:
        outcomes: list[tuple[concurrent.futures.Future, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, fut in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result = fn(conn)
                except BaseException as e:  # noqa: BLE001 - each write fails alone
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((fut, None, e))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((fut, result, None))
            conn.execute("COMMIT")
        except BaseException as e:  # noqa: BLE001 - the commit failed: nothing in the batch happened
            log.exception("metadata commit failed")
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(e if isinstance(e, MetaError) else _commit_failed(e))
            return
        for fut, result, error in outcomes:
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)


class SqliteMetaStore:
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
        self._writer = _Writer(path)
        self._writer.start()

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self._writer.stop()
        self._writer.join(timeout=10)
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

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._read_sync, fn)

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

    async def _read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read of a row or two: in the event loop if it need not wait (see ``hoard.nowait``),
        else in a worker thread. Not for scans: those would hold up every other request."""
        try:
            return self._read_nowait(fn)
        except WouldBlock:
            return await self._read(fn)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self._writer.submit(fn))

    def _write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._writer.submit(fn).result()

    # -- buckets --------------------------------------------------------------------------
    async def create_bucket(self, bucket: Bucket) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT owner_id FROM buckets WHERE name=?", (bucket.name,)).fetchone()
            if row is not None:
                raise BucketExists(bucket.name, same_owner=row[0] == bucket.owner_id)
            conn.execute(f"INSERT INTO buckets({_BUCKET_COLUMNS}) VALUES(?,?,?,?,?)", _bucket_row(bucket))

        await self._write(op)

    async def get_bucket(self, name: str) -> Bucket | None:
        row = await self._read_point(lambda c: c.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name=?", (name,)).fetchone())
        return _bucket_from_row(row) if row else None

    async def set_bucket_config(self, name: str, config_name: str, value: Any) -> Bucket:
        def op(conn: sqlite3.Connection) -> Bucket:
            row = conn.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name=?", (name,)).fetchone()
            if row is None:
                raise BucketNotFound(name)
            bucket = _bucket_from_row(row)
            config = dict(bucket.config)
            if value is None:
                config.pop(config_name, None)
            else:
                config[config_name] = value
            updated = dataclasses.replace(bucket, config=config)
            conn.execute("UPDATE buckets SET config=? WHERE name=?", (_bucket_row(updated)[4], name))
            return updated

        return await self._write(op)

    async def list_buckets(self, prefix: str, after: str, limit: int, owner: str | None = None) -> list[Bucket]:
        def op(conn: sqlite3.Connection) -> list[Bucket]:
            sql = f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name > ?"
            args: list[Any] = [after]
            if owner is not None:
                sql += " AND owner_id=?"
                args.append(owner)
            where, more = _prefix_range("name", prefix)
            sql += where
            args += more
            sql += " ORDER BY name LIMIT ?"
            args.append(limit)
            return [_bucket_from_row(r) for r in conn.execute(sql, args)]

        return await self._read(op)

    async def delete_bucket(self, name: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM buckets WHERE name=?", (name,)).fetchone() is None:
                raise BucketNotFound(name)
            # Every key with versions has a current one (a delete marker, maybe): objects says it all.
            if conn.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone():
                raise BucketNotEmpty(name)
            uploads = [r[0] for r in conn.execute("SELECT upload_id FROM uploads WHERE bucket=?", (name,))]
            for upload_id in uploads:
                _drop_upload(conn, upload_id)
            conn.execute("DELETE FROM buckets WHERE name=?", (name,))

        await self._write(op)

    # -- objects --------------------------------------------------------------------------
    async def put_object(
        self,
        record: ObjectRecord,
        precondition: Callable[[ObjectRecord | None], None] | None = None,
    ) -> ObjectRecord | None:
        """Add ``record`` as its key's newest version (see ``_add_version``); returns the version
        it removed, whose bytes are queued for reclaim.

        ``precondition`` sees the current object inside the transaction (conditional writes;
        None when there is none or it is a delete marker).
        """

        def op(conn: sqlite3.Connection) -> ObjectRecord | None:
            _require_bucket(conn, record.bucket)
            if precondition is not None:
                precondition(_live(_get_object(conn, record.bucket, record.key)))
            return _add_version(conn, record)

        return await self._write(op)

    async def replace_version(self, old: ObjectRecord, new: ObjectRecord, reclaim: Iterable[str] = ()) -> None:
        """Put ``new`` (the same bytes, other metadata: tags, ...) in place of ``old``, if ``old``
        is still there, current or not; its shard files stay in use, but for ``reclaim`` (the
        shards of bytes that moved to a tier, or of a restored copy that expired).
        VersionChanged otherwise. The restores table follows ``new.restore``."""
        reclaim = list(reclaim)

        def op(conn: sqlite3.Connection) -> None:
            found, current = _get_version(conn, old.bucket, old.key, old.version_id)
            if found is None or found.data_id != old.data_id:
                raise VersionChanged(f"{old.bucket}/{old.key} changed while its metadata was being replaced")
            _insert(conn, "objects" if current else "versions", new)
            _track_tiering(conn, new)
            _queue_reclaim(conn, reclaim)
            if _replicated(conn, new) and new.restore == old.restore and new.archive == old.archive:
                _queue_replication(conn, new.bucket, new.key, new.version_id, "meta")

        await self._write(op)

    def get_object_sync(self, bucket: str, key: str) -> ObjectRecord | None:
        return self._read_sync(lambda c: _get_object(c, bucket, key))

    def get_object_nowait(self, bucket: str, key: str) -> ObjectRecord | None:
        return self._read_nowait(lambda c: _get_object(c, bucket, key))

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        return await self._read_point(lambda c: _get_object(c, bucket, key))

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        return await self.delete_version(bucket, key, NULL_VERSION)

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[ObjectRecord | None]:
        """Delete each key's null version; returns the records removed (None where there was none)."""
        return await self.delete_versions(bucket, [(key, NULL_VERSION) for key in keys])

    async def delete_version(self, bucket: str, key: str, version_id: str, guard: Guard | None = None) -> ObjectRecord | None:
        return (await self.delete_versions(bucket, [(key, version_id)], guard))[0]

    async def delete_versions(self, bucket: str, versions: list[tuple[str, str]], guard: Guard | None = None) -> list[ObjectRecord | None]:
        def op(conn: sqlite3.Connection) -> list[ObjectRecord | None]:
            _require_bucket(conn, bucket)
            return [_delete_version(conn, bucket, key, version_id, guard) for key, version_id in versions]

        return await self._write(op)

    async def get_version(self, bucket: str, key: str, version_id: str) -> ObjectRecord | None:
        return await self._read_point(lambda c: _get_version(c, bucket, key, version_id)[0])

    async def get_versions(self, bucket: str, key: str) -> list[ObjectRecord]:
        def op(conn: sqlite3.Connection) -> list[ObjectRecord]:
            current = _get_object(conn, bucket, key)
            older = conn.execute(f"SELECT {_OBJECT_COLUMNS} FROM versions WHERE bucket=? AND key=? ORDER BY seq DESC", (bucket, key))
            return ([current] if current else []) + [_object_from_row(r) for r in older]

        return await self._read(op)

    async def list_versions(
        self, bucket: str, prefix: str, delimiter: str, key_marker: str, version_marker: str, limit: int
    ) -> Listing:
        """A page of every version (``ListedObject`` with version id, is-latest and delete-marker
        flags) in S3's order: key ascending, newest version first; after ``version_marker`` of
        ``key_marker`` when given, else after ``key_marker``."""

        def op(conn: sqlite3.Connection) -> Listing:
            return _list_versions(conn, bucket, prefix, delimiter, key_marker, version_marker, limit)

        return await self._read(op)

    async def list_objects(
        self, bucket: str, prefix: str, delimiter: str, after: str, limit: int
    ) -> Listing:
        """Keys after ``after`` in UTF-8 byte order; a delimiter rolls keys up into common prefixes.

        A common prefix is skipped in one index seek, so a page costs the same whatever lies under it.
        """

        def op(conn: sqlite3.Connection) -> Listing:
            return _list(conn, "objects", _LISTED_COLUMNS, _listed_from_row, bucket, prefix, delimiter, after, limit, " AND delete_marker=0")

        return await self._read(op)

    # -- multipart ------------------------------------------------------------------------
    async def create_upload(self, upload: Upload) -> None:
        def op(conn: sqlite3.Connection) -> None:
            _require_bucket(conn, upload.bucket)
            conn.execute(
                f"INSERT INTO uploads({_UPLOAD_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    upload.upload_id, upload.bucket, upload.key, upload.initiated, upload.storage_class,
                    json.dumps(upload.headers), upload.checksum_algorithm, upload.checksum_type, upload.owner_id,
                    _tags_json(upload.tags), upload.retention_mode, upload.retain_until, int(upload.legal_hold),
                    json.dumps([list(g) for g in upload.acl]), _encryption_json(upload.encryption),
                ),
            )

        await self._write(op)

    async def set_upload_encryption(self, upload_id: str, old: Encryption, new: Encryption) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(
                "UPDATE uploads SET encryption=? WHERE upload_id=? AND encryption=?", (_encryption_json(new), upload_id, _encryption_json(old))
            )
            return changed.rowcount == 1

        return await self._write(op)

    async def get_upload(self, upload_id: str) -> Upload | None:
        return await self._read(lambda c: _get_upload(c, upload_id))

    async def put_part(self, part: Part) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if _get_upload(conn, part.upload_id) is None:
                raise UploadNotFound(part.upload_id)
            old = conn.execute(
                "SELECT blob FROM parts WHERE upload_id=? AND number=?", (part.upload_id, part.number)
            ).fetchone()
            if old:
                _queue_reclaim(conn, [old[0]])
            conn.execute(
                "INSERT OR REPLACE INTO parts(upload_id, number, size, etag, blob, last_modified, checksum, stored) "
                "VALUES(?,?,?,?,?,?,?,?)",
                (part.upload_id, part.number, part.size, part.etag, part.blob, part.last_modified, part.checksum, part.stored),
            )

        await self._write(op)

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        def op(conn: sqlite3.Connection) -> list[Part]:
            rows = conn.execute(
                "SELECT upload_id, number, size, etag, blob, last_modified, checksum, stored FROM parts "
                "WHERE upload_id=? AND number>? ORDER BY number LIMIT ?",
                (upload_id, after, limit),
            )
            return [Part(*r) for r in rows]

        return await self._read(op)

    async def complete_upload(
        self,
        upload_id: str,
        build: Callable[[Upload, dict[int, Part]], tuple[ObjectRecord, set[int]]],
        precondition: Callable[[ObjectRecord | None], None] | None = None,
        before_commit: Callable[[ObjectRecord], None] | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Turn an upload into an object in one transaction; returns it and the version it removed
        (it is added as a new version: ``_add_version``).

        ``build`` validates the client's part list against the stored parts and returns the
        object and the part numbers it uses; parts it does not use are reclaimed.
        """

        def op(conn: sqlite3.Connection) -> ObjectRecord:
            upload = _get_upload(conn, upload_id)
            if upload is None:
                raise UploadNotFound(upload_id)
            _require_bucket(conn, upload.bucket)
            rows = conn.execute(
                "SELECT upload_id, number, size, etag, blob, last_modified, checksum, stored FROM parts WHERE upload_id=?",
                (upload_id,),
            )
            parts = {r[1]: Part(*r) for r in rows}
            record, used = build(upload, parts)
            if precondition is not None:
                precondition(_live(_get_object(conn, record.bucket, record.key)))
            if before_commit is not None:
                before_commit(record)
            old = _add_version(conn, record)
            _queue_reclaim(conn, (p.blob for n, p in parts.items() if n not in used))
            conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
            # Remembered so that a client retrying a complete whose answer it lost gets the
            # same answer; kept for a day.
            conn.execute("DELETE FROM completed_uploads WHERE completed < ?", (record.last_modified - COMPLETED_UPLOAD_MEMORY,))
            conn.execute(
                "INSERT OR REPLACE INTO completed_uploads VALUES(?,?,?,?,?,?,?,?)",
                (
                    upload_id, record.bucket, record.key, record.etag, record.checksum_algorithm,
                    record.checksum_value, record.checksum_type, record.last_modified,
                ),
            )
            return record, old

        return await self._write(op)

    async def get_completed_upload(self, upload_id: str) -> CompletedUpload | None:
        """What a recently completed upload became (for a retried CompleteMultipartUpload)."""

        def op(conn: sqlite3.Connection) -> CompletedUpload | None:
            row = conn.execute(
                "SELECT upload_id, bucket, key, etag, checksum_algorithm, checksum_value, checksum_type, completed "
                "FROM completed_uploads WHERE upload_id=?",
                (upload_id,),
            ).fetchone()
            return CompletedUpload(*row) if row else None

        return await self._read(op)

    async def abort_upload(self, upload_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if _get_upload(conn, upload_id) is None:
                raise UploadNotFound(upload_id)
            _drop_upload(conn, upload_id)

        await self._write(op)

    async def list_uploads(
        self, bucket: str, prefix: str, delimiter: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> Listing:
        def op(conn: sqlite3.Connection) -> Listing:
            return _list_uploads(conn, bucket, prefix, delimiter, key_marker, upload_id_marker, limit)

        return await self._read(op)

    # -- reclaiming bytes -----------------------------------------------------------------
    async def reclaimable(self, older_than: float, limit: int) -> list[str]:
        return await self._read(
            lambda c: [r[0] for r in c.execute("SELECT blob FROM reclaim WHERE queued < ? LIMIT ?", (older_than, limit))]
        )

    async def reclaimed(self, blobs: list[str]) -> None:
        await self._write(lambda c: c.executemany("DELETE FROM reclaim WHERE blob=?", [(b,) for b in blobs]) and None)

    def referenced(self) -> tuple[set[str], set[str]]:
        """Every shard id (objects, parts, pending reclaim) and record id the index points at.

        For the orphan sweep: what a drive holds beyond these was left by a crash.
        """

        def op(conn: sqlite3.Connection) -> tuple[set[str], set[str]]:
            shards: set[str] = set()
            records: set[str] = set()
            conn.execute("BEGIN")  # one snapshot for every table
            try:
                for table in ("objects", "versions"):
                    for segments, data_id in conn.execute(f"SELECT segments, data_id FROM {table}"):
                        shards.update(s[0] for s in json.loads(segments) if s[0])
                        records.add(data_id)
                shards.update(r[0] for r in conn.execute("SELECT blob FROM parts"))
                shards.update(r[0] for r in conn.execute("SELECT blob FROM reclaim"))
            finally:
                conn.execute("COMMIT")
            return shards, records

        return self._read_sync(op)

    # -- walking and rebuilding -----------------------------------------------------------
    async def objects_after(self, bucket: str, key: str, limit: int, prefix_bucket: str = "", prefix: str = "") -> list[ObjectRecord]:
        """Every version of up to ``limit`` keys after (bucket, key) in index order (each key's
        versions newest first), optionally only one bucket and key prefix."""

        def op(conn: sqlite3.Connection) -> list[ObjectRecord]:
            sql = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE (bucket > ? OR (bucket = ? AND key > ?))"
            args: list[Any] = [bucket, bucket, key]
            if prefix_bucket:
                where, more = _prefix_range("key", prefix)
                sql += " AND bucket = ?" + where
                args += [prefix_bucket, *more]
            sql += " ORDER BY bucket, key LIMIT ?"
            args.append(limit)
            out: list[ObjectRecord] = []
            for row in conn.execute(sql, args).fetchall():
                out.append(_object_from_row(row))
                older = conn.execute(f"SELECT {_OBJECT_COLUMNS} FROM versions WHERE bucket=? AND key=? ORDER BY seq DESC", (row[0], row[1]))
                out.extend(_object_from_row(r) for r in older)
            return out

        return await self._read(op)

    async def count_objects(self, bucket: str = "", prefix: str = "") -> int:
        def op(conn: sqlite3.Connection) -> int:
            if not bucket:
                return conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
            where, args = _prefix_range("key", prefix)
            return conn.execute("SELECT COUNT(*) FROM objects WHERE bucket = ?" + where, [bucket, *args]).fetchone()[0]

        return await self._read(op)

    # -- damage found by reads in other worker processes, for the leader's healer ---------
    def report_damage(self, bucket: str, key: str) -> None:
        """Queue a repair; callable from any thread, returns at once (a lost report is only a
        later repair: the scanner finds the damage too)."""

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR IGNORE INTO damage_reports(bucket, key) VALUES(?, ?)", (bucket, key))

        def logged(fut: concurrent.futures.Future) -> None:
            if fut.exception() is not None:
                log.warning("could not report damage to %s/%s: %s", bucket, key, fut.exception())

        self._writer.submit(op).add_done_callback(logged)

    async def take_damage_reports(self, limit: int = 100) -> list[tuple[str, str]]:
        def waiting(conn: sqlite3.Connection) -> bool:
            return conn.execute("SELECT 1 FROM damage_reports LIMIT 1").fetchone() is not None

        def op(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute("SELECT bucket, key FROM damage_reports LIMIT ?", (limit,)).fetchall()
            conn.executemany("DELETE FROM damage_reports WHERE bucket=? AND key=?", rows)
            return [(b, k) for b, k in rows]

        # Nearly always empty: look before taking the write lock.
        if not await self._read_point(waiting):
            return []
        return await self._write(op)

    # -- replication ------------------------------------------------------------------------
    async def replication_due(self, now: float, limit: int) -> list[ReplicationTask]:
        def op(conn: sqlite3.Connection) -> list[ReplicationTask]:
            rows = conn.execute(
                "SELECT bucket, key, version_id, op, attempts, queued, error, gen FROM replication INDEXED BY replication_due "
                "WHERE status IN (?, ?) AND next_try <= ? ORDER BY next_try LIMIT ?",
                (PENDING, FAILED, now, limit),
            ).fetchall()
            return [ReplicationTask(*row) for row in rows]

        return await self._read(op)

    async def replication_done(self, task: ReplicationTask) -> None:
        def op(conn: sqlite3.Connection) -> None:
            # Only if nothing was queued for the version meanwhile (the generation it was taken at).
            conn.execute(
                "UPDATE replication SET status=?, error='' WHERE bucket=? AND key=? AND version_id=? AND gen=?",
                (COMPLETED, task.bucket, task.key, task.version_id, task.gen),
            )

        await self._write(op)

    async def replication_failed(self, task: ReplicationTask, error: str, retry_at: float, failed: bool) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE replication SET status=?, attempts=attempts+1, next_try=?, error=? WHERE bucket=? AND key=? AND version_id=? AND gen=?",
                (FAILED if failed else PENDING, retry_at, error[:1000], task.bucket, task.key, task.version_id, task.gen),
            )

        await self._write(op)

    async def replication_forget(self, task: ReplicationTask) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM replication WHERE bucket=? AND key=? AND version_id=? AND gen=?", (task.bucket, task.key, task.version_id, task.gen))

        await self._write(op)

    async def replication_status(self, bucket: str, key: str, version_id: str) -> str | None:
        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT status FROM replication WHERE bucket=? AND key=? AND version_id=?", (bucket, key, version_id)).fetchone()
            return row[0] if row else None

        return await self._read_point(op)

    async def replication_queue_bucket(self, bucket: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            count = 0
            for table in ("objects", "versions"):
                rows = conn.execute(f"SELECT key, version_id, headers FROM {table} WHERE bucket=?", (bucket,)).fetchall()
                for key, version_id, headers in rows:
                    if json.loads(headers).get(REPLICATION_STATUS_HEADER) == REPLICA:
                        continue
                    _queue_replication(conn, bucket, key, version_id, "object")
                    count += 1
            return count

        return await self._write(op)

    # -- archival restores and storage usage ------------------------------------------------
    async def tier_tasks_due(self, now: float, limit: int) -> list[tuple[str, str, str, float]]:
        def op(conn: sqlite3.Connection) -> list[tuple[str, str, str, float]]:
            rows = conn.execute("SELECT bucket, key, version_id, due FROM tier_tasks WHERE due <= ? ORDER BY due LIMIT ?", (now, limit))
            return [tuple(r) for r in rows.fetchall()]

        return await self._read(op)

    async def next_tier_task(self) -> float | None:
        return await self._read(lambda c: c.execute("SELECT MIN(due) FROM tier_tasks").fetchone()[0])

    async def tier_task_reschedule(self, bucket: str, key: str, version_id: str, due: float, new_due: float | None) -> None:
        def op(conn: sqlite3.Connection) -> None:
            where = "bucket=? AND key=? AND version_id=? AND due=?"
            if new_due is None:
                conn.execute(f"DELETE FROM tier_tasks WHERE {where}", (bucket, key, version_id, due))
            else:
                conn.execute(f"UPDATE tier_tasks SET due=? WHERE {where}", (new_due, bucket, key, version_id, due))

        await self._write(op)

    async def usage(self, min_billable: dict[str, int]) -> list[ClassUsage]:
        def op(conn: sqlite3.Connection) -> list[ClassUsage]:
            out: dict[tuple[str, str], list[int]] = {}
            for table in ("objects", "versions"):
                rows = conn.execute(
                    f"SELECT bucket, storage_class, COUNT(*), SUM(size), "
                    f"SUM(CASE WHEN tiering != '' AND json_extract(tiering, '$[0]') IS NOT NULL THEN 1 ELSE 0 END), "
                    f"SUM(CASE WHEN tiering != '' THEN COALESCE(json_extract(tiering, '$[0][2]'), 0) ELSE 0 END), "
                    f"GROUP_CONCAT(CASE WHEN size < 131072 THEN size END) "
                    f"FROM {table} WHERE delete_marker = 0 GROUP BY bucket, storage_class"
                )
                for bucket, sclass, count, size, archived, stored, small in rows:
                    acc = out.setdefault((bucket, sclass), [0, 0, 0, 0, 0])
                    floor = min_billable.get(sclass, 0)
                    # Objects under the class's minimum are billed as that minimum (S3's 128 KiB rule).
                    smalls = [int(x) for x in small.split(",")] if small and floor else []
                    acc[0] += count
                    acc[1] += size or 0
                    acc[2] += (size or 0) + sum(max(0, floor - x) for x in smalls)
                    acc[3] += archived or 0
                    acc[4] += stored or 0
            return [ClassUsage(b, c, *v) for (b, c), v in sorted(out.items())]

        return await self._read(op)

    async def replication_backlog(self, bucket: str = "") -> dict[str, float]:
        def op(conn: sqlite3.Connection) -> dict[str, float]:
            where, args = ("WHERE bucket=?", [bucket]) if bucket else ("", [])
            counts = dict(conn.execute(f"SELECT status, COUNT(*) FROM replication {where} GROUP BY status", args).fetchall())
            oldest = conn.execute(f"SELECT MIN(queued) FROM replication {where}{' AND' if where else ' WHERE'} status IN (?, ?)", [*args, PENDING, FAILED]).fetchone()[0]
            return {
                "pending": counts.get(PENDING, 0),
                "failed": counts.get(FAILED, 0),
                "completed": counts.get(COMPLETED, 0),
                "oldest_queued": oldest or 0.0,
            }

        return await self._read(op)

    def queue_sizes_sync(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            def count(sql: str, *args: str) -> int:
                return conn.execute(sql, args).fetchone()[0]

            # The replication counts are ranges of the replication_due index (status first).
            return {
                "reclaim": count("SELECT COUNT(*) FROM reclaim"),
                "tier_tasks": count("SELECT COUNT(*) FROM tier_tasks"),
                "replication_pending": count("SELECT COUNT(*) FROM replication WHERE status=?", PENDING),
                "replication_failed": count("SELECT COUNT(*) FROM replication WHERE status=?", FAILED),
            }

        return self._read_sync(op)

    def get_setting_sync(self, name: str) -> str | None:
        row = self._read_sync(lambda c: c.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone())
        return row[0] if row else None

    def settings_with_prefix_sync(self, prefix: str) -> dict[str, str]:
        def op(conn: sqlite3.Connection) -> dict[str, str]:
            sql, args = _prefix_range("name", prefix)
            return dict(conn.execute("SELECT name, value FROM settings WHERE 1" + sql, args).fetchall())

        return self._read_sync(op)

    def set_setting_sync(self, name: str, value: str) -> None:
        self._write_sync(lambda c: c.execute("INSERT OR REPLACE INTO settings(name, value) VALUES(?, ?)", (name, value)) and None)

    def replace_contents(self, buckets: list[Bucket], records: list[ObjectRecord]) -> None:
        """Make the index hold exactly these buckets and object versions (rebuilding from the drives).

        Uploads in progress whose bucket survives are kept; replaced versions' bytes are left to
        the orphan sweep, which checks the drives against the new contents.
        """

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM objects")
            conn.execute("DELETE FROM versions")
            conn.execute("DELETE FROM buckets")
            conn.executemany(f"INSERT INTO buckets({_BUCKET_COLUMNS}) VALUES(?,?,?,?,?)", [_bucket_row(b) for b in buckets])
            # Each key's newest version is its current one; the others are older versions.
            newest: dict[tuple[str, str], ObjectRecord] = {}
            for r in records:
                best = newest.get((r.bucket, r.key))
                if best is None or r.seq > best.seq:
                    newest[(r.bucket, r.key)] = r
            current = set(map(id, newest.values()))
            conn.executemany(f"INSERT OR REPLACE INTO objects({_OBJECT_COLUMNS}) VALUES({_OBJECT_SLOTS})", [_object_row(r) for r in newest.values()])
            older = [_object_row(r) for r in records if id(r) not in current]
            conn.executemany(f"INSERT OR REPLACE INTO versions({_OBJECT_COLUMNS}) VALUES({_OBJECT_SLOTS})", older)
            for (upload_id,) in conn.execute("SELECT upload_id FROM uploads WHERE bucket NOT IN (SELECT name FROM buckets)").fetchall():
                _drop_upload(conn, upload_id)

        self._write_sync(op)


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


# -- helpers that run inside a transaction ----------------------------------------------------
def _require_bucket(conn: sqlite3.Connection, bucket: str) -> None:
    if conn.execute("SELECT 1 FROM buckets WHERE name=?", (bucket,)).fetchone() is None:
        raise BucketNotFound(bucket)


def _get_object(conn: sqlite3.Connection, bucket: str, key: str) -> ObjectRecord | None:
    row = conn.execute(f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket=? AND key=?", (bucket, key)).fetchone()
    return _object_from_row(row) if row else None


def _live(record: ObjectRecord | None) -> ObjectRecord | None:
    """The current version as a condition sees it: a delete marker is no object."""
    return None if record is None or record.delete_marker else record


def _get_version(conn: sqlite3.Connection, bucket: str, key: str, version_id: str) -> tuple[ObjectRecord | None, bool]:
    """The version with this id, and whether it is the current one."""
    row = conn.execute(f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket=? AND key=? AND version_id=?", (bucket, key, version_id)).fetchone()
    if row is not None:
        return _object_from_row(row), True
    # INDEXED BY: without statistics SQLite would walk the key's whole history by primary key.
    row = conn.execute(
        f"SELECT {_OBJECT_COLUMNS} FROM versions INDEXED BY versions_by_id WHERE bucket=? AND key=? AND version_id=?", (bucket, key, version_id)
    ).fetchone()
    return (_object_from_row(row), False) if row is not None else (None, False)


def _insert(conn: sqlite3.Connection, table: str, record: ObjectRecord) -> None:
    conn.execute(f"INSERT OR REPLACE INTO {table}({_OBJECT_COLUMNS}) VALUES({_OBJECT_SLOTS})", _object_row(record))


def _track_tiering(conn: sqlite3.Connection, record: ObjectRecord, fresh: bool = False) -> None:
    """Keep the version's row in tier_tasks as its state asks: due when a restore's copy is to be
    made ready (ongoing) or to go (ready); at once for bytes of a tiered class still on the drives;
    none otherwise. ``fresh``: a version just added, which has no row to remove (the one it
    replaced took its own along): an ordinary PUT costs no statement here."""
    r = record.restore
    if r is not None:
        due = r.ready_at if r.ongoing else r.expires
    elif (
        record.archive is None and record.storage_class in TIERED_CLASSES and record.size and not record.inline and not record.delete_marker
    ):
        due = time.time()
    else:
        if not fresh:
            conn.execute("DELETE FROM tier_tasks WHERE bucket=? AND key=? AND version_id=?", (record.bucket, record.key, record.version_id))
        return
    conn.execute(
        "INSERT OR REPLACE INTO tier_tasks(bucket, key, version_id, due) VALUES(?, ?, ?, ?)", (record.bucket, record.key, record.version_id, due)
    )


def _replicated(conn: sqlite3.Connection, record: ObjectRecord) -> bool:
    """Whether a change to this version is to be replicated: its bucket has a replication
    configuration, and it is no replica itself (which would send it back where it came from)."""
    if record.headers.get(REPLICATION_STATUS_HEADER) == REPLICA:
        return False
    row = conn.execute("SELECT json_type(config, '$.replication') FROM buckets WHERE name=?", (record.bucket,)).fetchone()
    return row is not None and row[0] is not None


def _queue_replication(conn: sqlite3.Connection, bucket: str, key: str, version_id: str, op: str) -> None:
    """Queue a version's replication; a change of metadata waiting behind its bytes rides with them."""
    now = time.time()
    conn.execute(
        "INSERT INTO replication(bucket, key, version_id, op, status, attempts, next_try, queued) VALUES(?,?,?,?,?,0,?,?) "
        "ON CONFLICT(bucket, key, version_id) DO UPDATE SET "
        "op=CASE WHEN replication.status='COMPLETED' THEN excluded.op WHEN replication.op='object' THEN 'object' ELSE excluded.op END, "
        "status='PENDING', attempts=0, next_try=excluded.next_try, error='', gen=replication.gen+1, "
        # A version queued again after it was done waits from now (its lag), not from its first time.
        "queued=CASE WHEN replication.status='COMPLETED' THEN excluded.queued ELSE replication.queued END",
        (bucket, key, version_id, op, PENDING, now, now),
    )


def _add_version(conn: sqlite3.Connection, record: ObjectRecord) -> ObjectRecord | None:
    """Add a version to its key's history; returns the version that leaves the index with it.

    The newest version (by seq) is the current one; the one it displaces becomes an older
    version. A ``null`` version replaces the key's null version, if there is one (unversioned
    and Suspended buckets), and a version with an id the version of that id (a replica sent
    again): that one is removed and its bytes reclaimed. If a newer null version got there first
    (two writes racing), the newer stays and ``record`` itself is the one removed.
    """
    if _replicated(conn, record):
        _queue_replication(conn, record.bucket, record.key, record.version_id, "object")
    current = _get_object(conn, record.bucket, record.key)
    removed = None
    # A null version replaces the key's null version; a version with an id replaces only itself
    # (a replica sent again: the same version, not a second one).
    if current is not None and current.version_id == record.version_id:
        old, old_is_current = current, True
    else:
        old, old_is_current = _get_version(conn, record.bucket, record.key, record.version_id)
    if old is not None:
        if old.seq > record.seq:
            _queue_reclaim(conn, (s.blob for s in record.segments))
            return record
        # A current version replaced gives its place straight to the newer record (no older
        # version is promoted only to be pushed down again).
        _remove_version(conn, old, old_is_current, promote=False)
        removed = old
        if old_is_current:
            current = None
    if current is None or record.seq > current.seq or (record.seq == current.seq == ""):
        if current is not None:
            conn.execute("DELETE FROM objects WHERE bucket=? AND key=?", (current.bucket, current.key))
            _insert(conn, "versions", current)
        _insert(conn, "objects", record)
    else:
        _insert(conn, "versions", record)
    _track_tiering(conn, record, fresh=True)
    return removed


def _remove_version(conn: sqlite3.Connection, record: ObjectRecord, is_current: bool, promote: bool = True) -> None:
    """Take a version out of the index, its bytes to reclaim; the newest older version, if any,
    becomes current in place of a current one (unless ``promote`` is off: a newer one comes)."""
    if is_current:
        conn.execute("DELETE FROM objects WHERE bucket=? AND key=?", (record.bucket, record.key))
        row = None if not promote else conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM versions WHERE bucket=? AND key=? ORDER BY seq DESC LIMIT 1", (record.bucket, record.key)
        ).fetchone()
        if row is not None:
            conn.execute("DELETE FROM versions WHERE bucket=? AND key=? AND seq=?", (record.bucket, record.key, row[_SEQ_AT]))
            conn.execute(f"INSERT INTO objects({_OBJECT_COLUMNS}) VALUES({_OBJECT_SLOTS})", row)
    else:
        conn.execute("DELETE FROM versions WHERE bucket=? AND key=? AND seq=?", (record.bucket, record.key, record.seq))
    _queue_reclaim(conn, (s.blob for s in record.segments if s.blob))
    if record.archive is not None:
        _queue_reclaim(conn, [record.archive.blob_id])
    if record.restore is not None or record.storage_class in TIERED_CLASSES:  # only these can have a tier task
        conn.execute("DELETE FROM tier_tasks WHERE bucket=? AND key=? AND version_id=?", (record.bucket, record.key, record.version_id))


def _delete_version(conn: sqlite3.Connection, bucket: str, key: str, version_id: str, guard: Guard | None = None) -> ObjectRecord | None:
    found, is_current = _get_version(conn, bucket, key, version_id)
    if found is not None:
        if guard is not None:
            guard(found)
        _remove_version(conn, found, is_current)
    return found


def _get_upload(conn: sqlite3.Connection, upload_id: str) -> Upload | None:
    row = conn.execute(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE upload_id=?", (upload_id,)).fetchone()
    return _upload_from_row(row) if row else None


def _drop_upload(conn: sqlite3.Connection, upload_id: str) -> None:
    _queue_reclaim(conn, [r[0] for r in conn.execute("SELECT blob FROM parts WHERE upload_id=?", (upload_id,))])
    conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
    conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))


def _list(
    conn: sqlite3.Connection,
    table: str,
    columns: str,
    from_row: Callable[[tuple], Any],
    bucket: str,
    prefix: str,
    delimiter: str,
    after: str,
    limit: int,
    where: str = "",
) -> Listing:
    """A page of ``table`` (the key its second column; ``where`` more conditions to AND in),
    following the seeks of the pure listing logic."""
    page = Page(prefix, delimiter, limit, from_row)
    bound = None if page.done else first_bound(prefix, delimiter, after)
    upper = prefix_end(prefix) if prefix else None
    batch = limit + 1 if not delimiter else min(limit + 1, 1000)
    while bound is not None:
        sql = f"SELECT {columns} FROM {table} WHERE bucket=? AND key {'>=' if bound.inclusive else '>'} ?{where}"
        args: list[Any] = [bucket, bound.key]
        if upper is not None:
            sql += " AND key < ?"
            args.append(upper)
        sql += " ORDER BY key LIMIT ?"
        args.append(batch)
        # Stepped lazily: after a common prefix the scan seeks past it, and rows fetched but
        # not looked at would be wasted (a page of 1,000 prefixes would read 1,000,000 rows).
        seek, read = page.take(conn.execute(sql, args))
        if page.done:
            break
        if seek is not None:
            bound = seek
        elif read < batch:
            break
        else:
            bound = Bound(page.last_key)
    return page.listing


def _list_uploads(
    conn: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    limit: int,
) -> Listing:
    page = Page(prefix, delimiter, limit, _upload_from_row)
    if page.done:
        return page.listing
    sql = f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket=?"
    args: list[Any] = [bucket]
    common = rolled_up_marker(key_marker, prefix, delimiter)
    if common is not None:
        after = prefix_end(common)
        if after is None:
            return page.listing
        sql += " AND key >= ?"
        args.append(after)
    elif key_marker:
        if upload_id_marker:
            sql += " AND (key > ? OR (key = ? AND upload_id > ?))"
            args += [key_marker, key_marker, upload_id_marker]
        else:
            sql += " AND key > ?"
            args.append(key_marker)
    where, more = _prefix_range("key", prefix)
    sql += where + " ORDER BY key, upload_id"
    args += more
    # One scan, no seeks: uploads under a common prefix already returned are skipped.
    page.take(conn.execute(sql, args), key_at=2, seek=False)
    return page.listing


# Newest first within a key: seqs compared backwards (a record without one, "", is the oldest).
_BACKWARDS = str.maketrans("0123456789abcdef", "fedcba9876543210")


def _version_order(row: tuple) -> tuple[str, str]:
    return row[1], row[11].translate(_BACKWARDS) + "~"


def _list_versions(
    conn: sqlite3.Connection, bucket: str, prefix: str, delimiter: str, key_marker: str, version_marker: str, limit: int
) -> Listing:
    """A page of versions: current rows (objects) and older ones (versions) merged in S3's
    order, each side an index range scan stepped lazily; a common prefix is skipped in one seek
    on both."""
    columns = _VERSION_LISTED_COLUMNS
    page = Page(prefix, delimiter, limit, _listed_version_from_row)
    if page.done:
        return page.listing
    bound = first_bound(prefix, delimiter, key_marker)
    upper = prefix_end(prefix) if prefix else None
    if version_marker and bound == Bound(key_marker):
        # The rest of the marker key's versions first: those older than the marker.
        marked, _ = _get_version(conn, bucket, key_marker, version_marker)
        if marked is not None:
            rest = conn.execute(
                f"SELECT {columns}, 0 FROM versions WHERE bucket=? AND key=? AND seq < ? ORDER BY seq DESC", (bucket, key_marker, marked.seq)
            )
            seek, _ = page.take(rest)
            if seek is not None:
                bound = seek
    while bound is not None and not page.done:
        condition = f"bucket=? AND key {'>=' if bound.inclusive else '>'} ?"
        args: list[Any] = [bucket, bound.key]
        if upper is not None:
            condition += " AND key < ?"
            args.append(upper)
        current = conn.execute(f"SELECT {columns}, 1 FROM objects WHERE {condition} ORDER BY key", args)
        older = conn.execute(f"SELECT {columns}, 0 FROM versions WHERE {condition} ORDER BY key, seq DESC", args)
        bound, _ = page.take(heapq.merge(current, older, key=_version_order))
    return page.listing
