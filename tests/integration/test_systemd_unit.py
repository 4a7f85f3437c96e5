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
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HoardServer

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
    assert argv[0] == BINARY and argv[-1] == DATA and "127.0.0.1:9000" in argv
    data = tmp_path / "var-lib-hoard"
    data.mkdir(mode=0o700)  # StateDirectory= makes it before the start
    srv = HoardServer(data)
    args = [{DATA: str(data), "127.0.0.1:9000": f"127.0.0.1:{srv.port}"}.get(a, a) for a in argv[1:]]
    srv.argv = [sys.executable, "-m", "hoard", *args]
    srv.start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="service")
        s3.put_object(Bucket="service", Key="k", Body=b"under systemd")
        assert s3.get_object(Bucket="service", Key="k")["Body"].read() == b"under systemd"
    finally:
        srv.stop(getattr(signal, found["KillSignal"][0]))
    # A clean stop, which Restart=on-failure does not take for a crash: systemd counts exit code 0
    # and death by SIGTERM as clean (uvicorn raises the signal again once it has shut down).
    assert srv.proc.returncode in (0, -signal.SIGTERM), srv.log()
    assert "Traceback" not in srv.log()
    assert (data / ".hoard" / "format.json").exists()
