"""One server per data folder: a second ``hoard server`` on folders a running one uses stops at
once, naming the folder and the process that holds it, and changes nothing; the lock is the
kernel's (``flock``), so a server killed outright leaves nothing that blocks its restart.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import HoardServer, free_port, wait_for
from tests.integration.test_workers import Pinned

MiB = 1024 * 1024


def snapshot(folders: list[Path]) -> dict[Path, tuple[int, ...]]:
    """Every file and folder under the data folders: inode, size, mtime (the index's files, which
    the running server itself may write to at any time, by inode only)."""
    out = {}
    for top in folders:
        for path in [top, *top.rglob("*")]:
            st = path.lstat()
            out[path] = (st.st_ino,) if path.name.startswith("meta.db") else (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def _gone(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def second_server(env: dict[str, str], port: int, drives: list[Path], workers: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hoard", "server", "--address", f"127.0.0.1:{port}", *workers, *map(str, drives)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "drives,workers",
    [(1, []), (4, ["--workers", "2"])],
    ids=["one-drive-one-process", "four-drives-two-workers"],
)
def test_a_second_server_on_the_folders_changes_nothing(tmp_path, drives, workers):
    paths = [tmp_path / f"disk{i}" for i in range(1, drives + 1)] if drives > 1 else []
    srv = HoardServer(tmp_path / "data", drives=paths, extra_args=workers, env_extra={"HOARD_SCANNER_RATE": "0"}).start()
    folders = paths or [srv.data_dir]
    try:
        c = srv.client()
        c.create_bucket(Bucket="first")
        c.put_object(Bucket="first", Key="kept", Body=os.urandom(MiB))
        body = os.urandom(24 * MiB)
        upload = Pinned(srv)
        upload.send_head("PUT", "/first/in-flight", body)
        upload.conn.send(body[: 8 * MiB])
        temp_files = lambda: [p for f in folders for p in (f / ".hoard" / "tmp").iterdir()]  # noqa: E731
        assert wait_for(temp_files, timeout=10), "the upload never reached the drives"
        in_flight = {p: p.stat().st_ino for p in temp_files()}
        before = snapshot(folders)

        # The same port and another one; all the folders, and only the last of them.
        for port, given in ((srv.port, folders), (free_port(), folders), (free_port(), folders[-1:])):
            if len(given) != len(folders) and drives == 1:
                continue
            other = second_server(srv.env(), port, given, workers)
            assert other.returncode != 0
            message = other.stderr.strip()
            assert "Traceback" not in other.stderr + other.stdout
            assert len(message.splitlines()) == 1, message
            assert f"{given[0]} is in use by another Hoard server (pid {srv.proc.pid})" in message, message

        # Nothing of the first server's was touched: not its upload's temp files, not the lock.
        after = snapshot(folders)
        assert {p: v[0] for p, v in after.items() if p in in_flight} == in_flight
        assert {p: v for p, v in after.items() if p not in in_flight} == {p: v for p, v in before.items() if p not in in_flight}
        assert all((f / ".hoard" / "lock").read_text().strip() == str(srv.proc.pid) for f in folders)

        upload.conn.send(body[8 * MiB :])
        assert upload.answer()[0] == 200
        got = c.get_object(Bucket="first", Key="in-flight")["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()
    assert "offline" not in srv.log(), srv.log()


def test_a_server_that_cannot_listen_sweeps_nothing(tmp_path):
    """The address is taken before the start-up sweeps: a server refused it leaves its folder as it was."""
    srv = HoardServer(tmp_path / "data").start()
    try:
        other = tmp_path / "other"
        HoardServer(other).start().stop()
        leftover = other / ".hoard" / "tmp" / "left-by-a-crash"
        leftover.write_bytes(b"partial")
        refused = second_server(srv.env(), srv.port, [other], [])
        assert refused.returncode != 0
        assert "Address already in use" in refused.stderr, refused.stderr
        assert leftover.exists()
    finally:
        srv.stop()


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "two-workers"])
def test_a_killed_servers_lock_file_does_not_block_a_restart(tmp_path, workers):
    data = tmp_path / "data"
    srv = HoardServer(data, extra_args=workers).start()
    c = srv.client()
    c.create_bucket(Bucket="kept")
    c.put_object(Bucket="kept", Key="acknowledged", Body=b"durable")
    processes = psutil.Process(srv.proc.pid).children(recursive=True)
    # No waiting for the workers: they may still be exiting (and holding the lock) at the restart.
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    lock = data / ".hoard" / "lock"
    assert lock.read_text().strip() == str(srv.proc.pid)  # left behind, naming a dead process

    again = HoardServer(data, port=srv.port, extra_args=workers).start()
    try:
        # Until the killed server's last worker is gone, that worker may still answer on the port.
        assert wait_for(lambda: lock.read_text().strip() == str(again.proc.pid), timeout=15), again.log()
        assert all(_gone(p) for p in processes)  # they held the lock the new server now has
        assert again.client().get_object(Bucket="kept", Key="acknowledged")["Body"].read() == b"durable"
    finally:
        again.stop()

    # A pid file would refuse this: the lock file names a live process, but none holds the lock.
    lock.write_text(f"{os.getpid()}\n")
    again = HoardServer(data, port=srv.port, extra_args=workers).start()
    try:
        assert wait_for(lambda: lock.read_text().strip() == str(again.proc.pid), timeout=5)
        assert again.client().get_object(Bucket="kept", Key="acknowledged")["Body"].read() == b"durable"
    finally:
        again.stop()
    assert "Traceback" not in again.log(), again.log()


def test_a_drive_replaced_while_serving_is_locked_and_stays_locked(tmp_path):
    drives = [tmp_path / f"disk{i}" for i in range(1, 5)]
    srv = HoardServer(tmp_path / "data", drives=drives, extra_args=["--workers", "2"],
                      env_extra={"HOARD_PROBE_INTERVAL": "0.5", "HOARD_SCANNER_RATE": "0"}).start()
    try:
        supervisor = psutil.Process(srv.proc.pid)
        assert wait_for(lambda: len(supervisor.children()) == 2, timeout=10)

        def leader() -> int | None:
            """Worker 0's pid, once it has its name (a worker just forked has its parent's a moment)."""
            for p in supervisor.children():
                try:
                    if " ".join(p.cmdline()).startswith("hoard: worker 0 "):
                        return p.pid
                except psutil.Error:  # a killed worker not yet reaped
                    continue
            return None

        # An emptied folder where a drive was is formatted as a replacement by the leader's probe,
        # which locks the new lock file: the old one went with the folder's contents.
        replaced = drives[2]
        replaced.rename(tmp_path / "the-old-disk3")  # a new disk mounted in its place
        replaced.mkdir()
        lock = replaced / ".hoard" / "lock"
        assert wait_for(lambda: leader() is not None, timeout=10)
        first = leader()
        assert wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first), timeout=20), srv.log()
        refused = second_server(srv.env(), free_port(), [replaced], [])
        assert refused.returncode != 0 and f"{replaced} is in use by another Hoard server (pid {first})" in refused.stderr

        # That lock was the leader's own: when the leader dies and is started again, the new one
        # takes it again.
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: leader() not in (None, first), timeout=20)
        second = leader()
        assert wait_for(lambda: lock.read_text().strip() == str(second), timeout=20), srv.log()
        refused = second_server(srv.env(), free_port(), [replaced], [])
        assert refused.returncode != 0 and f"(pid {second})" in refused.stderr, refused.stderr
    finally:
        srv.stop()
