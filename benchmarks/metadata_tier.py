"""The metadata tier's benchmark (issue 22): ``PostgresMetaStore`` alone against the three-host
Patroni cluster the cluster tests run (``tests.cluster.metadata_tier``: three etcd members, three
PostgreSQL members, synchronous replication, each on a network namespace of its own), on this
machine, beside PostgreSQL itself doing the same rows without Hoard in the same run.

    sudo python -m benchmarks.metadata_tier            # ~3 minutes on 2 cores
    sudo python -m benchmarks.metadata_tier --quick    # ~1.5 minutes: 100,000 keys to list

What it measures, each figure beside its floor:

- committed object writes/s: ``put_object`` of new keys (the transaction a PUT commits), from as
  many concurrent requests as a busy node has, through the store's connection pool; beside it
  PostgreSQL alone: the same object rows upserted one per autocommit statement by as many
  threads, each on its own connection (no Hoard, no transaction around it);
- lookups/s: ``get_object`` of random existing keys (what GET and HEAD ask), beside point SELECTs
  of the same rows by PostgreSQL alone;
- a 1,000-key list page of a bucket of ``--list-keys`` keys (1,000,000 by default; the rows are
  COPYed in, not PUT, and timed once the standbys have replayed them): ``list_objects`` from
  random places, p50 and p95;
- failover: the primary's host dies (unplugged, every process SIGKILLed) while writes go on;
  seconds from its death to the first write committed after it.

The report goes to ``benchmarks/results/metadata-tier-latest.md`` (and ``.json``). Needs root (the
namespaces), etcd, Patroni and PostgreSQL as ``.ci/run`` installs them, and ``.[test]`` installed
(the tier's helpers are the tests').
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from hoard.app import IO_THREADS
from hoard.meta.postgres import PostgresMetaStore
from hoard.meta.rows import LISTED_COLUMNS, OBJECT_COLUMNS, object_row
from hoard.model import Bucket, ObjectRecord, Placement, Segment
from hoard.objects.versions import new_seq

RESULTS = Path(__file__).parent / "results"
COLUMNS = [c.strip() for c in OBJECT_COLUMNS.split(",")]
BUCKET, BIG = "bench", "big"
FLOORS = {"writes_per_s": 2500, "lookups_per_s": 8000, "list_p50_ms": 5.0, "failover_s": 30.0}


@dataclass
class Report:
    machine: dict[str, str]
    settings: dict[str, int | float]
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def record(key: str, bucket: str = BUCKET) -> ObjectRecord:
    """An object version as a PUT of a small file in a 4+4 set commits it."""
    return ObjectRecord(
        bucket=bucket, key=key, size=40_960, etag='"0cc175b9c0f1b6a831c399e269772661"', last_modified=time.time(),
        storage_class="STANDARD", headers={"content-type": "application/octet-stream"},
        segments=(Segment(os.urandom(16).hex(), 40_960, "", ""),), placement=Placement(0, 8, 4, tuple(range(8))),
        data_id=os.urandom(16).hex(), seq=new_seq(),
    )  # fmt: skip


# -- PostgreSQL alone ----------------------------------------------------------------------------
def _threads(count: int, seconds: float, work: Callable[[int, Callable[[], bool]], int]) -> float:
    """``work(thread, running)`` in ``count`` threads for ``seconds``; the operations/s they did."""
    deadline = time.monotonic() + seconds
    done = [0] * count

    def run(i: int) -> None:
        done[i] = work(i, lambda: time.monotonic() < deadline)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - start)


def raw_upserts(conninfo: str, threads: int, seconds: float) -> float:
    slots = ", ".join(["%s"] * len(COLUMNS))
    update = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in ("bucket", "key"))
    upsert = f"INSERT INTO objects({OBJECT_COLUMNS}) VALUES({slots}) ON CONFLICT (bucket, key) DO UPDATE SET {update}"

    def work(i: int, running: Callable[[], bool]) -> int:
        n = 0
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while running():
                conn.execute(upsert, object_row(record(f"raw/{i}/{n:08d}")))
                n += 1
        return n

    return _threads(threads, seconds, work)


def raw_lookups(conninfo: str, keys: list[str], threads: int, seconds: float) -> float:
    select = f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = %s AND key = %s"

    def work(i: int, running: Callable[[], bool]) -> int:
        n, pick = 0, random.Random(i)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while running():
                assert conn.execute(select, (BUCKET, pick.choice(keys))).fetchone() is not None
                n += 1
        return n

    return _threads(threads, seconds, work)


# -- Hoard's store -------------------------------------------------------------------------------
async def _concurrently(concurrency: int, seconds: float, op: Callable[[int, int], object]) -> float:
    """``await op(task, n)`` from ``concurrency`` tasks for ``seconds``, as a node's requests do."""
    # The server's pool of I/O threads, which the store's calls run in (asyncio's default would be cores + 4).
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="hoard-io"))
    deadline = time.monotonic() + seconds
    done = [0] * concurrency

    async def task(i: int) -> None:
        while time.monotonic() < deadline:
            await op(i, done[i])
            done[i] += 1

    start = time.monotonic()
    await asyncio.gather(*(task(i) for i in range(concurrency)))
    return sum(done) / (time.monotonic() - start)


def store_writes(store: PostgresMetaStore, concurrency: int, seconds: float, prefix: str) -> tuple[float, list[str]]:
    written: list[str] = []

    async def put(i: int, n: int) -> None:
        key = f"{prefix}/{i}/{n:08d}"
        await store.put_object(record(key))
        written.append(key)

    return asyncio.run(_concurrently(concurrency, seconds, put)), written


def store_lookups(store: PostgresMetaStore, keys: list[str], concurrency: int, seconds: float) -> float:
    pick = random.Random(7)

    async def get(i: int, n: int) -> None:
        assert await store.get_object(BUCKET, pick.choice(keys)) is not None

    return asyncio.run(_concurrently(concurrency, seconds, get))


def fill_big_bucket(conninfo: str, count: int) -> list[str]:
    """``count`` keys in BIG, COPYed in (the rows a PUT would commit); every 1,000th key, the places
    a listing starts from."""
    template = object_row(record("x", BIG))
    key_at = COLUMNS.index("key")
    starts = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.cursor().copy(f"COPY objects({OBJECT_COLUMNS}) FROM STDIN") as copy:
            for n in range(count):
                key = f"logs/{n % 97:02d}/{n:09d}.json"
                row = list(template)
                row[key_at] = key
                copy.write_row(row)
                if n % 1000 == 0:
                    starts.append(key)
        conn.execute("VACUUM ANALYZE objects")  # as autovacuum would: the visibility map an index-only scan needs
    return starts


def quiesce(tier) -> float:
    """Wait until every standby has replayed the bulk load (COPY and VACUUM write hundreds of
    megabytes of WAL the standbys replay on these same two cores), then checkpoint: listings are
    timed on a tier at rest, not during the load's aftermath. Returns the seconds it took."""
    started = time.monotonic()
    with tier.superuser() as conn:
        conn.autocommit = True
        target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        while time.monotonic() < started + 300:
            behind = conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn IS NULL OR replay_lsn < %s::pg_lsn", (target,)
            ).fetchone()[0]
            if behind == 0:
                break
            time.sleep(0.5)
        conn.execute("CHECKPOINT")
    return time.monotonic() - started


def raw_list_pages(conninfo: str, starts: list[str], pages: int) -> list[float]:
    """Milliseconds per page for PostgreSQL alone: the listing's SELECT of the same columns."""
    pick = random.Random(3)
    select = f"SELECT {LISTED_COLUMNS} FROM objects WHERE bucket = %s AND key > %s AND delete_marker = 0 ORDER BY key LIMIT 1001"
    times = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for _ in range(pages):
            start = time.perf_counter()
            assert len(conn.execute(select, (BIG, pick.choice(starts))).fetchall()) > 1
            times.append((time.perf_counter() - start) * 1000)
    return times


def list_pages(store: PostgresMetaStore, starts: list[str], pages: int) -> list[float]:
    """Milliseconds per 1,000-key page (``list_objects``), from random places of the bucket."""
    pick = random.Random(3)

    async def run() -> list[float]:
        times = []
        for _ in range(pages):
            after = pick.choice(starts)
            start = time.perf_counter()
            listing = await store.list_objects(BIG, "", "", after, 1000)
            times.append((time.perf_counter() - start) * 1000)
            assert listing.entries and listing.entries[0].key > after
        return times

    return asyncio.run(run())


def failover(tier, store: PostgresMetaStore, concurrency: int) -> tuple[float, float]:
    """Kill the primary's host under writes: (seconds to a new primary, seconds to the first
    write committed after the death)."""
    old = tier.primary()
    died: list[float] = []  # when the kill began
    dead: list[float] = []  # when every process of the host was gone
    first: list[float] = []

    async def put(i: int, n: int) -> None:
        began = time.monotonic()
        try:
            await store.put_object(record(f"failover/{i}/{n:08d}"))
        except Exception:  # CommitFailed while the tier has no primary: the writer tries again
            await asyncio.sleep(0.05)
            return
        # A write sent once the old primary was gone, committed (one sent while the host was
        # being killed may still have committed there, in the milliseconds that takes).
        if dead and began > dead[0] and not first:
            first.append(time.monotonic())

    async def run() -> float:
        writing = asyncio.ensure_future(_concurrently(concurrency, 90, put))
        await asyncio.sleep(3)
        died.append(time.monotonic())
        await asyncio.to_thread(tier.kill_host, old)
        dead.append(time.monotonic())
        new = await asyncio.to_thread(tier.wait_primary, 60, old)
        promoted = time.monotonic() - died[0]
        while not first and time.monotonic() < died[0] + 90:
            await asyncio.sleep(0.05)
        writing.cancel()
        print(f"  {new.name} primary after {promoted:.1f}s")
        return promoted

    promoted = asyncio.run(run())
    return promoted, (first[0] - died[0]) if first else float("inf")


# -- the report ----------------------------------------------------------------------------------
def verdicts(figures: dict[str, float]) -> list[tuple[str, bool, str]]:
    f = figures
    return [
        ("committed object writes/s >= 2,500", f["writes_per_s"] >= FLOORS["writes_per_s"],
         f"{f['writes_per_s']:,.0f}/s ({f['writes_per_s'] / f['raw_upserts_per_s']:.0%} of PostgreSQL alone, {f['raw_upserts_per_s']:,.0f}/s)"),
        ("lookups/s >= 8,000", f["lookups_per_s"] >= FLOORS["lookups_per_s"],
         f"{f['lookups_per_s']:,.0f}/s ({f['lookups_per_s'] / f['raw_lookups_per_s']:.0%} of PostgreSQL alone, {f['raw_lookups_per_s']:,.0f}/s)"),
        (f"1,000-key list page of {int(f['list_keys']):,} keys <= 5 ms p50", f["list_p50_ms"] <= FLOORS["list_p50_ms"],
         f"p50 {f['list_p50_ms']:.1f} ms, p95 {f['list_p95_ms']:.1f} ms (PostgreSQL alone, its SELECT: p50 {f['raw_list_p50_ms']:.1f} ms)"),
        ("failover: first committed write <= 30 s after the primary's death", f["failover_first_write_s"] <= FLOORS["failover_s"],
         f"{f['failover_first_write_s']:.1f} s (new primary after {f['failover_promoted_s']:.1f} s)"),
    ]  # fmt: skip


def write_report(report: Report) -> Path:
    RESULTS.mkdir(exist_ok=True)
    lines = [
        "# Metadata tier: PostgresMetaStore on a 3-host Patroni cluster",
        "",
        "`python -m benchmarks.metadata_tier` (see its docstring). Every PostgreSQL member, etcd member",
        "and the benchmark itself share this one machine's cores and disk: the figures measure the",
        "store's overhead against PostgreSQL's own on the same machine, not a deployment's capacity.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in report.machine.items()),
        "Settings: " + ", ".join(f"{k} {v}" for k, v in report.settings.items()),
        "",
        "| floor | met | measured |",
        "| --- | --- | --- |",
        *(f"| {name} | {'yes' if met else '**no**'} | {measured} |" for name, met, measured in verdicts(report.figures)),
        "",
        *report.notes,
    ]
    path = RESULTS / "metadata-tier-latest.md"
    path.write_text("\n".join(lines) + "\n")
    (RESULTS / "metadata-tier-latest.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metadata_tier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 keys to list instead of 1,000,000")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each rate is measured")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent requests (tasks) against the store")
    parser.add_argument("--pool", type=int, default=16, help="the store's connection pool size (threads for PostgreSQL alone)")
    parser.add_argument("--list-keys", type=int, default=None, help="keys in the listed bucket")
    parser.add_argument("--no-failover", action="store_true", help="leave out the failover measurement")
    args = parser.parse_args(argv)
    list_keys = args.list_keys if args.list_keys is not None else (100_000 if args.quick else 1_000_000)
    if os.geteuid() != 0:
        print("the metadata tier runs in network namespaces: run this as root", file=sys.stderr)
        return 2

    from tests.cluster.metadata_tier import MetadataTier
    from tests.cluster.netns import Network, sweep_leftovers

    report = Report(
        machine={"cores": str(os.cpu_count()), "python": platform.python_version(), "kernel": platform.release()},
        settings={"seconds": args.seconds, "concurrency": args.concurrency, "pool": args.pool, "list_keys": list_keys},
        notes=[
            "The store can do more than PostgreSQL alone: it commits the writes waiting together in one",
            "transaction (group commit, up to 32 per COMMIT and per wait for the synchronous standby), where",
            "PostgreSQL alone commits each upsert by itself; and it reads concurrent lookups in one statement,",
            "where PostgreSQL alone runs one SELECT each. Every write counted was committed, and acknowledged",
            "by the synchronous standby, before its caller got its answer.",
        ],
    )
    sweep_leftovers()
    network = Network()
    try:
        network.create()
        tier = MetadataTier(network)
        try:
            started = time.monotonic()
            tier.start()
            print(f"metadata tier up in {time.monotonic() - started:.1f}s")
            conninfo = tier.create_database("bench")
            os.environ["PGPASSWORD"] = tier.passwords["hoard"]
            store = PostgresMetaStore(conninfo, pool_size=args.pool, retry_for=60.0)
            try:
                asyncio.run(store.create_bucket(Bucket(BUCKET, time.time(), "us-east-1", "owner")))
                asyncio.run(store.create_bucket(Bucket(BIG, time.time(), "us-east-1", "owner")))
                with psycopg.connect(conninfo) as conn:
                    report.machine["postgresql"] = str(conn.info.server_version)
                figures = report.figures
                figures["raw_upserts_per_s"] = raw_upserts(conninfo, args.pool, args.seconds)
                print(f"  PostgreSQL alone: {figures['raw_upserts_per_s']:,.0f} upserts/s")
                figures["writes_per_s"], keys = store_writes(store, args.concurrency, args.seconds, "put")
                print(f"  store: {figures['writes_per_s']:,.0f} committed object writes/s")
                figures["raw_lookups_per_s"] = raw_lookups(conninfo, keys, args.pool, args.seconds)
                print(f"  PostgreSQL alone: {figures['raw_lookups_per_s']:,.0f} lookups/s")
                figures["lookups_per_s"] = store_lookups(store, keys, args.concurrency, args.seconds)
                print(f"  store: {figures['lookups_per_s']:,.0f} lookups/s")
                started = time.monotonic()
                starts = fill_big_bucket(conninfo, list_keys)
                print(f"  {list_keys:,} keys copied in {time.monotonic() - started:.0f}s; standbys caught up in {quiesce(tier):.0f}s")
                times = sorted(list_pages(store, starts, 200))
                figures["list_keys"] = list_keys
                figures["list_p50_ms"] = statistics.median(times)
                figures["list_p95_ms"] = times[int(len(times) * 0.95)]
                figures["raw_list_p50_ms"] = statistics.median(raw_list_pages(conninfo, starts, 200))
                print(f"  list page: p50 {figures['list_p50_ms']:.1f} ms")
                if args.no_failover:
                    figures["failover_promoted_s"] = figures["failover_first_write_s"] = float("nan")
                else:
                    figures["failover_promoted_s"], figures["failover_first_write_s"] = failover(tier, store, args.concurrency)
            finally:
                store.close()
        finally:
            tier.stop()
    finally:
        network.destroy()
    for name, met, measured in verdicts(report.figures):
        print(f"[{'MET' if met else 'NOT MET':>7}] {name}: {measured}")
    print(f"report: {write_report(report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
