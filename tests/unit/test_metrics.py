"""The pure parts of the metrics: totals and per-worker series, the bearer token check."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

from hoard.metrics import per_worker
from hoard.observe import token_matches


def test_per_worker_sums_over_workers_and_keeps_each_worker():
    family = Metric("hoard_requests", "Requests", "counter")
    family.add_sample("hoard_requests_total", {"worker": "0", "operation": "GetObject", "status": "200"}, 3)
    family.add_sample("hoard_requests_total", {"worker": "1", "operation": "GetObject", "status": "200"}, 4)
    family.add_sample("hoard_requests_total", {"worker": "1", "operation": "PutObject", "status": "200"}, 1)
    family.add_sample("hoard_requests_created", {"worker": "1", "operation": "PutObject", "status": "200"}, 1.7e9)
    total, per = per_worker([family])
    assert total.name == "hoard_requests" and per.name == "hoard_worker_requests"
    assert {(s.name, s.labels["operation"]): s.value for s in total.samples} == {
        ("hoard_requests_total", "GetObject"): 7,
        ("hoard_requests_total", "PutObject"): 1,
    }
    assert all("worker" not in s.labels for s in total.samples)
    assert [(s.name, s.labels["worker"], s.value) for s in per.samples] == [
        ("hoard_worker_requests_total", "0", 3),
        ("hoard_worker_requests_total", "1", 4),
        ("hoard_worker_requests_total", "1", 1),
    ]


def test_histogram_buckets_are_summed_bucket_by_bucket():
    family = Metric("hoard_request_duration_seconds", "Durations", "histogram")
    for worker, counts in (("0", (1, 2)), ("1", (0, 5))):
        family.add_sample("hoard_request_duration_seconds_bucket", {"worker": worker, "operation": "X", "le": "0.1"}, counts[0])
        family.add_sample("hoard_request_duration_seconds_bucket", {"worker": worker, "operation": "X", "le": "+Inf"}, counts[1])
        family.add_sample("hoard_request_duration_seconds_count", {"worker": worker, "operation": "X"}, counts[1])
    total, _ = per_worker([family])
    got = {(s.name, s.labels.get("le")): s.value for s in total.samples}
    assert got == {
        ("hoard_request_duration_seconds_bucket", "0.1"): 1,
        ("hoard_request_duration_seconds_bucket", "+Inf"): 7,
        ("hoard_request_duration_seconds_count", None): 7,
    }


def test_token_matches():
    assert token_matches("Bearer s3cret-token", "s3cret-token")
    assert token_matches("bearer  s3cret-token ", "s3cret-token")
    assert not token_matches(None, "s3cret-token")
    assert not token_matches("Bearer other", "s3cret-token")
    assert not token_matches("Basic s3cret-token", "s3cret-token")
    assert not token_matches("Bearer", "s3cret-token")
