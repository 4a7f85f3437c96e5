"""The workloads: what each one sends, how big, how many, and the one-off data they need.

Each workload is a coroutine ``run(site) -> RunStats`` so that odd shapes (a multipart upload
is create + parts + complete; a listing walk is a chain of pages) fit beside plain request
loops. Sizes and counts come from a ``Plan`` (quick or full). Both servers get the exact same
requests in the same order.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from benchmarks.client import Connection, Response
from benchmarks.loadgen import Op, RunStats, Target, drive
from benchmarks.signer import EMPTY_SHA256, UNSIGNED_PAYLOAD

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

DATA_BUCKET = "bench-data"
SMALL_BUCKET = "bench-small"
LIST_BUCKET = "bench-list-10k"
BIG_BUCKET = "bench-list-1m"
VERSIONS_BUCKET = "bench-versions-small"
BIG_VERSIONS_BUCKET = "bench-versions-big"


@dataclass(frozen=True)
class Plan:
    """Sizes and counts of one mode."""

    quick: bool
    rounds: int
    time_limit: float  # per workload run, so a slow server cannot stall the suite
    n_1m_c1: int
    n_1m_c8: int
    n_64m_c1: int
    n_64m_c8: int
    # GETs run several times faster than PUTs, so they get larger counts to last as long.
    get_1m_c1: int
    get_1m_c8: int
    get_64m_c1: int
    get_64m_c8: int
    n_4k: int
    multipart_bytes: int
    n_mixed: int
    list_reps: int
    page_reps: int
    list_keys: int = 10_000
    big_keys: int = 1_000_000  # 0 skips the big-bucket page workloads
    versions: int = 1_000  # versions in the small versioned bucket (10 keys of 100)
    # Versions in the big versioned bucket (0 skips it). Quick mode keeps one, smaller (it fills
    # in a minute or two), so that every run shows whether a page grows with the bucket.
    big_versions: int = 1_000_000
    # Versions per key in both versioned buckets: the same in both, so that a 1,000-version page
    # has the same shape (about ten keys of 100 versions) and only the bucket's size differs.
    versions_per_key: int = 100
    part_size: int = 8 * MiB  # the AWS CLI's default part size
    populate_concurrency: int = 32


def plan_for(quick: bool) -> Plan:
    # Counts are chosen so that each run lasts roughly a second or more on Hoard: shorter runs
    # leave CPU time (10 ms ticks) and RSS sampling (50 ms) too coarse to mean anything.
    if quick:
        return Plan(
            quick=True, rounds=3, time_limit=20, n_1m_c1=192, n_1m_c8=256, n_64m_c1=6, n_64m_c8=12,
            get_1m_c1=768, get_1m_c8=1024, get_64m_c1=32, get_64m_c8=48, n_4k=2500, multipart_bytes=256 * MiB, n_mixed=1000, list_reps=3, page_reps=10, big_keys=0,
            big_versions=100_000,
        )  # fmt: skip
    return Plan(
        quick=False, rounds=5, time_limit=120, n_1m_c1=256, n_1m_c8=1024, n_64m_c1=8, n_64m_c8=32,
        get_1m_c1=768, get_1m_c8=2048, get_64m_c1=32, get_64m_c8=96, n_4k=5000, multipart_bytes=1 * GiB, n_mixed=4000, list_reps=5, page_reps=30,
    )  # fmt: skip


class Payloads:
    """One random buffer sliced for every body, with SHA-256 digests precomputed per size so a
    signed PUT costs the client no hashing (the server still hashes to verify)."""

    def __init__(self, size: int) -> None:
        self.data = memoryview(os.urandom(size))
        self._digests: dict[int, str] = {}

    def body(self, size: int) -> memoryview:
        return self.data[:size]

    def sha256(self, size: int) -> str:
        if size not in self._digests:
            self._digests[size] = hashlib.sha256(self.data[:size]).hexdigest()
        return self._digests[size]


@dataclass
class Site:
    """One server under test, as the workloads see it."""

    name: str
    target: Target
    payloads: Payloads
    plan: Plan
    state: dict[str, list[str]] = field(default_factory=dict)  # keys a workload left for the next


Runner = Callable[[Site], Awaitable[RunStats]]


@dataclass(frozen=True)
class Workload:
    key: str  # stable id, used in JSON
    title: str
    op_size: int  # payload bytes per operation (0: metadata only)
    concurrency: int
    payload: str  # how PUT bodies are signed: "signed", "unsigned" or "-"
    run: Runner
    peer: bool = True  # False: Hoard only; `note` says why
    note: str = ""


# -- operations ------------------------------------------------------------------------------


def put_op(
    site: Site,
    path: str,
    size: int,
    signed: bool,
    done: list[str] | None = None,
    headers: dict[str, str] | None = None,
    check: Callable[[Response], None] | None = None,
) -> Op:
    """``headers`` go out signed (the client signs every header it sends); ``check`` may reject
    an answer that came back 200 (e.g. without the encryption the request asked for)."""

    async def op(conn: Connection) -> int:
        r = await conn.request(
            "PUT", path, body=site.payloads.body(size), payload_hash=site.payloads.sha256(size) if signed else UNSIGNED_PAYLOAD,
            headers=headers,
        )  # fmt: skip
        if check is not None:
            check(r)
        if done is not None:
            done.append(path)
        return size

    return op


def get_op(path: str, size: int, check: Callable[[Response], None] | None = None) -> Op:
    async def op(conn: Connection) -> int:
        r = await conn.request("GET", path, payload_hash=EMPTY_SHA256)
        if r.nbytes != size:
            raise ValueError(f"GET {path}: {r.nbytes} bytes, expected {size}")
        if check is not None:
            check(r)
        return r.nbytes

    return op


def head_op(path: str) -> Op:
    async def op(conn: Connection) -> int:
        await conn.request("HEAD", path, payload_hash=EMPTY_SHA256)
        return 0

    return op


def delete_op(path: str) -> Op:
    async def op(conn: Connection) -> int:
        await conn.request("DELETE", path, payload_hash=EMPTY_SHA256, expect=(204, 200))
        return 0

    return op


_KEY = re.compile(rb"<Key>")
_PREFIX = re.compile(rb"<CommonPrefixes>")
_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")


async def list_page(conn: Connection, bucket: str, *, delimiter: str = "", token: str = "") -> tuple[int, str]:
    """One ListObjectsV2 page of up to 1,000 entries: (keys + common prefixes, next token)."""
    query = [("list-type", "2"), ("max-keys", "1000")]
    if delimiter:
        query.append(("delimiter", delimiter))
    if token:
        query.append(("continuation-token", token))
    r = await conn.request("GET", f"/{bucket}", query=query, payload_hash=EMPTY_SHA256, keep_body=True)
    entries = len(_KEY.findall(r.body)) + len(_PREFIX.findall(r.body))
    match = _TOKEN.search(r.body) if b"<IsTruncated>true</IsTruncated>" in r.body else None
    return entries, match.group(1).decode() if match else ""


# Every entry of a ListObjectVersions page is one of these two elements (<VersionId> and
# <VersionIdMarker> do not match: the ">" is part of the pattern).
_VERSION_ENTRY = re.compile(rb"<Version>|<DeleteMarker>")
_VERSION_ID = re.compile(rb"<VersionId>([^<]*)</VersionId>")


async def versions_page(conn: Connection, bucket: str, *, prefix: str = "", key_marker: str = "", version_marker: str = "") -> bytes:
    """One ListObjectVersions page of up to 1,000 entries (its XML)."""
    query = [("versions", ""), ("max-keys", "1000")]
    for name, value in (("prefix", prefix), ("key-marker", key_marker), ("version-id-marker", version_marker)):
        if value:
            query.append((name, value))
    r = await conn.request("GET", f"/{bucket}", query=query, payload_hash=EMPTY_SHA256, keep_body=True)
    return r.body


def count_versions(body: bytes) -> int:
    """Entries of a ListObjectVersions page: versions and delete markers."""
    return len(_VERSION_ENTRY.findall(body))


def version_key(i: int) -> str:
    return f"v{i:07d}"


def versioning_body() -> tuple[bytes, dict[str, str]]:
    """PutBucketVersioning's document and its Content-MD5 (S3 requires a body checksum on some
    bucket configurations; sending one always is the safe side with every server)."""
    doc = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
    return doc, {"content-md5": base64.b64encode(hashlib.md5(doc).digest()).decode()}


def version_marker_of(body: bytes) -> str:
    """The version id in the middle of one key's listing (newest first): a page starting after it
    starts inside that key's older versions, so the listing takes its version-id-marker path."""
    ids = [m.decode() for m in _VERSION_ID.findall(body)]
    if len(ids) < 2:
        raise ValueError(f"{len(ids)} version ids in the middle key's listing, expected several: {body[:300]!r}")
    return ids[len(ids) // 2]


# -- runners ---------------------------------------------------------------------------------


def _loop(site: Site, ops: Iterator[Op], concurrency: int) -> Awaitable[RunStats]:
    return drive(site.target, ops, concurrency, site.plan.time_limit)


def put_objects(prefix: str, size: int, count: int, concurrency: int, signed: bool) -> Runner:
    def run(site: Site) -> Awaitable[RunStats]:
        done: list[str] = []
        site.state[prefix] = done
        ops = (put_op(site, f"/{DATA_BUCKET}/{prefix}/{i}", size, signed, done) for i in range(count))
        return _loop(site, ops, concurrency)

    return run


def get_objects(prefix: str, size: int, count: int, concurrency: int) -> Runner:
    """GETs cycle over the seeded objects (never the PUT workload's, which may be cut short)."""

    def run(site: Site) -> Awaitable[RunStats]:
        seeded = site.state[f"seed:{prefix}"]
        ops = (get_op(seeded[i % len(seeded)], size) for i in range(count))
        return _loop(site, ops, concurrency)

    return run


def small_put(count: int) -> Runner:
    def run(site: Site) -> Awaitable[RunStats]:
        done: list[str] = []
        site.state["small"] = done
        ops = (put_op(site, f"/{SMALL_BUCKET}/obj-{i:07d}", 4 * KiB, True, done) for i in range(count))
        return _loop(site, ops, 16)

    return run


def _small_keys(site: Site, count: int) -> list[str]:
    """Keys the 4 KiB PUT of this round wrote (repeated to ``count`` for GET/HEAD)."""
    written = site.state.get("small") or [f"/{SMALL_BUCKET}/obj-{i:07d}" for i in range(count)]
    return list(itertools.islice(itertools.cycle(written), count))


def small_get(count: int) -> Runner:
    return lambda site: _loop(site, (get_op(p, 4 * KiB) for p in _small_keys(site, count)), 16)


def small_head(count: int) -> Runner:
    return lambda site: _loop(site, (head_op(p) for p in _small_keys(site, count)), 16)


def small_delete(count: int) -> Runner:
    def run(site: Site) -> Awaitable[RunStats]:
        keys = list(dict.fromkeys(_small_keys(site, count)))  # each once
        site.state["small"] = []
        return _loop(site, (delete_op(p) for p in keys), 16)

    return run


def mixed(count: int, size: int = 64 * KiB) -> Runner:
    """70 % GET / 30 % PUT over the seeded 64 KiB objects, the same seeded sequence for both."""

    def run(site: Site) -> Awaitable[RunStats]:
        seeded = site.state["seed:mixed"]
        rng = random.Random(7)

        def ops() -> Iterator[Op]:
            for _ in range(count):
                path = rng.choice(seeded)
                yield get_op(path, size) if rng.random() < 0.7 else put_op(site, path, size, True)

        return _loop(site, ops(), 8)

    return run


def multipart(total: int, part_size: int, in_flight: int = 8) -> Runner:
    """One upload: create, ``total/part_size`` parts with ``in_flight`` at once, complete.
    Ops are parts; the elapsed time (and so MiB/s) covers the whole upload."""

    async def run(site: Site) -> RunStats:
        path = f"/{DATA_BUCKET}/multipart/big"
        stats = RunStats()
        conn = site.target.connection()
        t0 = time.perf_counter()
        try:
            r = await conn.request("POST", path, query=[("uploads", "")], payload_hash=EMPTY_SHA256, keep_body=True)
            match = re.search(rb"<UploadId>([^<]+)</UploadId>", r.body)
            if not match:
                raise ValueError(f"no UploadId in {r.body[:200]!r}")
            upload_id = match.group(1).decode()
            etags: dict[int, str] = {}

            def part(n: int) -> Op:
                async def op(c: Connection) -> int:
                    size = part_size
                    resp = await c.request(
                        "PUT", path, query=[("partNumber", str(n)), ("uploadId", upload_id)],
                        body=site.payloads.body(size), payload_hash=UNSIGNED_PAYLOAD,
                    )  # fmt: skip
                    etags[n] = resp.headers["etag"]
                    return size

                return op

            await drive(site.target, (part(n) for n in range(1, total // part_size + 1)), in_flight, site.plan.time_limit, stats)
            doc = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etags[n]}</ETag></Part>" for n in sorted(etags))
            body = f"<CompleteMultipartUpload>{doc}</CompleteMultipartUpload>".encode()
            r = await conn.request("POST", path, query=[("uploadId", upload_id)], body=body, keep_body=True)
            if b"<Error>" in r.body:  # S3 may answer 200 and put the error in the body
                raise ValueError(r.body[:300].decode(errors="replace"))
        except Exception as exc:
            stats.fail(exc)
        finally:
            conn.close()
        stats.elapsed = time.perf_counter() - t0
        return stats

    return run


def list_all(bucket: str, expect: int, reps: int) -> Runner:
    """Walk every page of the bucket; one op = one whole walk (its latency is the figure)."""

    async def walk(conn: Connection) -> int:
        seen, token = 0, ""
        while True:
            n, token = await list_page(conn, bucket, token=token)
            seen += n
            if not token:
                break
        if seen != expect:
            raise ValueError(f"listed {seen} keys, expected {expect}")
        return 0

    return lambda site: _loop(site, (walk for _ in range(reps)), 1)


def one_page(bucket: str, delimiter: str, reps: int) -> Runner:
    async def page(conn: Connection) -> int:
        n, _ = await list_page(conn, bucket, delimiter=delimiter)
        if n != 1000:
            raise ValueError(f"page of {n} entries, expected 1000")
        return 0

    return lambda site: _loop(site, (page for _ in range(reps)), 1)


def one_versions_page(bucket: str, reps: int) -> Runner:
    """One ListObjectVersions page of 1,000, from where setup left the bucket's markers (none:
    from the start); anything but 1,000 entries is an error."""

    def run(site: Site) -> Awaitable[RunStats]:
        failed = site.state.get(f"failed:{bucket}")
        key_marker, version_marker = site.state.get(f"markers:{bucket}") or ("", "")

        async def page(conn: Connection) -> int:
            if failed:  # setup failed on this server: every run counts it instead of stopping the suite
                raise RuntimeError(f"setup of {bucket} failed: {failed[0]}")
            n = count_versions(await versions_page(conn, bucket, key_marker=key_marker, version_marker=version_marker))
            if n != 1000:
                raise ValueError(f"page of {n} versions, expected 1000")
            return 0

        return _loop(site, (page for _ in range(reps)), 1)

    return run


# -- the list --------------------------------------------------------------------------------


def workloads(plan: Plan) -> list[Workload]:
    p = plan
    mp = p.multipart_bytes
    out = [
        Workload("put-1m-c1", "PUT 1 MiB, c1", MiB, 1, "signed", put_objects("put-1m-c1", MiB, p.n_1m_c1, 1, True)),
        Workload("get-1m-c1", "GET 1 MiB, c1", MiB, 1, "-", get_objects("1m", MiB, p.get_1m_c1, 1)),
        Workload("put-1m-c8", "PUT 1 MiB, c8", MiB, 8, "signed", put_objects("put-1m-c8", MiB, p.n_1m_c8, 8, True)),
        Workload("get-1m-c8", "GET 1 MiB, c8", MiB, 8, "-", get_objects("1m", MiB, p.get_1m_c8, 8)),
        Workload("put-64m-c1", "PUT 64 MiB, c1", 64 * MiB, 1, "unsigned", put_objects("put-64m-c1", 64 * MiB, p.n_64m_c1, 1, False)),
        Workload("get-64m-c1", "GET 64 MiB, c1", 64 * MiB, 1, "-", get_objects("64m", 64 * MiB, p.get_64m_c1, 1)),
        Workload("put-64m-c8", "PUT 64 MiB, c8", 64 * MiB, 8, "unsigned", put_objects("put-64m-c8", 64 * MiB, p.n_64m_c8, 8, False)),
        Workload("get-64m-c8", "GET 64 MiB, c8", 64 * MiB, 8, "-", get_objects("64m", 64 * MiB, p.get_64m_c8, 8)),
        Workload("put-4k-c16", "PUT 4 KiB, c16", 4 * KiB, 16, "signed", small_put(p.n_4k)),
        Workload("get-4k-c16", "GET 4 KiB, c16", 4 * KiB, 16, "-", small_get(p.n_4k)),
        Workload("head-4k-c16", "HEAD 4 KiB, c16", 0, 16, "-", small_head(p.n_4k)),
        Workload("delete-4k-c16", "DELETE 4 KiB, c16", 0, 16, "-", small_delete(p.n_4k)),
        Workload(
            "multipart",
            f"Multipart {mp // MiB} MiB, {p.part_size // MiB} MiB parts, 8 in flight",
            p.part_size,
            8,
            "unsigned",
            multipart(mp, p.part_size),
        ),  # fmt: skip
        Workload("mixed-70-30", "Mixed 70% GET / 30% PUT, 64 KiB, c8", 64 * KiB, 8, "signed", mixed(p.n_mixed)),
        Workload(
            "list-10k", f"ListObjectsV2 all keys, {p.list_keys:,}-key bucket", 0, 1, "-", list_all(LIST_BUCKET, p.list_keys, p.list_reps)
        ),
        Workload("page-10k", f"1,000-key page, {p.list_keys:,}-key bucket", 0, 1, "-", one_page(LIST_BUCKET, "", p.page_reps)),
        Workload(
            "page-10k-delim",
            f"1,000-prefix page (delimiter /), {p.list_keys:,}-key bucket",
            0,
            1,
            "-",
            one_page(LIST_BUCKET, "/", p.page_reps),
        ),
    ]
    if p.big_keys:
        why = f"moto is not populated with {p.big_keys:,} keys: at its few hundred PUT/s (one connection per request) that alone would take over an hour"
        out += [
            Workload(
                "page-1m",
                f"1,000-key page, {p.big_keys:,}-key bucket",
                0,
                1,
                "-",
                one_page(BIG_BUCKET, "", p.page_reps),
                peer=False,
                note=why,
            ),
            Workload(
                "page-1m-delim",
                f"1,000-prefix page (delimiter /), {p.big_keys:,}-key bucket",
                0,
                1,
                "-",
                one_page(BIG_BUCKET, "/", p.page_reps),
                peer=False,
                note=why,
            ),  # fmt: skip
        ]
    out.append(
        Workload(
            "versions-small",
            f"1,000-version page, {p.versions:,}-version bucket",
            0,
            1,
            "-",
            one_versions_page(VERSIONS_BUCKET, p.page_reps),
        )
    )
    if p.big_versions:
        out.append(
            Workload(
                "versions-big",
                f"1,000-version page from the middle, {p.big_versions:,}-version bucket",
                0,
                1,
                "-",
                one_versions_page(BIG_VERSIONS_BUCKET, p.page_reps),
                peer=False,
                note=f"the peers are not populated with {p.big_versions:,} versions: at moto's few hundred PUT/s (one "
                "connection per request) that alone would take many minutes, and the 20 % target is about Hoard alone",
            )
        )
    return out


# -- one-off data (not measured) -------------------------------------------------------------


def list_key(i: int) -> str:
    """Ten keys per 'directory', so a delimiter page of 1,000 prefixes spans 10,000 keys."""
    return f"p{i // 10:06d}/k{i:07d}"


async def populate_bucket(site: Site, bucket: str, count: int, log: Callable[[str], None]) -> float:
    """Fill ``bucket`` with ``count`` empty objects by concurrent PUTs; returns seconds taken."""
    conn = site.target.connection()
    await conn.request("PUT", f"/{bucket}", payload_hash=EMPTY_SHA256)
    conn.close()
    t0 = time.perf_counter()
    ops = (put_op(site, f"/{bucket}/{list_key(i)}", 0, True) for i in range(count))
    stats = await drive(site.target, ops, site.plan.populate_concurrency, time_limit=24 * 3600)
    if stats.errors:
        raise RuntimeError(f"{site.name}: populating {bucket}: {stats.errors} errors, first: {stats.first_error}")
    took = time.perf_counter() - t0
    log(f"  {site.name}: {bucket} populated with {count:,} keys in {took:.1f}s ({count / took:.0f} PUT/s)")
    return took


async def populate_versions(site: Site, bucket: str, count: int, log: Callable[[str], None], middle: bool = False) -> float:
    """Make ``bucket`` versioned and fill it with ``count`` versions of empty objects by concurrent
    PUTs, ``plan.versions_per_key`` per key; returns seconds taken. ``middle``: take a key marker
    and a version-id marker in the middle of the bucket for the page workload (site.state)."""
    per_key = site.plan.versions_per_key
    keys = -(-count // per_key)
    conn = site.target.connection()
    try:
        await conn.request("PUT", f"/{bucket}", payload_hash=EMPTY_SHA256)
        doc, headers = versioning_body()
        await conn.request("PUT", f"/{bucket}", query=[("versioning", "")], body=doc, headers=headers)
    finally:
        conn.close()
    t0 = time.perf_counter()
    # Round-robin over the keys: the PUTs in flight at once go to different keys (in the big bucket).
    ops = (put_op(site, f"/{bucket}/{version_key(i % keys)}", 0, True) for i in range(count))
    stats = await drive(site.target, ops, site.plan.populate_concurrency, time_limit=24 * 3600)
    if stats.errors:
        raise RuntimeError(f"{site.name}: populating {bucket}: {stats.errors} errors, first: {stats.first_error}")
    took = time.perf_counter() - t0
    log(f"  {site.name}: {bucket} populated with {count:,} versions of {keys:,} keys in {took:.1f}s ({count / took:.0f} PUT/s)")
    if middle:
        key = version_key(keys // 2)
        conn = site.target.connection()
        try:
            body = await versions_page(conn, bucket, prefix=key)
        finally:
            conn.close()
        site.state[f"markers:{bucket}"] = [key, version_marker_of(body)]
    return took


async def prepare(site: Site, log: Callable[[str], None], listing: bool = True) -> dict[str, float]:
    """Buckets and the objects the GET, mixed and (if ``listing``) listing workloads read."""
    conn = site.target.connection()
    for bucket in (DATA_BUCKET, SMALL_BUCKET):
        await conn.request("PUT", f"/{bucket}", payload_hash=EMPTY_SHA256)
    conn.close()
    seeds = {"1m": (MiB, 8), "64m": (64 * MiB, 8), "mixed": (64 * KiB, 64)}
    for name, (size, count) in seeds.items():
        paths = [f"/{DATA_BUCKET}/seed-{name}/{i}" for i in range(count)]
        stats = await drive(site.target, (put_op(site, p, size, False) for p in paths), 4, time_limit=3600)
        if stats.errors:
            raise RuntimeError(f"{site.name}: seeding {name}: {stats.first_error}")
        site.state[f"seed:{name}"] = paths
    if not listing:
        return {}
    return {"populate_10k_s": await populate_bucket(site, LIST_BUCKET, site.plan.list_keys, log)}
