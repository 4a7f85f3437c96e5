"""Hoard on four nodes against one node, on the same machine and the same 16 drives, in the same
run: the data path's overhead (PUT and GET of 64 MiB and of 4 KiB, through 1, 2 and 4 gateway
nodes, with the CPU each request cost), and a pool added under 100 PUT/s.

    python -m benchmarks.cluster_data_path            # as root (the expansion part mounts tmpfs)
    python -m benchmarks.cluster_data_path --quick

The baseline is one server on the same 16 drives, the laptop default (its index in SQLite on the
drives), and beside it the same server with its index in PostgreSQL, which separates what the
database costs from what the network between nodes costs. One server makes one erasure set of
16 drives; at parity 8 it keeps each object twice over, as the cluster's two sets of eight at
parity 4 do (a cluster's set may hold at most its parity count of drives on one node, so one node
cannot hold the cluster's sets). The cluster is four nodes of four drives in two zones, on a
PostgreSQL started here (``tests/postgres_server.py``), so every set spans every node and each
request crosses the internal API. On one 2-core machine all nodes share the cores and the disk:
the figures measure the distribution's overhead, not scale-out, and the report says so.

Expansion: four nodes whose drives are tmpfs mounts of two sizes (so the pools' free space
differs, as it would between old and new disks); pool 1 takes drives 1-2 of every node, and pool
2 (drives 3-4, three times the size) is added through ``hoard admin pool add`` while PUTs go on
at 100/s through all four nodes. Every PUT must be answered 200, and the writes made once every
node has the new layout must land in the pools in proportion to their free space, within 10%.

Report: ``benchmarks/results/cluster-data-path-latest.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from benchmarks.client import Connection, Credentials
from benchmarks.loadgen import Op, RunStats, drive, percentile, run_async
from benchmarks.procstat import tree_cpu_seconds
from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, free_port
from tests.postgres_server import PostgresServer

MiB = 1024 * 1024
RESULTS = Path(__file__).parent / "results"
CREDS = Credentials(ACCESS_KEY, SECRET_KEY)
BUCKET = "bench"
SET_SIZE, PARITY = 8, 4
ZONES = {"n1": "z1", "n2": "z1", "n3": "z2", "n4": "z2"}
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
FLOORS = {"64 MiB": 0.50, "4 KiB": 0.40}  # the cluster's share of one node's throughput, at least
EXPANSION_RATE = 100.0  # PUT/s while the pool is added
SMALL_POOL_MIB, BIG_POOL_MIB = 256, 768  # each drive's tmpfs, pool 1 and pool 2


@dataclass(frozen=True)
class Plan:
    rounds: int
    seconds: float  # a small-object run's length
    big_puts: int  # 64 MiB objects a PUT run writes
    big_gets: int  # 64 MiB GETs a GET run makes
    small_keys: int  # 4 KiB objects seeded for the GET runs
    expansion_seconds: float


def plan_for(quick: bool) -> Plan:
    if quick:
        return Plan(rounds=2, seconds=6.0, big_puts=6, big_gets=8, small_keys=300, expansion_seconds=24.0)
    return Plan(rounds=3, seconds=15.0, big_puts=12, big_gets=16, small_keys=1000, expansion_seconds=40.0)


@dataclass(frozen=True)
class Workload:
    id: str
    size: int
    method: str
    concurrency: int

    @property
    def group(self) -> str:
        return "64 MiB" if self.size == 64 * MiB else "4 KiB"


WORKLOADS = (
    Workload("put-64m-c2", 64 * MiB, "PUT", 2),
    Workload("get-64m-c2", 64 * MiB, "GET", 2),
    Workload("put-4k-c16", 4096, "PUT", 16),
    Workload("get-4k-c16", 4096, "GET", 16),
)


# -- deployments -------------------------------------------------------------------------------


@dataclass
class Deployment:
    """Nodes of one cluster on their own database."""

    label: str
    nodes: list[HoardServer]
    meta: str
    seeded: dict[str, list[str]] = field(default_factory=dict)

    def pids(self) -> list[int]:
        return [n.proc.pid for n in self.nodes if n.proc is not None]

    def cpu(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.pids())

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_server(folder: Path, label: str, drives: list[Path], env: dict[str, str]) -> Deployment:
    """One server (no cluster) on ``drives``; ``env``: its settings beside the root keys."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"HOARD_LOG_LEVEL": "warning", "HOARD_RECLAIM_GRACE": "1", **env}
    deployment = Deployment(label, [HoardServer(folder / "log", env_extra=settings, drives=drives).start(timeout=60)], env.get("HOARD_META", ""))
    try:
        run_async(_create_bucket(deployment))
    except BaseException:
        deployment.stop()
        raise
    return deployment


def start_deployment(
    folder: Path, pg: PostgresServer, label: str, drives: dict[str, list[Path]], pools: list[list[str]], zones: dict[str, str] | None = None
) -> Deployment:
    """``hoard cluster init`` on a new database, a node per entry of ``drives`` (its folders),
    then each pool of ``pools`` (``NODE:DIR`` specs) added through the first node."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = pg.create_database()
    key_file = folder / "cluster.key"
    init = subprocess.run(
        [sys.executable, "-m", "hoard", "cluster", "init", "--meta", meta, "--key-file", str(key_file)], capture_output=True, text=True, timeout=60
    )
    if init.returncode != 0:
        raise RuntimeError(f"hoard cluster init: {init.stderr}")
    keys = {"HOARD_SECRETS_KEY": base64.b64encode(os.urandom(32)).decode(), "HOARD_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    deployment = Deployment(label, [], meta)
    try:
        for name, dirs in drives.items():
            port = free_port()
            env = {
                "HOARD_META": meta, "HOARD_NODE": name, "HOARD_ADVERTISE": f"http://127.0.0.1:{port}",
                "HOARD_ZONE": (zones or {}).get(name, "default"), "HOARD_CLUSTER_KEY_FILE": str(key_file),
                "HOARD_LOG_LEVEL": "warning", "HOARD_RECLAIM_GRACE": "1", **keys,
            }  # fmt: skip
            (folder / name).mkdir(parents=True, exist_ok=True)
            deployment.nodes.append(HoardServer(folder / name / "log", port=port, env_extra=env, drives=dirs).start(timeout=60))
        for specs in pools:
            deployment.nodes[0].admin("pool", "add", *specs, "--set-size", str(SET_SIZE), "--parity", str(PARITY))
        run_async(_create_bucket(deployment))
    except BaseException:
        deployment.stop()
        raise
    return deployment


async def _create_bucket(deployment: Deployment) -> None:
    conn = Connection("127.0.0.1", deployment.nodes[0].port, CREDS)
    await conn.request("PUT", f"/{BUCKET}", payload_hash=EMPTY_SHA256)
    conn.close()
    deadline = time.monotonic() + 30
    for node in deployment.nodes:  # each node has read the pool's layout
        conn = Connection("127.0.0.1", node.port, CREDS)
        while True:
            try:
                await conn.request("PUT", f"/{BUCKET}/probe", body=b"p")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                conn.close()
                await asyncio.sleep(0.3)
        conn.close()


# -- load --------------------------------------------------------------------------------------


def put(path: str, body: bytes, digest: str) -> Op:
    async def op(conn: Connection) -> int:
        await conn.request("PUT", path, body=body, payload_hash=digest)
        return len(body)

    return op


def get(path: str, size: int) -> Op:
    async def op(conn: Connection) -> int:
        response = await conn.request("GET", path, payload_hash=EMPTY_SHA256)
        if response.nbytes != size:
            raise RuntimeError(f"GET {path}: {response.nbytes} bytes, not {size}")
        return response.nbytes

    return op


class Gateways:
    """``loadgen.drive``'s target: each new connection to the next of the gateway nodes, so the
    workers are spread over them evenly."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.made = 0

    def connection(self) -> Connection:
        self.made += 1
        return Connection("127.0.0.1", self.ports[(self.made - 1) % len(self.ports)], CREDS)


async def spread(ports: list[int], ops: Iterator[Op], concurrency: int, time_limit: float) -> RunStats:
    """``concurrency`` workers, spread over the gateways, pulling from one iterator."""
    return await drive(Gateways(ports), ops, concurrency, time_limit)  # type: ignore[arg-type]


def _ops(workload: Workload, deployment: Deployment, round_no: int, gateways: int, plan: Plan) -> Iterator[Op]:
    tag = f"r{round_no}g{gateways}"
    if workload.method == "PUT":
        body = os.urandom(workload.size)
        digest = hashlib.sha256(body).hexdigest()
        count = plan.big_puts if workload.size > MiB else 10**9
        return (put(f"/{BUCKET}/{workload.id}/{tag}/{i}", body, digest) for i in range(count))
    keys = deployment.seeded[workload.group]
    count = plan.big_gets if workload.size > MiB else 10**9
    return (get(keys[i % len(keys)], workload.size) for i in range(count))


def seed(deployment: Deployment, plan: Plan) -> None:
    async def fill() -> None:
        small, big = os.urandom(4096), os.urandom(64 * MiB)
        ports = [n.port for n in deployment.nodes]
        deployment.seeded["4 KiB"] = [f"/{BUCKET}/seed-4k/{i}" for i in range(plan.small_keys)]
        deployment.seeded["64 MiB"] = [f"/{BUCKET}/seed-64m/{i}" for i in range(4)]
        for paths, body in ((deployment.seeded["4 KiB"], small), (deployment.seeded["64 MiB"], big)):
            digest = hashlib.sha256(body).hexdigest()
            stats = await spread(ports, (put(p, body, digest) for p in paths), 8 if len(body) < MiB else 2, 3600)
            if stats.errors:
                raise RuntimeError(f"{deployment.label}: seeding: {stats.first_error}")

    run_async(fill())


def measure(workload: Workload, deployment: Deployment, gateways: int, round_no: int, plan: Plan, pg_pid: int) -> dict:
    ports = [n.port for n in deployment.nodes[:gateways]]
    ops = _ops(workload, deployment, round_no, gateways, plan)
    cpu0, pg0 = deployment.cpu(), tree_cpu_seconds(pg_pid)
    stats = run_async(spread(ports, ops, workload.concurrency, plan.seconds if workload.size <= MiB else 600))
    cpu, pg_cpu = deployment.cpu() - cpu0, tree_cpu_seconds(pg_pid) - pg0
    ops_done = max(stats.ops, 1)
    return {
        "workload": workload.id, "group": workload.group, "side": deployment.label, "gateways": gateways, "round": round_no,
        "ops": stats.ops, "errors": stats.errors, "first_error": stats.first_error, "seconds": stats.elapsed,
        "ops_per_s": stats.ops / stats.elapsed if stats.elapsed else 0.0, "mib_per_s": stats.nbytes / MiB / stats.elapsed if stats.elapsed else 0.0,
        "p50_ms": percentile(stats.latencies, 50) * 1000, "p99_ms": percentile(stats.latencies, 99) * 1000,
        "hoard_cpu_ms_per_op": cpu / ops_done * 1000, "postgres_cpu_ms_per_op": pg_cpu / ops_done * 1000,
    }  # fmt: skip


def _throughput(row: dict) -> float:
    return row["mib_per_s"] if row["group"] == "64 MiB" else row["ops_per_s"]


def summarize(samples: list[dict]) -> list[dict]:
    """Per workload and gateway count: medians over rounds, and the cluster's throughput and CPU
    per request over each baseline's in the same round."""
    rows = []
    for workload in WORKLOADS:
        bases = {
            base: {s["round"]: s for s in samples if s["workload"] == workload.id and s["side"] == base} for base in BASELINES
        }
        for gateways in sorted({s["gateways"] for s in samples if s["side"] == CLUSTER}):
            mine = [s for s in samples if s["workload"] == workload.id and s["side"] == CLUSTER and s["gateways"] == gateways]
            row = {
                "workload": workload.id, "group": workload.group, "gateways": gateways,
                "cluster": statistics.median(_throughput(s) for s in mine),
                "cluster_cpu_ms": statistics.median(s["hoard_cpu_ms_per_op"] for s in mine),
                "cluster_pg_cpu_ms": statistics.median(s["postgres_cpu_ms_per_op"] for s in mine),
                "errors": sum(s["errors"] for s in mine),
            }  # fmt: skip
            for key, base in zip(("single", "single_pg"), BASELINES, strict=True):
                by_round = bases[base]
                ratios = [_throughput(s) / _throughput(by_round[s["round"]]) for s in mine if _throughput(by_round[s["round"]])]
                cpu = [s["hoard_cpu_ms_per_op"] / by_round[s["round"]]["hoard_cpu_ms_per_op"] for s in mine if by_round[s["round"]]["hoard_cpu_ms_per_op"]]
                row[key] = statistics.median(_throughput(s) for s in by_round.values())
                row[f"{key}_cpu_ms"] = statistics.median(s["hoard_cpu_ms_per_op"] for s in by_round.values())
                row[f"{key}_ratio"] = statistics.median(ratios) if ratios else 0.0
                row[f"{key}_ratios"] = ratios
                row[f"{key}_cpu_ratio"] = statistics.median(cpu) if cpu else 0.0
                row["errors"] += sum(s["errors"] for s in by_round.values())
            rows.append(row)
    return rows


BASELINES = ("one server", "one server, PostgreSQL index")
CLUSTER = "four nodes"


def data_path(workdir: Path, pg: PostgresServer, plan: Plan, log: Callable[[str], None]) -> dict:
    four = {name: [workdir / "four" / name / f"d{i}" for i in range(1, 5)] for name in ZONES}
    drives = [workdir / "one" / f"d{i}" for i in range(1, 17)]
    pg_drives = [workdir / "one-pg" / f"d{i}" for i in range(1, 17)]
    deployments: list[Deployment] = []
    try:
        deployments.append(start_server(workdir / "one", BASELINES[0], drives, {"HOARD_PARITY": "8"}))
        deployments.append(start_server(workdir / "one-pg", BASELINES[1], pg_drives, {"HOARD_PARITY": "8", "HOARD_META": pg.create_database()}))
        deployments.append(start_deployment(workdir / "four", pg, CLUSTER, four, [[f"{n}:{workdir / 'four' / n}/d{{1...4}}" for n in ZONES]], ZONES))
        single, single_pg, cluster = deployments
        pg_pid = pg.pid()
        for deployment in deployments:
            log(f"seeding {deployment.label}")
            seed(deployment, plan)
        samples = []
        for round_no in range(1, plan.rounds + 1):
            for workload in WORKLOADS:
                for deployment, gateways in ((single, 1), (single_pg, 1), (cluster, 1), (cluster, 2), (cluster, 4)):
                    sample = measure(workload, deployment, gateways, round_no, plan, pg_pid)
                    log(f"round {round_no} {workload.id} {deployment.label} x{gateways}: {_throughput(sample):.1f} "
                        f"{'MiB/s' if workload.size > MiB else 'op/s'}, {sample['errors']} errors")  # fmt: skip
                    samples.append(sample)
        return {"samples": samples, "summary": summarize(samples)}
    finally:
        for deployment in deployments:
            deployment.stop()


# -- expansion ---------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs_drives(folder: Path) -> Iterator[dict[str, list[Path]]]:
    """Each node's four drives as tmpfs mounts: 1-2 small (pool 1), 3-4 three times larger (pool 2)."""
    drives = {name: [folder / name / f"d{i}" for i in range(1, 5)] for name in ZONES}
    mounted: list[Path] = []
    try:
        for dirs in drives.values():
            for i, path in enumerate(dirs):
                path.mkdir(parents=True, exist_ok=True)
                size = SMALL_POOL_MIB if i < 2 else BIG_POOL_MIB
                subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}m", "tmpfs", str(path)], check=True)
                mounted.append(path)
        yield drives
    finally:
        for path in mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


def pool_free(meta: str) -> dict[int, int]:
    """Each pool's free bytes as the catalog has them (the nodes report statvfs every beat)."""
    with psycopg.connect(meta) as conn:
        rows = conn.execute("SELECT p.pool, SUM(d.free_bytes) FROM pool_drives p JOIN drives d USING (node, path) GROUP BY p.pool").fetchall()
    return {pool: int(free) for pool, free in rows}


async def paced_puts(ports: list[int], rate: float, seconds: float, answers: list[tuple[float, str, int | str]]) -> None:
    """PUT 4 KiB objects at ``rate`` per second in all, spread over the gateways, for ``seconds``;
    every answer recorded as (time sent, key, status or error)."""
    body = os.urandom(4096)
    digest = hashlib.sha256(body).hexdigest()
    start = time.monotonic()
    count = int(rate * seconds)
    conns = [Connection("127.0.0.1", port, CREDS) for port in ports]
    locks = [asyncio.Lock() for _ in ports]
    pending = []

    async def one(i: int, sent: float) -> None:
        key = f"expansion/{i:06d}"
        slot = i % len(ports)
        async with locks[slot]:
            try:
                response = await conns[slot].request("PUT", f"/{BUCKET}/{key}", body=body, payload_hash=digest)
                answers.append((sent, key, response.status))
            except Exception as exc:  # noqa: BLE001 - every failure is what the benchmark counts
                conns[slot].close()
                answers.append((sent, key, f"{type(exc).__name__}: {exc}"[:200]))

    for i in range(count):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        pending.append(asyncio.ensure_future(one(i, time.monotonic() - start)))
    await asyncio.gather(*pending)
    for conn in conns:
        conn.close()


def expansion(workdir: Path, pg: PostgresServer, plan: Plan, log: Callable[[str], None]) -> dict:
    if os.geteuid() != 0:
        return {"skipped": "needs root (tmpfs mounts of two sizes)"}
    folder = workdir / "expansion"
    with tmpfs_drives(folder) as drives:
        pool1 = [f"{n}:{folder / n}/d{{1...2}}" for n in ZONES]
        pool2 = [f"{n}:{folder / n}/d{{3...4}}" for n in ZONES]
        deployment = start_deployment(folder, pg, "expansion", drives, [pool1], ZONES)
        try:
            answers: list[tuple[float, str, int | str]] = []
            added: dict[str, float] = {}
            ports = [n.port for n in deployment.nodes]

            def add_pool() -> None:
                time.sleep(plan.expansion_seconds / 3)
                t0 = time.monotonic()
                deployment.nodes[1].admin("pool", "add", *pool2, "--set-size", str(SET_SIZE), "--parity", str(PARITY))
                added["at"], added["took"] = t0, time.monotonic() - t0

            async def run() -> None:
                started = time.monotonic()
                adder = asyncio.get_running_loop().run_in_executor(None, add_pool)
                await paced_puts(ports, EXPANSION_RATE, plan.expansion_seconds, answers)
                await adder
                added["offset"] = added["at"] - started

            run_async(run())
            free = pool_free(deployment.meta)
            # Writes sent once every node has read the new layout (each looks every 2 s).
            settled = added["offset"] + added["took"] + 3.0
            after = {key for sent, key, status in answers if sent >= settled and status == 200}
            counts: dict[int, int] = {}
            with psycopg.connect(deployment.meta) as conn:
                for key, placement in conn.execute("SELECT key, placement FROM objects WHERE bucket = %s AND key LIKE 'expansion/%%'", (BUCKET,)):
                    if key in after:
                        fields = json.loads(placement)
                        pool = fields[4] if len(fields) > 4 else 0
                        counts[pool] = counts.get(pool, 0) + 1
            failures = [(sent, key, status) for sent, key, status in answers if status != 200]
            expected = free.get(2, 0) / max(1, sum(free.values()))
            actual = counts.get(2, 0) / max(1, sum(counts.values()))
            return {
                "puts": len(answers), "failed": len(failures), "failures": failures[:10], "rate": EXPANSION_RATE,
                "pool_added_at_s": round(added["offset"], 2), "pool_add_took_s": round(added["took"], 2),
                "free_bytes": free, "writes_after": counts, "expected_share_pool2": expected, "share_pool2": actual,
                "share_error": (actual / expected - 1) if expected else None,
            }  # fmt: skip
        finally:
            deployment.stop()


# -- report ------------------------------------------------------------------------------------


def verdicts(summary: list[dict], grow: dict) -> list[tuple[str, bool, str]]:
    out = []
    for group, floor in FLOORS.items():
        for method in ("PUT", "GET"):
            rows = [r for r in summary if r["group"] == group and r["workload"].startswith(method.lower())]
            if not rows:
                continue
            best = max(rows, key=lambda r: r["single_ratio"])
            out.append((f"{method} {group}: four nodes at least {floor:.0%} of one server", best["single_ratio"] >= floor,
                        f"{best['single_ratio']:.0%} (best of 1, 2, 4 gateways: x{best['gateways']}; "
                        f"{best['single_pg_ratio']:.0%} of one server on PostgreSQL)"))  # fmt: skip
    if "skipped" not in grow:
        out.append(("a pool added under 100 PUT/s: 0 failed requests", grow["failed"] == 0, f"{grow['failed']} of {grow['puts']}"))
        err = grow["share_error"]
        out.append(("new writes in proportion to free space, within ±10%", err is not None and abs(err) <= 0.10,
                    f"pool 2 took {grow['share_pool2']:.1%} of them, its free share {grow['expected_share_pool2']:.1%}"))  # fmt: skip
    return out


def write_report(result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster-data-path-latest.json").write_text(json.dumps(result, indent=1, default=str))
    lines = [
        "# Cluster data path and expansion", "",
        f"{result['when']}, {result['machine']}, {'quick' if result['quick'] else 'full'} run, {result['rounds']} rounds.", "",
        "Four nodes of four drives (two zones; two erasure sets of 8, parity 4, each spanning every node; the index in "
        "PostgreSQL) against one server on sixteen drives (one set of 16 at parity 8: the same two copies' worth of "
        "redundancy), whose index is in SQLite (the default) or in the same PostgreSQL (started as the test fixture "
        "does, fsync off: alike for both). **One 2-core machine runs every node, the client and PostgreSQL: these "
        "figures are the overhead of spreading the sets over nodes (each shard crosses the internal API), not "
        "scale-out.** Throughput is MiB/s for 64 MiB, op/s for 4 KiB; a ratio is the cluster's over the baseline's "
        "in the same round, the median over rounds (each round's in brackets); CPU is the Hoard processes' per "
        "request, PostgreSQL's apart.", "",
        "| workload | gateways | one server | one server, PostgreSQL | four nodes | four / one (rounds) | four / one, PostgreSQL | Hoard CPU ms/op: one, one PG, four | PostgreSQL CPU ms/op, four |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- | ---: |",
    ]  # fmt: skip
    for r in result["data_path"]["summary"]:
        per_round = ", ".join(f"{x:.2f}" for x in r["single_ratios"])
        lines.append(
            f"| {r['workload']} | {r['gateways']} | {r['single']:.1f} | {r['single_pg']:.1f} | {r['cluster']:.1f} | "
            f"{r['single_ratio']:.2f} ({per_round}) | {r['single_pg_ratio']:.2f} | "
            f"{r['single_cpu_ms']:.2f}, {r['single_pg_cpu_ms']:.2f}, {r['cluster_cpu_ms']:.2f} | {r['cluster_pg_cpu_ms']:.2f} |"
        )
    grow = result["expansion"]
    lines += ["", "## Expansion", ""]
    if "skipped" in grow:
        lines.append(f"Not run: {grow['skipped']}.")
    else:
        lines += [
            f"{grow['puts']} PUTs of 4 KiB at {grow['rate']:.0f}/s through the four nodes; pool 2 added at {grow['pool_added_at_s']} s "
            f"(`hoard admin pool add` took {grow['pool_add_took_s']} s); failed: {grow['failed']}.",
            f"Free bytes per pool afterwards: {grow['free_bytes']}. Writes sent 3 s after the add, per pool: {grow['writes_after']}: "
            f"pool 2 took {grow['share_pool2']:.1%}, its share of the free space {grow['expected_share_pool2']:.1%}.",
        ]
    lines += ["", "## Floors", "", "| floor | met | measured |", "| --- | --- | --- |"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {text} |" for name, ok, text in result["verdicts"]]
    path = RESULTS / "cluster-data-path-latest.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster_data_path", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two rounds, shorter runs")
    parser.add_argument("--no-expansion", action="store_true", help="leave out the pool added under load")
    parser.add_argument("--no-data-path", action="store_true", help="leave out the four-against-one part")
    parser.add_argument("--workdir", type=Path, default=None, help="where the drives' folders go (default: the system's temp folder)")
    args = parser.parse_args(argv)
    plan = plan_for(args.quick)

    def log(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    pg = PostgresServer()
    pg.start()
    try:
        with tempfile.TemporaryDirectory(prefix="hoard-cluster-bench-", dir=args.workdir) as tmp:
            workdir = Path(tmp)
            data = {"samples": [], "summary": []} if args.no_data_path else data_path(workdir, pg, plan, log)
            grow = {"skipped": "--no-expansion"} if args.no_expansion else expansion(workdir, pg, plan, log)
    finally:
        pg.stop()
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "quick": args.quick, "rounds": plan.rounds, "data_path": data, "expansion": grow,
    }  # fmt: skip
    result["verdicts"] = verdicts(data["summary"], grow)
    path = write_report(result)
    log(f"report: {path}")
    for name, ok, text in result["verdicts"]:
        log(f"{'met' if ok else 'NOT MET'}: {name}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
