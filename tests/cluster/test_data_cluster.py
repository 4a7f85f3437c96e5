"""The cluster of docs/cluster.md on one machine: four Hoard nodes of four drives each on hosts of
their own (``tests.cluster.netns``), in two zones, one pool of two erasure sets of eight (4+4),
over the metadata tier of three etcd and three Patroni-run PostgreSQL hosts.

The nodes call each other over the internal API's mutual TLS (``--internal-tls``, a CA of the
test's own), as docs/cluster.md sets a cluster up: every shard, record and heal below crosses it.

Each test inflicts one failure of the table in issue 22 / docs/cluster.md while writers PUT
through the healthy nodes, and checks what must hold: every PUT answered 200 reads back byte for
byte from then on (the ledger, kept across the module), every GET of an acknowledged object
answers, no request is answered 500, and once the failure is repaired every object is whole
again on all eight drives of its set (heal).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from hoard.cli.certs import CA_CERT, CA_KEY, NODE_CERT, NODE_KEY, cluster_ca, node_certificate, write_pair
from hoard.cluster.internal_auth import sign_request
from hoard.cluster.keys import ClusterKey, ClusterKeyring, read_key_file
from hoard.cluster.layout_file import LAYOUT_FILE
from hoard.membership import HEARTBEAT_SECONDS, LAYOUT_SECONDS, LIVE_WITHIN
from tests.cluster.load import LoadThreads
from tests.cluster.metadata_tier import LOOP_WAIT, TTL, MetadataTier, PrimaryWatch, assert_rewound_and_following, wait_until
from tests.cluster.netns import Host, Network, sweep_leftovers
from tests.conftest import ACCESS_KEY, HoardServer

BUCKET = "chaos"
PORT = 9000  # every node on its own host: one port for all
INTERNAL_PORT = 9100  # the internal API's, over mutual TLS
ZONES = {"hoard1": "z1", "hoard2": "z1", "hoard3": "z2", "hoard4": "z2"}
DRIVES = 4
SET_SIZE, PARITY = 8, 4
CONNECT_TIMEOUT = 2.0  # a node's connect timeout to another (ClusterStorage)
SECRETS_KEY = base64.b64encode(os.urandom(32)).decode()
MASTER_KEY = base64.b64encode(os.urandom(32)).decode()
RETRY_CODES = {"SlowDown", "ServiceUnavailable"}
META_RETRY_SECONDS = 8.0  # HOARD_META_RETRY_SECONDS: how long a node waits out the database's absence


@dataclass
class Node(HoardServer):
    """``hoard server --node`` on a host of its own, reached at the host's address."""

    host: Host | None = None

    @property
    def name(self) -> str:
        assert self.host is not None
        return self.host.name


@dataclass(frozen=True)
class Answer:
    op: str
    key: str
    node: str
    started: float
    ended: float
    status: int | None  # None: no answer (timeout, reset)
    code: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Ledger:
    """Every PUT answered 200 in this module: key -> (ETag, SHA-256 of the body)."""

    objects: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, etag: str, body: bytes) -> None:
        with self.lock:
            self.objects[key] = (etag, hashlib.sha256(body).digest())

    def items(self) -> list[tuple[str, tuple[str, bytes]]]:
        with self.lock:
            return sorted(self.objects.items())

    def during(self, label: str, older: int = 48) -> list[tuple[str, tuple[str, bytes]]]:
        """What a scenario reads while its fault lasts: every object it wrote itself and a fixed
        sample of the older ones (each scenario's end reads the whole ledger back anyway). Reading
        the whole, growing ledger through parity during each fault took most of the module's time."""
        items = self.items()
        own = [item for item in items if item[0].startswith(f"{label}/")]
        rest = [item for item in items if not item[0].startswith(f"{label}/")]
        return own + random.Random(label).sample(rest, min(older, len(rest)))


def call(op: str, key: str, node: Node, request: Callable[[], dict]) -> tuple[Answer, dict | None]:
    started = time.monotonic()
    try:
        reply = request()
        return Answer(op, key, node.name, started, time.monotonic(), 200), reply
    except ClientError as e:
        status = e.response["ResponseMetadata"].get("HTTPStatusCode")
        return Answer(op, key, node.name, started, time.monotonic(), status, e.response["Error"].get("Code", "")), None
    except BotoCoreError as e:
        return Answer(op, key, node.name, started, time.monotonic(), None, type(e).__name__), None


class Writers(LoadThreads):
    """Threads PUTting objects of mixed sizes (inline records, one block, several blocks)
    through ``nodes`` in turn, with no client retries; each answer kept, each 200 in the ledger."""

    SIZES = (200, 40 * 1024, 300 * 1024, 1024 * 1024 + 3)

    def __init__(self, nodes: list[Node], ledger: Ledger, label: str, threads: int = 2, connect_timeout: float = 5) -> None:
        super().__init__(threads)
        self.ledger, self.label = ledger, label
        self.answers: list[Answer] = []
        # Made here: boto3's default session is not safe to make clients from in several threads.
        self._clients = [[(node, node.client(connect_timeout=connect_timeout, read_timeout=60)) for node in nodes] for _ in range(threads)]

    def __enter__(self) -> Writers:
        super().__enter__()
        return self

    def work(self, writer: int) -> None:
        clients = self._clients[writer]
        n = 0
        while not self.stopping:
            node, s3 = clients[(writer + n) % len(clients)]
            key, body = f"{self.label}/w{writer}/{n:05d}", os.urandom(self.SIZES[n % len(self.SIZES)])
            answer, reply = call("PUT", key, node, lambda k=key, b=body, c=s3: c.put_object(Bucket=BUCKET, Key=k, Body=b))
            if reply is not None:
                self.ledger.add(key, reply["ETag"], body)
            with self._lock:
                self.answers.append(answer)
            n += 1
            # A steady trickle, not a flood: every object written is read back after each test.
            time.sleep(0.3)

    def puts(self, after: float = 0.0) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.started > after]

    def wait_acknowledged(self, count: int, after: float = 0.0, timeout: float = 90) -> None:
        wait_until(f"{count} PUTs answered 200", lambda: sum(a.status == 200 for a in self.puts(after)) >= count, timeout)

    def wait_refused(self, count: int, after: float, timeout: float = 60) -> None:
        wait_until(f"{count} PUTs refused", lambda: sum(a.status != 200 for a in self.puts(after)) >= count, timeout)


def read_back(node: Node, objects: Ledger | list[tuple[str, tuple[str, bytes]]]) -> list[Answer]:
    """GET acknowledged objects (the whole ledger, or the part given) through ``node``: each must
    give back its bytes and ETag."""
    s3 = node.client(connect_timeout=5, read_timeout=60)
    answers = []
    for key, (etag, digest) in objects.items() if isinstance(objects, Ledger) else objects:
        answer, reply = call("GET", key, node, lambda k=key: s3.get_object(Bucket=BUCKET, Key=k))
        if reply is not None:
            body = reply["Body"].read()  # read in full before the answer counts as ended
            same = (reply["ETag"], hashlib.sha256(body).digest()) == (etag, digest)
            answer = dataclasses.replace(answer, ended=time.monotonic(), code="" if same else "read back other bytes")
        answers.append(answer)
    return answers


def assert_all_read(answers: list[Answer]) -> None:
    wrong = [a for a in answers if a.status != 200 or a.code]
    assert answers and not wrong, f"{len(wrong)} of {len(answers)} reads failed: {wrong[:5]}"


def assert_no_500(answers: list[Answer]) -> None:
    errors = [a for a in answers if a.status is not None and a.status >= 500 and a.code not in RETRY_CODES]
    assert not errors, f"server errors: {errors[:5]}"


class Cluster:
    """Four nodes, the metadata tier under them, and the one pool."""

    def __init__(self, network: Network, tier: MetadataTier, folder: Path) -> None:
        self.network, self.tier, self.folder = network, tier, folder
        self.dbname = "hoard"
        self.meta = tier.create_database(self.dbname)
        self.key_file = folder / "cluster.key"
        self.certs = folder / "certs"
        self.checks = 0  # scenarios checked so far
        self.nodes = {name: self._node(network.add_host(name), zone) for name, zone in ZONES.items()}

    def _env(self) -> dict[str, str]:
        return {"HOARD_META": self.meta, "PGPASSWORD": self.tier.passwords["hoard"]}

    def tls_files(self, name: str) -> list[str]:
        """A node's certificate, key and the cluster's CA (``--internal-tls``)."""
        return [str(self.certs / name / NODE_CERT), str(self.certs / name / NODE_KEY), str(self.certs / "ca" / CA_CERT)]

    def _node(self, host: Host, zone: str) -> Node:
        if not (self.certs / "ca").exists():
            write_pair(self.certs / "ca", (CA_CERT, CA_KEY), cluster_ca("chaos CA"), force=False)
        ca = ((self.certs / "ca" / CA_CERT).read_bytes(), (self.certs / "ca" / CA_KEY).read_bytes())
        write_pair(self.certs / host.name, (NODE_CERT, NODE_KEY), node_certificate(*ca, host.name, [host.address]), force=False)
        env = {
            **self._env(), "HOARD_NODE": host.name, "HOARD_ADVERTISE": f"http://{host.address}:{PORT}", "HOARD_ZONE": zone,
            "HOARD_CLUSTER_KEY_FILE": str(self.key_file), "HOARD_SECRETS_KEY": SECRETS_KEY, "HOARD_MASTER_KEY": MASTER_KEY,
            "HOARD_META_RETRY_SECONDS": str(META_RETRY_SECONDS),
            "HOARD_INTERNAL_ADDRESS": f"{host.address}:{INTERNAL_PORT}", "HOARD_INTERNAL_TLS": ",".join(self.tls_files(host.name)),
        }  # fmt: skip
        drives = [self.folder / host.name / f"d{i}" for i in range(1, DRIVES + 1)]
        argv = host.argv(sys.executable, "-m", "hoard", "server", "--address", f"{host.address}:{PORT}", *map(str, drives))
        return Node(self.folder / host.name / "data", port=PORT, env_extra=env, drives=drives, argv=argv, address=host.address, host=host)

    def start(self) -> None:
        init = subprocess.run(
            [sys.executable, "-m", "hoard", "cluster", "init", "--meta", self.meta, "--key-file", str(self.key_file)],
            env={**os.environ, **self._env()}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        for node in self.nodes.values():
            (self.folder / node.name).mkdir(exist_ok=True)
            node.start(timeout=60)
        first = self.nodes["hoard1"]
        drives = [f"{name}:{self.folder / name}/d{{1...{DRIVES}}}" for name in ZONES]
        made = json.loads(first.admin("pool", "add", *drives, "--set-size", str(SET_SIZE), "--parity", str(PARITY), "--json").stdout)
        assert len(made["sets"]) == 2 and made["parity"] == PARITY
        first.client().create_bucket(Bucket=BUCKET)
        for node in self.nodes.values():
            wait_until(f"{node.name} writes to the pool", lambda n=node: self.writes_through(n), 30, node.log)

    def writes_through(self, node: Node) -> bool:
        answer, _ = call("PUT", "probe", node, lambda: node.client().put_object(Bucket=BUCKET, Key="probe", Body=b"p"))
        return answer.status == 200

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()

    def node(self, name: str) -> Node:
        return self.nodes[name]

    # -- what the drives hold ---------------------------------------------------------------
    def drives(self) -> list[Path]:
        return [d for node in self.nodes.values() for d in node.drives]

    def unwhole(self, ledger: Ledger) -> list[str]:
        """Acknowledged objects not on all eight drives of their set: a record on each, and for a
        version kept in shard files, each of its shard files on each."""
        with self.tier.superuser(self.dbname) as conn:
            rows = {k: (d, json.loads(s), i) for k, d, s, i in conn.execute("SELECT key, data_id, segments, inline FROM objects WHERE bucket = %s", (BUCKET,))}
        records = self._files("records")
        shards = self._files("shards")
        missing = []
        for key, _ in ledger.items():
            data_id, segments, inline = rows[key]
            counts = [records.get(data_id, 0)] + ([] if inline else [shards.get(s[0], 0) for s in segments])
            if any(c != SET_SIZE for c in counts):
                missing.append(f"{key}: {counts}")
        return missing

    def _files(self, kind: str) -> Counter[str]:
        return Counter(path.name for drive in self.drives() for path in (drive / ".hoard" / kind).glob("*/*"))

    def wait_whole(self, ledger: Ledger, timeout: float = 120) -> None:
        # Every few seconds, not in a tight loop: counting the drives' files costs the CPU heal needs.
        start = time.monotonic()
        while missing := self.unwhole(ledger):
            if time.monotonic() > start + timeout:
                pytest.fail(f"not every acknowledged object is whole on all 8 drives of its set after {timeout:.0f}s: {missing[:10]}")
            time.sleep(2)
        print(f"every object whole after {time.monotonic() - start:.0f}s")

    def logs(self) -> str:
        return "\n".join(f"--- {n.name} ---\n" + "\n".join(n.log().splitlines()[-30:]) for n in self.nodes.values())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    sweep_leftovers()
    network = Network()
    try:
        network.create()
        tier = MetadataTier(network)
        try:
            tier.start()
            made = Cluster(network, tier, tmp_path_factory.mktemp("nodes"))
            try:
                made.start()
                yield made
            finally:
                made.stop()
        finally:
            tier.stop()
    finally:
        network.destroy()


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def whole(cluster: Cluster, ledger: Ledger) -> Iterator[Cluster]:
    """The metadata tier whole and every node up and reached, and after the test (the tier made
    whole again, whatever the test did to it) every acknowledged object whole and read back
    through every node."""
    cluster.tier.restore()
    for node in cluster.nodes.values():
        cluster.network.plug(node.host)
        cluster.network.reconnect(node.host)
        if node.proc is None or node.proc.poll() is not None:
            node.start(timeout=60)
    for node in cluster.nodes.values():
        wait_until(f"{node.name} writes", lambda n=node: cluster.writes_through(n), 60, cluster.logs)
    yield cluster
    cluster.tier.restore()
    cluster.wait_whole(ledger)
    # The whole ledger after every scenario, through a node of each zone in turn.
    cluster.checks += 1
    assert_all_read(read_back(cluster.node(("hoard2", "hoard4")[cluster.checks % 2]), ledger))


def test_the_pool_spreads_each_set_over_both_zones_and_all_nodes(whole: Cluster, ledger: Ledger):
    with Writers([whole.node("hoard1"), whole.node("hoard3")], ledger, "spread") as writers:
        writers.wait_acknowledged(40)
    assert all(a.status == 200 for a in writers.puts())
    listed = json.loads(whole.node("hoard2").admin("pool", "list", "--json").stdout)
    (pool,) = listed["pools"]
    for members in pool["sets"]:
        nodes = [m.split(":", 1)[0] for m in members]
        assert {n: nodes.count(n) for n in ZONES} == dict.fromkeys(ZONES, 2)  # at most m = 4 per node and per zone


def test_a_node_killed_costs_no_read_and_no_write_and_heal_refills_it(whole: Cluster, ledger: Ledger):
    victim = whole.node("hoard4")
    gateways = [whole.node("hoard1"), whole.node("hoard2")]
    with Writers(gateways, ledger, "killed") as writers:
        writers.wait_acknowledged(12)
        fault = time.monotonic()
        victim.kill()
        writers.wait_acknowledged(24, after=fault)
        reads = [a for g in gateways for a in read_back(g, ledger.during("killed"))]
    # Six of eight drives of each set remain: above the write quorum (5), so nothing is refused.
    puts = writers.puts()
    assert all(a.status == 200 for a in puts), [a for a in puts if a.status != 200][:5]
    assert_all_read(reads)
    victim.start(timeout=60)
    wait_until("hoard4 writes again", lambda: whole.writes_through(victim), 60, whole.logs)
    # ``whole`` then waits until heal has refilled hoard4's drives with what they missed.


def test_a_node_cut_off_delays_a_read_by_at_most_one_connect_timeout(whole: Cluster, ledger: Ledger):
    victim = whole.node("hoard3")
    gateways = [whole.node("hoard1"), whole.node("hoard2")]
    baseline = read_back(gateways[0], ledger.during("baseline"))
    assert_all_read(baseline)
    slowest_before = max(a.seconds for a in baseline)
    for label, fault, repair in (
        ("unplugged", lambda: whole.network.unplug(victim.host), lambda: whole.network.plug(victim.host)),
        # One way: what the other nodes send it is dropped, its heartbeat still reaches the
        # database, so it is counted alive and its drives are tried again every few seconds.
        ("refused", lambda: whole.network.refuse_from(victim.host, [n.host for n in whole.nodes.values() if n is not victim]),
         lambda: whole.network.reconnect(victim.host)),
    ):  # fmt: skip
        with Writers(gateways, ledger, label) as writers:
            writers.wait_acknowledged(8)
            cut = time.monotonic()
            fault()
            reads = read_back(gateways[0], ledger.during(label)) + read_back(gateways[1], ledger.during(label))
            writers.wait_acknowledged(16, after=cut)
            repair()
        assert_all_read(reads)
        assert max(a.seconds for a in reads) <= slowest_before + CONNECT_TIMEOUT + 1.0, sorted(a.seconds for a in reads)[-5:]
        puts = writers.puts()
        assert_no_500(puts)
        assert all(a.status == 200 or a.code in RETRY_CODES for a in puts), [a for a in puts if a.status != 200][:5]
        whole.wait_whole(ledger)  # back: heal refills what it missed, before the second fault


def test_a_zone_down_reads_everything_and_refuses_every_write_until_it_is_back(whole: Cluster, ledger: Ledger):
    zone = [whole.node("hoard3"), whole.node("hoard4")]
    gateways = [whole.node("hoard1"), whole.node("hoard2")]
    with Writers(gateways, ledger, "zone") as writers:
        writers.wait_acknowledged(8)
        for node in zone:
            node.kill()
        down = time.monotonic()
        reads = [a for g in gateways for a in read_back(g, ledger.during("zone"))]
        writers.wait_refused(12, after=down)
        back = time.monotonic()
        for node in zone:
            node.start(timeout=60)
        writers.wait_acknowledged(12, after=time.monotonic())
    assert_all_read(reads)
    # With the zone down a write would keep four fragments of eight, no redundancy: never a 200.
    during = [a for a in writers.puts(after=down) if a.ended < back]
    assert during and all((a.status, a.code) == (503, "SlowDown") for a in during), [a for a in during if a.code != "SlowDown"][:5]
    assert_no_500(writers.puts())


def _partition_leases(whole: Cluster) -> dict[str, tuple[str, int, bool]]:
    """Every partition lease: name -> (holder, epoch, unexpired), by the database's clock."""
    with whole.tier.superuser(whole.dbname) as conn:
        rows = conn.execute("SELECT name, holder, epoch, expires_at > now() FROM leases WHERE name LIKE 'part/%'").fetchall()
    return {name: (holder, epoch, live) for name, holder, epoch, live in rows}


def _shares(whole: Cluster) -> Counter[str]:
    return Counter(holder for holder, _, live in _partition_leases(whole).values() if live)


def test_a_node_paused_past_its_lease_loses_its_partitions_and_gets_a_share_back_at_new_epochs(whole: Cluster, ledger: Ledger):
    victim = whole.node("hoard3")
    gateways = [whole.node("hoard1"), whole.node("hoard2")]
    wait_until("every node holds its share of the partitions", lambda: _shares(whole) == dict.fromkeys(ZONES, 64), 60, whole.logs)
    before = {name: epoch for name, (holder, epoch, _) in _partition_leases(whole).items() if holder == victim.name}
    pids = victim.pids()
    with Writers(gateways, ledger, "paused") as writers:
        writers.wait_acknowledged(8)
        paused = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            # Its kernel still takes what is sent to it, so no TCP timeout ends a call waiting on
            # it: what does is the others seeing its heartbeat stop (LIVE_WITHIN).
            reads = [a for g in gateways for a in read_back(g, ledger.during("paused"))]
            # Silent past the lease TTL (10 s): the three others take its partitions over.
            wait_until("hoard3's partitions taken over", lambda: victim.name not in _shares(whole) and sum(_shares(whole).values()) == 256, 40, whole.logs)
            writers.wait_acknowledged(8, after=time.monotonic())
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        # Back, it learns in its next round that it lost them (their renewal is refused), then
        # takes a fair share again, each lease at a higher epoch than any it held: whatever it
        # had under way under the old ones can no longer commit (fencing, tests/integration/test_cluster_catalog.py).
        wait_until("hoard3 knows it lost its leases", lambda: "node hoard3 lost" in victim.log(), 30, whole.logs)
        wait_until("the shares even again", lambda: _shares(whole) == dict.fromkeys(ZONES, 64), 60, whole.logs)
    again = {name: epoch for name, (holder, epoch, _) in _partition_leases(whole).items() if holder == victim.name}
    assert again and all(again[name] > before[name] for name in again.keys() & before.keys()), (before, again)
    assert_all_read(reads)
    puts = writers.puts(after=paused - 2)  # with those under way when it stopped
    assert_no_500(puts)
    assert all(a.status == 200 or a.code in RETRY_CODES for a in puts), [a for a in puts if a.status != 200][:5]
    print(f"paused {resumed - paused:.1f}s; slowest read {max(a.seconds for a in reads):.1f}s, slowest PUT {max(a.seconds for a in puts):.1f}s")
    # Found silent within LIVE_WITHIN of its last heartbeat, looked for every LAYOUT_SECONDS:
    # then every call waiting on it ends (not after the internal calls' 30 s I/O timeout).
    bound = HEARTBEAT_SECONDS + LIVE_WITHIN + LAYOUT_SECONDS + 3.0
    assert max(a.seconds for a in reads + puts) <= bound, sorted(a.seconds for a in reads + puts)[-5:]


def test_forged_unsigned_replayed_and_unregistered_internal_requests_are_refused(whole: Cluster, ledger: Ledger):
    """The internal API of a node, over its mutual TLS: no certificate of the cluster's CA, no
    connection; with one, still nothing without the cluster key's signature, a replay, a
    signature meant for another node or a node name not registered. Nothing logs the key."""
    target = whole.node("hoard2")
    with whole.tier.superuser(whole.dbname) as conn:
        drive_id = conn.execute("SELECT drive_id FROM drives WHERE node = 'hoard2' ORDER BY path LIMIT 1").fetchone()[0]
    path = f"/.hoard/internal/v1/drives/{drive_id}"
    keyring = read_key_file(whole.key_file)
    cert, key, ca = whole.tls_files("hoard1")

    def context(with_certificate: bool) -> ssl.SSLContext:
        made = ssl.create_default_context(cafile=ca)
        if with_certificate:
            made.load_cert_chain(cert, key)
        return made

    def get(headers: dict[str, str], with_certificate: bool = True) -> bytes:
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        raw = socket.create_connection((target.address, INTERNAL_PORT), timeout=10)
        with context(with_certificate).wrap_socket(raw, server_hostname=target.address) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{lines}\r\n".encode())
            answer = b""
            while b"\r\n\r\n" not in answer and (chunk := tls.recv(65536)):
                answer += chunk
            return answer

    def signed(caller: str = "hoard1", ring: ClusterKeyring = keyring, to: str = "hoard2") -> dict[str, str]:
        return sign_request(ring, caller, "GET", path, [], 0, to=to)

    assert get(signed()).startswith(b"HTTP/1.1 200")
    # No client certificate: refused in the handshake (with TLS 1.3 the refusal is an alert the
    # client reads after its side of the handshake is done): no answer at all.
    try:
        uncertified = get(signed(), with_certificate=False)
    except (ssl.SSLError, ConnectionError):
        uncertified = b""
    assert uncertified == b""
    assert get({}).startswith(b"HTTP/1.1 401")
    assert get(signed(ring=ClusterKeyring(ClusterKey(os.urandom(32))))).startswith(b"HTTP/1.1 401")  # another key
    once = signed()
    assert get(once).startswith(b"HTTP/1.1 200")
    assert get(once).startswith(b"HTTP/1.1 401")  # replayed
    assert get(signed(to="hoard3")).startswith(b"HTTP/1.1 401")  # meant for another node
    assert get(signed(caller="ghost")).startswith(b"HTTP/1.1 403")  # signed, but no registered node
    forged = signed()
    forged["x-hoard-node"] = "hoard4"  # another node's name on hoard1's signature
    assert get(forged).startswith(b"HTTP/1.1 401")
    log = target.log()
    assert "refused" in log and keyring.current.text() not in log


def _assert_only_200_and_retry_later(puts: list[Answer]) -> None:
    assert_no_500(puts)
    refused = [a for a in puts if a.status != 200]
    assert all((a.status, a.code) in {(503, "ServiceUnavailable"), (503, "SlowDown")} for a in refused), [(a.key, a.node, a.status, a.code) for a in refused]


def test_the_database_primary_cut_off_from_etcd_and_its_peers_gives_way_without_split_brain(whole: Cluster, ledger: Ledger):
    """The primary's host cut off from etcd and the other PostgreSQL hosts (the Hoard nodes still
    reach it): it steps down, another is promoted, never two at once; PUTs through all four nodes
    are answered 200 or 503, and every 200 is on the new primary's timeline (``whole`` reads the
    ledger back); reconnected, the old primary is rewound and follows."""
    tier = whole.tier
    old = tier.primary()
    assert old is not None
    with PrimaryWatch(tier) as watch, Writers(list(whole.nodes.values()), ledger, "pg-primary-cut-off", threads=4, connect_timeout=60) as writers:
        writers.wait_acknowledged(12)
        tier.network.isolate(old.host, [m.host for m in [*tier.etcd, *tier.postgres] if m is not old])
        cut = time.monotonic()
        new = tier.wait_primary(timeout=60, other_than=old)
        writers.wait_acknowledged(12, after=cut, timeout=90)
        assert not old.answers("primary")  # still cut off, it is no primary: nothing can commit there
    watch.assert_never_two()
    _assert_only_200_and_retry_later(writers.puts())
    log_from = old.log_size()
    tier.network.reconnect(old.host)
    assert_rewound_and_following(tier, old, new, log_from)


def test_one_etcd_member_down_changes_nothing(whole: Cluster, ledger: Ledger):
    """etcd's leader dies: the other two elect another, the primary keeps its leader key, and
    every PUT through the four nodes is answered 200."""
    tier = whole.tier
    primary, leader = tier.primary(), tier.etcd_leader()
    assert primary is not None
    with PrimaryWatch(tier) as watch, Writers(list(whole.nodes.values()), ledger, "etcd-one-down", threads=4) as writers:
        writers.wait_acknowledged(12)
        fault = time.monotonic()
        tier.kill_host(leader)
        # Past the time the leader key of a primary that could not renew it would have lapsed.
        writers.wait_acknowledged(12, after=fault + TTL + LOOP_WAIT, timeout=90)
    puts = writers.puts()
    assert all(a.status == 200 for a in puts), [a for a in puts if a.status != 200][:5]
    assert watch.primaries() == {primary.name}


def test_two_etcd_members_down_failsafe_mode_keeps_the_primary_and_without_it_writes_stop(whole: Cluster, ledger: Ledger):
    """etcd without quorum: with failsafe_mode the primary, seeing every PostgreSQL member, stays
    primary and every PUT is answered 200; without it (the documented behaviour) it demotes
    itself and PUTs are answered 503 until etcd is whole and a primary elected again."""
    tier = whole.tier
    primary = tier.primary()
    assert primary is not None
    lost = tier.etcd[1:]  # one member left of three: no quorum
    with PrimaryWatch(tier) as watch, Writers(list(whole.nodes.values()), ledger, "etcd-two-down", threads=4, connect_timeout=60) as writers:
        writers.wait_acknowledged(12)
        fault = time.monotonic()
        for member in lost:
            tier.kill_host(member)
        wait_until("failsafe mode active", lambda: primary.status().get("failsafe_mode_is_active"), 30, tier.logs)
        writers.wait_acknowledged(12, after=fault + TTL + LOOP_WAIT, timeout=90)
        in_failsafe = writers.puts()
        assert all(a.status == 200 for a in in_failsafe), [a for a in in_failsafe if a.status != 200][:5]
        assert watch.primaries() == {primary.name}
        for member in lost:
            tier.revive_host(member)
        tier.wait_healthy()

        tier.patch_config(primary, {"failsafe_mode": False})
        for member in lost:
            tier.kill_host(member)
        wait_until(f"{primary.name} demoted", lambda: not primary.answers("primary"), 30, tier.logs)
        demoted = time.monotonic()
        # Waited out for one retry window (a failover would have ended within it), then 503;
        # once the outage has outlasted the window, every PUT is refused in seconds, not after
        # a window of its own (hoard.meta.outage).
        writers.wait_refused(1, after=demoted, timeout=META_RETRY_SECONDS + 10)
        spent = time.monotonic() + 4  # every node has found the database gone by then
        writers.wait_refused(8, after=spent, timeout=30)
        late = [a for a in writers.puts(after=spent) if a.status != 200]
        assert max(a.seconds for a in late) <= 4, sorted(a.seconds for a in late)
        for member in lost:
            tier.revive_host(member)
        back = time.monotonic()
        tier.wait_primary(timeout=60)
        writers.wait_acknowledged(12, after=back, timeout=90)
    watch.assert_never_two()
    _assert_only_200_and_retry_later(writers.puts())


def test_the_database_primary_dying_under_four_nodes_loses_no_acknowledged_write(whole: Cluster, ledger: Ledger):
    """The PostgreSQL primary's host dies (unplugged, every process SIGKILLed) while PUTs go
    through all four nodes: writes are answered 200 or 503 until the new primary takes them, go
    on within 30 s of the death, none acknowledged is lost (``whole`` reads the ledger back), and
    the old primary, back, follows the new one after pg_rewind."""
    tier = whole.tier
    old = tier.primary()
    assert old is not None
    # botocore's default connect timeout (60 s), not the 5 s of the rows that cut nodes off: the
    # client sends a body under it (urllib3), and a node waiting on the database for the bucket
    # reads no more of a body than its buffer holds until the database answers.
    logs_from = {name: len(node.log()) for name, node in whole.nodes.items()}
    with PrimaryWatch(tier) as watch, Writers(list(whole.nodes.values()), ledger, "pg-primary-died", threads=4, connect_timeout=60) as writers:
        writers.wait_acknowledged(12)
        death = time.monotonic()
        tier.kill_host(old)
        dead = time.monotonic()  # a PUT sent before this may still have committed on the old primary
        new = tier.wait_primary(timeout=60, other_than=old)
        writers.wait_acknowledged(12, after=dead, timeout=90)
    watch.assert_never_two()
    _assert_only_200_and_retry_later(writers.puts())
    resumed = min(a.ended for a in writers.puts(after=dead) if a.status == 200) - death
    assert resumed <= 30, f"writes resumed {resumed:.1f}s after the primary's death"
    # No node could beat while there was no primary: none took the others' silence then for
    # theirs (marking their drives offline, breaking the calls under way: hoard.cluster.liveness).
    for name, node in whole.nodes.items():
        assert "has not beaten its heart" not in node.log()[logs_from[name] :], name
    log_from = old.log_size()
    tier.revive_host(old)
    assert_rewound_and_following(tier, old, new, log_from)


def test_the_whole_database_dropped_comes_back_from_the_drives(whole: Cluster, ledger: Ledger):
    with Writers([whole.node("hoard1"), whole.node("hoard3")], ledger, "before-drop") as writers:
        writers.wait_acknowledged(12)
    whole.wait_whole(ledger)
    # Every drive keeps the layout, at the catalog's version.
    with whole.tier.superuser(whole.dbname) as conn:
        version = conn.execute("SELECT layout_version FROM cluster").fetchone()[0]
    wait_until(
        "the layout kept on every drive",
        lambda: all(json.loads((d / ".hoard" / LAYOUT_FILE).read_text())["layout_version"] == version for d in whole.drives() if (d / ".hoard" / LAYOUT_FILE).exists())
        and all((d / ".hoard" / LAYOUT_FILE).exists() for d in whole.drives()),
        30,
    )  # fmt: skip
    with whole.tier.superuser() as conn:
        conn.execute(f"DROP DATABASE {whole.dbname} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {whole.dbname} OWNER hoard")
    # The nodes run on against an empty database: nothing reads, and nothing is removed from the
    # drives (the orphan sweep of a node restarted now would find no object named).
    with pytest.raises(ClientError):
        whole.node("hoard2").client().head_object(Bucket=BUCKET, Key=ledger.items()[0][0])
    first = whole.node("hoard1")
    env = {**os.environ, "PGPASSWORD": whole.tier.passwords["hoard"], "HOARD_ROOT_ACCESS_KEY": ACCESS_KEY}
    options = [
        "--meta", whole.meta, "--node", "hoard1", "--key-file", str(whole.key_file), "--internal-tls", *whole.tls_files("hoard1"), *map(str, first.drives),
    ]  # fmt: skip
    admin = [sys.executable, "-m", "hoard", "admin", "rebuild-index"]
    done = subprocess.run([*admin, *options], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"layout version {version}" in done.stdout
    # `hoard cluster rebuild-index` is the same command under the cluster's group.
    again = subprocess.run([sys.executable, "-m", "hoard", "cluster", "rebuild-index", *options], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "not empty" in again.stderr  # never over a database in use
    for node in whole.nodes.values():  # the nodes back on the database made again
        node.stop()
        node.start(timeout=60)
    assert_all_read(read_back(whole.node("hoard2"), ledger))  # and again after the test, through the teardown's node
    with Writers([whole.node("hoard1"), whole.node("hoard4")], ledger, "after-drop") as writers:
        writers.wait_acknowledged(8)
    assert all(a.status == 200 for a in writers.puts())
