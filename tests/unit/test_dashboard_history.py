"""The dashboard's History fed by real prometheus_client instruments (in a private registry)
and a clock of the test's own: no sleeping, ``sample_once`` called directly."""

from __future__ import annotations

import pytest

from hoard.dashboard.history import History
from hoard.metrics import Instruments


class Feed:
    """Instruments standing for the worker processes, and the clock of the samples."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = [Instruments(str(i)) for i in range(workers)]
        self.now = 1_000_000.0

    def collect(self) -> list:
        return [family for inst in self.workers for family in inst.collect()]

    def restart(self, worker: int) -> None:
        self.workers[worker] = Instruments(str(worker))

    def history(self, interval: float = 10.0, window: float = 3600.0) -> History:
        return History(interval, window, collect=self.collect, clock=lambda: self.now)


def test_the_first_sample_is_only_a_baseline_and_rates_come_per_second():
    feed = Feed()
    h = feed.history()
    feed.workers[0].request("GetObject", 200, 0.002, 0, 1000)
    assert h.sample_once() is None  # counts before the history began are not charted
    for _ in range(20):
        feed.workers[0].request("GetObject", 200, 0.003, 0, 500)
    for _ in range(10):
        feed.workers[0].request("PutObject", 200, 0.04, 2000, 0)
    feed.workers[0].request("GetObject", 404, 0.001, 0, 0)
    feed.workers[0].request("PutObject", 503, 0.2, 0, 0)
    feed.now += 10
    h.sample_once()
    s = h.series()
    assert s["t"] == [1_000_010.0]
    assert s["requests"] == [3.2]
    assert s["errors_4xx"] == [0.1] and s["errors_5xx"] == [0.1]
    assert s["bytes_in"] == [2000.0] and s["bytes_out"] == [1000.0]
    # 32 requests; ranks 16, 28.8 and 31.68: the 16th in (2.5, 5] ms, the 29th in (25, 50], the
    # 32nd (200 ms) in (100, 250], 68% of the way through it.
    assert s["p50_ms"][0] == pytest.approx(2.5 + 2.5 * 15 / 20)
    assert 25.0 < s["p90_ms"][0] <= 50.0
    assert s["p99_ms"][0] == pytest.approx(202.0)
    assert h.operations() == [
        {"operation": "GetObject", "requests": 21, "errors_4xx": 1, "errors_5xx": 0},
        {"operation": "PutObject", "requests": 11, "errors_4xx": 0, "errors_5xx": 1},
    ]


def test_latency_is_that_of_the_interval_not_since_start():
    feed = Feed()
    h = feed.history()
    h.sample_once()
    for _ in range(100):
        feed.workers[0].request("GetObject", 200, 5.0, 0, 0)  # a slow first interval
    feed.now += 10
    h.sample_once()
    for _ in range(10):
        feed.workers[0].request("GetObject", 200, 0.0005, 0, 0)
    feed.now += 10
    h.sample_once()
    feed.now += 10
    h.sample_once()  # no request at all
    s = h.series()
    assert s["p50_ms"][0] == pytest.approx(3750.0)  # (2.5 s, 5 s], rank 50 of 100
    assert s["p50_ms"][1] == pytest.approx(0.5)  # (0, 1 ms], rank 5 of 10
    assert s["p99_ms"][2] is None and s["requests"][2] == 0


def test_workers_are_summed_and_a_worker_started_again_gives_no_negative_rate():
    feed = Feed(workers=2)
    h = feed.history()
    for _ in range(50):
        feed.workers[0].request("GetObject", 200, 0.01, 10, 10)
        feed.workers[1].request("GetObject", 200, 0.01, 10, 10)
    h.sample_once()
    for _ in range(5):
        feed.workers[0].request("GetObject", 200, 0.01, 10, 10)
        feed.workers[1].request("GetObject", 500, 0.01, 10, 10)
    feed.now += 10
    h.sample_once()
    feed.restart(1)  # its counts start again from zero
    feed.workers[1].request("GetObject", 200, 0.01, 10, 10)
    feed.workers[1].request("HeadObject", 200, 0.01, 0, 0)
    feed.now += 5
    h.sample_once()
    s = h.series()
    assert s["requests"] == [1.0, 0.4]  # 10 in 10 s; then the restarted worker's 2 in 5 s
    assert s["errors_5xx"] == [0.5, 0.0]
    assert s["bytes_in"] == [10.0, 2.0]
    assert all(v is None or v >= 0 for key in s for v in s[key])
    summary = h.summary()
    assert summary["requests"] == 12 and summary["errors_5xx"] == 5 and summary["seconds"] == 15
    assert summary["requests_per_second"] == 0.8


def test_only_the_window_is_kept():
    feed = Feed()
    h = feed.history(interval=10, window=60)
    h.sample_once()
    for i in range(10):
        feed.workers[0].request("GetObject", 200, 0.01, 0, 0)
        feed.workers[0].request(f"Op{i}", 200, 0.01, 0, 0)
        feed.now += 10
        h.sample_once()
    s = h.series()
    assert len(s["t"]) == 6 and s["t"][-1] == feed.now and s["t"][0] == feed.now - 50  # six 10 s intervals
    ops = h.operations(top=3)
    assert ops[0] == {"operation": "GetObject", "requests": 6, "errors_4xx": 0, "errors_5xx": 0}
    assert [o["operation"] for o in ops[1:]] == ["Op4", "Op5"]  # ties by name; Op0..Op3 aged out


def test_series_keys_are_the_charts():
    assert set(Feed().history().series()) == {"t", "requests", "errors_4xx", "errors_5xx", "p50_ms", "p90_ms", "p99_ms", "bytes_in", "bytes_out"}
