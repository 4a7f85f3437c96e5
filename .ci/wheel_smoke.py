"""Smoke test of the built wheel, installed in a fresh virtual environment (by .ci/run).

    python .ci/wheel_smoke.py VENV

What it proves: the wheel holds every module of the ``hoard`` package (each one is imported in
VENV, so a module left out of the wheel or a runtime dependency missing from pyproject.toml's
``dependencies`` fails here), the ``hoard`` command it installs starts a server, and that server,
running from VENV and not from this checkout, stores and returns an object through boto3.
What it does not: the test suite runs against the checkout (pytest imports ./hoard), so code
paths beyond one PUT and GET are proven there, not on the installed copy.

VENV has Hoard's runtime dependencies only; boto3 and the test harness (tests/conftest.py's
HoardServer, which runs the venv's ``hoard`` here) come from the interpreter running this script.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test harness, not ./hoard

from tests.conftest import HoardServer, free_port  # noqa: E402

IMPORT_ALL = """
import importlib, pkgutil, sys, hoard
for module in pkgutil.walk_packages(hoard.__path__, "hoard."):
    if not module.name.endswith("__main__"):  # importing it runs the command
        importlib.import_module(module.name)
print(hoard.__file__)
"""


def main(venv: Path) -> None:
    os.environ.pop("PYTHONPATH", None)  # nothing but the venv's own copy may be imported
    python, hoard = venv / "bin" / "python", venv / "bin" / "hoard"
    with tempfile.TemporaryDirectory() as tmp:
        # From an empty folder: the checkout's ./hoard must not be what gets imported.
        where = subprocess.run([python, "-c", IMPORT_ALL], cwd=tmp, check=True, capture_output=True, text=True).stdout.strip()
        assert Path(where).resolve().is_relative_to(venv.resolve()), f"hoard imported from {where}, not from {venv}"
        version = subprocess.run([hoard, "--version"], cwd=tmp, check=True, capture_output=True, text=True).stdout
        print(f"installed: {version.strip()} at {Path(where).parent}")

        console = free_port()
        server = HoardServer(Path(tmp) / "data", env_extra={"HOARD_CONSOLE_ADDRESS": f"127.0.0.1:{console}"})
        server.argv = [str(hoard), "server", "--address", f"127.0.0.1:{server.port}", str(server.data_dir)]
        server.start()
        try:
            s3 = server.client()
            body = os.urandom(300 * 1024)
            s3.create_bucket(Bucket="smoke")
            s3.put_object(Bucket="smoke", Key="object", Body=body)
            assert s3.get_object(Bucket="smoke", Key="object")["Body"].read() == body
            # The console's templates and static files are package data: in the wheel, or no page.
            for path, text in (("/login", "Log in to Hoard"), ("/static/console.js", "csrfToken"), ("/static/uplot.iife.min.js", "uPlot")):
                with urllib.request.urlopen(f"http://127.0.0.1:{console}{path}", timeout=30) as answer:
                    assert answer.status == 200 and text in answer.read().decode(), path
        finally:
            server.stop()
        assert "Traceback" not in server.log(), server.log()
    print("wheel smoke test: passed")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
