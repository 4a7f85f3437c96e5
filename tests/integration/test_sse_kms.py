"""SSE-KMS against a real four-drive server: keys made and listed with ``hoard admin kms``, named
by id, ARN or alias (or none: S3's default key), round trips with boto3 and the AWS CLI,
multipart, a bucket's default, a copy through every mode, the encryption context, a disabled
or unknown key, no plaintext on the drives, and another master key that opens nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, aws_cli
from tests.integration.test_sse import MARK_CLEAR, MARK_SECRET, code, start

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[HoardServer]:
    server = start(tmp_path_factory.mktemp("kms"), HOARD_SSE_C_OVER_HTTP="true")
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.fixture(scope="module")
def kms_key(srv) -> dict:
    """A key made as an operator makes one, with an alias."""
    made = json.loads(srv.admin("kms", "key", "create", "--alias", "backups", "--description", "for the tests", "--json").stdout)
    assert made["aliases"] == ["alias/backups"] and made["state"] == "Enabled"
    assert made["arn"] == f"arn:aws:kms:us-east-1:{made['arn'].split(':')[4]}:key/{made['key_id']}"
    return made


@pytest.fixture
def bucket(srv) -> str:
    name = f"kms-{uuid.uuid4().hex[:10]}"
    srv.client().create_bucket(Bucket=name)
    return name


def test_keys_are_made_and_listed_by_the_admin_cli(srv, kms_key):
    listed = json.loads(srv.admin("kms", "key", "list", "--json").stdout)["keys"]
    assert kms_key["key_id"] in [k["key_id"] for k in listed]
    assert "material" not in json.dumps(listed)  # never the key itself
    shown = srv.admin("kms", "key", "list").stdout
    assert kms_key["key_id"] in shown and "alias/backups" in shown
    taken = srv.admin("kms", "key", "create", "--alias", "backups", check=False)
    assert taken.returncode != 0 and "KMS.AlreadyExistsException" in taken.stderr + taken.stdout


@pytest.mark.parametrize("name", ["id", "arn", "alias", "alias-arn"])
def test_a_key_named_any_way_encrypts_and_reads_back(srv, bucket, kms_key, name):
    ref = {
        "id": kms_key["key_id"], "arn": kms_key["arn"], "alias": "alias/backups",
        "alias-arn": kms_key["arn"].rsplit(":", 1)[0] + ":alias/backups",
    }[name]  # fmt: skip
    s3 = srv.client()
    body = os.urandom(2 * MiB + 17)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=ref)
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == kms_key["arn"]
    assert put["ETag"] != f'"{hashlib.md5(body).hexdigest()}"'  # an SSE-KMS ETag is not the plaintext's MD5
    context = json.loads(base64.b64decode(put["SSEKMSEncryptionContext"]))
    assert context == {"aws:s3:arn": f"arn:aws:s3:::{bucket}/k"}  # S3's default context: the object's ARN
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == body and got["ServerSideEncryption"] == "aws:kms" and got["SSEKMSKeyId"] == kms_key["arn"]
    assert got["ETag"] == put["ETag"] and got["ContentLength"] == len(body)
    ranged = s3.get_object(Bucket=bucket, Key="k", Range="bytes=1048570-1048600")["Body"].read()
    assert ranged == body[1048570:1048601]
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key["arn"] and head["ContentLength"] == len(body)
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == len(body)


def test_no_key_named_uses_the_default_key(srv, bucket):
    s3 = srv.client()
    put = s3.put_object(Bucket=bucket, Key="d", Body=b"default key", ServerSideEncryption="aws:kms")
    listed = json.loads(srv.admin("kms", "key", "list", "--json").stdout)["keys"]
    default = [k for k in listed if "alias/aws/s3" in k["aliases"]]
    assert len(default) == 1 and put["SSEKMSKeyId"] == default[0]["arn"]
    s3.put_object(Bucket=bucket, Key="d2", Body=b"again", ServerSideEncryption="aws:kms")
    again = json.loads(srv.admin("kms", "key", "list", "--json").stdout)["keys"]
    assert len([k for k in again if "alias/aws/s3" in k["aliases"]]) == 1  # made once
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == b"default key"


def test_the_clients_encryption_context_is_kept_with_the_objects_arn(srv, bucket, kms_key):
    s3 = srv.client()
    mine = {"project": "hoard", "team": "storage"}
    encoded = base64.b64encode(json.dumps(mine).encode()).decode()
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"context", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["key_id"], SSEKMSEncryptionContext=encoded)
    assert json.loads(base64.b64decode(put["SSEKMSEncryptionContext"])) == {**mine, "aws:s3:arn": f"arn:aws:s3:::{bucket}/c"}
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"context"


def test_multipart_with_parts_of_different_sizes(srv, bucket, kms_key):
    s3 = srv.client()
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/backups", BucketKeyEnabled=True)
    assert upload["ServerSideEncryption"] == "aws:kms" and upload["SSEKMSKeyId"] == kms_key["arn"] and upload["BucketKeyEnabled"] is True
    sizes = [5 * MiB + 1, 5 * MiB, 7]
    bodies = [os.urandom(n) for n in sizes]
    parts = []
    for n, part_body in enumerate(bodies, start=1):
        part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=part_body)
        assert part["ServerSideEncryption"] == "aws:kms" and part["SSEKMSKeyId"] == kms_key["arn"]
        parts.append({"ETag": part["ETag"], "PartNumber": n})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    assert done["ServerSideEncryption"] == "aws:kms" and done["SSEKMSKeyId"] == kms_key["arn"]
    whole = b"".join(bodies)
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == whole and got["BucketKeyEnabled"] is True
    edge = sizes[0]
    assert s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={edge - 3}-{edge + 3}")["Body"].read() == whole[edge - 3 : edge + 4]
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)["Body"].read() == bodies[2]


def test_a_copy_through_every_mode(srv, bucket, kms_key):
    """plain -> SSE-S3 -> SSE-C -> SSE-KMS -> plain, each copy read back whole."""
    s3 = srv.client()
    body = os.urandom(3 * MiB + 5)
    customer = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(32)}
    source_customer = {f"CopySource{k}": v for k, v in customer.items()}
    s3.put_object(Bucket=bucket, Key="0-plain", Body=body)
    s3.copy_object(Bucket=bucket, Key="1-s3", CopySource={"Bucket": bucket, "Key": "0-plain"}, ServerSideEncryption="AES256")
    s3.copy_object(Bucket=bucket, Key="2-c", CopySource={"Bucket": bucket, "Key": "1-s3"}, **customer)
    kms = s3.copy_object(Bucket=bucket, Key="3-kms", CopySource={"Bucket": bucket, "Key": "2-c"}, ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["key_id"], **source_customer)
    assert kms["ServerSideEncryption"] == "aws:kms" and kms["SSEKMSKeyId"] == kms_key["arn"]
    plain = s3.copy_object(Bucket=bucket, Key="4-plain", CopySource={"Bucket": bucket, "Key": "3-kms"})
    assert "ServerSideEncryption" not in plain
    assert s3.get_object(Bucket=bucket, Key="2-c", **customer)["Body"].read() == body
    for key, mode in (("1-s3", "AES256"), ("3-kms", "aws:kms"), ("4-plain", None)):
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body and got.get("ServerSideEncryption") == mode, key
    # A part copied from an SSE-KMS source into an SSE-KMS upload under another key.
    other = json.loads(srv.admin("kms", "key", "create", "--json").stdout)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="5-parts", ServerSideEncryption="aws:kms", SSEKMSKeyId=other["arn"])
    part = s3.upload_part_copy(Bucket=bucket, Key="5-parts", UploadId=upload["UploadId"], PartNumber=1, CopySource={"Bucket": bucket, "Key": "3-kms"}, CopySourceRange="bytes=7-2000000")
    s3.complete_multipart_upload(Bucket=bucket, Key="5-parts", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"ETag": part["CopyPartResult"]["ETag"], "PartNumber": 1}]})
    got = s3.get_object(Bucket=bucket, Key="5-parts")
    assert got["Body"].read() == body[7:2000001] and got["SSEKMSKeyId"] == other["arn"]


def test_a_buckets_default_kms_encryption(srv, bucket, kms_key):
    s3 = srv.client()
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/backups"}, "BucketKeyEnabled": True}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0] == rule
    put = s3.put_object(Bucket=bucket, Key="by-default", Body=b"x" * 1000)
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == kms_key["arn"] and put["BucketKeyEnabled"] is True
    # A request's own choice wins over the bucket's.
    assert s3.put_object(Bucket=bucket, Key="s3", Body=b"y", ServerSideEncryption="AES256")["ServerSideEncryption"] == "AES256"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi")
    assert upload["SSEKMSKeyId"] == kms_key["arn"]
    # A default naming a key that does not exist is accepted (as S3 does) and refuses the writes it applies to.
    missing = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/none-such"}}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [missing]})
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="refused", Body=b"z")
    assert code(refused) == (400, "KMS.NotFoundException")
    with pytest.raises(ClientError) as absent:
        s3.head_object(Bucket=bucket, Key="refused")
    assert code(absent)[0] == 404


def test_a_read_naming_an_encryption_is_refused(srv, bucket, kms_key):
    s3 = srv.client()
    s3.put_object(Bucket=bucket, Key="r", Body=b"read me", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["key_id"])

    def add(request, **kwargs):
        request.headers["x-amz-server-side-encryption"] = "aws:kms"

    s3.meta.events.register_first("before-sign.s3.GetObject", add)
    s3.meta.events.register_first("before-sign.s3.HeadObject", add)
    with pytest.raises(ClientError) as get:
        s3.get_object(Bucket=bucket, Key="r")
    assert code(get) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket=bucket, Key="r")
    assert code(head)[0] == 400


def test_a_disabled_key_reads_and_writes_nothing_until_enabled(srv, bucket):
    s3 = srv.client()
    key = json.loads(srv.admin("kms", "key", "create", "--alias", "soon-disabled", "--json").stdout)
    s3.put_object(Bucket=bucket, Key="o", Body=b"under a key that will be disabled", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["key_id"])
    srv.admin("kms", "key", "disable", "alias/soon-disabled")
    with pytest.raises(ClientError) as read:
        s3.get_object(Bucket=bucket, Key="o")
    assert code(read) == (400, "KMS.DisabledException")
    with pytest.raises(ClientError) as write:
        s3.put_object(Bucket=bucket, Key="p", Body=b"no", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["key_id"])
    assert code(write) == (400, "KMS.DisabledException")
    srv.admin("kms", "key", "enable", key["arn"])
    assert s3.get_object(Bucket=bucket, Key="o")["Body"].read() == b"under a key that will be disabled"


def test_the_aws_cli_uploads_and_downloads_with_a_kms_key(srv, bucket, kms_key, tmp_path):
    data = os.urandom(9 * MiB + 3)  # over the CLI's 8 MiB threshold: a multipart upload
    source, target = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(data)
    env = {**srv.env(), "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}
    cli = [*aws_cli(), "--endpoint-url", srv.endpoint]
    subprocess.run([*cli, "s3", "cp", "--sse", "aws:kms", "--sse-kms-key-id", "alias/backups", str(source), f"s3://{bucket}/cli.bin"], env=env, check=True, capture_output=True, timeout=120)
    head = srv.client().head_object(Bucket=bucket, Key="cli.bin")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key["arn"]
    subprocess.run([*cli, "s3", "cp", f"s3://{bucket}/cli.bin", str(target)], env=env, check=True, capture_output=True, timeout=120)
    assert target.read_bytes() == data


def scan(drives: list[Path], pattern: bytes) -> list[Path]:
    return [p for drive in drives for p in drive.rglob("*") if p.is_file() and pattern in p.read_bytes()]


def test_no_plaintext_of_a_kms_object_is_on_the_drives(srv, bucket, kms_key):
    s3 = srv.client()
    s3.put_object(Bucket=bucket, Key="small", Body=MARK_SECRET * 4, ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["key_id"])
    s3.put_object(Bucket=bucket, Key="large", Body=MARK_SECRET * (3 * MiB // len(MARK_SECRET)), ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["key_id"])
    s3.put_object(Bucket=bucket, Key="clear", Body=MARK_CLEAR * 4)
    assert scan(srv.drives, MARK_SECRET) == []
    assert scan(srv.drives, MARK_CLEAR)  # the scan finds what is there
    kms_file = [d / ".hoard" / "kms.json" for d in srv.drives]
    assert all(p.exists() for p in kms_file)


def test_another_master_key_opens_no_kms_object(tmp_path):
    server = start(tmp_path)
    s3 = server.client()
    s3.create_bucket(Bucket="keys")
    made = json.loads(server.admin("kms", "key", "create", "--json").stdout)
    s3.put_object(Bucket="keys", Key="kms", Body=b"k" * 5000, ServerSideEncryption="aws:kms", SSEKMSKeyId=made["key_id"])
    s3.put_object(Bucket="keys", Key="plain", Body=b"p")
    server.stop()
    other = base64.b64encode(os.urandom(32)).decode()
    wrong = HoardServer(server.data_dir, port=server.port, drives=server.drives, env_extra={**server.env_extra, "HOARD_MASTER_KEY": other}).start()
    try:
        with pytest.raises(ClientError) as refused:
            wrong.client().get_object(Bucket="keys", Key="kms")
        assert code(refused) == (500, "InternalError") and "master key" in refused.value.response["Error"]["Message"]
        assert wrong.client().get_object(Bucket="keys", Key="plain")["Body"].read() == b"p"
    finally:
        wrong.stop()
    again = HoardServer(server.data_dir, port=server.port, drives=server.drives, env_extra=server.env_extra).start()
    try:
        assert again.client().get_object(Bucket="keys", Key="kms")["Body"].read() == b"k" * 5000
    finally:
        again.stop()


def test_each_version_keeps_its_own_mode_and_key(srv, bucket, kms_key):
    """A versioned key written in every mode: each version reads back with what it needs."""
    s3 = srv.client()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    customer = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(32)}
    writes = [
        ("plain", b"v-plain" * 1000, {}),
        ("AES256", b"v-s3" * 1000, {"ServerSideEncryption": "AES256"}),
        ("SSE-C", b"v-c" * 1000, customer),
        ("aws:kms", b"v-kms" * 1000, {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key["key_id"]}),
    ]
    versions = [(mode, body, extra, s3.put_object(Bucket=bucket, Key="v", Body=body, **extra)["VersionId"]) for mode, body, extra in writes]
    for mode, body, _extra, version in versions:
        read = customer if mode == "SSE-C" else {}
        got = s3.get_object(Bucket=bucket, Key="v", VersionId=version, **read)
        assert got["Body"].read() == body, mode
        shown = got.get("SSECustomerAlgorithm") and "SSE-C" or got.get("ServerSideEncryption", "plain")
        assert shown == mode
    with pytest.raises(ClientError) as keyless:
        s3.get_object(Bucket=bucket, Key="v", VersionId=versions[2][3])
    assert code(keyless) == (400, "InvalidRequest")
