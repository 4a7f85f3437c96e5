"""hoard.tiers: the tier blob format, the folder tier, open_tier. The S3 tier against a real server
is in tests/integration/test_s3_tier.py."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hoard.tiers.store as store_module
from hoard.tiers import DEFAULT_TIER_FOLDER, FolderTier, TierCorrupt, TierError, TierMissing, TierUnavailable, TierUsage, open_tier
from hoard.tiers.blob import (
    ENTRY,
    FRAME,
    TRAILER_SIZE,
    BlobIndex,
    BlobInfo,
    BlobWriter,
    decode_frame,
    decode_range,
    footer_size,
    index_span,
    parse_index,
    parse_trailer,
)
from hoard.tiers.store import TierStore, check_ref

ROOT = Path(__file__).resolve().parents[2]
SIZES = [0, 1, 100, FRAME - 1, FRAME, FRAME + 1, 2 * FRAME, 5 * FRAME + 12345]


def random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def text_bytes(n: int, seed: int = 0) -> bytes:
    """Compressible, but not trivially: numbered lines with a random word in each."""
    rng = random.Random(seed)
    words = [b"hoard", b"tier", b"glacier", b"frame", b"zstd", b"archive", b"object", b"bucket"]
    out = bytearray()
    i = 0
    while len(out) < n:
        out += b"%08d %s %s\n" % (i, rng.choice(words), rng.choice(words))
        i += 1
    return bytes(out[:n])


def mixed_bytes(n: int) -> bytes:
    """Frames of different kinds in one object: text, random, zeros, in turn."""
    kinds = [text_bytes, random_bytes, lambda k, seed=0: bytes(k)]
    out = bytearray()
    i = 0
    while len(out) < n:
        out += kinds[i % 3](min(FRAME, n - len(out)), i)
        i += 1
    return bytes(out)


KINDS = {"text": text_bytes, "random": random_bytes, "zeros": lambda n: bytes(n)}


def encode(data: bytes, piece: int | None = None) -> tuple[bytes, BlobInfo]:
    out = io.BytesIO()
    writer = BlobWriter(out)
    if piece is None:
        writer.write(data)
    else:
        for i in range(0, len(data), piece):
            writer.write(data[i : i + piece])
    info = writer.finish()
    return out.getvalue(), info


def index_of(blob: bytes) -> BlobIndex:
    trailer = parse_trailer(blob[-TRAILER_SIZE:])
    offset, length = index_span(trailer, len(blob))
    return parse_index(blob[offset : offset + length], trailer, len(blob))


def decode(blob: bytes, start: int, end: int) -> bytes:
    index = index_of(blob)
    frames = index.frames_for(start, end)
    return b"".join(decode_range(((f, blob[f.stored_offset : f.stored_end]) for f in frames), start, end))


@pytest.fixture
def tier(tmp_path) -> FolderTier:
    return FolderTier("cold", tmp_path / "tier")


# The format


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", SIZES)
def test_blob_round_trip(kind, size):
    data = KINDS[kind](size)
    blob, info = encode(data)
    assert info == BlobInfo(size=size, stored=len(blob), frames=-(-size // FRAME))
    index = index_of(blob)
    assert index.size == size and len(index.frames) == info.frames
    # Every frame whole but the last: a reader finds any offset's frame by arithmetic, and the
    # index accounts for every byte of the blob.
    assert [f.length for f in index.frames[:-1]] == [FRAME] * (info.frames - 1 if info.frames else 0)
    assert index.blob_length == len(blob)
    assert decode(blob, 0, size - 1) == data


@pytest.mark.parametrize("piece", [1, 7777, FRAME - 1, FRAME + 3])
def test_blob_does_not_depend_on_how_the_bytes_arrive(piece):
    data = mixed_bytes(3 * FRAME + 999) if piece > 1 else text_bytes(20000)
    assert encode(data, piece) == encode(data)


def test_blob_writer_to_a_function_and_after_finish():
    pieces: list[bytes] = []
    writer = BlobWriter(pieces.append)
    data = bytearray(text_bytes(FRAME + 10))
    writer.write(data)
    data[:] = bytes(len(data))  # the caller reuses its buffer: what was written is not changed
    info = writer.finish()
    assert all(isinstance(p, bytes) for p in pieces)
    blob = b"".join(pieces)
    assert info.stored == len(blob) and decode(blob, 0, info.size - 1) == text_bytes(FRAME + 10)
    with pytest.raises(ValueError):
        writer.write(b"more")
    with pytest.raises(ValueError):
        writer.finish()


def test_random_data_is_stored_raw():
    data = random_bytes(4 * FRAME + 500)
    blob, info = encode(data)
    assert all(f.raw for f in index_of(blob).frames)
    assert info.stored == info.size + footer_size(info.frames)
    assert footer_size(info.frames) == info.frames * ENTRY + TRAILER_SIZE


def test_zeros_and_text_compress():
    for data, ratio in [(bytes(3 * FRAME), 1000), (text_bytes(3 * FRAME), 2)]:
        blob, info = encode(data)
        assert not any(f.raw for f in index_of(blob).frames)
        assert info.stored * ratio < info.size


def test_compressed_only_when_it_saves_a_sixteenth():
    rng = random.Random(5)
    # Bytes of 195 values (zstd saves ~6%, less than 1/16) and of 150 (~10%).
    slightly, enough = (bytes(b % k for b in rng.randbytes(FRAME)) for k in (195, 150))
    zstd = zstandard.ZstdCompressor(level=3)
    assert len(zstd.compress(slightly)) < FRAME, "the premise: zstd does make it smaller"
    blob, info = encode(slightly + enough)
    first, second = index_of(blob).frames
    assert first.raw and first.stored_length == FRAME
    assert not second.raw and second.stored_length * 16 <= FRAME * 15
    assert decode(blob, 0, info.size - 1) == slightly + enough


def test_frames_for():
    blob, _ = encode(bytes(3 * FRAME + 10))
    index = index_of(blob)
    offsets = lambda start, end: [f.offset for f in index.frames_for(start, end)]  # noqa: E731
    assert offsets(0, 0) == [0]
    assert offsets(FRAME - 1, FRAME) == [0, FRAME]
    assert offsets(FRAME, 2 * FRAME - 1) == [FRAME]
    assert offsets(0, 3 * FRAME + 9) == [0, FRAME, 2 * FRAME, 3 * FRAME]
    assert offsets(3 * FRAME + 9, 3 * FRAME + 9) == [3 * FRAME]
    assert offsets(5, 4) == [] and offsets(0, -1) == []
    for start, end in [(-1, 0), (0, 3 * FRAME + 10), (5, 3), (3 * FRAME + 11, 3 * FRAME + 10)]:
        with pytest.raises(ValueError):
            index.frames_for(start, end)
    empty = index_of(encode(b"")[0])
    assert empty.frames_for(0, -1) == []
    with pytest.raises(ValueError):
        empty.frames_for(0, 0)


MIXED = mixed_bytes(5 * FRAME + 4321)
MIXED_BLOB = encode(MIXED)[0]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_blob_ranges(data):
    size = len(MIXED)
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.one_of(st.integers(start, min(start + 2 * FRAME, size - 1)), st.integers(start, size - 1)))
    assert decode(MIXED_BLOB, start, end) == MIXED[start : end + 1]


def test_decode_frame_checks_its_length_and_digest():
    blob, _ = encode(text_bytes(FRAME + 5))
    frame = index_of(blob).frames[0]
    stored = blob[frame.stored_offset : frame.stored_end]
    assert decode_frame(frame, stored) == text_bytes(FRAME)
    for bad in (stored[:-1], stored + b"x", bytes([stored[0] ^ 1]) + stored[1:]):
        with pytest.raises(TierCorrupt):
            decode_frame(frame, bad)


@pytest.mark.parametrize("position", range(TRAILER_SIZE))
def test_any_flipped_trailer_byte_is_caught(position):
    blob = bytearray(encode(text_bytes(FRAME + 5))[0])
    blob[len(blob) - TRAILER_SIZE + position] ^= 0x10
    with pytest.raises(TierCorrupt):
        index_of(bytes(blob))


def test_flipped_index_bytes_are_caught():
    blob, info = encode(mixed_bytes(3 * FRAME + 5))
    start = len(blob) - TRAILER_SIZE - info.frames * ENTRY
    for position in range(start, len(blob) - TRAILER_SIZE):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(TierCorrupt):
            index_of(bytes(damaged))


def test_a_blob_of_another_length_is_caught():
    blob, _ = encode(text_bytes(2 * FRAME + 5))
    trailer = parse_trailer(blob[-TRAILER_SIZE:])
    offset, length = index_span(trailer, len(blob))
    # The right index and trailer, but frames missing or extra before them.
    for blob_length in (len(blob) - 1, len(blob) + 1, len(blob) + FRAME):
        with pytest.raises(TierCorrupt):
            parse_index(blob[offset : offset + length], trailer, blob_length)
    with pytest.raises(TierCorrupt):
        index_span(trailer, length + TRAILER_SIZE - 1)
    with pytest.raises(TierCorrupt):
        parse_trailer(blob[-TRAILER_SIZE + 1 :])


# The folder tier


def test_folder_tier_is_a_tier_store(tier, tmp_path):
    assert isinstance(tier, TierStore)
    assert tier.name == "cold" and tier.describe() == f"folder {tmp_path / 'tier'}"
    assert (tmp_path / "tier").is_dir()
    assert DEFAULT_TIER_FOLDER == "tiers"


@pytest.mark.parametrize("kind", ["text", "random"])
@pytest.mark.parametrize("size", SIZES)
def test_folder_round_trip(tier, kind, size):
    data = KINDS[kind](size)
    info = tier.put("bkt-0a1b/data-1", iter([data[: size // 3], data[size // 3 :]]))
    assert info.size == size and info.frames == -(-size // FRAME)
    assert (tier.root / "bkt-0a1b" / "data-1.tb").stat().st_size == info.stored
    pieces = list(tier.read("bkt-0a1b/data-1", 0, size - 1))
    assert b"".join(pieces) == data
    assert len(pieces) == info.frames  # one piece per frame
    assert tier.index("bkt-0a1b/data-1").size == size


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_folder_ranges(tmp_path_factory, data):
    tier = _ranges_tier(tmp_path_factory)
    size = len(MIXED)
    start = data.draw(st.integers(0, size))
    end = data.draw(st.integers(start - 1, size - 1))
    assert b"".join(tier.read("r/mixed", start, end)) == MIXED[start : end + 1]


_RANGES: dict[str, FolderTier] = {}


def _ranges_tier(tmp_path_factory) -> FolderTier:
    if "tier" not in _RANGES:
        _RANGES["tier"] = FolderTier("cold", tmp_path_factory.mktemp("ranges"))
        _RANGES["tier"].put("r/mixed", [MIXED])
    return _RANGES["tier"]


def test_bad_ranges(tier):
    tier.put("a", [b"0123456789"])
    assert list(tier.read("a", 0, -1)) == [] and list(tier.read("a", 10, 9)) == []
    for start, end in [(-1, 3), (0, 10), (5, 3), (11, 12)]:
        with pytest.raises(ValueError):
            tier.read("a", start, end)
    tier.put("empty", [])
    assert list(tier.read("empty", 0, -1)) == []


def test_folder_reads_only_the_frames_it_needs(tier, monkeypatch):
    data = mixed_bytes(6 * FRAME)
    tier.put("big", [data])
    index = tier.index("big")
    frame = index.frames[3]
    reads: list[tuple[int, int]] = []
    real = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: reads.append((n, off)) or real(fd, n, off))
    assert b"".join(tier.read("big", 3 * FRAME + 5, 3 * FRAME + 10)) == data[3 * FRAME + 5 : 3 * FRAME + 11]
    # The trailer, the index, the one frame: nothing else, however large the blob.
    assert reads == [
        (TRAILER_SIZE, index.blob_length - TRAILER_SIZE),
        (6 * ENTRY, index.stored_frames),
        (frame.stored_length, frame.stored_offset),
    ]


def _flip(path: Path, position: int) -> None:
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ 0x40]))


@pytest.mark.parametrize("kind", ["text", "random"])
def test_a_flipped_frame_byte_is_caught_and_other_frames_still_read(tier, kind):
    data = KINDS[kind](5 * FRAME)
    tier.put("x", [data])
    frame = tier.index("x").frames[2]
    _flip(tier.path("x"), frame.stored_offset + frame.stored_length // 2)
    for start, end in [(2 * FRAME, 2 * FRAME), (FRAME + 10, 4 * FRAME), (0, 5 * FRAME - 1)]:
        pieces = tier.read("x", start, end)  # the trailer and index are fine: the call succeeds
        with pytest.raises(TierCorrupt):
            b"".join(pieces)
    # The frames before the damaged one come out before it is reached.
    pieces = tier.read("x", 0, 5 * FRAME - 1)
    assert next(pieces) + next(pieces) == data[: 2 * FRAME]
    with pytest.raises(TierCorrupt):
        next(pieces)
    for start, end in [(0, 2 * FRAME - 1), (3 * FRAME, 5 * FRAME - 1), (FRAME - 1, FRAME)]:
        assert b"".join(tier.read("x", start, end)) == data[start : end + 1]


def test_flipped_index_or_trailer_bytes_on_disk(tier):
    tier.put("x", [mixed_bytes(3 * FRAME)])
    length = tier.path("x").stat().st_size
    good = tier.path("x").read_bytes()
    for position in [*range(length - TRAILER_SIZE - 3 * ENTRY, length, 7), length - 1]:
        _flip(tier.path("x"), position)
        with pytest.raises(TierCorrupt):
            tier.read("x", 0, 0)
        tier.path("x").write_bytes(good)
    assert b"".join(tier.read("x", 0, 10)) == mixed_bytes(11)


@pytest.mark.parametrize("cut", [1, TRAILER_SIZE, 1000, "half", "to-50", "to-0"])
def test_a_truncated_blob_is_caught(tier, cut):
    tier.put("x", [mixed_bytes(2 * FRAME + 77)])
    path = tier.path("x")
    length = path.stat().st_size
    keep = {"half": length // 2, "to-50": 50, "to-0": 0}.get(cut, length - cut if isinstance(cut, int) else 0)
    os.truncate(path, keep)
    with pytest.raises(TierCorrupt):
        tier.read("x", 0, 0)


def test_a_blob_with_bytes_appended_is_caught(tier):
    tier.put("x", [b"hello"])
    with open(tier.path("x"), "ab") as f:
        f.write(b"\0")
    with pytest.raises(TierCorrupt):
        tier.read("x", 0, 0)


def test_missing_exists_delete(tier):
    with pytest.raises(TierMissing):
        tier.read("b/nothing", 0, 0)
    with pytest.raises(TierMissing):
        tier.index("b/nothing")
    assert not tier.exists("b/nothing")
    tier.delete("b/nothing")  # nothing there: fine
    tier.put("b/thing", [b"abc"])
    assert tier.exists("b/thing")
    tier.delete("b/thing")
    tier.delete("b/thing")
    assert not tier.exists("b/thing")
    with pytest.raises(TierMissing):
        tier.read("b/thing", 0, 0)
    assert isinstance(TierMissing("x"), TierError) and isinstance(TierCorrupt("x"), TierError)


def test_usage(tier):
    assert tier.usage() == TierUsage(objects=0, stored=0)
    a = tier.put("b1/a", [random_bytes(3000)])
    b = tier.put("b2/deep/b", [bytes(FRAME * 2)])
    (tier.root / "b1" / ".tmp-0123456789abcdef0123456789abcdef").write_bytes(b"x" * 100)  # not a blob
    assert tier.usage() == TierUsage(objects=2, stored=a.stored + b.stored)
    tier.delete("b1/a")
    assert tier.usage() == TierUsage(objects=1, stored=b.stored)


VALID_REFS = ["a", "bucket-0af3/0123abcd", "a/b/c.d_e-f", "x.tb.y", "A.B/..c", "...", "a/b.tb"]
INVALID_REFS = [
    "",
    "/abs",
    "a/",
    "a//b",
    "../a",
    "a/../b",
    "a/./b",
    ".",
    "..",
    "a\\b",
    "..\\a",
    "a b",
    "a\0b",
    "é",
    "a:b",
    "a.tb/b",  # a folder where another ref's blob ("a") would be
    "x" * 201,
    "a/" * 600 + "b",
]


@pytest.mark.parametrize("ref", VALID_REFS)
def test_valid_refs(tier, ref):
    assert check_ref(ref) == ref
    tier.put(ref, [ref.encode()])
    assert b"".join(tier.read(ref, 0, len(ref) - 1)) == ref.encode()
    assert tier.path(ref).resolve().is_relative_to(tier.root.resolve())


@pytest.mark.parametrize("ref", INVALID_REFS)
def test_invalid_refs(tier, ref):
    for call in (lambda: tier.put(ref, [b"x"]), lambda: tier.read(ref, 0, 0), lambda: tier.exists(ref), lambda: tier.delete(ref)):
        with pytest.raises(ValueError):
            call()
    assert list(tier.root.iterdir()) == []


# The folder tier: crash safety


def test_put_is_durable_before_it_returns(tier, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_fsync_dir = os.fsync, os.replace, store_module.fsync_dir

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if not os.path.isdir(path):  # a folder's is fsync_dir's, recorded as such
            events.append(("fsync", path))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    def fsync_dir(path):
        events.append(("fsync_dir", str(path)))
        real_fsync_dir(path)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(store_module, "fsync_dir", fsync_dir)
    tier.put("new/folder/ref", [b"data"])
    root = str(tier.root)
    final = f"{root}/new/folder/ref.tb"
    assert events[:2] == [("fsync_dir", root), ("fsync_dir", f"{root}/new")]  # each folder made, in its parent
    kind, temp = events[2]
    assert kind == "fsync" and Path(temp).parent == Path(final).parent and Path(temp).name.startswith(".tmp-")
    assert events[3:] == [("replace", final), ("fsync_dir", f"{root}/new/folder")]


def test_an_interrupted_put_leaves_the_old_blob(tier):
    tier.put("b/x", [b"old"])

    def chunks():
        yield b"new " * 1000
        raise RuntimeError("the source failed")

    with pytest.raises(RuntimeError):
        tier.put("b/x", chunks())
    assert b"".join(tier.read("b/x", 0, 2)) == b"old"
    assert [p.name for p in (tier.root / "b").iterdir()] == ["x.tb"]  # its temp file removed


def test_overwrite_keeps_the_old_blob_until_the_replace(tier):
    old, new = text_bytes(3 * FRAME, seed=1), random_bytes(2 * FRAME + 3)
    tier.put("b/x", [old])
    started = tier.read("b/x", 0, len(old) - 1)
    first = next(started)

    def chunks():
        for i in range(0, len(new), FRAME // 2):
            # Midway through writing the new blob, the old one is whole under the ref.
            assert b"".join(tier.read("b/x", 0, len(old) - 1)) == old
            yield new[i : i + FRAME // 2]

    assert tier.put("b/x", chunks()).size == len(new)
    assert b"".join(tier.read("b/x", 0, len(new) - 1)) == new
    # A read that began before the replace reads the blob it opened to the end.
    assert first + b"".join(started) == old
    assert tier.usage().objects == 1


CRASHING_PUT = """
import os, sys, time
from pathlib import Path
from hoard.tiers import FolderTier

def chunks():
    yield os.urandom(3 << 20)
    print("writing", flush=True)
    time.sleep(60)
    yield b"never"

FolderTier("cold", Path(sys.argv[1])).put("b/x", chunks())
"""


def test_a_killed_put_leaves_a_temp_file_swept_later(tier):
    tier.put("b/x", [b"old"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_PUT, str(tier.root)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline() == b"writing\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    temps = [p for p in (tier.root / "b").iterdir() if p.name.startswith(".tmp-")]
    assert len(temps) == 1 and temps[0].stat().st_size > 0
    # The crash is invisible: the old blob is the ref's, the temp file is no blob.
    assert b"".join(tier.read("b/x", 0, 2)) == b"old"
    assert tier.exists("b/x") and tier.usage().objects == 1
    assert tier.sweep_temp(3600) == 0  # young: it could be a put still running
    assert temps[0].exists()
    old = time.time() - 7200
    os.utime(temps[0], (old, old))
    assert tier.sweep_temp(3600) == 1
    assert not temps[0].exists()
    assert [p.name for p in (tier.root / "b").iterdir()] == ["x.tb"]


def test_sweep_keeps_blobs_named_like_temp_files(tier):
    tier.put("b/.tmp-0123456789abcdef0123456789abcdef", [b"a blob"])
    tier.put("b/.tmp-x", [b"another"])
    assert tier.sweep_temp(0) == 0
    assert tier.usage().objects == 2


# open_tier


def test_open_folder_tiers(tmp_path):
    for spec in (str(tmp_path / "a"), f"file://{tmp_path / 'b'}", f"file://localhost{tmp_path / 'c'}"):
        tier = open_tier("cold", spec, None)
        assert isinstance(tier, FolderTier) and tier.name == "cold"
        assert tier.root.is_dir()
    assert open_tier("cold", f"file://{tmp_path}/with%20space", None).root == tmp_path / "with space"
    for spec in ("relative/path", "", "file://otherhost/x", "file:relative", "s3://bucket", "remote:"):
        with pytest.raises(ValueError):
            open_tier("cold", spec, None)


def test_open_remote_tiers():
    from hoard.tiers.s3tier import S3Tier

    made = []

    def client_for_remote(name):
        if name != "backup-site":
            raise KeyError(name)
        return lambda: made.append(name)

    tier = open_tier("cold", "remote:backup-site/archive-bucket/hoard/cold", client_for_remote)
    assert isinstance(tier, S3Tier) and isinstance(tier, TierStore)
    assert (tier.name, tier.bucket, tier.prefix) == ("cold", "archive-bucket", "hoard/cold/")
    assert tier.key("b/x") == "hoard/cold/b/x.tb"
    assert made == []  # no client until one is needed
    tier = open_tier("cold", "remote:backup-site/archive-bucket", client_for_remote)
    assert tier.prefix == "" and tier.key("b/x") == "b/x.tb"
    with pytest.raises(ValueError, match="no remote named 'elsewhere'"):
        open_tier("cold", "remote:elsewhere/archive-bucket", client_for_remote)
    with pytest.raises(ValueError, match="no remote named"):
        open_tier("cold", "remote:backup-site/archive-bucket", None)
    for spec in (
        "remote:backup-site",
        "remote:backup-site/",
        "remote:/bucket",
        "remote:backup-site/Bad_Bucket",
        "remote:backup-site/b/../x",
    ):
        with pytest.raises(ValueError):
            open_tier("cold", spec, client_for_remote)


def test_s3_errors_are_tier_errors():
    from hoard.tiers.s3tier import _translate

    def client_error(code, status):
        return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")

    assert isinstance(_translate(client_error("NoSuchKey", 404), "x"), TierMissing)
    assert isinstance(_translate(client_error("404", 404), "x"), TierMissing)
    for code, status in [("SlowDown", 503), ("InternalError", 500), ("Throttling", 400), ("RequestTimeout", 400), ("", 502), ("X", 429)]:
        assert isinstance(_translate(client_error(code, status), "x"), TierUnavailable), code
    for code, status in [("AccessDenied", 403), ("NoSuchBucket", 404), ("InvalidAccessKeyId", 403)]:
        error = _translate(client_error(code, status), "x")
        assert type(error) is TierError and code in str(error)
    assert isinstance(_translate(EndpointConnectionError(endpoint_url="http://x"), "x"), TierUnavailable)
    assert isinstance(_translate(ConnectTimeoutError(endpoint_url="http://x"), "x"), TierUnavailable)
    try:
        try:
            raise client_error("SlowDown", 503)
        except ClientError:
            raise S3UploadFailedError("wrapped")  # noqa: B904 - as boto3 raises it
    except S3UploadFailedError as wrapped:
        assert isinstance(_translate(wrapped, "x"), TierUnavailable)
    try:
        try:
            raise client_error("PreconditionFailed", 412)
        except ClientError:
            raise TierCorrupt("found after a 412") from None
    except TierCorrupt as corrupt:
        assert _translate(corrupt, "x") is None  # not taken for the error it was raised while handling
    assert _translate(KeyError("k"), "x") is None
