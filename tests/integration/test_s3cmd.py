"""s3cmd, the other CLI people point at S3-compatible servers, run as a user runs it.

s3cmd signs with SigV4 in its own code (not botocore's), addresses buckets path-style when
``host_bucket`` has no ``%(bucket)s``, and splits large files into multipart uploads itself, so
it checks Hoard against a second, independent client implementation.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer

MiB = 1024 * 1024


@pytest.fixture
def s3cmd(server: HoardServer, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run s3cmd against the test server with a config file of its own; returns the finished process."""
    exe = shutil.which("s3cmd")
    assert exe, "s3cmd (from PyPI) is not installed"
    config = tmp_path / "s3cfg"
    address = f"127.0.0.1:{server.port}"
    config.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\n"
        f"secret_key = {SECRET_KEY}\n"
        f"host_base = {address}\n"
        f"host_bucket = {address}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        f"bucket_location = {REGION}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # s3cmd looks for ~/.s3cfg and caches in HOME; keep the machine's own out of the test.
    env["HOME"] = str(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([exe, "-c", str(config), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"s3cmd {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        # s3cmd only warns (exit 0) when the downloaded bytes do not match the MD5 it stored.
        assert "MD5 signatures do not match" not in proc.stdout + proc.stderr
        return proc

    return run


def test_s3cmd_bucket_and_object_lifecycle(s3cmd, s3, tmp_path):
    name = f"s3cmd-{uuid.uuid4().hex[:12]}"
    sample = tmp_path / "sample.txt"
    sample.write_bytes(b"Hello from s3cmd.\n" * 50 + bytes(range(256)))
    size = sample.stat().st_size
    try:
        out = s3cmd("mb", f"s3://{name}").stdout
        assert f"Bucket 's3://{name}/' created" in out
        assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200

        out = s3cmd("put", str(sample), f"s3://{name}/dir/sample.txt").stdout
        assert f"-> 's3://{name}/dir/sample.txt'" in out and f"{size} bytes" in out

        listing = s3cmd("ls", "--recursive", f"s3://{name}").stdout.splitlines()
        assert len(listing) == 1
        assert listing[0].split()[-2:] == [str(size), f"s3://{name}/dir/sample.txt"]
        # Without --recursive, ls shows the folder as S3's common prefix.
        assert f"DIR  s3://{name}/dir/" in s3cmd("ls", f"s3://{name}").stdout

        s3cmd("get", f"s3://{name}/dir/sample.txt", str(tmp_path / "back.txt"))
        assert (tmp_path / "back.txt").read_bytes() == sample.read_bytes()

        out = s3cmd("del", f"s3://{name}/dir/sample.txt").stdout
        assert f"delete: 's3://{name}/dir/sample.txt'" in out
        assert s3cmd("ls", "--recursive", f"s3://{name}").stdout.strip() == ""
        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0

        out = s3cmd("rb", f"s3://{name}").stdout
        assert f"Bucket 's3://{name}/' removed" in out
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        # A failed step must not leave the bucket behind for the rest of the session.
        if _exists(s3, name):
            for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
            s3.delete_bucket(Bucket=name)


def _exists(s3, name: str) -> bool:
    return name in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_s3cmd_ls_lists_buckets(s3cmd, bucket):
    lines = s3cmd("ls").stdout.splitlines()
    assert any(line.split()[-1] == f"s3://{bucket}" for line in lines), lines


def test_s3cmd_multipart_put_round_trips(s3cmd, s3, bucket, tmp_path):
    big = tmp_path / "big.bin"
    # 12 MiB and a few bytes: two full 5 MiB parts and a short third one.
    data = os.urandom(12 * MiB + 12345)
    big.write_bytes(data)
    s3cmd("put", "--multipart-chunk-size-mb=5", str(big), f"s3://{bucket}/big.bin")

    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    # A multipart ETag names its part count: proof that s3cmd really split the file.
    assert head["ETag"].strip('"').endswith("-3")

    s3cmd("get", f"s3://{bucket}/big.bin", str(tmp_path / "big.out"))
    back = (tmp_path / "big.out").read_bytes()
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
