"""The README's user stories, run exactly as a user types them: AWS CLI v1 and boto3."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest

from tests.conftest import aws_cli


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
