"""The S3 tier (hoard.tiers.s3tier) against a real Hoard server: a bucket on it is the tier."""

from __future__ import annotations

import random
import uuid

import boto3
import pytest
from botocore.config import Config

from hoard.tiers import FRAME, TierCorrupt, TierError, TierMissing, TierStore, TierUnavailable, TierUsage, open_tier
from hoard.tiers.blob import TRAILER_SIZE
from hoard.tiers.s3tier import S3Tier
from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, free_port

# One server process is enough for a client of the S3 API.
pytestmark = pytest.mark.parametrize("server", [1], indirect=True, ids=["one-process"])


def data_of(size: int, seed: int = 0) -> bytes:
    """Frames of text and of random bytes in turn, so both kinds of frame are read back."""
    rng = random.Random(seed)
    out = bytearray()
    i = 0
    while len(out) < size:
        n = min(FRAME, size - len(out))
        out += rng.randbytes(n) if i % 2 else (b"line %d of frame %d\n" % (rng.randrange(1000), i) * (n // 10 + 1))[:n]
        i += 1
    return bytes(out)


class Counted:
    """A client factory whose clients count their GETs."""

    def __init__(self, server, **config) -> None:
        self.server = server
        self.config = config
        self.gets: list[str] = []

    def __call__(self):
        client = self.server.client(**self.config)
        client.meta.events.register("before-call.s3.GetObject", lambda params, **_: self.gets.append(params["headers"].get("Range", "")))
        return client


@pytest.fixture
def factory(server) -> Counted:
    return Counted(server)


@pytest.fixture
def tier(factory, bucket, server) -> S3Tier:
    return S3Tier("cold", factory, bucket, "tiers/cold", describe_endpoint=server.endpoint)


def test_is_a_tier_store(tier, bucket, server):
    assert isinstance(tier, TierStore)
    assert tier.describe() == f"s3 {server.endpoint}/{bucket}/tiers/cold"
    assert S3Tier("cold", lambda: server.client(), bucket).describe() == f"s3 {server.endpoint}/{bucket}"


@pytest.mark.parametrize("size", [0, 1, 1000, FRAME, FRAME + 1, 5 * FRAME + 777])
def test_round_trip(tier, s3, bucket, size):
    data = data_of(size)
    info = tier.put("b-01/d1", iter([data[:500], data[500:]]))
    assert info.size == size
    assert s3.head_object(Bucket=bucket, Key="tiers/cold/b-01/d1.tb")["ContentLength"] == info.stored
    assert b"".join(tier.read("b-01/d1", 0, size - 1)) == data
    assert tier.exists("b-01/d1")


def test_ranges(tier, factory):
    size = 6 * FRAME + 12345
    data = data_of(size, seed=1)
    tier.put("b/ranges", [data])
    rng = random.Random(7)
    ranges = [(0, 0), (size - 1, size - 1), (FRAME - 1, FRAME), (2 * FRAME, 3 * FRAME - 1), (10, size - 10), (5, 4)]
    for _ in range(15):
        start = rng.randrange(size)
        ranges.append((start, rng.randrange(start, min(size, start + 3 * FRAME))))
    for start, end in ranges:
        assert b"".join(tier.read("b/ranges", start, end)) == data[start : end + 1], (start, end)
    with pytest.raises(ValueError):
        tier.read("b/ranges", 0, size)


def test_a_read_is_one_get_once_the_index_is_known(tier, factory):
    data = data_of(4 * FRAME)
    tier.put("b/big", [data])
    factory.gets.clear()
    assert b"".join(tier.read("b/big", FRAME + 5, 2 * FRAME + 5)) == data[FRAME + 5 : 2 * FRAME + 6]
    index = tier.index("b/big")
    frames = index.frames[1:3]
    # The tail (trailer and index), then one GET of exactly the two frames needed.
    assert factory.gets == [f"bytes=-{TRAILER_SIZE + 65536}", f"bytes={frames[0].stored_offset}-{frames[1].stored_end - 1}"]
    factory.gets.clear()
    assert b"".join(tier.read("b/big", 0, 9)) == data[:10]
    assert factory.gets == [f"bytes=0-{index.frames[0].stored_length - 1}"]


def test_a_small_blob_is_read_in_one_get(tier, factory):
    tier.put("b/small", [b"hello, tier"])
    factory.gets.clear()
    assert b"".join(tier.read("b/small", 7, 10)) == b"tier"
    assert len(factory.gets) == 1  # the tail is the whole blob


def test_a_long_index_is_read_in_two_gets(tier, factory):
    # Enough frames that the index does not fit in the tail's first GET: zeros, to keep it quick.
    frames = 65536 // 25 + 10
    zeros = bytes(FRAME)
    tier.put("b/long", (zeros for _ in range(frames)))
    factory.gets.clear()
    assert b"".join(tier.read("b/long", frames * FRAME - 3, frames * FRAME - 1)) == bytes(3)
    assert len(factory.gets) == 3 and len(tier.index("b/long").frames) == frames


def test_missing_delete_exists(tier, s3, bucket):
    with pytest.raises(TierMissing):
        tier.read("b/nothing", 0, 0)
    assert not tier.exists("b/nothing")
    tier.delete("b/nothing")
    tier.put("b/x", [b"abc"])
    assert tier.exists("b/x")
    tier.delete("b/x")
    tier.delete("b/x")
    assert not tier.exists("b/x")
    with pytest.raises(TierMissing):
        tier.read("b/x", 0, 0)  # not from the cached index: that was dropped with the blob
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_usage(tier, s3, bucket):
    assert tier.usage() == TierUsage(0, 0)
    a, b = tier.put("b/a", [b"a" * 1000]), tier.put("c/b", [data_of(FRAME + 1)])
    s3.put_object(Bucket=bucket, Key="tiers/cold/not-a-blob", Body=b"x")
    s3.put_object(Bucket=bucket, Key="elsewhere.tb", Body=b"x")
    assert tier.usage() == TierUsage(objects=2, stored=a.stored + b.stored)


def test_overwrite_and_a_stale_cached_index(tier, factory, server, bucket):
    """A ref written again with other bytes (which callers do not do) by another process: the
    index cached here is of the old blob, and If-Match catches it."""
    tier.put("b/x", [data_of(3 * FRAME, seed=1)])
    assert b"".join(tier.read("b/x", 0, 9)) == data_of(10, seed=1)
    other = S3Tier("cold", lambda: server.client(), bucket, "tiers/cold")
    new = data_of(2 * FRAME + 5, seed=2)
    other.put("b/x", [new])
    assert b"".join(tier.read("b/x", FRAME - 5, 2 * FRAME + 4)) == new[FRAME - 5 :]
    assert tier.index("b/x").size == len(new)
    # In the same process, a put drops the cached index itself.
    tier.put("b/x", [b"third"])
    assert b"".join(tier.read("b/x", 0, 4)) == b"third"


def test_a_damaged_blob(tier, s3, bucket):
    data = data_of(3 * FRAME)
    tier.put("b/x", [data])
    frame = tier.index("b/x").frames[1]
    key = "tiers/cold/b/x.tb"
    blob = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    blob[frame.stored_offset + 10] ^= 1
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(blob))
    with pytest.raises(TierCorrupt):
        b"".join(tier.read("b/x", FRAME, FRAME))
    assert b"".join(tier.read("b/x", 0, FRAME - 1)) == data[:FRAME]
    assert b"".join(tier.read("b/x", 2 * FRAME, 3 * FRAME - 1)) == data[2 * FRAME :]
    blob[-5] ^= 1
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(blob))
    with pytest.raises(TierCorrupt):
        tier.read("b/x", 0, 0)
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(blob[:-100]))
    with pytest.raises(TierCorrupt):
        tier.read("b/x", 0, 0)


@pytest.mark.slow
def test_a_multipart_upload(tier, s3, bucket):
    data = random.Random(3).randbytes(66 * FRAME)  # stored raw: over the 64 MiB threshold
    info = tier.put("b/large", [data[i : i + 4 * FRAME] for i in range(0, len(data), 4 * FRAME)])
    head = s3.head_object(Bucket=bucket, Key="tiers/cold/b/large.tb")
    assert head["ContentLength"] == info.stored and "-" in head["ETag"]  # a multipart upload's ETag
    assert b"".join(tier.read("b/large", 0, len(data) - 1)) == data
    assert b"".join(tier.read("b/large", 65 * FRAME - 3, 65 * FRAME + 2)) == data[65 * FRAME - 3 : 65 * FRAME + 3]


def test_sweep_aborts_old_multipart_uploads(tier, s3, bucket):
    mine = s3.create_multipart_upload(Bucket=bucket, Key="tiers/cold/b/x.tb")["UploadId"]
    s3.create_multipart_upload(Bucket=bucket, Key="other/y.tb")
    assert tier.sweep_temp(3600) == 0
    assert tier.sweep_temp(-60) == 1
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == ["other/y.tb"] and mine not in {u["UploadId"] for u in uploads}


def test_open_tier_with_a_remote(server, bucket):
    tier = open_tier("cold", f"remote:site-b/{bucket}/p", {"site-b": lambda: server.client()}.__getitem__)
    tier.put("r", [b"through open_tier"])
    assert b"".join(tier.read("r", 0, 6)) == b"through"
    assert tier.describe() == f"s3 {server.endpoint}/{bucket}/p"


def test_refusals_are_tier_errors(server, bucket):
    def wrong_keys():
        return boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key="not-the-secret",
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    tier = S3Tier("cold", wrong_keys, bucket)
    with pytest.raises(TierError) as e:
        tier.put("x", [b"x"])
    assert type(e.value) is TierError and "SignatureDoesNotMatch" in str(e.value)
    no_bucket = S3Tier("cold", lambda: server.client(), f"no-such-{uuid.uuid4().hex[:8]}")
    with pytest.raises(TierError) as e:
        no_bucket.read("x", 0, 0)
    assert type(e.value) is TierError and "NoSuchBucket" in str(e.value)


def test_an_unreachable_endpoint_is_unavailable(server):
    port = free_port()  # bound a moment ago and closed: nothing listens there

    def client():
        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
        )

    tier = S3Tier("cold", client, "tier-bucket")
    for call in (
        lambda: tier.put("x", [b"data"]),
        lambda: tier.read("x", 0, 0),
        lambda: tier.exists("x"),
        lambda: tier.delete("x"),
        lambda: tier.usage(),
        lambda: tier.sweep_temp(0),
    ):
        with pytest.raises(TierUnavailable):
            call()
