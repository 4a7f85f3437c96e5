"""Hoard's metadata in PostgreSQL kept available by Patroni and etcd, under the failures of
docs/cluster.md: the primary's machine dies, the primary is cut off from etcd and its peers, one
and then two of three etcd members go down.

A real Hoard server (``hoard server --meta <the multi-host connection string>``, one node, its
data folder local) takes PUTs, each read back at once, from writers that record every answer.
Whatever happens, every answer is a 200 or a 503 (never a 500, never none), and every PUT
answered 200 reads back byte for byte at the end and is a row in the surviving primary's database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.cluster.load import LoadThreads
from tests.cluster.metadata_tier import (
    LOOP_WAIT,
    PATRONI_TEMPLATE,
    ROOT,
    TTL,
    EtcdMember,
    MetadataTier,
    PatroniMember,
    assert_rewound_and_following,
    etcd_flags,
    hoard_conninfo,
    wait_until,
)
from tests.cluster.netns import Host, Network, sweep_leftovers
from tests.conftest import HoardServer

BUCKET = "failover"
WRITERS = 4
# How long Hoard's store retries a transaction before answering 503 (HOARD_META_RETRY_SECONDS):
# shorter than the default 30 so that an outage longer than it shows its 503s within the budget.
RETRY_SECONDS = 8
# S3's "retry later": what a request may be answered while the metadata tier fails over.
RETRY_CODES = {"SlowDown", "ServiceUnavailable"}


@dataclass(frozen=True)
class Answer:
    op: str  # PUT, or GET of what was just PUT
    key: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no answer at all (a timeout, a reset)
    code: str = ""  # S3's error code
    etag: str = ""
    body: bytes = b""


class Writers(LoadThreads):
    """Threads PUTting small objects through Hoard and reading each back, every answer recorded."""

    def __init__(self, server: HoardServer, writers: int = WRITERS) -> None:
        super().__init__(writers)
        self.server = server
        self.answers: list[Answer] = []

    def __enter__(self) -> Writers:
        super().__enter__()
        return self

    def work(self, writer: int) -> None:
        # Each answer as Hoard gave it (no retries), and a read timeout past Hoard's retry window:
        # a request waiting out a failover gets its answer.
        s3 = self.server.client(connect_timeout=5, read_timeout=RETRY_SECONDS + 60, retries={"total_max_attempts": 1})
        n = 0
        while not self.stopping:
            key, body = f"w{writer}/{n:06d}", os.urandom(1024 + n % 7 * 1000)
            put = self._record("PUT", key, body, lambda k=key, b=body: s3.put_object(Bucket=BUCKET, Key=k, Body=b))
            if put.status == 200:
                self._record("GET", key, body, lambda k=key: s3.get_object(Bucket=BUCKET, Key=k), etag=put.etag)
            n += 1

    def _record(self, op: str, key: str, body: bytes, request: Callable[[], dict], etag: str = "") -> Answer:
        """``request``'s answer; a GET must give back ``body`` with the ``etag`` its PUT was answered."""
        started = time.monotonic()
        try:
            reply = request()
            got = reply["Body"].read() if op == "GET" else body
            answer = Answer(op, key, started, time.monotonic(), 200, etag=reply["ETag"], body=got)
        except ClientError as e:
            status = e.response["ResponseMetadata"].get("HTTPStatusCode")
            answer = Answer(op, key, started, time.monotonic(), status, code=e.response["Error"].get("Code", ""))
        except BotoCoreError as e:
            answer = Answer(op, key, started, time.monotonic(), None, code=type(e).__name__)
        if op == "GET" and answer.status == 200 and (answer.etag, answer.body) != (etag, body):
            answer = dataclasses.replace(answer, code="read back other bytes")
        with self._lock:
            self.answers.append(answer)
        return answer

    def acknowledged(self) -> list[Answer]:
        """The PUTs answered 200."""
        with self._lock:
            return [a for a in self.answers if a.op == "PUT" and a.status == 200]

    def wait_acknowledged(self, count: int, after: float = 0.0, timeout: float = 60) -> Answer:
        """Wait until ``count`` PUTs sent after ``after`` were answered 200; the first of them."""
        def enough() -> Answer | None:
            fresh = sorted((a for a in self.acknowledged() if a.started > after), key=lambda a: a.ended)
            return fresh[0] if len(fresh) >= count else None

        return wait_until(f"{count} PUTs answered 200", enough, timeout, self.server.log)

    def wait_refused(self, after: float, timeout: float) -> Answer:
        """Wait until a PUT sent after ``after`` was answered something else than 200; that answer."""
        def refused() -> Answer | None:
            with self._lock:
                return next((a for a in self.answers if a.op == "PUT" and a.status != 200 and a.started > after), None)

        return wait_until("a PUT refused", refused, timeout, self.server.log)

    def not_ok(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.status != 200 or a.code]

    def assert_only_200_and_503(self) -> None:
        wrong = [a for a in self.not_ok() if (a.status, a.code in RETRY_CODES) != (503, True)]
        assert not wrong, f"answers other than 200 and 503 SlowDown/ServiceUnavailable: {wrong[:5]}"

    def assert_all_200(self) -> None:
        assert not self.not_ok(), f"answers other than 200 (of {len(self.answers)}): {self.not_ok()[:5]}"

    def summary(self) -> str:
        refused = [a for a in self.not_ok() if a.status == 503]
        longest = max((a.ended - a.started for a in self.answers), default=0.0)
        return f"{len(self.acknowledged())} PUTs acknowledged, {len(refused)} answers 503, slowest answer {longest:.1f}s"


class PrimaryWatch:
    """A thread asking every PostgreSQL member whether it is the primary (Patroni's /primary),
    over and over: the sets of members that said yes at once."""

    def __init__(self, tier: MetadataTier) -> None:
        self.tier = tier
        self.seen: list[frozenset[str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PrimaryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            self.seen.append(frozenset(m.name for m in self.tier.postgres if m.answers("primary")))

    def primaries(self) -> set[str]:
        return set().union(*self.seen)

    def assert_never_two(self) -> None:
        assert self.seen and all(len(s) <= 1 for s in self.seen), f"two primaries at once: {[s for s in self.seen if len(s) > 1]}"


def assert_every_acknowledged_write_kept(server: HoardServer, tier: MetadataTier, acknowledged: list[Answer]) -> None:
    """Each PUT answered 200 reads back whole through Hoard, and is the row the primary holds."""
    assert acknowledged
    s3 = server.client()
    for answer in acknowledged:
        got = s3.get_object(Bucket=BUCKET, Key=answer.key)
        assert got["ETag"] == answer.etag, answer.key
        assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(answer.body).digest(), answer.key
    dbname = psycopg.conninfo.conninfo_to_dict(server.env_extra["HOARD_META"])["dbname"]
    with tier.superuser(dbname) as conn:
        rows = dict(conn.execute("SELECT key, etag FROM objects WHERE bucket = %s", (BUCKET,)).fetchall())
    missing = [a.key for a in acknowledged if a.key not in rows]
    assert not missing, f"acknowledged but not in the primary's database: {missing[:10]}"
    changed = [(a.key, a.etag, rows[a.key]) for a in acknowledged if rows[a.key] != a.etag]
    assert not changed, f"acknowledged with one ETag, another in the database: {changed[:10]}"


@pytest.fixture(scope="module")
def tier() -> Iterator[MetadataTier]:
    sweep_leftovers()
    network = Network()
    try:
        network.create()
        metadata = MetadataTier(network)
        try:
            metadata.start()
            yield metadata
        finally:
            metadata.stop()
    finally:
        network.destroy()


@pytest.fixture
def hoard(tier: MetadataTier, tmp_path) -> Iterator[HoardServer]:
    """A Hoard server on a fresh database of a whole tier, with a bucket to write to."""
    tier.restore()
    env = {
        "HOARD_META": tier.create_database(f"hoard_{uuid.uuid4().hex[:12]}"),
        "PGPASSWORD": tier.passwords["hoard"],
        "HOARD_META_RETRY_SECONDS": str(RETRY_SECONDS),
    }
    server = HoardServer(tmp_path / "data", env_extra=env).start(timeout=60)
    try:
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


@dataclass
class Failover:
    old: PatroniMember
    new: PatroniMember
    writers: Writers
    watch: PrimaryWatch
    failover: float  # seconds from the fault to a new primary
    resumed: float  # seconds from the fault to the first PUT sent once it was done, answered 200


def fail_the_primary(
    tier: MetadataTier,
    hoard: HoardServer,
    fault: Callable[[PatroniMember], None],
    still_failed: Callable[[PatroniMember], None] = lambda old: None,
) -> Failover:
    """``fault`` done to the primary under writes; what followed, once writes went on on a new
    primary (``still_failed`` checks the old one before it is repaired)."""
    old = tier.primary()
    assert old is not None
    with PrimaryWatch(tier) as watch, Writers(hoard) as writers:
        writers.wait_acknowledged(20)
        start = time.monotonic()
        fault(old)
        # A PUT sent while the fault was being done may still have committed on the old primary:
        # writes resume with the first one sent after it was done.
        faulted = time.monotonic()
        new = tier.wait_primary(timeout=60, other_than=old)
        failover = time.monotonic() - start
        resumed = writers.wait_acknowledged(1, after=faulted).ended - start
        writers.wait_acknowledged(20, after=faulted)
        still_failed(old)
    print(f"\n{new.name} primary after {failover:.1f}s, writes resumed after {resumed:.1f}s; {writers.summary()}")
    return Failover(old, new, writers, watch, failover, resumed)


def test_primary_machine_dies_writes_resume_and_nothing_acknowledged_is_lost(tier: MetadataTier, hoard: HoardServer):
    done = fail_the_primary(tier, hoard, tier.kill_host)
    done.writers.assert_only_200_and_503()
    done.watch.assert_never_two()
    assert done.resumed <= 30
    assert_every_acknowledged_write_kept(hoard, tier, done.writers.acknowledged())
    # Its machine back, the old primary follows the new one (pg_rewind takes back what it had
    # written that the new one never got).
    log_from = done.old.log_size()
    tier.revive_host(done.old)
    assert_rewound_and_following(tier, done.old, done.new, log_from)


def test_primary_cut_off_from_etcd_and_its_peers_gives_way_without_split_brain(tier: MetadataTier, hoard: HoardServer):
    def cut_off(old: PatroniMember) -> None:
        # Hoard (the test process) still reaches it: only its peers and etcd are cut off.
        tier.network.isolate(old.host, [m.host for m in [*tier.etcd, *tier.postgres] if m is not old])

    def stepped_down(old: PatroniMember) -> None:
        # Still cut off, it is no primary: no commit can be acknowledged there.
        assert not old.answers("primary")

    done = fail_the_primary(tier, hoard, cut_off, stepped_down)
    done.writers.assert_only_200_and_503()
    done.watch.assert_never_two()
    # Every write acknowledged, before the cut or after, is on the new primary's timeline.
    assert_every_acknowledged_write_kept(hoard, tier, done.writers.acknowledged())
    log_from = done.old.log_size()
    tier.network.reconnect(done.old.host)
    assert_rewound_and_following(tier, done.old, done.new, log_from)


def test_one_etcd_member_down_changes_nothing(tier: MetadataTier, hoard: HoardServer):
    primary = tier.primary()
    assert primary is not None
    with PrimaryWatch(tier) as watch, Writers(hoard) as writers:
        writers.wait_acknowledged(20)
        fault = time.monotonic()
        tier.kill_host(tier.etcd_leader())  # the Raft leader: the others elect another
        # Past the time the leader key of a primary that could not renew it would have lapsed.
        writers.wait_acknowledged(20, after=fault + TTL + LOOP_WAIT)
    print(f"\nthe etcd leader died: {writers.summary()}")
    writers.assert_all_200()
    assert watch.primaries() == {primary.name}
    assert_every_acknowledged_write_kept(hoard, tier, writers.acknowledged())


def lose_etcd_quorum_in_failsafe_mode(tier: MetadataTier, writers: Writers, watch: PrimaryWatch, primary: PatroniMember, lost: list[EtcdMember]) -> None:
    """etcd without quorum: the primary cannot renew its leader key, but every PostgreSQL member
    answers its /failsafe call, so it stays primary (and says why) and writes go on."""
    fault = time.monotonic()
    for member in lost:
        tier.kill_host(member)
    wait_until("failsafe mode active", lambda: primary.status().get("failsafe_mode_is_active"), 30, tier.logs)
    writers.wait_acknowledged(20, after=fault + TTL + LOOP_WAIT)
    writers.assert_all_200()
    assert watch.primaries() == {primary.name}
    print(f"\n2 of 3 etcd members down, failsafe mode: {writers.summary()}")


def lose_etcd_quorum_without_failsafe_mode(tier: MetadataTier, writers: Writers, primary: PatroniMember, lost: list[EtcdMember]) -> None:
    """The same without failsafe mode: the primary demotes itself and writes are refused, until
    etcd is whole again and a primary is elected."""
    tier.patch_config(primary, {"failsafe_mode": False})
    fault = time.monotonic()
    for member in lost:
        tier.kill_host(member)
    wait_until(f"{primary.name} demoted", lambda: not primary.answers("primary"), 30, tier.logs)
    demoted = time.monotonic()
    refused = writers.wait_refused(after=demoted, timeout=RETRY_SECONDS + 30)
    assert (refused.status, refused.code in RETRY_CODES) == (503, True), refused
    for member in lost:
        tier.revive_host(member)
    back = time.monotonic()
    tier.wait_primary(timeout=60)
    writers.wait_acknowledged(20, after=back)
    print(f"without failsafe mode: demoted after {demoted - fault:.1f}s, then {refused.status} {refused.code}; {writers.summary()}")


def test_two_etcd_members_down_failsafe_mode_keeps_the_primary_and_without_it_writes_stop(tier: MetadataTier, hoard: HoardServer):
    primary = tier.primary()
    assert primary is not None
    lost = tier.etcd[1:]  # one member left of three: no quorum
    with PrimaryWatch(tier) as watch, Writers(hoard) as writers:
        writers.wait_acknowledged(20)
        lose_etcd_quorum_in_failsafe_mode(tier, writers, watch, primary, lost)
        for member in lost:
            tier.revive_host(member)
        tier.wait_healthy()
        lose_etcd_quorum_without_failsafe_mode(tier, writers, primary, lost)
    writers.assert_only_200_and_503()
    watch.assert_never_two()
    assert_every_acknowledged_write_kept(hoard, tier, writers.acknowledged())


def test_the_documentation_shows_what_the_tests_run():
    """docs/cluster.md gives users the Patroni file, the etcd flags and Hoard's connection
    string these tests run, word for word."""
    doc = (ROOT / "docs" / "cluster.md").read_text()
    template = "".join(line for line in PATRONI_TEMPLATE.read_text().splitlines(keepends=True) if not line.startswith("# "))
    assert f"```yaml\n{template}```" in doc
    assert hoard_conninfo("10.0.0.11,10.0.0.12,10.0.0.13", "hoard") in doc
    machines = [Host(f"etcd{n}", "", f"10.0.0.1{n}", "") for n in (1, 2, 3)]
    command = doc.replace("\\\n  ", "")
    for flag in etcd_flags(machines[0], machines, Path("/var/lib/etcd/hoard"), "hoard-meta"):
        assert flag in command, flag
