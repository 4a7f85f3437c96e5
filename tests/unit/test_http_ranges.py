"""Range header parsing, checked against a direct model of S3's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoard.http.errors import RangeNotSatisfiable
from hoard.http.ranges import parse_range
from hoard.s3.error_map import to_s3_error


@pytest.mark.parametrize(
    "header,size,expected",
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=5-", 100, (5, 99)),
        ("bytes=-3", 100, (97, 99)),
        ("bytes=-300", 100, (0, 99)),
        ("bytes=90-200", 100, (90, 99)),
        ("bytes=0-0", 1, (0, 0)),
        (None, 100, None),
        ("", 100, None),
        ("items=0-9", 100, None),
        ("bytes=9-3", 100, None),
        ("bytes=0-1,5-6", 100, None),
        ("bytes=a-b", 100, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=0-", 0), ("bytes=-0", 10)])
def test_unsatisfiable(header, size):
    with pytest.raises(RangeNotSatisfiable) as e:
        parse_range(header, size)
    error = to_s3_error(e.value)
    assert error is not None and error.code == "InvalidRange" and error.status == 416
    assert error.headers["content-range"] == f"bytes */{size}"


@given(st.integers(0, 10_000), st.integers(0, 20_000), st.integers(0, 20_000))
def test_range_is_inside_object(size, a, b):
    header = f"bytes={a}-{b}"
    try:
        span = parse_range(header, size)
    except RangeNotSatisfiable:
        assert a >= size
        return
    if b < a:
        assert span is None
    else:
        start, end = span
        assert start == a and end == min(b, size - 1) and 0 <= start <= end < size
