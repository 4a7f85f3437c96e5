"""The README's user stories, run exactly as a user types them: AWS CLI v1 and boto3."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, aws_cli


def run_aws(env: dict[str, str], endpoint: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [*aws_cli(), "--endpoint-url", endpoint, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"aws {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_aws_cli_bucket_lifecycle(server, aws_env, tmp_path):
    ep = server.endpoint
    sample = tmp_path / "sampletext.txt"
    sample.write_text("Hello from the tech230 sample text file.\n" * 100)

    run_aws(aws_env, ep, "s3", "ls", cwd=tmp_path)
    run_aws(aws_env, ep, "s3", "mb", "s3://tech230-basil-bucket", "--region", "eu-west-1", cwd=tmp_path)
    assert "tech230-basil-bucket" in run_aws(aws_env, ep, "s3", "ls", cwd=tmp_path)
    run_aws(aws_env, ep, "s3", "cp", "sampletext.txt", "s3://tech230-basil-bucket", cwd=tmp_path)
    listing = run_aws(aws_env, ep, "s3", "ls", "s3://tech230-basil-bucket", cwd=tmp_path)
    assert "sampletext.txt" in listing and str(sample.stat().st_size) in listing

    run_aws(aws_env, ep, "s3", "sync", "s3://tech230-basil-bucket", "s3_downloads", cwd=tmp_path)
    assert (tmp_path / "s3_downloads" / "sampletext.txt").read_bytes() == sample.read_bytes()

    location = run_aws(aws_env, ep, "s3api", "get-bucket-location", "--bucket", "tech230-basil-bucket", cwd=tmp_path)
    assert "eu-west-1" in location

    run_aws(aws_env, ep, "s3", "rm", "s3://tech230-basil-bucket/sampletext.txt", cwd=tmp_path)
    assert "sampletext.txt" not in run_aws(aws_env, ep, "s3", "ls", "s3://tech230-basil-bucket", cwd=tmp_path)

    # --recursive over several objects, nested too
    for name in ("a.txt", "dir/b.txt", "dir/sub/c.txt"):
        (tmp_path / "tree" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tree" / name).write_text(name)
    run_aws(aws_env, ep, "s3", "cp", "tree", "s3://tech230-basil-bucket/tree", "--recursive", cwd=tmp_path)
    assert "dir/sub/c.txt" in run_aws(aws_env, ep, "s3", "ls", "s3://tech230-basil-bucket", "--recursive", cwd=tmp_path)
    run_aws(aws_env, ep, "s3", "rm", "s3://tech230-basil-bucket", "--recursive", cwd=tmp_path)
    assert run_aws(aws_env, ep, "s3", "ls", "s3://tech230-basil-bucket", "--recursive", cwd=tmp_path).strip() == ""

    run_aws(aws_env, ep, "s3", "rb", "s3://tech230-basil-bucket", cwd=tmp_path)
    assert "tech230-basil-bucket" not in run_aws(aws_env, ep, "s3", "ls", cwd=tmp_path)


def test_aws_cli_multipart_100mib(server, aws_env, tmp_path):
    ep = server.endpoint
    big = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096  # 1 MiB of a repeating but position-sensitive pattern
    with open(big, "wb") as f:
        for i in range(100):
            f.write(i.to_bytes(4, "big") + block[4:])
    run_aws(aws_env, ep, "s3", "mb", "s3://tech230-multipart", cwd=tmp_path)
    try:
        run_aws(aws_env, ep, "s3", "cp", "big.bin", "s3://tech230-multipart/big.bin", cwd=tmp_path)
        head = run_aws(aws_env, ep, "s3api", "head-object", "--bucket", "tech230-multipart", "--key", "big.bin", cwd=tmp_path)
        assert '-' in head.split('"ETag"')[1].split("\n")[0], f"expected a multipart ETag: {head}"
        run_aws(aws_env, ep, "s3", "cp", "s3://tech230-multipart/big.bin", "back.bin", cwd=tmp_path)
        assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    finally:
        run_aws(aws_env, ep, "s3", "rb", "s3://tech230-multipart", "--force", cwd=tmp_path)


def test_boto3_user_story(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sampletext.txt").write_text("boto3 sample text\n")
    endpoint = server.endpoint
    creds = dict(aws_access_key_id="HOARDTESTACCESSKEY01", aws_secret_access_key="hoard-test-secret-key/0123456789abcdefXYZ", region_name="us-east-1")

    s3 = boto3.resource("s3", endpoint_url=endpoint, **creds)
    before = [b.name for b in s3.buckets.all()]
    assert "tech230-basil-boto" not in before
    boto3.client("s3", endpoint_url=endpoint, **creds).create_bucket(
        Bucket="tech230-basil-boto", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert "tech230-basil-boto" in [b.name for b in s3.buckets.all()]
    s3.Bucket("tech230-basil-boto").put_object(Key="sampletext.txt", Body=open("sampletext.txt", "rb"))
    boto3.client("s3", endpoint_url=endpoint, **creds).download_file("tech230-basil-boto", "sampletext.txt", "sampletext1.txt")
    assert (tmp_path / "sampletext1.txt").read_bytes() == (tmp_path / "sampletext.txt").read_bytes()
    s3.Object("tech230-basil-boto", "sampletext.txt").delete()
    assert list(s3.Bucket("tech230-basil-boto").objects.all()) == []
    s3.Bucket("tech230-basil-boto").delete()
    assert "tech230-basil-boto" not in [b.name for b in s3.buckets.all()]


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_boto3_addressing_styles(tmp_path, style):
    """Virtual-hosted style works when HOARD_DOMAIN names the domain buckets live under."""
    from botocore.config import Config

    from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer

    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_DOMAIN": "localhost"}).start()
    try:
        endpoint = f"http://localhost:{srv.port}"
        c = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1", config=Config(s3={"addressing_style": style}),
        )
        # *.localhost does not resolve everywhere: sign for the virtual host, connect to 127.0.0.1.
        def pin_host(request, **_):
            request.headers["Host"] = request.url.split("/")[2]

        def to_loopback(request, **_):
            host = request.url.split("/")[2]
            request.url = request.url.replace(host, f"127.0.0.1:{srv.port}", 1)

        c.meta.events.register("before-sign.s3", pin_host)
        c.meta.events.register("before-send.s3", to_loopback)
        c.create_bucket(Bucket="styled")
        c.put_object(Bucket="styled", Key="dir/file name+.txt", Body=b"styled")
        assert c.get_object(Bucket="styled", Key="dir/file name+.txt")["Body"].read() == b"styled"
        assert [o["Key"] for o in c.list_objects_v2(Bucket="styled")["Contents"]] == ["dir/file name+.txt"]
    finally:
        srv.stop()


# -- scripts written for AWS, run unchanged ----------------------------------------------------


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's shell: none of the machine's AWS_* or HOARD_* variables, the AWS CLI's files in
    ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AWS_", "HOARD_"))}
    env.update(HOME=str(home), AWS_CONFIG_FILE=str(home / ".aws" / "config"), AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"))
    env.update(extra)
    return env


def run(command: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# A seed script as it was written for AWS: no endpoint, no keys, no region in it.
SEED_SCRIPT = """\
import sys

import boto3

bucket = sys.argv[1]
s3 = boto3.resource("s3")
print("before:", sorted(b.name for b in s3.buckets.all()))
boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
s3.Bucket(bucket).put_object(Key="sampletext.txt", Body=open("sampletext.txt", "rb"))
boto3.client("s3").download_file(bucket, "sampletext.txt", "sampletext1.txt")
print("location:", boto3.client("s3").get_bucket_location(Bucket=bucket)["LocationConstraint"])
print("keys:", [o.key for o in s3.Bucket(bucket).objects.all()])
"""


def test_seed_script_with_the_endpoint_in_the_profile(server, tmp_path):
    """``aws configure set endpoint_url``, once; then a boto3 script written for AWS runs as it is."""
    env = user_env(tmp_path)
    for key, value in (
        ("aws_access_key_id", ACCESS_KEY),
        ("aws_secret_access_key", SECRET_KEY),
        ("region", "eu-west-1"),
        ("endpoint_url", server.endpoint),
    ):
        run([*aws_cli(), "configure", "set", key, value], env, tmp_path)
    assert f"endpoint_url = {server.endpoint}" in (tmp_path / ".aws" / "config").read_text()
    (tmp_path / "seed.py").write_text(SEED_SCRIPT)
    (tmp_path / "sampletext.txt").write_text("seed data\n" * 50)
    bucket = f"seed-{uuid.uuid4().hex[:12]}"

    out = run([sys.executable, "seed.py", bucket], env, tmp_path)

    assert (tmp_path / "sampletext1.txt").read_bytes() == (tmp_path / "sampletext.txt").read_bytes()
    assert "location: eu-west-1" in out and "keys: ['sampletext.txt']" in out
    s3 = server.client()
    assert s3.get_object(Bucket=bucket, Key="sampletext.txt")["Body"].read() == (tmp_path / "sampletext.txt").read_bytes()
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
    s3.delete_object(Bucket=bucket, Key="sampletext.txt")
    s3.delete_bucket(Bucket=bucket)


def test_aws_cli_with_aws_endpoint_url(server, bucket, tmp_path):
    """``export AWS_ENDPOINT_URL=...``: the AWS CLI as typed against AWS, no region set anywhere."""
    env = user_env(tmp_path, AWS_ENDPOINT_URL=server.endpoint, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    (tmp_path / "notes.txt").write_text("notes\n")
    assert bucket in run([*aws_cli(), "s3", "ls"], env, tmp_path)
    run([*aws_cli(), "s3", "cp", "notes.txt", f"s3://{bucket}/"], env, tmp_path)
    assert "notes.txt" in run([*aws_cli(), "s3", "ls", f"s3://{bucket}"], env, tmp_path)


def test_banner_lines_pasted_into_a_shell(tmp_path):
    """The start-up banner's export lines, pasted as printed, make ``aws s3`` commands reach the
    server with the credentials it generated."""
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_ROOT_ACCESS_KEY": "", "HOARD_ROOT_SECRET_KEY": ""}).start()
    try:
        exports = [line.strip() for line in srv.log().splitlines() if line.strip().startswith("export AWS_")]
        assert exports[0] == f"export AWS_ENDPOINT_URL={srv.endpoint}"
        assert re.fullmatch(r"export AWS_ACCESS_KEY_ID=\S+ AWS_SECRET_ACCESS_KEY='\S+'", exports[1])
        aws = " ".join(aws_cli())
        script = "\n".join([*exports, f"{aws} s3 mb s3://from-the-banner", f"{aws} s3 ls"])
        out = run(["bash", "-c", script], user_env(tmp_path), tmp_path)
        assert "from-the-banner" in out
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()
