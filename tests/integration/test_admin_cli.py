"""``hoard admin`` as operators type it: options before or after the subcommand."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import free_port


def run_admin(server, *args: str) -> subprocess.CompletedProcess:
    env = server.env()
    # Nothing listens there: only an --endpoint on the command line reaches the server.
    env["HOARD_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    return subprocess.run([sys.executable, "-m", "hoard", "admin", *args], env=env, capture_output=True, text=True, timeout=300)


def test_endpoint_after_the_subcommand(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for args in (["info", "--endpoint", server.endpoint, "--json"], ["--endpoint", server.endpoint, "info", "--json"]):
        done = run_admin(server, *args)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["objects"] >= 1
    healed = run_admin(server, "heal", bucket, "--shallow", "--endpoint", server.endpoint)
    assert healed.returncode == 0, healed.stderr
    assert "unrecoverable" in healed.stdout
    # The subcommand's --endpoint wins over the group's.
    both = run_admin(server, "--endpoint", "http://127.0.0.1:1", "info", "--endpoint", server.endpoint, "--json")
    assert both.returncode == 0, both.stderr


def test_without_a_reachable_endpoint_it_fails_cleanly(server):
    done = run_admin(server, "info")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
