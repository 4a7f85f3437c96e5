"""The process's Prometheus instruments: requests, their durations, body bytes, heal events.

With worker processes (``hoard server --workers N``) every process counts into files of its own in
one folder (prometheus_client's multiprocess mode), which any process reads when it is scraped:
the supervisor makes the folder and names it in ``PROMETHEUS_MULTIPROC_DIR`` before it forks
(``use_directory``). prometheus_client decides at import time whether values live in memory or
in those files, so nothing here creates a metric before ``use_directory`` has run: the
instruments are made at their first use (``instruments``), in the process that uses them.

Every instrument carries a ``worker`` label (the process's index). ``per_worker`` turns what is
collected into the totals (``hoard_requests_total{operation,status}``: the sum over the workers)
and the same series per process (``hoard_worker_requests_total{operation,status,worker}``).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "hoard_"
WORKER_PREFIX = "hoard_worker_"
DIR_PREFIX = "hoard-metrics-"
READ_ATTEMPTS = 5
# From 1 ms (a small GET served from the page cache) to a minute (a 5 GiB PutObject, a slow client).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


# -- the multiprocess folder (the supervisor's) ---------------------------------------------
def make_directory() -> str:
    """A fresh private folder for the workers' metric files, under the system's temp folder.

    Folders a killed supervisor left (named after its pid, which is gone) are removed first.
    """
    base = Path(tempfile.gettempdir())
    for old in base.glob(DIR_PREFIX + "*"):
        pid = old.name[len(DIR_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and old.is_dir() and old.stat().st_uid == os.getuid():
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-")  # mode 0700


def use_directory(path: str) -> None:
    """Count into files in ``path`` from now on, in this process and those it forks."""
    os.environ[ENV] = path
    from prometheus_client import values

    # Chosen when prometheus_client was first imported: chosen again, now that the folder is named.
    values.ValueClass = values.get_value_class()


def directory() -> str | None:
    return os.environ.get(ENV) or None


def process_exited(pid: int) -> None:
    """A worker ended: its live gauges go; its counters stay, so totals never go back."""
    path = directory()
    if path is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)


def remove_directory(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if os.environ.get(ENV) == path:
        del os.environ[ENV]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the instruments ------------------------------------------------------------------------
class Instruments:
    """This process's counters and histogram, with the label children of each request kind kept,
    so that a request costs dictionary lookups and increments, not label resolution."""

    def __init__(self, worker: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.worker = worker
        # In multiprocess mode values go to files and are read from there: no registry. In one
        # process a registry of our own (never the global one) holds them.
        self.registry = CollectorRegistry() if directory() is None else None
        reg = self.registry
        self._requests = Counter("hoard_requests", "Requests answered, by operation and HTTP status", ["worker", "operation", "status"], registry=reg)
        self._duration = Histogram(
            "hoard_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            ["worker", "operation"],
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self._received = Counter("hoard_received_bytes", "Request body bytes received", ["worker"], registry=reg).labels(worker)
        self._sent = Counter("hoard_sent_bytes", "Response body bytes sent", ["worker"], registry=reg).labels(worker)
        self._heal = Counter("hoard_heal_events", "Healer events: repairs queued, scanner passes", ["worker", "event"], registry=reg)
        self._counts: dict[tuple[str, int], Any] = {}
        self._durations: dict[str, Any] = {}

    def request(self, operation: str, status: int, seconds: float, received: int, sent: int) -> None:
        count = self._counts.get((operation, status))
        if count is None:
            count = self._counts[(operation, status)] = self._requests.labels(self.worker, operation, str(status))
        count.inc()
        duration = self._durations.get(operation)
        if duration is None:
            duration = self._durations[operation] = self._duration.labels(self.worker, operation)
        duration.observe(seconds)
        if received:
            self._received.inc(received)
        if sent:
            self._sent.inc(sent)

    def heal_event(self, event: str) -> None:
        self._heal.labels(self.worker, event).inc()

    def collect(self) -> list[Any]:
        """What every process counted (multiprocess mode) or this one (one process), per worker."""
        if self.registry is not None:
            return list(self.registry.collect())
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        for attempt in range(READ_ATTEMPTS):
            try:
                return list(MultiProcessCollector(CollectorRegistry(auto_describe=False), directory()).collect())
            except struct.error:
                # A worker's file read in the instant between its creation and its header's
                # write (a worker starting, or counting its first of a metric): read again.
                if attempt == READ_ATTEMPTS - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")


_instruments: Instruments | None = None
_worker = "0"


def set_worker(index: int) -> None:
    """Which worker this process is (its instruments' ``worker`` label); before their first use."""
    global _worker, _instruments
    _worker = str(index)
    _instruments = None  # a forked process does not keep its parent's


def instruments() -> Instruments:
    global _instruments
    if _instruments is None:
        _instruments = Instruments(_worker)
    return _instruments


# -- totals and per-worker series -----------------------------------------------------------
def per_worker(families: Iterable[Any]) -> list[Any]:
    """For each family labelled by worker: the family summed over the workers, then the same
    series per worker under ``hoard_worker_*``. ``_created`` samples are left out (a sum of
    creation times means nothing)."""
    from prometheus_client.metrics_core import Metric

    out: list[Any] = []
    for family in families:
        totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        per = Metric(WORKER_PREFIX + family.name[len(PREFIX) :], family.documentation + ", per worker process", family.type)
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = {k: v for k, v in sample.labels.items() if k != "worker"}
            key = (sample.name, tuple(sorted(labels.items())))
            totals[key] = totals.get(key, 0.0) + sample.value
            per.add_sample(WORKER_PREFIX + sample.name[len(PREFIX) :], sample.labels, sample.value)
        total = Metric(family.name, family.documentation, family.type)
        for (name, labels), value in totals.items():
            total.add_sample(name, dict(labels), value)
        out.append(total)
        out.append(per)
    return out
