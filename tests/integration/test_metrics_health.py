"""Health checks and Prometheus metrics on the S3 port, on real servers of one process and of two."""

from __future__ import annotations

import http.client
import json

import botocore.exceptions
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import HoardServer, wait_for

TOKEN = "scrape-token-0123456789abcdef"


def get(srv: HoardServer, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a connection of its own (so, with workers, to whichever worker the kernel picks)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def scrape(srv: HoardServer, headers: dict[str, str] | None = None) -> tuple[str, dict[tuple[str, tuple], float]]:
    """(the worker that answered, every sample as {(name, sorted labels): value})."""
    status, h, body = get(srv, "/.hoard/metrics", headers=headers)
    assert status == 200, body
    assert h["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return h["x-amz-id-2"].rsplit("-", 1)[1], samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def per_worker_sum(samples: dict, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls) and any(k == "worker" for k, _ in ls))


@pytest.fixture(params=[1, 2], ids=["one-process", "two-workers"])
def srv(request, tmp_path):
    args = ["--workers", str(request.param)] if request.param > 1 else []
    server = HoardServer(tmp_path / "data", extra_args=args).start()
    server.workers = request.param
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_health_live_and_ready_need_no_credentials(srv):
    for method in ("GET", "HEAD"):
        for path in ("/.hoard/health/live", "/.hoard/health/ready"):
            status, headers, body = get(srv, path, method)
            assert status == 200, body
            assert headers["content-type"] == "application/json"
            if method == "GET":
                assert json.loads(body) == {"status": "ok"}
            else:
                assert body == b""


def test_request_counts_match_the_workload_exactly_whichever_worker_answers(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="counted")
    payload = b"x" * 3000
    for i in range(7):
        s3.put_object(Bucket="counted", Key=f"k{i}", Body=payload)
    for i in range(5):
        assert s3.get_object(Bucket="counted", Key=f"k{i}")["Body"].read() == payload
    for i in range(3):
        with pytest.raises(botocore.exceptions.ClientError):
            s3.head_object(Bucket="counted", Key=f"missing{i}")
    seen = set()
    for _ in range(40):
        worker, samples = scrape(srv)
        seen.add(worker)
        expected = {("PutObject", "200"): 7, ("GetObject", "200"): 5, ("HeadObject", "404"): 3, ("CreateBucket", "200"): 1}
        for (operation, status), n in expected.items():
            assert value(samples, "hoard_requests_total", operation=operation, status=status) == n, (worker, operation)
            assert per_worker_sum(samples, "hoard_worker_requests_total", operation=operation, status=status) == n
        assert value(samples, "hoard_request_duration_seconds_count", operation="PutObject") == 7
        assert value(samples, "hoard_request_duration_seconds_bucket", operation="GetObject", le="+Inf") == 5
        assert per_worker_sum(samples, "hoard_worker_request_duration_seconds_count", operation="HeadObject") == 3
        assert value(samples, "hoard_received_bytes_total") >= 7 * len(payload)
        assert value(samples, "hoard_sent_bytes_total") >= 5 * len(payload)
        assert value(samples, "hoard_received_bytes_total") == per_worker_sum(samples, "hoard_worker_received_bytes_total")
        assert value(samples, "hoard_drives", state="online") == 1
        assert value(samples, "hoard_build_info", version=__import__("hoard").__version__) == 1
        assert value(samples, "hoard_uptime_seconds") > 0
        assert ("hoard_reclaim_queue", ()) in samples and ("hoard_tier_tasks", ()) in samples
        assert value(samples, "hoard_replication_backlog", status="pending") == 0
        if len(seen) == srv.workers:
            break
    assert len(seen) == srv.workers, seen  # with two workers, each answered a scrape


def test_buckets_named_metrics_and_health_are_buckets(srv):
    s3 = srv.client()
    for name in ("metrics", "health"):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="live", Body=b"1")
        assert [o["Key"] for o in s3.list_objects(Bucket=name)["Contents"]] == ["live"]
        assert s3.get_object(Bucket=name, Key="live")["Body"].read() == b"1"
    status, _, body = get(srv, "/metrics")  # path-style ListObjects, anonymous: refused as S3 refuses it
    assert status == 403 and b"AccessDenied" in body


def test_the_metrics_token(tmp_path):
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_METRICS_TOKEN": TOKEN}).start()
    try:
        status, headers, _ = get(srv, "/.hoard/metrics")
        assert status == 401 and headers["www-authenticate"].startswith("Bearer")
        assert get(srv, "/.hoard/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
        assert get(srv, "/.hoard/metrics", headers={"Authorization": f"Basic {TOKEN}"})[0] == 401
        scrape(srv, {"Authorization": f"Bearer {TOKEN}"})
        assert get(srv, "/.hoard/health/ready")[0] == 200  # health checks stay open
    finally:
        srv.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_ready_follows_the_write_quorum(tmp_path, workers):
    drives = [tmp_path / f"d{i}" for i in range(4)]
    args = ["--workers", str(workers)] if workers > 1 else []
    srv = HoardServer(tmp_path / "data", drives=drives, extra_args=args, env_extra={"HOARD_PROBE_INTERVAL": "0.5", "HOARD_SCANNER_RATE": "0"}).start()
    aside = {i: tmp_path / f"aside{i}" for i in (1, 2, 3)}
    try:
        assert get(srv, "/.hoard/health/ready")[0] == 200
        # Four drives, parity 2: a write needs 2 (k when k = m). Two away still write; three do not.
        for i in (3, 2):
            drives[i].rename(aside[i])
        assert wait_for(lambda: value(scrape(srv)[1], "hoard_drives", state="offline") == 2, timeout=10)
        assert get(srv, "/.hoard/health/ready")[0] == 200
        drives[1].rename(aside[1])
        assert wait_for(lambda: get(srv, "/.hoard/health/ready")[0] == 503, timeout=10)
        status, _, body = get(srv, "/.hoard/health/ready")
        doc = json.loads(body)
        assert doc["status"] == "unavailable" and any("erasure set 0: 1 of 4" in p for p in doc["problems"]), doc
        assert get(srv, "/.hoard/health/live")[0] == 200
        _, samples = scrape(srv)
        assert value(samples, "hoard_drives", state="offline") == 3
        assert value(samples, "hoard_drive_online", drive="2") == 0 and value(samples, "hoard_drive_online", drive="0") == 1
        for i in (1, 2, 3):
            aside[i].rename(drives[i])
        assert wait_for(lambda: get(srv, "/.hoard/health/ready")[0] == 200, timeout=10)
    finally:
        srv.stop()
