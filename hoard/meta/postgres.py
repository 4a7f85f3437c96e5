"""The metadata index in PostgreSQL, for several Hoard nodes sharing one database.

The store's logic is ``SqlMetaStore``'s (``hoard.meta.sqlstore``), the same as SQLite's; this
module gives it connections (a bounded ``psycopg_pool.ConnectionPool``) and transactions:

- A write runs in a SERIALIZABLE transaction: the same answers as SQLite's single writer.
  Reads run in a REPEATABLE READ READ ONLY one (one snapshot per operation).
- Group commit: writes waiting together share one transaction (``_commit_batch``, up to
  MAX_BATCH, WRITE_THREADS batches at a time); each but a refused ``KeyWrite`` in its own
  savepoint, so one refused or failing write fails alone.
- Round trips: a transaction's statements go in psycopg's pipeline mode (BEGIN with the first
  read, the writes with the COMMIT; the reads of a batch's PUTs all at once), and concurrent
  ``get_object`` calls are read by one statement (``hoard.meta.batching.LookupBatcher``).
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
from psycopg_pool import ConnectionPool, PoolTimeout

from hoard.meta.batching import LookupBatcher, Write, WriteQueue
from hoard.meta.errors import CommitFailed, IndexUnavailable, IndexVersionMismatch
from hoard.meta.outage import Outage
from hoard.meta.rows import OBJECT_COLUMNS, check_text, object_from_row
from hoard.meta.sqlite import SCHEMA_VERSION
from hoard.meta.sqlstore import KEY_STATE_COLUMNS, KeyWrite, Settle, SqlMetaStore, T
from hoard.model import ObjectRecord
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
    ("json_type(b.config, '$.replication')", "(b.config::jsonb -> 'replication')"),
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
    scan. Growing, because a listing that seeks past a common prefix looks at a row or two.

    In a pipelined transaction a statement's rows are fetched when first asked for (psycopg
    waits for them then), but its ``rowcount`` would be -1 until then: it waits too."""

    pipeline: psycopg.Pipeline | None = None

    @property
    def rowcount(self) -> int:
        if self.pipeline is not None and super().rowcount < 0:
            self.pipeline.sync()
        return super().rowcount

    def __iter__(self) -> Iterator[Any]:
        size = 8
        while rows := self.fetchmany(size):
            yield from rows
            size = min(size * 4, 1024)


class _Tx:
    """A connection inside a transaction, answering as a sqlite3.Connection does (what
    ``SqlMetaStore``'s operations use of one).

    With a ``pipeline`` (psycopg's pipeline mode), a statement is sent at once and its answer
    read only when its rows or row count are asked for: the statements of a transaction whose
    answers nobody reads before COMMIT (its writes) travel with the COMMIT, in one round trip,
    and reads issued together before any is fetched share one."""

    def __init__(self, conn: psycopg.Connection, pipeline: psycopg.Pipeline | None = None) -> None:
        self._conn = conn
        self._pipeline = pipeline
        # Statements nobody reads the answer of, the same one in a row, held to go as one
        # executemany (``execute_unread``): sent before any other statement, so in their order.
        self._unread_sql = ""
        self._unread: list[tuple] = []

    def execute(self, sql: str, args: Any = ()) -> psycopg.Cursor:
        self.send_unread()
        cur = self._conn.cursor()
        cur.pipeline = self._pipeline
        return cur.execute(_translate(sql), tuple(args))

    def executemany(self, sql: str, rows: Any) -> psycopg.Cursor:
        self.send_unread()
        cur = self._conn.cursor()
        cur.pipeline = self._pipeline
        rows = [tuple(r) for r in rows]
        if rows:
            cur.executemany(_translate(sql), rows)
        return cur

    def execute_unread(self, sql: str, args: Any) -> None:
        if self._pipeline is None:
            self.execute(sql, args)
            return
        if sql != self._unread_sql:
            self.send_unread()
            self._unread_sql = sql
        self._unread.append(tuple(args))

    def send_unread(self) -> None:
        if self._unread:
            rows, self._unread = self._unread, []
            self._conn.cursor().executemany(_translate(self._unread_sql), rows)
        self._unread_sql = ""


# SQLSTATEs after which the whole transaction is tried again: serialization_failure,
# deadlock_detected, and invalid_sql_statement_name: psycopg counts a statement prepared once it
# has sent its Parse, but in a pipeline that an earlier statement's error aborted the server
# skips it, and every later use on that connection names a statement the server never made
# (Hoard names none itself). That connection is closed (``_attempt``) and the pool opens another.
_STALE_PREPARED = "26000"
_RETRY_SQLSTATES = {"40001", "40P01", _STALE_PREPARED}


_BEGIN_WRITE = "BEGIN ISOLATION LEVEL SERIALIZABLE"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
# Writes taken into one transaction at most: each reads a few index pages of objects and
# versions, and past max_pred_locks_per_relation (32 pages by default) PostgreSQL's predicate
# locks on a table become one on the whole table, which every concurrent write conflicts with.
MAX_BATCH = 32
# Batches written at once, each on its own connection: two, so that one's statements go while the
# other waits for its COMMIT (and the synchronous standby). More only conflict more: concurrent
# SERIALIZABLE batches of many keys share index pages, and a conflict sends a whole batch again.
WRITE_THREADS = 2
# Point reads of current versions taken into one statement at most (``get_object``).
MAX_LOOKUPS = 64
# How long the pool tries to open a connection again (after 1, 2, 4 ... s) before it gives up
# until one is asked for: its default (5 minutes of doubling waits) would leave a database back
# from an outage unnoticed for as long as the outage had lasted.
RECONNECT_SECONDS = 5.0


class _Failed:
    """A write of a batch that raised (its savepoint rolled back): what it raised."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


# ``sqlstore._KEY_STATE`` for many keys at once: one row per key whose bucket exists, numbered
# from 1 in the order the keys were given. Each key's rows are found by their own index lookups,
# as the statement for one key finds them: LATERAL, and LIMIT 1 (at most one row each anyway)
# so that the planner keeps them apart instead of making a join of its own, which for a small
# table scans it whole, and a scan takes a predicate lock on all of it that every write to the
# table would then conflict with.
_KEY_STATES = (
    f"SELECT k.n, {KEY_STATE_COLUMNS}"
    " FROM unnest(?::text[], ?::text[], ?::text[]) WITH ORDINALITY AS k(bucket, key, version_id, n)"
    " JOIN LATERAL (SELECT config FROM buckets WHERE name = k.bucket LIMIT 1) b ON true"
    f" LEFT JOIN LATERAL (SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = k.bucket AND key = k.key LIMIT 1) o ON true"
    f" LEFT JOIN LATERAL (SELECT {OBJECT_COLUMNS} FROM versions"
    " WHERE bucket = k.bucket AND key = k.key AND version_id = k.version_id LIMIT 1) v ON true"
)


class _WriteFailed(Exception):
    """A write of a batch raised after it had written: the transaction cannot keep the others'
    writes without its own, so each runs again alone."""


def _each_in_savepoint(tx: _Tx, writes: list[Write]) -> list[Any]:
    """Each write's result, or _Failed. A write alone needs no savepoint (it fails the
    transaction, rolled back whole), nor does a ``KeyWrite``, refused before it writes.

    The reads of writes to distinct keys (``KeyWrite``) are read by one statement, first;
    those writes run first, the others after them (writes waiting together are concurrent
    requests: any order of them is one they could have had)."""
    if len(writes) == 1:
        [write] = writes
        if write.fence is not None:
            write.fence(tx)
        return [write.fn(tx)]
    ahead: dict[int, Any] = {}
    keys: set[tuple[str, str]] = set()
    for n, write in enumerate(writes):
        if isinstance(write.fn, KeyWrite) and (write.fn.record.bucket, write.fn.record.key) not in keys:
            keys.add((write.fn.record.bucket, write.fn.record.key))
            ahead[n] = None
    if ahead:
        records = [writes[n].fn.record for n in ahead]
        rows = tx.execute(_KEY_STATES, ([r.bucket for r in records], [r.key for r in records], [r.version_id for r in records]))
        found = {row[0] - 1: row[1:] for row in rows}
        ahead = {n: found.get(i) for i, n in enumerate(ahead)}
    outcomes: list[Any] = [None] * len(writes)
    for n, row in ahead.items():
        write = writes[n]
        try:
            if write.fence is not None:
                write.fence(tx)
            state = write.fn.check_read_ahead(row)
        except psycopg.Error:
            raise  # the database's, which aborted the whole transaction
        except Exception as e:  # noqa: BLE001 - refused, nothing written
            outcomes[n] = _Failed(e)
            continue
        try:
            outcomes[n] = write.fn.apply(tx, state)
        except psycopg.Error:
            raise
        except Exception as e:
            raise _WriteFailed() from e
    for n, write in enumerate(writes):
        if n in ahead:
            continue
        tx.execute("SAVEPOINT op")
        try:
            if write.fence is not None:
                write.fence(tx)
            outcomes[n] = write.fn(tx)
        except psycopg.Error:
            raise
        except Exception as e:  # noqa: BLE001 - this write fails alone
            tx.execute("ROLLBACK TO SAVEPOINT op")
            outcomes[n] = _Failed(e)
        tx.execute("RELEASE SAVEPOINT op")
    return outcomes


def _deliver(writes: list[Write], outcomes: list[Any]) -> None:
    for write, outcome in zip(writes, outcomes, strict=True):
        if isinstance(outcome, _Failed):
            write.future.set_exception(outcome.error)
        else:
            write.future.set_result(outcome)


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


def _backoff(error: psycopg.Error, attempt: int) -> float:
    """How long to wait before trying a transaction again: a conflict with another transaction
    (which has committed, or will) is worth trying again at once, with a little jitter; a lost
    connection (a failover under way) waits longer each time."""
    if error.sqlstate in _RETRY_SQLSTATES:
        return min(0.2, 0.002 * 2**attempt) * random.random()
    return min(2.0, 0.02 * 2**attempt) * (0.5 + random.random())


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
        self._outage = Outage(retry_for)
        self._pool = ConnectionPool(
            conninfo, min_size=1, max_size=pool_size, kwargs=connection_options(conninfo, connect_timeout),
            timeout=max(retry_for, connect_timeout), name="hoard-meta", open=False, reconnect_timeout=RECONNECT_SECONDS,
        )
        self._pool.open(wait=True, timeout=connect_timeout)
        self._writes = WriteQueue(self._commit_batch, threads=min(WRITE_THREADS, pool_size), max_batch=MAX_BATCH, name="hoard-meta-write")
        self._lookups: LookupBatcher[tuple[str, str], ObjectRecord | None] = LookupBatcher(
            self._get_objects, concurrency=max(1, pool_size // 2), max_batch=MAX_LOOKUPS
        )
        try:
            self._run(self._prepare_schema, _BEGIN_WRITE)
        except BaseException:
            self.close()
            raise

    @property
    def location(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self._conninfo)
        info.pop("password", None)
        return "postgresql: " + " ".join(f"{k}={v}" for k, v in sorted(info.items()))

    def close(self) -> None:
        self._writes.close()
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
    def _run(self, fn: Callable[[_Tx], T], begin: str | None) -> T:
        """``fn``, which may run again without harm (a read, the schema's creation), in one
        transaction, tried again (with backoff) while the failure is one a retry can cure: a
        COMMIT lost with its connection too. Writes go through ``_commit_batch``."""
        started = time.monotonic()
        attempt = 0
        while True:
            deadline = self._outage.deadline(started)
            try:
                try:
                    return self._attempt(fn, begin, self._outage.wait(deadline))
                except _CommitUnknown as unknown:
                    raise unknown.__cause__ from None  # noqa: B904 - retried below as a lost connection
            except psycopg.Error as error:
                if not _retryable(error, None):
                    raise CommitFailed(f"the metadata transaction failed: {error}") from error
                if time.monotonic() >= self._outage.deadline(started):
                    raise IndexUnavailable(f"the metadata index is unavailable: {error}") from error
                attempt += 1
                delay = _backoff(error, attempt)
                log.info("metadata transaction retried in %.2fs (%s)", delay, error)
                time.sleep(delay)

    def _attempt(self, fn: Callable[[_Tx], T], begin: str | None, wait: float) -> T:
        """``fn`` once, on a connection of the pool (waited for at most ``wait`` seconds); what
        it found of the database told to ``_outage``."""
        asked = time.monotonic()
        try:
            with self._pool.connection(timeout=wait) as conn:
                try:
                    result = self._attempt_on(conn, fn, begin)
                except BaseException as e:
                    if isinstance(e, psycopg.Error) and e.sqlstate == _STALE_PREPARED:
                        conn.close()
                    elif conn.closed or conn.broken:
                        self._outage.unreachable()
                    raise
        except PoolTimeout:
            self._outage.no_connection(asked)
            raise
        self._outage.answered()
        return result

    @staticmethod
    def _attempt_on(conn: psycopg.Connection, fn: Callable[[_Tx], T], begin: str | None) -> T:
        if begin is None:  # one statement, in autocommit: its own transaction and snapshot
            return fn(_Tx(conn))
        # Pipelined: BEGIN goes with the first read, the writes with the COMMIT.
        committing = False
        try:
            with conn.pipeline() as pipeline:
                conn.execute(begin)
                tx = _Tx(conn, pipeline)
                result = fn(tx)
                tx.send_unread()
                conn.execute("COMMIT")
                committing = True
            # Leaving the pipeline sent the COMMIT and read every answer: an error of any
            # statement (a serialization failure of a write, say) was raised there.
        except BaseException as e:
            if committing and isinstance(e, psycopg.OperationalError) and (conn.closed or conn.broken):
                raise _CommitUnknown(result) from e
            if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    pass
            raise
        return result

    # -- group commit ------------------------------------------------------------------------
    def _commit_batch(self, writes: list[Write]) -> None:
        """The writes waiting together (``WriteQueue``), in one SERIALIZABLE transaction: one
        commit (and one synchronous standby's acknowledgement) for all of them. Each runs in its
        own savepoint, so one that fails (no such bucket, a precondition) fails alone.

        The transaction is retried as ``_run`` retries one. A failure of the database that
        cannot be traced to one write (its answers come back together) sends each write again
        alone. A COMMIT lost with its connection is settled by any committed write's ``settle``
        (the batch committed whole or not at all).

        Each write is tried at least once, and again for ``retry_for`` from when it was
        submitted (or from the start of an outage under way then: ``Outage``), not from when
        its batch began: writes queued behind a batch waiting out an outage are not kept past
        their own window."""
        attempt = 0
        while writes:
            deadline = self._outage.deadline(min(w.submitted for w in writes))
            try:
                try:
                    outcomes = self._attempt(functools.partial(_each_in_savepoint, writes=writes), _BEGIN_WRITE, self._outage.wait(deadline))
                except _CommitUnknown as unknown:
                    outcomes = unknown.args[0]
                    writes = self._settle_batch(writes, outcomes, unknown, deadline)
                    if not writes:
                        return
                    raise unknown.__cause__ from None  # noqa: B904 - not committed: try again
            except _WriteFailed:
                for write in writes:
                    self._commit_batch([write])
                return
            except psycopg.Error as error:
                if not _retryable(error, None):
                    if len(writes) > 1:
                        for write in writes:
                            self._commit_batch([write])
                        return
                    for write in writes:
                        write.future.set_exception(CommitFailed(f"the metadata transaction failed: {error}"))
                    return
                now = time.monotonic()
                for write in writes:  # those out of their window fail, the rest go on
                    if now >= self._outage.deadline(write.submitted):
                        write.future.set_exception(IndexUnavailable(f"the metadata index is unavailable: {error}"))
                writes = [w for w in writes if not w.future.done()]
                if not writes:
                    return
                attempt += 1
                delay = _backoff(error, attempt)
                log.info("metadata transaction retried in %.2fs (%s)", delay, error)
                time.sleep(delay)
                continue
            except Exception as error:  # noqa: BLE001 - a write alone: its own failure
                [write] = writes
                write.future.set_exception(error)
                return
            _deliver(writes, outcomes)
            return

    def _settle_batch(self, writes: list[Write], outcomes: list[Any], unknown: _CommitUnknown, deadline: float) -> list[Write]:
        """After a COMMIT lost with its connection: answers every write whose outcome is known;
        returns the writes to run again (the whole batch, if it did not commit)."""
        done = [w for w, o in zip(writes, outcomes, strict=True) if not isinstance(o, _Failed)]
        settle = next((w.settle for w in done if w.settle is not None), None)
        if settle is not None:
            try:
                committed = self._settle(settle, deadline)
            except CommitFailed as e:
                for write in writes:
                    write.future.set_exception(e)
                return []
            if committed:
                _deliver(writes, outcomes)
                return []
            return writes
        # Nothing tells whether it committed: what can run again runs again, the rest fails.
        again = []
        for write, outcome in zip(writes, outcomes, strict=True):
            if write.idempotent or isinstance(outcome, _Failed):
                again.append(write)
            else:
                failed = CommitFailed(f"the metadata commit's outcome is unknown: {unknown.__cause__}")
                failed.__cause__ = unknown.__cause__
                write.future.set_exception(failed)
        return again

    def _settle(self, settle: Callable[[_Tx], bool], deadline: float) -> bool:
        """Whether a transaction whose COMMIT was lost did commit, read on a new connection."""
        while True:
            try:
                return self._attempt(settle, _BEGIN_READ, self._outage.wait(deadline))
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
        return self._run(fn, _BEGIN_READ)

    def _snapshot_sync(self, fn: Callable[[Any], T]) -> T:
        return self._read_sync(fn)

    def _read_statement_sync(self, fn: Callable[[Any], T]) -> T:
        # BEGIN and COMMIT would be two of its three round trips.
        return self._run(fn, None)

    def _read_nowait(self, fn: Callable[[Any], T]) -> T:
        raise WouldBlock("the PostgreSQL index is read over the network")

    def _submit_write(self, fn: Callable[[Any], T], settle: Settle | None, idempotent: bool) -> concurrent.futures.Future:
        return self._writes.submit(fn, settle, idempotent, fence=WRITE_FENCE.get())

    def _write_sync(self, fn: Callable[[Any], T], settle: Settle | None = None, idempotent: bool = False) -> T:
        return self._submit_write(fn, settle, idempotent).result()

    async def _write(self, fn: Callable[[Any], T], settle: Settle | None = None, idempotent: bool = False) -> T:
        return await self._writes.submit_async(fn, settle, idempotent, fence=WRITE_FENCE.get())

    def _write_background(self, fn: Callable[[Any], Any]) -> concurrent.futures.Future:
        return self._submit_write(fn, None, True)

    # -- point reads, taken together ---------------------------------------------------------
    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        check_text(bucket, key)
        return await self._lookups.get((bucket, key))

    def _get_objects(self, keys: list[tuple[str, str]]) -> list[ObjectRecord | None]:
        """The current versions of these (bucket, key)s, in their order: one statement per bucket
        (several in one pipelined read-only transaction), each seeing every write committed
        before it was sent."""
        by_bucket: dict[str, list[str]] = {}
        for bucket, key in keys:
            by_bucket.setdefault(bucket, []).append(key)

        def op(tx: _Tx) -> dict[tuple[str, str], ObjectRecord]:
            cursors = [
                tx.execute(f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket=? AND key = ANY(?)", (bucket, list(dict.fromkeys(names))))
                for bucket, names in by_bucket.items()
            ]
            found = {}
            for cur in cursors:
                for row in cur.fetchall():
                    record = object_from_row(row)
                    found[record.bucket, record.key] = record
            return found

        found = self._run(op, None if len(by_bucket) == 1 else _BEGIN_READ)
        return [found.get(k) for k in keys]
