"""The pure listing logic (``hoard.meta.listing``) driven by a sorted list instead of an index:
the same S3 model as ``test_listing_model`` must come out, with no store at all."""

from __future__ import annotations

import bisect

from hypothesis import given, settings
from hypothesis import strategies as st

from hoard.meta.listing import Bound, Page, common_prefix, first_bound, prefix_end, rolled_up_marker
from hoard.model import Listing
from tests.unit.test_listing_model import EDGE_KEYS, delimiters, keys_strategy, markers, model_page, prefixes, utf8


def list_sorted(keys: list[str], prefix: str, delimiter: str, after: str, limit: int, seek: bool = True) -> tuple[Listing, int]:
    """A scan over ``keys`` (sorted) following the page's seeks; returns the page and how many keys it read."""
    page = Page(prefix, delimiter, limit, lambda row: row[1])
    bound = None if page.done else first_bound(prefix, delimiter, after)
    upper = prefix_end(prefix) if prefix else None
    read = 0
    while bound is not None and not page.done:
        i = (bisect.bisect_left if bound.inclusive else bisect.bisect_right)(keys, bound.key)
        rows = (("bucket", key) for key in keys[i:] if upper is None or key < upper)
        bound, n = page.take(rows, seek=seek)
        read += n
    return page.listing, read


def as_entries(listing: Listing) -> list[tuple[str, str]]:
    entries = [("key", k) for k in listing.entries] + [("prefix", p) for p in listing.prefixes]
    return sorted(entries, key=lambda e: utf8(e[1]))


def test_helpers():
    assert common_prefix("a/b/c", "", "/") == "a/"
    assert common_prefix("a/b/c", "a/", "/") == "a/b/"
    assert common_prefix("a-b", "a-", "--") is None
    assert common_prefix("abc", "", "") is None
    assert rolled_up_marker("a/b", "", "/") == "a/"
    assert rolled_up_marker("a/b", "b", "/") is None  # outside the prefix
    assert rolled_up_marker("a", "", "/") is None
    assert first_bound("p/", "/", "") == Bound("p/", inclusive=True)
    assert first_bound("", "/", "a/x") == Bound("a0", inclusive=True)
    assert first_bound("", "\U0010ffff", "\U0010ffff") is None  # nothing sorts after that prefix
    assert first_bound("", "", "k") == Bound("k")


def test_a_common_prefix_is_skipped_not_read():
    keys = sorted(["a"] + [f"d/{i:04}" for i in range(1000)] + ["z"], key=utf8)
    listing, read = list_sorted(keys, "", "/", "", 1000)
    assert listing.entries == ["a", "z"] and listing.prefixes == ["d/"]
    assert read == 3  # one key under d/, then a seek past all of them
    # A store that cannot seek reads them all, and gets the same page.
    unseeking, read = list_sorted(keys, "", "/", "", 1000, seek=False)
    assert (unseeking.entries, unseeking.prefixes, read) == (listing.entries, listing.prefixes, len(keys))


def test_edge_keys_match_model():
    keys = sorted(EDGE_KEYS, key=utf8)
    for prefix in ("", "a", "a/", "a-", "é"):
        for delimiter in ("", "/", "--", "é"):
            for marker in ("", "a", "a/", "a/b", "/a", "b", "é/x"):
                for limit in (0, 1, 2, 1000):
                    listing, _ = list_sorted(keys, prefix, delimiter, marker, limit)
                    assert (as_entries(listing), listing.truncated) == model_page(EDGE_KEYS, prefix, delimiter, marker, limit)


@settings(max_examples=300, deadline=None)
@given(keys=keys_strategy, delimiter=delimiters, data=st.data(), limit=st.integers(0, 6))
def test_pages_match_model(keys, delimiter, data, limit):
    prefix = prefixes(data, keys)
    marker = markers(data, keys, prefix, delimiter)
    expected, truncated = model_page(keys, prefix, delimiter, marker, limit)
    for seek in (True, False):
        listing, _ = list_sorted(sorted(keys, key=utf8), prefix, delimiter, marker, limit, seek)
        assert as_entries(listing) == expected and listing.truncated == truncated
        if expected:
            assert listing.next_marker == expected[-1][1]
