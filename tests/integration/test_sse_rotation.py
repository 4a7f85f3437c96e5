"""Master key rotation (``hoard admin kms rotate``) against a real four-drive server: every data
key resealed while objects are read and written, uploads in progress carried over, the old key
refused afterwards (and the right key serving again), and a rotation cut short finished at the
next start."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from hoard.crypto.keys import MasterKey, envelope_key_id
from hoard.storage import record as record_file
from tests.conftest import HoardServer, wait_for
from tests.integration.test_sse import code, start

MiB = 1024 * 1024


def key_file(server: HoardServer) -> Path:
    (found,) = (Path(server.env()["XDG_CONFIG_HOME"]) / "hoard" / "secrets").glob("*.master.key")
    return found


def key_lines(server: HoardServer) -> list[str]:
    return [line for line in key_file(server).read_text().splitlines() if line.strip()]


def key_id(line: str) -> str:
    return MasterKey(base64.b64decode(line)).key_id


def sse_s3_sealers(server: HoardServer) -> set[str]:
    """The ids of the master keys that seal the SSE-S3 data keys in the records on the drives."""
    ids = set()
    for drive in server.drives:
        for path in (drive / ".hoard" / "records").glob("*/*"):
            encryption = record_file.decode(path.read_bytes()).record.encryption
            if encryption is not None and encryption.mode == "AES256":
                ids.add(envelope_key_id(base64.b64decode(encryption.sealed_key)).hex())
    return ids


def restart(server: HoardServer, **env: str) -> HoardServer:
    return HoardServer(server.data_dir, port=server.port, drives=server.drives, env_extra={**server.env_extra, **env}).start()


def test_rotation_reseals_everything_while_serving_and_the_old_key_is_refused(tmp_path):
    server = start(tmp_path)
    s3 = server.client()
    s3.create_bucket(Bucket="rot")
    s3.put_bucket_versioning(Bucket="rot", VersioningConfiguration={"Status": "Enabled"})
    bodies = {"small": b"s" * 100, "large": os.urandom(3 * MiB + 1)}
    for name, body in bodies.items():
        s3.put_object(Bucket="rot", Key=name, Body=body, ServerSideEncryption="AES256")
    old_version = s3.put_object(Bucket="rot", Key="versioned", Body=b"first", ServerSideEncryption="AES256")["VersionId"]
    s3.put_object(Bucket="rot", Key="versioned", Body=b"second", ServerSideEncryption="AES256")
    made = json.loads(server.admin("kms", "key", "create", "--json").stdout)
    s3.put_object(Bucket="rot", Key="kms", Body=b"k" * 5000, ServerSideEncryption="aws:kms", SSEKMSKeyId=made["key_id"])
    s3.put_object(Bucket="rot", Key="plain", Body=b"p")
    upload = s3.create_multipart_upload(Bucket="rot", Key="mp", ServerSideEncryption="AES256")
    first_part = os.urandom(5 * MiB)
    part1 = s3.upload_part(Bucket="rot", Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=first_part)
    (old_line,) = key_lines(server)

    # Traffic all through the rotation: encrypted writes and reads of what was just written.
    written: dict[str, bytes] = {}
    errors: list[BaseException] = []
    stop = threading.Event()

    def traffic() -> None:
        client = server.client()
        n = 0
        while not stop.is_set():
            n += 1
            body = os.urandom(1000 + n)
            try:
                client.put_object(Bucket="rot", Key=f"during/{n}", Body=body, ServerSideEncryption="AES256")
                written[f"during/{n}"] = body
                assert client.get_object(Bucket="rot", Key="large")["Body"].read() == bodies["large"]
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        time.sleep(0.5)
        done = server.admin("kms", "rotate", "--json")
        assert json.loads(done.stdout[done.stdout.index("{") :])["state"] == "finished"
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert len(written) > 2  # the traffic did run during the rotation

    (new_line,) = key_lines(server)  # the file holds the new key alone
    assert new_line != old_line
    assert sse_s3_sealers(server) == {key_id(new_line)}  # every SSE-S3 data key on the drives is under it
    part2 = s3.upload_part(Bucket="rot", Key="mp", UploadId=upload["UploadId"], PartNumber=2, Body=b"tail")
    parts = [{"ETag": part1["ETag"], "PartNumber": 1}, {"ETag": part2["ETag"], "PartNumber": 2}]
    s3.complete_multipart_upload(Bucket="rot", Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})

    def everything_reads(client) -> None:
        for name, body in {**bodies, **written, "mp": first_part + b"tail", "kms": b"k" * 5000, "plain": b"p"}.items():
            assert client.get_object(Bucket="rot", Key=name)["Body"].read() == body, name
        assert client.get_object(Bucket="rot", Key="versioned", VersionId=old_version)["Body"].read() == b"first"

    everything_reads(s3)
    server.stop()

    # The old key afterwards: nothing encrypted opens, nothing new is encrypted under it; plain objects serve.
    with_old = restart(server, HOARD_MASTER_KEY=old_line)
    try:
        old_client = with_old.client()
        with pytest.raises(ClientError) as read:
            old_client.get_object(Bucket="rot", Key="large")
        assert code(read) == (500, "InternalError") and "master key" in read.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as write:
            old_client.put_object(Bucket="rot", Key="new", Body=b"n", ServerSideEncryption="AES256")
        assert code(write)[0] == 500 and "not the deployment's" in write.value.response["Error"]["Message"]
        assert old_client.get_object(Bucket="rot", Key="plain")["Body"].read() == b"p"
    finally:
        with_old.stop()
    assert "not the deployment's" in with_old.log()

    again = restart(server)
    try:
        everything_reads(again.client())
    finally:
        again.stop()


def test_a_rotation_cut_short_is_finished_at_the_next_start(tmp_path):
    server = start(tmp_path)
    s3 = server.client()
    s3.create_bucket(Bucket="cut")
    s3.put_object(Bucket="cut", Key="a", Body=b"a" * 70_000, ServerSideEncryption="AES256")
    made = json.loads(server.admin("kms", "key", "create", "--json").stdout)
    s3.put_object(Bucket="cut", Key="k", Body=b"kms", ServerSideEncryption="aws:kms", SSEKMSKeyId=made["key_id"])
    server.stop()
    # As a crash right after the rotation's first step leaves it: the new key first, the old after it.
    (old_line,) = key_lines(server)
    new_line = base64.b64encode(os.urandom(32)).decode()
    key_file(server).write_text(f"{new_line}\n{old_line}\n")

    resumed = restart(server)
    try:
        assert wait_for(lambda: key_lines(resumed) == [new_line], timeout=60)
        status = json.loads(resumed.admin("kms", "rotate", "--status", "--json").stdout)
        assert status["state"] == "finished" and status["new_key_id"] == key_id(new_line)
        assert sse_s3_sealers(resumed) == {key_id(new_line)}
        client = resumed.client()
        assert client.get_object(Bucket="cut", Key="a")["Body"].read() == b"a" * 70_000
        assert client.get_object(Bucket="cut", Key="k")["Body"].read() == b"kms"
    finally:
        resumed.stop()
    assert "Traceback" not in resumed.log(), resumed.log()[-3000:]
