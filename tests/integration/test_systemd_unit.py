"""contrib/hoard.service: systemd accepts it, its hardening holds, and its command line runs Hoard.

systemd cannot run here (no systemd as PID 1), so the unit is checked with ``systemd-analyze``:
``verify`` (every directive known, the ExecStart binary present: the unit's /opt/hoard/bin/hoard
is swapped for an executable that exists) and ``security --offline`` (the exposure score, which
drops if a hardening line goes). Then its ExecStart, with a temporary folder for /var/lib/hoard
and a free port, is run as a real server, used through boto3, and stopped with the unit's
KillSignal, as systemd would.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, free_port

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "hoard.service"
BINARY = "/opt/hoard/bin/hoard"
DATA = "/var/lib/hoard"
# systemd-analyze's exposure score, in tenths (1.5 when written); 2.0 is well inside its "OK".
MAX_EXPOSURE = 20


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            name, _, value = line.partition("=")
            found.setdefault(name, []).append(value)
    return found


@pytest.fixture
def analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: .ci/run installs Debian's systemd package")
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return exe


@pytest.fixture
def checkable_unit(tmp_path) -> Path:
    """The unit with its ExecStart binary swapped for one that exists, as verify requires."""
    text = UNIT.read_text()
    assert text.count(BINARY) == 1
    unit = tmp_path / "hoard.service"
    unit.write_text(text.replace(BINARY, shutil.which("hoard") or sys.executable))
    return unit


def test_unit_verifies(analyze, checkable_unit):
    result = subprocess.run([analyze, "verify", str(checkable_unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on an unknown directive and only says so: any word from it is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_unit_is_hardened(analyze, checkable_unit):
    found = directives(UNIT.read_text())
    assert found["User"] == ["hoard"] and found["Group"] == ["hoard"]
    assert found["ProtectSystem"] == ["strict"] and found["ReadWritePaths"] == [DATA]
    assert found["NoNewPrivileges"] == ["yes"] and found["PrivateTmp"] == ["yes"]
    assert int(found["LimitNOFILE"][0]) >= 65536
    result = subprocess.run(
        [analyze, "security", "--offline=yes", f"--threshold={MAX_EXPOSURE}", str(checkable_unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_unit_command_line_serves(tmp_path):
    found = directives(UNIT.read_text())
    argv = shlex.split(found["ExecStart"][0])
    assert argv[0] == BINARY and DATA in argv
    port = free_port()
    data = tmp_path / "var-lib-hoard"
    data.mkdir(mode=0o700)  # StateDirectory= makes it before the start
    args = [a.replace(DATA, str(data)) for a in argv[1:]]
    args = [re.sub(r"^127\.0\.0\.1:9000$", f"127.0.0.1:{port}", a) for a in args]
    assert f"127.0.0.1:{port}" in args, "the unit listens on 127.0.0.1:9000"
    env = dict(os.environ, HOARD_ROOT_ACCESS_KEY=ACCESS_KEY, HOARD_ROOT_SECRET_KEY=SECRET_KEY)
    log = tmp_path / "journal"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hoard", *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, log.read_text()
                time.sleep(0.1)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        s3.create_bucket(Bucket="service")
        s3.put_object(Bucket="service", Key="k", Body=b"under systemd")
        assert s3.get_object(Bucket="service", Key="k")["Body"].read() == b"under systemd"
    finally:
        proc.send_signal(getattr(signal, found["KillSignal"][0]))
        code = proc.wait(timeout=int(found["TimeoutStopSec"][0]))
    # A clean stop, which Restart=on-failure does not take for a crash: systemd counts exit code 0
    # and death by SIGTERM as clean (uvicorn raises the signal again once it has shut down).
    assert code in (0, -signal.SIGTERM), log.read_text()
    assert "Finished server process" in log.read_text()
    assert "Traceback" not in log.read_text()
    assert (data / ".hoard" / "format.json").exists()
