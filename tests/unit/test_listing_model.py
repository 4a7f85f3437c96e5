"""Every MetaStore's list_objects (SQLite, and PostgreSQL on the session's server) against a
plain Python model of S3 listing.

The model: keys sorted by their UTF-8 bytes; only keys under the prefix; with a delimiter,
every key whose remainder after the prefix contains the delimiter rolls up into one common
prefix (the key up to and including the first delimiter after the prefix); keys and common
prefixes interleave in one sorted sequence; a marker (v1 Marker, v2 StartAfter or
continuation token) keeps only the entries that sort after it; a page holds at most
``max_keys`` entries and is truncated exactly when more entries follow.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hoard.meta.listing import prefix_end
from hoard.meta.postgres import PostgresMetaStore
from hoard.meta.sqlite import SqliteMetaStore
from hoard.meta.store import MetaStore
from hoard.model import Bucket, ObjectRecord, Segment

BUCKET = "model"
ALPHABET = "ab/é-"  # '/' and '-' as delimiters, 'é' (two UTF-8 bytes) to test byte order


def utf8(s: str) -> bytes:
    return s.encode("utf-8")


def model_listing(keys: set[str], prefix: str, delimiter: str) -> list[tuple[str, str]]:
    """Every entry of the full listing, in order: ("key", k) or ("prefix", p)."""
    entries: dict[str, str] = {}
    for key in keys:
        if not key.startswith(prefix):
            continue
        if delimiter:
            pos = key[len(prefix):].find(delimiter)
            if pos >= 0:
                common = key[: len(prefix) + pos + len(delimiter)]
                entries[common] = "prefix"
                continue
        entries[key] = "key"
    return [(entries[name], name) for name in sorted(entries, key=utf8)]


def model_page(keys: set[str], prefix: str, delimiter: str, marker: str, max_keys: int) -> tuple[list[tuple[str, str]], bool]:
    after = [e for e in model_listing(keys, prefix, delimiter) if utf8(e[1]) > utf8(marker)]
    # MaxKeys=0 asks for nothing: AWS answers an empty page that is not truncated.
    return after[:max_keys], max_keys > 0 and len(after) > max_keys


def record(bucket: str, key: str) -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket, key=key, size=1, etag='"00"', last_modified=time.time(), storage_class="STANDARD",
        headers={}, segments=(Segment(f"blob-{key}", 1),),
    )


class Store:
    """One store per test function, refilled (in a new bucket) for each example."""

    def __init__(self, store: MetaStore) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()
        self.generation = 0
        self.bucket = BUCKET

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def fill(self, keys: set[str]) -> None:
        self.generation += 1
        self.bucket = f"{BUCKET}-{self.generation}"
        self.run(self.store.create_bucket(Bucket(self.bucket, time.time(), "us-east-1", "owner")))
        for key in keys:
            self.run(self.store.put_object(record(self.bucket, key)))

    def page(self, prefix: str, delimiter: str, marker: str, max_keys: int):
        listing = self.run(self.store.list_objects(self.bucket, prefix, delimiter, marker, max_keys))
        got = [("key", r.key) for r in listing.entries] + [("prefix", p) for p in listing.prefixes]
        return sorted(got, key=lambda e: utf8(e[1])), listing

    def close(self) -> None:
        self.store.close()
        self.loop.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "postgres":
        s = Store(PostgresMetaStore(request.getfixturevalue("postgres_db"), pool_size=2))
    else:
        s = Store(SqliteMetaStore(tmp_path / "meta.db"))
    yield s
    s.close()


keys_strategy = st.sets(st.text(alphabet=ALPHABET, min_size=1, max_size=6), max_size=25)
small_text = st.text(alphabet=ALPHABET, max_size=4)
delimiters = st.sampled_from(["", "/", "-", "é", "//", "a/", "/-"])


def prefixes(data, keys: set[str]) -> str:
    """A prefix: random text, or (more telling) the start of a stored key."""
    near = sorted({k[:i] for k in keys for i in range(len(k) + 1)})
    if near and data.draw(st.booleans()):
        return data.draw(st.sampled_from(near))
    return data.draw(small_text)


def markers(data, keys: set[str], prefix: str, delimiter: str) -> str:
    """A marker: random text, or (more telling) a key, a common prefix, or a key's prefix."""
    near = sorted(keys) + [name for _, name in model_listing(keys, prefix, delimiter)] + [k[:i] for k in keys for i in range(len(k))]
    if near and data.draw(st.booleans()):
        return data.draw(st.sampled_from(near))
    return data.draw(small_text)


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_model_sorts_by_utf8_bytes():
    keys = {"a", "B", "é", "中", "\U0001F600", "a/b", "a-b", "\uffff", "\ue000"}
    assert [k for _, k in model_listing(keys, "", "")] == ["B", "a", "a-b", "a/b", "é", "中", "\ue000", "\uffff", "\U0001F600"]


def test_prefix_end():
    assert prefix_end("a/") == "a0"
    assert prefix_end("a\U0010FFFF") == "b"
    assert prefix_end("\ud7ff") == "\ue000"
    assert prefix_end("\U0010FFFF") is None


def test_store_sorts_by_utf8_bytes(store):
    keys = {"a", "B", "é", "中", "\U0001F600", "a/b", "a-b", "\uffff", "\ue000", "\U0010FFFF", "a\U0010FFFF/x"}
    store.fill(keys)
    _, listing = store.page("", "", "", 1000)
    assert [r.key for r in listing.entries] == sorted(keys, key=utf8)
    # A delimiter rolls up around characters of every UTF-8 length.
    got, _ = store.page("", "\U0010FFFF", "", 1000)
    assert got == model_listing(keys, "", "\U0010FFFF")


EDGE_KEYS = {"/a", "/b", "a", "a/", "a/b", "a/b/c", "a/c", "a-b", "a--b", "a--c", "b", "é/x", "é/y"}


@pytest.mark.parametrize(
    "prefix, delimiter, marker",
    [
        ("", "/", "/a"),  # marker inside a common prefix that starts the key
        ("", "/", "a/b"),  # marker inside a common prefix
        ("", "/", "a/"),  # marker is the common prefix (a v1 NextMarker)
        ("", "/", "a"),  # marker just before a common prefix
        ("a/", "/", "a/b"),  # prefix holds the delimiter; the marker is a key and a common prefix
        ("a/", "/", "a/b/"),
        ("a/", "/", ""),
        ("a/", "/", "0"),  # marker before the prefix
        ("a/", "/", "b"),  # marker after the prefix
        ("a-", "--", ""),  # the delimiter straddles the end of the prefix: not a delimiter
        ("a", "--", "a--b"),
        ("", "é", "a"),
        ("é", "/", "é/x"),
    ],
)
def test_edge_cases_match_model(store, prefix, delimiter, marker):
    store.fill(EDGE_KEYS)
    for max_keys in (1, 2, 3, 1000):
        expected, truncated = model_page(EDGE_KEYS, prefix, delimiter, marker, max_keys)
        got, listing = store.page(prefix, delimiter, marker, max_keys)
        assert (got, listing.truncated) == (expected, truncated), max_keys


@SETTINGS
@given(keys=keys_strategy, delimiter=delimiters, data=st.data(), max_keys=st.integers(0, 6))
def test_one_page_matches_model(store, keys, delimiter, data, max_keys):
    prefix = prefixes(data, keys)
    marker = markers(data, keys, prefix, delimiter)
    store.fill(keys)
    expected, truncated = model_page(keys, prefix, delimiter, marker, max_keys)
    got, listing = store.page(prefix, delimiter, marker, max_keys)
    assert got == expected
    assert listing.truncated == truncated
    # Keys and prefixes are each in order on their own too.
    assert [r.key for r in listing.entries] == [k for kind, k in expected if kind == "key"]
    assert listing.prefixes == [p for kind, p in expected if kind == "prefix"]
    if expected:
        assert listing.next_marker == expected[-1][1]


@SETTINGS
@given(keys=keys_strategy, delimiter=delimiters, data=st.data(), max_keys=st.integers(1, 4))
def test_paging_with_next_marker_matches_model(store, keys, delimiter, data, max_keys):
    prefix = prefixes(data, keys)
    start = markers(data, keys, prefix, delimiter)
    store.fill(keys)
    full = [e for e in model_listing(keys, prefix, delimiter) if utf8(e[1]) > utf8(start)]
    collected: list[tuple[str, str]] = []
    marker = start
    for _ in range(len(full) + 2):
        got, listing = store.page(prefix, delimiter, marker, max_keys)
        assert len(got) <= max_keys
        collected += got
        if not listing.truncated:
            break
        assert got, "a truncated page must return something"
        assert listing.next_marker == got[-1][1]
        marker = listing.next_marker
    else:
        pytest.fail("listing never finished")
    assert collected == full
