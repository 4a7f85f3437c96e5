"""GETs read what is in the page cache in the event loop and the rest in a worker thread
(``hoard.nowait``): both ways give the same bytes, whole objects and ranges."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hoard.nowait import WouldBlock, pread_nowait
from hoard.storage.drive import LocalDrive
from tests.conftest import HoardServer

SIZES = {"empty": 0, "one-byte": 1, "four-k": 4096, "almost-inline-limit": 100 * 1024, "three-blocks-and-a-byte": 3 * 1024 * 1024 + 1}


def evict(folder: Path) -> int:
    """Drop every file under ``folder`` from the page cache (they are all fsync'd: clean pages go)."""
    n = 0
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                n += 1
            finally:
                os.close(fd)
    return n


@pytest.mark.parametrize("drives", [1, 8])
def test_small_objects_read_the_same_cached_or_not(tmp_path, drives):
    folders = [tmp_path / f"disk{i}" for i in range(1, drives + 1)]
    srv = HoardServer(tmp_path / "logs", drives=folders).start()
    try:
        c = srv.client()
        c.create_bucket(Bucket="cold")
        bodies = {key: os.urandom(size) for key, size in SIZES.items()}
        for key, body in bodies.items():
            c.put_object(Bucket="cold", Key=key, Body=body)
        for rounds in range(2):  # cached (the event loop reads them), then evicted (a thread does)
            if rounds:
                os.sync()
                assert sum(evict(f) for f in folders) > len(SIZES)
            for key, body in bodies.items():
                got = c.get_object(Bucket="cold", Key=key)["Body"].read()
                assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), key
                assert c.head_object(Bucket="cold", Key=key)["ContentLength"] == len(body)
            if rounds:
                evict(folders[0])
            big = bodies["three-blocks-and-a-byte"]
            ranged = c.get_object(Bucket="cold", Key="three-blocks-and-a-byte", Range="bytes=1048000-2097200")["Body"].read()
            assert ranged == big[1048000:2097201]

        # Many at once, some cached and some not, while others are written: each gets its bytes.
        evict(folders[0])

        def check(i: int) -> None:
            key = list(bodies)[i % len(bodies)]
            if i % 5 == 0:
                c.put_object(Bucket="cold", Key=f"new-{i}", Body=bodies[key])
            assert c.get_object(Bucket="cold", Key=key)["Body"].read() == bodies[key]

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(check, range(200)))
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_a_file_not_in_the_page_cache_would_block(tmp_path):
    drive = LocalDrive(tmp_path)
    path = tmp_path / "some-file"
    data = os.urandom(64 * 1024)
    path.write_bytes(data)
    assert drive.read_file_nowait(path) == data  # just written: cached
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    with pytest.raises(WouldBlock):
        drive.read_file_nowait(path)
    assert drive.read_file(path) == data  # the thread's way reads it, and caches it again
    assert drive.read_file_nowait(path) == data
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert drive.read_file_nowait(empty) == b""


def test_pread_nowait_reads_cached_ranges_and_stops_at_the_end(tmp_path):
    path = tmp_path / "blocks"
    data = os.urandom(3 * 4096 + 100)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert pread_nowait(fd, 4096, 4096) == data[4096:8192]
        assert pread_nowait(fd, 8192, 3 * 4096) == data[3 * 4096 :]  # the file ends: fewer bytes
        assert pread_nowait(fd, 10, len(data)) == b""
        os.fsync(fd)
        # The kernel may keep a page a moment longer (writeback, another reader on a busy
        # machine): evict again until it is gone, then the read must say it would wait.
        for _ in range(50):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                pread_nowait(fd, 4096, 4096)
            except WouldBlock:
                break
            time.sleep(0.02)
        else:
            pytest.fail("a page evicted from the page cache was still read without waiting, 50 times over")
    finally:
        os.close(fd)


def test_a_shard_file_big_enough_to_be_written_back_early_leaves_the_page_cache_once_durable(tmp_path):
    drive = LocalDrive(tmp_path / "drive")
    drive.prepare(create_root=True)
    sizes = {"b1" * 16: 2 * 1024 * 1024 + 100, "5a" * 16: 64 * 1024}  # shard ids are hex
    for shard_id, size in sizes.items():
        writer = drive.create_shard(shard_id)
        writer.write_block(os.urandom(32), os.urandom(size))
        writer.commit()
    big, small = (drive.open_shard(shard_id) for shard_id in sizes)
    with pytest.raises(WouldBlock):
        big.read(4096, 1024 * 1024, nowait=True)  # written once, seldom read at once: given back
    assert len(small.read(4096, 0, nowait=True)) == 4096  # small: kept, as a GET soon after finds it
    assert len(big.read(4096, 1024 * 1024)) == 4096  # still there to read from the disk
