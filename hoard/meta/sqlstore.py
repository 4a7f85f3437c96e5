"""What the SQL stores share: every ``MetaStore`` method, as operations on a connection.

``SqlMetaStore`` holds the store's logic once; ``SqliteMetaStore`` (``hoard.meta.sqlite``) and
``PostgresMetaStore`` (``hoard.meta.postgres``) subclass it with their plumbing: how an operation
gets a connection and a transaction (``_read``, ``_write``...). The SQL here is the dialect both
speak (SQLite 3.24+ and PostgreSQL: ``INSERT ... ON CONFLICT``), written with ``?`` parameters
and SQLite's spelling of the few things PostgreSQL says otherwise (``INDEXED BY``, the JSON
functions, ``GROUP_CONCAT``): the PostgreSQL connection rewrites those (``postgres._translate``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import heapq
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

from hoard.meta.errors import BucketExists, BucketNotEmpty, BucketNotFound, CommitFailed, UploadNotFound, VersionChanged
from hoard.meta.listing import Bound, Page, first_bound, prefix_end, rolled_up_marker
from hoard.meta.rows import (
    BUCKET_COLUMNS,
    LISTED_COLUMNS,
    OBJECT_COLUMNS,
    OBJECT_SLOTS,
    SEQ_AT,
    UPLOAD_COLUMNS,
    VERSION_LISTED_COLUMNS,
    add_usage,
    bucket_from_row,
    bucket_row,
    check_text,
    encryption_json,
    listed_from_row,
    listed_version_from_row,
    object_from_row,
    object_row,
    prefix_range,
    upload_from_row,
    upload_row,
    usage_list,
)
from hoard.model import (
    COMPLETED,
    FAILED,
    PENDING,
    REPLICA,
    REPLICATION_STATUS_HEADER,
    TIERED_CLASSES,
    Bucket,
    ClassUsage,
    CompletedUpload,
    Encryption,
    HealTask,
    Listing,
    ObjectRecord,
    Part,
    ReplicationTask,
    Upload,
)
from hoard.nowait import WouldBlock

log = logging.getLogger("hoard.meta")
Guard = Callable[[ObjectRecord], None]
NULL_VERSION = "null"  # the id of the version written where versioning is not Enabled
COMPLETED_UPLOAD_MEMORY = 86400.0
T = TypeVar("T")
# A connection inside a transaction: a sqlite3.Connection, or one that answers as it does
# (execute and executemany, returning cursors with fetchone, fetchall, rowcount, iteration).
Conn = Any
Settle = Callable[[Conn], bool]

# Replace a row: an upsert on the primary key (the same in SQLite and PostgreSQL).
_UPSERT_OBJECT = {
    table: f"INSERT INTO {table}({OBJECT_COLUMNS}) VALUES({OBJECT_SLOTS}) ON CONFLICT({pk}) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in OBJECT_COLUMNS.replace(" ", "").split(",") if c not in pk.replace(" ", "").split(","))
    for table, pk in (("objects", "bucket, key"), ("versions", "bucket, key, seq"))
}


def _queue_heal(conn: Conn, record: ObjectRecord) -> None:
    """A version some of whose files missed a drive: the healer refills them (``claim_heals``)."""
    conn.execute(
        # Queued again while claimed (its metadata changed under the heal): due at once, and the
        # claimer's heal_done or heal_later, which find their mark gone, leave it queued.
        "INSERT INTO heal_queue(bucket, key, version_id, not_before, attempts) VALUES(?, ?, ?, ?, 0) "
        "ON CONFLICT(bucket, key, version_id) DO UPDATE SET not_before=excluded.not_before, attempts=0",
        (record.bucket, record.key, record.version_id, time.time()),
    )


def _part(row: tuple) -> Part:
    return Part(*row[:-1], degraded=bool(row[-1]))


_PART_COLUMNS = "upload_id, number, size, etag, blob, last_modified, checksum, stored, degraded"


def _queue_reclaim(conn: Conn, blobs: Iterable[str]) -> None:
    now = time.time()
    conn.executemany("INSERT INTO reclaim(blob, queued) VALUES(?, ?) ON CONFLICT DO NOTHING", [(b, now) for b in blobs])


def commit_failed(error: BaseException) -> CommitFailed:
    failed = CommitFailed(f"the metadata commit failed: {error}")
    failed.__cause__ = error
    return failed


# Marks the subquery a claim takes its rows from: PostgreSQL skips rows another transaction is
# claiming rather than wait for them (FOR UPDATE SKIP LOCKED); to SQLite, one writer at a time,
# it is a comment.
SKIP_LOCKED = " /*skip-locked*/"

class SqlMetaStore:
    """The ``MetaStore`` (``hoard.meta.store``) on a SQL connection; subclasses give the plumbing."""

    # -- plumbing, given by each store ------------------------------------------------------
    def _read_sync(self, fn: Callable[[Conn], T]) -> T:
        """``fn`` on a connection that sees every committed write. Blocks."""
        raise NotImplementedError

    def _snapshot_sync(self, fn: Callable[[Conn], T]) -> T:
        """``fn`` reading one snapshot of every table. Blocks."""
        raise NotImplementedError

    def _read_nowait(self, fn: Callable[[Conn], T]) -> T:
        """``fn`` in the event loop if it need not wait, else WouldBlock."""
        raise WouldBlock("this store always waits")

    def _read_statement_sync(self, fn: Callable[[Conn], T]) -> T:
        """``fn`` that runs a single statement (which sees one snapshot by itself): a store may
        spare it the transaction around it. Blocks."""
        return self._read_sync(fn)

    def _write_sync(self, fn: Callable[[Conn], T], settle: Settle | None = None, idempotent: bool = False) -> T:
        """``fn`` in a write transaction, committed durably before it returns. Blocks.

        For a store whose COMMIT can be lost with its connection (PostgreSQL): ``settle`` reads
        back, in a new transaction, whether the write did commit; ``idempotent`` says running it
        again is as good (neither: the store answers CommitFailed, never guesses)."""
        raise NotImplementedError

    def _write_background(self, fn: Callable[[Conn], Any]) -> concurrent.futures.Future:
        """``fn`` written later, by another thread; returns at once."""
        raise NotImplementedError

    async def _read(self, fn: Callable[[Conn], T]) -> T:
        return await asyncio.to_thread(self._read_sync, fn)

    async def _read_point(self, fn: Callable[[Conn], T], one_statement: bool = False) -> T:
        """A read of a row or two: in the event loop if it need not wait (see ``hoard.nowait``),
        else in a worker thread. Not for scans: those would hold up every other request.
        ``one_statement``: ``fn`` runs a single statement (``_read_statement_sync``)."""
        try:
            return self._read_nowait(fn)
        except WouldBlock:
            if one_statement:
                return await asyncio.to_thread(self._read_statement_sync, fn)
            return await self._read(fn)

    async def _write(self, fn: Callable[[Conn], T], settle: Settle | None = None, idempotent: bool = False) -> T:
        return await asyncio.to_thread(self._write_sync, fn, settle, idempotent)

    # -- buckets --------------------------------------------------------------------------
    async def create_bucket(self, bucket: Bucket) -> None:
        check_text(bucket.name)

        def op(conn: Conn) -> None:
            row = conn.execute("SELECT owner_id FROM buckets WHERE name=?", (bucket.name,)).fetchone()
            if row is not None:
                raise BucketExists(bucket.name, same_owner=row[0] == bucket.owner_id)
            conn.execute(f"INSERT INTO buckets({BUCKET_COLUMNS}) VALUES(?,?,?,?,?)", bucket_row(bucket))

        await self._write(op, settle=lambda c: c.execute("SELECT 1 FROM buckets WHERE name=? AND owner_id=? AND created=?", (bucket.name, bucket.owner_id, bucket.created)).fetchone() is not None)

    async def get_bucket(self, name: str) -> Bucket | None:
        check_text(name)
        row = await self._read_point(lambda c: c.execute(f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE name=?", (name,)).fetchone(), one_statement=True)
        return bucket_from_row(row) if row else None

    async def set_bucket_config(self, name: str, config_name: str, value: Any) -> Bucket:
        def op(conn: Conn) -> Bucket:
            row = conn.execute(f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE name=?", (name,)).fetchone()
            if row is None:
                raise BucketNotFound(name)
            bucket = bucket_from_row(row)
            config = dict(bucket.config)
            if value is None:
                config.pop(config_name, None)
            else:
                config[config_name] = value
            updated = dataclasses.replace(bucket, config=config)
            conn.execute("UPDATE buckets SET config=? WHERE name=?", (bucket_row(updated)[4], name))
            return updated

        return await self._write(op, idempotent=True)

    async def list_buckets(self, prefix: str, after: str, limit: int, owner: str | None = None) -> list[Bucket]:
        check_text(prefix, after)

        def op(conn: Conn) -> list[Bucket]:
            sql = f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE name > ?"
            args: list[Any] = [after]
            if owner is not None:
                sql += " AND owner_id=?"
                args.append(owner)
            where, more = prefix_range("name", prefix)
            sql += where
            args += more
            sql += " ORDER BY name LIMIT ?"
            args.append(limit)
            return [bucket_from_row(r) for r in conn.execute(sql, args)]

        return await self._read(op)

    async def delete_bucket(self, name: str) -> None:
        def op(conn: Conn) -> None:
            if conn.execute("SELECT 1 FROM buckets WHERE name=?", (name,)).fetchone() is None:
                raise BucketNotFound(name)
            # Every key with versions has a current one (a delete marker, maybe): objects says it all.
            if conn.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone():
                raise BucketNotEmpty(name)
            uploads = [r[0] for r in conn.execute("SELECT upload_id FROM uploads WHERE bucket=?", (name,))]
            for upload_id in uploads:
                _drop_upload(conn, upload_id)
            conn.execute("DELETE FROM buckets WHERE name=?", (name,))

        await self._write(op, settle=lambda c: c.execute("SELECT 1 FROM buckets WHERE name=?", (name,)).fetchone() is None)

    # -- objects --------------------------------------------------------------------------
    async def put_object(
        self,
        record: ObjectRecord,
        precondition: Callable[[ObjectRecord | None], None] | None = None,
        heal: bool = False,
    ) -> ObjectRecord | None:
        """Add ``record`` as its key's newest version (see ``_add_version``); returns the version
        it removed, whose bytes are queued for reclaim.

        ``precondition`` sees the current object inside the transaction (conditional writes;
        None when there is none or it is a delete marker). ``heal``: its files missed a drive,
        and it is queued for healing in the same transaction.
        """

        check_text(record.bucket, record.key)

        def check(state: _KeyState) -> None:
            if precondition is not None:
                precondition(_live(state.current))

        def apply(conn: Conn, state: _KeyState) -> ObjectRecord | None:
            old = _add_version(conn, record, state)
            if heal:
                _queue_heal(conn, record)
            return old

        return await self._write(KeyWrite(record, check, apply), settle=lambda c: _version_written(c, record))

    async def replace_version(self, old: ObjectRecord, new: ObjectRecord, reclaim: Iterable[str] = (), heal: bool = False) -> None:
        """Put ``new`` (the same bytes, other metadata: tags, ...) in place of ``old``, if ``old``
        is still there, current or not; its shard files stay in use, but for ``reclaim`` (the
        shards of bytes that moved to a tier, or of a restored copy that expired).
        VersionChanged otherwise. The restores table follows ``new.restore``. ``heal``: as
        put_object's."""
        reclaim = list(reclaim)
        check_text(new.bucket, new.key)

        def op(conn: Conn) -> None:
            found, current = _get_version(conn, old.bucket, old.key, old.version_id)
            if found is None or found.data_id != old.data_id:
                raise VersionChanged(f"{old.bucket}/{old.key} changed while its metadata was being replaced")
            _insert(conn, "objects" if current else "versions", new)
            _track_tiering(conn, new)
            _queue_reclaim(conn, reclaim)
            if heal:
                _queue_heal(conn, new)
            if _replicated(conn, new) and new.restore == old.restore and new.archive == old.archive and _replica_sees(old, new):
                _queue_replication(conn, new.bucket, new.key, new.version_id, "meta")

        await self._write(op, settle=lambda c: _get_version(c, new.bucket, new.key, new.version_id)[0] == new)

    def get_object_sync(self, bucket: str, key: str) -> ObjectRecord | None:
        check_text(bucket, key)
        return self._read_sync(lambda c: _get_object(c, bucket, key))

    def get_object_nowait(self, bucket: str, key: str) -> ObjectRecord | None:
        check_text(bucket, key)
        return self._read_nowait(lambda c: _get_object(c, bucket, key))

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        check_text(bucket, key)
        return await self._read_point(lambda c: _get_object(c, bucket, key), one_statement=True)

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        return await self.delete_version(bucket, key, NULL_VERSION)

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[ObjectRecord | None]:
        """Delete each key's null version; returns the records removed (None where there was none)."""
        return await self.delete_versions(bucket, [(key, NULL_VERSION) for key in keys])

    async def delete_version(self, bucket: str, key: str, version_id: str, guard: Guard | None = None) -> ObjectRecord | None:
        return (await self.delete_versions(bucket, [(key, version_id)], guard))[0]

    async def delete_versions(self, bucket: str, versions: list[tuple[str, str]], guard: Guard | None = None) -> list[ObjectRecord | None]:
        check_text(bucket, *(k for k, _ in versions), *(v for _, v in versions))

        def op(conn: Conn) -> list[ObjectRecord | None]:
            _require_bucket(conn, bucket)
            return [_delete_version(conn, bucket, key, version_id, guard) for key, version_id in versions]

        return await self._write(op, settle=lambda c: all(_get_version(c, bucket, k, v)[0] is None for k, v in versions))

    async def get_version(self, bucket: str, key: str, version_id: str) -> ObjectRecord | None:
        check_text(bucket, key, version_id)
        return await self._read_point(lambda c: _get_version(c, bucket, key, version_id)[0])

    async def get_versions(self, bucket: str, key: str) -> list[ObjectRecord]:
        check_text(bucket, key)

        def op(conn: Conn) -> list[ObjectRecord]:
            current = _get_object(conn, bucket, key)
            older = conn.execute(f"SELECT {OBJECT_COLUMNS} FROM versions WHERE bucket=? AND key=? ORDER BY seq DESC", (bucket, key))
            return ([current] if current else []) + [object_from_row(r) for r in older]

        return await self._read(op)

    async def list_versions(
        self, bucket: str, prefix: str, delimiter: str, key_marker: str, version_marker: str, limit: int
    ) -> Listing:
        """A page of every version (``ListedObject`` with version id, is-latest and delete-marker
        flags) in S3's order: key ascending, newest version first; after ``version_marker`` of
        ``key_marker`` when given, else after ``key_marker``."""

        check_text(bucket, prefix, delimiter, key_marker, version_marker)

        def op(conn: Conn) -> Listing:
            return _list_versions(conn, bucket, prefix, delimiter, key_marker, version_marker, limit)

        return await self._read(op)

    async def list_objects(
        self, bucket: str, prefix: str, delimiter: str, after: str, limit: int
    ) -> Listing:
        """Keys after ``after`` in UTF-8 byte order; a delimiter rolls keys up into common prefixes.

        A common prefix is skipped in one index seek, so a page costs the same whatever lies under it.
        """

        check_text(bucket, prefix, delimiter, after)

        def op(conn: Conn) -> Listing:
            return _list(conn, "objects", LISTED_COLUMNS, listed_from_row, bucket, prefix, delimiter, after, limit, " AND delete_marker=0")

        if delimiter:  # a page may seek past common prefixes: several statements, one snapshot
            return await self._read(op)
        return await asyncio.to_thread(self._read_statement_sync, op)  # one statement reads the page

    # -- multipart ------------------------------------------------------------------------
    async def create_upload(self, upload: Upload) -> None:
        check_text(upload.bucket, upload.key)

        def op(conn: Conn) -> None:
            _require_bucket(conn, upload.bucket)
            conn.execute(f"INSERT INTO uploads({UPLOAD_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", upload_row(upload))

        await self._write(op, settle=lambda c: _get_upload(c, upload.upload_id) is not None)

    async def set_upload_encryption(self, upload_id: str, old: Encryption, new: Encryption) -> bool:
        def op(conn: Conn) -> bool:
            changed = conn.execute(
                "UPDATE uploads SET encryption=? WHERE upload_id=? AND encryption=?", (encryption_json(new), upload_id, encryption_json(old))
            )
            return changed.rowcount == 1

        return await self._write(op, settle=lambda c: _get_upload(c, upload_id) is not None and _get_upload(c, upload_id).encryption == new)

    async def get_upload(self, upload_id: str) -> Upload | None:
        return await self._read(lambda c: _get_upload(c, upload_id))

    async def put_part(self, part: Part) -> None:
        def op(conn: Conn) -> None:
            if _get_upload(conn, part.upload_id) is None:
                raise UploadNotFound(part.upload_id)
            old = conn.execute(
                "SELECT blob FROM parts WHERE upload_id=? AND number=?", (part.upload_id, part.number)
            ).fetchone()
            if old:
                _queue_reclaim(conn, [old[0]])
            conn.execute(
                f"INSERT INTO parts({_PART_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(upload_id, number) DO UPDATE SET size=excluded.size, etag=excluded.etag, blob=excluded.blob, "
                "last_modified=excluded.last_modified, checksum=excluded.checksum, stored=excluded.stored, degraded=excluded.degraded",
                (part.upload_id, part.number, part.size, part.etag, part.blob, part.last_modified, part.checksum, part.stored, int(part.degraded)),
            )

        await self._write(op, settle=lambda c: c.execute("SELECT 1 FROM parts WHERE upload_id=? AND number=? AND blob=?", (part.upload_id, part.number, part.blob)).fetchone() is not None)

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        def op(conn: Conn) -> list[Part]:
            rows = conn.execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id=? AND number>? ORDER BY number LIMIT ?",
                (upload_id, after, limit),
            )
            return [_part(r) for r in rows]

        return await self._read(op)

    async def complete_upload(
        self,
        upload_id: str,
        build: Callable[[Upload, dict[int, Part]], tuple[ObjectRecord, set[int]]],
        precondition: Callable[[ObjectRecord | None], None] | None = None,
        before_commit: Callable[[ObjectRecord], None] | None = None,
        heal: bool = False,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Turn an upload into an object in one transaction; returns it and the version it removed
        (it is added as a new version: ``_add_version``).

        ``build`` validates the client's part list against the stored parts and returns the
        object and the part numbers it uses; parts it does not use are reclaimed. The object is
        queued for healing if ``heal`` (its records missed a drive) or a part it uses missed one.
        """

        def op(conn: Conn) -> ObjectRecord:
            upload = _get_upload(conn, upload_id)
            if upload is None:
                raise UploadNotFound(upload_id)
            rows = conn.execute(f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id=?", (upload_id,))
            parts = {r[1]: _part(r) for r in rows}
            record, used = build(upload, parts)
            state = _key_state(conn, record)
            if precondition is not None:
                precondition(_live(state.current))
            if before_commit is not None:
                before_commit(record)
            old = _add_version(conn, record, state)
            if heal or any(p.degraded for n, p in parts.items() if n in used):
                _queue_heal(conn, record)
            _queue_reclaim(conn, (p.blob for n, p in parts.items() if n not in used))
            conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
            # Remembered so that a client retrying a complete whose answer it lost gets the
            # same answer; kept for a day.
            conn.execute("DELETE FROM completed_uploads WHERE completed < ?", (record.last_modified - COMPLETED_UPLOAD_MEMORY,))
            conn.execute(
                "INSERT INTO completed_uploads(upload_id, bucket, key, etag, checksum_algorithm, checksum_value, checksum_type, completed) "
                "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(upload_id) DO UPDATE SET bucket=excluded.bucket, key=excluded.key, etag=excluded.etag, "
                "checksum_algorithm=excluded.checksum_algorithm, checksum_value=excluded.checksum_value, "
                "checksum_type=excluded.checksum_type, completed=excluded.completed",
                (
                    upload_id, record.bucket, record.key, record.etag, record.checksum_algorithm,
                    record.checksum_value, record.checksum_type, record.last_modified,
                ),
            )
            return record, old

        return await self._write(op, settle=lambda c: _get_upload(c, upload_id) is None and c.execute("SELECT 1 FROM completed_uploads WHERE upload_id=?", (upload_id,)).fetchone() is not None)

    async def get_completed_upload(self, upload_id: str) -> CompletedUpload | None:
        """What a recently completed upload became (for a retried CompleteMultipartUpload)."""

        def op(conn: Conn) -> CompletedUpload | None:
            row = conn.execute(
                "SELECT upload_id, bucket, key, etag, checksum_algorithm, checksum_value, checksum_type, completed "
                "FROM completed_uploads WHERE upload_id=?",
                (upload_id,),
            ).fetchone()
            return CompletedUpload(*row) if row else None

        return await self._read(op)

    async def abort_upload(self, upload_id: str) -> None:
        def op(conn: Conn) -> None:
            if _get_upload(conn, upload_id) is None:
                raise UploadNotFound(upload_id)
            _drop_upload(conn, upload_id)

        await self._write(op, settle=lambda c: _get_upload(c, upload_id) is None)

    async def list_uploads(
        self, bucket: str, prefix: str, delimiter: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> Listing:
        check_text(bucket, prefix, delimiter, key_marker, upload_id_marker)

        def op(conn: Conn) -> Listing:
            return _list_uploads(conn, bucket, prefix, delimiter, key_marker, upload_id_marker, limit)

        return await self._read(op)

    # -- reclaiming bytes -----------------------------------------------------------------
    async def reclaimable(self, older_than: float, limit: int) -> list[str]:
        return await self._read(
            lambda c: [r[0] for r in c.execute("SELECT blob FROM reclaim WHERE queued < ? LIMIT ?", (older_than, limit))]
        )

    async def claim_reclaimable(self, older_than: float, limit: int, claim_seconds: float) -> list[str]:
        def op(conn: Conn) -> list[str]:
            # The claim moves the entry's time on, so no other claimer sees it until the claim
            # lapses (its claimer died before ``reclaimed``).
            rows = conn.execute(
                f"UPDATE reclaim SET queued=? WHERE blob IN (SELECT blob FROM reclaim WHERE queued < ? ORDER BY queued LIMIT ?{SKIP_LOCKED}) "
                "RETURNING blob",
                (older_than + claim_seconds, older_than, limit),
            ).fetchall()
            return [r[0] for r in rows]

        return await self._write(op, idempotent=True)  # run again: another batch, the lost one lapses

    async def reclaimed(self, blobs: list[str]) -> None:
        await self._write(lambda c: c.executemany("DELETE FROM reclaim WHERE blob=?", [(b,) for b in blobs]) and None, idempotent=True)

    def named(self, shards: Collection[str], records: Collection[str]) -> tuple[set[str], set[str]]:
        wanted_shards, wanted_records = set(shards), set(records)
        if not wanted_shards and not wanted_records:
            return set(), set()

        def op(conn: Conn) -> tuple[set[str], set[str]]:
            found_shards: set[str] = set()
            found_records: set[str] = set()
            # Neither id has an index (shard ids live inside the segments' JSON): one pass over
            # each table, keeping only what was asked about.
            for table in ("objects", "versions"):
                for segments, data_id in conn.execute(f"SELECT segments, data_id FROM {table}"):
                    if data_id in wanted_records:
                        found_records.add(data_id)
                    if wanted_shards:
                        found_shards.update(s[0] for s in json.loads(segments) if s[0] in wanted_shards)
            if wanted_shards:
                found_shards.update(r[0] for r in conn.execute("SELECT blob FROM parts") if r[0] in wanted_shards)
                found_shards.update(r[0] for r in conn.execute("SELECT blob FROM reclaim") if r[0] in wanted_shards)
            return found_shards, found_records

        return self._snapshot_sync(op)  # one snapshot for every table

    # -- walking and rebuilding -----------------------------------------------------------
    async def objects_after(self, bucket: str, key: str, limit: int, prefix_bucket: str = "", prefix: str = "") -> list[ObjectRecord]:
        """Every version of up to ``limit`` keys after (bucket, key) in index order (each key's
        versions newest first), optionally only one bucket and key prefix."""
        check_text(bucket, key, prefix_bucket, prefix)

        def op(conn: Conn) -> list[ObjectRecord]:
            sql = f"SELECT {OBJECT_COLUMNS} FROM objects WHERE (bucket > ? OR (bucket = ? AND key > ?))"
            args: list[Any] = [bucket, bucket, key]
            if prefix_bucket:
                where, more = prefix_range("key", prefix)
                sql += " AND bucket = ?" + where
                args += [prefix_bucket, *more]
            sql += " ORDER BY bucket, key LIMIT ?"
            args.append(limit)
            out: list[ObjectRecord] = []
            for row in conn.execute(sql, args).fetchall():
                out.append(object_from_row(row))
                older = conn.execute(f"SELECT {OBJECT_COLUMNS} FROM versions WHERE bucket=? AND key=? ORDER BY seq DESC", (row[0], row[1]))
                out.extend(object_from_row(r) for r in older)
            return out

        return await self._read(op)

    async def count_objects(self, bucket: str = "", prefix: str = "") -> int:
        check_text(bucket, prefix)

        def op(conn: Conn) -> int:
            if not bucket:
                return conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
            where, args = prefix_range("key", prefix)
            return conn.execute("SELECT COUNT(*) FROM objects WHERE bucket = ?" + where, [bucket, *args]).fetchone()[0]

        return await self._read(op)

    # -- damage found by reads in other worker processes, for the leader's healer ---------
    def report_damage(self, bucket: str, key: str) -> None:
        """Queue a repair; callable from any thread, returns at once (a lost report is only a
        later repair: the scanner finds the damage too)."""

        check_text(bucket, key)

        def op(conn: Conn) -> None:
            conn.execute("INSERT INTO damage_reports(bucket, key) VALUES(?, ?) ON CONFLICT DO NOTHING", (bucket, key))

        def logged(fut: concurrent.futures.Future) -> None:
            if fut.exception() is not None:
                log.warning("could not report damage to %s/%s: %s", bucket, key, fut.exception())

        self._write_background(op).add_done_callback(logged)

    async def take_damage_reports(self, limit: int = 100) -> list[tuple[str, str]]:
        def waiting(conn: Conn) -> bool:
            return conn.execute("SELECT 1 FROM damage_reports LIMIT 1").fetchone() is not None

        def op(conn: Conn) -> list[tuple[str, str]]:
            rows = conn.execute("SELECT bucket, key FROM damage_reports LIMIT ?", (limit,)).fetchall()
            conn.executemany("DELETE FROM damage_reports WHERE bucket=? AND key=?", rows)
            return [(b, k) for b, k in rows]

        # Nearly always empty: look before taking the write lock.
        if not await self._read_point(waiting):
            return []
        return await self._write(op, idempotent=True)

    # -- writes that missed a drive, queued by their commit -------------------------------
    async def claim_heals(self, now: float, limit: int, claim_seconds: float) -> list[HealTask]:
        def op(conn: Conn) -> list[HealTask]:
            # As claim_reclaimable: the claim moves the row's time on until it lapses.
            rows = conn.execute(
                "UPDATE heal_queue SET not_before=? WHERE (bucket, key, version_id) IN ("
                f"SELECT bucket, key, version_id FROM heal_queue WHERE not_before <= ? ORDER BY not_before LIMIT ?{SKIP_LOCKED}) "
                "RETURNING bucket, key, version_id, attempts, not_before",
                (now + claim_seconds, now, limit),
            ).fetchall()
            return [HealTask(*row) for row in rows]

        return await self._write(op, idempotent=True)

    async def heal_done(self, task: HealTask) -> None:
        def op(conn: Conn) -> None:
            conn.execute(
                "DELETE FROM heal_queue WHERE bucket=? AND key=? AND version_id=? AND not_before=?",
                (task.bucket, task.key, task.version_id, task.claimed_until),
            )

        await self._write(op, idempotent=True)

    async def heal_later(self, task: HealTask, not_before: float) -> None:
        def op(conn: Conn) -> None:
            conn.execute(
                "UPDATE heal_queue SET not_before=?, attempts=attempts + 1 WHERE bucket=? AND key=? AND version_id=? AND not_before=?",
                (not_before, task.bucket, task.key, task.version_id, task.claimed_until),
            )

        await self._write(op, idempotent=True)

    async def hurry_heals(self, now: float) -> int:
        def op(conn: Conn) -> int:
            return conn.execute("UPDATE heal_queue SET not_before=? WHERE not_before > ?", (now, now)).rowcount

        return await self._write(op, idempotent=True)

    # -- replication ------------------------------------------------------------------------
    async def replication_due(self, now: float, limit: int) -> list[ReplicationTask]:
        def op(conn: Conn) -> list[ReplicationTask]:
            rows = conn.execute(
                "SELECT bucket, key, version_id, op, attempts, queued, error, gen FROM replication INDEXED BY replication_due "
                "WHERE status IN (?, ?) AND next_try <= ? ORDER BY next_try LIMIT ?",
                (PENDING, FAILED, now, limit),
            ).fetchall()
            return [ReplicationTask(*row) for row in rows]

        return await self._read(op)

    async def claim_replication_due(self, now: float, limit: int, claim_seconds: float) -> list[ReplicationTask]:
        def op(conn: Conn) -> list[ReplicationTask]:
            rows = conn.execute(
                "UPDATE replication SET next_try=? WHERE (bucket, key, version_id) IN ("
                "SELECT bucket, key, version_id FROM replication INDEXED BY replication_due "
                f"WHERE status IN (?, ?) AND next_try <= ? ORDER BY next_try LIMIT ?{SKIP_LOCKED}) "
                "RETURNING bucket, key, version_id, op, attempts, queued, error, gen",
                (now + claim_seconds, PENDING, FAILED, now, limit),
            ).fetchall()
            return sorted((ReplicationTask(*row) for row in rows), key=lambda t: t.queued)

        return await self._write(op, idempotent=True)

    async def replication_done(self, task: ReplicationTask) -> None:
        def op(conn: Conn) -> None:
            # Only if nothing was queued for the version meanwhile (the generation it was taken at).
            conn.execute(
                "UPDATE replication SET status=?, error='' WHERE bucket=? AND key=? AND version_id=? AND gen=?",
                (COMPLETED, task.bucket, task.key, task.version_id, task.gen),
            )

        await self._write(op, idempotent=True)

    async def replication_failed(self, task: ReplicationTask, error: str, retry_at: float, failed: bool) -> None:
        def op(conn: Conn) -> None:
            conn.execute(
                "UPDATE replication SET status=?, attempts=attempts+1, next_try=?, error=? WHERE bucket=? AND key=? AND version_id=? AND gen=?",
                (FAILED if failed else PENDING, retry_at, error[:1000], task.bucket, task.key, task.version_id, task.gen),
            )

        await self._write(op)  # not run twice: attempts would count one too many

    async def replication_forget(self, task: ReplicationTask) -> None:
        def op(conn: Conn) -> None:
            conn.execute("DELETE FROM replication WHERE bucket=? AND key=? AND version_id=? AND gen=?", (task.bucket, task.key, task.version_id, task.gen))

        await self._write(op, idempotent=True)

    async def replication_status(self, bucket: str, key: str, version_id: str) -> str | None:
        def op(conn: Conn) -> str | None:
            row = conn.execute("SELECT status FROM replication WHERE bucket=? AND key=? AND version_id=?", (bucket, key, version_id)).fetchone()
            return row[0] if row else None

        return await self._read_point(op)

    async def replication_queue_bucket(self, bucket: str) -> int:
        def op(conn: Conn) -> int:
            count = 0
            for table in ("objects", "versions"):
                rows = conn.execute(f"SELECT key, version_id, headers FROM {table} WHERE bucket=?", (bucket,)).fetchall()
                for key, version_id, headers in rows:
                    if json.loads(headers).get(REPLICATION_STATUS_HEADER) == REPLICA:
                        continue
                    _queue_replication(conn, bucket, key, version_id, "object")
                    count += 1
            return count

        return await self._write(op, idempotent=True)

    # -- archival restores and storage usage ------------------------------------------------
    async def tier_tasks_due(self, now: float, limit: int) -> list[tuple[str, str, str, float]]:
        def op(conn: Conn) -> list[tuple[str, str, str, float]]:
            rows = conn.execute("SELECT bucket, key, version_id, due FROM tier_tasks WHERE due <= ? ORDER BY due LIMIT ?", (now, limit))
            return [tuple(r) for r in rows.fetchall()]

        return await self._read(op)

    async def next_tier_task(self) -> float | None:
        return await self._read(lambda c: c.execute("SELECT MIN(due) FROM tier_tasks").fetchone()[0])

    async def tier_task_reschedule(self, bucket: str, key: str, version_id: str, due: float, new_due: float | None) -> None:
        def op(conn: Conn) -> None:
            where = "bucket=? AND key=? AND version_id=? AND due=?"
            if new_due is None:
                conn.execute(f"DELETE FROM tier_tasks WHERE {where}", (bucket, key, version_id, due))
            else:
                conn.execute(f"UPDATE tier_tasks SET due=? WHERE {where}", (new_due, bucket, key, version_id, due))

        await self._write(op, idempotent=True)

    async def usage(self, min_billable: dict[str, int]) -> list[ClassUsage]:
        def op(conn: Conn) -> list[ClassUsage]:
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
                    smalls = [int(x) for x in small.split(",")] if small and min_billable.get(sclass) else []
                    add_usage(out, min_billable, bucket, sclass, count, size, archived, stored, smalls)
            return usage_list(out)

        return await self._read(op)

    async def replication_backlog(self, bucket: str = "") -> dict[str, float]:
        def op(conn: Conn) -> dict[str, float]:
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
        def op(conn: Conn) -> dict[str, int]:
            def count(sql: str, *args: str) -> int:
                return conn.execute(sql, args).fetchone()[0]

            # The replication counts are ranges of the replication_due index (status first).
            return {
                "reclaim": count("SELECT COUNT(*) FROM reclaim"),
                "heal": count("SELECT COUNT(*) FROM heal_queue"),
                "tier_tasks": count("SELECT COUNT(*) FROM tier_tasks"),
                "replication_pending": count("SELECT COUNT(*) FROM replication WHERE status=?", PENDING),
                "replication_failed": count("SELECT COUNT(*) FROM replication WHERE status=?", FAILED),
            }

        return self._read_sync(op)

    def get_setting_sync(self, name: str) -> str | None:
        row = self._read_sync(lambda c: c.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone())
        return row[0] if row else None

    def settings_with_prefix_sync(self, prefix: str) -> dict[str, str]:
        def op(conn: Conn) -> dict[str, str]:
            sql, args = prefix_range("name", prefix)
            return dict(conn.execute("SELECT name, value FROM settings WHERE TRUE" + sql, args).fetchall())

        return self._read_sync(op)

    def set_setting_sync(self, name: str, value: str) -> None:
        self._write_sync(lambda c: c.execute("INSERT INTO settings(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value=excluded.value", (name, value)) and None, idempotent=True)

    def replace_contents(self, buckets: list[Bucket], records: list[ObjectRecord]) -> None:
        """Make the index hold exactly these buckets and object versions (rebuilding from the drives).

        Uploads in progress whose bucket survives are kept; replaced versions' bytes are left to
        the orphan sweep, which checks the drives against the new contents.
        """

        def op(conn: Conn) -> None:
            conn.execute("DELETE FROM objects")
            conn.execute("DELETE FROM versions")
            conn.execute("DELETE FROM buckets")
            conn.executemany(f"INSERT INTO buckets({BUCKET_COLUMNS}) VALUES(?,?,?,?,?)", [bucket_row(b) for b in buckets])
            # Each key's newest version is its current one; the others are older versions.
            newest: dict[tuple[str, str], ObjectRecord] = {}
            for r in records:
                best = newest.get((r.bucket, r.key))
                if best is None or r.seq > best.seq:
                    newest[(r.bucket, r.key)] = r
            current = set(map(id, newest.values()))
            conn.executemany(_UPSERT_OBJECT["objects"], [object_row(r) for r in newest.values()])
            older = [object_row(r) for r in records if id(r) not in current]
            conn.executemany(_UPSERT_OBJECT["versions"], older)
            for (upload_id,) in conn.execute("SELECT upload_id FROM uploads WHERE bucket NOT IN (SELECT name FROM buckets)").fetchall():
                _drop_upload(conn, upload_id)

        self._write_sync(op, idempotent=True)



# -- helpers that run inside a transaction ----------------------------------------------------
def _require_bucket(conn: Conn, bucket: str) -> None:
    if conn.execute("SELECT 1 FROM buckets WHERE name=?", (bucket,)).fetchone() is None:
        raise BucketNotFound(bucket)


def _bucket_replicates(conn: Conn, bucket: str) -> bool | None:
    """Whether the bucket has a replication configuration; None if there is no such bucket."""
    row = conn.execute("SELECT json_type(config, '$.replication') FROM buckets WHERE name=?", (bucket,)).fetchone()
    return None if row is None else row[0] is not None


def _get_object(conn: Conn, bucket: str, key: str) -> ObjectRecord | None:
    row = conn.execute(f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket=? AND key=?", (bucket, key)).fetchone()
    return object_from_row(row) if row else None


def _version_written(conn: Conn, record: ObjectRecord) -> bool:
    """Whether ``record`` is in the index (its version id with its data id): a lost COMMIT of a
    write that added it did commit. (One that added it only to remove it at once, a null version
    a newer one raced ahead of, reads as not committed and is run again: to the same end.)"""
    found, _ = _get_version(conn, record.bucket, record.key, record.version_id)
    return found is not None and found.data_id == record.data_id


def _live(record: ObjectRecord | None) -> ObjectRecord | None:
    """The current version as a condition sees it: a delete marker is no object."""
    return None if record is None or record.delete_marker else record


def _get_version(conn: Conn, bucket: str, key: str, version_id: str) -> tuple[ObjectRecord | None, bool]:
    """The version with this id, and whether it is the current one."""
    row = conn.execute(f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket=? AND key=? AND version_id=?", (bucket, key, version_id)).fetchone()
    if row is not None:
        return object_from_row(row), True
    return _get_older_version(conn, bucket, key, version_id), False


def _get_older_version(conn: Conn, bucket: str, key: str, version_id: str) -> ObjectRecord | None:
    """The version with this id among the key's older (not current) versions."""
    # INDEXED BY: without statistics SQLite would walk the key's whole history by primary key.
    row = conn.execute(
        f"SELECT {OBJECT_COLUMNS} FROM versions INDEXED BY versions_by_id WHERE bucket=? AND key=? AND version_id=?", (bucket, key, version_id)
    ).fetchone()
    return object_from_row(row) if row is not None else None


def _insert(conn: Conn, table: str, record: ObjectRecord) -> None:
    # Nobody reads its answer: a connection that can send such statements together (the
    # PostgreSQL store's, in a batch: ``execute_unread``) does.
    getattr(conn, "execute_unread", conn.execute)(_UPSERT_OBJECT[table], object_row(record))


def _track_tiering(conn: Conn, record: ObjectRecord, fresh: bool = False) -> None:
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
        "INSERT INTO tier_tasks(bucket, key, version_id, due) VALUES(?, ?, ?, ?) ON CONFLICT(bucket, key, version_id) DO UPDATE SET due=excluded.due", (record.bucket, record.key, record.version_id, due)
    )


def _replicated(conn: Conn, record: ObjectRecord, configured: bool | None = None) -> bool:
    """Whether a change to this version is to be replicated: its bucket has a replication
    configuration (``configured``, when the caller has read it already), and it is no replica
    itself (which would send it back where it came from)."""
    if record.headers.get(REPLICATION_STATUS_HEADER) == REPLICA:
        return False
    if configured is None:
        configured = _bucket_replicates(conn, record.bucket)
    return bool(configured)


def _replica_sees(old: ObjectRecord, new: ObjectRecord) -> bool:
    """Whether a replica would see the change: not a new record file alone, nor the version's data
    key sealed anew (a master key rotation), nor its bytes moved to another pool, which stay on
    this site."""
    mode = (old.encryption.mode if old.encryption else None) != (new.encryption.mode if new.encryption else None)
    same_bytes_elsewhere = dataclasses.replace(
        new, data_id=old.data_id, replaces=old.replaces, encryption=old.encryption, placement=old.placement, segments=old.segments
    )
    return mode or same_bytes_elsewhere != old


def _queue_replication(conn: Conn, bucket: str, key: str, version_id: str, op: str) -> None:
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


@dataclasses.dataclass(frozen=True)
class _KeyState:
    """What adding a version to a key depends on, read up front (``_key_state``)."""

    replicates: bool  # the bucket has a replication configuration
    current: ObjectRecord | None  # the key's current version
    same_id: ObjectRecord | None  # an older version with the new one's id (which it replaces)


_OBJECT_WIDTH = len(OBJECT_COLUMNS.split(","))
# What ``_key_state`` reads of the bucket (b), the key's current version (o) and its older version
# with the new one's id (v): one row, or none without the bucket.
KEY_STATE_COLUMNS = (
    "json_type(b.config, '$.replication'), "
    + ", ".join(f"o.{c.strip()}" for c in OBJECT_COLUMNS.split(","))
    + ", "
    + ", ".join(f"v.{c.strip()}" for c in OBJECT_COLUMNS.split(","))
)
# INDEXED BY: without statistics SQLite would walk the key's whole history by primary key.
_KEY_STATE = (
    f"SELECT {KEY_STATE_COLUMNS} FROM buckets b LEFT JOIN objects o ON o.bucket = b.name AND o.key = ?"
    " LEFT JOIN versions v INDEXED BY versions_by_id ON v.bucket = b.name AND v.key = ? AND v.version_id = ?"
    " WHERE b.name = ?"
)


def _key_state(conn: Conn, record: ObjectRecord) -> _KeyState:
    """The bucket (BucketNotFound without it), the key's current version, and an older one with
    ``record``'s version id, in one statement."""
    row = conn.execute(_KEY_STATE, (record.key, record.key, record.version_id, record.bucket)).fetchone()
    return key_state_from_row(record, row)


def key_state_from_row(record: ObjectRecord, row: tuple | None) -> _KeyState:
    """``_key_state`` from its row (KEY_STATE_COLUMNS), however it was read."""
    if row is None:
        raise BucketNotFound(record.bucket)
    current, same_id = row[1 : 1 + _OBJECT_WIDTH], row[1 + _OBJECT_WIDTH :]
    return _KeyState(
        replicates=row[0] is not None,
        current=object_from_row(current) if current[0] is not None else None,
        same_id=object_from_row(same_id) if same_id[0] is not None else None,
    )


class KeyWrite:
    """A write that adds a version to one key: ``check`` may refuse it (raising) before anything
    is written, ``apply`` writes and refuses nothing. A store may read what it depends on
    (KEY_STATE_COLUMNS) ahead, together with other such writes' (``check(conn, row)``), and
    needs no savepoint to undo a refused one: the PostgreSQL store's group commit
    (``hoard.meta.postgres``) does both, for writes to distinct keys. Called as any write is
    (``fn(conn)``), it does it all."""

    def __init__(
        self, record: ObjectRecord, check: Callable[[_KeyState], None], apply: Callable[[Conn, _KeyState], T]
    ) -> None:
        self.record = record
        self._check = check
        self._apply = apply

    def check(self, conn: Conn) -> _KeyState:
        """The key's state, read here; raises if the write is refused."""
        return self._checked(_key_state(conn, self.record))

    def check_read_ahead(self, row: tuple | None) -> _KeyState:
        """The key's state from ``row`` (KEY_STATE_COLUMNS, read ahead; None: no such bucket);
        raises if the write is refused."""
        return self._checked(key_state_from_row(self.record, row))

    def _checked(self, state: _KeyState) -> _KeyState:
        self._check(state)
        return state

    def apply(self, conn: Conn, state: _KeyState) -> Any:
        return self._apply(conn, state)

    def __call__(self, conn: Conn) -> Any:
        return self.apply(conn, self.check(conn))


def _add_version(conn: Conn, record: ObjectRecord, state: _KeyState) -> ObjectRecord | None:
    """Add a version to its key's history; returns the version that leaves the index with it.

    The newest version (by seq) is the current one; the one it displaces becomes an older
    version. A ``null`` version replaces the key's null version, if there is one (unversioned
    and Suspended buckets), and a version with an id the version of that id (a replica sent
    again): that one is removed and its bytes reclaimed. If a newer null version got there first
    (two writes racing), the newer stays and ``record`` itself is the one removed.
    ``state``: the key as ``_key_state`` read it in this transaction.
    """
    if _replicated(conn, record, state.replicates):
        _queue_replication(conn, record.bucket, record.key, record.version_id, "object")
    current = state.current
    removed = None
    # A null version replaces the key's null version; a version with an id replaces only itself
    # (a replica sent again: the same version, not a second one).
    if current is not None and current.version_id == record.version_id:
        old, old_is_current = current, True
    else:
        old, old_is_current = state.same_id, False
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


def _remove_version(conn: Conn, record: ObjectRecord, is_current: bool, promote: bool = True) -> None:
    """Take a version out of the index, its bytes to reclaim; the newest older version, if any,
    becomes current in place of a current one (unless ``promote`` is off: a newer one comes)."""
    if is_current:
        conn.execute("DELETE FROM objects WHERE bucket=? AND key=?", (record.bucket, record.key))
        row = None if not promote else conn.execute(
            f"SELECT {OBJECT_COLUMNS} FROM versions WHERE bucket=? AND key=? ORDER BY seq DESC LIMIT 1", (record.bucket, record.key)
        ).fetchone()
        if row is not None:
            conn.execute("DELETE FROM versions WHERE bucket=? AND key=? AND seq=?", (record.bucket, record.key, row[SEQ_AT]))
            conn.execute(f"INSERT INTO objects({OBJECT_COLUMNS}) VALUES({OBJECT_SLOTS})", row)
    else:
        conn.execute("DELETE FROM versions WHERE bucket=? AND key=? AND seq=?", (record.bucket, record.key, record.seq))
    _queue_reclaim(conn, (s.blob for s in record.segments if s.blob))
    if record.archive is not None:
        _queue_reclaim(conn, [record.archive.blob_id])
    if record.restore is not None or record.storage_class in TIERED_CLASSES:  # only these can have a tier task
        conn.execute("DELETE FROM tier_tasks WHERE bucket=? AND key=? AND version_id=?", (record.bucket, record.key, record.version_id))


def _delete_version(conn: Conn, bucket: str, key: str, version_id: str, guard: Guard | None = None) -> ObjectRecord | None:
    found, is_current = _get_version(conn, bucket, key, version_id)
    if found is not None:
        if guard is not None:
            guard(found)
        _remove_version(conn, found, is_current)
    return found


def _get_upload(conn: Conn, upload_id: str) -> Upload | None:
    row = conn.execute(f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id=?", (upload_id,)).fetchone()
    return upload_from_row(row) if row else None


def _drop_upload(conn: Conn, upload_id: str) -> None:
    _queue_reclaim(conn, [r[0] for r in conn.execute("SELECT blob FROM parts WHERE upload_id=?", (upload_id,))])
    conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
    conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))


def _list(
    conn: Conn,
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
    conn: Conn,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    limit: int,
) -> Listing:
    page = Page(prefix, delimiter, limit, upload_from_row)
    if page.done:
        return page.listing
    sql = f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket=?"
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
    where, more = prefix_range("key", prefix)
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
    conn: Conn, bucket: str, prefix: str, delimiter: str, key_marker: str, version_marker: str, limit: int
) -> Listing:
    """A page of versions: current rows (objects) and older ones (versions) merged in S3's
    order, each side an index range scan stepped lazily; a common prefix is skipped in one seek
    on both."""
    columns = VERSION_LISTED_COLUMNS
    page = Page(prefix, delimiter, limit, listed_version_from_row)
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
