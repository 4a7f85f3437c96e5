"""The replication engine's pure parts: reading a version in any sizes botocore asks for, the
parameters a version is sent with, and what a replica carries."""

from __future__ import annotations

import hashlib

from hoard.model import REPLICA, ObjectRecord
from hoard.objects.replicas import ReplicaOf
from hoard.s3.handlers.replicas import parse_replica
from hoard.workers.replicator import _md5_of, _object_params, _Stream


def test_a_stream_hands_out_exactly_the_bytes_in_any_sizes():
    pieces = [b"a" * 10, b"", b"bc", b"d" * 7]
    whole = b"".join(pieces)
    for size in (1, 3, 8, 100, -1):
        stream = _Stream(lambda: iter(pieces), len(whole))
        got = b""
        while chunk := stream.read(size):
            assert size < 0 or len(chunk) <= size
            got += chunk
        assert got == whole and stream.tell() == len(whole)
        # Read again from the start, as a signer that hashed the body first does.
        assert stream.seek(0) == 0 and stream.read() == whole
    stream = _Stream(lambda: iter(pieces), len(whole))
    assert stream.seek(0, 2) == len(whole) and stream.read() == b""
    buffer = bytearray(4)
    stream.seek(0)
    assert stream.readinto(buffer) == 4 and bytes(buffer) == whole[:4]


def test_a_version_is_sent_with_its_metadata_tags_and_lock():
    record = ObjectRecord(
        "b", "k", 3, '"e"', 0.0, "STANDARD_IA", {"content-type": "text/plain", "cache-control": "no-cache", "x-amz-meta-a": "1"}, (),
        tags=(("team", "red"), ("x y", "a&b")), retention_mode="GOVERNANCE", retain_until=2_000_000_000.0, legal_hold=True,
    )  # fmt: skip

    class Rule:
        storage_class = ""

    params = _object_params(record, Rule())
    assert params["ContentType"] == "text/plain" and params["CacheControl"] == "no-cache"
    assert params["StorageClass"] == "STANDARD_IA"
    assert params["Tagging"] == "team=red&x+y=a%26b"
    assert (params["ObjectLockMode"], params["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")
    Rule.storage_class = "GLACIER_IR"
    assert _object_params(record, Rule())["StorageClass"] == "GLACIER_IR"  # the rule's class wins
    assert _md5_of(f'"{hashlib.md5(b"abc").hexdigest()}"') == "kAFQmDzST7DWlj99KOF/cg=="


def test_a_replica_carries_its_source_versions_identity_and_is_marked():
    seq = "0005f9a3b2c4d1e2a1b2c3d4"
    source = ObjectRecord("b", "k", 1, '"e"', 1_700_000_000.123, "STANDARD", {"x-amz-replication-status": "PENDING"}, (), version_id=seq, seq=seq)
    replica = ReplicaOf.of(source)
    assert parse_replica(replica.headers()) == replica
    kept = replica.apply(ObjectRecord("b", "k", 1, '"e"', 5.0, "STANDARD", {**replica.headers(), "content-type": "a/b"}, (), version_id="other", seq="x"))
    assert (kept.version_id, kept.seq, kept.last_modified) == (seq, seq, 1_700_000_000.123)
    assert kept.headers == {"content-type": "a/b", "x-amz-replication-status": REPLICA}
    assert parse_replica({"content-type": "a/b"}) is None
