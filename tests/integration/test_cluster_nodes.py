"""Nodes of a cluster: ``hoard cluster init`` makes the cluster and its key, real ``hoard server
--node`` processes join it on a real PostgreSQL (tests/postgres_server.py), register themselves
and their drives and beat; their drives are served to each other over the internal API, signed
with the cluster key, and used through ``RemoteDrive`` exactly as local drives are, by the same
erasure code. Everything unsigned, forged, replayed, from an unregistered node, damaged or cut
short is refused and leaves nothing behind."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hoard.cluster.internal_auth import sign_request, signer_for
from hoard.cluster.keys import ClusterKey, ClusterKeyring, read_key_file
from hoard.cluster.partitions import LEASE_PREFIX, partition_of, partition_of_lease
from hoard.meta.cluster import ClusterCatalog
from hoard.meta.postgres import PostgresMetaStore
from hoard.model import ObjectRecord, Placement, Segment
from hoard.storage import record as record_file
from hoard.storage.bitrot import block_hash
from hoard.storage.drive import DriveState
from hoard.storage.erasure import codec
from hoard.storage.erasure_set import ErasureSet, new_id
from hoard.storage.remote import NodeConnections, RemoteDrive
from tests.conftest import REGION, HoardServer, free_port, wait_for
from tests.integration.test_settings import clean_env

MiB = 1024 * 1024
SECRETS_KEY = base64.b64encode(os.urandom(32)).decode()
MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


def init_cluster(meta: str, key_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hoard", "cluster", "init", "--meta", meta, "--key-file", str(key_file)],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def cluster_db(postgres_db, tmp_path):
    done = init_cluster(postgres_db, tmp_path / "keys" / "cluster.key")
    assert done.returncode == 0, done.stderr
    return postgres_db, tmp_path / "keys" / "cluster.key"


def start_node(
    tmp_path: Path, meta: str, key_file: Path, name: str, zone: str, drives: int = 2, workers: int = 1, env_extra: dict[str, str] | None = None
) -> HoardServer:
    port = free_port()
    env = {
        "HOARD_META": meta, "HOARD_NODE": name, "HOARD_ADVERTISE": f"http://127.0.0.1:{port}", "HOARD_ZONE": zone,
        "HOARD_CLUSTER_KEY_FILE": str(key_file),
        # Every node seals and opens the same secrets (root, users' keys) and data keys.
        "HOARD_SECRETS_KEY": SECRETS_KEY, "HOARD_MASTER_KEY": MASTER_KEY,
        "HOARD_RECLAIM_GRACE": "0", "HOARD_LIFECYCLE_DAY_SECONDS": "0.2",
    }  # fmt: skip
    env.update(env_extra or {})
    dirs = [tmp_path / name / f"d{i}" for i in range(1, drives + 1)]
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    extra = ["--workers", str(workers)] if workers > 1 else []
    return HoardServer(tmp_path / name / "log", env_extra=env, port=port, drives=dirs, extra_args=extra).start()


@pytest.fixture
def two_nodes(cluster_db, tmp_path):
    meta, key_file = cluster_db
    nodes: list[HoardServer] = []
    store = None
    try:
        for name, zone in (("n1", "z1"), ("n2", "z2")):
            nodes.append(start_node(tmp_path, meta, key_file, name, zone))  # a node that fails to start stops the others
        store = PostgresMetaStore(meta, pool_size=2)
        yield ClusterCatalog(store), read_key_file(key_file), nodes
    finally:
        if store is not None:
            store.close()
        for node in nodes:
            node.stop()


def remote_drives(catalog: ClusterCatalog, keyring: ClusterKeyring, node: str, caller: str = "n1") -> list[RemoteDrive]:
    """RemoteDrives of ``node``'s drives, signing as ``caller`` (a registered node name)."""
    advertise = {n.name: n.advertise for n in catalog.nodes()}[node]
    connections = NodeConnections(advertise, connect_timeout=2.0)
    sign = signer_for(keyring, caller)(node)
    rows = [d for d in catalog.drives() if d.node == node]
    return [RemoteDrive(i, node, row.drive_id, connections, sign) for i, row in enumerate(rows)]


def shard_blocks(data: bytes, fragment: int = 64 * 1024) -> list[tuple[bytes, bytes]]:
    return [(block_hash(data[i : i + fragment]), data[i : i + fragment]) for i in range(0, len(data), fragment)]


def test_cluster_init_makes_the_key_once(postgres_db, tmp_path):
    key_file = tmp_path / "k" / "cluster.key"
    done = init_cluster(postgres_db, key_file)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = read_key_file(key_file).current
    assert key.key_id in done.stdout and key.text() not in done.stdout + done.stderr
    store = PostgresMetaStore(postgres_db, pool_size=1)
    try:
        assert ClusterCatalog(store).info().key_ids == (key.key_id,)
    finally:
        store.close()

    again = init_cluster(postgres_db, tmp_path / "k" / "second.key")
    assert again.returncode != 0 and "already holds cluster" in again.stderr
    assert not (tmp_path / "k" / "second.key").exists()
    refused = init_cluster(postgres_db, key_file)  # an existing key is never overwritten
    assert refused.returncode != 0 and read_key_file(key_file).current.key_id == key.key_id


def test_a_node_without_the_clusters_key_or_cluster_is_refused(cluster_db, postgres, tmp_path):
    meta, key_file = cluster_db

    def run(env: dict[str, str]) -> subprocess.CompletedProcess:
        base = {
            "HOARD_META": meta, "HOARD_NODE": "nx", "HOARD_ADVERTISE": "http://127.0.0.1:1",
            "HOARD_SECRETS_KEY": SECRETS_KEY, "HOARD_MASTER_KEY": MASTER_KEY, "HOARD_CONSOLE_ADDRESS": "off",
        }  # fmt: skip
        command = [sys.executable, "-m", "hoard", "server", "--address", f"127.0.0.1:{free_port()}", str(tmp_path / "nx")]
        return subprocess.run(command, env=clean_env(**{k: v for k, v in {**base, **env}.items() if v}), capture_output=True, text=True, timeout=60)

    no_key = run({})
    assert no_key.returncode == 2 and "no cluster key" in no_key.stderr
    # The secrets and master keys, made per server by default, would differ from node to node.
    no_secrets = run({"HOARD_CLUSTER_KEY_FILE": str(key_file), "HOARD_MASTER_KEY": ""})
    assert no_secrets.returncode == 2 and "needs the cluster's HOARD_MASTER_KEY" in no_secrets.stderr
    store = PostgresMetaStore(meta, pool_size=1)
    try:
        assert not ClusterCatalog(store).is_registered("nx")  # refused before it joined
    finally:
        store.close()
    other = tmp_path / "other.key"
    other.write_text(ClusterKey(os.urandom(32)).text() + "\n")
    other.chmod(0o600)
    wrong = run({"HOARD_CLUSTER_KEY_FILE": str(other)})
    assert wrong.returncode == 2 and "is not one of cluster" in wrong.stderr
    assert read_key_file(key_file).current.text() not in wrong.stderr
    loose = tmp_path / "loose.key"
    loose.write_text(key_file.read_text())
    loose.chmod(0o644)
    too_open = run({"HOARD_CLUSTER_KEY_FILE": str(loose)})
    assert too_open.returncode == 2 and "too open" in too_open.stderr
    empty_db = postgres.create_database()
    try:
        not_init = run({"HOARD_CLUSTER_KEY_FILE": str(key_file), "HOARD_META": empty_db})
        assert not_init.returncode == 2 and "hoard cluster init" in not_init.stderr
    finally:
        postgres.drop_database(empty_db)


def test_nodes_register_their_drives_and_beat(two_nodes):
    catalog, _, _ = two_nodes
    nodes = {n.name: n for n in catalog.nodes()}
    assert set(nodes) == {"n1", "n2"} and nodes["n1"].zone == "z1" and nodes["n2"].zone == "z2"
    drives = catalog.drives()
    assert len(drives) == 4 and all(d.state == "online" and d.total_bytes > 0 for d in drives)
    time.sleep(3)
    assert all(n.heartbeat_age < 3 for n in catalog.nodes())
    assert catalog.live_nodes(within=3) == ["n1", "n2"]
    # The leaders' partition keepers split the 256 partitions between the two nodes.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        held = [lease for lease in catalog.leases("part/") if lease.expires_in > 0]
        if len(held) == 256 and {lease.holder for lease in held} == {"n1", "n2"}:
            break
        time.sleep(0.5)
    counts = {h: sum(lease.holder == h for lease in catalog.leases("part/") if lease.expires_in > 0) for h in ("n1", "n2")}
    assert counts == {"n1": 128, "n2": 128}


def test_a_remote_drive_stores_reads_lists_and_removes(two_nodes):
    catalog, keyring, nodes = two_nodes
    drive = remote_drives(catalog, keyring, "n2")[0]
    data = os.urandom(300 * 1024)
    shard = new_id()
    writer = drive.create_shard(shard)
    for checksum, fragment in shard_blocks(data):
        writer.write_block(checksum, fragment)
    writer.commit()
    stored_size = sum(32 + len(f) for _, f in shard_blocks(data))
    assert drive.shard_size(shard) == stored_size == writer.size
    reader = drive.open_shard(shard)
    assert reader.read(64 * 1024, 32) == data[: 64 * 1024]  # the first fragment, after its hash
    assert reader.read(10, stored_size - 10) == data[-10:]
    assert [i for i, _ in drive.shard_ids()] == [shard]
    # The file is where a local drive keeps it, on the node's own folder.
    on_disk = list((nodes[1].data_dir.parent).rglob(shard))
    assert len(on_disk) == 1 and on_disk[0].stat().st_size == stored_size
    drive.remove_shard(shard)
    drive.remove_shard(shard)  # gone already: no error
    with pytest.raises(FileNotFoundError):
        drive.open_shard(shard)
    assert list(drive.shard_ids()) == []

    rec = new_id()
    record = ObjectRecord("b", "k", 5, '"e"', time.time(), "STANDARD", {}, (), data_id=rec, inline=True)
    encoded = record_file.encode(record, 0, b"hello")
    drive.write_record(rec, encoded)
    assert bytes(drive.read_record(rec)) == encoded
    assert drive.record_count() == 1 and [i for i, _ in drive.record_ids()] == [rec]
    with pytest.raises(OSError, match="400"):  # a damaged record is refused, not stored
        drive.write_record(new_id(), encoded[:-1] + bytes([encoded[-1] ^ 1]))
    assert drive.record_count() == 1
    drive.remove_record(rec)
    with pytest.raises(FileNotFoundError):
        drive.read_record(rec)
    total, free = drive.usage()
    assert total >= free > 0


def test_an_inline_versions_records_on_one_node_come_in_one_request(two_nodes):
    """A small object's GET needs a record from as many drives as it has data fragments; those of
    one node are asked for together (``?with=``): one round trip per node, not per drive."""
    catalog, keyring, nodes = two_nodes
    drives = remote_drives(catalog, keyring, "n1") + remote_drives(catalog, keyring, "n2")
    for position, drive in enumerate(drives):
        drive.position = position
    eset = ErasureSet(0, drives, spread=True)
    placement = Placement(0, 2, 2, (0, 1, 2, 3))
    body = os.urandom(3000)
    record = ObjectRecord("b", "small", len(body), '"s"', time.time(), "STANDARD", {}, (), placement=placement, data_id=new_id(), inline=True)
    eset.write_records(record, codec(2, 2).encode(body))
    calls: list[str] = []
    for drive in drives:
        def counted(method, path, query, body=b"", drive=drive, plain=drive.request):
            calls.append(f"{drive.node} {method} {query}")
            return plain(method, path, query, body)

        drive.request = counted  # type: ignore[method-assign]
    reader = eset.open(record, 0, len(body) - 1, lambda r: pytest.fail("no damage to report"))
    assert reader.inline_data == body
    assert len(calls) == 1, calls  # both records of the first node in the version's turn
    node = calls[0].split(" ")[0]
    assert calls[0] == f"{node} GET with={(drives[1] if node == 'n1' else drives[3]).drive_id}"

    # The same request says, drive by drive, what is missing and which drive failed there.
    n2 = drives[2:]
    n2[1].remove_record(record.data_id)
    ghost = RemoteDrive(9, "n2", "00000000-0000-4000-8000-000000000000", n2[0].connections, n2[0].sign)
    found = n2[0].read_records_beside(record.data_id, [n2[1], ghost])
    assert isinstance(found[0], bytes) and record_file.decode(found[0]).fragment == 2
    assert isinstance(found[1], FileNotFoundError) and n2[1].usable
    assert isinstance(found[2], OSError) and "no such drive" in str(found[2]) and not ghost.usable
    # With one of n1's records gone too, the read takes the rest from n2 and reports the damage.
    drives[0].remove_record(record.data_id)
    damaged: list[ObjectRecord] = []
    reader = eset.open(record, 0, len(body) - 1, damaged.append)
    assert reader.inline_data == body
    assert damaged == [record]


def test_the_erasure_code_spans_nodes_and_reads_on_when_one_is_killed(two_nodes):
    catalog, keyring, nodes = two_nodes
    # A set of four drives, two on each node: data fragments on n1, parity on n2 (as the caller, n1).
    drives = remote_drives(catalog, keyring, "n1") + remote_drives(catalog, keyring, "n2")
    for position, drive in enumerate(drives):
        drive.position = position
    eset = ErasureSet(0, drives)
    placement = Placement(0, 2, 2, (0, 1, 2, 3))
    body = os.urandom(3 * MiB + 12345)
    writer = eset.writer(placement)
    writer.write(body)
    stored = writer.commit()
    record = ObjectRecord(
        "b", "big", len(body), '"x"', time.time(), "STANDARD", {}, (Segment(stored.shard_id, len(body)),), placement=placement, data_id=new_id()
    )
    eset.write_records(record, None)

    def read_back() -> bytes:
        reader = eset.open(record, 0, len(body) - 1, lambda r: None)
        try:
            return b"".join(bytes(reader.read_piece(p)) for p in reader.pieces())
        finally:
            reader.close()

    assert read_back() == body
    nodes[1].kill()  # n2 is gone: its parity is not needed, and its drives go offline at once
    started = time.monotonic()
    assert read_back() == body
    assert time.monotonic() - started < 2.5
    with pytest.raises(OSError):
        drives[2].usage()
    assert drives[2].state is DriveState.OFFLINE
    # n1 alone holds the data fragments; were n1 gone instead, n2's parity would rebuild them.


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_unsigned_forged_replayed_and_unregistered_requests_are_refused(two_nodes):
    catalog, keyring, nodes = two_nodes
    drive_id = [d.drive_id for d in catalog.drives() if d.node == "n2"][0]
    path = f"/.hoard/internal/v1/drives/{drive_id}"
    port = nodes[1].port

    def get(headers: dict[str, str]) -> bytes:
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return _raw(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{lines}\r\n".encode())

    def signed(caller: str = "n1", ring: ClusterKeyring = keyring, to: str = "n2") -> dict[str, str]:
        return sign_request(ring, caller, "GET", path, [], 0, to=to)

    assert get(signed()).startswith(b"HTTP/1.1 200")
    assert get({}).startswith(b"HTTP/1.1 401")
    assert get(signed(ring=ClusterKeyring(ClusterKey(os.urandom(32))))).startswith(b"HTTP/1.1 401")
    once = signed()
    assert get(once).startswith(b"HTTP/1.1 200")
    assert get(once).startswith(b"HTTP/1.1 401")  # replayed
    assert get(signed(to="n1")).startswith(b"HTTP/1.1 401")  # meant for another node
    assert get(signed(caller="ghost")).startswith(b"HTTP/1.1 403")  # signed, but not a registered node
    forged = signed()
    forged["x-hoard-node"] = "n2"
    assert get(forged).startswith(b"HTTP/1.1 401")
    log = nodes[1].log()
    assert "refused" in log and keyring.current.text() not in log


def test_a_damaged_or_cut_short_shard_is_refused_and_nothing_kept(two_nodes):
    catalog, keyring, nodes = two_nodes
    drive = remote_drives(catalog, keyring, "n2")[0]
    data = os.urandom(200 * 1024)
    bad, short = new_id(), new_id()
    writer = drive.create_shard(bad)
    for n, (checksum, fragment) in enumerate(shard_blocks(data)):
        if n == 2:
            fragment = bytes([fragment[0] ^ 1]) + fragment[1:]
        writer.write_block(checksum, fragment)
    with pytest.raises(OSError, match="BLAKE3"):
        writer.commit()
    with pytest.raises(FileNotFoundError):
        drive.shard_size(bad)

    cut = drive.create_shard(short)
    for checksum, fragment in shard_blocks(data)[:2]:
        cut.write_block(checksum, fragment)
    cut.abort()  # the caller goes away mid-body
    deadline = time.monotonic() + 10
    node_root = nodes[1].data_dir.parent
    while time.monotonic() < deadline and any(p.is_file() for p in node_root.rglob(".hoard/tmp/*")):
        time.sleep(0.1)
    assert not [p for p in node_root.rglob(".hoard/tmp/*") if p.is_file()]
    with pytest.raises(FileNotFoundError):
        drive.shard_size(short)
    # Only ids as Hoard makes them name files: nothing else reaches the drive's folders.
    for bad_id in ("..", "." * 32, "0" * 31 + "G", "format.json"):
        with pytest.raises(OSError, match="400"):
            drive.request("GET", f"/.hoard/internal/v1/drives/{drive.drive_id}/shards/{bad_id}", "length=1&offset=0")


def test_hoard_admin_pool_add_lays_sets_over_the_nodes(two_nodes, tmp_path):
    catalog, _, nodes = two_nodes
    n1, n2 = (str(tmp_path / name) for name in ("n1", "n2"))
    refused = nodes[0].admin("pool", "add", f"n1:{n1}/d{{1...2}}", f"n2:{n2}/d{{1...2}}", "--set-size", "4", "--parity", "1", check=False)
    assert refused.returncode != 0 and "node" in refused.stderr  # two drives of a set on one node, parity 1
    assert catalog.layout().pools == ()

    made = nodes[0].admin("pool", "add", f"n1:{n1}/d{{1...2}}", f"n2:{n2}/d{{1...2}}", "--set-size", "4", "--json")
    pool = json.loads(made.stdout)
    assert pool["pool"] == 1 and pool["set_size"] == 4 and pool["parity"] == 2
    assert sorted(pool["sets"][0]) == sorted([f"n1:{n1}/d1", f"n1:{n1}/d2", f"n2:{n2}/d1", f"n2:{n2}/d2"])
    # Any node answers for the cluster: the layout lives in the database.
    listed = nodes[1].admin("pool", "list")
    assert "layout version 2" in listed.stdout and "pool 1 (active): 1 erasure sets of 4 drives, parity 2" in listed.stdout
    shown = nodes[1].admin("cluster")
    assert "node n1  zone z1" in shown.stdout and "node n2  zone z2" in shown.stdout and "live" in shown.stdout
    assert "queues: " in shown.stdout and "reclaim 0" in shown.stdout
    again = nodes[1].admin("pool", "add", f"n1:{n1}/d1", f"n1:{n1}/d2", f"n2:{n2}/d1", f"n2:{n2}/d2", check=False)
    assert again.returncode != 0 and "in pool 1 already" in again.stderr


def test_a_server_that_is_not_a_node_says_so(tmp_path):
    server = HoardServer(tmp_path / "data").start()
    try:
        refused = server.admin("pool", "list", check=False)
        assert refused.returncode != 0 and "not a cluster node" in refused.stderr
    finally:
        server.stop()


def test_a_node_needs_its_database_and_address_and_a_lower_case_name(tmp_path):
    from tests.integration.test_settings import assert_refused, run_server

    assert_refused(run_server(tmp_path, env={"HOARD_NODE": "n1", "HOARD_ADVERTISE": "http://127.0.0.1:1"}), r"Error: .*HOARD_META.*")
    assert_refused(run_server(tmp_path, env={"HOARD_ADVERTISE": "http://127.0.0.1:1"}), r"Error: .*HOARD_NODE is not.*")
    refused = run_server(tmp_path, "--node", "N1", env={"HOARD_META": "postgresql://x@127.0.0.1:1/x", "HOARD_ADVERTISE": "http://127.0.0.1:1"})
    assert refused.returncode == 2 and "lower-case" in refused.stderr


# -- S3 over the cluster's pools ------------------------------------------------------------------


def shard_files(root: Path) -> set[str]:
    return {p.name for p in (root / ".hoard" / "shards").glob("*/*")}


def wait_for_writes(client, bucket: str, timeout: float = 15.0) -> None:
    """Until the node has read the new pool's layout, or found a node's drives back (it looks
    every 2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.put_object(Bucket=bucket, Key="probe", Body=b"p")
            return
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("ServiceUnavailable", "SlowDown") or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def pooled(two_nodes, tmp_path):
    """Two nodes and one pool: a set of four drives, two on each node, parity 2."""
    catalog, keyring, nodes = two_nodes
    a, b = nodes[0].client(), nodes[1].client()
    a.create_bucket(Bucket="data")
    # No pool yet: nowhere to put bytes, and the node says so rather than keep them on its own drives.
    with pytest.raises(ClientError) as refused:
        a.put_object(Bucket="data", Key="early", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    n1, n2 = (tmp_path / name for name in ("n1", "n2"))
    nodes[0].admin("pool", "add", f"n1:{n1}/d{{1...2}}", f"n2:{n2}/d{{1...2}}", "--set-size", "4")
    wait_for_writes(a, "data")
    wait_for_writes(b, "data")
    return catalog, nodes, a, b, [n1 / "d1", n1 / "d2", n2 / "d1", n2 / "d2"]


def test_any_node_serves_any_object_spread_over_every_nodes_drives(pooled):
    catalog, nodes, a, b, drives = pooled
    small, big = os.urandom(1000), os.urandom(3 * MiB + 7)
    a.put_object(Bucket="data", Key="small", Body=small)
    before = [shard_files(d) for d in drives]
    a.put_object(Bucket="data", Key="big", Body=big, Metadata={"who": "n1"})
    # The big object's fragments: one new shard file on each of the four drives, two nodes.
    added = [shard_files(d) - was for d, was in zip(drives, before, strict=True)]
    assert all(len(new) == 1 for new in added) and len(set.union(*added)) == 1
    upload = b.create_multipart_upload(Bucket="data", Key="parts")["UploadId"]
    part_bodies = [os.urandom(5 * MiB), os.urandom(MiB)]
    parts = [
        {"PartNumber": n, "ETag": a.upload_part(Bucket="data", Key="parts", UploadId=upload, PartNumber=n, Body=body)["ETag"]}
        for n, body in enumerate(part_bodies, start=1)
    ]  # parts through either node, completed through the other
    b.complete_multipart_upload(Bucket="data", Key="parts", UploadId=upload, MultipartUpload={"Parts": parts})
    for client in (a, b):
        assert client.get_object(Bucket="data", Key="small")["Body"].read() == small
        got = client.get_object(Bucket="data", Key="big")
        assert got["Body"].read() == big and got["Metadata"] == {"who": "n1"}
        assert client.get_object(Bucket="data", Key="big", Range="bytes=1000-1999")["Body"].read() == big[1000:2000]
        assert client.get_object(Bucket="data", Key="parts")["Body"].read() == b"".join(part_bodies)
        assert [o["Key"] for o in client.list_objects_v2(Bucket="data")["Contents"]] == ["big", "parts", "probe", "small"]
    # Users made through both nodes at once: none is lost to the other node's change.
    names = [f"u{i}" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: nodes[i % 2].admin("user", "add", names[i]), range(6)))
    for node in nodes:  # and each node lists the other's at once
        listed = {u["name"] for u in json.loads(node.admin("user", "list", "--json").stdout)["users"]}
        assert set(names) <= listed, listed
    # Users are the cluster's: made through one node, they sign requests to the other.
    nodes[0].admin("user", "add", "alice")
    nodes[0].admin("policy", "attach", "readwrite", "--user", "alice")
    keys = json.loads(nodes[0].admin("key", "create", "--user", "alice", "--json").stdout)
    alice = boto3.client(
        "s3", endpoint_url=nodes[1].endpoint, aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"],
        region_name=REGION, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            assert alice.get_object(Bucket="data", Key="small")["Body"].read() == small
            break
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    # A node's own state: its drives, and the pools' sets it writes to, all with a write quorum.
    info = json.loads(nodes[1].admin("info", "--json").stdout)
    assert info["layout_version"] == 2 and len(info["pools"]) == 1 and info["node"] == "n2"
    assert info["pools"][0]["write_quorum_ok"] and len(info["drives"]) == 2
    assert {d["set"] for d in info["drives"]} == {0}  # both of n2's drives are in the pool's one set
    assert "drives" in nodes[1].admin("info").stdout
    # One node's drives hold part of the objects: no rebuild of the shared index from them.
    refused = nodes[1].admin("rebuild-index", check=False)
    assert refused.returncode != 0 and "NotImplemented" in refused.stderr + refused.stdout
    ready = urllib.request.urlopen(f"{nodes[1].endpoint}/.hoard/health/ready", timeout=10)
    assert ready.status == 200
    a.delete_object(Bucket="data", Key="big")
    for client in (a, b):
        with pytest.raises(ClientError) as gone:
            client.head_object(Bucket="data", Key="big")
        assert gone.value.response["Error"]["Code"] == "404"
    # Whichever node reclaims the deleted version's shard removes it from both nodes' drives.
    (shard,) = set.union(*added)
    deadline = time.monotonic() + 15
    while any(shard in shard_files(d) for d in drives):
        assert time.monotonic() < deadline, [sorted(shard_files(d)) for d in drives]
        time.sleep(0.2)


def test_half_a_set_gone_reads_everything_and_refuses_writes_until_it_is_back(pooled):
    catalog, nodes, a, b, drives = pooled
    bodies = {f"k{i}": os.urandom(300 * 1024 + i) for i in range(4)}
    small = {f"s{i}": os.urandom(100 + i) for i in range(3)}  # inline: kept in the records
    for key, body in {**bodies, **small}.items():
        b.put_object(Bucket="data", Key=key, Body=body)
    nodes[1].kill()
    # Half the set is gone (as a zone of two would be): every object still reads from the other
    # two fragments, but a write would keep no redundancy, so it is refused, never answered 200.
    for key, body in {**bodies, **small}.items():
        assert a.get_object(Bucket="data", Key=key)["Body"].read() == body
    for key, body in (("late", os.urandom(500 * 1024)), ("tiny", b"t")):
        with pytest.raises(ClientError) as refused:
            a.put_object(Bucket="data", Key=key, Body=body)
        assert (refused.value.response["Error"]["Code"], refused.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("SlowDown", 503)
    assert "late" not in [o["Key"] for o in a.list_objects_v2(Bucket="data").get("Contents", [])]
    ready = urllib.request.Request(f"{nodes[0].endpoint}/.hoard/health/ready")
    with pytest.raises(urllib.error.HTTPError) as not_ready:
        urllib.request.urlopen(ready, timeout=10)
    assert not_ready.value.code == 503
    nodes[1].start()
    wait_for_writes(a, "data")
    wait_for_writes(b, "data")
    late = os.urandom(500 * 1024)
    a.put_object(Bucket="data", Key="late", Body=late)
    for client in (a, b):
        assert client.get_object(Bucket="data", Key="late")["Body"].read() == late
        for key, body in {**bodies, **small}.items():
            assert client.get_object(Bucket="data", Key=key)["Body"].read() == body


def test_a_node_started_on_an_index_that_names_nothing_removes_no_file(pooled):
    """A database lost and made anew (before ``hoard admin rebuild-index --meta`` refilled it)
    names no object: a node's orphan sweep must not take that for a crash's leftovers, however
    old the files (here any age will do: no grace)."""
    catalog, nodes, a, b, drives = pooled
    for i in range(3):
        a.put_object(Bucket="data", Key=f"k{i}", Body=os.urandom(200 * 1024))
    kept = [shard_files(d) for d in drives]
    assert all(kept)
    store = PostgresMetaStore(nodes[0].env_extra["HOARD_META"], pool_size=1)
    try:
        store.replace_contents([], [])
    finally:
        store.close()
    nodes[1].stop()
    nodes[1].env_extra |= {"HOARD_ORPHAN_GRACE": "0", "HOARD_ORPHAN_SWEEP_INTERVAL": "0.5"}
    nodes[1].start()
    deadline = time.monotonic() + 20
    while "the orphan sweep removes nothing" not in nodes[1].log():
        assert time.monotonic() < deadline, nodes[1].log()[-2000:]
        time.sleep(0.2)
    assert [shard_files(d) for d in drives] == kept


def test_background_walkers_split_the_objects_by_partition(pooled):
    catalog, nodes, a, b, drives = pooled
    wait_for_shares(catalog, {"n1": 128, "n2": 128})  # both nodes up: two fair shares
    holder = {partition_of_lease(lease.name): lease.holder for lease in catalog.leases(LEASE_PREFIX)}
    keys = [f"tmp/k{i}" for i in range(24)]
    for key in keys:
        a.put_object(Bucket="data", Key=key, Body=key.encode())
    a.put_bucket_lifecycle_configuration(
        Bucket="data",
        LifecycleConfiguration={"Rules": [{"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]},
    )
    deadline = time.monotonic() + 30
    while b.list_objects_v2(Bucket="data", Prefix="tmp/").get("KeyCount"):
        assert time.monotonic() < deadline, "the lifecycle rule did not expire the objects"
        time.sleep(0.3)
    # Each key was judged and expired by the node holding its partition, and by no other.
    for node, name in zip(nodes, ("n1", "n2"), strict=True):
        expired = set(re.findall(r"lifecycle expired: data/(tmp/k\d+) ", node.log()))
        assert expired == {k for k in keys if holder[partition_of("data", k)] == name}, name


def shares(catalog: ClusterCatalog) -> Counter:
    return Counter(lease.holder for lease in catalog.leases(LEASE_PREFIX) if lease.expires_in > 0)


def wait_for_shares(catalog: ClusterCatalog, wanted: dict[str, int], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while (held := shares(catalog)) != wanted:
        assert time.monotonic() < deadline, held
        time.sleep(0.5)


def _copy_key(source: Path, target: Path) -> None:
    """As an operator copies the key file to a node: the whole file, mode 0600, replaced at once."""
    staged = target.with_suffix(".copy")
    staged.write_bytes(source.read_bytes())
    staged.chmod(0o600)
    staged.rename(target)


def test_the_cluster_key_is_rotated_on_every_node_without_a_restart(cluster_db, tmp_path):
    meta, operator_key = cluster_db
    old = read_key_file(operator_key).current
    keys = {name: tmp_path / "keys" / f"{name}.key" for name in ("n1", "n2")}
    for path in keys.values():
        _copy_key(operator_key, path)
    # n2 runs two worker processes: each takes its key file up, whichever answered a step.
    nodes = [start_node(tmp_path, meta, keys[name], name, zone, workers=1 + (name == "n2")) for name, zone in (("n1", "z1"), ("n2", "z2"))]
    store = PostgresMetaStore(meta, pool_size=2)
    try:
        catalog = ClusterCatalog(store)
        a, b = nodes[0].client(), nodes[1].client()
        a.create_bucket(Bucket="data")
        n1, n2 = (tmp_path / name for name in ("n1", "n2"))
        nodes[0].admin("pool", "add", f"n1:{n1}/d{{1...2}}", f"n2:{n2}/d{{1...2}}", "--set-size", "4")
        wait_for_writes(a, "data")
        before = os.urandom(2 * MiB)
        a.put_object(Bucket="data", Key="before", Body=before)

        # Nothing to finish before a new key is on the nodes.
        early = nodes[0].admin("cluster", "rotate-key", check=False)
        assert early.returncode != 0 and "no rotation under way" in early.stderr, early.stderr
        made = subprocess.run(
            [sys.executable, "-m", "hoard", "cluster", "rotate-key", "--key-file", str(operator_key)],
            env=clean_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        rotating = read_key_file(operator_key)
        assert rotating.current.key_id == old.key_id and rotating.accepted is not None
        new = rotating.accepted
        assert new.text() not in made.stdout + made.stderr  # never printed

        # On one node only: the rotation refuses to go on, naming the node without the key.
        _copy_key(operator_key, keys["n1"])
        assert wait_for(lambda: f"node(s) n2 do not hold key {new.key_id}" in _rotate_key(nodes[0]).stderr, timeout=15)
        _copy_key(operator_key, keys["n2"])
        assert wait_for(lambda: _rotate_key(nodes[0]).returncode == 0, timeout=15)

        # Every node signs with the new key alone, in its file and in the catalog.
        for path in keys.values():
            ring = read_key_file(path)
            assert (ring.current.key_id, ring.accepted) == (new.key_id, None)
        assert catalog.info().key_ids == (new.key_id,)
        # The nodes talk to each other with it (the set spans both), without a restart.
        after = os.urandom(2 * MiB)
        b.put_object(Bucket="data", Key="after", Body=after)
        assert a.get_object(Bucket="data", Key="after")["Body"].read() == after
        assert b.get_object(Bucket="data", Key="before")["Body"].read() == before
        # The old key opens nothing any more.
        drive_id = [d.drive_id for d in catalog.drives() if d.node == "n2"][0]
        path = f"/.hoard/internal/v1/drives/{drive_id}"

        def get(ring: ClusterKeyring) -> bytes:
            headers = "".join(f"{k}: {v}\r\n" for k, v in sign_request(ring, "n1", "GET", path, [], 0, to="n2").items())
            return _raw(nodes[1].port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode())

        assert get(ClusterKeyring(new)).startswith(b"HTTP/1.1 200")
        assert get(ClusterKeyring(old)).startswith(b"HTTP/1.1 401")
        # A node restarted joins with the new key; one given the old key file is refused.
        nodes[1].stop()
        nodes[1] = nodes[1].start()
        assert nodes[1].client().get_object(Bucket="data", Key="after")["Body"].read() == after
        stale = tmp_path / "keys" / "stale.key"
        stale.write_text(old.text() + "\n")
        stale.chmod(0o600)
        refused = subprocess.run(
            [sys.executable, "-m", "hoard", "server", "--address", f"127.0.0.1:{free_port()}", str(tmp_path / "n3" / "d1")],
            env={**clean_env(), "HOARD_CONSOLE_ADDRESS": "off", "HOARD_META": meta, "HOARD_NODE": "n3", "HOARD_ADVERTISE": "http://127.0.0.1:1", "HOARD_ZONE": "z1",
                 "HOARD_CLUSTER_KEY_FILE": str(stale), "HOARD_SECRETS_KEY": SECRETS_KEY, "HOARD_MASTER_KEY": MASTER_KEY},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode != 0 and "is not one of cluster" in refused.stderr, refused.stderr
        for node in nodes:
            assert new.text() not in node.log() and old.text() not in node.log()
    finally:
        store.close()
        for node in nodes:
            node.stop()



def _rotate_key(node: HoardServer) -> subprocess.CompletedProcess:
    return node.admin("cluster", "rotate-key", check=False)


def test_nodes_with_two_workers_serve_the_cluster_from_either_and_refuse_a_replay_in_both(cluster_db, tmp_path):
    meta, key_file = cluster_db
    nodes = [start_node(tmp_path, meta, key_file, name, zone, workers=2) for name, zone in (("n1", "z1"), ("n2", "z2"))]
    store = PostgresMetaStore(meta, pool_size=2)
    try:
        catalog = ClusterCatalog(store)
        nodes[0].client().create_bucket(Bucket="data")
        n1, n2 = (tmp_path / name for name in ("n1", "n2"))
        # Added while every worker runs: each learns of the pool, not only the leaders.
        nodes[0].admin("pool", "add", f"n1:{n1}/d{{1...2}}", f"n2:{n2}/d{{1...2}}", "--set-size", "4")
        bodies: dict[str, bytes] = {}
        served_by: set[str] = set()
        for i in range(16):
            node = nodes[i % 2]
            client = node.client()  # a new connection: the kernel hands it to either worker
            body = os.urandom(300_000 + i)
            wait_for_writes(client, "data")
            answer = client.put_object(Bucket="data", Key=f"k{i}", Body=body)
            served_by.add(answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-id-2"])
            bodies[f"k{i}"] = body
        assert len(served_by) >= 3, served_by  # both workers of the nodes served writes
        for i, (key, body) in enumerate(bodies.items()):
            assert nodes[(i + 1) % 2].client().get_object(Bucket="data", Key=key)["Body"].read() == body

        # One signed internal request, sent again and again on new connections: whichever worker
        # takes it, it is accepted once.
        keyring = read_key_file(key_file)
        drive_id = [d.drive_id for d in catalog.drives() if d.node == "n2"][0]
        path = f"/.hoard/internal/v1/drives/{drive_id}"
        headers = "".join(f"{k}: {v}\r\n" for k, v in sign_request(keyring, "n1", "GET", path, [], 0, to="n2").items())
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode()
        answers = [_raw(nodes[1].port, request)[:12] for _ in range(12)]
        assert answers.count(b"HTTP/1.1 200") == 1 and answers.count(b"HTTP/1.1 401") == 11, answers
        assert "replayed" in nodes[1].log()
    finally:
        store.close()
        for node in nodes:
            node.stop()


def _pools(node: HoardServer) -> dict[int, dict]:
    return {p["pool"]: p for p in json.loads(node.admin("pool", "list", "--json").stdout)["pools"]}


def _files(drives: list[Path], kind: str) -> set[str]:
    return {p.name for d in drives for p in (d / ".hoard" / kind).glob("*/*")}


def test_uploads_stay_in_one_pool_a_rebalance_evens_the_pools_and_a_decommissioned_one_empties(cluster_db, tmp_path):
    meta, key_file = cluster_db
    nodes: list[HoardServer] = []
    store = None
    try:
        for name, zone in (("n1", "z1"), ("n2", "z2")):
            # The orphan sweep every second, for files no version has named for 3 s.
            sweep = {"HOARD_ORPHAN_GRACE": "3", "HOARD_ORPHAN_SWEEP_INTERVAL": "1"}
            nodes.append(start_node(tmp_path, meta, key_file, name, zone, drives=4, env_extra=sweep))
        store = PostgresMetaStore(meta, pool_size=2)
        n1, n2 = (tmp_path / name for name in ("n1", "n2"))
        first = [n1 / "d1", n1 / "d2", n2 / "d1", n2 / "d2"]
        a, b = nodes[0].client(), nodes[1].client()
        a.create_bucket(Bucket="data")
        a.put_bucket_versioning(Bucket="data", VersioningConfiguration={"Status": "Enabled"})
        nodes[0].admin("pool", "add", f"n1:{n1}/d{{1...2}}", f"n2:{n2}/d{{1...2}}", "--set-size", "4")
        wait_for_writes(a, "data")
        wait_for_writes(b, "data")
        kept: dict[str, bytes] = {}  # key -> its current bytes
        for i, size in enumerate((0, 100, 40_000, 300_000, 3 * MiB + 5)):  # empty, inline, one block, several
            kept[f"one/{i}"] = os.urandom(size)
            a.put_object(Bucket="data", Key=f"one/{i}", Body=kept[f"one/{i}"])
        old = a.put_object(Bucket="data", Key="versions", Body=b"first")["VersionId"]
        kept["versions"] = os.urandom(200_000)
        b.put_object(Bucket="data", Key="versions", Body=kept["versions"])
        a.put_object(Bucket="data", Key="gone", Body=b"deleted later")
        a.delete_object(Bucket="data", Key="gone")  # a delete marker, current, over an older version
        for i in range(8):  # pool 1 far fuller than the pool added next: a rebalance has work
            kept[f"bulk/{i}"] = os.urandom(5 * MiB)
            (a, b)[i % 2].put_object(Bucket="data", Key=f"bulk/{i}", Body=kept[f"bulk/{i}"])

        nodes[1].admin("pool", "add", f"n1:{n1}/d{{3...4}}", f"n2:{n2}/d{{3...4}}", "--set-size", "4")
        # Both pools take writes (equal free space: about half each) once each node has read the
        # layout (every 2 s): until then a node places in pool 1 alone.
        placed: Counter[tuple[int, int]] = Counter()  # (node, pool)
        deadline = time.monotonic() + 30
        while not {(0, 2), (1, 2)} <= set(placed) and time.monotonic() < deadline:
            n = sum(placed.values())
            key = f"spread/{n}"
            (a, b)[n % 2].put_object(Bucket="data", Key=key, Body=b"s")
            placed[(n % 2, asyncio.run(store.get_object("data", key)).placement.pool)] += 1
        assert {pool for _, pool in placed} == {1, 2} and {(0, 2), (1, 2)} <= set(placed), placed
        # Every part of an upload goes to the pool it began in, whichever node takes it: parts
        # placed one by one would land in both pools, and the object could not be read.
        for u in range(4):
            key = f"multi/{u}"
            upload = (a, b)[u % 2].create_multipart_upload(Bucket="data", Key=key)["UploadId"]
            bodies = [os.urandom(5 * MiB), os.urandom(1000)]
            parts = [
                {"PartNumber": n, "ETag": (a, b)[n % 2].upload_part(Bucket="data", Key=key, UploadId=upload, PartNumber=n, Body=body)["ETag"]}
                for n, body in enumerate(bodies, start=1)
            ]  # fmt: skip
            (b, a)[u % 2].complete_multipart_upload(Bucket="data", Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
            kept[key] = b"".join(bodies)
        for client in (a, b):
            for key, body in kept.items():
                assert client.get_object(Bucket="data", Key=key)["Body"].read() == body, key

        # A rebalance moves pool 1's surplus to pool 2 (their drives alike: equally full), while
        # reads go on; the plan is forgotten once carried out.
        before = _pools(nodes[0])
        planned = nodes[0].admin("pool", "rebalance")
        assert "pool 1 -> pool 2:" in planned.stdout, planned.stdout
        deadline = time.monotonic() + 60
        while json.loads(nodes[1].admin("pool", "list", "--json").stdout)["rebalance"]:
            assert time.monotonic() < deadline, nodes[1].admin("pool", "list").stdout
            assert a.get_object(Bucket="data", Key="one/4")["Body"].read() == kept["one/4"]
            time.sleep(0.3)
        after = _pools(nodes[0])
        largest = max(len(body) for body in kept.values())
        assert after[2]["bytes"] > before[2]["bytes"]
        assert abs(after[1]["bytes"] - after[2]["bytes"]) <= 2 * largest < abs(before[1]["bytes"] - before[2]["bytes"]), (before, after)
        for client in (a, b):
            for key, body in kept.items():
                assert client.get_object(Bucket="data", Key=key)["Body"].read() == body, key
        # Planned again, what is left is the last object's overshoot at most.
        again = json.loads(nodes[1].admin("pool", "rebalance", "--json").stdout)["rebalance"]
        assert sum(m["planned"] for m in again) <= largest, again
        wait_for(lambda: not json.loads(nodes[0].admin("pool", "list", "--json").stdout)["rebalance"], timeout=60)

        # Pool 2 cannot go while it is the only other; pool 1 can, once.
        out = nodes[1].admin("pool", "decommission", "1")
        assert "pool 1 draining" in out.stdout
        again = nodes[0].admin("pool", "decommission", "1", check=False)
        assert again.returncode != 0 and "draining, not active" in again.stderr
        last = nodes[0].admin("pool", "decommission", "2", check=False)
        assert last.returncode != 0 and "only active pool" in last.stderr
        # A node killed mid-drain: the moves it had under way are left as they were (the version
        # rows still name pool 1), and each node's walk takes them up again once it is back.
        remaining = _pools(nodes[0])[1]["versions"]
        assert remaining > 0
        nodes[1].kill()
        nodes[1] = nodes[1].start()
        for client in (a, b):  # each node finds the other's drives back (a probe every 2 s)
            wait_for_writes(client, "data")
        progress = [remaining]
        # Writes and reads go on while it drains; new writes go to pool 2 alone.
        deadline = time.monotonic() + 90
        n = 0
        while (pool_1 := _pools(nodes[n % 2])[1])["state"] != "decommissioned":
            assert time.monotonic() < deadline, _pools(nodes[0])
            progress.append(pool_1["versions"])
            key = f"during/{n}"
            kept[key] = os.urandom(50_000)
            (a, b)[n % 2].put_object(Bucket="data", Key=key, Body=kept[key])
            assert (b, a)[n % 2].get_object(Bucket="data", Key=f"one/{n % 5}")["Body"].read() == kept[f"one/{n % 5}"]
            n += 1
            time.sleep(0.2)
        pools = _pools(nodes[0])
        assert (pools[1]["versions"], pools[1]["bytes"]) == (0, 0) and pools[2]["state"] == "active"
        assert len(progress) == 1 or min(progress) < progress[0], progress  # hoard admin pool list shows it going down
        for client in (a, b):
            for key, body in kept.items():
                got = client.get_object(Bucket="data", Key=key)
                assert got["Body"].read() == body, key
            assert client.get_object(Bucket="data", Key="versions", VersionId=old)["Body"].read() == b"first"
            markers = client.list_object_versions(Bucket="data", Prefix="gone")["DeleteMarkers"]
            assert [m["IsLatest"] for m in markers] == [True]
        # Nothing is left on the first pool's drives: records at once, shard files by reclaim. A
        # reclaim made while the killed node's drives were away could not reach them: what it left
        # there no version names, and that node's orphan sweep removes it, with no restart.
        assert wait_for(lambda: not _files(first, "records"), timeout=30), _files(first, "records")
        assert wait_for(lambda: not _files(first, "shards"), timeout=30), _files(first, "shards")
    finally:
        if store is not None:
            store.close()
        for node in nodes:
            node.stop()
