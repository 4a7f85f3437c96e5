"""Users, access keys, policies and groups, managed with ``hoard admin`` against a real server, and
the secret keys kept sealed at rest."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import HoardServer

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pub/*"}]}


def admin(srv: HoardServer, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return srv.admin(*args, check=check)


def admin_json(srv: HoardServer, *args: str) -> dict:
    return json.loads(admin(srv, *args, "--json").stdout)


def refused(srv: HoardServer, *args: str) -> str:
    """The one-line error of a refused admin command."""
    done = admin(srv, *args, check=False)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def client(srv: HoardServer, access_key: str, secret_key: str):
    return boto3.client(
        "s3",
        endpoint_url=srv.endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )


def code_of(call) -> str:
    try:
        call()
        return "OK"
    except ClientError as e:
        return e.response["Error"]["Code"]


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> HoardServer:
    base = tmp_path_factory.mktemp("iam")
    drives = [base / f"disk{i}" for i in range(4)]
    server = HoardServer(base / "logs", drives=drives, extra_args=["--workers", "2"]).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-5000:]


def test_user_lifecycle(srv):
    admin(srv, "user", "add", "alice")
    assert "EntityAlreadyExists" in refused(srv, "user", "add", "alice")
    info = admin_json(srv, "user", "info", "alice")
    assert info["name"] == "alice" and info["enabled"] and info["keys"] == [] and info["policies"] == []
    assert info["arn"].startswith("arn:aws:iam::") and info["arn"].endswith(":user/alice")
    assert info["user_id"].startswith("AIDA")
    assert "alice" in [u["name"] for u in admin_json(srv, "user", "list")["users"]]
    admin(srv, "user", "disable", "alice")
    assert admin_json(srv, "user", "info", "alice")["enabled"] is False
    admin(srv, "user", "enable", "alice")
    assert admin_json(srv, "user", "info", "alice")["enabled"] is True
    admin(srv, "user", "remove", "alice")
    assert "NoSuchEntity" in refused(srv, "user", "info", "alice")
    assert "NoSuchEntity" in refused(srv, "user", "remove", "alice")
    for bad in ("bad name", "x" * 65, "slash/name", ""):
        assert "Error:" in refused(srv, "user", "add", bad)


def test_keys_are_shown_once_and_kept_sealed(srv):
    admin(srv, "user", "add", "bob")
    made = admin_json(srv, "key", "create", "--user", "bob")
    assert made["access_key"].startswith("AKIA") and len(made["secret_key"]) == 40
    listed = admin_json(srv, "key", "list", "--user", "bob")["keys"]
    assert [k["access_key"] for k in listed] == [made["access_key"]]
    assert all("secret_key" not in k for k in listed)
    assert "secret_key" not in json.dumps(admin_json(srv, "user", "info", "bob"))
    # The key works (it authenticates: the request is refused for want of a policy, not for the key).
    bob = client(srv, made["access_key"], made["secret_key"])
    assert code_of(bob.list_buckets) == "AccessDenied"
    # Nowhere on the drives in clear text, and the directory is on every drive.
    for drive in srv.drives:
        assert (drive / ".hoard" / "iam.json").is_file()
        assert made["secret_key"].encode() not in all_bytes(drive)
    assert "NoSuchEntity" in refused(srv, "key", "create", "--user", "nobody")
    assert "NoSuchEntity" in refused(srv, "key", "revoke", "AKIANOSUCHKEY0000000")


def test_revoking_disabling_and_expiry_take_effect_in_every_worker(srv):
    admin(srv, "user", "add", "carol")
    keys = [admin_json(srv, "key", "create", "--user", "carol") for _ in range(2)]
    short = admin_json(srv, "key", "create", "--user", "carol", "--expires", "3")
    carol = [client(srv, k["access_key"], k["secret_key"]) for k in keys]
    # Consecutive requests reach either worker process: each must see every change.
    assert {code_of(c.list_buckets) for c in carol for _ in range(4)} == {"AccessDenied"}
    admin(srv, "key", "revoke", keys[0]["access_key"])
    time.sleep(0.7)
    assert {code_of(carol[0].list_buckets) for _ in range(6)} == {"InvalidAccessKeyId"}
    assert {code_of(carol[1].list_buckets) for _ in range(6)} == {"AccessDenied"}
    admin(srv, "user", "disable", "carol")
    time.sleep(0.7)
    assert {code_of(carol[1].list_buckets) for _ in range(6)} == {"InvalidAccessKeyId"}
    admin(srv, "user", "enable", "carol")
    time.sleep(0.7)
    assert {code_of(carol[1].list_buckets) for _ in range(6)} == {"AccessDenied"}
    expiring = client(srv, short["access_key"], short["secret_key"])
    deadline = short["expires"] + 0.7
    time.sleep(max(0.0, deadline - time.time()))
    assert {code_of(expiring.list_buckets) for _ in range(4)} == {"InvalidAccessKeyId"}
    # Removing the user revokes what keys it had left.
    admin(srv, "user", "remove", "carol")
    time.sleep(0.7)
    assert {code_of(carol[1].list_buckets) for _ in range(4)} == {"InvalidAccessKeyId"}


def test_policies_and_groups(srv, tmp_path):
    admin(srv, "user", "add", "dave")
    names = {p["name"]: p["builtin"] for p in admin_json(srv, "policy", "list")["policies"]}
    assert {n for n, builtin in names.items() if builtin} >= {"readonly", "readwrite", "writeonly", "admin"}
    document = tmp_path / "getpub.json"
    document.write_text(json.dumps(POLICY))
    admin(srv, "policy", "create", "getpub", str(document))
    assert "EntityAlreadyExists" in refused(srv, "policy", "create", "getpub", str(document))
    assert "EntityAlreadyExists" in refused(srv, "policy", "create", "readonly", str(document))
    admin(srv, "policy", "attach", "getpub", "--user", "dave")
    admin(srv, "group", "add", "devs")
    admin(srv, "group", "members", "devs", "--add", "dave")
    admin(srv, "policy", "attach", "readonly", "--group", "devs")
    info = admin_json(srv, "user", "info", "dave")
    assert info["policies"] == ["getpub"] and info["groups"] == ["devs"]
    group = admin_json(srv, "group", "members", "devs")
    assert group["members"] == ["dave"] and group["policies"] == ["readonly"]
    shown = admin(srv, "policy", "show", "getpub").stdout
    assert '"s3:GetObject"' in shown and "dave" in shown
    assert "DeleteConflict" in refused(srv, "policy", "remove", "getpub")
    assert "DeleteConflict" in refused(srv, "policy", "remove", "readonly")
    admin(srv, "policy", "detach", "getpub", "--user", "dave")
    admin(srv, "policy", "remove", "getpub")
    assert "NoSuchEntity" in refused(srv, "policy", "show", "getpub")
    assert "NoSuchEntity" in refused(srv, "policy", "attach", "nosuch", "--user", "dave")
    admin(srv, "group", "members", "devs", "--remove", "dave")
    assert admin_json(srv, "user", "info", "dave")["groups"] == []
    admin(srv, "group", "remove", "devs")
    assert "NoSuchEntity" in refused(srv, "group", "members", "devs")


@pytest.mark.parametrize(
    "document,why",
    [
        ('{"Version": "2012-10-17", "Statement": [', "invalid Json"),
        ('["a list"]', "valid JSON"),
        ('{"Version": "2013-01-01", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}', "version"),
        ('{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}', "effect"),
        ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}', "principal"),
        ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}', "Action"),
        ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjectz", "Resource": "*"}]}', "invalid action"),
    ],
)
def test_malformed_policies_are_refused(srv, tmp_path, document, why):
    path = tmp_path / "bad.json"
    path.write_text(document)
    line = refused(srv, "policy", "create", "bad", str(path))
    assert "MalformedPolicyDocument" in line and why in line, line
    assert "bad" not in [p["name"] for p in admin_json(srv, "policy", "list")["policies"]]


def test_an_identity_with_the_admin_policy_may_administer(srv):
    admin(srv, "user", "add", "ops")
    admin(srv, "user", "add", "plain")
    ops = admin_json(srv, "key", "create", "--user", "ops")
    plain = admin_json(srv, "key", "create", "--user", "plain")
    admin(srv, "policy", "attach", "admin", "--user", "ops")
    time.sleep(0.7)
    env = dict(srv.env(), HOARD_ENDPOINT=srv.endpoint, HOARD_ROOT_ACCESS_KEY="", HOARD_ROOT_SECRET_KEY="")

    def as_user(keys: dict, *args: str) -> subprocess.CompletedProcess:
        user_env = dict(env, AWS_ACCESS_KEY_ID=keys["access_key"], AWS_SECRET_ACCESS_KEY=keys["secret_key"])
        return subprocess.run([sys.executable, "-m", "hoard", "admin", *args], env=user_env, capture_output=True, text=True, timeout=120)

    assert as_user(ops, "user", "list").returncode == 0
    done = as_user(plain, "user", "list")
    assert done.returncode != 0 and "AccessDenied" in done.stderr


def test_directory_survives_restart_and_index_rebuild(tmp_path):
    drives = [tmp_path / f"disk{i}" for i in range(4)]
    srv = HoardServer(tmp_path / "logs", drives=drives).start()
    try:
        admin(srv, "user", "add", "erin")
        key = admin_json(srv, "key", "create", "--user", "erin")
        admin(srv, "group", "add", "team")
        admin(srv, "group", "members", "team", "--add", "erin")
        admin(srv, "policy", "attach", "readwrite", "--group", "team")

        def check(server: HoardServer) -> None:
            info = admin_json(server, "user", "info", "erin")
            assert info["groups"] == ["team"] and [k["access_key"] for k in info["keys"]] == [key["access_key"]]
            # readwrite, through the group: the rights came back with the directory.
            assert code_of(client(server, key["access_key"], key["secret_key"]).list_buckets) == "OK"

        check(srv)
        srv.stop()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        check(srv)
        admin(srv, "rebuild-index")
        check(srv)
        srv.stop()
        for d in drives:
            for path in d.glob(".hoard/meta.db*"):
                path.unlink()
        # A drive that was away during a change holds an older directory: the newest wins.
        stale = (drives[3] / ".hoard" / "iam.json").read_bytes()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        admin(srv, "user", "add", "frank")
        srv.stop()
        (drives[3] / ".hoard" / "iam.json").write_bytes(stale)
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        check(srv)
        assert "frank" in [u["name"] for u in admin_json(srv, "user", "list")["users"]]
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def test_the_secrets_key(tmp_path):
    """Generated root keys are sealed; the server needs the same secrets key to start again, and
    says so in one line when it has another."""
    data = tmp_path / "data"
    key_file = tmp_path / "secrets.key"
    key_file.write_text(base64.b64encode(os.urandom(32)).decode())
    key_file.chmod(0o600)
    env = {"HOARD_ROOT_ACCESS_KEY": "", "HOARD_ROOT_SECRET_KEY": "", "HOARD_SECRETS_KEY_FILE": str(key_file)}
    srv = HoardServer(data, env_extra=env).start()
    try:
        banner = srv.log()
        stored = json.loads((data / ".hoard" / "root-credentials.json").read_text())
        assert set(stored) == {"access_key", "sealed_secret"}
        secret = next(line.split(":", 1)[1].strip() for line in banner.splitlines() if "SecretKey:" in line)
        assert secret.encode() not in all_bytes(data)
        assert code_of(client(srv, stored["access_key"], secret).list_buckets) == "OK"
    finally:
        srv.stop()
    # Another key: the sealed secrets do not open; one line, no traceback, nothing served.
    other = dict(env, HOARD_SECRETS_KEY=base64.b64encode(os.urandom(32)).decode(), HOARD_SECRETS_KEY_FILE="")
    wrong = HoardServer(data, env_extra=other)
    with pytest.raises(RuntimeError, match="exited early"):
        wrong.start()
    assert "secrets key" in wrong.log() and "Traceback" not in wrong.log()
    # The right key again: it starts, with the same root keys.
    srv = HoardServer(data, env_extra=env).start()
    try:
        assert code_of(client(srv, stored["access_key"], secret).list_buckets) == "OK"
    finally:
        srv.stop()


def test_clear_text_root_secret_from_before_is_sealed_at_start(tmp_path):
    data = tmp_path / "data"
    srv = HoardServer(data, env_extra={"HOARD_ROOT_ACCESS_KEY": "", "HOARD_ROOT_SECRET_KEY": ""}).start()
    access, secret = srv.generated_root_keys()
    srv.stop()
    # As an older Hoard left it: the secret in clear text.
    (data / ".hoard" / "root-credentials.json").write_text(json.dumps({"access_key": access, "secret_key": secret}))
    srv = HoardServer(data, env_extra={"HOARD_ROOT_ACCESS_KEY": "", "HOARD_ROOT_SECRET_KEY": ""}).start()
    try:
        assert code_of(client(srv, access, secret).list_buckets) == "OK"
        assert secret.encode() not in (data / ".hoard" / "root-credentials.json").read_bytes()
        assert srv.generated_root_keys() == (access, secret)
    finally:
        srv.stop()


def test_a_readonly_user_shares_a_file_for_an_hour(srv, tmp_path):
    """The README's flow: a user with a read-only key, a presigned URL that works for anyone
    until its key is revoked; the user cannot write."""
    import requests

    root = srv.client()
    root.create_bucket(Bucket="reports")
    root.put_object(Bucket="reports", Key="q4.pdf", Body=b"%PDF numbers")
    admin(srv, "user", "add", "reporting")
    admin(srv, "policy", "attach", "readonly", "--user", "reporting")
    key = admin_json(srv, "key", "create", "--user", "reporting")
    time.sleep(0.7)
    reporting = client(srv, key["access_key"], key["secret_key"])
    assert reporting.get_object(Bucket="reports", Key="q4.pdf")["Body"].read() == b"%PDF numbers"
    assert code_of(lambda: reporting.put_object(Bucket="reports", Key="x", Body=b"x")) == "AccessDenied"
    assert code_of(lambda: reporting.delete_object(Bucket="reports", Key="q4.pdf")) == "AccessDenied"
    url = reporting.generate_presigned_url("get_object", Params={"Bucket": "reports", "Key": "q4.pdf"}, ExpiresIn=3600)
    got = requests.get(url, timeout=10)
    assert (got.status_code, got.content) == (200, b"%PDF numbers")
    put_url = reporting.generate_presigned_url("put_object", Params={"Bucket": "reports", "Key": "sneaky"}, ExpiresIn=3600)
    assert requests.put(put_url, data=b"x", timeout=10).status_code == 403  # a URL carries its signer's rights, no more
    admin(srv, "key", "revoke", key["access_key"])
    time.sleep(0.7)
    assert requests.get(url, timeout=10).status_code == 403
    assert code_of(lambda: root.head_object(Bucket="reports", Key="sneaky")) == "404"
