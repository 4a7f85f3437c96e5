"""Chaos on eight drives: lost drives, rotten bits, too many failures, and a deleted index.

Every check compares content by SHA-256. The drive files are inspected with the documented
on-disk format (ARCHITECTURE.md): version records and shard files with a BLAKE3 per block.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from hoard.storage import record as record_file
from hoard.storage.bitrot import HASH_SIZE, block_hash
from hoard.storage.erasure import codec
from hoard.storage.shardfile import ShardGeometry
from tests.conftest import HoardServer, wait_for

DRIVES = 8
PARITY = 4  # the default for sets of 8
MiB = 1024 * 1024
SIZES = {"empty": 0, "one-byte": 1, "four-k": 4096, "just-over-a-mib": MiB + 1}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start(tmp_path: Path, **env: str) -> HoardServer:
    drives = [tmp_path / f"disk{i}" for i in range(1, DRIVES + 1)]
    extra = {"HOARD_PROBE_INTERVAL": "0.5", **env}
    return HoardServer(tmp_path / "logs", drives=drives, env_extra=extra).start()


def restart(srv: HoardServer) -> HoardServer:
    srv.stop()
    return HoardServer(srv.data_dir, port=srv.port, drives=srv.drives, env_extra=srv.env_extra).start()


def put_fixture_objects(srv: HoardServer) -> dict[str, str]:
    """The issue's objects: 0 B, 1 B, 4 KiB, 1 MiB + 1 B, a 70 MiB multipart object, and versions of one key."""
    c = srv.client()
    c.create_bucket(Bucket="chaos")
    digests: dict[str, str] = {}
    for key, size in SIZES.items():
        body = os.urandom(size)
        c.put_object(Bucket="chaos", Key=key, Body=body)
        digests[key] = sha(body)
    upload = c.create_multipart_upload(Bucket="chaos", Key="multipart-70m")
    parts, whole = [], hashlib.sha256()
    for n, size in enumerate((16 * MiB, 16 * MiB, 16 * MiB, 16 * MiB, 6 * MiB), start=1):
        body = os.urandom(size)
        whole.update(body)
        etag = c.upload_part(Bucket="chaos", Key="multipart-70m", UploadId=upload["UploadId"], PartNumber=n, Body=body)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    c.complete_multipart_upload(Bucket="chaos", Key="multipart-70m", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    digests["multipart-70m"] = whole.hexdigest()
    for version in range(3):  # only the last one written is the object
        body = os.urandom(200 * 1024 + version)
        c.put_object(Bucket="chaos", Key="versioned", Body=body)
    digests["versioned"] = sha(body)
    return digests


def read_back(srv: HoardServer, digests: dict[str, str]) -> None:
    c = srv.client()
    for key, digest in digests.items():
        assert sha(c.get_object(Bucket="chaos", Key=key)["Body"].read()) == digest, key
        # A range inside the object decodes only the blocks it needs.
        size = c.head_object(Bucket="chaos", Key=key)["ContentLength"]
        if size > 2:
            got = c.get_object(Bucket="chaos", Key=key, Range=f"bytes=1-{size - 2}")["Body"].read()
            assert len(got) == size - 2, key


def drive_records(drive: Path) -> list[record_file.StoredRecord]:
    out = []
    for path in (drive / ".hoard" / "records").glob("*/*"):
        out.append(record_file.decode(path.read_bytes()))  # raises on a bad checksum
    return out


def verify_shard(path: Path, geometry: ShardGeometry) -> bool:
    data = path.read_bytes()
    if len(data) != geometry.file_size():
        return False
    for b in range(geometry.blocks):
        start = geometry.offset(b)
        stored, fragment = data[start : start + HASH_SIZE], data[start + HASH_SIZE : start + HASH_SIZE + geometry.fragment_size(b)]
        if block_hash(fragment) != stored:
            return False
    return True


def assert_every_shard_present_and_good(srv: HoardServer, keys: set[str]) -> None:
    """Each drive holds a valid record of every current version and a verified shard file per part."""
    for drive in srv.drives:
        records = {r.record.key: r for r in drive_records(drive)}
        assert set(records) == keys, f"{drive}: records for {sorted(records)}"
        for stored in records.values():
            r = stored.record
            position = r.placement.distribution[stored.fragment]
            assert srv.drives[position] == drive, "a record names the wrong fragment for its drive"
            if r.inline:
                continue
            c = codec(r.placement.data, r.placement.parity)
            for seg in r.segments:
                path = drive / ".hoard" / "shards" / seg.blob[:2] / seg.blob
                assert path.exists(), f"{drive}: shard of {r.key} missing"
                assert verify_shard(path, ShardGeometry(seg.size, c)), f"{drive}: shard of {r.key} fails its checksums"


def stop_clean(srv: HoardServer) -> None:
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def remove_drives(srv: HoardServer, indexes: list[int]) -> None:
    # Gone at once, as a pulled drive is: renamed away first, so the server (healing in the
    # background) cannot write into a folder that is half deleted.
    for i in indexes:
        gone = srv.drives[i].with_name(f"{srv.drives[i].name}.gone-{time.monotonic_ns()}")
        srv.drives[i].rename(gone)
        shutil.rmtree(gone)


def restore_empty(srv: HoardServer, indexes: list[int]) -> None:
    for i in indexes:
        srv.drives[i].mkdir()


def test_lose_drives_read_heal_and_lose_others(tmp_path):
    srv = start(tmp_path)
    try:
        digests = put_fixture_objects(srv)
        assert_every_shard_present_and_good(srv, set(digests))

        remove_drives(srv, [2])
        read_back(srv, digests)
        remove_drives(srv, [0, 5, 7])  # four gone: the parity count
        read_back(srv, digests)
        states = [d["state"] for d in json.loads(srv.admin("info", "--json").stdout)["drives"]]
        assert [i for i, state in enumerate(states) if state == "offline"] == [0, 2, 5, 7], states

        restore_empty(srv, [0, 2, 5, 7])
        srv.admin("heal")
        assert_every_shard_present_and_good(srv, set(digests))
        assert wait_for(lambda: all(d["state"] == "online" for d in json.loads(srv.admin("info", "--json").stdout)["drives"]))

        remove_drives(srv, [1, 3, 4, 6])  # a different four
        read_back(srv, digests)
        # Writes still land with four of eight drives gone: with as many parity as data shards
        # the write quorum is the data count.
        srv.client().put_object(Bucket="chaos", Key="after", Body=b"still writable")
        assert srv.client().get_object(Bucket="chaos", Key="after")["Body"].read() == b"still writable"
    finally:
        stop_clean(srv)


def flip_bytes(path: Path, count: int, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    if not data:
        return
    for _ in range(count):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def test_bitrot_is_never_served_and_is_healed(tmp_path):
    srv = start(tmp_path, HOARD_SCANNER_RATE="0")  # the heal below, not the scanner, must repair
    try:
        digests = put_fixture_objects(srv)
        rng = random.Random(1234)
        rotten = rng.sample(range(DRIVES), PARITY)
        for i in rotten:
            for path in (srv.drives[i] / ".hoard" / "shards").glob("*/*"):
                flip_bytes(path, 5, rng)
            for path in (srv.drives[i] / ".hoard" / "records").glob("*/*"):
                flip_bytes(path, 1, rng)
        read_back(srv, digests)
        srv.admin("heal")
        assert_every_shard_present_and_good(srv, set(digests))
        read_back(srv, digests)
    finally:
        stop_clean(srv)


def test_more_drives_lost_than_parity(tmp_path):
    srv = start(tmp_path)
    try:
        digests = put_fixture_objects(srv)
        remove_drives(srv, [0, 1, 2, 3, 4])
        c = srv.client(read_timeout=30)
        for key, digest in digests.items():
            if key == "empty":
                continue  # nothing to decode: an empty object needs no shard
            try:
                body = c.get_object(Bucket="chaos", Key=key)["Body"].read()
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ServiceUnavailable", e.response
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                continue
            except Exception:  # noqa: BLE001 - a body cut short is the only other honest answer
                continue
            assert sha(body) == digest, f"{key}: wrong bytes served"
        with pytest.raises(ClientError) as err:
            c.put_object(Bucket="chaos", Key="new", Body=b"x" * 1000)
        assert err.value.response["Error"]["Code"] == "SlowDown"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(ClientError) as err:
            c.put_object(Bucket="chaos", Key="new-big", Body=b"x" * (2 * MiB))
        assert err.value.response["Error"]["Code"] == "SlowDown"
        assert "new" not in [o["Key"] for o in c.list_objects_v2(Bucket="chaos").get("Contents", [])]
    finally:
        stop_clean(srv)


def test_index_rebuilt_from_drives(tmp_path):
    srv = start(tmp_path)
    try:
        digests = put_fixture_objects(srv)
        c = srv.client()
        c.create_bucket(Bucket="empty-bucket")
        c.delete_object(Bucket="chaos", Key="four-k")
        del digests["four-k"]
        before = sorted((o["Key"], o["ETag"], o["Size"]) for o in c.list_objects_v2(Bucket="chaos")["Contents"])

        # What a crash between writing a version's records and making its shard files durable
        # leaves: a newer record whose shards are not there. It was never acknowledged.
        (old,) = [r for r in drive_records(srv.drives[0]) if r.record.key == "multipart-70m"]
        ghost = dataclasses.replace(old.record, data_id="f" * 32, last_modified=old.record.last_modified + 60, etag='"ghost"',
                                    segments=tuple(dataclasses.replace(seg, blob="e" * 32) for seg in old.record.segments))
        for drive in srv.drives:
            (drive / ".hoard" / "records" / "ff").mkdir(exist_ok=True)
            (drive / ".hoard" / "records" / "ff" / ghost.data_id).write_bytes(record_file.encode(ghost, old.fragment))

        # While running: rebuild on request.
        out = srv.admin("rebuild-index").stdout
        assert f"{len(digests)} objects" in out, out
        listing = sorted((o["Key"], o["ETag"], o["Size"]) for o in srv.client().list_objects_v2(Bucket="chaos")["Contents"])
        assert listing == before

        # Stopped: the index is deleted, and start-up rebuilds it.
        srv.stop()
        for path in srv.drives[0].glob(".hoard/meta.db*"):
            path.unlink()
        srv = restart(srv)
        c = srv.client()
        assert sorted(b["Name"] for b in c.list_buckets()["Buckets"]) == ["chaos", "empty-bucket"]
        listing = sorted((o["Key"], o["ETag"], o["Size"]) for o in c.list_objects_v2(Bucket="chaos")["Contents"])
        assert listing == before
        read_back(srv, digests)
        with pytest.raises(ClientError):
            c.head_object(Bucket="chaos", Key="four-k")  # deleted stays deleted
    finally:
        stop_clean(srv)


def stored_placement(srv: HoardServer, key: str):
    for drive in srv.drives:
        for stored in drive_records(drive):
            if stored.record.key == key:
                return stored.record.placement
    raise AssertionError(f"no record of {key}")


def test_storage_classes_choose_parity_and_parity_is_configurable(tmp_path):
    srv = start(tmp_path)
    try:
        c = srv.client()
        c.create_bucket(Bucket="classes")
        body = os.urandom(3 * MiB)
        c.put_object(Bucket="classes", Key="standard", Body=body)
        c.put_object(Bucket="classes", Key="rrs", Body=body, StorageClass="REDUCED_REDUNDANCY")
        assert (stored_placement(srv, "standard").data, stored_placement(srv, "standard").parity) == (4, 4)
        assert (stored_placement(srv, "rrs").data, stored_placement(srv, "rrs").parity) == (6, 2)
        assert c.head_object(Bucket="classes", Key="rrs")["StorageClass"] == "REDUCED_REDUNDANCY"
        remove_drives(srv, [1, 6])  # as many as the reduced parity
        assert sha(c.get_object(Bucket="classes", Key="rrs")["Body"].read()) == sha(body)
    finally:
        stop_clean(srv)

    drives = [tmp_path / f"four{i}" for i in range(4)]
    srv = HoardServer(tmp_path / "logs", drives=drives, extra_args=["--parity", "1"]).start()
    try:
        info = srv.admin("info").stdout
        assert "3 data + 1 parity" in info, info
        c = srv.client()
        c.create_bucket(Bucket="one-parity")
        c.put_object(Bucket="one-parity", Key="k", Body=b"z" * (200 * 1024))
        assert (stored_placement(srv, "k").data, stored_placement(srv, "k").parity) == (3, 1)
    finally:
        stop_clean(srv)


def test_drive_ranges_are_expanded(tmp_path):
    # Hoard expands the range itself, as `hoard server /mnt/disk{1...8}` asks.
    srv = HoardServer(tmp_path / "logs", drives=[Path(f"{tmp_path}/d{{1...4}}")]).start()
    try:
        srv.drives = [tmp_path / f"d{i}" for i in range(1, 5)]
        srv.client().create_bucket(Bucket="ranged")
        srv.client().put_object(Bucket="ranged", Key="k", Body=b"hello" * 50_000)
        for drive in srv.drives:
            assert len(drive_records(drive)) == 1
    finally:
        stop_clean(srv)


def test_a_failing_drive_goes_offline_and_comes_back(tmp_path):
    srv = start(tmp_path)
    try:
        digests = put_fixture_objects(srv)
        shards = srv.drives[2] / ".hoard" / "shards"
        moved = tmp_path / "shards-aside"
        shards.rename(moved)
        shards.write_bytes(b"not a directory")  # every shard write on this drive now errors
        c = srv.client()
        body = os.urandom(3 * MiB)
        c.put_object(Bucket="chaos", Key="while-failing", Body=body)
        digests["while-failing"] = sha(body)
        states = [d["state"] for d in json.loads(srv.admin("info", "--json").stdout)["drives"]]
        assert states[2] == "offline", states
        read_back(srv, digests)

        shards.unlink()
        moved.rename(shards)
        assert wait_for(lambda: json.loads(srv.admin("info", "--json").stdout)["drives"][2]["state"] == "online")
        srv.admin("heal")
        assert_every_shard_present_and_good(srv, set(digests))
    finally:
        stop_clean(srv)


def heal_queue_length(srv: HoardServer) -> float:
    from tests.integration.test_metrics_health import scrape, value

    return value(scrape(srv)[1], "hoard_heal_queue")


def test_writes_that_miss_a_drive_are_queued_by_their_commit_and_refilled_when_it_is_back(tmp_path):
    srv = start(tmp_path, HOARD_SCANNER_RATE="0")
    try:
        c = srv.client()
        c.create_bucket(Bucket="chaos")
        c.put_object(Bucket="chaos", Key="before", Body=b"whole")
        assert heal_queue_length(srv) == 0  # a write that reached every drive is not queued
        shards, records = (srv.drives[2] / ".hoard" / name for name in ("shards", "records"))
        moved = {path: tmp_path / f"{path.name}-aside" for path in (shards, records)}
        for path, aside in moved.items():
            path.rename(aside)
            path.write_bytes(b"not a directory")  # every shard and record write on this drive now errors
        bodies = {"small": b"inline", "large": os.urandom(3 * MiB)}
        for key, body in bodies.items():
            c.put_object(Bucket="chaos", Key=key, Body=body)
        upload = c.create_multipart_upload(Bucket="chaos", Key="multipart")
        part_body = os.urandom(5 * MiB)
        etag = c.upload_part(Bucket="chaos", Key="multipart", UploadId=upload["UploadId"], PartNumber=1, Body=part_body)["ETag"]
        # Queued by their commits; retried while the drive is away, never dropped.
        assert heal_queue_length(srv) == 2
        time.sleep(3)
        assert heal_queue_length(srv) == 2

        for path, aside in moved.items():
            path.unlink()
            aside.rename(path)
        assert wait_for(lambda: json.loads(srv.admin("info", "--json").stdout)["drives"][2]["state"] == "online")
        # The upload completes with every drive back: its part, which missed one, queues the object.
        c.complete_multipart_upload(
            Bucket="chaos", Key="multipart", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
        )
        bodies["multipart"] = part_body
        assert wait_for(lambda: heal_queue_length(srv) == 0, timeout=30)
        assert_every_shard_present_and_good(srv, {"before", *bodies})
        digests = {key: sha(body) for key, body in bodies.items()}
        read_back(srv, digests)
    finally:
        stop_clean(srv)


def test_single_drive_never_serves_rotten_bytes(tmp_path):
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_SCANNER_RATE": "0"}).start()
    try:
        c = srv.client()
        c.create_bucket(Bucket="single")
        body = os.urandom(3 * MiB)
        c.put_object(Bucket="single", Key="k", Body=body)
        info = json.loads(srv.admin("info", "--json").stdout)
        assert (len(info["drives"]), info["parity"]) == (1, 0)
        (shard,) = (tmp_path / "data" / ".hoard" / "shards").glob("*/*")
        flip_bytes(shard, 1, random.Random(7))
        try:
            got = c.get_object(Bucket="single", Key="k")["Body"].read()
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ServiceUnavailable"
        except Exception:  # noqa: BLE001 - cut short mid-body: the damage was past the first block
            pass
        else:
            raise AssertionError(f"rotten object served ({len(got)} bytes, intact: {got == body})")
        result = srv.admin("heal", check=False)
        assert result.returncode == 1 and "1 unrecoverable" in result.stdout, result.stdout
    finally:
        stop_clean(srv)


def rot_drive(srv: HoardServer, index: int, rng: random.Random) -> None:
    for path in (srv.drives[index] / ".hoard" / "shards").glob("*/*"):
        flip_bytes(path, 5, rng)


def shards_good(srv: HoardServer, keys: set[str]) -> bool:
    try:
        assert_every_shard_present_and_good(srv, keys)
    except AssertionError:
        return False
    return True


def test_a_read_that_meets_rot_repairs_it(tmp_path):
    # No heal command and no scanner: a read that meets a bad fragment queues the object for
    # repair. Reads use data fragments, so objects whose fragment on the rotten drive is parity
    # are not touched by reading; every object that is, is repaired whole.
    srv = start(tmp_path, HOARD_SCANNER_RATE="0")
    try:
        digests = put_fixture_objects(srv)
        rotten = srv.drives[3]
        read_from_it = {r.record.key for r in drive_records(rotten) if not r.record.inline and r.fragment < r.record.placement.data}
        assert read_from_it, "the placement put no data fragment on this drive"
        rot_drive(srv, 3, random.Random(99))
        read_back(srv, digests)

        def repaired() -> bool:
            for stored in drive_records(rotten):
                r = stored.record
                if r.key in read_from_it:
                    c = codec(r.placement.data, r.placement.parity)
                    for seg in r.segments:
                        if not verify_shard(rotten / ".hoard" / "shards" / seg.blob[:2] / seg.blob, ShardGeometry(seg.size, c)):
                            return False
            return True

        assert wait_for(repaired)
        info = json.loads(srv.admin("info", "--json").stdout)["healing"]
        assert info["repaired_on_read"] >= 1 and info["job"] is None  # no heal job did it
    finally:
        stop_clean(srv)


def test_the_scanner_finds_and_repairs_rot_by_itself(tmp_path):
    srv = start(tmp_path, HOARD_SCANNER_RATE=str(512 * MiB))
    try:
        digests = put_fixture_objects(srv)
        rot_drive(srv, 6, random.Random(7))
        assert not shards_good(srv, set(digests))
        assert wait_for(lambda: shards_good(srv, set(digests)), timeout=60)  # nobody read anything
        status = json.loads(srv.admin("info", "--json").stdout)["healing"]
        assert status["scanner_passes"] >= 1
    finally:
        stop_clean(srv)
