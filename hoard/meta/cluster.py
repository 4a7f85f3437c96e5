"""A cluster's catalog in its PostgreSQL database: the cluster, its nodes and drives, its pools
and their erasure sets (the layout, with a version number), and the leases background work runs
under.

Every time that decides something (a heartbeat's age, a lease's expiry) is the database's
``now()``, never a node's clock: nodes whose clocks disagree still agree on who holds what.
Leases are rows taken and renewed by one conditional statement; a write made under a lease
checks the lease's epoch in its own transaction (``check_lease``), so a holder that was paused
past its lease cannot commit stale work. No advisory locks, no LISTEN/NOTIFY: the SQL stays
portable to PostgreSQL-compatible distributed SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from hoard.cluster import placement
from hoard.cluster.placement import DriveRef, PoolGeometry, PoolUsage, build_sets, check_sets
from hoard.cluster.view import ClusterView, PoolView
from hoard.config import DEFAULT_ZONE
from hoard.meta.errors import MetaError
from hoard.meta.postgres import WRITE_FENCE, PostgresMetaStore

T = TypeVar("T")

CLUSTER_SCHEMA_VERSION = 4
_C = 'TEXT COLLATE "C"'
CLUSTER_SCHEMA = (
    # One row: the cluster's id, the ids (not the keys) of the cluster keys nodes may sign with,
    # and the layout's version, raised by every change of nodes' pools and sets.
    f"""CREATE TABLE cluster(
        one INTEGER PRIMARY KEY CHECK (one = 1), cluster_id {_C} NOT NULL, key_ids TEXT NOT NULL,
        layout_version BIGINT NOT NULL DEFAULT 1, schema_version INTEGER NOT NULL,
        created TIMESTAMPTZ NOT NULL DEFAULT now())""",
    f"""CREATE TABLE nodes(
        name {_C} PRIMARY KEY, advertise TEXT NOT NULL, zone {_C} NOT NULL, software TEXT NOT NULL DEFAULT '',
        registered TIMESTAMPTZ NOT NULL DEFAULT now(), heartbeat TIMESTAMPTZ NOT NULL DEFAULT now())""",
    f"""CREATE TABLE drives(
        node {_C} NOT NULL REFERENCES nodes(name), path {_C} NOT NULL, drive_id TEXT NOT NULL,
        state TEXT NOT NULL, total_bytes BIGINT NOT NULL, free_bytes BIGINT NOT NULL,
        updated TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY(node, path))""",
    """CREATE TABLE pools(
        pool INTEGER PRIMARY KEY, set_size INTEGER NOT NULL, parity INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'active', created TIMESTAMPTZ NOT NULL DEFAULT now())""",
    f"""CREATE TABLE pool_drives(
        pool INTEGER NOT NULL REFERENCES pools(pool), set_index INTEGER NOT NULL, position INTEGER NOT NULL,
        node {_C} NOT NULL, path {_C} NOT NULL,
        PRIMARY KEY(pool, set_index, position), UNIQUE(node, path),
        FOREIGN KEY(node, path) REFERENCES drives(node, path))""",
    f"""CREATE TABLE leases(
        name {_C} PRIMARY KEY, holder {_C} NOT NULL, epoch BIGINT NOT NULL, expires_at TIMESTAMPTZ NOT NULL)""",
)
# Each schema version past the first, as the statements that make it from the one before; a
# node brings the catalog up to date as it joins (``upgrade``).
CLUSTER_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # What one server keeps a copy of on every drive (root credentials, IAM, remotes, the KMS's
    # keys, bucket files) is the cluster's: one copy here, read by every node.
    2: (
        f"""CREATE TABLE cluster_documents(
        name {_C} PRIMARY KEY, data BYTEA NOT NULL, generation BIGINT NOT NULL DEFAULT 0,
        updated TIMESTAMPTZ NOT NULL DEFAULT now())""",
    ),
    # A rebalance under way (``hoard admin pool rebalance``): bytes to move from one pool to
    # another, and how many the nodes have taken on so far.
    3: (
        """CREATE TABLE pool_moves(
        source INTEGER NOT NULL, target INTEGER NOT NULL, planned BIGINT NOT NULL, moved BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY(source, target))""",
    ),
    # Where a node serves the internal API over mutual TLS (https://HOST:PORT), '' when on its
    # advertised S3 address.
    4: ("ALTER TABLE nodes ADD COLUMN internal TEXT NOT NULL DEFAULT ''",),
}


class ClusterError(MetaError):
    """The catalog refused a change."""


class NotACluster(ClusterError):
    """The database holds no cluster: ``hoard cluster init`` was not run against it."""


class ClusterExists(ClusterError):
    def __init__(self, cluster_id: str) -> None:
        super().__init__(f"this database already holds cluster {cluster_id}")
        self.cluster_id = cluster_id


class LeaseLost(ClusterError):
    """The lease a write was made under is no longer this holder's (expired or taken over)."""


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: str
    key_ids: tuple[str, ...]
    layout_version: int


@dataclass(frozen=True)
class NodeRow:
    name: str
    advertise: str
    zone: str
    software: str
    heartbeat_age: float  # seconds since its last heartbeat, by the database's clock
    internal: str = ""  # its internal API's own TLS address, if it has one

    @property
    def internal_url(self) -> str:
        """Where the node's internal API is reached: its TLS address, else its advertised one."""
        return self.internal or self.advertise


@dataclass(frozen=True)
class DriveRow:
    node: str
    path: str
    drive_id: str
    state: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class Pool:
    """A pool as the layout holds it: its number, state and erasure sets."""

    pool: int
    state: str  # active, draining (no new writes), decommissioned
    geometry: PoolGeometry


@dataclass(frozen=True)
class PoolMove:
    """Part of a rebalance: bytes to move from one pool to another, and taken on so far."""

    source: int
    target: int
    planned: int
    moved: int


@dataclass(frozen=True)
class Layout:
    """Nodes, zones, drives, pools and set membership at one version: what placement reads."""

    version: int
    pools: tuple[Pool, ...]


@dataclass(frozen=True)
class Lease:
    """A lease as its holder last saw it: ``epoch`` grows with every change of holder."""

    name: str
    holder: str
    epoch: int
    expires_in: float  # seconds left when it was read, by the database's clock


class ClusterCatalog:
    """The catalog tables, in the same database (and through the same retried transactions)
    as the metadata store they sit beside."""

    def __init__(self, store: PostgresMetaStore) -> None:
        self._store = store

    def _write(self, fn: Callable[[Any], T]) -> T:
        # Each catalog change is idempotent or checked inside its transaction, so one whose
        # COMMIT was lost may simply run again.
        return self._store.run_write(fn, idempotent=True)

    def _read(self, fn: Callable[[Any], T]) -> T:
        return self._store.run_read(fn)

    # -- the cluster -------------------------------------------------------------------------
    def init(self, cluster_id: str, key_id: str) -> ClusterInfo:
        """Create the catalog's tables and the cluster's row. Raises ClusterExists."""

        def work(tx: Any) -> ClusterInfo:
            _create_catalog(tx, cluster_id, key_id)
            return ClusterInfo(cluster_id, (key_id,), 1)

        return self._store.run_write(work, idempotent=False, settle=lambda tx: _holds_cluster(tx, cluster_id))

    def info(self) -> ClusterInfo:
        """The cluster this database holds. Raises NotACluster."""

        def work(tx: Any) -> ClusterInfo:
            if not _has_catalog(tx):
                raise NotACluster("this database holds no Hoard cluster: run `hoard cluster init --meta URL` first")
            cluster_id, key_ids, version = tx.execute("SELECT cluster_id, key_ids, layout_version FROM cluster").fetchone()
            return ClusterInfo(cluster_id, tuple(key_ids.split(",")), version)

        return self._read(work)

    def upgrade(self) -> int:
        """Bring the catalog's tables to this Hoard's schema version (a node joining after an
        upgrade); returns the version. A newer catalog than this Hoard knows is refused."""

        def work(tx: Any) -> int:
            tx.execute("LOCK TABLE cluster_schema IN ACCESS EXCLUSIVE MODE")
            version = tx.execute("SELECT version FROM cluster_schema").fetchone()[0]
            if version > CLUSTER_SCHEMA_VERSION:
                raise ClusterError(
                    f"the cluster's catalog is at schema {version}; this Hoard knows {CLUSTER_SCHEMA_VERSION}: upgrade this node"
                )
            for step in range(version + 1, CLUSTER_SCHEMA_VERSION + 1):
                for statement in CLUSTER_MIGRATIONS[step]:
                    tx.execute(statement)
            tx.execute("UPDATE cluster_schema SET version=?", (CLUSTER_SCHEMA_VERSION,))
            tx.execute("UPDATE cluster SET schema_version=?", (CLUSTER_SCHEMA_VERSION,))
            return CLUSTER_SCHEMA_VERSION

        return self._store.run_write(work, idempotent=True)

    def set_key_ids(self, key_ids: Iterable[str]) -> None:
        """The cluster keys nodes may sign with (a rotation holds two: new first)."""
        ids = ",".join(key_ids)
        self._write(lambda tx: tx.execute("UPDATE cluster SET key_ids=?", (ids,)))

    # -- the layout kept on the drives, and brought back from them ----------------------------
    def snapshot(self) -> dict:
        """The layout as one JSON document (cluster, nodes, drives, pools and their sets): what
        every node keeps on its drives, so a lost database can be made again (``restore``)."""

        def work(tx: Any) -> dict:
            cluster_id, key_ids, version = tx.execute("SELECT cluster_id, key_ids, layout_version FROM cluster").fetchone()
            nodes = tx.execute("SELECT name, advertise, zone, internal FROM nodes ORDER BY name").fetchall()
            drives = tx.execute("SELECT node, path, drive_id FROM drives ORDER BY node, path").fetchall()
            pools = tx.execute("SELECT pool, set_size, parity, state FROM pools ORDER BY pool").fetchall()
            members = tx.execute("SELECT pool, set_index, position, node, path FROM pool_drives ORDER BY pool, set_index, position").fetchall()
            return {
                "cluster_id": cluster_id,
                "key_ids": key_ids.split(","),
                "layout_version": version,
                "nodes": [{"name": n, "advertise": a, "zone": z, "internal": i} for n, a, z, i in nodes],
                "drives": [{"node": n, "path": p, "drive_id": d} for n, p, d in drives],
                "pools": [{"pool": n, "set_size": size, "parity": parity, "state": state} for n, size, parity, state in pools],
                "members": [list(row) for row in members],
            }

        return self._read(work)

    def restore(self, snapshot: dict) -> ClusterInfo:
        """Make the catalog of an empty database from a ``snapshot`` (the cluster's id, its
        layout and version as they were): nodes then join it as before. Raises ClusterExists."""
        cluster_id = snapshot["cluster_id"]

        def work(tx: Any) -> ClusterInfo:
            _create_catalog(tx, cluster_id, ",".join(snapshot["key_ids"]))
            tx.executemany(
                "INSERT INTO nodes(name, advertise, zone, internal) VALUES(?, ?, ?, ?)",
                [(n["name"], n["advertise"], n["zone"], n.get("internal", "")) for n in snapshot["nodes"]],
            )
            # Offline until each node reports them: nothing is known of them but where they are.
            tx.executemany(
                "INSERT INTO drives(node, path, drive_id, state, total_bytes, free_bytes) VALUES(?, ?, ?, 'offline', 0, 0)",
                [(d["node"], d["path"], d["drive_id"]) for d in snapshot["drives"]],
            )
            tx.executemany(
                "INSERT INTO pools(pool, set_size, parity, state) VALUES(?, ?, ?, ?)",
                [(p["pool"], p["set_size"], p["parity"], p["state"]) for p in snapshot["pools"]],
            )
            tx.executemany("INSERT INTO pool_drives(pool, set_index, position, node, path) VALUES(?, ?, ?, ?, ?)", [tuple(m) for m in snapshot["members"]])
            tx.execute("UPDATE cluster SET layout_version=?", (snapshot["layout_version"],))
            return ClusterInfo(cluster_id, tuple(snapshot["key_ids"]), snapshot["layout_version"])

        return self._store.run_write(work, idempotent=False, settle=lambda tx: _holds_cluster(tx, cluster_id))

    # -- nodes and drives --------------------------------------------------------------------
    def register_node(self, name: str, advertise: str, zone: str, software: str, internal: str = "") -> None:
        """Add the node or bring its addresses and software up to date (``internal``: its internal
        API's TLS address, '' for none). A node whose drives are in a pool keeps its zone: moving
        it would break the sets' zone limits behind their back."""

        def work(tx: Any) -> None:
            row = tx.execute("SELECT zone FROM nodes WHERE name=?", (name,)).fetchone()
            if row is not None and row[0] != zone and _node_in_pool(tx, name):
                raise ClusterError(
                    f"node {name} is in zone {row[0]} and its drives are in a pool; it cannot move to zone {zone}"
                )
            tx.execute(
                "INSERT INTO nodes(name, advertise, zone, software, internal) VALUES(?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET advertise=excluded.advertise, zone=excluded.zone, "
                "software=excluded.software, internal=excluded.internal, heartbeat=now()",
                (name, advertise, zone, software, internal),
            )

        self._write(work)

    def report_drives(self, node: str, drives: Iterable[DriveRow]) -> None:
        """The node's drives as it sees them now (state, sizes); new ones are added."""
        rows = _drive_rows(node, drives)
        self._write(lambda tx: _upsert_drives(tx, rows))

    def heartbeat(self, node: str, drives: Iterable[DriveRow] = ()) -> None:
        """The node is alive now, by the database's clock, and its drives are as ``drives`` say
        (one transaction for both)."""
        rows = _drive_rows(node, drives)

        def work(tx: Any) -> None:
            if tx.execute("UPDATE nodes SET heartbeat=now() WHERE name=? RETURNING name", (node,)).fetchone() is None:
                raise ClusterError(f"node {node} is not registered")
            _upsert_drives(tx, rows)

        self._write(work)

    def nodes(self) -> list[NodeRow]:
        sql = (
            "SELECT name, advertise, zone, software, EXTRACT(EPOCH FROM now() - heartbeat)::float8, internal "
            "FROM nodes ORDER BY name"
        )
        return self._read(lambda tx: [NodeRow(*row) for row in tx.execute(sql).fetchall()])

    def live_nodes(self, within: float) -> list[str]:
        """Nodes that beat in the last ``within`` seconds."""
        sql = "SELECT name FROM nodes WHERE heartbeat > now() - make_interval(secs => ?) ORDER BY name"
        return self._read(lambda tx: [row[0] for row in tx.execute(sql, (within,)).fetchall()])

    def is_registered(self, node: str) -> bool:
        return self._read(lambda tx: tx.execute("SELECT 1 FROM nodes WHERE name=?", (node,)).fetchone() is not None)

    def drives(self) -> list[DriveRow]:
        sql = "SELECT node, path, drive_id, state, total_bytes, free_bytes FROM drives ORDER BY node, path"
        return self._read(lambda tx: [DriveRow(*row) for row in tx.execute(sql).fetchall()])

    # -- pools and the layout ----------------------------------------------------------------
    def add_pool(self, drives: list[tuple[str, str]], set_size: int | None = None, parity: int | None = None) -> Pool:
        """A new pool of registered drives (node, path) no pool holds yet, arranged into erasure sets
        that keep at most ``parity`` drives of a set on one node and in one zone; the layout's
        version goes up in the same transaction. Raises ClusterError (or LayoutError, a
        ValueError, for an arrangement the rules refuse)."""

        def work(tx: Any) -> Pool:
            refs = [_drive_ref(tx, node, path) for node, path in drives]
            if all(ref.zone == DEFAULT_ZONE for ref in refs):
                # No zone declared: the node limit alone applies (one zone could never keep a zone limit).
                refs = [DriveRef(ref.node, None, ref.path) for ref in refs]
            geometry = build_sets(refs, set_size, parity)
            number = tx.execute("SELECT COALESCE(MAX(pool), 0) + 1 FROM pools").fetchone()[0]
            tx.execute("INSERT INTO pools(pool, set_size, parity) VALUES(?, ?, ?)", (number, geometry.set_size, geometry.parity))
            tx.executemany(
                "INSERT INTO pool_drives(pool, set_index, position, node, path) VALUES(?, ?, ?, ?, ?)",
                [(number, s, p, ref.node, ref.path) for s, members in enumerate(geometry.sets) for p, ref in enumerate(members)],
            )
            tx.execute("UPDATE cluster SET layout_version = layout_version + 1")
            return Pool(number, "active", geometry)

        return self._store.run_write(work, idempotent=False, settle=None)

    def drain_pool(self, pool: int) -> None:
        """Take ``pool`` out of placement (state draining; the layout's version goes up): new
        writes go to the other pools, and the pool mover (``hoard.workers.pool_mover``) moves
        what it holds. Refused for a pool that is not active, or the last active one."""

        def work(tx: Any) -> None:
            row = tx.execute("SELECT state FROM pools WHERE pool = ?", (pool,)).fetchone()
            if row is None:
                raise ClusterError(f"there is no pool {pool}")
            if row[0] != "active":
                raise ClusterError(f"pool {pool} is {row[0]}, not active")
            others = tx.execute("SELECT count(*) FROM pools WHERE state = 'active' AND pool <> ?", (pool,)).fetchone()[0]
            if not others:
                raise ClusterError(f"pool {pool} is the only active pool: add another (hoard admin pool add) for its objects to go to")
            tx.execute("UPDATE pools SET state = 'draining' WHERE pool = ?", (pool,))
            # A rebalance's moves from or to it give way: everything in it goes now.
            tx.execute("DELETE FROM pool_moves WHERE source = ? OR target = ?", (pool, pool))
            tx.execute("UPDATE cluster SET layout_version = layout_version + 1")

        self._store.run_write(work, idempotent=True)

    def pools_emptied(self) -> list[int]:
        """Draining pools that no version names any more, now marked decommissioned (their
        drives may go); the layout's version goes up if any was."""

        def work(tx: Any) -> list[int]:
            draining = [row[0] for row in tx.execute("SELECT pool FROM pools WHERE state = 'draining'").fetchall()]
            done = [pool for pool in draining if not _pool_in_use(tx, pool)]
            for pool in done:
                tx.execute("UPDATE pools SET state = 'decommissioned' WHERE pool = ?", (pool,))
            if done:
                tx.execute("UPDATE cluster SET layout_version = layout_version + 1")
            return done

        return self._store.run_write(work, idempotent=True)

    def plan_rebalance(self) -> list[PoolMove]:
        """Plan moves that leave every active pool equally full (``placement.plan_rebalance``:
        the least bytes that can do it), and keep them for the nodes' pool movers to carry out;
        the plan. Fill is what the index holds in each pool (object bytes) against what the
        pool's drives can hold of them (their size times the share of data in a set), so drives
        sharing a filesystem with other things are judged by Hoard's own bytes. Refused while
        a pool drains (that decommission first)."""

        def work(tx: Any) -> list[PoolMove]:
            if tx.execute("SELECT 1 FROM pools WHERE state = 'draining' LIMIT 1").fetchone() is not None:
                raise ClusterError("a pool is being decommissioned: rebalance once it is done")
            held = {pool: size for pool, (_, size) in _pool_contents(tx).items()}
            capacity = dict(
                tx.execute(
                    "SELECT p.pool, SUM(d.total_bytes * (p.set_size - p.parity) / p.set_size)::bigint FROM pools p "
                    "JOIN pool_drives m ON m.pool = p.pool JOIN drives d ON d.node = m.node AND d.path = m.path "
                    "WHERE p.state = 'active' GROUP BY p.pool"
                ).fetchall()
            )
            usage = {pool: PoolUsage(held.get(pool, 0), room) for pool, room in capacity.items()}
            moves = [PoolMove(m.source, m.target, m.size, 0) for m in placement.plan_rebalance(usage) if m.size > 0]
            tx.execute("DELETE FROM pool_moves")
            tx.executemany("INSERT INTO pool_moves(source, target, planned) VALUES(?, ?, ?)", [(m.source, m.target, m.planned) for m in moves])
            return moves

        return self._store.run_write(work, idempotent=True)

    def pool_moves(self) -> list[PoolMove]:
        """The rebalance under way: each move's bytes planned and taken on so far."""
        rows = self._read(lambda tx: tx.execute("SELECT source, target, planned, moved FROM pool_moves ORDER BY source, target").fetchall())
        return [PoolMove(*row) for row in rows]

    def take_move(self, source: int, size: int) -> int | None:
        """Take ``size`` bytes of a planned move out of ``source`` on: the pool they go to, or
        None when every move out of it has what it planned (the last one taken may overshoot by
        less than one object). Taken before the object moves: a node that dies mid-move leaves
        the plan short by that object, never moving more than planned twice."""

        def work(tx: Any) -> int | None:
            row = tx.execute(
                "UPDATE pool_moves SET moved = moved + ? WHERE (source, target) = "
                "(SELECT source, target FROM pool_moves WHERE source = ? AND moved < planned ORDER BY target LIMIT 1) RETURNING target",
                (size, source),
            ).fetchone()
            return row[0] if row else None

        return self._store.run_write(work, idempotent=False, settle=None)

    def finish_moves(self) -> bool:
        """Forget a rebalance whose every move has what it planned; whether one was forgotten."""

        def work(tx: Any) -> bool:
            if tx.execute("SELECT 1 FROM pool_moves WHERE moved < planned LIMIT 1").fetchone() is not None:
                return False
            return tx.execute("DELETE FROM pool_moves").rowcount > 0

        return self._store.run_write(work, idempotent=True)

    def pool_contents(self) -> dict[int, tuple[int, int]]:
        """Versions and bytes each pool holds (a scan of the index: for reports, not for a
        request's path)."""

        return self._read(_pool_contents)

    def layout(self) -> Layout:
        """The layout now: every pool's sets, checked again against the placement rules."""

        def work(tx: Any) -> Layout:
            version = tx.execute("SELECT layout_version FROM cluster").fetchone()[0]
            pools = tx.execute("SELECT pool, state, parity FROM pools ORDER BY pool").fetchall()
            rows = tx.execute(
                "SELECT d.pool, d.set_index, d.node, n.zone, d.path FROM pool_drives d JOIN nodes n ON n.name = d.node "
                "ORDER BY d.pool, d.set_index, d.position"
            ).fetchall()
            members = _sets_by_pool((pool, set_index, DriveRef(node, zone, path)) for pool, set_index, node, zone, path in rows)
            out = []
            for pool, state, parity in pools:
                sets = members.get(pool, [])
                if all(ref.zone == DEFAULT_ZONE for members_ in sets for ref in members_):
                    sets = [[DriveRef(r.node, None, r.path) for r in members_] for members_ in sets]
                out.append(Pool(pool, state, check_sets(sets, parity)))
            return Layout(version, tuple(out))

        return self._read(work)

    def view(self, within: float) -> ClusterView:
        """What placement reads, in one transaction: the layout with each member's drive id,
        every node's address, the nodes that beat in the last ``within`` seconds, and each
        pool's free bytes."""

        def work(tx: Any) -> ClusterView:
            version = tx.execute("SELECT layout_version FROM cluster").fetchone()[0]
            pools = tx.execute("SELECT pool, state, parity FROM pools ORDER BY pool").fetchall()
            members = tx.execute(
                "SELECT p.pool, p.set_index, p.node, d.drive_id, d.free_bytes FROM pool_drives p "
                "JOIN drives d ON d.node = p.node AND d.path = p.path ORDER BY p.pool, p.set_index, p.position"
            ).fetchall()
            nodes = tx.execute(
                "SELECT name, CASE WHEN internal = '' THEN advertise ELSE internal END, "
                "heartbeat > now() - make_interval(secs => ?) FROM nodes",
                (within,),
            ).fetchall()
            sets = _sets_by_pool((pool, set_index, (node, drive_id)) for pool, set_index, node, drive_id, _ in members)
            free: dict[int, int] = {}
            for pool, _, _, _, free_bytes in members:
                free[pool] = free.get(pool, 0) + free_bytes
            views = tuple(
                PoolView(pool, state, parity, tuple(tuple(m) for m in sets.get(pool, []))) for pool, state, parity in pools
            )
            return ClusterView(
                version,
                views,
                {name: url for name, url, _ in nodes},
                frozenset(name for name, _, live in nodes if live),
                free,
            )

        return self._read(work)

    # -- shared documents ----------------------------------------------------------------------
    def get_document(self, name: str) -> bytes | None:
        row = self._read(lambda tx: tx.execute("SELECT data FROM cluster_documents WHERE name=?", (name,)).fetchone())
        return bytes(row[0]) if row else None

    def put_document(self, name: str, data: bytes) -> None:
        sql = (
            "INSERT INTO cluster_documents(name, data) VALUES(?, ?) "
            "ON CONFLICT(name) DO UPDATE SET data=excluded.data, updated=now()"
        )
        self._write(lambda tx: tx.execute(sql, (name, data)))

    def put_newer_document(self, name: str, data: bytes, generation: int) -> bool:
        """Store ``data`` as ``name`` only if what is stored has a lower generation (or nothing is);
        whether it was stored. Two nodes changing one document from the same copy: one wins, the
        other learns it lost and starts again from the winner's."""
        sql = (
            "INSERT INTO cluster_documents(name, data, generation) VALUES(?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET data=excluded.data, generation=excluded.generation, updated=now() "
            "WHERE cluster_documents.generation < excluded.generation RETURNING 1"
        )
        return self._write(lambda tx: tx.execute(sql, (name, data, generation)).fetchone() is not None)

    def document_generation(self, name: str) -> int | None:
        row = self._read(lambda tx: tx.execute("SELECT generation FROM cluster_documents WHERE name=?", (name,)).fetchone())
        return row[0] if row else None

    def put_new_document(self, name: str, data: bytes) -> bytes:
        """``data`` stored unless ``name`` has a document already; returns what is stored."""

        def work(tx: Any) -> bytes:
            tx.execute("INSERT INTO cluster_documents(name, data) VALUES(?, ?) ON CONFLICT(name) DO NOTHING", (name, data))
            return bytes(tx.execute("SELECT data FROM cluster_documents WHERE name=?", (name,)).fetchone()[0])

        return self._write(work)

    def delete_document(self, name: str) -> None:
        self._write(lambda tx: tx.execute("DELETE FROM cluster_documents WHERE name=?", (name,)))

    def documents(self, prefix: str) -> dict[str, bytes]:
        sql = "SELECT name, data FROM cluster_documents WHERE starts_with(name, ?) ORDER BY name"
        return self._read(lambda tx: {name: bytes(data) for name, data in tx.execute(sql, (prefix,)).fetchall()})

    # -- leases ------------------------------------------------------------------------------
    def acquire(self, name: str, holder: str, ttl: float) -> Lease | None:
        """Take the lease if it is free, expired or already this holder's (then it is renewed
        and keeps its epoch); None if another holder has it."""
        sql = (
            "INSERT INTO leases(name, holder, epoch, expires_at) VALUES(?, ?, 1, now() + make_interval(secs => ?)) "
            "ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, expires_at=excluded.expires_at, "
            "epoch=CASE WHEN leases.holder = excluded.holder AND leases.expires_at > now() "
            "THEN leases.epoch ELSE leases.epoch + 1 END "
            "WHERE leases.expires_at <= now() OR leases.holder = excluded.holder "
            "RETURNING epoch, EXTRACT(EPOCH FROM expires_at - now())::float8"
        )

        def work(tx: Any) -> Lease | None:
            row = tx.execute(sql, (name, holder, ttl)).fetchone()
            return Lease(name, holder, row[0], row[1]) if row else None

        return self._write(work)

    def renew(self, lease: Lease, ttl: float) -> Lease | None:
        """Extend a lease still held at its epoch; None once it has expired or changed hands
        (the holder must stop the work it covers and acquire it again)."""
        sql = (
            "UPDATE leases SET expires_at = now() + make_interval(secs => ?) "
            "WHERE name=? AND holder=? AND epoch=? AND expires_at > now() "
            "RETURNING EXTRACT(EPOCH FROM expires_at - now())::float8"
        )

        def work(tx: Any) -> Lease | None:
            row = tx.execute(sql, (ttl, lease.name, lease.holder, lease.epoch)).fetchone()
            return Lease(lease.name, lease.holder, lease.epoch, row[0]) if row else None

        return self._write(work)

    def renew_all(self, leases: Iterable[Lease], ttl: float) -> list[Lease]:
        """``renew`` for many of one holder's leases in one statement: those still held at
        their epochs, extended; the others are lost."""
        wanted = {lease.name: lease for lease in leases}
        holders = {lease.holder for lease in wanted.values()}
        if not wanted:
            return []
        if len(holders) != 1:
            raise ValueError("renew_all takes one holder's leases")
        holder = holders.pop()
        sql = (
            "UPDATE leases SET expires_at = now() + make_interval(secs => ?) "
            "WHERE holder=? AND name = ANY(?) AND expires_at > now() "
            "RETURNING name, epoch, EXTRACT(EPOCH FROM expires_at - now())::float8"
        )

        def work(tx: Any) -> list[Lease]:
            rows = tx.execute(sql, (ttl, holder, list(wanted))).fetchall()
            # A row at another epoch is a lease this holder lost and took again: not the one renewed.
            return [Lease(name, wanted[name].holder, epoch, left) for name, epoch, left in rows if wanted[name].epoch == epoch]

        return self._write(work)

    def release(self, lease: Lease) -> None:
        """Give the lease up at once (its epoch stays: the next holder's is higher)."""
        sql = "UPDATE leases SET expires_at = now() WHERE name=? AND holder=? AND epoch=?"
        self._write(lambda tx: tx.execute(sql, (lease.name, lease.holder, lease.epoch)))

    def leases(self, prefix: str = "") -> list[Lease]:
        """Every lease whose name starts with ``prefix``, expired ones included (expires_in <= 0)."""
        sql = (
            "SELECT name, holder, epoch, EXTRACT(EPOCH FROM expires_at - now())::float8 FROM leases "
            "WHERE starts_with(name, ?) ORDER BY name"
        )
        return self._read(lambda tx: [Lease(*row) for row in tx.execute(sql, (prefix,)).fetchall()])

    def under_lease(self, lease: Lease, fn: Callable[[Any], T]) -> T:
        """``fn`` in one transaction that commits only while ``lease`` is still held at its
        epoch (fencing): raises LeaseLost, and nothing ``fn`` wrote is kept, otherwise."""

        def work(tx: Any) -> T:
            check_lease(tx, lease)
            return fn(tx)

        return self._store.run_write(work, idempotent=False, settle=None)


@contextmanager
def fenced(lease: Lease) -> Iterator[None]:
    """Every write of the store made within (in this task or thread, and the threads it hands
    work to) commits only while ``lease`` is held at its epoch; LeaseLost otherwise."""
    token = WRITE_FENCE.set(lambda tx: check_lease(tx, lease))
    try:
        yield
    finally:
        WRITE_FENCE.reset(token)


def check_lease(tx: Any, lease: Lease) -> None:
    """Raise LeaseLost unless ``lease`` is held, unexpired, at its epoch, as this transaction
    sees it. The row stays share-locked to the end of the transaction: a takeover waits for the
    fenced work to commit or roll back, so the two are never interleaved."""
    row = tx.execute(
        "SELECT 1 FROM leases WHERE name=? AND holder=? AND epoch=? AND expires_at > now() FOR SHARE",
        (lease.name, lease.holder, lease.epoch),
    ).fetchone()
    if row is None:
        raise LeaseLost(f"lease {lease.name} (epoch {lease.epoch}) is no longer held by {lease.holder}")


M = TypeVar("M")


# A version's pool, from its placement's JSON ([set, data, parity, distribution, pool]; no
# fifth field on one server's records: pool 0).
_POOL_OF = "COALESCE((placement::jsonb ->> 4)::int, 0)"


def _pool_contents(tx: Any) -> dict[int, tuple[int, int]]:
    """Versions and object bytes each pool holds, current and older versions together."""
    rows = tx.execute(
        f"SELECT {_POOL_OF}, count(*), COALESCE(SUM(size), 0)::bigint FROM "
        "(SELECT placement, size FROM objects UNION ALL SELECT placement, size FROM versions) AS v GROUP BY 1"
    ).fetchall()
    return {pool: (count, size) for pool, count, size in rows}


def _pool_in_use(tx: Any, pool: int) -> bool:
    """Whether a version (current or older) or an open multipart upload (its parts are kept in
    the pool it began in) still keeps bytes in ``pool``."""
    for table in ("objects", "versions"):
        if tx.execute(f"SELECT 1 FROM {table} WHERE {_POOL_OF} = ? LIMIT 1", (pool,)).fetchone() is not None:
            return True
    return tx.execute("SELECT 1 FROM uploads WHERE pool = ? LIMIT 1", (pool,)).fetchone() is not None


def _sets_by_pool(rows: Iterable[tuple[int, int, M]]) -> dict[int, list[list[M]]]:
    """(pool, set index, member) rows, in pool, set and position order, as each pool's sets."""
    pools: dict[int, list[list[M]]] = {}
    for pool, set_index, member in rows:
        sets = pools.setdefault(pool, [])
        if set_index == len(sets):
            sets.append([])
        sets[set_index].append(member)
    return pools


def _drive_rows(node: str, drives: Iterable[DriveRow]) -> list[tuple]:
    rows = [(d.node, d.path, d.drive_id, d.state, d.total_bytes, d.free_bytes) for d in drives]
    if any(r[0] != node for r in rows):
        raise ClusterError(f"node {node} reported another node's drive")
    return rows


def _upsert_drives(tx: Any, rows: list[tuple]) -> None:
    tx.executemany(
        "INSERT INTO drives(node, path, drive_id, state, total_bytes, free_bytes) VALUES(?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(node, path) DO UPDATE SET drive_id=excluded.drive_id, state=excluded.state, "
        "total_bytes=excluded.total_bytes, free_bytes=excluded.free_bytes, updated=now()",
        rows,
    )


def _drive_ref(tx: Any, node: str, path: str) -> DriveRef:
    row = tx.execute(
        "SELECT n.zone, (SELECT pool FROM pool_drives p WHERE p.node = d.node AND p.path = d.path) "
        "FROM drives d JOIN nodes n ON n.name = d.node WHERE d.node=? AND d.path=?",
        (node, path),
    ).fetchone()
    if row is None:
        raise ClusterError(f"{node}:{path} is not a registered drive: start the node with that folder first")
    if row[1] is not None:
        raise ClusterError(f"{node}:{path} is in pool {row[1]} already")
    return DriveRef(node, row[0], path)


def _create_catalog(tx: Any, cluster_id: str, key_ids: str) -> None:
    """The catalog's tables at this Hoard's schema version, and the cluster's row. Raises
    ClusterExists when the database has a catalog already."""
    tx.execute("CREATE TABLE IF NOT EXISTS cluster_schema(version INTEGER NOT NULL)")
    # A table lock (no advisory lock) keeps two inits at once from both creating.
    tx.execute("LOCK TABLE cluster_schema IN ACCESS EXCLUSIVE MODE")
    if tx.execute("SELECT version FROM cluster_schema").fetchone() is not None:
        row = tx.execute("SELECT cluster_id FROM cluster").fetchone()
        raise ClusterExists(row[0] if row else "?")
    for statement in CLUSTER_SCHEMA:
        tx.execute(statement)
    for version in sorted(CLUSTER_MIGRATIONS):
        for statement in CLUSTER_MIGRATIONS[version]:
            tx.execute(statement)
    tx.execute("INSERT INTO cluster_schema VALUES(?)", (CLUSTER_SCHEMA_VERSION,))
    tx.execute(
        "INSERT INTO cluster(one, cluster_id, key_ids, schema_version) VALUES(1, ?, ?, ?)", (cluster_id, key_ids, CLUSTER_SCHEMA_VERSION)
    )


def _has_catalog(tx: Any) -> bool:
    return tx.execute("SELECT to_regclass('cluster') IS NOT NULL").fetchone()[0]


def _holds_cluster(tx: Any, cluster_id: str) -> bool:
    return _has_catalog(tx) and tx.execute("SELECT 1 FROM cluster WHERE cluster_id=?", (cluster_id,)).fetchone() is not None


def _node_in_pool(tx: Any, node: str) -> bool:
    return tx.execute("SELECT 1 FROM pool_drives WHERE node=? LIMIT 1", (node,)).fetchone() is not None
