"""The MetaStore contract (``hoard.meta.store``), run against every implementation.

SQLite, and PostgreSQL on a real server this session starts (``tests/postgres_server.py``): each
test gets a fresh database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from hoard.meta.errors import BucketExists, BucketNotEmpty, BucketNotFound, CommitFailed, UploadNotFound, VersionChanged
from hoard.meta.postgres import PostgresMetaStore
from hoard.meta.sqlite import SqliteMetaStore
from hoard.meta.store import MetaStore
from hoard.model import (
    Archive,
    Bucket,
    ClassUsage,
    Encryption,
    HealTask,
    ObjectRecord,
    Part,
    Placement,
    ReplicationTask,
    Restore,
    Segment,
    Upload,
)
from hoard.nowait import WouldBlock

IMPLEMENTATIONS = ("postgres", "sqlite")
OWNER = "owner-1"


class Callback(Exception):
    """Raised by a caller's callback: the store must let it through unchanged."""


class Harness:
    def __init__(self, store: MetaStore) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def bucket(self, name: str = "bkt") -> Bucket:
        b = Bucket(name, 1000.0, "us-east-1", OWNER)
        self.run(self.store.create_bucket(b))
        return b

    def put(self, bucket: str, key: str, blob: str | None = None, **kw) -> ObjectRecord | None:
        return self.run(self.store.put_object(record(bucket, key, blob, **kw)))

    def keys(self, listing) -> list[str]:
        return [e.key for e in listing.entries]


@pytest.fixture(params=IMPLEMENTATIONS)
def meta(request, tmp_path) -> Iterator[Harness]:
    if request.param == "postgres":
        store: MetaStore = PostgresMetaStore(request.getfixturevalue("postgres_db"), pool_size=4, retry_for=10.0)
    else:
        store = SqliteMetaStore(tmp_path / "meta.db")
    harness = Harness(store)
    try:
        yield harness
    finally:
        store.close()
        harness.loop.close()


def record(bucket: str, key: str, blob: str | None = None, size: int = 3, etag: str = '"e"', data_id: str = "") -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket, key=key, size=size, etag=etag, last_modified=time.time(), storage_class="STANDARD",
        headers={"content-type": "text/plain", "x-amz-meta-ü": "ö"}, segments=(Segment(blob or f"blob-{key}", size, "", ""),),
        placement=Placement(0, 2, 1, (2, 0, 1)), data_id=data_id or f"rec-{key}",
    )


def upload(bucket: str, key: str, upload_id: str) -> Upload:
    return Upload(upload_id, bucket, key, time.time(), "STANDARD", {"content-type": "a/b"}, "CRC32", "COMPOSITE", OWNER)


def part(upload_id: str, number: int, blob: str | None = None) -> Part:
    return Part(upload_id, number, 5, f'"p{number}"', blob or f"{upload_id}-part-{number}", time.time(), "")


def reclaim_queue(meta: Harness) -> set[str]:
    return set(meta.run(meta.store.reclaimable(time.time() + 3600, 10_000)))


# -- the interface -----------------------------------------------------------------------------
def test_implements_the_protocol(meta):
    assert isinstance(meta.store, MetaStore)
    assert isinstance(meta.store.location, str) and meta.store.location


# -- buckets -----------------------------------------------------------------------------------
def test_bucket_create_get_list_delete(meta):
    for name in ("b-two", "a-one", "b-one"):
        meta.bucket(name)
    assert meta.run(meta.store.get_bucket("a-one")) == Bucket("a-one", 1000.0, "us-east-1", OWNER)
    assert meta.run(meta.store.get_bucket("missing")) is None
    assert [b.name for b in meta.run(meta.store.list_buckets("", "", 100))] == ["a-one", "b-one", "b-two"]
    assert [b.name for b in meta.run(meta.store.list_buckets("b-", "", 100))] == ["b-one", "b-two"]
    assert [b.name for b in meta.run(meta.store.list_buckets("", "a-one", 1))] == ["b-one"]
    meta.run(meta.store.delete_bucket("b-one"))
    assert meta.run(meta.store.get_bucket("b-one")) is None


def test_bucket_exists_says_whose(meta):
    meta.bucket("taken")
    with pytest.raises(BucketExists) as same:
        meta.run(meta.store.create_bucket(Bucket("taken", 2000.0, "eu-west-1", OWNER)))
    assert same.value.bucket == "taken" and same.value.same_owner
    with pytest.raises(BucketExists) as other:
        meta.run(meta.store.create_bucket(Bucket("taken", 2000.0, "eu-west-1", "someone-else")))
    assert not other.value.same_owner
    assert meta.run(meta.store.get_bucket("taken")).created == 1000.0  # unchanged


def test_delete_bucket_missing_or_not_empty(meta):
    with pytest.raises(BucketNotFound) as missing:
        meta.run(meta.store.delete_bucket("nope"))
    assert missing.value.bucket == "nope"
    meta.bucket()
    meta.put("bkt", "k")
    with pytest.raises(BucketNotEmpty) as full:
        meta.run(meta.store.delete_bucket("bkt"))
    assert full.value.bucket == "bkt"


def test_delete_bucket_ends_its_uploads(meta):
    meta.bucket()
    meta.run(meta.store.create_upload(upload("bkt", "k", "u1")))
    meta.run(meta.store.put_part(part("u1", 1)))
    meta.run(meta.store.delete_bucket("bkt"))
    assert meta.run(meta.store.get_upload("u1")) is None
    assert "u1-part-1" in reclaim_queue(meta)


# -- objects -----------------------------------------------------------------------------------
def test_put_get_round_trip(meta):
    meta.bucket()
    r = record("bkt", "dir/ключ", "blob-1", size=12, etag='"abc"')
    assert meta.run(meta.store.put_object(r)) is None
    assert meta.run(meta.store.get_object("bkt", "dir/ключ")) == r
    assert meta.store.get_object_sync("bkt", "dir/ключ") == r
    try:
        assert meta.store.get_object_nowait("bkt", "dir/ключ") == r
    except WouldBlock:
        pass  # a store may always need to wait; the caller then asks again in a thread
    assert meta.run(meta.store.get_object("bkt", "other")) is None
    assert meta.run(meta.store.get_object("no-bucket", "k")) is None


SSE_S3 = Encryption("AES256", "00" * 16, "c2VhbGVk")
SSE_KMS = Encryption("aws:kms", "11" * 16, "a21z", kms_key_id="arn:aws:kms:us-east-1:1:key/k", kms_context="e30=", bucket_key=True)


def test_encrypted_versions_and_uploads_keep_how_they_are_encrypted(meta):
    """What a version's encryption is, and what each part keeps beside what a client reads."""
    meta.bucket()
    first = dataclasses.replace(
        record("bkt", "k", "b1", size=10), encryption=SSE_S3, segments=(Segment("b1", 10, "", "", 38),)
    )
    meta.run(meta.store.put_object(first))
    got = meta.run(meta.store.get_object("bkt", "k"))
    assert got == first and got.stored_size == 38 and got.size == 10
    second = dataclasses.replace(record("bkt", "k", "b2", size=5), encryption=SSE_KMS, version_id="v2", seq="2")
    older = dataclasses.replace(first, version_id="v1", seq="1")
    meta.run(meta.store.put_object(older))
    meta.run(meta.store.put_object(second))
    assert meta.run(meta.store.get_version("bkt", "k", "v1")).encryption == SSE_S3
    assert meta.run(meta.store.get_object("bkt", "k")).encryption == SSE_KMS
    u = dataclasses.replace(upload("bkt", "k", "u-enc"), encryption=SSE_KMS)
    meta.run(meta.store.create_upload(u))
    assert meta.run(meta.store.get_upload("u-enc")) == u
    meta.run(meta.store.put_part(dataclasses.replace(part("u-enc", 1), stored=33)))
    assert [p.stored for p in meta.run(meta.store.list_parts("u-enc", 0, 10))] == [33]


def test_an_uploads_encryption_is_swapped_only_from_what_it_is(meta):
    """A master key rotation reseals an upload's data key: compare and set."""
    meta.bucket()
    meta.run(meta.store.create_upload(dataclasses.replace(upload("bkt", "k", "u-rot"), encryption=SSE_S3)))
    resealed = dataclasses.replace(SSE_S3, sealed_key="bmV3")
    assert meta.run(meta.store.set_upload_encryption("u-rot", SSE_S3, resealed)) is True
    assert meta.run(meta.store.get_upload("u-rot")).encryption == resealed
    assert meta.run(meta.store.set_upload_encryption("u-rot", SSE_S3, SSE_KMS)) is False  # no longer what it was
    assert meta.run(meta.store.get_upload("u-rot")).encryption == resealed
    assert meta.run(meta.store.set_upload_encryption("gone", SSE_S3, resealed)) is False


def test_bucket_config_set_replace_remove(meta):
    meta.bucket()
    assert meta.run(meta.store.get_bucket("bkt")).config == {}
    tagged = meta.run(meta.store.set_bucket_config("bkt", "tagging", [["a", "1"]]))
    assert tagged.config == {"tagging": [["a", "1"]]}
    meta.run(meta.store.set_bucket_config("bkt", "ownershipControls", "BucketOwnerEnforced"))
    meta.run(meta.store.set_bucket_config("bkt", "tagging", [["b", "2"]]))
    assert meta.run(meta.store.get_bucket("bkt")).config == {"tagging": [["b", "2"]], "ownershipControls": "BucketOwnerEnforced"}
    assert meta.run(meta.store.list_buckets("", "", 10))[0].config["tagging"] == [["b", "2"]]
    gone = meta.run(meta.store.set_bucket_config("bkt", "tagging", None))
    assert gone.config == {"ownershipControls": "BucketOwnerEnforced"}
    with pytest.raises(BucketNotFound):
        meta.run(meta.store.set_bucket_config("nope", "tagging", []))


def test_tags_round_trip_on_objects_and_uploads(meta):
    meta.bucket()
    tagged = dataclasses.replace(record("bkt", "k"), tags=(("a", "1"), ("b", "")))
    meta.run(meta.store.put_object(tagged))
    assert meta.run(meta.store.get_object("bkt", "k")).tags == (("a", "1"), ("b", ""))
    u = dataclasses.replace(upload("bkt", "k", "u1"), tags=(("x", "y"),))
    meta.run(meta.store.create_upload(u))
    assert meta.run(meta.store.get_upload("u1")).tags == (("x", "y"),)


def test_replace_version_keeps_the_bytes(meta):
    meta.bucket()
    old = record("bkt", "k", "shard-1")
    meta.run(meta.store.put_object(old))
    new = dataclasses.replace(old, data_id="rec-2", tags=(("t", "v"),))
    meta.run(meta.store.replace_version(old, new))
    assert meta.run(meta.store.get_object("bkt", "k")) == new
    assert "shard-1" not in reclaim_queue(meta)  # the bytes are the new version's too
    # Only the current version can be replaced: a stale one is refused, nothing changes.
    with pytest.raises(VersionChanged):
        meta.run(meta.store.replace_version(old, dataclasses.replace(old, data_id="rec-3")))
    meta.run(meta.store.delete_object("bkt", "k"))
    with pytest.raises(VersionChanged):
        meta.run(meta.store.replace_version(new, dataclasses.replace(new, data_id="rec-4")))
    assert meta.run(meta.store.get_object("bkt", "k")) is None


def test_put_replaces_and_queues_the_old_bytes(meta):
    meta.bucket()
    first = record("bkt", "k", "old-blob")
    meta.run(meta.store.put_object(first))
    assert meta.run(meta.store.put_object(record("bkt", "k", "new-blob"))) == first
    assert "old-blob" in reclaim_queue(meta) and "new-blob" not in reclaim_queue(meta)


def test_put_into_a_missing_bucket(meta):
    with pytest.raises(BucketNotFound):
        meta.put("nope", "k")


def test_precondition_sees_the_current_version_and_its_error_passes_through(meta):
    meta.bucket()
    seen: list = []
    meta.run(meta.store.put_object(record("bkt", "k", "b1"), seen.append))
    assert seen == [None]
    current = meta.run(meta.store.get_object("bkt", "k"))

    def refuse(old: ObjectRecord | None) -> None:
        seen.append(old)
        raise Callback("no")

    with pytest.raises(Callback):
        meta.run(meta.store.put_object(record("bkt", "k", "b2"), refuse))
    assert seen[-1] == current
    assert meta.run(meta.store.get_object("bkt", "k")) == current  # nothing written
    assert "b2" not in reclaim_queue(meta) and "b1" not in reclaim_queue(meta)


def test_delete_object_and_objects(meta):
    meta.bucket()
    a = meta.put("bkt", "a") or meta.run(meta.store.get_object("bkt", "a"))
    meta.put("bkt", "b")
    meta.put("bkt", "c")
    assert meta.run(meta.store.delete_object("bkt", "a")) == a
    assert meta.run(meta.store.delete_object("bkt", "a")) is None
    removed = meta.run(meta.store.delete_objects("bkt", ["b", "missing", "c"]))
    assert [r.key if r else None for r in removed] == ["b", None, "c"]
    assert {"blob-a", "blob-b", "blob-c"} <= reclaim_queue(meta)
    assert meta.run(meta.store.count_objects("bkt")) == 0
    with pytest.raises(BucketNotFound):
        meta.run(meta.store.delete_object("nope", "a"))
    with pytest.raises(BucketNotFound):
        meta.run(meta.store.delete_objects("nope", ["a"]))


# -- listing -----------------------------------------------------------------------------------
UTF8_KEYS = ["a", "b", "z", "é", "\ue000", "\uffff", "\U00010000", "\U0001f600", "A", "~"]


def test_listing_is_in_utf8_byte_order(meta):
    meta.bucket()
    for key in UTF8_KEYS:
        meta.put("bkt", key)
    listing = meta.run(meta.store.list_objects("bkt", "", "", "", 1000))
    # UTF-16 order would put U+10000 (a surrogate pair) before U+E000: byte order does not.
    assert meta.keys(listing) == sorted(UTF8_KEYS, key=lambda k: k.encode("utf-8"))
    entry = listing.entries[0]
    assert (entry.key, entry.size, entry.etag, entry.storage_class) == ("A", 3, '"e"', "STANDARD")


def test_listing_prefix_max_keys_and_marker(meta):
    meta.bucket()
    for key in ["p/1", "p/2", "p/3", "q/1", "p", "pa"]:
        meta.put("bkt", key)
    page = meta.run(meta.store.list_objects("bkt", "p/", "", "", 2))
    assert meta.keys(page) == ["p/1", "p/2"] and page.truncated and page.next_marker == "p/2"
    page = meta.run(meta.store.list_objects("bkt", "p/", "", page.next_marker, 2))
    assert meta.keys(page) == ["p/3"] and not page.truncated
    page = meta.run(meta.store.list_objects("bkt", "", "", "p/3", 1000))
    assert meta.keys(page) == ["pa", "q/1"]
    page = meta.run(meta.store.list_objects("bkt", "", "", "", 0))
    assert page.entries == [] and page.prefixes == [] and not page.truncated


def test_listing_with_a_delimiter(meta):
    meta.bucket()
    keys = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"] + [f"e/{i:03}" for i in range(50)]
    for key in keys:
        meta.put("bkt", key)
    page = meta.run(meta.store.list_objects("bkt", "", "/", "", 1000))
    assert page.prefixes == ["a/", "c/", "e/"] and meta.keys(page) == ["b", "d"] and not page.truncated
    # Entries and prefixes count together; the marker is the last one returned.
    page = meta.run(meta.store.list_objects("bkt", "", "/", "", 2))
    assert page.prefixes == ["a/"] and meta.keys(page) == ["b"] and page.truncated and page.next_marker == "b"
    page = meta.run(meta.store.list_objects("bkt", "", "/", "b", 2))
    assert page.prefixes == ["c/"] and meta.keys(page) == ["d"] and page.truncated
    # A marker that is a common prefix, or lies inside one, resumes after the whole prefix.
    page = meta.run(meta.store.list_objects("bkt", "", "/", "a/", 1000))
    assert page.prefixes == ["c/", "e/"] and meta.keys(page) == ["b", "d"]
    page = meta.run(meta.store.list_objects("bkt", "", "/", "a/1", 1000))
    assert page.prefixes == ["c/", "e/"] and meta.keys(page) == ["b", "d"]
    page = meta.run(meta.store.list_objects("bkt", "a/", "/", "", 1000))
    assert page.prefixes == ["a/b/"] and meta.keys(page) == ["a/1", "a/2"]
    page = meta.run(meta.store.list_objects("bkt", "e/", "/", "e/010", 3))
    assert meta.keys(page) == ["e/011", "e/012", "e/013"] and page.truncated


def test_listing_with_a_multi_character_delimiter(meta):
    meta.bucket()
    for key in ["x--1", "x--2", "x-3", "y"]:
        meta.put("bkt", key)
    page = meta.run(meta.store.list_objects("bkt", "", "--", "", 1000))
    assert page.prefixes == ["x--"] and meta.keys(page) == ["x-3", "y"]


# -- uploads and parts -------------------------------------------------------------------------
def test_upload_and_parts(meta):
    meta.bucket()
    u = upload("bkt", "k", "u1")
    meta.run(meta.store.create_upload(u))
    assert meta.run(meta.store.get_upload("u1")) == u
    assert meta.run(meta.store.get_upload("u2")) is None
    for n in (3, 1, 2):
        meta.run(meta.store.put_part(part("u1", n)))
    meta.run(meta.store.put_part(part("u1", 2, "replacement")))
    parts = meta.run(meta.store.list_parts("u1", 0, 100))
    assert [(p.number, p.blob) for p in parts] == [(1, "u1-part-1"), (2, "replacement"), (3, "u1-part-3")]
    assert [p.number for p in meta.run(meta.store.list_parts("u1", 1, 1))] == [2]
    assert "u1-part-2" in reclaim_queue(meta)
    with pytest.raises(UploadNotFound) as missing:
        meta.run(meta.store.put_part(part("nope", 1)))
    assert missing.value.upload_id == "nope"
    with pytest.raises(BucketNotFound):
        meta.run(meta.store.create_upload(upload("no-bucket", "k", "u9")))


def test_abort_upload(meta):
    meta.bucket()
    meta.run(meta.store.create_upload(upload("bkt", "k", "u1")))
    meta.run(meta.store.put_part(part("u1", 1)))
    meta.run(meta.store.abort_upload("u1"))
    assert meta.run(meta.store.get_upload("u1")) is None
    assert "u1-part-1" in reclaim_queue(meta)
    with pytest.raises(UploadNotFound):
        meta.run(meta.store.abort_upload("u1"))


def test_list_uploads(meta):
    meta.bucket()
    for key, uid in [("a/1", "u3"), ("a/2", "u1"), ("b", "u2"), ("b", "u0"), ("c", "u4")]:
        meta.run(meta.store.create_upload(upload("bkt", key, uid)))
    listing = meta.run(meta.store.list_uploads("bkt", "", "", "", "", 1000))
    assert [(u.key, u.upload_id) for u in listing.entries] == [("a/1", "u3"), ("a/2", "u1"), ("b", "u0"), ("b", "u2"), ("c", "u4")]
    listing = meta.run(meta.store.list_uploads("bkt", "", "/", "", "", 1000))
    assert listing.prefixes == ["a/"] and [u.upload_id for u in listing.entries] == ["u0", "u2", "u4"]
    listing = meta.run(meta.store.list_uploads("bkt", "", "", "b", "u0", 1000))
    assert [u.upload_id for u in listing.entries] == ["u2", "u4"]
    listing = meta.run(meta.store.list_uploads("bkt", "", "/", "a/", "", 2))
    assert [u.upload_id for u in listing.entries] == ["u0", "u2"] and listing.truncated and listing.next_marker == "b"


def _complete_setup(meta: Harness) -> None:
    meta.bucket()
    meta.run(meta.store.create_upload(upload("bkt", "k", "u1")))
    for n in (1, 2, 3):
        meta.run(meta.store.put_part(part("u1", n)))


def test_complete_upload(meta):
    _complete_setup(meta)
    old = record("bkt", "k", "previous")
    meta.run(meta.store.put_object(old))
    calls: list = []

    def build(u: Upload, parts: dict[int, Part]) -> tuple[ObjectRecord, set[int]]:
        calls.append(("build", u.upload_id, sorted(parts)))
        segments = tuple(Segment(parts[n].blob, parts[n].size, parts[n].etag) for n in (1, 3))
        done = ObjectRecord(u.bucket, u.key, 10, '"m-2"', time.time(), u.storage_class, u.headers, segments, multipart=True, data_id="rec-m")
        return done, {1, 3}

    made, replaced = meta.run(
        meta.store.complete_upload(
            "u1", build, lambda cur: calls.append(("precondition", cur)), lambda r: calls.append(("before_commit", r.key))
        )
    )
    assert calls == [("build", "u1", [1, 2, 3]), ("precondition", old), ("before_commit", "k")]
    assert replaced == old and meta.run(meta.store.get_object("bkt", "k")) == made
    assert made.multipart and [s.blob for s in made.segments] == ["u1-part-1", "u1-part-3"]
    queue = reclaim_queue(meta)
    assert {"u1-part-2", "previous"} <= queue and not {"u1-part-1", "u1-part-3"} & queue
    assert meta.run(meta.store.get_upload("u1")) is None
    assert meta.run(meta.store.list_parts("u1", 0, 100)) == []
    # Remembered, for a client that retries the complete after losing its answer.
    done = meta.run(meta.store.get_completed_upload("u1"))
    assert (done.upload_id, done.bucket, done.key, done.etag, done.completed) == ("u1", "bkt", "k", '"m-2"', made.last_modified)
    assert meta.run(meta.store.get_completed_upload("u2")) is None


@pytest.mark.parametrize("failing", ["build", "precondition", "before_commit"])
def test_complete_upload_callback_errors_pass_through(meta, failing):
    _complete_setup(meta)

    def fail(*args):
        raise Callback(failing)

    def build(u: Upload, parts: dict[int, Part]) -> tuple[ObjectRecord, set[int]]:
        if failing == "build":
            fail()
        return record(u.bucket, u.key, parts[1].blob), {1}

    with pytest.raises(Callback):
        meta.run(
            meta.store.complete_upload(
                "u1", build, fail if failing == "precondition" else None, fail if failing == "before_commit" else None
            )
        )
    assert meta.run(meta.store.get_upload("u1")) is not None  # nothing happened
    assert meta.run(meta.store.get_completed_upload("u1")) is None
    assert len(meta.run(meta.store.list_parts("u1", 0, 100))) == 3
    assert meta.run(meta.store.get_object("bkt", "k")) is None


def test_complete_upload_missing(meta):
    meta.bucket()
    with pytest.raises(UploadNotFound):
        meta.run(meta.store.complete_upload("nope", lambda u, p: (record("bkt", "k"), set())))


# -- reclaim, walking, settings, damage reports, rebuilding ------------------------------------
def test_reclaim_queue(meta):
    meta.bucket()
    meta.put("bkt", "k", "b1")
    meta.put("bkt", "k", "b2")
    meta.put("bkt", "j", "b3")
    meta.run(meta.store.delete_object("bkt", "j"))
    assert meta.run(meta.store.reclaimable(time.time() - 3600, 100)) == []  # queued just now
    assert sorted(meta.run(meta.store.reclaimable(time.time() + 1, 100))) == ["b1", "b3"]
    assert len(meta.run(meta.store.reclaimable(time.time() + 1, 1))) == 1
    meta.run(meta.store.reclaimed(["b1"]))
    assert reclaim_queue(meta) == {"b3"}


def test_reclaim_claims_hide_entries_from_other_claimers_until_they_lapse(meta):
    meta.bucket()
    for i in range(5):
        meta.put("bkt", "k", f"b{i}")  # each put queues the one before
    now = time.time() + 1
    first = meta.run(meta.store.claim_reclaimable(now, 3, 60))
    second = meta.run(meta.store.claim_reclaimable(now, 3, 60))
    assert len(first) == 3 and len(second) == 1 and not set(first) & set(second)
    assert meta.run(meta.store.claim_reclaimable(now, 3, 60)) == []  # all claimed
    meta.run(meta.store.reclaimed(first))
    # The second claimer died: its entry is claimable again once the claim lapses, not before.
    assert meta.run(meta.store.claim_reclaimable(now + 59, 10, 60)) == []
    assert meta.run(meta.store.claim_reclaimable(now + 61, 10, 60)) == second
    assert reclaim_queue(meta) == set(second)


def heal_claims(meta: Harness, at: float, limit: int = 10) -> list[tuple[str, str, str, int]]:
    return [(t.bucket, t.key, t.version_id, t.attempts) for t in meta.run(meta.store.claim_heals(at, limit, 60))]


def test_a_write_that_missed_a_drive_is_queued_for_healing_by_its_own_commit(meta):
    meta.bucket()
    meta.put("bkt", "whole")
    meta.run(meta.store.put_object(record("bkt", "degraded"), heal=True))
    assert meta.store.queue_sizes_sync()["heal"] == 1
    now = time.time() + 1
    assert heal_claims(meta, now) == [("bkt", "degraded", "null", 0)]
    # Claimed: hidden from every other claimer until the claim lapses.
    assert heal_claims(meta, now) == []
    (task,) = meta.run(meta.store.claim_heals(now + 61, 10, 60))
    assert (task.bucket, task.key, task.version_id, task.attempts) == ("bkt", "degraded", "null", 0)
    # Its drive still away: again later, the attempt counted; not before its time.
    meta.run(meta.store.heal_later(task, now + 30))
    assert heal_claims(meta, now + 29) == []
    (task,) = meta.run(meta.store.claim_heals(now + 31, 10, 60))
    assert task.attempts == 1
    # A task not from this claim (a lapsed one) takes nothing off.
    meta.run(meta.store.heal_done(HealTask("bkt", "degraded", "null")))
    assert meta.store.queue_sizes_sync()["heal"] == 1
    meta.run(meta.store.heal_done(task))
    assert heal_claims(meta, now + 3600) == [] and meta.store.queue_sizes_sync()["heal"] == 0


def test_a_version_queued_again_while_claimed_stays_queued(meta):
    meta.bucket()
    old = record("bkt", "k")
    meta.run(meta.store.put_object(old, heal=True))
    now = time.time() + 1
    (task,) = meta.run(meta.store.claim_heals(now, 10, 60))
    # Its metadata changes, missing a drive again, while the healer works on the old record.
    new = dataclasses.replace(old, data_id="rec-k2", headers={"content-type": "x/y"})
    meta.run(meta.store.replace_version(old, new, heal=True))
    meta.run(meta.store.heal_done(task))
    meta.run(meta.store.heal_later(task, now + 300))
    assert heal_claims(meta, now + 60) == [("bkt", "k", "null", 0)]  # due, not taken off or pushed back


def test_a_commit_that_fails_queues_no_heal(meta):
    meta.bucket()

    def refuse(current):
        raise VersionChanged("no")

    with pytest.raises(VersionChanged):
        meta.run(meta.store.put_object(record("bkt", "k"), refuse, heal=True))
    assert heal_claims(meta, time.time() + 3600) == []


def test_drives_back_make_every_queued_heal_due_at_once(meta):
    meta.bucket()
    for key in ("a", "b"):
        meta.run(meta.store.put_object(record("bkt", key), heal=True))
    now = time.time() + 1
    for task in meta.run(meta.store.claim_heals(now, 10, 60)):
        meta.run(meta.store.heal_later(task, now + 300))
    assert meta.store.queue_sizes_sync()["heal"] == 2
    assert heal_claims(meta, now + 10) == []
    assert meta.run(meta.store.hurry_heals(now + 10)) == 2
    assert sorted(heal_claims(meta, now + 10)) == [("bkt", "a", "null", 1), ("bkt", "b", "null", 1)]


def test_metadata_change_that_missed_a_drive_is_queued(meta):
    meta.bucket()
    old = record("bkt", "k")
    meta.run(meta.store.put_object(old))
    new = dataclasses.replace(old, data_id="rec-k2", headers={"content-type": "x/y"})
    meta.run(meta.store.replace_version(old, new, heal=True))
    assert heal_claims(meta, time.time() + 1) == [("bkt", "k", "null", 0)]


@pytest.mark.parametrize("degraded_part, missed_records, queued", [(False, False, False), (True, False, True), (False, True, True)])
def test_a_completed_upload_is_queued_when_a_part_or_its_records_missed_a_drive(meta, degraded_part, missed_records, queued):
    meta.bucket()
    meta.run(meta.store.create_upload(upload("bkt", "k", "u1")))
    meta.run(meta.store.put_part(dataclasses.replace(part("u1", 1), degraded=degraded_part)))
    meta.run(meta.store.put_part(part("u1", 2)))
    assert [p.degraded for p in meta.run(meta.store.list_parts("u1", 0, 10))] == [degraded_part, False]

    def build(u: Upload, parts: dict[int, Part]) -> tuple[ObjectRecord, set[int]]:
        segments = tuple(Segment(parts[n].blob, parts[n].size, parts[n].etag) for n in (1, 2))
        return ObjectRecord(u.bucket, u.key, 10, '"m-2"', time.time(), u.storage_class, u.headers, segments, multipart=True, data_id="rec-m"), {1, 2}

    meta.run(meta.store.complete_upload("u1", build, heal=missed_records))
    assert heal_claims(meta, time.time() + 1) == ([("bkt", "k", "null", 0)] if queued else [])


def test_named(meta):
    meta.bucket()
    meta.put("bkt", "k", "b1", data_id="r1")
    meta.put("bkt", "k", "b2", data_id="r2")
    meta.run(meta.store.create_upload(upload("bkt", "u", "u1")))
    meta.run(meta.store.put_part(part("u1", 1, "p1")))
    # b1 is named by the reclaim queue (the unversioned bucket's overwrite queued it), r1 by nothing.
    asked_shards, asked_records = {"b1", "b2", "p1", "stray"}, {"r1", "r2", "lost"}
    assert meta.store.named(asked_shards, asked_records) == ({"b1", "b2", "p1"}, {"r2"})
    assert meta.store.named({"stray"}, set()) == (set(), set())
    assert meta.store.named(set(), set()) == (set(), set())


def test_objects_after_and_count(meta):
    meta.bucket("a")
    meta.bucket("b")
    for bucket, key in [("a", "x/1"), ("a", "x/2"), ("a", "y"), ("b", "x/1")]:
        meta.put(bucket, key)
    walk = meta.run(meta.store.objects_after("", "", 100))
    assert [(r.bucket, r.key) for r in walk] == [("a", "x/1"), ("a", "x/2"), ("a", "y"), ("b", "x/1")]
    assert [(r.bucket, r.key) for r in meta.run(meta.store.objects_after("a", "x/2", 100))] == [("a", "y"), ("b", "x/1")]
    assert [r.key for r in meta.run(meta.store.objects_after("a", "", 100, "a", "x/"))] == ["x/1", "x/2"]
    assert meta.run(meta.store.count_objects()) == 4
    assert meta.run(meta.store.count_objects("a")) == 3
    assert meta.run(meta.store.count_objects("a", "x/")) == 2


def test_settings(meta):
    assert meta.store.get_setting_sync("index_id") is None
    meta.store.set_setting_sync("index_id", "one")
    meta.store.set_setting_sync("index_id", "two")
    assert meta.store.get_setting_sync("index_id") == "two"


def test_damage_reports(meta):
    assert meta.run(meta.store.take_damage_reports()) == []
    meta.store.report_damage("bkt", "k")
    meta.store.report_damage("bkt", "k")
    meta.store.report_damage("bkt", "j")
    taken: set = set()
    deadline = time.monotonic() + 10
    while len(taken) < 2 and time.monotonic() < deadline:  # reports are queued, not awaited
        taken.update(meta.run(meta.store.take_damage_reports()))
        time.sleep(0.01)
    assert taken == {("bkt", "k"), ("bkt", "j")}
    assert meta.run(meta.store.take_damage_reports()) == []


def test_replace_contents(meta):
    meta.bucket("old")
    meta.bucket("kept")
    meta.put("old", "gone")
    meta.run(meta.store.create_upload(upload("old", "k", "u-old")))
    meta.run(meta.store.create_upload(upload("kept", "k", "u-kept")))
    buckets = [Bucket("kept", 1.0, "us-east-1", OWNER), Bucket("new", 2.0, "us-east-1", OWNER)]
    records = [record("new", "a"), record("kept", "b")]
    meta.store.replace_contents(buckets, records)
    assert [b.name for b in meta.run(meta.store.list_buckets("", "", 100))] == ["kept", "new"]
    assert [(r.bucket, r.key) for r in meta.run(meta.store.objects_after("", "", 100))] == [("kept", "b"), ("new", "a")]
    assert meta.run(meta.store.get_upload("u-old")) is None
    assert meta.run(meta.store.get_upload("u-kept")) is not None


def test_replication_is_queued_with_the_commit_and_answered_per_version(meta):
    meta.bucket("plain")
    meta.bucket("repl")
    meta.run(meta.store.set_bucket_config("repl", "replication", {"remote": "dr", "rules": []}))
    meta.put("plain", "k")
    meta.put("repl", "k")
    replica = dataclasses.replace(record("repl", "copy"), headers={"x-amz-replication-status": "REPLICA"})
    meta.run(meta.store.put_object(replica))
    due = meta.run(meta.store.replication_due(time.time() + 1, 10))
    # Only the version of the replicated bucket, and not the replica (it would go back where it came from).
    assert [(t.bucket, t.key, t.op) for t in due] == [("repl", "k", "object")]
    assert meta.run(meta.store.replication_status("repl", "k", "null")) == "PENDING"
    assert meta.run(meta.store.replication_status("plain", "k", "null")) is None
    # A failure counts, waits, and shows as FAILED when the engine says so.
    task = due[0]
    meta.run(meta.store.replication_failed(task, "remote down", time.time() + 60, failed=True))
    assert meta.run(meta.store.replication_due(time.time() + 1, 10)) == []
    assert meta.run(meta.store.replication_status("repl", "k", "null")) == "FAILED"
    [again] = meta.run(meta.store.replication_due(time.time() + 61, 10))
    assert (again.attempts, again.error) == (1, "remote down")
    # A tag change queued while an attempt is in flight is not lost to that attempt's success.
    current = meta.run(meta.store.get_object("repl", "k"))
    meta.run(meta.store.replace_version(current, dataclasses.replace(current, tags=(("a", "1"),))))
    meta.run(meta.store.replication_done(again))
    [queued] = meta.run(meta.store.replication_due(time.time() + 1, 10))
    assert queued.op == "object" and queued.attempts == 0  # the bytes are not there yet: they carry the tags
    meta.run(meta.store.replication_done(queued))
    assert meta.run(meta.store.replication_status("repl", "k", "null")) == "COMPLETED"
    assert meta.run(meta.store.replication_due(time.time() + 1, 10)) == []
    # Once replicated, a change of tags alone is a "meta" task, waiting from now (its lag).
    current = meta.run(meta.store.get_object("repl", "k"))
    requeued_at = time.time()
    meta.run(meta.store.replace_version(current, dataclasses.replace(current, tags=(("a", "2"),))))
    [meta_task] = meta.run(meta.store.replication_due(time.time() + 1, 10))
    assert meta_task.op == "meta" and meta_task.queued >= requeued_at
    # Claimed, the task is due to no one else until the claim lapses; answered, it is done.
    now = time.time() + 1
    [claimed] = meta.run(meta.store.claim_replication_due(now, 10, 300))
    assert claimed == meta_task
    assert meta.run(meta.store.claim_replication_due(now, 10, 300)) == []
    assert meta.run(meta.store.replication_due(now + 299, 10)) == []
    [lapsed] = meta.run(meta.store.claim_replication_due(now + 301, 10, 300))
    assert lapsed.key == "k" and lapsed.gen == claimed.gen
    meta.run(meta.store.replication_done(lapsed))
    assert meta.run(meta.store.replication_due(now + 1000, 10)) == []
    meta.run(meta.store.replication_forget(meta_task))
    assert meta.run(meta.store.replication_status("repl", "k", "null")) is None
    # A data key sealed anew under a new master key (with its new record file) stays on this site.
    current = meta.run(meta.store.get_object("repl", "k"))
    sealed = dataclasses.replace(current, encryption=SSE_S3)
    meta.run(meta.store.replace_version(current, sealed))
    meta.run(meta.store.replication_forget(meta.run(meta.store.replication_due(time.time() + 1, 10))[0]))
    resealed = dataclasses.replace(sealed, data_id="resealed", replaces=sealed.data_id, encryption=dataclasses.replace(SSE_S3, sealed_key="bmV3"))
    meta.run(meta.store.replace_version(sealed, resealed))
    assert meta.run(meta.store.replication_due(time.time() + 1, 10)) == []
    # A resync queues every version but replicas; the backlog counts them.
    assert meta.run(meta.store.replication_queue_bucket("repl")) == 1
    backlog = meta.run(meta.store.replication_backlog("repl"))
    assert backlog["pending"] == 1 and backlog["oldest_queued"] > 0


# -- archival tiers, restores and usage -----------------------------------------------------------
def tasks(meta: Harness) -> dict[tuple[str, str, str], float]:
    return {(b, k, v): due for b, k, v, due in meta.run(meta.store.tier_tasks_due(time.time() + 10**9, 1000))}


def test_a_tiered_class_written_gets_a_tier_task_and_moving_it_ends_it(meta):
    meta.bucket()
    meta.run(meta.store.put_object(dataclasses.replace(record("bkt", "cold", "shard-c"), storage_class="GLACIER")))
    meta.run(meta.store.put_object(dataclasses.replace(record("bkt", "inline", ""), storage_class="GLACIER", inline=True)))
    meta.put("bkt", "plain")
    assert set(tasks(meta)) == {("bkt", "cold", "null")}  # inline and STANDARD versions stay where they are
    assert meta.run(meta.store.tier_tasks_due(time.time() - 60, 10)) == []  # due from its commit on
    old = meta.run(meta.store.get_object("bkt", "cold"))
    moved = dataclasses.replace(old, data_id="rec-moved", archive=Archive("cold", "bkt/rec-moved", 10), segments=(Segment("", 3, "", ""),))
    meta.run(meta.store.replace_version(old, moved, reclaim=["shard-c"]))
    assert tasks(meta) == {}
    assert meta.run(meta.store.get_object("bkt", "cold")).archive == Archive("cold", "bkt/rec-moved", 10)
    assert "shard-c" in reclaim_queue(meta)
    # Removing an archived version queues its tier blob for reclaim under a name no shard id has.
    meta.run(meta.store.delete_object("bkt", "cold"))
    assert "tier:cold:bkt/rec-moved" in reclaim_queue(meta)


def test_a_restore_is_due_when_ready_then_when_it_expires(meta):
    meta.bucket()
    archived = dataclasses.replace(record("bkt", "k", ""), storage_class="GLACIER", archive=Archive("cold", "bkt/r", 5), segments=(Segment("", 3, "", ""),))
    meta.run(meta.store.put_object(archived))
    assert tasks(meta) == {}
    asked = dataclasses.replace(archived, data_id="rec-2", restore=Restore(5000.0, 3))
    meta.run(meta.store.replace_version(archived, asked))
    assert tasks(meta) == {("bkt", "k", "null"): 5000.0}
    assert meta.run(meta.store.get_object("bkt", "k")).restore == Restore(5000.0, 3)
    ready = dataclasses.replace(asked, data_id="rec-3", restore=Restore(5000.0, 3, 9000.0), segments=(Segment("copy", 3, "", ""),))
    meta.run(meta.store.replace_version(asked, ready))
    assert tasks(meta) == {("bkt", "k", "null"): 9000.0}
    assert meta.run(meta.store.next_tier_task()) == 9000.0
    # A retry moves a task only if it is still due when it was read; None drops it.
    meta.run(meta.store.tier_task_reschedule("bkt", "k", "null", 1234.0, 9999.0))
    assert tasks(meta) == {("bkt", "k", "null"): 9000.0}
    meta.run(meta.store.tier_task_reschedule("bkt", "k", "null", 9000.0, 9500.0))
    assert tasks(meta) == {("bkt", "k", "null"): 9500.0}
    meta.run(meta.store.tier_task_reschedule("bkt", "k", "null", 9500.0, None))
    assert tasks(meta) == {} and meta.run(meta.store.next_tier_task()) is None


def test_usage_per_bucket_and_class(meta):
    meta.bucket()
    meta.put("bkt", "a", size=1000)
    meta.put("bkt", "b", size=200_000)
    meta.run(meta.store.put_object(dataclasses.replace(record("bkt", "ia", size=1000), storage_class="STANDARD_IA")))
    meta.run(meta.store.put_object(dataclasses.replace(record("bkt", "gl", size=500_000), storage_class="GLACIER", archive=Archive("cold", "x", 1234))))
    rows = {(u.bucket, u.storage_class): u for u in meta.run(meta.store.usage({"STANDARD_IA": 128 * 1024}))}
    assert rows[("bkt", "STANDARD")] == ClassUsage("bkt", "STANDARD", 2, 201_000, 201_000, 0, 0)
    assert rows[("bkt", "STANDARD_IA")] == ClassUsage("bkt", "STANDARD_IA", 1, 1000, 128 * 1024, 0, 0)
    assert rows[("bkt", "GLACIER")] == ClassUsage("bkt", "GLACIER", 1, 500_000, 500_000, 1, 1234)


def test_a_key_holding_nul_is_refused_alike(meta):
    """U+0000 cannot be in a PostgreSQL text: both stores refuse it the same way (the S3 layer
    answers InvalidURI before a store sees it: tests/unit/test_router.py)."""
    meta.bucket()
    for call in (
        lambda: meta.store.put_object(record("bkt", "a\x00b")),
        lambda: meta.store.get_object("bkt", "a\x00b"),
        lambda: meta.store.list_objects("bkt", "a\x00", "", "", 10),
        lambda: meta.store.create_bucket(Bucket("b\x00", 1.0, "us-east-1", OWNER)),
    ):
        with pytest.raises(ValueError, match="U\\+0000"):
            meta.run(call())
    assert meta.keys(meta.run(meta.store.list_objects("bkt", "", "", "", 10))) == []


# -- PostgreSQL only: retries and lost commits --------------------------------------------------
@pytest.fixture
def pg(postgres_db) -> Iterator[tuple[Harness, str]]:
    store = PostgresMetaStore(postgres_db, pool_size=2, retry_for=10.0)
    harness = Harness(store)
    try:
        yield harness, postgres_db
    finally:
        store.close()
        harness.loop.close()


def _terminate_others(conninfo: str) -> int:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def test_postgres_retries_after_its_connections_are_killed(pg):
    meta, conninfo = pg
    meta.bucket()
    meta.put("bkt", "before")
    assert _terminate_others(conninfo) >= 1  # every pooled connection dies
    meta.put("bkt", "after")
    assert meta.keys(meta.run(meta.store.list_objects("bkt", "", "", "", 10))) == ["after", "before"]


def test_postgres_retries_a_connection_killed_mid_transaction(pg):
    meta, conninfo = pg
    meta.bucket()
    calls = []

    def precondition(current):
        calls.append(current)
        if len(calls) == 1:
            _terminate_others(conninfo)  # the transaction's own connection, mid-run

    meta.run(meta.store.put_object(record("bkt", "k"), precondition))
    assert len(calls) == 2  # run again, whole, on a new connection
    assert meta.run(meta.store.get_object("bkt", "k")).data_id == "rec-k"


def test_postgres_retries_serialization_failures(pg):
    """Two transactions racing on one key (each writer thread's batch): SERIALIZABLE makes one
    fail with 40001; it is retried and every write lands once, as SQLite's single writer would
    have it."""
    meta, _ = pg
    meta.bucket()
    meta.put("bkt", "hot")
    started = threading.Barrier(2)
    calls = []

    def precondition(current):
        calls.append(current)
        if len(calls) <= 2:
            started.wait(timeout=10)  # both hold their snapshot before either commits

    async def race():
        first = asyncio.ensure_future(meta.store.put_object(record("bkt", "hot", blob="b0", data_id="d0"), precondition))
        while not calls:  # the first holds one writer thread: the second goes to the other
            await asyncio.sleep(0.01)
        second = meta.store.put_object(record("bkt", "hot", blob="b1", data_id="d1"), precondition)
        return await asyncio.gather(first, second)

    meta.run(race())
    assert len(calls) >= 3  # the loser ran again
    assert meta.run(meta.store.get_object("bkt", "hot")).data_id in {"d0", "d1"}
    assert {"blob-hot", "b0", "b1"} - {meta.run(meta.store.get_object("bkt", "hot")).segments[0].blob} <= reclaim_queue(meta)


def _lose_a_commit(monkeypatch, after: str = "") -> list[bool]:
    """The first COMMIT (of a connection that ran a statement holding ``after``) is made, but its
    answer is lost with its connection; the list returned holds True once that happened. A
    transaction's statements go in pipeline mode: its COMMIT is sent, and answered, when the
    pipeline ends."""
    import psycopg

    real_cursor_execute, real_execute, real_exit = psycopg.Cursor.execute, psycopg.Connection.execute, psycopg.Pipeline.__exit__
    marked, committing, lost = set(), set(), []

    def cursor_execute(self, query, *args, **kw):
        if after in str(query):
            marked.add(self.connection)
        return real_cursor_execute(self, query, *args, **kw)

    def execute(self, query, *args, **kw):
        if query == "COMMIT" and (self in marked or not after):
            committing.add(self)
        return real_execute(self, query, *args, **kw)

    def pipeline_exit(self, *exc):
        conn = self._conn
        result = real_exit(self, *exc)
        if conn in committing and not lost:
            lost.append(True)
            conn.close()  # committed, but the answer never arrives
            raise psycopg.OperationalError("the connection was lost during COMMIT")
        committing.discard(conn)
        return result

    monkeypatch.setattr(psycopg.Cursor, "execute", cursor_execute)
    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    monkeypatch.setattr(psycopg.Pipeline, "__exit__", pipeline_exit)
    return lost


def test_postgres_settles_a_lost_commit_by_reading_back(pg, monkeypatch):
    """A COMMIT whose connection drops: the store reads back whether the version is there."""
    meta, _ = pg
    meta.bucket()
    lost = _lose_a_commit(monkeypatch)
    calls = []
    meta.run(meta.store.put_object(record("bkt", "k"), lambda current: calls.append(current)))
    assert lost and len(calls) == 1  # settled as committed: not written a second time
    assert [v.data_id for v in meta.run(meta.store.get_versions("bkt", "k"))] == ["rec-k"]

    lost.clear()
    with pytest.raises(CommitFailed, match="unknown"):  # a write with no way to settle is never answered blindly
        meta.run(meta.store.replication_failed(ReplicationTask("bkt", "k", "null", "object"), "boom", 0.0, False))


# -- PostgreSQL's group commit ------------------------------------------------------------------
def _occupy_writers(store: PostgresMetaStore) -> tuple[threading.Event, list[threading.Thread]]:
    """Every writer thread of the store held by a write that waits for the returned event."""
    from hoard.meta.postgres import WRITE_THREADS

    release, holding = threading.Event(), threading.Semaphore(0)

    def hold(tx) -> None:
        holding.release()
        release.wait(20)

    threads = [threading.Thread(target=store.run_write, args=(hold,), kwargs={"idempotent": True}) for _ in range(WRITE_THREADS)]
    for t in threads:  # one at a time: two waiting together would be one batch, on one thread
        t.start()
        assert holding.acquire(timeout=10)
    return release, threads


def _batched(meta: Harness, *calls, wait: float = 0.2) -> list:
    """The outcomes of the store ``calls`` (coroutines, each its result or what it raised), made
    while every writer thread was held: their writes waited, and went together."""

    async def together() -> list:
        return await asyncio.gather(*calls, return_exceptions=True)

    release, threads = _occupy_writers(meta.store)
    try:
        waiting = asyncio.ensure_future(together(), loop=meta.loop)
        meta.run(asyncio.sleep(wait))  # every write queued behind the held ones
    finally:
        release.set()
        for t in threads:
            t.join()
    return meta.run(waiting)


def _xmins(conninfo: str, bucket: str) -> dict[str, str]:
    """Each current version's key and the transaction that wrote it."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        return dict(conn.execute("SELECT key, xmin::text FROM objects WHERE bucket=%s", (bucket,)).fetchall())


def test_postgres_writes_waiting_together_commit_in_one_transaction_and_fail_alone(pg):
    """PUTs that wait while the writer threads are busy go in one transaction; a refused one, one
    to a missing bucket, one whose version changed each fail alone, and two PUTs of one key both
    land in the order they came."""
    meta, conninfo = pg
    meta.bucket()
    meta.put("bkt", "moved")
    stale = meta.run(meta.store.get_object("bkt", "moved"))
    meta.put("bkt", "moved", blob="moved-again", data_id="moved-2")
    before = _xmins(conninfo, "bkt")

    def refuse(current):
        raise Callback("precondition failed")

    results = _batched(
        meta,
        *(meta.store.put_object(record("bkt", f"k{i}")) for i in range(6)),
        meta.store.put_object(record("bkt", "refused"), refuse),
        meta.store.put_object(record("no-such-bucket", "k")),
        meta.store.replace_version(stale, dataclasses.replace(stale, tags=(("a", "b"),))),
        meta.store.put_object(record("bkt", "dup", blob="dup-1", data_id="dup-1")),
        meta.store.put_object(record("bkt", "dup", blob="dup-2", data_id="dup-2")),
    )
    assert results[:6] == [None] * 6
    assert isinstance(results[6], Callback)
    assert isinstance(results[7], BucketNotFound)
    assert isinstance(results[8], VersionChanged)
    assert results[9] is None and results[10].data_id == "dup-1"  # the second replaced the first
    assert meta.run(meta.store.get_object("bkt", "dup")).data_id == "dup-2"
    assert "dup-1" in reclaim_queue(meta)
    assert meta.run(meta.store.get_object("bkt", "refused")) is None
    assert meta.run(meta.store.get_object("bkt", "moved")).data_id == "moved-2"
    written = _xmins(conninfo, "bkt")
    new = {key: xmin for key, xmin in written.items() if key not in before}
    assert set(new) == {"k0", "k1", "k2", "k3", "k4", "k5", "dup"}
    # One transaction, one commit. (The second "dup" was written in a savepoint: a
    # subtransaction, with an id of its own.)
    assert len({new[f"k{i}"] for i in range(6)}) == 1
    assert written["moved"] == before["moved"]


def test_postgres_a_batched_write_failing_after_it_wrote_leaves_the_others_written(pg, monkeypatch):
    """A PUT that raises after it has written (no savepoint to undo just it): each write of the
    batch runs again alone; the failing one fails, the others land."""
    import hoard.meta.sqlstore as sqlstore

    meta, _ = pg
    meta.bucket()
    real_queue_heal = sqlstore._queue_heal

    def queue_heal(conn, rec):
        real_queue_heal(conn, rec)
        if rec.key == "bad":
            raise RuntimeError("broken after writing")

    monkeypatch.setattr(sqlstore, "_queue_heal", queue_heal)

    a, bad, b = _batched(meta, *(meta.store.put_object(record("bkt", key), heal=True) for key in ("a", "bad", "b")))
    assert a is None and b is None and isinstance(bad, RuntimeError)
    assert meta.keys(meta.run(meta.store.list_objects("bkt", "", "", "", 10))) == ["a", "b"]
    assert {(t.key) for t in meta.run(meta.store.claim_heals(time.time() + 1, 10, 60))} == {"a", "b"}


def test_postgres_a_database_error_of_one_batched_write_fails_it_alone(pg):
    """A write of a batch whose statement the database refuses (not a conflict: division by
    zero) aborts the whole transaction, with no way to tell whose the error was from the others'
    answers: each write runs again alone, the refused one fails, the others land."""
    meta, _ = pg
    meta.bucket()

    def refused(tx) -> None:
        tx.execute("SELECT 1/0")

    a, bad, b = _batched(
        meta, meta.store.put_object(record("bkt", "a")), asyncio.to_thread(meta.store.run_write, refused, idempotent=False), meta.store.put_object(record("bkt", "b"))
    )
    assert a is None and b is None
    assert isinstance(bad, CommitFailed) and "division by zero" in str(bad), bad
    assert meta.keys(meta.run(meta.store.list_objects("bkt", "", "", "", 10))) == ["a", "b"]


def test_postgres_a_write_that_waited_past_its_retry_window_is_still_tried(postgres_db):
    """The retry window counts from when a write was submitted, but a write that waited out its
    window in the queue (behind slow writes, the database well) is tried once, not refused."""
    store = PostgresMetaStore(postgres_db, pool_size=4, retry_for=0.3)
    meta = Harness(store)
    try:
        meta.bucket()
        assert _batched(meta, store.put_object(record("bkt", "late")), wait=0.6) == [None]  # twice its window, queued
        assert meta.run(store.get_object("bkt", "late")).data_id == "rec-late"
    finally:
        store.close()
        meta.loop.close()


def test_postgres_a_batch_whose_commit_was_lost_is_settled_whole(pg, monkeypatch):
    """PUTs committed together, the COMMIT's answer lost with its connection: one read back
    settles them all (a batch commits whole or not at all), none is written twice, and the one
    refused in the batch is refused."""
    meta, _ = pg
    meta.bucket()
    lost = _lose_a_commit(monkeypatch, after="WITH ORDINALITY")  # the batch's reads: a connection committing a batch
    checked: list[str] = []

    def check(key: str):
        def precondition(current):
            checked.append(key)
            if key == "refused":
                raise Callback("precondition failed")

        return precondition

    a, b, refused, c = _batched(meta, *(meta.store.put_object(record("bkt", key), check(key)) for key in ("a", "b", "refused", "c")))
    assert lost and (a, b, c) == (None, None, None) and isinstance(refused, Callback)
    assert sorted(checked) == ["a", "b", "c", "refused"]  # settled as committed: nothing run again
    assert meta.keys(meta.run(meta.store.list_objects("bkt", "", "", "", 10))) == ["a", "b", "c"]


def test_postgres_concurrent_lookups_see_every_acknowledged_write(pg):
    """GETs made together are read together: each sees what was written before it was made,
    whatever bucket it asks about, and a missing key is None."""
    meta, _ = pg
    meta.bucket("one")
    meta.bucket("two")
    for i in range(20):
        meta.put("one" if i % 2 else "two", f"k{i}")

    async def lookups():
        return await asyncio.gather(*(meta.store.get_object("one" if i % 2 else "two", f"k{i}") for i in range(22)))

    found = meta.run(lookups())
    assert [r.key if r else None for r in found] == [f"k{i}" for i in range(20)] + [None, None]
    assert [r.bucket for r in found[:20]] == ["one" if i % 2 else "two" for i in range(20)]


def test_postgres_forgets_prepared_statements_the_server_lost(postgres_db):
    """psycopg takes a statement it sent a Parse for as prepared; in a pipeline an earlier error
    aborted, the server never made it, and each later use fails (26000). The store closes that
    connection and tries again on a new one."""
    store = PostgresMetaStore(postgres_db, pool_size=1, retry_for=10.0)
    meta = Harness(store)
    try:
        meta.bucket()
        for i in range(8):  # past psycopg's prepare threshold: the statements are prepared
            meta.put("bkt", f"k{i}")
            assert meta.run(store.get_object("bkt", f"k{i}")) is not None
        with store._pool.connection() as conn:
            conn.execute("DEALLOCATE ALL")  # what the server lost
        meta.put("bkt", "after")
        assert meta.run(store.get_object("bkt", "after")).key == "after"
        assert len(meta.keys(meta.run(store.list_objects("bkt", "", "", "", 100)))) == 9
    finally:
        store.close()
        meta.loop.close()


# -- schema 8 to 10: the heal queue, an upload's pool -------------------------------------------
_BACK_TO_8 = {
    "sqlite": (
        "DROP TABLE heal_queue", "ALTER TABLE parts DROP COLUMN degraded", "ALTER TABLE uploads DROP COLUMN pool",
        "UPDATE schema_version SET version=8",
    ),
    "postgres": (
        "DROP TABLE heal_queue",
        "ALTER TABLE uploads DROP COLUMN pool",
        "ALTER TABLE parts DROP COLUMN degraded",
        "ALTER TABLE parts ALTER COLUMN stored TYPE INTEGER",
        "UPDATE schema_version SET version=8",
    ),
}


@pytest.mark.parametrize("backend", IMPLEMENTATIONS)
def test_a_schema_8_index_is_upgraded_and_keeps_its_uploads_and_parts(backend, request, tmp_path):
    if backend == "postgres":
        import psycopg

        url = request.getfixturevalue("postgres_db")

        def open_store() -> MetaStore:
            return PostgresMetaStore(url, pool_size=2, retry_for=10.0)

        def downgrade() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                for statement in _BACK_TO_8[backend]:
                    conn.execute(statement)
    else:
        import sqlite3

        def open_store() -> MetaStore:
            return SqliteMetaStore(tmp_path / "meta.db")

        def downgrade() -> None:
            with sqlite3.connect(tmp_path / "meta.db") as conn:
                for statement in _BACK_TO_8[backend]:
                    conn.execute(statement)

    meta = Harness(open_store())
    meta.bucket()
    meta.run(meta.store.create_upload(upload("bkt", "k", "u1")))
    meta.run(meta.store.put_part(part("u1", 1)))
    meta.store.close()
    downgrade()
    meta.store = open_store()
    try:
        assert [p.blob for p in meta.run(meta.store.list_parts("u1", 0, 10))] == ["u1-part-1"]
        # The new column and table are there: a part over 2 GiB stored, degraded, queues its object.
        big = dataclasses.replace(part("u1", 2), size=5 * 2**30, stored=5 * 2**30 + 4096, degraded=True)
        meta.run(meta.store.put_part(big))
        assert meta.run(meta.store.list_parts("u1", 1, 10)) == [big]
        meta.run(meta.store.put_object(record("bkt", "other"), heal=True))
        assert heal_claims(meta, time.time() + 1) == [("bkt", "other", "null", 0)]
        # An upload begun before the upgrade has no pool; one begun after keeps its own.
        assert meta.run(meta.store.get_upload("u1")).pool == 0
        meta.run(meta.store.create_upload(dataclasses.replace(upload("bkt", "k", "u2"), pool=2)))
        assert meta.run(meta.store.get_upload("u2")).pool == 2
    finally:
        meta.store.close()
        meta.loop.close()
