"""``hoard admin`` as operators type it: options before or after the subcommand, help without
credentials, S3's errors on one line, the credentials found where a user keeps them, a rebuild
followed however long it takes; and the server's processes named in ``ps``."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from hoard.admin.client import AdminClient
from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer, aws_cli, free_port, wait_for


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


# -- as people type it: help, errors, credentials -----------------------------------------------
def bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's environment with no credentials anywhere: no HOARD_ROOT_*, no AWS_*, an empty home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOARD_", "AWS_"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    env.update(extra)
    return env


def hoard_admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hoard", "admin", *args], env=env, capture_output=True, text=True, timeout=300)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The error of a failed command: one line on stderr, no traceback, no XML."""
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in done.stderr and "<" not in done.stderr, done.stderr
    return lines[0]


def test_help_needs_no_credentials(tmp_path):
    env = bare_env(tmp_path)
    for args in ([], ["info"], ["heal"], ["rebuild-index"]):
        done = hoard_admin(env, *args, "--help")
        assert done.returncode == 0, done.stderr
        assert "Usage:" in done.stdout and "--endpoint" in done.stdout
    # Without --help, the missing credentials are the error, with where they would be found.
    error = one_line_error(hoard_admin(env, "info"))
    assert "--data DIR" in error and "AWS_ACCESS_KEY_ID" in error and "--profile" in error


def test_rebuild_index_from_a_clusters_drives_names_what_it_lacks(tmp_path):
    """``hoard admin rebuild-index --meta URL`` rebuilds a cluster's database from the drives
    (tests/cluster/test_data_cluster.py does it whole); without what that needs it says what is
    missing before it reaches anything, and a server's rebuild takes no drive folders."""
    env = bare_env(tmp_path)
    folder = tmp_path / "d1"
    folder.mkdir()
    done = hoard_admin(env, "rebuild-index", "--meta", "postgresql://127.0.0.1:1/none", "--node", "n1", str(folder))
    assert done.returncode == 2 and "needs --key-file, --root-access-key" in done.stderr, done.stderr
    done = hoard_admin(env, "rebuild-index", "--meta", "postgresql://127.0.0.1:1/none")
    assert done.returncode == 2 and "needs --node, --key-file, --root-access-key, DIR..." in done.stderr, done.stderr
    keys = {"HOARD_ROOT_ACCESS_KEY": "AKIDEXAMPLE", "HOARD_ROOT_SECRET_KEY": "not-asked-for"}
    done = hoard_admin(env | keys, "rebuild-index", str(folder), "--endpoint", "http://127.0.0.1:1")
    assert done.returncode == 2 and "go with --meta URL" in done.stderr, done.stderr


def test_errors_are_s3_code_and_message_on_one_line(server, s3, bucket):
    done = run_admin(server, "heal", "no-such-bucket-here", "--endpoint", server.endpoint)
    assert one_line_error(done) == "Error: NoSuchBucket: The specified bucket does not exist"
    env = server.env()
    env["HOARD_ROOT_SECRET_KEY"] = "not-the-secret"
    wrong = hoard_admin(env, "info", "--endpoint", server.endpoint)
    error = one_line_error(wrong)
    assert error.startswith("Error: SignatureDoesNotMatch: ") and "HOARD_ROOT_ACCESS_KEY" in error, error
    # A heal of an existing bucket (and of a prefix in it) still runs.
    assert run_admin(server, "heal", f"{bucket}/some/prefix", "--endpoint", server.endpoint).returncode == 0


def test_credentials_are_found_where_a_user_keeps_them(tmp_path):
    data = tmp_path / "data"
    # No HOARD_ROOT_*: the server generates its root keys and keeps them in the data folder.
    srv = HoardServer(data, env_extra={"HOARD_ROOT_ACCESS_KEY": "", "HOARD_ROOT_SECRET_KEY": ""}).start()
    try:
        access, secret = srv.generated_root_keys()
        # The same user as the server's: its configuration folder, where the secrets key is.
        env = bare_env(tmp_path, HOARD_ENDPOINT=srv.endpoint, XDG_CONFIG_HOME=srv.env()["XDG_CONFIG_HOME"])

        def works(env: dict[str, str], *args: str) -> None:
            done = hoard_admin(env, *args)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["objects"] == 0

        # The server's own machine: the data folder, before or after the subcommand.
        works(env, "--data", str(data), "info", "--json")
        works(env, "info", "--json", "--data", str(data))
        assert "is not a Hoard data folder" in one_line_error(hoard_admin(env, "info", "--data", str(tmp_path)))
        # The AWS variables.
        works({**env, "AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret}, "info", "--json")
        # HOARD_ROOT_* before AWS_* (which may well be someone's keys for AWS itself).
        works({**env, "HOARD_ROOT_ACCESS_KEY": access, "HOARD_ROOT_SECRET_KEY": secret,
               "AWS_ACCESS_KEY_ID": "AKIAELSEWHERE", "AWS_SECRET_ACCESS_KEY": "x"}, "info", "--json")
        # The AWS CLI's files: ~/.aws/credentials' default profile, another one chosen with
        # AWS_PROFILE or --profile, and a profile in the config file.
        aws = Path(env["HOME"]) / ".aws"
        aws.mkdir()
        (aws / "credentials").write_text(f"[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n")
        works(env, "info", "--json")
        (aws / "credentials").write_text(
            "[default]\naws_access_key_id = AKIAELSEWHERE\naws_secret_access_key = x\n"
            f"[hoard]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"
        )
        error = one_line_error(hoard_admin(env, "info"))
        assert error.startswith("Error: InvalidAccessKeyId: ") and "the AWS profile 'default'" in error, error
        works({**env, "AWS_PROFILE": "hoard"}, "info", "--json")
        works(env, "--profile", "hoard", "info", "--json")
        works(env, "info", "--profile", "hoard", "--json")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "config").write_text(f"[profile cfg]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n")
        works({**env, "AWS_CONFIG_FILE": str(elsewhere / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(elsewhere / "none"),
               "AWS_PROFILE": "cfg"}, "info", "--json")
        assert "the AWS profile 'missing'" in one_line_error(hoard_admin({**env, "AWS_PROFILE": "missing"}, "info"))
        # The AWS CLI signs with the same profile: one set of keys for both tools.
        listed = subprocess.run([*aws_cli(), "--endpoint-url", srv.endpoint, "s3api", "list-buckets"],
                                env={**env, "AWS_PROFILE": "hoard", "AWS_DEFAULT_REGION": REGION}, capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0, listed.stderr
    finally:
        srv.stop()


def test_rebuild_index_runs_in_the_background_with_progress(tmp_path):
    drives = [tmp_path / f"disk{i}" for i in range(1, 5)]
    srv = HoardServer(tmp_path / "data", drives=drives, env_extra={"HOARD_SCANNER_RATE": "0"}).start()
    try:
        c = srv.client()
        c.create_bucket(Bucket="many")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: c.put_object(Bucket="many", Key=f"k{i:04d}", Body=b"x" * (i % 50)), range(300)))
        # However long a rebuild takes, no request waits for it: the start is answered at once
        # and the client follows the job.
        client = AdminClient(srv.endpoint, ACCESS_KEY, SECRET_KEY)
        job = client.call("POST", "rebuild-index")
        assert job["running"] and job["state"] == "reading" and job["records_read"] == 0
        assert wait_for(lambda: not client.call("GET", "rebuild-index", {"id": str(job["id"])})["job"]["running"])
        done = client.call("GET", "rebuild-index")["job"]
        assert (done["state"], done["objects"], done["buckets"]) == ("finished", 300, 1)
        assert done["records_read"] == done["records_total"] == 300 * 4  # one record per drive of the set

        # The command in a terminal draws a progress bar over the record files.
        primary, secondary = pty.openpty()
        env = srv.env()
        env.update(HOARD_ENDPOINT=srv.endpoint, COLUMNS="100")
        proc = subprocess.Popen([sys.executable, "-m", "hoard", "admin", "rebuild-index"], env=env, stdin=secondary,
                                stdout=secondary, stderr=secondary)
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal's other end is closed: the command is done
                break
            if not chunk:
                break
            shown += chunk
        os.close(primary)
        assert proc.wait(timeout=60) == 0, shown
        text = shown.decode(errors="replace")
        assert "Reading the drives' records" in text and "1200/1200" in text, text
        assert "Index rebuilt: 1 buckets, 300 objects" in text, text
        assert len(list(c.get_paginator("list_objects_v2").paginate(Bucket="many").search("Contents"))) == 300
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


def test_processes_are_named_for_ps_and_top(server):
    """``ps`` shows each process's role (its /proc cmdline), ``top`` the first 15 characters (comm)."""
    supervisor = psutil.Process(server.proc.pid)
    workers = "--workers" in server.extra_args
    if workers:
        assert wait_for(lambda: len(supervisor.children()) == 2, timeout=10)
    where = f"127.0.0.1:{server.port} {server.data_dir}"
    # Named right after binding the port, which is what tells the test the server has started.
    assert wait_for(lambda: " ".join(supervisor.cmdline()).startswith("hoard: "), timeout=10)
    title = " ".join(supervisor.cmdline()).strip()  # what the title does not fill of the old command line is blanks
    if not workers:
        assert title == f"hoard: server {where}", title
        assert supervisor.name() == "hoard: server"
        return
    assert title == f"hoard: supervisor {where}", title
    assert supervisor.name() == "hoard: supervis"
    titles = sorted(" ".join(p.cmdline()).strip() for p in supervisor.children())
    assert titles == [f"hoard: worker 0 {where}", f"hoard: worker 1 {where}"], titles
    assert sorted(p.name() for p in supervisor.children()) == ["hoard: worker 0", "hoard: worker 1"]
