"""Crash safety: SIGKILL mid-write loses nothing acknowledged and leaves no debris after restart."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import HoardServer, wait_for

INLINE_LIMIT = 128 * 1024
# One process, and a supervisor with two workers (killing it kills them: PR_SET_PDEATHSIG).
WORKERS = pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "two-workers"])


def files_under(data_dir, kind: str) -> set[str]:
    """Shard files (kind "shards") or version records ("records") on a drive."""
    root = data_dir / ".hoard" / kind
    return {p.name for sub in root.iterdir() for p in sub.iterdir()}


@WORKERS
def test_startup_removes_temp_files_and_orphans(tmp_path, workers):
    data = tmp_path / "data"
    srv = HoardServer(data, extra_args=workers).start()
    c = srv.client()
    c.create_bucket(Bucket="crash")
    c.put_object(Bucket="crash", Key="kept", Body=b"kept bytes")
    big = os.urandom(INLINE_LIMIT + 1)
    c.put_object(Bucket="crash", Key="big", Body=big)
    srv.stop()

    shards, records = files_under(data, "shards"), files_under(data, "records")
    assert (len(shards), len(records)) == (1, 2)
    # What a crash leaves: a half-written temp file, and a shard file and a version record
    # renamed into place whose metadata commit never happened.
    (data / ".hoard" / "tmp" / "deadbeef").write_bytes(b"partial")
    orphans = [data / ".hoard" / kind / "ab" / ("ab" + "0" * 30) for kind in ("shards", "records")]
    old = time.time() - 60
    for orphan in orphans:
        orphan.write_bytes(b"orphan")
        os.utime(orphan, (old, old))

    srv = HoardServer(data, port=srv.port, extra_args=workers).start()
    try:
        assert list((data / ".hoard" / "tmp").iterdir()) == []
        assert wait_for(lambda: not any(o.exists() for o in orphans))
        assert files_under(data, "shards") == shards
        assert files_under(data, "records") == records
        assert srv.client().get_object(Bucket="crash", Key="kept")["Body"].read() == b"kept bytes"
        assert srv.client().get_object(Bucket="crash", Key="big")["Body"].read() == big
    finally:
        srv.stop()


def test_orphan_sweep_removes_unnamed_files_once_their_grace_is_over(tmp_path):
    """Files no version names that appear while the server runs (a reclaim that missed a drive
    that was away, a cluster node's upload whose commit never came) go without a restart, once
    they have gone unnamed for the grace period; whatever the index names stays, however old."""
    data = tmp_path / "data"
    env = {"HOARD_ORPHAN_GRACE": "4", "HOARD_ORPHAN_SWEEP_INTERVAL": "0.5"}
    srv = HoardServer(data, env_extra=env).start()
    try:
        c = srv.client()
        c.create_bucket(Bucket="sweep")
        big = os.urandom(INLINE_LIMIT + 1)
        c.put_object(Bucket="sweep", Key="big", Body=big)
        upload = c.create_multipart_upload(Bucket="sweep", Key="parts")["UploadId"]
        part = os.urandom(INLINE_LIMIT + 1)
        c.upload_part(Bucket="sweep", Key="parts", UploadId=upload, PartNumber=1, Body=part)
        named_shards, named_records = files_under(data, "shards"), files_under(data, "records")
        assert (len(named_shards), len(named_records)) == (2, 1)  # the object's shard and the part's; one record
        ancient = time.time() - 86400
        for kind in ("shards", "records"):
            for sub in (data / ".hoard" / kind).iterdir():
                for f in sub.iterdir():
                    os.utime(f, (ancient, ancient))
        orphans = [data / ".hoard" / kind / "cd" / ("cd" + "1" * 30) for kind in ("shards", "records")]
        for orphan in orphans:
            orphan.parent.mkdir(exist_ok=True)
            orphan.write_bytes(b"nobody names me")
        time.sleep(1.5)  # three sweeps: the new files are younger than the grace and stay
        assert all(o.exists() for o in orphans)
        assert wait_for(lambda: not any(o.exists() for o in orphans), timeout=15), srv.log()
        assert files_under(data, "shards") == named_shards and files_under(data, "records") == named_records
        assert c.get_object(Bucket="sweep", Key="big")["Body"].read() == big
        etag = c.list_parts(Bucket="sweep", Key="parts", UploadId=upload)["Parts"][0]["ETag"]
        c.complete_multipart_upload(Bucket="sweep", Key="parts", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert c.get_object(Bucket="sweep", Key="parts")["Body"].read() == part
        assert "orphan sweep removed 2 shard files and records that no version named for 4 s" in srv.log()
    finally:
        srv.stop()


@WORKERS
def test_sigkill_during_concurrent_uploads(tmp_path, workers):
    data = tmp_path / "data"
    port = HoardServer(data).port
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()

    for round_no in range(5):
        srv = HoardServer(data, port=port, extra_args=workers).start()
        c = srv.client()
        if round_no == 0:
            c.create_bucket(Bucket="crash")
        stop = threading.Event()

        def upload(worker: int, c=c, stop=stop, round_no=round_no) -> None:
            n = 0
            while not stop.is_set():
                key = f"r{round_no}/w{worker}/{n}"
                body = os.urandom(1024 * (1 + (n * 37 + worker) % 300))
                try:
                    c.put_object(Bucket="crash", Key=key, Body=body)
                except Exception:
                    return  # the server died under us: this upload was never acknowledged
                with lock:
                    acknowledged[key] = hashlib.sha256(body).hexdigest()
                n += 1

        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(upload, w) for w in range(16)]
            time.sleep(0.8 + 0.1 * round_no)
            srv.kill()
            stop.set()
            for f in futures:
                f.result()

    srv = HoardServer(data, port=port, extra_args=workers).start()
    try:
        c = srv.client()
        assert acknowledged, "no upload was acknowledged before the kills"
        listed = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket="crash"):
            for obj in page.get("Contents", []):
                listed[obj["Key"]] = obj["Size"]
        for key, digest in acknowledged.items():
            body = c.get_object(Bucket="crash", Key=key)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == digest, key
        # Whatever is visible is whole: every listed object reads back at its listed size.
        for key, size in listed.items():
            assert len(c.get_object(Bucket="crash", Key=key)["Body"].read()) == size
        assert list((data / ".hoard" / "tmp").iterdir()) == []
        # After the orphan sweep, every record and shard file on disk belongs to a listed object.
        assert wait_for(lambda: len(files_under(data, "records")) == len(listed))
        big = sum(size >= INLINE_LIMIT for size in listed.values())
        assert wait_for(lambda: len(files_under(data, "shards")) == big)
    finally:
        srv.stop()
