"""The on-disk format does not drift: drives written by an earlier Hoard (tests/fixtures/ondisk/,
made once per format version by its generate.py) are read back whole by today's.

Three readers, each on a copy of the fixture:
- a server started on the drives as they were left, index included;
- a server that must rebuild its index from the drives alone (the index deleted);
- by hand, with no Hoard code: records and shard files parsed as ARCHITECTURE.md describes them,
  blocks decoded with pyeclib (and, for data fragments, by stripping pyeclib's header), so the
  documented recovery procedure is checked against real files and a pyeclib upgrade that changed
  its fragment format or its parity would fail here.

A format change that fails these tests needs a new format version, a migration of the old
drives, and a new fixture next to the old one (ARCHITECTURE.md, "Format version").
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import blake3
import pytest
from botocore.exceptions import ClientError
from pyeclib.ec_iface import ECDriver

from hoard.storage.pool import FORMAT_VERSION
from tests.conftest import HoardServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ondisk"
CURRENT = FIXTURES / f"v{FORMAT_VERSION}"
MANIFEST = json.loads((CURRENT / "manifest.json").read_text())
DEPLOYMENTS = sorted(MANIFEST["deployments"])

# The format, as ARCHITECTURE.md states it; written out here, not imported, on purpose.
RECORD_MAGIC = b"HOARDREC1\n"
HASH_SIZE = 32
BLOCK_SIZE = 1024 * 1024
PYECLIB_HEADER = 80
EC_TYPE = "isa_l_rs_vand"


def copy_of(deployment: str, tmp_path: Path) -> list[Path]:
    target = tmp_path / deployment
    shutil.copytree(CURRENT / deployment, target)
    return sorted(p for p in target.iterdir() if p.is_dir())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fixture_is_the_current_format():
    """The fixture read here is the one for the format this Hoard writes: a bump of
    FORMAT_VERSION without a fixture (and migration) for it fails at once."""
    assert MANIFEST["format"] == FORMAT_VERSION
    for deployment in DEPLOYMENTS:
        for drive in (CURRENT / deployment).iterdir():
            assert json.loads((drive / ".hoard" / "format.json").read_text())["format"] == FORMAT_VERSION


# --- by hand ----------------------------------------------------------------------------------


def parse_record(data: bytes) -> tuple[dict, bytes]:
    """(the record's JSON, this drive's inline fragment)."""
    assert data.startswith(RECORD_MAGIC)
    body, digest = data[:-HASH_SIZE], data[-HASH_SIZE:]
    assert blake3.blake3(body).digest() == digest, "record checksum"
    start = len(RECORD_MAGIC) + 4
    (length,) = struct.unpack(">I", body[len(RECORD_MAGIC) : start])
    return json.loads(body[start : start + length].decode("utf-8")), body[start + length :]


def decode_block(fragments: dict[int, bytes], k: int, m: int, block_len: int) -> bytes:
    """One block from its fragments (index -> fragment), every way the format allows."""
    if k == 1:
        blocks = set(fragments.values())  # mirrors and one drive: each fragment is the block
        assert len(blocks) == 1
        return blocks.pop()
    driver = ECDriver(k=k, m=m, ec_type=EC_TYPE)
    from_data = driver.decode([fragments[i] for i in range(k)])
    # Any k fragments will do; the last k lean on parity the most.
    from_parity = driver.decode([fragments[i] for i in range(m, k + m)])
    by_hand = b"".join(fragments[i][PYECLIB_HEADER:] for i in range(k))[:block_len]
    assert from_data == from_parity == by_hand
    assert len(from_data) == block_len
    # Healing encodes the block again and writes the missing fragment beside the stored ones: the
    # installed pyeclib must compute the same data and parity (its header may carry its own
    # version: pyeclib 1.6.4 and 1.8.0 differ there and only there), and a fresh fragment must
    # decode together with stored ones.
    fresh = driver.encode(from_data)
    assert [f[PYECLIB_HEADER:] for f in fresh] == [fragments[i][PYECLIB_HEADER:] for i in range(k + m)]
    assert driver.decode([fresh[k + m - 1], *(fragments[i] for i in range(k - 1))]) == from_data
    return from_data


def read_by_hand(drives: list[Path]) -> dict[tuple[str, str], tuple[dict, bytes]]:
    """Every object on the drives: (bucket, key) -> (its record, its bytes)."""
    formats = [json.loads((d / ".hoard" / "format.json").read_text()) for d in drives]
    by_position = {f["position"]: d for f, d in zip(formats, drives, strict=True)}
    sets = formats[0]["sets"]
    records: dict[str, dict[int, tuple[dict, bytes]]] = {}
    for drive in drives:
        for path in (drive / ".hoard" / "records").glob("*/*"):
            doc, inline = parse_record(path.read_bytes())
            assert path.name == doc["data_id"] and path.parent.name == doc["data_id"][:2]
            records.setdefault(doc["data_id"], {})[doc["fragment"]] = (doc, inline)
    objects = {}
    for copies in records.values():
        doc = next(iter(copies.values()))[0]
        set_index, k, m, distribution = doc["placement"]
        assert sorted(copies) == list(range(k + m)), "a record on every drive of the set"
        for fragment, (copy, _) in copies.items():
            assert {**copy, "fragment": 0} == {**doc, "fragment": 0}
            assert fragment == copy["fragment"]
        holder = [by_position[sets[set_index][distribution[i]]] for i in range(k + m)]
        if doc["inline"]:
            data = decode_block({i: copies[i][1] for i in copies}, k, m, doc["size"]) if doc["size"] else b""
        else:
            data = b""
            for shard_id, size, _etag, _checksum in doc["segments"]:
                files = [(holder[i] / ".hoard" / "shards" / shard_id[:2] / shard_id).read_bytes() for i in range(k + m)]
                blocks = -(-size // BLOCK_SIZE)
                full = len(ECDriver(k=k, m=m, ec_type=EC_TYPE).encode(bytes(BLOCK_SIZE))[0]) if k > 1 else BLOCK_SIZE
                for b in range(blocks):
                    offset = b * (HASH_SIZE + full)
                    fragments = {}
                    for i, file in enumerate(files):
                        end = offset + HASH_SIZE + full if b < blocks - 1 else len(file)
                        digest, fragment = file[offset : offset + HASH_SIZE], file[offset + HASH_SIZE : end]
                        assert blake3.blake3(fragment).digest() == digest, f"block {b} of {shard_id} on drive {i}"
                        fragments[i] = fragment
                    data += decode_block(fragments, k, m, min(BLOCK_SIZE, size - b * BLOCK_SIZE))
        assert len(data) == doc["size"]
        objects[(doc["bucket"], doc["key"])] = (doc, data)
    return objects


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_fixture_decodes_by_hand(tmp_path, deployment):
    expected = MANIFEST["deployments"][deployment]
    objects = read_by_hand(copy_of(deployment, tmp_path))
    assert sorted(objects) == sorted((o["bucket"], o["key"]) for o in expected["objects"])
    for entry in expected["objects"]:
        doc, data = objects[(entry["bucket"], entry["key"])]
        assert sha256(data) == entry["sha256"], entry["key"]
        assert doc["etag"] == entry["etag"] and doc["storage_class"] == entry["storage_class"]
        assert doc["tags"] == entry["tags"]
        assert {f"x-amz-meta-{k}": v for k, v in entry["metadata"].items()}.items() <= doc["headers"].items()
        assert entry["headers"].items() <= doc["headers"].items()
        offset = 0
        for part, segment in zip(entry["parts"], doc["segments"], strict=False):
            assert segment[1] == part["size"]
            assert sha256(data[offset : offset + part["size"]]) == part["sha256"]
            offset += part["size"]


# --- by a server ------------------------------------------------------------------------------


def check_served(srv: HoardServer, expected: dict) -> None:
    s3 = srv.client()
    for bucket, config in expected["buckets"].items():
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert listed == sorted(o["key"] for o in expected["objects"] if o["bucket"] == bucket)
        try:
            tags = [[t["Key"], t["Value"]] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]]
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NoSuchTagSet"
            tags = []
        assert tags == config["tags"]
    for entry in expected["objects"]:
        bucket, key = entry["bucket"], entry["key"]
        got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        data = got["Body"].read()
        assert (len(data), sha256(data)) == (entry["size"], entry["sha256"]), key
        headers = got["ResponseMetadata"]["HTTPHeaders"]
        assert got["ETag"] == entry["etag"]
        assert headers["last-modified"] == entry["last_modified"]
        assert got.get("StorageClass", "STANDARD") == entry["storage_class"]
        assert got["Metadata"] == entry["metadata"]
        assert {name: headers.get(name) for name in entry["headers"]} == entry["headers"]
        assert {k: v for k, v in got.items() if k.startswith("Checksum") and k != "ChecksumType"} == entry["checksum"]
        assert [[t["Key"], t["Value"]] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]] == entry["tags"]
        for number, part in enumerate(entry["parts"], start=1):
            piece = s3.get_object(Bucket=bucket, Key=key, PartNumber=number)
            assert piece["PartsCount"] == len(entry["parts"])
            assert sha256(piece["Body"].read()) == part["sha256"]
    # And the drives still take writes: the old deployment is a live one.
    bucket = next(iter(expected["buckets"]))
    s3.put_object(Bucket=bucket, Key="written-after-upgrade", Body=b"new")
    assert s3.get_object(Bucket=bucket, Key="written-after-upgrade")["Body"].read() == b"new"


@pytest.mark.parametrize("index", ["as-left", "rebuilt"])
@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_fixture_is_served(tmp_path, deployment, index):
    drives = copy_of(deployment, tmp_path)
    if index == "rebuilt":
        for drive in drives:
            for path in (drive / ".hoard").glob("meta.db*"):
                path.unlink()
    srv = HoardServer(tmp_path / "data", drives=drives).start()
    try:
        check_served(srv, MANIFEST["deployments"][deployment])
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()
    if index == "rebuilt":
        assert "rebuilt the index from the drives" in srv.log()


def test_a_newer_format_is_refused(tmp_path):
    """Drives of a format this Hoard does not know (a newer Hoard's) are not touched."""
    drives = copy_of("four-drives", tmp_path)
    for drive in drives:
        path = drive / ".hoard" / "format.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "format": FORMAT_VERSION + 1}))

    def contents() -> dict:
        # The drive lock (.hoard/lock, the holder's pid) is taken before the format is read: it
        # is how a server tells others the drive is in use, not data.
        return {p: p.read_bytes() for d in drives for p in d.rglob("*") if p.is_file() and p.name != "lock"}

    before = contents()
    srv = HoardServer(tmp_path / "data", drives=drives)
    with pytest.raises(RuntimeError, match="exited early"):
        srv.start()
    assert f"format {FORMAT_VERSION + 1}" in srv.log()
    assert contents() == before
