"""The dashboard's data from a real server run in this process (build_app's objects, uvicorn on
a free port, boto3 as the client): the History counts exactly the requests made, the snapshot
reports the drives, sets, usage and the background loops' rounds, and the public status says
no more than it should. In-process because the console that will serve this does not exist yet."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time

import boto3
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError

from hoard.config import Settings
from hoard.dashboard.history import History
from hoard.dashboard.snapshot import DashboardSources, snapshot
from hoard.dashboard.status import public_status
from hoard.process_role import ProcessRole
from hoard.server import bind, build_app, claim, prepare, uvicorn_server
from hoard.storage.drive import DriveState
from tests.conftest import ACCESS_KEY, SECRET_KEY, wait_for


class InProcess:
    """A server built as ``hoard server`` builds one, served by uvicorn in a thread of its own."""

    def __init__(self, tmp_path) -> None:
        self.drives = [tmp_path / f"drive{i}" for i in range(4)]
        self.settings = Settings(
            root_access_key=ACCESS_KEY, root_secret_key=SECRET_KEY, secrets_key=base64.b64encode(b"k" * 32).decode(),
            probe_interval=0.2, reclaim_grace=0, scanner_rate=0, parity=2,
        )  # fmt: skip
        storage = claim(self.settings, self.drives)
        self.sockets = bind("127.0.0.1", 0, 1)
        self.port = self.sockets[0].getsockname()[1]
        self.deployment, self.store = prepare(self.settings, storage)
        self.role = ProcessRole(started_at=self.deployment.started_at)
        self.app = build_app(self.deployment, self.store, self.role)
        cluster = self.app.admin.cluster
        # What build_app is to hand the console (see the dashboard's report): a History among its loops.
        self.history = History(interval=3600)  # sampled by hand below
        self.sources = DashboardSources(
            storage=storage, store=self.store, role=self.role, started_at=self.deployment.started_at,
            workers=self.app.background, healer=cluster.healer, history=self.history, tiers=cluster.data.tiers,
            settings=self.settings,
        )  # fmt: skip
        self.server = uvicorn_server(self.app, "warning")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.server.serve(sockets=self.sockets),), daemon=True)
        self.thread.start()
        assert wait_for(lambda: self.server.started, 10)

    def call(self, coro):
        """Run a coroutine in the server's event loop (the store's and workers' loop)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def client(self):
        return boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.port}", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1", config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )  # fmt: skip

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.deployment.storage.unlock()


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # one process: counts in memory
    srv = InProcess(tmp_path)
    yield srv
    srv.stop()


def test_history_and_snapshot_of_a_running_server(served):
    s3 = served.client()
    served.history.sample_once()  # the baseline
    s3.create_bucket(Bucket="dash")
    for i in range(5):
        s3.put_object(Bucket="dash", Key=f"k{i}", Body=b"x" * 1000)
    for i in range(3):
        assert s3.get_object(Bucket="dash", Key=f"k{i}")["Body"].read() == b"x" * 1000
    with pytest.raises(ClientError):
        s3.get_object(Bucket="dash", Key="missing")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="nothere")
    time.sleep(0.05)  # the last answer's count is taken just after it is sent
    point = served.history.sample_once()
    assert point is not None
    assert point.requests == 11 and point.errors_4xx == 2 and point.errors_5xx == 0
    assert point.bytes_in == 5000 and point.bytes_out >= 3000
    assert point.latency_ms["p50_ms"] is not None and 0 < point.latency_ms["p50_ms"] <= point.latency_ms["p99_ms"]
    ops = {o["operation"]: o for o in served.history.operations()}
    assert ops["PutObject"]["requests"] == 5 and ops["GetObject"] == {"operation": "GetObject", "requests": 4, "errors_4xx": 1, "errors_5xx": 0}
    assert ops["CreateBucket"]["requests"] == 1 and ops["HeadBucket"]["errors_4xx"] == 1
    series = served.history.series()
    assert len(series["t"]) == 1 and series["requests"][0] > 0

    # Every loop has done a round by now (the drive probe every 0.2 s, reclaim every second).
    workers = lambda: {w["name"]: w for w in served.call(snapshot(served.sources, usage=False))["workers"]}  # noqa: E731
    assert wait_for(lambda: all(workers()[n]["rounds"] >= 2 for n in ("drive probe", "reclaim", "replication", "tiers")), 10)
    doc = served.call(snapshot(served.sources))
    json.dumps(doc)  # JSON-ready
    assert doc["state"] == "ok" and doc["problems"] == []
    assert doc["version"] and 0 <= doc["uptime_seconds"] < 120
    assert [d["path"] for d in doc["drives"]] == [str(p) for p in served.drives]
    assert all(d["state"] == "online" and d["total_bytes"] > 0 and d["used_bytes"] + d["free_bytes"] == d["total_bytes"] for d in doc["drives"])
    assert doc["sets"] == [{"index": 0, "drives": [0, 1, 2, 3], "data": 2, "parity": 2, "usable": 4, "write_quorum": 2, "write_quorum_ok": True}]
    names = {w["name"] for w in doc["workers"]}
    assert {"drive probe", "scanner", "reclaim", "replication", "site replication", "lifecycle", "tiers"} <= names
    probe = next(w for w in doc["workers"] if w["name"] == "drive probe")
    assert probe["interval"] == 0.2 and probe["errors"] == 0 and probe["last_finished"] >= probe["last_started"] - 1
    assert probe["next_run"] is None or probe["next_run"] == pytest.approx(probe["last_finished"] + 0.2)
    usage = {(r["bucket"], r["storage_class"]): r for r in doc["usage"]["classes"]}
    assert usage[("dash", "STANDARD")]["objects"] == 5 and usage[("dash", "STANDARD")]["bytes"] == 5000
    assert doc["replication"]["pending"] == 0 and doc["index"] == {"objects": 5}
    assert doc["traffic"]["requests"] == 11 and doc["settings"]["processes"] == 1
    assert "secret" not in json.dumps(doc["settings"]).lower()


def test_a_drive_offline_degrades_and_too_many_take_it_down(served):
    storage = served.deployment.storage
    assert served.call(public_status(storage, served.store, served.deployment.started_at, served.history))["state"] == "ok"
    storage.drives[3].state = DriveState.OFFLINE
    doc = served.call(snapshot(served.sources, usage=False))
    assert doc["state"] == "degraded" and doc["sets"][0]["usable"] == 3
    public = served.call(public_status(storage, served.store, served.deployment.started_at, served.history))
    assert public["state"] == "degraded" and public["drives"] == {"online": 3, "total": 4}
    storage.drives[2].state = DriveState.OFFLINE
    storage.drives[1].state = DriveState.OFFLINE
    doc = served.call(snapshot(served.sources, usage=False))
    assert doc["state"] == "down" and not doc["sets"][0]["write_quorum_ok"] and doc["problems"]
    public = served.call(public_status(storage, served.store, served.deployment.started_at, served.history))
    assert public["state"] == "down"
    # Nothing of the deployment's insides on the public page.
    text = json.dumps(public)
    assert str(served.drives[0].parent) not in text and "erasure set" not in text and "dash" not in text
    assert set(public) == {"state", "version", "uptime_seconds", "drives", "last_hour"}
