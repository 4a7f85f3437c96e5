"""Hoard's metadata tier for tests: three etcd members and three PostgreSQL members run by
Patroni, each on a host of its own (``tests.cluster.netns``), as docs/cluster.md sets them up.

etcd is started first, then Patroni; every wait is on a health endpoint (etcd's /health,
Patroni's /primary, /replica and /sync), never on a sleep. Patroni runs the PostgreSQL that
``pg_config --bindir`` names, as the postgres user, with contrib/patroni.yml filled in.
"""

from __future__ import annotations

import json
import pwd
import secrets
import shutil
import string
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.cluster.netns import Host, Network, require
from tests.postgres_server import bindir

ROOT = Path(__file__).resolve().parents[2]
PATRONI_TEMPLATE = ROOT / "contrib" / "patroni.yml"
# The tests' timings (docs/cluster.md gives production's): a dead leader's key lapses after TTL
# seconds, Patroni looks every LOOP_WAIT, and gives etcd RETRY_TIMEOUT to answer.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 2, 3
MAX_CONNECTIONS = 100
ETCD_CLIENT_PORT, ETCD_PEER_PORT, PATRONI_PORT, POSTGRES_PORT = 2379, 2380, 8008, 5432
HOARD_ROLE = "hoard"


def wait_until(what: str, predicate: Callable[[], Any], timeout: float, logs: Callable[[], str] = lambda: "") -> Any:
    """Poll ``predicate`` until it answers something true, which is returned; else fail saying
    what was awaited (and the logs that may tell why)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = predicate()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout:.0f}s\n{logs()}")
        time.sleep(0.1)


def http(method: str, url: str, body: dict | None = None, timeout: float = 1.0) -> tuple[int | None, Any]:
    """(status, JSON body or None); status None when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (OSError, TimeoutError):
        return None, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


@dataclass
class Member:
    """One program on one host: its folder, its log, its process."""

    host: Host
    folder: Path
    program: str  # its path
    proc: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def log_path(self) -> Path:
        return self.folder / "log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True)

    def env(self) -> dict[str, str]:
        """A clean environment: none of the test process's PG*, PYTHON* or HOARD_* variables
        reaches etcd, Patroni or the PostgreSQL it runs."""
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": str(self.folder)}

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reap(self) -> None:
        """Wait for the process a signal to its host ended (a zombie would look alive)."""
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class EtcdMember(Member):
    peers: list[Host] = field(default_factory=list)  # every member, this one included
    token: str = ""

    @property
    def client_url(self) -> str:
        return f"http://{self.host.address}:{ETCD_CLIENT_PORT}"

    def argv(self) -> list[str]:
        return self.host.argv(self.program, *etcd_flags(self.host, self.peers, self.folder / "data", self.token))

    def healthy(self) -> bool:
        status, body = http("GET", f"{self.client_url}/health")
        return status == 200 and isinstance(body, dict) and body.get("health") == "true"

    def is_leader(self) -> bool:
        """Whether this member leads etcd's Raft group (its gRPC gateway's maintenance status)."""
        status, body = http("POST", f"{self.client_url}/v3/maintenance/status", {})
        return status == 200 and body["header"]["member_id"] == body["leader"]


def etcd_flags(host: Host, peers: list[Host], data_dir: Path, token: str) -> list[str]:
    """One etcd member of a static three-member cluster (docs/cluster.md shows them)."""
    cluster = ",".join(f"{p.name}=http://{p.address}:{ETCD_PEER_PORT}" for p in peers)
    return [
        f"--name={host.name}",
        f"--data-dir={data_dir}",
        f"--listen-peer-urls=http://{host.address}:{ETCD_PEER_PORT}",
        f"--initial-advertise-peer-urls=http://{host.address}:{ETCD_PEER_PORT}",
        f"--listen-client-urls=http://{host.address}:{ETCD_CLIENT_PORT}",
        f"--advertise-client-urls=http://{host.address}:{ETCD_CLIENT_PORT}",
        f"--initial-cluster={cluster}",
        f"--initial-cluster-token={token}",
        "--initial-cluster-state=new",
    ]


@dataclass
class PatroniMember(Member):
    @property
    def api(self) -> str:
        return f"http://{self.host.address}:{PATRONI_PORT}"

    def argv(self) -> list[str]:
        return self.host.argv(self.program, str(self.folder / "patroni.yml"), user="postgres")

    def answers(self, endpoint: str) -> bool:
        """Whether Patroni's health endpoint (primary, replica, sync) says 200 for this member."""
        return http("GET", f"{self.api}/{endpoint}")[0] == 200

    def status(self) -> dict:
        """Patroni's /patroni document (role, state, timeline, its standbys), {} when it is silent."""
        body = http("GET", f"{self.api}/patroni")[1]
        return body if isinstance(body, dict) else {}

    def streaming_standbys(self) -> set[str]:
        return {r.get("application_name") for r in self.status().get("replication", []) if r.get("state") == "streaming"}


def _postgres_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("there is no postgres user to run PostgreSQL and Patroni as: apt-get install -y postgresql")


class MetadataTier:
    """Three etcd members and three Patroni-run PostgreSQL members on their own hosts."""

    def __init__(self, network: Network) -> None:
        etcd, patroni = require("etcd", "patroni")
        self.network = network
        self.bin_dir = bindir()
        self.scope = f"{network.prefix}-meta"
        self.folder = Path(tempfile.mkdtemp(prefix=f"{network.prefix}-"))
        user = _postgres_user()
        self.folder.chmod(0o755)  # the postgres user reaches its members' folders through it
        self.passwords = {k: secrets.token_urlsafe(18) for k in ("superuser", "replication", "rewind", HOARD_ROLE)}
        etcd_hosts = [network.add_host(f"etcd{i}") for i in (1, 2, 3)]
        self.etcd = [EtcdMember(h, self._folder(h.name), etcd, peers=etcd_hosts, token=self.scope) for h in etcd_hosts]
        self.postgres = [self._patroni_member(network.add_host(f"pg{i}"), user, patroni) for i in (1, 2, 3)]

    def _folder(self, name: str, owner: pwd.struct_passwd | None = None) -> Path:
        folder = self.folder / name
        folder.mkdir(mode=0o700)
        if owner is not None:
            shutil.chown(folder, owner.pw_uid, owner.pw_gid)
        return folder

    def _patroni_member(self, host: Host, user: pwd.struct_passwd, program: str) -> PatroniMember:
        folder = self._folder(host.name, user)
        config = patroni_config(
            scope=self.scope, host=host, folder=folder, bin_dir=self.bin_dir, network=str(self.network.subnet),
            etcd_hosts=[e.host for e in self.etcd], passwords=self.passwords,
        )
        path = folder / "patroni.yml"
        path.write_text(config)
        path.chmod(0o600)  # passwords
        shutil.chown(path, user.pw_uid, user.pw_gid)
        return PatroniMember(host, folder, program)

    # -- starting and watching ----------------------------------------------------------------
    def start(self) -> None:
        for member in self.etcd:
            member.start()
        for member in self.etcd:
            wait_until(f"etcd member {member.name} healthy", member.healthy, 60, self.logs)
        for member in self.postgres:
            member.start()
        self.wait_healthy(timeout=120)
        self._create_hoard_role()

    def wait_healthy(self, timeout: float = 60) -> PatroniMember:
        """Every member up: etcd healthy, one primary streaming to two replicas, one of them its
        synchronous standby (without which, strict, no commit returns). The primary."""
        for member in self.etcd:
            wait_until(f"etcd member {member.name} healthy", member.healthy, timeout, self.logs)
        primary = self.wait_primary(timeout=timeout)
        others = {m.name for m in self.postgres} - {primary.name}
        wait_until(f"{sorted(others)} streaming from {primary.name}", lambda: primary.streaming_standbys() >= others, timeout, self.logs)
        wait_until("a synchronous standby", lambda: any(m.answers("sync") for m in self.postgres), timeout, self.logs)
        return primary

    def primary(self, among: list[PatroniMember] | None = None) -> PatroniMember | None:
        return next((m for m in among or self.postgres if m.answers("primary")), None)

    def wait_primary(self, timeout: float, other_than: PatroniMember | None = None) -> PatroniMember:
        among = [m for m in self.postgres if m is not other_than]
        return wait_until("a primary", lambda: self.primary(among), timeout, self.logs)

    def etcd_leader(self) -> EtcdMember:
        return wait_until("an etcd leader", lambda: next((m for m in self.etcd if m.is_leader()), None), 30, self.logs)

    def logs(self) -> str:
        return "\n".join(m.log_tail() for m in [*self.etcd, *self.postgres])

    # -- what Hoard is given ------------------------------------------------------------------
    @property
    def hosts(self) -> str:
        """The PostgreSQL members, as libpq's host= lists them."""
        return ",".join(m.host.address for m in self.postgres)

    def conninfo(self, dbname: str) -> str:
        """The libpq multi-host string Hoard is given (its password goes in PGPASSWORD)."""
        return hoard_conninfo(self.hosts, dbname)

    def superuser(self, dbname: str = "postgres") -> psycopg.Connection:
        """A superuser connection to the primary, for what an operator does there."""
        return psycopg.connect(
            host=self.hosts, port=POSTGRES_PORT, dbname=dbname, user="postgres", password=self.passwords["superuser"],
            target_session_attrs="read-write", connect_timeout=3, autocommit=True,
        )

    def _create_hoard_role(self) -> None:
        with self.superuser() as conn:
            password = sql.Literal(self.passwords[HOARD_ROLE])  # no parameters in utility statements
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(HOARD_ROLE), password))

    def create_database(self, name: str) -> str:
        """A new database Hoard's role owns; its connection string for Hoard."""
        with self.superuser() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(HOARD_ROLE)))
        return self.conninfo(name)

    # -- faults and their repair --------------------------------------------------------------
    def kill_host(self, member: Member) -> None:
        """The machine dies: unplugged first, so that nothing of its death (no reset, no FIN)
        reaches anyone, then every process on it SIGKILLed."""
        self.network.unplug(member.host)
        self.network.kill_all(member.host)
        member.reap()

    def revive_host(self, member: Member) -> None:
        """The machine back: plugged in, its program started again on its own data."""
        self.network.plug(member.host)
        member.start()

    def patch_config(self, via: PatroniMember, change: dict) -> None:
        """Change the cluster's dynamic configuration (in etcd) and wait until ``via`` runs with it."""
        status, body = http("PATCH", f"{via.api}/config", change, timeout=5)
        assert status == 200, f"PATCH /config answered {status}: {body}"
        wait_until(
            f"{via.name} running with {change}",
            lambda: (http("GET", f"{via.api}/config")[1] or {}).items() >= change.items(),
            10 * LOOP_WAIT,
            self.logs,
        )

    def restore(self) -> PatroniMember:
        """Undo whatever a test did to the tier (cables, partitions, dead programs, failsafe
        mode) and wait until it is whole again; the primary."""
        for member in [*self.etcd, *self.postgres]:
            self.network.plug(member.host)
            self.network.reconnect(member.host)
            if not member.running():
                member.start()
        primary = self.wait_healthy(timeout=90)
        if (http("GET", f"{primary.api}/config")[1] or {}).get("failsafe_mode") is not True:
            self.patch_config(primary, {"failsafe_mode": True})
        return primary

    def stop(self) -> None:
        for member in [*self.postgres, *self.etcd]:
            self.network.kill_all(member.host)
            member.reap()
        shutil.rmtree(self.folder, ignore_errors=True)


def hoard_conninfo(hosts: str, dbname: str) -> str:
    """What docs/cluster.md tells Hoard: every member, only the one that takes writes, and
    timeouts that give up on a dead host in seconds (libpq waits for the kernel's, minutes,
    on a machine that died without a word)."""
    return (
        f"host={hosts} port={POSTGRES_PORT} dbname={dbname} user={HOARD_ROLE} target_session_attrs=read-write "
        "connect_timeout=2 tcp_user_timeout=5000 keepalives_idle=5 keepalives_interval=2 keepalives_count=2"
    )


def patroni_config(
    scope: str, host: Host, folder: Path, bin_dir: Path, network: str, etcd_hosts: list[Host], passwords: dict[str, str]
) -> str:
    """contrib/patroni.yml for one member."""
    return string.Template(PATRONI_TEMPLATE.read_text()).substitute(
        scope=scope,
        name=host.name,
        address=host.address,
        etcd_hosts=",".join(f"{h.address}:{ETCD_CLIENT_PORT}" for h in etcd_hosts),
        ttl=TTL,
        loop_wait=LOOP_WAIT,
        retry_timeout=RETRY_TIMEOUT,
        max_connections=MAX_CONNECTIONS,
        data_dir=folder / "data",
        bin_dir=bin_dir,
        pgpass=folder / "pgpass",
        socket_dir=folder,
        superuser_password=passwords["superuser"],
        replication_password=passwords["replication"],
        rewind_password=passwords["rewind"],
        network=network,
    )


def assert_rewound_and_following(tier: MetadataTier, old: PatroniMember, primary: PatroniMember, log_from: int) -> None:
    """``old`` follows ``primary`` again, on its timeline, a replica Patroni vouches for, after
    pg_rewind took back what it had written that ``primary`` never got (its log since ``log_from``)."""
    wait_until(f"{old.name} a replica of {primary.name}", lambda: old.answers("replica") and old.name in primary.streaming_standbys(), 90, tier.logs)
    assert old.status().get("timeline") == primary.status().get("timeline")
    assert "running pg_rewind from" in old.log_since(log_from), old.log_tail()


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
