"""The S3 conformance suite (ceph/s3-tests, run by the harness in ``conformance/``) against a fresh
Hoard server: every test listed in ``conformance/expected-passes.txt`` must pass, so that no change
loses ground silently. A test that newly passes is reported, to be added to the list.

Run alone with ``pytest tests/conformance`` (about 4 minutes on two cores); leave it out of a
quick run with ``pytest -m "not conformance"``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HoardServer

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "conformance" / "run.sh"
EXPECTED = ROOT / "conformance" / "expected-passes.txt"

pytestmark = pytest.mark.conformance


def expected_passes() -> list[str]:
    return [line.strip() for line in EXPECTED.read_text().splitlines() if line.strip() and not line.startswith("#")]


ALT_EMAIL = "john.doe@example.com"  # s3-tests' alt user's address, which its grant-by-email tests name


def suite_users(server: HoardServer) -> tuple[tuple[str, str], tuple[str, str]]:
    """The suite's two users, made as an operator would with ``hoard admin``: "main", a user of
    the deployment's own account, and "alt", a user of a second account, so that what the suite
    checks one user may do to the other's buckets is checked across two owners. Each has the
    built-in ``readwrite`` policy: everything S3 within what its account owns or is granted."""

    def user(name: str, account: str = "") -> tuple[str, str]:
        server.admin("user", "add", name, *(["--account", account] if account else []))
        server.admin("policy", "attach", "readwrite", "--user", name)
        key = json.loads(server.admin("key", "create", "--user", name, "--json").stdout)
        return key["access_key"], key["secret_key"]

    server.admin("account", "add", "alt", "--email", ALT_EMAIL)
    return user("s3tests-main"), user("s3tests-alt", "alt")


def suite_kms_keys(server: HoardServer) -> dict[str, str]:
    """The two KMS keys the suite's SSE-KMS tests name (its kms_keyid and kms_keyid2), made with
    ``hoard admin kms``, as the harness's S3_KMS_KEYID and S3_KMS_KEYID2: their ARNs, which is how
    S3 names a key in its answers (the suite compares what it sent with what comes back)."""
    made = [json.loads(server.admin("kms", "key", "create", "--alias", f"s3tests-{n}", "--json").stdout) for n in (1, 2)]
    return {"S3_KMS_KEYID": made[0]["arn"], "S3_KMS_KEYID2": made[1]["arn"]}


def run_suite(server: HoardServer, out_dir: Path, users: tuple[tuple[str, str], tuple[str, str]], kms: dict[str, str], subset: Path | None = None) -> dict[str, dict]:
    env = dict(os.environ, OUT_DIR=str(out_dir), JOBS="2", TOTAL_TIMEOUT="1800", LABEL="hoard-ci", S3_ALT_EMAIL=ALT_EMAIL, **kms)
    if subset is not None:
        env["SUBSET"] = str(subset)
    (main_key, main_secret), (alt_key, alt_secret) = users
    args = [str(HARNESS), "127.0.0.1", str(server.port), main_key, main_secret, alt_key, alt_secret]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, f"the conformance harness failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return json.loads((out_dir / "results.json").read_text())["tests"]


@pytest.mark.timeout(3000)
def test_no_expected_pass_is_lost(tmp_path):
    # The suite speaks plain HTTP; its SSE-C tests need the development switch (RGW's suite runs
    # with rgw_crypt_require_ssl off for the same reason).
    server = HoardServer(tmp_path / "data", env_extra={"HOARD_SSE_C_OVER_HTTP": "true"}).start()
    try:
        users = suite_users(server)
        kms = suite_kms_keys(server)
        results = run_suite(server, tmp_path / "run", users, kms)
        expected = expected_passes()
        lost = [name for name in expected if results.get(name, {}).get("outcome") != "passed"]
        if lost:
            # A test that fails once may have met the machine's load (timeouts of the suite's own
            # threads); run just those again before calling it lost.
            subset = tmp_path / "again.txt"
            subset.write_text("\n".join(lost) + "\n")
            again = run_suite(server, tmp_path / "again", users, kms, subset)
            lost = [name for name in lost if again.get(name, {}).get("outcome") != "passed"]
        gained = sorted(name for name, r in results.items() if r.get("outcome") == "passed" and name not in set(expected))
        if gained:
            print(f"{len(gained)} tests pass that conformance/expected-passes.txt does not list yet:\n" + "\n".join(gained))
        assert not lost, "conformance tests that passed before no longer pass:\n" + "\n".join(
            f"{name}: {results.get(name, {}).get('message', 'not run')[:300]}" for name in lost
        )
    finally:
        server.stop()
    assert "Traceback" not in server.log(), f"server logged an exception:\n{server.log()[-5000:]}"
