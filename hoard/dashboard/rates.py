"""Pure arithmetic on Prometheus counters and histograms read at two instants: how much a counter
grew (a counter that went back was reset, and counted its whole value since), and a quantile
estimated from histogram buckets as Prometheus' ``histogram_quantile`` does."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def increase(previous: float | None, current: float) -> float:
    """How much a counter grew between two readings; never negative.

    A counter lower than before was reset (its process started again) and has counted
    ``current`` since; one not seen before was created since the previous reading.
    """
    if previous is None or current < previous:
        return current
    return current - previous


def increases(previous: Mapping[K, float], current: Mapping[K, float]) -> dict[K, float]:
    """``increase`` of every series of ``current`` (series keyed alike in both readings)."""
    return {key: increase(previous.get(key), value) for key, value in current.items()}


def bucket_increases(previous: Mapping[K, Mapping[float, float]], current: Mapping[K, Mapping[float, float]]) -> dict[K, dict[float, float]]:
    """Per histogram series (cumulative counts by upper bound), what each bucket gained.

    A reset is decided for the series as a whole: if any bucket went back, all its buckets
    count from zero. Deciding bucket by bucket could mix a reset bucket with a grown one and
    give counts that are not cumulative.
    """
    out: dict[K, dict[float, float]] = {}
    for key, buckets in current.items():
        before = previous.get(key)
        if before is None or any(count < before.get(le, 0.0) for le, count in buckets.items()):
            out[key] = dict(buckets)
        else:
            out[key] = {le: count - before.get(le, 0.0) for le, count in buckets.items()}
    return out


def merge_buckets(series: Iterable[Mapping[float, float]]) -> list[tuple[float, float]]:
    """Several histogram series with the same bounds summed into one, sorted by upper bound."""
    total: dict[float, float] = {}
    for buckets in series:
        for le, count in buckets.items():
            total[le] = total.get(le, 0.0) + count
    return sorted(total.items())


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of what cumulative ``buckets`` (upper bound, count; sorted,
    the last one +Inf) counted, or None when they counted nothing.

    As Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding the
    rank, the first bucket starting at 0, and a rank in the +Inf bucket answered with the
    highest finite bound. Counts that fall from one bound to the next (floating-point error in
    sums) are raised to stay cumulative, as Prometheus does.
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"a quantile is in (0, 1], not {q}")
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return None
    bounds = [le for le, _ in buckets]
    counts: list[float] = []
    for _, count in buckets:
        counts.append(max(count, counts[-1]) if counts else count)
    observations = counts[-1]
    if observations <= 0:
        return None
    rank = q * observations
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


def per_second(amount: float, seconds: float) -> float:
    """A rate; 0 over an interval of no length (two readings at the same instant)."""
    return amount / seconds if seconds > 0 else 0.0
