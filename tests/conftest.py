"""Test fixtures: a real ``hoard server`` process on 127.0.0.1 and real clients pointed at it."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import psutil
import pytest
from botocore.config import Config

ACCESS_KEY = "HOARDTESTACCESSKEY01"
SECRET_KEY = "hoard-test-secret-key/0123456789abcdefXYZ"
REGION = "us-east-1"


def wait_for(predicate, timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last answer."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HoardServer:
    """A running ``hoard server`` subprocess with its own data folder."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    drives: list[Path] = field(default_factory=list)  # several drives; data_dir then only names the log's folder
    extra_args: list[str] = field(default_factory=list)
    # A command line of its own, run as it is instead of ``python -m hoard server ...``: for a
    # command line under test (an installed wheel's, a systemd unit's).
    argv: list[str] = field(default_factory=list)
    cwd: Path | None = None  # where it runs (for data folders given relative, as in the quick start)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    address: str = "127.0.0.1"  # where it listens and is reached (another host's, on a test network)

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "HOARD_ROOT_ACCESS_KEY": ACCESS_KEY,
                "HOARD_ROOT_SECRET_KEY": SECRET_KEY,
                "HOARD_LOG_LEVEL": "info",
                # The secrets key file a server makes goes beside its data, not into the home folder.
                "XDG_CONFIG_HOME": str(self.data_dir.parent / "config"),
                # Many servers run side by side: the console's fixed default port is taken by
                # the tests that want it (HOARD_CONSOLE_ADDRESS in env_extra).
                "HOARD_CONSOLE_ADDRESS": "off",
            }
        )
        env.update(self.env_extra)
        return env

    def generated_root_keys(self) -> tuple[str, str]:
        """The root keys a server generated (no HOARD_ROOT_* given), read from its data folder
        and opened with its secrets key, as ``hoard admin --data`` does."""
        from hoard.iam.credentials import stored_root_keys
        from hoard.iam.secrets import SecretBox

        data = (self.drives or [self.data_dir])[0]
        deployment = json.loads((data / ".hoard" / "format.json").read_text())["deployment"]
        key_path = Path(self.env()["XDG_CONFIG_HOME"]) / "hoard" / "secrets" / f"{deployment}.key"
        box = SecretBox(base64.b64decode(key_path.read_text().strip()))
        access, secret, _ = stored_root_keys((data / ".hoard" / "root-credentials.json").read_bytes(), box)
        return access, secret

    def start(self, timeout: float = 30) -> HoardServer:
        self.log_path = self.data_dir.parent / f"hoard-{self.port}.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv
            or [
                sys.executable, "-m", "hoard", "server", "--address", f"{self.address}:{self.port}", *self.extra_args,
                *[str(d) for d in (self.drives or [self.data_dir])],
            ],
            env=self.env(),
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hoard server exited early:\n{self.log()}")
            if self.answers(timeout=max(deadline - time.time(), 0.5)):
                return self
            time.sleep(0.05)
        self.stop()  # never left running behind a failed test (its workers would start again and again)
        raise RuntimeError(f"hoard server did not start:\n{self.log()}")

    def answers(self, timeout: float) -> bool:
        """Whether the server answers HTTP. The port takes connections from the moment it is bound,
        before start-up has swept the drives and opened the index: a request waits until then."""
        conn = self.connection(timeout)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            conn.close()

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A plain HTTP connection to the server (a TLS server's is HTTPS)."""
        return http.client.HTTPConnection(self.address, self.port, timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the server and wait until every one of its processes is gone: worker processes
        killed with their supervisor may outlive it a moment (one in an fsync dies when it
        returns), still holding the port a restarted server is about to take."""
        if self.proc and self.proc.poll() is None:
            workers = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            psutil.wait_procs(workers, timeout=20)

    def kill(self) -> None:
        """A crash: SIGKILL, as the kernel's OOM killer or a power cut would end it."""
        self.stop(signal.SIGKILL)

    def admin(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``hoard admin ARGS`` against this server, as an operator would."""
        env = self.env()
        env["HOARD_ENDPOINT"] = self.endpoint
        result = subprocess.run([sys.executable, "-m", "hoard", "admin", *args], env=env, capture_output=True, text=True, timeout=600)
        if check:
            assert result.returncode == 0, f"hoard admin {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def pids(self) -> list[int]:
        """The server's processes: with worker processes, the supervisor and its workers."""
        assert self.proc is not None
        return [self.proc.pid, *(p.pid for p in psutil.Process(self.proc.pid).children(recursive=True))]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def client(self, **config) -> boto3.client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(**{"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}, **config}),
        )


@pytest.fixture(scope="session", params=[1, 2], ids=["one-process", "two-workers"])
def server(request, tmp_path_factory) -> HoardServer:
    """The shared server; every test using it runs against one process and against two worker
    processes sharing the port (``--workers 2``), where consecutive requests may reach either."""
    workers = ["--workers", str(request.param)] if request.param > 1 else []
    srv = HoardServer(tmp_path_factory.mktemp("hoard") / "data", extra_args=workers).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), f"server logged an exception:\n{srv.log()}"


@pytest.fixture
def s3(server):
    return server.client()


@pytest.fixture
def bucket(s3) -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    # Empty and remove it, as a user would.
    try:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


@pytest.fixture
def upload(s3, bucket) -> tuple[str, str]:
    """A multipart upload with one small part: (key, upload id)."""
    key = "mp-target"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"part one")
    return key, upload_id


@pytest.fixture
def aws_env(server, tmp_path) -> dict[str, str]:
    """Environment for the AWS CLI and boto3 run as a user would, with no config files of the machine's."""
    env = dict(os.environ)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        }
    )
    env.pop("AWS_PROFILE", None)
    return env


def aws_cli() -> list[str]:
    """The AWS CLI v1 installed from PyPI with the test extras."""
    exe = shutil.which("aws")
    assert exe, "the AWS CLI (awscli from PyPI) is not installed"
    return [exe]


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (tests/postgres_server.py), started on first use."""
    from tests.postgres_server import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server: its connection string."""
    conninfo = postgres.create_database()
    yield conninfo
    postgres.drop_database(conninfo)
