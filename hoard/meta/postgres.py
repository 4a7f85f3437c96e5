"""The metadata index in PostgreSQL, for several Hoard nodes sharing one database.

The store's logic is ``SqlMetaStore``'s (``hoard.meta.sqlstore``), the same as SQLite's; this
module gives it connections (a bounded ``psycopg_pool.ConnectionPool``) and transactions:

- A write runs in a SERIALIZABLE transaction: the same answers as SQLite's single writer.
  Reads run in a REPEATABLE READ READ ONLY one (one snapshot per operation).
- Every transaction can be retried, with backoff, for up to ``retry_for`` seconds: on a
  serialization failure (40001), a deadlock (40P01), and a lost connection (a failover).
- A COMMIT whose outcome is unknown (the connection dropped during it) is settled by reading back
  what the transaction wrote (``settle``), on a new connection, never answered blindly: a write
  without a way to settle raises ``CommitFailed``.
- Keys and names are ``COLLATE "C"`` (UTF-8 byte order); listings are index range scans of
  ``objects`` and ``versions``, whose indexes hold the listed columns (index-only scans).
- No advisory locks, no LISTEN/NOTIFY, no clock of the database's: times come from the caller.

Pool size: each Hoard process opens at most ``pool_size`` connections, so every node's
``workers x pool_size`` together must stay under the server's ``max_connections`` (100 by
default) less its ``superuser_reserved_connections`` (3) and whatever else connects.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool

from hoard.meta.errors import CommitFailed, IndexVersionMismatch
from hoard.meta.sqlite import SCHEMA_VERSION
from hoard.meta.sqlstore import Settle, SqlMetaStore, T
from hoard.nowait import WouldBlock

log = logging.getLogger("hoard.meta")

_C = 'TEXT COLLATE "C"'
_OBJECT_TABLE_COLUMNS = f"""
    bucket {_C} NOT NULL, key {_C} NOT NULL, size BIGINT NOT NULL, etag TEXT NOT NULL,
    last_modified DOUBLE PRECISION NOT NULL, storage_class TEXT NOT NULL, headers TEXT NOT NULL,
    segments TEXT NOT NULL, multipart INTEGER NOT NULL,
    checksum_algorithm TEXT NOT NULL, checksum_value TEXT NOT NULL, checksum_type TEXT NOT NULL,
    placement TEXT NOT NULL, data_id TEXT NOT NULL, inline INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    version_id {_C} NOT NULL DEFAULT 'null', seq {_C} NOT NULL DEFAULT '',
    delete_marker INTEGER NOT NULL DEFAULT 0, retention_mode TEXT NOT NULL DEFAULT '',
    retain_until DOUBLE PRECISION NOT NULL DEFAULT 0, legal_hold INTEGER NOT NULL DEFAULT 0,
    acl TEXT NOT NULL DEFAULT '[]', owner_id TEXT NOT NULL DEFAULT '',
    tiering TEXT NOT NULL DEFAULT '', encryption TEXT NOT NULL DEFAULT ''"""
# What a listing page reads, kept in the index beside the key: index-only scans.
_LISTED = "size, etag, last_modified, storage_class, checksum_algorithm, checksum_type, owner_id, tiering, delete_marker"

_HEAL_QUEUE = (
    f"""CREATE TABLE heal_queue(
        bucket {_C} NOT NULL, key {_C} NOT NULL, version_id {_C} NOT NULL, not_before DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(bucket, key, version_id))""",
    "CREATE INDEX heal_queue_due ON heal_queue(not_before)",
)

# The logical schema of hoard.meta.sqlite's SCHEMA (version SCHEMA_VERSION), in PostgreSQL's words.
SCHEMA = (
    f"""CREATE TABLE buckets(
        name {_C} PRIMARY KEY, created DOUBLE PRECISION NOT NULL, location TEXT NOT NULL, owner_id TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{{}}')""",
    f"CREATE TABLE objects({_OBJECT_TABLE_COLUMNS}, PRIMARY KEY(bucket, key) INCLUDE ({_LISTED}, version_id))",
    # A key's older versions, newest first (seq DESC) as SQLite orders them.
    f"CREATE TABLE versions({_OBJECT_TABLE_COLUMNS})",
    f"CREATE UNIQUE INDEX versions_pkey ON versions(bucket, key, seq DESC) INCLUDE ({_LISTED}, version_id)",
    "CREATE INDEX versions_by_id ON versions(bucket, key, version_id)",
    f"""CREATE TABLE uploads(
        upload_id {_C} PRIMARY KEY, bucket {_C} NOT NULL, key {_C} NOT NULL, initiated DOUBLE PRECISION NOT NULL,
        storage_class TEXT NOT NULL, headers TEXT NOT NULL, checksum_algorithm TEXT NOT NULL,
        checksum_type TEXT NOT NULL, owner_id TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]',
        retention_mode TEXT NOT NULL DEFAULT '', retain_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        legal_hold INTEGER NOT NULL DEFAULT 0, acl TEXT NOT NULL DEFAULT '[]', encryption TEXT NOT NULL DEFAULT '',
        pool INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX uploads_by_key ON uploads(bucket, key, upload_id)",
    f"""CREATE TABLE parts(
        upload_id {_C} NOT NULL, number INTEGER NOT NULL, size BIGINT NOT NULL, etag TEXT NOT NULL,
        blob TEXT NOT NULL, last_modified DOUBLE PRECISION NOT NULL, checksum TEXT NOT NULL, stored BIGINT NOT NULL DEFAULT 0,
        degraded INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(upload_id, number))""",
    f"""CREATE TABLE completed_uploads(
        upload_id {_C} PRIMARY KEY, bucket {_C} NOT NULL, key {_C} NOT NULL, etag TEXT NOT NULL,
        checksum_algorithm TEXT NOT NULL, checksum_value TEXT NOT NULL, checksum_type TEXT NOT NULL,
        completed DOUBLE PRECISION NOT NULL)""",
    f"CREATE TABLE reclaim(blob {_C} PRIMARY KEY, queued DOUBLE PRECISION NOT NULL)",
    f"CREATE TABLE settings(name {_C} PRIMARY KEY, value TEXT NOT NULL)",
    f"CREATE TABLE damage_reports(bucket {_C} NOT NULL, key {_C} NOT NULL, PRIMARY KEY(bucket, key))",
    f"""CREATE TABLE replication(
        bucket {_C} NOT NULL, key {_C} NOT NULL, version_id {_C} NOT NULL, op TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_try DOUBLE PRECISION NOT NULL,
        queued DOUBLE PRECISION NOT NULL, error TEXT NOT NULL DEFAULT '', gen INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY(bucket, key, version_id))""",
    "CREATE INDEX replication_due ON replication(status, next_try)",
    f"""CREATE TABLE tier_tasks(
        bucket {_C} NOT NULL, key {_C} NOT NULL, version_id {_C} NOT NULL, due DOUBLE PRECISION NOT NULL,
        PRIMARY KEY(bucket, key, version_id))""",
    "CREATE INDEX tier_tasks_due ON tier_tasks(due)",
    *_HEAL_QUEUE,
)

# What turns a database of schema version N into N + 1, one transaction per step; numbered as
# SQLite's (hoard.meta.sqlite.MIGRATIONS), starting at the version this store began with.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    8: (
        "ALTER TABLE parts ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0",
        # An encrypted part of up to 5 GiB keeps more than 2^31 bytes.
        "ALTER TABLE parts ALTER COLUMN stored TYPE BIGINT",
        *_HEAL_QUEUE,
    ),
    9: ("ALTER TABLE uploads ADD COLUMN pool INTEGER NOT NULL DEFAULT 0",),
}

# SQLite's spellings in the shared SQL (hoard.meta.sqlstore), and PostgreSQL's.
_REWRITES = (
    ("json_type(config, '$.replication')", "(config::jsonb -> 'replication')"),
    ("json_extract(tiering, '$[0]') IS NOT NULL", "jsonb_typeof(tiering::jsonb -> 0) IS DISTINCT FROM 'null'"),
    ("COALESCE(json_extract(tiering, '$[0][2]'), 0)", "COALESCE((tiering::jsonb -> 0 ->> 2)::bigint, 0)"),
    ("GROUP_CONCAT(CASE WHEN size < 131072 THEN size END)", "string_agg(CASE WHEN size < 131072 THEN size::text END, ',')"),
    ("SUM(size)", "SUM(size)::bigint"),
    (" /*skip-locked*/", " FOR UPDATE SKIP LOCKED"),
)
_INDEXED_BY = re.compile(r" INDEXED BY \w+")


@functools.lru_cache(maxsize=1024)
def _translate(sql: str) -> str:
    """The shared SQL in PostgreSQL's words: %s parameters, no index hints, its JSON functions."""
    for sqlite, postgres in _REWRITES:
        sql = sql.replace(sqlite, postgres)
    return _INDEXED_BY.sub("", sql).replace("%", "%%").replace("?", "%s")


# A check every write in this context runs first, inside its own transaction: a cluster node's
# background work under a partition lease (``hoard.meta.cluster.fenced``) commits only while the
# lease is held. A context variable, so it follows the work into the thread that writes.
WRITE_FENCE: ContextVar[Callable[[Any], None] | None] = ContextVar("hoard_write_fence", default=None)


class _Cursor(psycopg.Cursor):
    """psycopg's cursor, stepped through in growing chunks: its rows are all on the client
    already, and fetching each alone (its own checks per row) cost more than a listing page's
    scan. Growing, because a listing that seeks past a common prefix looks at a row or two."""

    def __iter__(self) -> Iterator[Any]:
        size = 8
        while rows := self.fetchmany(size):
            yield from rows
            size = min(size * 4, 1024)


class _Tx:
    """A connection inside a transaction, answering as a sqlite3.Connection does (what
    ``SqlMetaStore``'s operations use of one)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Any = ()) -> psycopg.Cursor:
        return self._conn.execute(_translate(sql), tuple(args))

    def executemany(self, sql: str, rows: Any) -> psycopg.Cursor:
        cur = self._conn.cursor()
        rows = [tuple(r) for r in rows]
        if rows:
            cur.executemany(_translate(sql), rows)
        return cur


# SQLSTATEs after which the whole transaction is tried again: serialization_failure, deadlock_detected.
_RETRY_SQLSTATES = {"40001", "40P01"}


class _CommitUnknown(Exception):
    """The connection was lost during COMMIT: the transaction may or may not have committed."""


def _retryable(error: BaseException, conn: psycopg.Connection | None) -> bool:
    if isinstance(error, psycopg.Error) and error.sqlstate in _RETRY_SQLSTATES:
        return True
    # A lost connection (server restart, failover, pg_terminate_backend): OperationalError, or
    # any error after which the connection is closed. "admin_shutdown" (57P01) and its kin too.
    if isinstance(error, psycopg.OperationalError):
        return True
    return isinstance(error, psycopg.Error) and conn is not None and conn.closed


def connection_options(conninfo: str, connect_timeout: float) -> dict[str, Any]:
    """What every connection of the pool is opened with besides ``conninfo``: autocommit (the
    store says BEGIN itself), and ``connect_timeout`` unless the operator set one (in the
    conninfo or PGCONNECT_TIMEOUT), which would otherwise be overridden: with several hosts it
    is how long a dead one is waited for before the next is tried."""
    options: dict[str, Any] = {"autocommit": True, "cursor_factory": _Cursor}
    if "connect_timeout" not in psycopg.conninfo.conninfo_to_dict(conninfo) and not os.environ.get("PGCONNECT_TIMEOUT"):
        options["connect_timeout"] = int(connect_timeout)
    return options


class PostgresMetaStore(SqlMetaStore):
    """The ``MetaStore`` (``hoard.meta.store``) in a PostgreSQL database.

    ``conninfo``: a libpq connection string or URI. ``pool_size``: the most connections this
    process opens (see the module's note on ``max_connections``). ``retry_for``: how long a
    transaction is retried (serialization failures, deadlocks, lost connections) before failing.
    """

    def __init__(self, conninfo: str, pool_size: int = 10, retry_for: float = 30.0, connect_timeout: float = 10.0) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self._conninfo = conninfo
        self._retry_for = retry_for
        self._pool = ConnectionPool(
            conninfo, min_size=1, max_size=pool_size, kwargs=connection_options(conninfo, connect_timeout),
            timeout=max(retry_for, connect_timeout), name="hoard-meta", open=False,
        )
        self._pool.open(wait=True, timeout=connect_timeout)
        self._background = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hoard-meta-bg")
        try:
            self._run(self._prepare_schema, "BEGIN ISOLATION LEVEL SERIALIZABLE", settle=None, idempotent=True)
        except BaseException:
            self.close()
            raise

    @property
    def location(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self._conninfo)
        info.pop("password", None)
        return "postgresql: " + " ".join(f"{k}={v}" for k, v in sorted(info.items()))

    def close(self) -> None:
        self._background.shutdown(wait=True)
        self._pool.close()

    # -- the schema --------------------------------------------------------------------------
    @staticmethod
    def _prepare_schema(tx: _Tx) -> None:
        """Create the schema in an empty database or bring an older one up to SCHEMA_VERSION, in
        one transaction; a table lock (not an advisory one) keeps two nodes starting at once
        from doing it twice (the loser's serialization failure is retried and finds it done)."""
        tx.execute("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)")
        tx.execute("LOCK TABLE schema_version IN ACCESS EXCLUSIVE MODE")
        row = tx.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            for statement in SCHEMA:
                tx.execute(statement)
            tx.execute("INSERT INTO schema_version VALUES(?)", (SCHEMA_VERSION,))
            return
        version = row[0]
        while version in MIGRATIONS and version < SCHEMA_VERSION:
            for statement in MIGRATIONS[version]:
                tx.execute(statement)
            version += 1
            log.info("metadata index upgraded to schema version %d", version)
        if version != SCHEMA_VERSION:
            raise IndexVersionMismatch(f"the metadata database has schema version {row[0]}, this Hoard needs {SCHEMA_VERSION}")
        tx.execute("UPDATE schema_version SET version=?", (version,))

    # -- transactions ------------------------------------------------------------------------
    def _run(
        self,
        fn: Callable[[_Tx], T],
        begin: str | None,
        settle: Callable[[_Tx], bool] | None,
        idempotent: bool,
    ) -> T:
        """``fn`` in one transaction, tried again (with backoff) while the failure is one a retry
        can cure. A COMMIT lost with its connection is settled by ``settle`` (True: it did
        commit), or tried again when ``idempotent``, else CommitFailed."""
        deadline = time.monotonic() + self._retry_for
        attempt = 0
        while True:
            try:
                try:
                    return self._attempt(fn, begin)
                except _CommitUnknown as unknown:
                    if idempotent:
                        raise unknown.__cause__ from None  # noqa: B904 - retried below as a lost connection
                    if settle is None:
                        raise CommitFailed(f"the metadata commit's outcome is unknown: {unknown.__cause__}") from unknown.__cause__
                    committed, result = self._settle(settle, deadline), unknown.args[0]
                    if committed:
                        return result
                    raise unknown.__cause__ from None  # noqa: B904 - it did not commit: try again
            except psycopg.Error as error:
                if not _retryable(error, None) or time.monotonic() >= deadline:
                    raise CommitFailed(f"the metadata transaction failed: {error}") from error
                attempt += 1
                delay = min(2.0, 0.02 * 2**attempt) * (0.5 + random.random())
                log.info("metadata transaction retried in %.2fs (%s)", delay, error)
                time.sleep(delay)

    def _attempt(self, fn: Callable[[_Tx], T], begin: str | None) -> T:
        with self._pool.connection() as conn:
            if begin is None:  # one statement, in autocommit: its own transaction and snapshot
                return fn(_Tx(conn))
            conn.execute(begin)
            try:
                result = fn(_Tx(conn))
            except BaseException:
                if not conn.closed:
                    try:
                        conn.execute("ROLLBACK")
                    except psycopg.Error:
                        pass
                raise
            try:
                conn.execute("COMMIT")
            except psycopg.OperationalError as e:
                if conn.closed or conn.broken:
                    raise _CommitUnknown(result) from e
                raise
            return result

    def _settle(self, settle: Callable[[_Tx], bool], deadline: float) -> bool:
        """Whether a transaction whose COMMIT was lost did commit, read on a new connection."""
        while True:
            try:
                return self._attempt(settle, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            except psycopg.Error as error:
                if not _retryable(error, None) or time.monotonic() >= deadline:
                    raise CommitFailed(f"the metadata commit's outcome is unknown: {error}") from error
                time.sleep(0.1)

    # -- transactions for the tables beside the store's (hoard.meta.cluster) ----------------
    def run_write(self, fn: Callable[[Any], T], idempotent: bool, settle: Settle | None = None) -> T:
        """``fn`` in a SERIALIZABLE transaction, retried as the store's own writes are."""
        return self._write_sync(fn, settle=settle, idempotent=idempotent)

    def run_read(self, fn: Callable[[Any], T]) -> T:
        """``fn`` in a read-only transaction on one snapshot."""
        return self._read_sync(fn)

    # -- SqlMetaStore's plumbing -------------------------------------------------------------
    def _read_sync(self, fn: Callable[[Any], T]) -> T:
        return self._run(fn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", settle=None, idempotent=True)

    def _snapshot_sync(self, fn: Callable[[Any], T]) -> T:
        return self._read_sync(fn)

    def _read_statement_sync(self, fn: Callable[[Any], T]) -> T:
        # BEGIN and COMMIT would be two of its three round trips.
        return self._run(fn, None, settle=None, idempotent=True)

    def _read_nowait(self, fn: Callable[[Any], T]) -> T:
        raise WouldBlock("the PostgreSQL index is read over the network")

    def _write_sync(self, fn: Callable[[Any], T], settle: Settle | None = None, idempotent: bool = False) -> T:
        fence = WRITE_FENCE.get()
        if fence is not None:
            unfenced = fn

            def fn(tx: Any) -> T:
                fence(tx)
                return unfenced(tx)

        return self._run(fn, "BEGIN ISOLATION LEVEL SERIALIZABLE", settle=settle, idempotent=idempotent)

    def _write_background(self, fn: Callable[[Any], Any]) -> concurrent.futures.Future:
        return self._background.submit(self._write_sync, fn, None, True)
