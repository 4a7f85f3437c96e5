"""SIGKILL during 50 concurrent uploads on eight drives, 20 rounds.

After every restart each acknowledged object reads back exactly and nothing unacknowledged is
visible in part; at the end no temp file remains and every shard file and record on every drive
belongs to a listed object.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hoard.storage import record as record_file
from tests.conftest import HoardServer, wait_for

DRIVES = 8
ROUNDS = 20
WORKERS = 50


def files(drive: Path, kind: str) -> list[Path]:
    return list((drive / ".hoard" / kind).glob("*/*"))


def body_for(key: str, n: int) -> bytes:
    # Sizes on both sides of the inline limit (128 KiB) and across a block boundary.
    size = (0, 1, 5000, 130 * 1024, 1024 * 1024 + 7, 300 * 1024)[n % 6]
    return os.urandom(size)


def test_sigkill_during_concurrent_uploads_on_eight_drives(tmp_path):
    drives = [tmp_path / f"disk{i}" for i in range(1, DRIVES + 1)]
    port = HoardServer(tmp_path / "logs").port
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()

    def server() -> HoardServer:
        # The orphan sweep only removes files older than the process: wait a moment so files of
        # the killed process are older than the new one.
        time.sleep(0.05)
        return HoardServer(tmp_path / "logs", port=port, drives=drives).start()

    for round_no in range(ROUNDS):
        srv = server()
        c = srv.client(max_pool_connections=WORKERS)
        if round_no == 0:
            c.create_bucket(Bucket="crash")
        else:
            # What earlier rounds acknowledged is all there, whole.
            for key, digest in list(acknowledged.items())[-100:]:
                assert hashlib.sha256(c.get_object(Bucket="crash", Key=key)["Body"].read()).hexdigest() == digest, key
        stop = threading.Event()

        def upload(worker: int, c=c, stop=stop, round_no=round_no) -> None:
            n = 0
            while not stop.is_set():
                key = f"r{round_no}/w{worker}/{n}"
                body = body_for(key, n + worker)
                try:
                    c.put_object(Bucket="crash", Key=key, Body=body)
                except Exception:
                    return  # the server died under us: never acknowledged
                with lock:
                    acknowledged[key] = hashlib.sha256(body).hexdigest()
                n += 1

        with ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(upload, w) for w in range(WORKERS)]
            time.sleep(0.6 + 0.05 * (round_no % 5))
            srv.kill()
            stop.set()
            for f in futures:
                f.result()

    srv = server()
    try:
        c = srv.client(max_pool_connections=16, read_timeout=60)
        assert len(acknowledged) > ROUNDS, "too few uploads were acknowledged before the kills"
        listed: dict[str, tuple[int, str]] = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket="crash"):
            for obj in page.get("Contents", []):
                listed[obj["Key"]] = (obj["Size"], obj["ETag"])
        assert set(acknowledged) <= set(listed)

        def check(key: str) -> None:
            body = c.get_object(Bucket="crash", Key=key)["Body"].read()
            size, etag = listed[key]
            assert len(body) == size, key
            assert f'"{hashlib.md5(body).hexdigest()}"' == etag, key  # whole, as listed
            if key in acknowledged:
                assert hashlib.sha256(body).hexdigest() == acknowledged[key], key

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(check, listed))

        for drive in drives:
            assert list((drive / ".hoard" / "tmp").iterdir()) == [], f"{drive}: temp files left"

        def clean() -> bool:
            for drive in drives:
                records = [record_file.decode(p.read_bytes()).record for p in files(drive, "records")]
                if any(r.key not in listed or listed[r.key][1] != r.etag for r in records):
                    return False
                referenced = {s.blob for r in records for s in r.segments if s.blob}
                if {p.name for p in files(drive, "shards")} != referenced:
                    return False
            return True

        assert wait_for(clean), "orphaned shard files or records remain after the start-up sweep"
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]

