"""Worker processes sharing the port (``hoard server --workers 2``): one index and one set of
drives behind every worker, admin requests and damage reports reaching the leader, workers that
die with their supervisor or are started again without it.

A keep-alive connection stays with the worker that accepted it, and each answer names that
worker in x-amz-id-2 (S3's id of the host that served the request): that is how these tests
send a request to a chosen worker.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from hoard.storage.erasure import codec
from hoard.storage.shardfile import ShardGeometry
from tests.chaos.test_erasure import drive_records, verify_shard
from tests.conftest import SECRET_KEY, HoardServer, wait_for
from tests.wire import signed

MiB = 1024 * 1024


class Pinned:
    """One keep-alive connection, so one worker; requests SigV4-signed as boto3 signs them."""

    def __init__(self, srv: HoardServer, secret: str = SECRET_KEY) -> None:
        self.srv = srv
        self.secret = secret
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        self.worker: str | None = None

    def send_head(self, method: str, path: str, body: bytes) -> None:
        """Send the request line and headers only (the body follows with ``conn.send``)."""
        headers = signed(self.srv, method, path, body, secret=self.secret)
        self.conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            self.conn.putheader(name, value)
        self.conn.putheader("content-length", str(len(body)))
        self.conn.endheaders()

    def answer(self) -> tuple[int, bytes]:
        response = self.conn.getresponse()
        body = response.read()
        self.worker = response.getheader("x-amz-id-2", "").rsplit("-", 1)[-1]
        return response.status, body

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        self.send_head(method, path, body)
        self.conn.send(body)
        return self.answer()

    def close(self) -> None:
        self.conn.close()


def pinned_to(srv: HoardServer, worker: str, secret: str = SECRET_KEY) -> Pinned:
    """A connection accepted by ``worker`` (w0, w1): new connections until the kernel hands one to it."""
    for _ in range(300):
        pinned = Pinned(srv, secret)
        status, _ = pinned.request("GET", "/")
        if pinned.worker == worker:
            return pinned
        pinned.close()
    raise AssertionError(f"no connection reached {worker} in 300 tries: connections are not spread over the workers")


def start(tmp_path: Path, drives: int = 4, **env: str) -> HoardServer:
    paths = [tmp_path / f"disk{i}" for i in range(1, drives + 1)] if drives > 1 else []
    return HoardServer(tmp_path / "data", drives=paths, extra_args=["--workers", "2"], env_extra=env).start()


def children(pid: int) -> set[int]:
    return {p.pid for p in psutil.Process(pid).children()}


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def admin_json(pinned: Pinned, method: str, name: str) -> dict:
    status, body = pinned.request(method, f"/.hoard/admin/v1/{name}")
    assert status == 200, body
    return json.loads(body)


def test_every_worker_serves_the_same_buckets_and_objects(tmp_path):
    srv = start(tmp_path, drives=1)
    try:
        # The port takes connections from the moment it is bound, a little before the workers exist.
        assert wait_for(lambda: len(children(srv.proc.pid)) == 2, timeout=10)
        w0, w1 = pinned_to(srv, "w0"), pinned_to(srv, "w1")
        assert w1.request("PUT", "/shared")[0] == 200
        body = os.urandom(300 * 1024)
        assert w1.request("PUT", "/shared/big", body)[0] == 200
        assert w0.request("PUT", "/shared/small", b"tiny")[0] == 200
        assert w0.request("GET", "/shared/big") == (200, body)
        assert w1.request("GET", "/shared/small") == (200, b"tiny")
        status, listing = w0.request("GET", "/shared?list-type=2")
        assert status == 200 and b"<Key>big</Key>" in listing and b"<Key>small</Key>" in listing
        assert w0.request("DELETE", "/shared/big")[0] == 204
        assert w1.request("GET", "/shared/big")[0] == 404
        # A multipart upload begun on one worker is continued and completed on the other.
        c = srv.client()
        upload = c.create_multipart_upload(Bucket="shared", Key="parts")["UploadId"]
        part = os.urandom(5 * MiB)
        status, _ = w1.request("PUT", f"/shared/parts?partNumber=1&uploadId={upload}", part)
        assert status == 200
        etag = c.list_parts(Bucket="shared", Key="parts", UploadId=upload)["Parts"][0]["ETag"]
        done = f'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>'
        assert w0.request("POST", f"/shared/parts?uploadId={upload}", done.encode())[0] == 200
        assert c.get_object(Bucket="shared", Key="parts")["Body"].read() == part
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()
    assert srv.proc.returncode == 0


def test_admin_requests_reach_the_leader_from_any_worker(tmp_path):
    srv = start(tmp_path, HOARD_SCANNER_RATE="0")
    try:
        w0, w1 = pinned_to(srv, "w0"), pinned_to(srv, "w1")
        info = admin_json(w1, "GET", "info")
        assert info["workers"] == 2 and len(info["drives"]) == 4 and w1.worker == "w1"
        job = admin_json(w1, "POST", "heal")
        assert job["id"] == 1
        # The job lives in the leader: the other worker's answer is the same job.
        assert wait_for(lambda: admin_json(w0, "GET", "heal?id=1")["job"]["state"] == "finished")
        assert admin_json(w1, "GET", "heal?id=1")["job"]["id"] == 1
        # Refused by the worker that received it, as the leader would refuse it.
        wrong = pinned_to(srv, "w1", secret="not-the-secret")
        status, body = wrong.request("GET", "/.hoard/admin/v1/info")
        assert status == 403 and b"SignatureDoesNotMatch" in body
        # And the admin command, whichever worker its connection lands on.
        for _ in range(4):
            assert "Erasure code: 2 data + 2 parity" in srv.admin("info").stdout
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


def test_damage_found_by_another_worker_is_repaired_by_the_leader(tmp_path):
    srv = start(tmp_path, HOARD_SCANNER_RATE="0")  # only the read's report can bring the repair
    try:
        c = srv.client()
        c.create_bucket(Bucket="rot")
        body = os.urandom(3 * MiB)
        c.put_object(Bucket="rot", Key="obj", Body=body)
        stored = next(r for r in drive_records(srv.drives[0]) if r.record.key == "obj")
        r = stored.record
        data_drive = srv.drives[r.placement.distribution[0]]  # holds fragment 0: read by every GET
        shard = data_drive / ".hoard" / "shards" / r.segments[0].blob[:2] / r.segments[0].blob
        geometry = ShardGeometry(r.segments[0].size, codec(r.placement.data, r.placement.parity))
        raw = bytearray(shard.read_bytes())
        raw[100] ^= 0xFF
        shard.write_bytes(raw)
        assert not verify_shard(shard, geometry)
        w1 = pinned_to(srv, "w1")
        assert w1.request("GET", "/rot/obj") == (200, body)
        assert wait_for(lambda: verify_shard(shard, geometry), timeout=20), "the leader never repaired what worker 1 reported"
        assert admin_json(w1, "GET", "heal")["repaired_on_read"] == 1
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


def test_a_worker_that_dies_is_started_again_and_uploads_in_flight_survive(tmp_path):
    srv = start(tmp_path, drives=1)
    try:
        c = srv.client()
        c.create_bucket(Bucket="live")
        w1 = pinned_to(srv, "w1")
        leader = pinned_to(srv, "w0")
        before = children(srv.proc.pid)
        leader_pid = next(pid for pid in before if _served_by(pid, leader))
        # An upload is half sent to worker 1 when the leader dies; the new leader sweeps orphans
        # at its start, and must leave the upload's files alone.
        body = os.urandom(4 * MiB)
        w1.send_head("PUT", "/live/in-flight", body)
        w1.conn.send(body[: len(body) // 2])
        time.sleep(0.3)
        os.kill(leader_pid, signal.SIGKILL)
        assert wait_for(lambda: len(children(srv.proc.pid) - {leader_pid}) == 2, timeout=20), srv.log()
        new_leader = pinned_to(srv, "w0")
        assert admin_json(new_leader, "GET", "info")["workers"] == 2
        time.sleep(0.5)  # the new leader's orphan sweep has run
        w1.conn.send(body[len(body) // 2 :])
        assert w1.answer()[0] == 200
        assert c.get_object(Bucket="live", Key="in-flight")["Body"].read() == body
        assert "worker 0" in srv.log() and "starting it again" in srv.log()
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def _served_by(pid: int, pinned: Pinned) -> bool:
    """Whether process ``pid`` holds the server end of ``pinned``'s connection."""
    local_port = pinned.conn.sock.getsockname()[1]
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == local_port and fields[9] in inodes:
            return True
    return False


def test_killing_the_supervisor_takes_every_worker_with_it(tmp_path):
    srv = start(tmp_path, drives=1)
    c = srv.client()
    c.create_bucket(Bucket="kept")
    c.put_object(Bucket="kept", Key="acknowledged", Body=b"durable")
    assert wait_for(lambda: len(children(srv.proc.pid)) == 2, timeout=10)
    workers = children(srv.proc.pid)
    assert len(workers) == 2
    srv.kill()
    assert wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10), "workers outlived their supervisor"
    again = HoardServer(srv.data_dir, port=srv.port, extra_args=["--workers", "2"]).start()
    try:
        assert again.client().get_object(Bucket="kept", Key="acknowledged")["Body"].read() == b"durable"
    finally:
        again.stop()
    assert again.proc.returncode == 0


def test_a_second_server_on_the_same_port_is_refused(tmp_path):
    srv = start(tmp_path, drives=1)
    try:
        other = subprocess.run(
            [sys.executable, "-m", "hoard", "server", "--workers", "2", "--address", f"127.0.0.1:{srv.port}", str(tmp_path / "other")],
            env=srv.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode != 0
        assert "Address already in use" in other.stderr + other.stdout
        # The first server kept all of its traffic.
        for _ in range(10):
            assert Pinned(srv).request("GET", "/")[0] == 200
    finally:
        srv.stop()


def test_a_drive_failing_in_one_worker_is_offline_in_all_and_comes_back_for_all(tmp_path):
    srv = start(tmp_path, HOARD_PROBE_INTERVAL="0.5", HOARD_SCANNER_RATE="0")
    try:
        c = srv.client()
        c.create_bucket(Bucket="failing")
        shards = srv.drives[2] / ".hoard" / "shards"
        moved = tmp_path / "shards-aside"
        shards.rename(moved)
        shards.write_bytes(b"not a directory")  # every shard write on this drive now errors
        w0, w1 = pinned_to(srv, "w0"), pinned_to(srv, "w1")
        body = os.urandom(2 * MiB)
        assert w1.request("PUT", "/failing/obj", body)[0] == 200  # worker 1 meets the error
        # The leader answers the admin API: it knows at once, without having touched the drive.
        drives = admin_json(w0, "GET", "info")["drives"]
        assert drives[2]["state"] == "offline" and drives[2]["last_error"], drives[2]
        assert w0.request("GET", "/failing/obj") == (200, body)
        shards.unlink()
        moved.rename(shards)
        # The leader's probe brings it back, and the heal job it starts refills it.
        assert wait_for(lambda: admin_json(w1, "GET", "info")["drives"][2]["state"] == "online", timeout=20)
        assert wait_for(lambda: admin_json(w1, "GET", "heal")["job"]["state"] == "finished", timeout=20)
        stored = next(r for r in drive_records(srv.drives[0]) if r.record.key == "obj").record
        geometry = ShardGeometry(stored.segments[0].size, codec(stored.placement.data, stored.placement.parity))
        refilled = srv.drives[2] / ".hoard" / "shards" / stored.segments[0].blob[:2] / stored.segments[0].blob
        assert verify_shard(refilled, geometry)
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()
