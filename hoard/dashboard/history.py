"""The last hour of the server's traffic, sampled every few seconds by the leader: requests,
4xx and 5xx answers and body bytes per second, latency quantiles, and requests per operation.

Each sample reads the request metrics every worker process counted (``hoard.metrics``, summed
over the workers as the ``/.hoard/metrics`` scrape sums them) and turns what grew since the
previous sample into one point. Quantiles come from what each duration bucket gained over the
interval, so a point shows that interval's latency, not the average since start-up.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hoard import metrics
from hoard.dashboard.rates import bucket_increases, histogram_quantile, increases, merge_buckets, per_second
from hoard.dashboard.reading import Reading, read_families
from hoard.workers.periodic import Periodic

INTERVAL = 10.0  # seconds between samples
WINDOW = 3600.0  # seconds of points kept
QUANTILES = {"p50_ms": 0.5, "p90_ms": 0.9, "p99_ms": 0.99}


@dataclass(frozen=True)
class Point:
    """One interval, ending at ``t`` (unix seconds) and lasting ``seconds``."""

    t: float
    seconds: float
    requests: float  # answered in the interval (not per second: rates are derived when asked)
    errors_4xx: float
    errors_5xx: float
    bytes_in: float
    bytes_out: float
    latency_ms: dict[str, float | None]  # QUANTILES' names -> milliseconds; None with no request
    operations: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # name -> (requests, 4xx, 5xx)


def point_between(previous: Reading, current: Reading, t: float, seconds: float) -> Point:
    """What was answered between two readings ``seconds`` apart, the later one taken at ``t``."""
    requests = increases(previous.requests, current.requests)
    ops: dict[str, list[float]] = {}
    total = [0.0, 0.0, 0.0]
    for (_, operation, status), n in requests.items():
        if not n:
            continue
        counts = ops.setdefault(operation, [0.0, 0.0, 0.0])
        kind = 1 if status.startswith("4") else 2 if status.startswith("5") else None
        for row in (counts, total):
            row[0] += n
            if kind is not None:
                row[kind] += n
    buckets = merge_buckets(bucket_increases(previous.durations, current.durations).values())
    return Point(
        t=t,
        seconds=seconds,
        requests=total[0],
        errors_4xx=total[1],
        errors_5xx=total[2],
        bytes_in=sum(increases(previous.received, current.received).values()),
        bytes_out=sum(increases(previous.sent, current.sent).values()),
        latency_ms={name: _ms(histogram_quantile(q, buckets)) for name, q in QUANTILES.items()},
        operations={name: (c[0], c[1], c[2]) for name, c in ops.items()},
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def _collect() -> list[Any]:
    return metrics.instruments().collect()


class History(Periodic):
    """A ring of the last ``window`` seconds of points, one every ``interval`` seconds.

    ``collect`` gives the metric families (default: every worker's, as the scrape reads them;
    blocking: file reads with workers), ``clock`` the time of a sample. Tests hand in their own
    and call ``sample_once``.
    """

    what = "dashboard history"

    def __init__(
        self,
        interval: float = INTERVAL,
        window: float = WINDOW,
        collect: Callable[[], Iterable[Any]] = _collect,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(interval, clock)
        self.window = window
        self.collect = collect
        self.points: deque[Point] = deque(maxlen=max(1, int(window / interval) + 1))
        self._last: Reading | None = None
        self._last_t = 0.0

    async def run_once(self) -> Point | None:
        families = await asyncio.to_thread(lambda: list(self.collect()))
        return self.add(families, self.clock())

    def sample_once(self) -> Point | None:
        """Read the metrics now and add the point since the previous sample (None for the first
        sample, which only sets where counting starts). Blocks."""
        return self.add(list(self.collect()), self.clock())

    def add(self, families: Iterable[Any], now: float) -> Point | None:
        """Add the point between the previous reading and ``families`` read at ``now``."""
        reading = read_families(families)
        previous, since = self._last, self._last_t
        self._last, self._last_t = reading, now
        if previous is None:
            return None
        point = point_between(previous, reading, now, now - since)
        self.points.append(point)
        while self.points and self.points[0].t <= now - self.window:
            self.points.popleft()
        return point

    def series(self) -> dict[str, list]:
        """The chart data, one entry per point, oldest first: times in unix seconds, rates per
        second, latency quantiles in milliseconds (None for an interval without requests)."""
        points = list(self.points)
        out: dict[str, list] = {
            "t": [round(p.t, 3) for p in points],
            "requests": [_rate(p.requests, p) for p in points],
            "errors_4xx": [_rate(p.errors_4xx, p) for p in points],
            "errors_5xx": [_rate(p.errors_5xx, p) for p in points],
        }
        for name in QUANTILES:
            out[name] = [p.latency_ms[name] for p in points]
        out["bytes_in"] = [_rate(p.bytes_in, p) for p in points]
        out["bytes_out"] = [_rate(p.bytes_out, p) for p in points]
        return out

    def operations(self, top: int = 10) -> list[dict[str, Any]]:
        """The ``top`` operations by requests over the points kept, most first (ties by name):
        ``{"operation", "requests", "errors_4xx", "errors_5xx"}``."""
        totals: dict[str, Counter[str]] = {}
        for p in list(self.points):
            for name, (n, e4, e5) in p.operations.items():
                c = totals.setdefault(name, Counter())
                c["requests"] += n
                c["errors_4xx"] += e4
                c["errors_5xx"] += e5
        ranked = sorted(totals.items(), key=lambda item: (-item[1]["requests"], item[0]))[:top]
        return [{"operation": name, "requests": int(c["requests"]), "errors_4xx": int(c["errors_4xx"]), "errors_5xx": int(c["errors_5xx"])} for name, c in ranked]

    def summary(self) -> dict[str, float]:
        """Totals and mean rates over the points kept: ``{"seconds", "requests", "errors_4xx",
        "errors_5xx", "requests_per_second", "errors_4xx_per_second", "errors_5xx_per_second",
        "bytes_in_per_second", "bytes_out_per_second"}``."""
        points = list(self.points)
        seconds = sum(p.seconds for p in points)
        sums = {name: sum(getattr(p, name) for p in points) for name in ("requests", "errors_4xx", "errors_5xx", "bytes_in", "bytes_out")}
        out: dict[str, float] = {"seconds": round(seconds, 3)}
        out.update({name: int(sums[name]) for name in ("requests", "errors_4xx", "errors_5xx")})
        out.update({f"{name}_per_second": round(per_second(total, seconds), 3) for name, total in sums.items()})
        return out


def _rate(amount: float, point: Point) -> float:
    return round(per_second(amount, point.seconds), 3)
