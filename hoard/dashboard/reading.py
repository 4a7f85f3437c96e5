"""What the History reads of the process's metrics: the request counters, the duration
histogram and the body byte counters, per worker process, as plain numbers."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

REQUESTS = "hoard_requests_total"
DURATION_BUCKET = "hoard_request_duration_seconds_bucket"
RECEIVED = "hoard_received_bytes_total"
SENT = "hoard_sent_bytes_total"


@dataclass
class Reading:
    """Series kept per worker process: rates are taken series by series, so that one worker
    started again (its counts back to zero) does not look like the others' counts falling."""

    requests: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (worker, operation, status)
    durations: dict[tuple[str, str], dict[float, float]] = field(default_factory=dict)  # (worker, operation) -> le -> count
    received: dict[str, float] = field(default_factory=dict)  # worker -> bytes
    sent: dict[str, float] = field(default_factory=dict)


def read_families(families: Iterable[Any]) -> Reading:
    """A ``Reading`` of prometheus_client metric families as ``hoard.metrics.Instruments.collect``
    gives them (labelled by worker; not yet summed by ``per_worker``)."""
    out = Reading()
    for family in families:
        for sample in family.samples:
            labels, worker = sample.labels, sample.labels.get("worker", "")
            if sample.name == REQUESTS:
                out.requests[(worker, labels.get("operation", ""), labels.get("status", ""))] = sample.value
            elif sample.name == DURATION_BUCKET:
                le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
                out.durations.setdefault((worker, labels.get("operation", "")), {})[le] = sample.value
            elif sample.name == RECEIVED:
                out.received[worker] = sample.value
            elif sample.name == SENT:
                out.sent[worker] = sample.value
    return out
