"""The cluster's catalog in a real PostgreSQL (started by the session, tests/postgres_server.py):
the cluster row, nodes and drives with heartbeats by the database's clock, leases taken and
renewed by one conditional statement, and fencing: work done under a lease that expired and
changed hands is refused and leaves nothing behind."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest

from hoard.cluster.placement import LayoutError
from hoard.meta.cluster import (
    CLUSTER_SCHEMA_VERSION,
    ClusterCatalog,
    ClusterError,
    ClusterExists,
    DriveRow,
    LeaseLost,
    NotACluster,
    check_lease,
    fenced,
)
from hoard.meta.postgres import PostgresMetaStore
from hoard.model import Bucket, ObjectRecord, Placement, Segment, Upload


@pytest.fixture
def catalog(postgres_db):
    store = PostgresMetaStore(postgres_db, pool_size=4, retry_for=10)
    try:
        yield ClusterCatalog(store)
    finally:
        store.close()


@pytest.fixture
def cluster(catalog):
    catalog.init("c-1", "k1")
    return catalog


def _count(catalog: ClusterCatalog, table: str) -> int:
    return catalog._read(lambda tx: tx.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_init_makes_the_cluster_once(catalog):
    with pytest.raises(NotACluster, match="hoard cluster init"):
        catalog.info()
    made = catalog.init("c-1", "k1")
    assert made == catalog.info()
    assert catalog.info().cluster_id == "c-1" and catalog.info().key_ids == ("k1",)
    with pytest.raises(ClusterExists, match="c-1"):
        catalog.init("c-2", "k2")
    assert catalog.info().cluster_id == "c-1"
    catalog.set_key_ids(["k2", "k1"])
    assert catalog.info().key_ids == ("k2", "k1")


def test_nodes_register_report_drives_and_beat(cluster):
    cluster.register_node("n1", "http://10.0.0.1:9000", "z1", "0.1.0")
    cluster.register_node("n2", "http://10.0.0.2:9000", "z2", "0.1.0")
    assert cluster.is_registered("n1") and not cluster.is_registered("n3")
    cluster.report_drives("n1", [DriveRow("n1", "/data1", "d-a", "online", 100, 60), DriveRow("n1", "/data2", "d-b", "online", 100, 70)])
    cluster.report_drives("n1", [DriveRow("n1", "/data1", "d-a", "offline", 100, 50)])
    drives = {(d.node, d.path): d for d in cluster.drives()}
    assert drives[("n1", "/data1")].state == "offline" and drives[("n1", "/data1")].free_bytes == 50
    assert drives[("n1", "/data2")].state == "online"
    with pytest.raises(ClusterError, match="another node"):
        cluster.report_drives("n2", [DriveRow("n1", "/data9", "d-z", "online", 1, 1)])

    # Moving address is an update, not a second node.
    cluster.register_node("n1", "http://10.0.0.9:9000", "z1", "0.1.1")
    rows = {n.name: n for n in cluster.nodes()}
    assert set(rows) == {"n1", "n2"} and rows["n1"].advertise == "http://10.0.0.9:9000" and rows["n1"].software == "0.1.1"

    # Liveness is by the database's clock: n2 stops beating, n1 goes on.
    time.sleep(1.2)
    cluster.heartbeat("n1")
    assert cluster.live_nodes(within=1.0) == ["n1"]
    assert cluster.live_nodes(within=60) == ["n1", "n2"]
    ages = {n.name: n.heartbeat_age for n in cluster.nodes()}
    assert ages["n1"] < 1.0 <= ages["n2"]
    with pytest.raises(ClusterError, match="not registered"):
        cluster.heartbeat("n3")
    # A heartbeat carries the node's drives in the same transaction.
    cluster.heartbeat("n1", [DriveRow("n1", "/data2", "d-b", "offline", 100, 10)])
    drives = {(d.node, d.path): d for d in cluster.drives()}
    assert drives[("n1", "/data2")].state == "offline" and drives[("n1", "/data2")].free_bytes == 10


def test_a_lease_has_one_holder_until_it_expires(cluster):
    a = cluster.acquire("scanner/007", "n1", ttl=30)
    assert a is not None and a.epoch == 1 and 25 < a.expires_in <= 30
    assert cluster.acquire("scanner/007", "n2", ttl=30) is None
    again = cluster.acquire("scanner/007", "n1", ttl=30)
    assert again is not None and again.epoch == 1  # the holder renewing keeps its epoch
    renewed = cluster.renew(a, ttl=60)
    assert renewed is not None and renewed.expires_in > 30

    cluster.release(renewed)
    b = cluster.acquire("scanner/007", "n2", ttl=30)
    assert b is not None and b.epoch == 2
    assert cluster.renew(renewed, ttl=30) is None  # n1 lost it
    assert [(x.holder, x.epoch) for x in cluster.leases("scanner/")] == [("n2", 2)]


def test_an_expired_lease_is_taken_over_and_its_old_holder_fenced(cluster):
    cluster._write(lambda tx: tx.execute("CREATE TABLE results(part TEXT, holder TEXT)"))
    a = cluster.acquire("part/001", "n1", ttl=0.5)

    def record(holder: str):
        return lambda tx: tx.execute("INSERT INTO results VALUES('001', ?)", (holder,))

    cluster.under_lease(a, record("n1"))  # held: the work commits
    time.sleep(0.8)  # n1 is paused past its lease...
    b = cluster.acquire("part/001", "n2", ttl=30)
    assert b is not None and b.epoch == a.epoch + 1
    with pytest.raises(LeaseLost, match="part/001"):
        cluster.under_lease(a, record("n1"))  # ...and its late result is refused
    assert cluster.renew(a, ttl=30) is None
    again = cluster.acquire("part/001", "n1", ttl=30)
    assert again is None  # n2 holds it now
    cluster.under_lease(b, record("n2"))
    rows = cluster._read(lambda tx: tx.execute("SELECT holder FROM results ORDER BY holder").fetchall())
    assert [r[0] for r in rows] == ["n1", "n2"]


def test_the_stores_writes_under_a_lease_are_fenced(cluster):
    """Background work (lifecycle, tiers) writes through the store's own methods: within
    ``fenced`` each of them commits only while the lease is held, and a late one changes nothing."""
    from tests.contract.test_metastore import record

    store = cluster._store
    asyncio.run(store.create_bucket(Bucket("b", time.time(), "us-east-1", "owner")))
    asyncio.run(store.put_object(record("b", "stale")))
    asyncio.run(store.put_object(record("b", "live")))
    a = cluster.acquire("part/007", "n1", ttl=0.5)
    with fenced(a):
        asyncio.run(store.put_object(record("b", "held")))  # held: the write commits
    time.sleep(0.8)  # n1 is paused past its lease; n2 takes the partition over
    b = cluster.acquire("part/007", "n2", ttl=30)
    with fenced(a), pytest.raises(LeaseLost):
        asyncio.run(store.delete_object("b", "stale"))
    assert asyncio.run(store.get_object("b", "stale")) is not None  # nothing of the late write
    with fenced(b):
        asyncio.run(store.delete_object("b", "live"))
    assert asyncio.run(store.get_object("b", "live")) is None
    asyncio.run(store.delete_object("b", "held"))  # unfenced outside: one server's writes as ever
    assert asyncio.run(store.get_object("b", "held")) is None


def test_a_holder_paused_past_its_lease_gets_a_new_epoch_when_it_comes_back(cluster):
    a = cluster.acquire("part/002", "n1", ttl=0.3)
    time.sleep(0.5)
    back = cluster.acquire("part/002", "n1", ttl=30)
    assert back is not None and back.epoch == a.epoch + 1  # nobody took it, but the old epoch is over
    with pytest.raises(LeaseLost):
        cluster.under_lease(a, lambda tx: None)


def test_a_takeover_waits_for_fenced_work_in_flight(cluster):
    """The fenced transaction holds the lease row: a takeover cannot commit between its check
    and its commit, so the stale holder's work and the new holder's never interleave."""
    cluster._write(lambda tx: tx.execute("CREATE TABLE results(part TEXT, holder TEXT)"))
    a = cluster.acquire("part/003", "n1", ttl=1.0)
    checked, go_on = threading.Event(), threading.Event()
    took_over: list[float] = []

    def slow_work(tx):
        checked.set()
        go_on.wait(10)
        tx.execute("INSERT INTO results VALUES('003', 'n1')")

    def fenced() -> None:
        cluster.under_lease(a, slow_work)

    worker = threading.Thread(target=fenced)
    worker.start()
    assert checked.wait(10)
    time.sleep(1.2)  # the lease has expired while n1's transaction is open

    def take_over() -> None:
        while cluster.acquire("part/003", "n2", ttl=30) is None:
            time.sleep(0.05)
        took_over.append(time.monotonic())

    taker = threading.Thread(target=take_over)
    taker.start()
    time.sleep(0.5)
    assert not took_over  # blocked behind the fenced transaction's lock
    released = time.monotonic()
    go_on.set()
    worker.join(20)
    taker.join(20)
    assert took_over and took_over[0] >= released
    held = cluster.leases("part/003")
    assert [(x.holder, x.epoch) for x in held] == [("n2", a.epoch + 1)]


def test_check_lease_inside_a_caller_transaction(cluster):
    a = cluster.acquire("part/004", "n1", ttl=30)
    assert cluster._write(lambda tx: check_lease(tx, a)) is None
    cluster.release(a)
    with pytest.raises(LeaseLost):
        cluster._write(lambda tx: check_lease(tx, a))
    assert _count(cluster, "leases") == 1


def test_partition_keepers_split_the_work_and_take_over_a_silent_node(cluster):
    from hoard.cluster.partitions import PARTITIONS
    from hoard.workers.partitions import PartitionKeeper

    names = ["n1", "n2", "n3"]
    for name in names:
        cluster.register_node(name, f"http://{name}:9000", "z1", "test")
    keepers = {name: PartitionKeeper(cluster, name, ttl=2.0) for name in names}

    def rounds(active: list[str], n: int = 3) -> dict[str, set[int]]:
        for _ in range(n):
            for name in active:
                cluster.heartbeat(name)
                keepers[name].step()
        return {name: set(keepers[name].held()) for name in active}

    held = rounds(names)
    assert sorted(len(h) for h in held.values()) == [85, 85, 86]
    assert set().union(*held.values()) == set(range(PARTITIONS))
    stale = keepers["n3"].held()

    # n3 goes silent (paused): once its leases expire the other two hold everything.
    time.sleep(2.2)
    held = rounds(["n1", "n2"])
    assert [len(held["n1"]), len(held["n2"])] == [128, 128]
    assert {lease.holder for lease in cluster.leases("part/")} == {"n1", "n2"}

    # Its late work is fenced...
    lease = next(iter(stale.values()))
    with pytest.raises(LeaseLost):
        cluster.under_lease(lease, lambda tx: None)
    # ...and once back it gets its share again, at new epochs, from what the others give up.
    held = rounds(names)
    assert sorted(len(h) for h in held.values()) == [85, 85, 86]
    assert set().union(*held.values()) == set(range(PARTITIONS))
    assert all(lease.epoch > stale[p].epoch for p, lease in keepers["n3"].held().items() if p in stale)

    keepers["n1"].release_all()
    assert not keepers["n1"].held()
    assert all(lease.expires_in <= 0 for lease in cluster.leases("part/") if lease.holder == "n1")


def _register(catalog: ClusterCatalog, nodes: dict[str, str], drives_each: int) -> list[tuple[str, str]]:
    specs = []
    for node, zone in nodes.items():
        catalog.register_node(node, f"http://{node}:9000", zone, "test")
        rows = [DriveRow(node, f"/data{i}", f"{node}-d{i}", "online", 1000, 900) for i in range(1, drives_each + 1)]
        catalog.report_drives(node, rows)
        specs += [(node, row.path) for row in rows]
    return specs


def test_a_pool_spreads_its_sets_over_nodes_and_zones(cluster):

    specs = _register(cluster, {"n1": "z1", "n2": "z1", "n3": "z2", "n4": "z2"}, drives_each=4)
    assert cluster.layout().pools == () and cluster.layout().version == 1
    pool = cluster.add_pool(specs, set_size=8, parity=4)
    assert pool.pool == 1 and pool.geometry.set_size == 8 and pool.geometry.parity == 4 and len(pool.geometry.sets) == 2
    zones = {"n1": "z1", "n2": "z1", "n3": "z2", "n4": "z2"}
    for members in pool.geometry.sets:
        assert set(Counter(ref.node for ref in members).values()) == {2}
        assert Counter(zones[ref.node] for ref in members) == {"z1": 4, "z2": 4}
    layout = cluster.layout()
    assert layout.version == 2 and layout.pools == (pool,)

    with pytest.raises(ClusterError, match="in pool 1 already"):
        cluster.add_pool(specs[:4], set_size=4)
    with pytest.raises(ClusterError, match="not a registered drive"):
        cluster.add_pool([("n9", "/data1")] * 4)
    with pytest.raises(ClusterError, match="cannot move to zone"):
        cluster.register_node("n1", "http://n1:9000", "z3", "test")
    assert cluster.layout().version == 2  # nothing refused changed the layout


def test_a_pool_that_breaks_the_node_or_zone_limit_is_refused(cluster):
    specs = _register(cluster, {"a": "z1", "b": "z1"}, drives_each=8)
    with pytest.raises(LayoutError, match="node"):
        cluster.add_pool(specs, set_size=8, parity=2)
    with pytest.raises(LayoutError, match="zone"):
        cluster.add_pool(specs, set_size=8, parity=4)  # both nodes in one declared zone
    assert cluster.layout().pools == () and cluster.layout().version == 1


def test_nodes_without_zones_keep_the_node_limit_alone(cluster):
    specs = _register(cluster, {"a": "default", "b": "default"}, drives_each=4)
    pool = cluster.add_pool(specs, set_size=8, parity=4)
    assert len(pool.geometry.sets) == 1 and all(ref.zone is None for ref in pool.geometry.sets[0])
    assert cluster.layout().pools[0].geometry == pool.geometry


def test_a_snapshot_of_the_layout_makes_the_same_catalog_in_an_empty_database(cluster, postgres):
    specs = _register(cluster, {"n1": "z1", "n2": "z1", "n3": "z2", "n4": "z2"}, drives_each=4)
    cluster.add_pool(specs, set_size=8, parity=4)
    snapshot = cluster.snapshot()
    assert snapshot["cluster_id"] == "c-1" and snapshot["layout_version"] == 2 and len(snapshot["members"]) == 16
    empty = postgres.create_database()
    store = PostgresMetaStore(empty, pool_size=2, retry_for=10)
    try:
        again = ClusterCatalog(store)
        info = again.restore(snapshot)
        assert info == again.info() and info.cluster_id == "c-1" and info.layout_version == 2
        assert again.layout() == cluster.layout()
        assert again.view(60).pools == cluster.view(60).pools  # the same drive ids in the same places
        assert again.snapshot() == snapshot
        assert all(d.state == "offline" for d in again.drives())  # until each node reports its own
        with pytest.raises(ClusterExists):
            again.restore(snapshot)  # never over a catalog
    finally:
        store.close()
        postgres.drop_database(empty)


def _index(catalog: ClusterCatalog, objects: dict[str, tuple[int, int]]) -> None:
    """Index rows naming pools: key -> (pool, size)."""
    store = catalog._store
    asyncio.run(store.create_bucket(Bucket("b", 1.0, "us-east-1", "o")))
    for key, (pool, size) in objects.items():
        record = ObjectRecord("b", key, size, '"e"', 1.0, "STANDARD", {}, (Segment(f"s-{key}", size, "", ""),), placement=Placement(0, 2, 2, (0, 1, 2, 3), pool))
        asyncio.run(store.put_object(record))


def test_a_pool_drains_plans_a_rebalance_and_is_decommissioned_once_empty(cluster):
    specs = _register(cluster, {"n1": "z1", "n2": "z2"}, drives_each=4)
    cluster.add_pool(specs[0::2], set_size=4)
    cluster.add_pool(specs[1::2], set_size=4)
    _index(cluster, {"a": (1, 300), "b": (1, 500), "c": (2, 100)})
    assert cluster.pool_contents() == {1: (2, 800), 2: (1, 100)}
    # Both pools' drives alike: equally full at 450 bytes each, 350 to move from 1 to 2.
    (move,) = cluster.plan_rebalance()
    assert (move.source, move.target, move.planned, move.moved) == (1, 2, 350, 0)
    assert cluster.take_move(1, 300) == 2 and cluster.take_move(1, 500) == 2  # the last overshoots by less than one object
    assert cluster.take_move(1, 10) is None and cluster.take_move(2, 10) is None
    assert cluster.pool_moves()[0].moved == 800 and cluster.finish_moves() and cluster.pool_moves() == []

    version = cluster.layout().version
    with pytest.raises(ClusterError, match="no pool 9"):
        cluster.drain_pool(9)
    cluster.plan_rebalance()
    cluster.drain_pool(1)  # the rebalance under way gives way
    assert cluster.pool_moves() == [] and cluster.layout().version == version + 1
    assert [p.state for p in cluster.layout().pools] == ["draining", "active"]
    with pytest.raises(ClusterError, match="draining, not active"):
        cluster.drain_pool(1)
    with pytest.raises(ClusterError, match="only active pool"):
        cluster.drain_pool(2)
    with pytest.raises(ClusterError, match="being decommissioned"):
        cluster.plan_rebalance()
    assert cluster.pools_emptied() == []  # a and b are still in it
    store = cluster._store
    for key in ("a", "b"):
        asyncio.run(store.delete_object("b", key))
    asyncio.run(store.create_upload(Upload("u1", "b", "k", 1.0, "STANDARD", {}, pool=1)))
    assert cluster.pools_emptied() == []  # an upload begun in it keeps its parts there
    asyncio.run(store.abort_upload("u1"))
    assert cluster.pools_emptied() == [1] and [p.state for p in cluster.layout().pools] == ["decommissioned", "active"]
    assert cluster.pools_emptied() == []


def test_an_older_catalog_is_upgraded_with_the_rebalance_table_and_internal_addresses(cluster):
    cluster.register_node("n1", "http://10.0.0.9:9000", "z1", "0.1")
    drop = ("DROP TABLE pool_moves", "ALTER TABLE nodes DROP COLUMN internal", "UPDATE cluster_schema SET version=2")
    cluster._write(lambda tx: [tx.execute(s) for s in drop])
    assert cluster.upgrade() == CLUSTER_SCHEMA_VERSION == 4
    assert cluster.pool_moves() == []
    # A node known before keeps its address, and has no internal TLS address until it says so.
    (before,) = cluster.nodes()
    assert (before.internal, before.internal_url) == ("", "http://10.0.0.9:9000")
    assert cluster.view(within=60).internal_urls == {"n1": "http://10.0.0.9:9000"}
    cluster.register_node("n1", "http://10.0.0.9:9000", "z1", "0.1", internal="https://10.0.0.9:9100")
    assert cluster.nodes()[0].internal_url == "https://10.0.0.9:9100"
    assert cluster.view(within=60).internal_urls == {"n1": "https://10.0.0.9:9100"}
    assert {n["name"]: n["internal"] for n in cluster.snapshot()["nodes"]} == {"n1": "https://10.0.0.9:9100"}
