"""The dashboard's arithmetic: counter increases across resets, and histogram quantiles as
Prometheus' histogram_quantile computes them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoard.dashboard.rates import bucket_increases, histogram_quantile, increase, increases, merge_buckets, per_second
from hoard.metrics import DURATION_BUCKETS

INF = math.inf
BOUNDS = (*DURATION_BUCKETS, INF)


def cumulative(observations: list[float], bounds=BOUNDS) -> list[tuple[float, float]]:
    return [(le, float(sum(1 for o in observations if o <= le))) for le in bounds]


def test_increase_is_the_difference_and_a_reset_counts_from_zero():
    assert increase(10, 15) == 5
    assert increase(None, 7) == 7  # a series born since the last reading
    assert increase(10, 3) == 3  # went back: restarted, and counted 3 since


@given(st.lists(st.floats(0, 1e12), min_size=2, max_size=20))
def test_increases_are_never_negative_and_add_up_without_resets(values):
    steps = [increase(a, b) for a, b in zip(values, values[1:], strict=False)]
    assert all(s >= 0 for s in steps)
    if values == sorted(values):
        assert math.isclose(sum(steps), values[-1] - values[0], rel_tol=1e-9, abs_tol=1e-3)


def test_increases_by_series():
    assert increases({"a": 5, "b": 9}, {"a": 6, "b": 2, "c": 4}) == {"a": 1, "b": 2, "c": 4}


def test_a_histogram_series_reset_as_a_whole():
    before = {"s": {0.1: 5.0, 1.0: 8.0, INF: 10.0}}
    # Started again and saw 9 slow requests: the first bucket fell, the others did not.
    after = {"s": {0.1: 0.0, 1.0: 0.0, INF: 12.0}}
    assert bucket_increases(before, after) == {"s": {0.1: 0.0, 1.0: 0.0, INF: 12.0}}
    assert bucket_increases(before, {"s": {0.1: 6.0, 1.0: 9.0, INF: 13.0}}) == {"s": {0.1: 1.0, 1.0: 1.0, INF: 3.0}}


def test_merge_buckets_sums_series():
    assert merge_buckets([{1.0: 1, INF: 2}, {1.0: 3, INF: 3}]) == [(1.0, 4), (INF, 5)]


def test_quantile_interpolates_inside_the_bucket():
    buckets = [(0.1, 0.0), (0.2, 10.0), (0.4, 20.0), (INF, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.2)  # rank 10: the top of (0.1, 0.2]
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.15)  # rank 5: half-way through (0.1, 0.2]
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.3)


def test_quantile_edges_as_prometheus():
    assert histogram_quantile(0.5, [(1.0, 4.0), (INF, 4.0)]) == pytest.approx(0.5)  # the first bucket starts at 0
    assert histogram_quantile(0.99, [(1.0, 1.0), (2.0, 1.0), (INF, 10.0)]) == 2.0  # in +Inf: the highest finite bound
    assert histogram_quantile(0.5, [(1.0, 0.0), (INF, 0.0)]) is None  # nothing counted
    assert histogram_quantile(0.5, [(1.0, 3.0), (2.0, 5.0)]) is None  # no +Inf bucket
    assert histogram_quantile(0.5, [(1.0, 3.0), (2.0, 2.9999), (INF, 6.0)]) == pytest.approx(1.0)  # made cumulative
    with pytest.raises(ValueError):
        histogram_quantile(1.5, [(1.0, 1.0), (INF, 1.0)])


observations = st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=1, max_size=200)
quantile = st.floats(0.01, 1.0)


@given(observations, quantile, quantile)
def test_quantile_is_monotonic_and_bounded(obs, q1, q2):
    buckets = cumulative(obs)
    a, b = histogram_quantile(min(q1, q2), buckets), histogram_quantile(max(q1, q2), buckets)
    assert a is not None and b is not None
    assert 0.0 <= a <= b + 1e-12 <= BOUNDS[-2] + 1e-12


@given(observations, quantile)
def test_quantile_falls_in_the_bucket_of_the_true_quantile(obs, q):
    """The estimate lies in the bucket holding the sample's own q-quantile (the ceil(q*n)-th
    smallest observation), the highest finite bound standing for the +Inf bucket."""
    ordered = sorted(obs)
    true = ordered[max(0, math.ceil(q * len(ordered) - 1e-9) - 1)]
    index = next(i for i, le in enumerate(BOUNDS) if true <= le)
    low = BOUNDS[index - 1] if index else 0.0
    high = BOUNDS[index] if index < len(BOUNDS) - 1 else BOUNDS[-2]
    est = histogram_quantile(q, cumulative(obs))
    assert est is not None
    assert min(low, high) - 1e-9 <= est <= high + 1e-9


def test_per_second():
    assert per_second(50, 10) == 5
    assert per_second(50, 0) == 0
