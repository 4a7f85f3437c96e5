"""Smoke test of the built wheel, installed in a fresh virtual environment (by .ci/run).

    python .ci/wheel_smoke.py VENV

What it proves: the wheel holds every module of the ``hoard`` package (each one is imported in
VENV, so a module left out of the wheel or a runtime dependency missing from pyproject.toml's
``dependencies`` fails here), the ``hoard`` command it installs starts a server, and that server,
running from VENV and not from this checkout, stores and returns an object through boto3.
What it does not: the test suite runs against the checkout (pytest imports ./hoard), so code
paths beyond one PUT and GET are proven there, not on the installed copy.

VENV has Hoard's runtime dependencies only; boto3 comes from the interpreter running this script.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

ACCESS_KEY, SECRET_KEY = "SMOKETESTACCESSKEY01", "smoke-test-secret-key/0123456789abcdef"

IMPORT_ALL = """
import importlib, pkgutil, sys, hoard
for module in pkgutil.walk_packages(hoard.__path__, "hoard."):
    if not module.name.endswith("__main__"):  # importing it runs the command
        importlib.import_module(module.name)
print(hoard.__file__)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(venv: Path) -> None:
    python, hoard = venv / "bin" / "python", venv / "bin" / "hoard"
    with tempfile.TemporaryDirectory() as tmp:
        # From an empty folder: the checkout's ./hoard must not be what gets imported.
        where = subprocess.run([python, "-c", IMPORT_ALL], cwd=tmp, check=True, capture_output=True, text=True).stdout.strip()
        assert Path(where).resolve().is_relative_to(venv.resolve()), f"hoard imported from {where}, not from {venv}"
        version = subprocess.run([hoard, "--version"], cwd=tmp, check=True, capture_output=True, text=True).stdout
        print(f"installed: {version.strip()} at {Path(where).parent}")

        port = free_port()
        env = dict(os.environ, HOARD_ROOT_ACCESS_KEY=ACCESS_KEY, HOARD_ROOT_SECRET_KEY=SECRET_KEY)
        env.pop("PYTHONPATH", None)
        log = open(Path(tmp) / "server.log", "wb")
        server = subprocess.Popen([hoard, "server", "--address", f"127.0.0.1:{port}", Path(tmp) / "data"], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if server.poll() is not None or time.time() > deadline:
                        raise SystemExit(f"hoard server did not start:\n{(Path(tmp) / 'server.log').read_text()}") from None
                    time.sleep(0.1)
            s3 = boto3.client(
                "s3",
                endpoint_url=f"http://127.0.0.1:{port}",
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
            )
            body = os.urandom(300 * 1024)
            s3.create_bucket(Bucket="smoke")
            s3.put_object(Bucket="smoke", Key="object", Body=body)
            assert s3.get_object(Bucket="smoke", Key="object")["Body"].read() == body
        finally:
            server.terminate()
            server.wait(timeout=30)
        text = (Path(tmp) / "server.log").read_text()
        assert "Traceback" not in text, text
    print("wheel smoke test: passed")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
