"""SSE-S3 against a real four-drive server, with boto3 and the AWS CLI: round trips of every size,
multipart uploads with parts of different sizes, ranged and part reads across chunk and part
boundaries, copies between encrypted and plain, a bucket's default encryption, bad requests that
store nothing, no plaintext anywhere on the drives, a flipped ciphertext bit read right and
healed, and a wrong master key that reads nothing."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from hoard.crypto.chunks import PLAIN_CHUNK
from hoard.storage import record as record_file
from hoard.storage.bitrot import HASH_SIZE, block_hash
from hoard.storage.erasure import codec
from hoard.storage.shardfile import ShardGeometry
from tests.chaos.test_erasure import flip_bytes, verify_shard
from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, aws_cli, wait_for

MiB = 1024 * 1024
DRIVES = 4
MARK_SECRET = b"PLAINTEXT-THAT-MUST-NOT-BE-ON-DISK:"
MARK_CLEAR = b"CLEARTEXT-THAT-IS-ON-DISK-AS-SENT:"


def start(base: Path, **env: str) -> HoardServer:
    drives = [base / f"disk{i}" for i in range(1, DRIVES + 1)]
    return HoardServer(base / "logs", drives=drives, env_extra={"HOARD_SCANNER_RATE": "0", **env}).start()


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[HoardServer]:
    # Plain HTTP here: SSE-C allowed over it by the development switch (its refusal: a test below).
    server = start(tmp_path_factory.mktemp("sse"), HOARD_SSE_C_OVER_HTTP="true")
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.fixture
def bucket(srv) -> str:
    name = f"sse-{uuid.uuid4().hex[:10]}"
    srv.client().create_bucket(Bucket=name)
    return name


def code(e: pytest.ExceptionInfo) -> tuple[int, str]:
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def records(srv: HoardServer, bucket: str, key: str) -> list[record_file.StoredRecord]:
    """The version records of ``bucket/key`` on every drive, as the drives keep them."""
    found = []
    for drive in srv.drives:
        for path in (drive / ".hoard" / "records").glob("*/*"):
            stored = record_file.decode(path.read_bytes())
            if (stored.record.bucket, stored.record.key) == (bucket, key):
                found.append(stored)
    return found


@pytest.mark.parametrize("size", [0, 1, 4096, PLAIN_CHUNK, PLAIN_CHUNK + 1, 3 * MiB + 5])
def test_round_trips_of_every_size_with_ranges(srv, bucket, size):
    s3 = srv.client()
    body = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'  # SSE-S3 keeps the plaintext's MD5, as S3
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == body and got["ServerSideEncryption"] == "AES256" and got["ContentLength"] == size
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == size  # listings show the plaintext's size
    edges = {0, size - 1, PLAIN_CHUNK - 1, PLAIN_CHUNK, 2 * PLAIN_CHUNK, size // 2}
    rng = random.Random(size)
    for a in sorted(e for e in edges if 0 <= e < size):
        b = min(size - 1, a + rng.choice([0, 1, 27, 28, PLAIN_CHUNK, 2 * MiB]))
        assert s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={a}-{b}")["Body"].read() == body[a : b + 1], (a, b)
    (stored,) = {r.record.encryption for r in records(srv, bucket, "k")}
    assert stored.mode == "AES256" and len(bytes.fromhex(stored.encryption_id)) == 16


def test_multipart_parts_of_different_sizes_read_across_every_boundary(srv, bucket):
    s3 = srv.client()
    parts = [os.urandom(5 * MiB + 7), os.urandom(6 * MiB + 1), os.urandom(3)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    assert upload["ServerSideEncryption"] == "AES256"
    done = []
    for number, data in enumerate(parts, 1):
        answer = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=number, Body=data)
        assert answer["ServerSideEncryption"] == "AES256"
        done.append({"ETag": answer["ETag"], "PartNumber": number})
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload["UploadId"])["Parts"]
    assert [p["Size"] for p in listed] == [len(p) for p in parts]
    completed = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": done})
    assert completed["ServerSideEncryption"] == "AES256"
    body = b"".join(parts)
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
    first, second = len(parts[0]), len(parts[0]) + len(parts[1])
    for a, b in [(first - 10, first + 10), (second - 1, second + 1), (PLAIN_CHUNK - 3, first + PLAIN_CHUNK + 3), (0, len(body) - 1)]:
        assert s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={a}-{b}")["Body"].read() == body[a : b + 1], (a, b)
    rng = random.Random(7)
    for _ in range(12):
        a = rng.randrange(len(body))
        b = min(len(body) - 1, a + rng.randrange(3 * MiB))
        assert s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={a}-{b}")["Body"].read() == body[a : b + 1], (a, b)
    for number, data in enumerate(parts, 1):
        assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=number)["Body"].read() == data
    stored = records(srv, bucket, "mp")[0].record
    assert [s.size for s in stored.segments] == [len(p) for p in parts]
    assert all(s.stored_size > s.size for s in stored.segments)  # each part's chunks carry nonce and tag


def test_copies_between_encrypted_and_plain(srv, bucket):
    s3 = srv.client()
    body = os.urandom(2 * MiB + 3)
    s3.put_object(Bucket=bucket, Key="plain", Body=body)
    encrypted = s3.copy_object(Bucket=bucket, Key="encrypted", CopySource={"Bucket": bucket, "Key": "plain"}, ServerSideEncryption="AES256")
    assert encrypted["ServerSideEncryption"] == "AES256"
    back = s3.copy_object(Bucket=bucket, Key="plain-again", CopySource={"Bucket": bucket, "Key": "encrypted"})
    assert "ServerSideEncryption" not in back  # a copy takes the request's encryption, not the source's
    for key, mode in (("encrypted", "AES256"), ("plain-again", None)):
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body and got.get("ServerSideEncryption") == mode
    # Encrypting an object in place is a legal copy to itself (its encryption changes).
    s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "plain"}, ServerSideEncryption="AES256")
    assert s3.head_object(Bucket=bucket, Key="plain")["ServerSideEncryption"] == "AES256"
    # Parts copied from an encrypted source into a plain upload and the other way round.
    for mode in ("AES256", None):
        upload = s3.create_multipart_upload(Bucket=bucket, Key=f"assembled-{mode}", **({"ServerSideEncryption": mode} if mode else {}))
        big = os.urandom(5 * MiB)  # a whole first part (5 MiB at least), from an encrypted source
        s3.put_object(Bucket=bucket, Key="big-encrypted", Body=big, ServerSideEncryption="AES256")
        first = s3.upload_part_copy(Bucket=bucket, Key=f"assembled-{mode}", UploadId=upload["UploadId"], PartNumber=1, CopySource={"Bucket": bucket, "Key": "big-encrypted"})
        second = s3.upload_part_copy(
            Bucket=bucket, Key=f"assembled-{mode}", UploadId=upload["UploadId"], PartNumber=2,
            CopySource={"Bucket": bucket, "Key": "plain-again"}, CopySourceRange="bytes=10-1048600",
        )  # fmt: skip
        parts = [{"ETag": first["CopyPartResult"]["ETag"], "PartNumber": 1}, {"ETag": second["CopyPartResult"]["ETag"], "PartNumber": 2}]
        s3.complete_multipart_upload(Bucket=bucket, Key=f"assembled-{mode}", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
        got = s3.get_object(Bucket=bucket, Key=f"assembled-{mode}")
        assert got["Body"].read() == big + body[10:1048601] and got.get("ServerSideEncryption") == mode


def test_the_aws_cli_uploads_and_downloads_encrypted(srv, bucket, tmp_path):
    data = os.urandom(9 * MiB + 11)  # over the CLI's 8 MiB threshold: a multipart upload
    source, target = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(data)
    env = {**srv.env(), "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}
    cli = [*aws_cli(), "--endpoint-url", srv.endpoint]
    subprocess.run([*cli, "s3", "cp", "--sse", "AES256", str(source), f"s3://{bucket}/cli.bin"], env=env, check=True, capture_output=True, timeout=120)
    assert srv.client().head_object(Bucket=bucket, Key="cli.bin")["ServerSideEncryption"] == "AES256"
    subprocess.run([*cli, "s3", "cp", f"s3://{bucket}/cli.bin", str(target)], env=env, check=True, capture_output=True, timeout=120)
    assert target.read_bytes() == data


def test_the_aws_cli_uses_a_customer_key(srv, bucket, tmp_path):
    data = os.urandom(9 * MiB + 5)  # a multipart upload: every part sent with the key
    source, target, key_file = tmp_path / "in.bin", tmp_path / "out.bin", tmp_path / "customer.key"
    source.write_bytes(data)
    key_file.write_bytes(CUSTOMER)
    env = {**srv.env(), "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}
    cli = [*aws_cli(), "--endpoint-url", srv.endpoint]
    sse_c_args = ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]
    subprocess.run([*cli, "s3", "cp", *sse_c_args, str(source), f"s3://{bucket}/c.bin"], env=env, check=True, capture_output=True, timeout=120)
    head = srv.client().head_object(Bucket=bucket, Key="c.bin", **sse_c())
    assert head["SSECustomerAlgorithm"] == "AES256" and head["ContentLength"] == len(data)
    without = subprocess.run([*cli, "s3", "cp", f"s3://{bucket}/c.bin", str(target)], env=env, capture_output=True, timeout=120)
    assert without.returncode != 0 and not target.exists()
    subprocess.run([*cli, "s3", "cp", *sse_c_args, f"s3://{bucket}/c.bin", str(target)], env=env, check=True, capture_output=True, timeout=120)
    assert target.read_bytes() == data


def test_a_buckets_default_encryption(srv, bucket):
    s3 = srv.client()
    with pytest.raises(ClientError) as none:
        s3.get_bucket_encryption(Bucket=bucket)
    assert code(none) == (404, "ServerSideEncryptionConfigurationNotFoundError")
    rules = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=rules)
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"} and got["BucketKeyEnabled"] is False
    assert s3.put_object(Bucket=bucket, Key="small", Body=b"x" * 10)["ServerSideEncryption"] == "AES256"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi")
    assert upload["ServerSideEncryption"] == "AES256"
    part = s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload["UploadId"], PartNumber=1, Body=b"y" * 100)
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    for key in ("small", "multi"):
        assert s3.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="after", Body=b"z")
    assert s3.head_object(Bucket=bucket, Key="small")["ServerSideEncryption"] == "AES256"  # what is stored stays so
    with pytest.raises(ClientError) as gone:
        s3.get_bucket_encryption(Bucket=bucket)
    assert code(gone)[0] == 404


@pytest.mark.parametrize(
    "document,expected",
    [
        (b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES128</SSEAlgorithm>"
         b"</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>", (400, "MalformedXML")),
        (b"<ServerSideEncryptionConfiguration><Rule></Rule></ServerSideEncryptionConfiguration>", (400, "MalformedXML")),
        (b"<ServerSideEncryptionConfiguration><Rule", (400, "MalformedXML")),
        (b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
         b"<KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>", (400, "InvalidArgument")),
        (b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms:dsse</SSEAlgorithm>"
         b"</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>", (501, "NotImplemented")),
        (b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"
         b"<KMSMasterKeyID> </KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>", (400, "InvalidArgument")),
    ],
    ids=["unknown-algorithm", "empty-rule", "broken-xml", "kms-key-with-aes256", "dsse-not-yet", "empty-kms-key"],
)  # fmt: skip
def test_bad_bucket_encryption_documents_are_refused(srv, bucket, document, expected):
    s3 = srv.client()

    def send(request, **kwargs):
        # The document as written above, with its own Content-MD5 (the checksum boto3 made was of its own).
        request.data = document
        for name in [n for n in request.headers if n.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum"))]:
            del request.headers[name]
        request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(document).digest()).decode()
        request.headers["Content-Length"] = str(len(document))

    s3.meta.events.register_first("before-sign.s3.PutBucketEncryption", send)
    rules = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=rules)
    assert code(refused) == expected
    with pytest.raises(ClientError):
        s3.get_bucket_encryption(Bucket=bucket)  # nothing was configured


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({"x-amz-server-side-encryption": "AES128"}, (400, "InvalidArgument")),
        ({"x-amz-server-side-encryption": "aws:kms:dsse"}, (501, "NotImplemented")),
        ({"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "no-such-key"}, (400, "KMS.NotFoundException")),
        ({"x-amz-server-side-encryption-aws-kms-key-id": "alias/aws/s3"}, (400, "InvalidArgument")),
        ({"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-context": "bm90IGpzb24="}, (400, "InvalidArgument")),
        ({"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-bucket-key-enabled": "maybe"}, (400, "InvalidArgument")),
        ({"x-amz-server-side-encryption": "AES256", "x-amz-server-side-encryption-aws-kms-key-id": "k"}, (400, "InvalidArgument")),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key": "a" * 44,
          "x-amz-server-side-encryption-customer-key-MD5": "b" * 24}, (400, "InvalidArgument")),
    ],
    ids=["unknown-mode", "dsse-not-yet", "unknown-kms-key", "kms-key-without-mode", "context-not-json", "bucket-key-not-bool", "kms-key-with-aes256", "sse-c-bad-key"],
)  # fmt: skip
def test_bad_encryption_requests_store_nothing(srv, bucket, headers, expected):
    s3 = srv.client()

    def add(request, **kwargs):
        for name, value in headers.items():
            request.headers[name] = value

    s3.meta.events.register_first("before-sign.s3.PutObject", add)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="refused", Body=b"secret")
    assert code(refused) == expected
    with pytest.raises(ClientError) as missing:
        srv.client().head_object(Bucket=bucket, Key="refused")
    assert code(missing)[0] == 404


def test_no_plaintext_of_an_encrypted_object_is_on_the_drives(srv, bucket):
    s3 = srv.client()
    s3.put_object(Bucket=bucket, Key="secret-small", Body=MARK_SECRET * 4, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="secret-large", Body=MARK_SECRET * (3 * MiB // len(MARK_SECRET)), ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="clear", Body=MARK_CLEAR * 4)
    found_secret, found_clear = [], []
    for drive in srv.drives:
        for path in drive.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if MARK_SECRET in data:
                    found_secret.append(path)
                if MARK_CLEAR in data:
                    found_clear.append(path)
    assert found_clear, "the scan finds the unencrypted object's bytes (so it would find the others')"
    assert found_secret == []


def test_an_encrypted_object_in_a_tier_stays_ciphertext_and_reads_back(srv, bucket):
    """GLACIER_IR bytes move to the cold tier (a folder on the first drive) as they are kept, and
    are read from there, decrypted, range by range."""
    s3 = srv.client()
    body = (MARK_SECRET + os.urandom(64)) * (2 * MiB // (len(MARK_SECRET) + 64))
    s3.put_object(Bucket=bucket, Key="cold", Body=body, StorageClass="GLACIER_IR", ServerSideEncryption="AES256")
    assert wait_for(lambda: any(r.record.archive is not None for r in records(srv, bucket, "cold")), timeout=60)
    blobs = [p for p in (srv.drives[0] / ".hoard-tiers").rglob("*") if p.is_file()]
    assert blobs and not any(MARK_SECRET in p.read_bytes() for p in blobs)
    got = s3.get_object(Bucket=bucket, Key="cold")
    assert got["Body"].read() == body and got["ServerSideEncryption"] == "AES256" and got["StorageClass"] == "GLACIER_IR"
    a, b = PLAIN_CHUNK - 5, PLAIN_CHUNK + 5
    assert s3.get_object(Bucket=bucket, Key="cold", Range=f"bytes={a}-{b}")["Body"].read() == body[a : b + 1]


def test_each_version_has_its_own_data_key(srv, bucket):
    s3 = srv.client()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="v", Body=b"one" * 1000, ServerSideEncryption="AES256")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="v", Body=b"two" * 1000, ServerSideEncryption="AES256")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=first)["Body"].read() == b"one" * 1000
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=second)["Body"].read() == b"two" * 1000
    ids = {r.record.version_id: r.record.encryption for r in records(srv, bucket, "v")}
    assert ids[first].encryption_id != ids[second].encryption_id and ids[first].sealed_key != ids[second].sealed_key


def test_a_flipped_ciphertext_bit_is_read_right_and_healed(tmp_path):
    server = start(tmp_path)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="rot")
        body = os.urandom(3 * MiB + 100)
        s3.put_object(Bucket="rot", Key="k", Body=body, ServerSideEncryption="AES256")
        record = records(server, "rot", "k")[0].record
        (segment,) = record.segments
        geometry = ShardGeometry(segment.stored_size, codec(record.placement.data, record.placement.parity))
        holder = server.drives[record.placement.distribution[0]]  # a data fragment: every read uses it
        shard = holder / ".hoard" / "shards" / segment.blob[:2] / segment.blob
        flip_bytes(shard, 3, random.Random(5))
        assert not verify_shard(shard, geometry)
        assert s3.get_object(Bucket="rot", Key="k")["Body"].read() == body  # decoded from the other fragments
        server.admin("heal")
        assert verify_shard(shard, geometry)
        assert s3.get_object(Bucket="rot", Key="k")["Body"].read() == body
    finally:
        server.stop()


def test_a_forged_ciphertext_block_is_never_served(tmp_path):
    """A data fragment changed and its bitrot checksum forged to match: the erasure layer takes the
    block as good, and only the chunk's GCM tag can tell. The read fails; the bytes never go out."""
    server = start(tmp_path)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="forged")
        body = os.urandom(3 * MiB + 100)
        s3.put_object(Bucket="forged", Key="k", Body=body, ServerSideEncryption="AES256")
        record = records(server, "forged", "k")[0].record
        (segment,) = record.segments
        geometry = ShardGeometry(segment.stored_size, codec(record.placement.data, record.placement.parity))
        holder = server.drives[record.placement.distribution[0]]  # a data fragment: every read uses it
        shard = holder / ".hoard" / "shards" / segment.blob[:2] / segment.blob
        data = bytearray(shard.read_bytes())
        start_of_block = geometry.offset(1)
        fragment = slice(start_of_block + HASH_SIZE, start_of_block + HASH_SIZE + geometry.fragment_size(1))
        data[fragment.start + 100] ^= 0x01
        data[start_of_block : start_of_block + HASH_SIZE] = block_hash(bytes(data[fragment]))
        shard.write_bytes(bytes(data))
        assert verify_shard(shard, geometry)  # the bitrot checksums all match: only the tag is left
        got = b""
        with pytest.raises((ClientError, BotoCoreError)):
            got = s3.get_object(Bucket="forged", Key="k")["Body"].read()
        assert got != body
        # The untouched first block still reads (a range that does not reach the forged one).
        assert s3.get_object(Bucket="forged", Key="k", Range="bytes=0-1000")["Body"].read() == body[:1001]
    finally:
        server.stop()


def test_restarts_keep_reading_and_another_master_key_reads_nothing(tmp_path):
    server = start(tmp_path)
    s3 = server.client()
    s3.create_bucket(Bucket="keys")
    s3.put_object(Bucket="keys", Key="encrypted", Body=b"e" * 200_000, ServerSideEncryption="AES256")
    s3.put_object(Bucket="keys", Key="plain", Body=b"p" * 10)
    server.stop()
    again = HoardServer(server.data_dir, port=server.port, drives=server.drives, env_extra=server.env_extra).start()
    try:
        assert again.client().get_object(Bucket="keys", Key="encrypted")["Body"].read() == b"e" * 200_000
    finally:
        again.stop()
    other = base64.b64encode(os.urandom(32)).decode()
    wrong = HoardServer(server.data_dir, port=server.port, drives=server.drives, env_extra={**server.env_extra, "HOARD_MASTER_KEY": other}).start()
    try:
        with pytest.raises(ClientError) as refused:
            wrong.client().get_object(Bucket="keys", Key="encrypted")
        assert code(refused) == (500, "InternalError")
        assert wrong.client().get_object(Bucket="keys", Key="plain")["Body"].read() == b"p" * 10
    finally:
        wrong.stop()


CUSTOMER = os.urandom(32)
OTHER = os.urandom(32)


def sse_c(key: bytes = CUSTOMER, source: bool = False) -> dict[str, object]:
    prefix = "CopySource" if source else ""
    return {f"{prefix}SSECustomerAlgorithm": "AES256", f"{prefix}SSECustomerKey": key}


def test_sse_c_reads_need_the_customers_key(srv, bucket):
    s3 = srv.client()
    body = os.urandom(PLAIN_CHUNK + 1000)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, **sse_c())
    md5 = base64.b64encode(hashlib.md5(CUSTOMER).digest()).decode()
    assert (put["SSECustomerAlgorithm"], put["SSECustomerKeyMD5"]) == ("AES256", md5) and "ServerSideEncryption" not in put
    assert put["ETag"] != f'"{hashlib.md5(body).hexdigest()}"'  # S3's SSE-C ETag is not the plaintext's MD5
    got = s3.get_object(Bucket=bucket, Key="c", **sse_c())
    assert got["Body"].read() == body and got["SSECustomerKeyMD5"] == md5
    a, b = PLAIN_CHUNK - 3, PLAIN_CHUNK + 3
    assert s3.get_object(Bucket=bucket, Key="c", Range=f"bytes={a}-{b}", **sse_c())["Body"].read() == body[a : b + 1]
    assert s3.head_object(Bucket=bucket, Key="c", **sse_c())["SSECustomerKeyMD5"] == md5
    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as missing:
            call(Bucket=bucket, Key="c")
        assert code(missing)[0] == 400
        with pytest.raises(ClientError) as wrong:
            call(Bucket=bucket, Key="c", **sse_c(OTHER))
        assert code(wrong)[0] == 403
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    with pytest.raises(ClientError) as needless:
        s3.get_object(Bucket=bucket, Key="plain", **sse_c())
    assert code(needless) == (400, "InvalidRequest")
    # Neither the plaintext nor the key (raw or base64) is anywhere on the drives.
    s3.put_object(Bucket=bucket, Key="marked", Body=MARK_SECRET * 50, **sse_c())
    for drive in srv.drives:
        for path in drive.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert MARK_SECRET not in data and CUSTOMER not in data and base64.b64encode(CUSTOMER) not in data, path


def test_sse_c_multipart_and_copies(srv, bucket):
    s3 = srv.client()
    parts = [os.urandom(5 * MiB + 3), os.urandom(100)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mc", **sse_c())
    with pytest.raises(ClientError) as keyless:
        s3.upload_part(Bucket=bucket, Key="mc", UploadId=upload["UploadId"], PartNumber=1, Body=parts[0])
    assert code(keyless)[0] == 400
    with pytest.raises(ClientError) as other:
        s3.upload_part(Bucket=bucket, Key="mc", UploadId=upload["UploadId"], PartNumber=1, Body=parts[0], **sse_c(OTHER))
    assert code(other) == (400, "InvalidArgument")  # a part under another key than the upload's
    done = [
        {"ETag": s3.upload_part(Bucket=bucket, Key="mc", UploadId=upload["UploadId"], PartNumber=n, Body=data, **sse_c())["ETag"], "PartNumber": n}
        for n, data in enumerate(parts, 1)
    ]
    # A part sent again (a client's retry) keeps its ETag: not the plaintext's MD5, but the same for the same bytes.
    again = s3.upload_part(Bucket=bucket, Key="mc", UploadId=upload["UploadId"], PartNumber=2, Body=parts[1], **sse_c())["ETag"]
    assert again == done[1]["ETag"] and again != f'"{hashlib.md5(parts[1]).hexdigest()}"'
    with pytest.raises(ClientError) as wrong_complete:
        s3.complete_multipart_upload(Bucket=bucket, Key="mc", UploadId=upload["UploadId"], MultipartUpload={"Parts": done}, **sse_c(OTHER))
    assert code(wrong_complete) == (400, "InvalidArgument")
    # Without the key: S3 needs it at completion only for an upload created with a checksum algorithm.
    s3.complete_multipart_upload(Bucket=bucket, Key="mc", UploadId=upload["UploadId"], MultipartUpload={"Parts": done})
    with pytest.raises(ClientError) as attributes:
        s3.get_object_attributes(Bucket=bucket, Key="mc", ObjectAttributes=["ETag", "ObjectSize"])
    assert code(attributes) == (400, "InvalidRequest")  # nothing told of an SSE-C object without its key
    # botocore encodes the key itself for GET, HEAD, PUT and copies, not for GetObjectAttributes.
    encoded = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(CUSTOMER).decode(), "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(CUSTOMER).digest()).decode()}
    assert s3.get_object_attributes(Bucket=bucket, Key="mc", ObjectAttributes=["ObjectSize"], **encoded)["ObjectSize"] == 5 * MiB + 103
    body = b"".join(parts)
    assert s3.get_object(Bucket=bucket, Key="mc", **sse_c())["Body"].read() == body
    # SSE-C -> SSE-S3 -> SSE-C (another key) -> plain: each copy reads its source with the source's key.
    with pytest.raises(ClientError) as no_source_key:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "mc"})
    assert code(no_source_key)[0] == 400
    s3.copy_object(Bucket=bucket, Key="s3", CopySource={"Bucket": bucket, "Key": "mc"}, ServerSideEncryption="AES256", **sse_c(source=True))
    s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "s3"}, **sse_c(OTHER))
    s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "c2"}, **sse_c(OTHER, source=True))
    assert s3.get_object(Bucket=bucket, Key="s3")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="c2", **sse_c(OTHER))["Body"].read() == body
    plain = s3.get_object(Bucket=bucket, Key="plain")
    assert plain["Body"].read() == body and "SSECustomerAlgorithm" not in plain and "ServerSideEncryption" not in plain
    # A part copied out of an SSE-C source into an SSE-C upload of another key.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="pc", **sse_c(OTHER))
    part = s3.upload_part_copy(
        Bucket=bucket, Key="pc", UploadId=upload["UploadId"], PartNumber=1, CopySource={"Bucket": bucket, "Key": "mc"},
        CopySourceRange="bytes=0-99", **sse_c(source=True), **sse_c(OTHER),
    )  # fmt: skip
    s3.complete_multipart_upload(Bucket=bucket, Key="pc", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"ETag": part["CopyPartResult"]["ETag"], "PartNumber": 1}]})
    assert s3.get_object(Bucket=bucket, Key="pc", **sse_c(OTHER))["Body"].read() == body[:100]


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({"x-amz-server-side-encryption-customer-algorithm": "AES128"}, (400, "InvalidEncryptionAlgorithmError")),
        ({"x-amz-server-side-encryption-customer-key": base64.b64encode(b"k" * 16).decode(),
          "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(b"k" * 16).digest()).decode()}, (400, "InvalidArgument")),
        ({"x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(b"x").digest()).decode()}, (400, "InvalidArgument")),
        ({"x-amz-server-side-encryption": "AES256"}, (400, "InvalidArgument")),
    ],
    ids=["algorithm", "short-key", "md5-mismatch", "with-sse-s3"],
)  # fmt: skip
def test_malformed_customer_keys_store_nothing(srv, bucket, headers, expected):
    s3 = srv.client()

    def change(request, **kwargs):
        for name, value in headers.items():
            del request.headers[name]  # botocore's headers keep a second value beside the first otherwise
            request.headers[name] = value

    s3.meta.events.register("before-sign.s3.PutObject", change)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"secret", **sse_c())
    assert code(refused) == expected
    with pytest.raises(ClientError) as missing:
        srv.client().head_object(Bucket=bucket, Key="bad")
    assert code(missing)[0] == 404


def test_sse_c_over_plain_http_is_refused(tmp_path):
    server = start(tmp_path)  # no development switch
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="http")
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket="http", Key="k", Body=b"secret", **sse_c())
        assert code(refused) == (400, "InvalidRequest")
        assert "secure connection" in refused.value.response["Error"]["Message"]
        assert s3.list_objects_v2(Bucket="http")["KeyCount"] == 0
    finally:
        server.stop()
