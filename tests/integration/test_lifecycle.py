"""Lifecycle rules, storage classes and archival restore, against a real server whose lifecycle
"day" is a fifth of a second (``HOARD_LIFECYCLE_DAY_SECONDS``), driven with boto3 and the AWS CLI.

What a rule does is checked by its effect as a client sees it (listings, GET, HEAD, restore
answers), and where the bytes went by the server's own report (``hoard admin usage``) and the
tier folder on disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import HoardServer, aws_cli
from tests.wire import send

DAY = 0.2  # seconds in a lifecycle day here
BIG = 200 * 1024  # above the inline limit and S3's 128 KiB transition minimum: bytes that move


def wait_until(predicate, timeout: float = 30.0, every: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {timeout} s: {predicate}")


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory) -> HoardServer:
    root = tmp_path_factory.mktemp("lifecycle")
    srv = HoardServer(
        root / "data",
        env_extra={
            "HOARD_LIFECYCLE_DAY_SECONDS": str(DAY),
            "HOARD_RESTORE_EXPEDITED_SECONDS": "0.3",
            "HOARD_RESTORE_STANDARD_SECONDS": "1.5",
            "HOARD_RESTORE_BULK_SECONDS": "3",
            "HOARD_TIER_IA": str(root / "ia-tier"),
            "HOARD_RECLAIM_GRACE": "0",
        },
    ).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture
def s3(lc_server):
    return lc_server.client()


@pytest.fixture
def bucket(s3) -> str:
    name = f"lc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def usage(srv: HoardServer, bucket: str) -> dict[str, dict]:
    doc = json.loads(srv.admin("usage", bucket, "--json").stdout)
    return {row["storage_class"]: row for row in doc["classes"]}


def error_code(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def keys(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def cold_blobs(srv: HoardServer, bucket: str) -> list[Path]:
    return list((srv.data_dir / ".hoard-tiers" / "cold" / bucket).glob("*.tb"))


def put_rules(s3, bucket: str, *rules: dict) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


# -- storage classes ------------------------------------------------------------------------------


def test_every_class_is_stored_shown_and_listed(s3, bucket):
    classes = ["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"]
    for c in classes:
        s3.put_object(Bucket=bucket, Key=f"k-{c}", Body=b"x" * 10, StorageClass=c)
    listed = {o["Key"][2:]: o["StorageClass"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {c: c for c in classes}
    for c in classes:
        head = s3.head_object(Bucket=bucket, Key=f"k-{c}")
        assert head.get("StorageClass", "STANDARD") == c
    assert error_code(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", StorageClass="COLDEST")) == "InvalidStorageClass"
    assert "bad" not in keys(s3, bucket)
    # Multipart uploads keep the class they were created with.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", StorageClass="STANDARD_IA")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"y" * 100)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.head_object(Bucket=bucket, Key="mp")["StorageClass"] == "STANDARD_IA"


def test_glacier_is_archived_compressed_and_read_only_once_restored(lc_server, s3, bucket):
    body = (b"log line that repeats itself\n" * 20000)[:BIG * 3]
    s3.put_object(Bucket=bucket, Key="archive.log", Body=body, StorageClass="GLACIER")
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="archive.log")) == "InvalidObjectState"
    assert error_code(lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "archive.log"})) == "InvalidObjectState"
    # The worker moves the bytes to the cold tier, compressed.
    blobs = wait_until(lambda: cold_blobs(lc_server, bucket))
    assert blobs[0].stat().st_size < len(body) // 10
    row = wait_until(lambda: usage(lc_server, bucket).get("GLACIER", {}).get("archived") and usage(lc_server, bucket)["GLACIER"])
    assert row["bytes"] == len(body) and 0 < row["tier_bytes"] < len(body) // 10
    head = s3.head_object(Bucket=bucket, Key="archive.log")
    assert head["StorageClass"] == "GLACIER" and "Restore" not in head

    answer = s3.restore_object(Bucket=bucket, Key="archive.log", RestoreRequest={"Days": 50, "GlacierJobParameters": {"Tier": "Standard"}})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert s3.head_object(Bucket=bucket, Key="archive.log")["Restore"] == 'ongoing-request="true"'
    assert error_code(lambda: s3.restore_object(Bucket=bucket, Key="archive.log", RestoreRequest={"Days": 1})) == "RestoreAlreadyInProgress"
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="archive.log")) == "InvalidObjectState"

    restore = wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket=bucket, Key="archive.log").get("Restore", "") and s3.head_object(Bucket=bucket, Key="archive.log")["Restore"])
    assert "expiry-date=" in restore
    assert s3.get_object(Bucket=bucket, Key="archive.log")["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="archive.log", Range="bytes=1000-1999")["Body"].read() == body[1000:2000]
    # Restored: a copy can be made (of class STANDARD), and a new restore extends the copy (200).
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "archive.log"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == body
    again = s3.restore_object(Bucket=bucket, Key="archive.log", RestoreRequest={"Days": 3})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    # Three days (0.6 s) later the copy expires: reads are refused again, the tier blob remains.
    wait_until(lambda: "Restore" not in s3.head_object(Bucket=bucket, Key="archive.log"), timeout=10)
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="archive.log")) == "InvalidObjectState"
    assert cold_blobs(lc_server, bucket)


def test_restore_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="standard", Body=b"s")
    assert error_code(lambda: s3.restore_object(Bucket=bucket, Key="standard", RestoreRequest={"Days": 1})) == "InvalidObjectState"
    assert error_code(lambda: s3.restore_object(Bucket=bucket, Key="missing", RestoreRequest={"Days": 1})) == "NoSuchKey"
    s3.put_object(Bucket=bucket, Key="deep", Body=b"d" * 10, StorageClass="DEEP_ARCHIVE")
    assert error_code(lambda: s3.restore_object(Bucket=bucket, Key="deep", RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}})) == "InvalidArgument"
    assert error_code(lambda: s3.restore_object(Bucket=bucket, Key="deep", RestoreRequest={"Days": 0})) == "InvalidArgument"
    assert error_code(lambda: s3.restore_object(Bucket=bucket, Key="deep", RestoreRequest={"Type": "SELECT", "Days": 1})) == "NotImplemented"
    assert "Restore" not in s3.head_object(Bucket=bucket, Key="deep")
    # A small object (kept inline on the drives) restores the same way.
    assert s3.restore_object(Bucket=bucket, Key="deep", RestoreRequest={"Days": 100, "GlacierJobParameters": {"Tier": "Bulk"}})["ResponseMetadata"]["HTTPStatusCode"] == 202
    wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket=bucket, Key="deep").get("Restore", ""))
    assert s3.get_object(Bucket=bucket, Key="deep")["Body"].read() == b"d" * 10


def test_glacier_ir_reads_straight_from_the_tier(lc_server, s3, bucket):
    body = os.urandom(BIG) + b"\0" * (3 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="ir", Body=body, StorageClass="GLACIER_IR")
    wait_until(lambda: cold_blobs(lc_server, bucket))
    wait_until(lambda: usage(lc_server, bucket)["GLACIER_IR"]["archived"] == 1)
    assert s3.get_object(Bucket=bucket, Key="ir")["Body"].read() == body
    for start, end in [(0, 0), (BIG - 10, BIG + 10), (len(body) - 5, len(body) - 1), (1024 * 1024 - 1, 2 * 1024 * 1024 + 1)]:
        assert s3.get_object(Bucket=bucket, Key="ir", Range=f"bytes={start}-{end}")["Body"].read() == body[start : end + 1]


def test_ia_objects_go_to_the_ia_tier_when_one_is_configured(lc_server, s3, bucket):
    body = os.urandom(BIG)
    s3.put_object(Bucket=bucket, Key="ia", Body=body, StorageClass="STANDARD_IA")
    ia = Path(lc_server.env_extra["HOARD_TIER_IA"]) / bucket
    wait_until(lambda: list(ia.glob("*.tb")))
    assert s3.get_object(Bucket=bucket, Key="ia")["Body"].read() == body
    row = usage(lc_server, bucket)["STANDARD_IA"]
    assert row["archived"] == 1 and row["bytes"] == BIG


def test_usage_bills_small_ia_objects_at_128_kib(lc_server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="small", Body=b"x" * 1000, StorageClass="ONEZONE_IA")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x" * 1000)
    rows = usage(lc_server, bucket)
    assert rows["ONEZONE_IA"]["bytes"] == 1000 and rows["ONEZONE_IA"]["billable"] == 128 * 1024
    assert rows["STANDARD"]["bytes"] == rows["STANDARD"]["billable"] == 1000
    text = lc_server.admin("usage", bucket).stdout
    assert "ONEZONE_IA" in text and "128.0 KiB" in text and "tier cold" in text


# -- lifecycle configuration ----------------------------------------------------------------------


def test_configuration_round_trip_and_refusals(s3, bucket):
    assert error_code(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == "NoSuchLifecycleConfiguration"
    rules = [
        {
            "ID": "logs",
            "Status": "Enabled",
            "Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "keep", "Value": "no"}], "ObjectSizeGreaterThan": 10}},
            "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"}],
            "Expiration": {"Days": 365},
        },
        {
            "ID": "versions",
            "Status": "Disabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 3},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
    ]
    put_rules(s3, bucket, *rules)
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "versions"]
    assert got[0]["Transitions"] == rules[0]["Transitions"] and got[0]["Expiration"] == {"Days": 365}
    assert got[0]["Filter"]["And"]["Tags"] == [{"Key": "keep", "Value": "no"}]
    assert got[1]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7, "NewerNoncurrentVersions": 3}
    bad = [
        ({"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}}, "InvalidRequest"),  # no action
        ({"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 0}}, "InvalidArgument"),
        ({"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Transitions": [{"Days": 5, "StorageClass": "STANDARD_IA"}]}, "InvalidArgument"),
        ({"ID": "x", "Status": "Enabled", "Filter": {"Tag": {"Key": "a", "Value": "b"}}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}, "InvalidRequest"),
        ({"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Date": datetime(2030, 1, 1, 12, tzinfo=UTC)}}, "InvalidArgument"),
    ]
    for rule, code in bad:
        assert error_code(lambda rule=rule: put_rules(s3, bucket, rule)) == code, rule
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["logs", "versions"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert error_code(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == "NoSuchLifecycleConfiguration"


def test_malformed_lifecycle_documents_are_refused(lc_server, s3, bucket):
    put_rules(s3, bucket, {"ID": "kept", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 9}})
    for body in [b"<LifecycleConfiguration><Rule>", b'<!DOCTYPE x [<!ENTITY e "e">]><LifecycleConfiguration>&e;</LifecycleConfiguration>', b"<Other/>"]:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        answer = send(lc_server, "PUT", f"/{bucket}?lifecycle", body, {"Content-MD5": md5})
        assert answer.status == 400 and answer.code == "MalformedXML", (body, answer.body)
    # Without Content-MD5 (or a checksum) S3 refuses the document, as for every configuration.
    answer = send(lc_server, "PUT", f"/{bucket}?lifecycle", b"<LifecycleConfiguration/>")
    assert answer.status == 400 and answer.code == "InvalidRequest"
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["kept"]


def test_expiration_header_on_put_head_and_get(s3, bucket):
    put_rules(s3, bucket, {"ID": "tmp-rule", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 100}})
    put = s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"a")
    assert 'rule-id="tmp-rule"' in put["Expiration"] and "expiry-date=" in put["Expiration"]
    assert s3.head_object(Bucket=bucket, Key="tmp/a")["Expiration"] == put["Expiration"]
    assert s3.get_object(Bucket=bucket, Key="tmp/a")["Expiration"] == put["Expiration"]
    s3.put_object(Bucket=bucket, Key="other", Body=b"b")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="other")


# -- the worker -----------------------------------------------------------------------------------


def test_transitions_through_ia_and_archive_then_expiry(lc_server, s3, bucket):
    """30 days to STANDARD_IA, 60 to GLACIER, expired at 100 (with a 0.2 s day: 6, 12 and 20 s).

    The archived object is looked at between 12 and 20 s: a narrower gap let it expire before
    `hoard admin usage` answered on a slow machine.
    """
    body = os.urandom(BIG)
    put_rules(
        s3,
        bucket,
        {"ID": "move", "Status": "Enabled", "Filter": {"Prefix": "data/"}, "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 60, "StorageClass": "GLACIER"}]},
        {"ID": "drop", "Status": "Enabled", "Filter": {"Prefix": "data/"}, "Expiration": {"Days": 100}},
    )
    s3.put_object(Bucket=bucket, Key="data/one", Body=body)
    s3.put_object(Bucket=bucket, Key="other/one", Body=body)
    assert usage(lc_server, bucket)["STANDARD"]["objects"] == 2
    wait_until(lambda: s3.head_object(Bucket=bucket, Key="data/one").get("StorageClass") == "STANDARD_IA", timeout=20)
    assert s3.get_object(Bucket=bucket, Key="data/one")["Body"].read() == body  # IA: read at once
    wait_until(lambda: s3.head_object(Bucket=bucket, Key="data/one").get("StorageClass") == "GLACIER", timeout=20)
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="data/one")) == "InvalidObjectState"
    rows = usage(lc_server, bucket)
    assert rows["GLACIER"]["archived"] == 1 and rows["STANDARD"]["objects"] == 1
    wait_until(lambda: "data/one" not in keys(s3, bucket), timeout=20)
    assert keys(s3, bucket) == ["other/one"]
    assert s3.head_object(Bucket=bucket, Key="other/one").get("StorageClass", "STANDARD") == "STANDARD"
    # The archived blob went with the object (reclaim grace 0 here).
    wait_until(lambda: not cold_blobs(lc_server, bucket), timeout=10)
    status = json.loads(lc_server.admin("lifecycle", "--json").stdout)
    assert status["actions"]["transitioned"] >= 2 and status["actions"]["expired"] >= 1 and status["passes"] > 0


def test_noncurrent_versions_expire_keeping_the_newest(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket=bucket, Key="doc", Body=f"v{i}".encode())["VersionId"] for i in range(5)]
    put_rules(s3, bucket, {"ID": "old", "Status": "Enabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}})

    def remaining() -> list[str]:
        return [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket).get("Versions", [])]

    wait_until(lambda: len(remaining()) == 3)
    time.sleep(5 * DAY)  # and no further
    assert remaining() == [ids[4], ids[3], ids[2]]
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"v4"


def test_current_expiry_and_delete_marker_cleanup_in_a_versioned_bucket(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="gone", Body=b"1")
    s3.put_object(Bucket=bucket, Key="stays", Body=b"2")
    put_rules(
        s3,
        bucket,
        {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": "gone"}, "Expiration": {"Days": 1}},
        {"ID": "clean", "Status": "Enabled", "Filter": {"Prefix": "gone"}, "Expiration": {"ExpiredObjectDeleteMarker": True}, "NoncurrentVersionExpiration": {"NoncurrentDays": 2}},
    )
    # Expired: a delete marker goes on top; then the old version goes (noncurrent 2 days), and
    # then the marker, left alone, goes too.
    wait_until(lambda: not s3.list_object_versions(Bucket=bucket, Prefix="gone").get("Versions") and not s3.list_object_versions(Bucket=bucket, Prefix="gone").get("DeleteMarkers"), timeout=20)
    assert keys(s3, bucket) == ["stays"]


def test_incomplete_uploads_are_aborted(lc_server, s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="big/file")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="big/file", UploadId=up, PartNumber=1, Body=os.urandom(BIG))
    kept = s3.create_multipart_upload(Bucket=bucket, Key="other/file")["UploadId"]
    put_rules(s3, bucket, {"ID": "abort", "Status": "Enabled", "Filter": {"Prefix": "big/"}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})
    wait_until(lambda: [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [kept])
    assert error_code(lambda: s3.list_parts(Bucket=bucket, Key="big/file", UploadId=up)) == "NoSuchUpload"


def test_tag_and_size_filters_choose_what_expires(s3, bucket):
    put_rules(
        s3,
        bucket,
        {"ID": "tagged", "Status": "Enabled", "Filter": {"Tag": {"Key": "temp", "Value": "yes"}}, "Expiration": {"Days": 1}},
        {"ID": "big", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 1000}, "Expiration": {"Days": 1}},
    )
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Tagging="temp=yes")
    s3.put_object(Bucket=bucket, Key="other-tag", Body=b"t", Tagging="temp=no")
    s3.put_object(Bucket=bucket, Key="large", Body=b"L" * 2000)
    s3.put_object(Bucket=bucket, Key="small", Body=b"s" * 10)
    wait_until(lambda: keys(s3, bucket) == ["other-tag", "small"])
    time.sleep(5 * DAY)
    assert keys(s3, bucket) == ["other-tag", "small"]


def test_locked_versions_are_never_removed(s3):
    name = f"lc-lock-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    until = datetime.now(UTC) + timedelta(days=1)
    locked = s3.put_object(Bucket=name, Key="ledger", Body=b"entry", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)["VersionId"]
    held = s3.put_object(Bucket=name, Key="held", Body=b"hold", ObjectLockLegalHoldStatus="ON")["VersionId"]
    put_rules(s3, name, {"ID": "all", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    # Expiry puts delete markers over them (allowed on S3 too), but the versions stay.
    wait_until(lambda: not keys(s3, name))
    time.sleep(10 * DAY)
    versions = {v["Key"]: v["VersionId"] for v in s3.list_object_versions(Bucket=name).get("Versions", [])}
    assert versions == {"ledger": locked, "held": held}
    assert s3.get_object(Bucket=name, Key="ledger", VersionId=locked)["Body"].read() == b"entry"


def test_the_aws_cli_sets_a_lifecycle_and_restores(lc_server, bucket, tmp_path):
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": lc_server.env()["HOARD_ROOT_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": lc_server.env()["HOARD_ROOT_SECRET_KEY"], "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(tmp_path / "c"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "k")})

    def aws(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*aws_cli(), "--endpoint-url", lc_server.endpoint, *args], env=env, capture_output=True, text=True, timeout=120)

    # The example docs/lifecycle.md gives (the README's rule), as a user would send it.
    doc = (Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md").read_text()
    (tmp_path / "lifecycle.json").write_text(re.search(r"```json\n(.*?)```", doc, re.S).group(1))
    done = aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket, "--lifecycle-configuration", f"file://{tmp_path / 'lifecycle.json'}")
    assert done.returncode == 0, done.stderr
    got = json.loads(aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket).stdout)
    assert [r["ID"] for r in got["Rules"]] == ["logs", "uploads"]
    assert got["Rules"][0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1, "NewerNoncurrentVersions": 3}
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(BIG))
    assert aws("s3", "cp", str(src), f"s3://{bucket}/cold.bin", "--storage-class", "DEEP_ARCHIVE").returncode == 0
    listing = aws("s3api", "list-objects-v2", "--bucket", bucket)
    assert json.loads(listing.stdout)["Contents"][0]["StorageClass"] == "DEEP_ARCHIVE"
    # The CLI itself skips an archived object it sees in a listing; a GET of it is refused.
    skipped = aws("s3", "cp", f"s3://{bucket}/cold.bin", str(tmp_path / "back.bin"))
    assert skipped.returncode == 2 and "Skipping file" in skipped.stderr
    refused = aws("s3api", "get-object", "--bucket", bucket, "--key", "cold.bin", str(tmp_path / "back.bin"))
    assert refused.returncode != 0 and "InvalidObjectState" in refused.stderr
    restore = aws("s3api", "restore-object", "--bucket", bucket, "--key", "cold.bin", "--restore-request", '{"Days":200,"GlacierJobParameters":{"Tier":"Standard"}}')
    assert restore.returncode == 0, restore.stderr
    wait_until(lambda: 'ongoing-request="false"' in aws("s3api", "head-object", "--bucket", bucket, "--key", "cold.bin").stdout.replace('\\"', '"'))
    back = aws("s3", "cp", f"s3://{bucket}/cold.bin", str(tmp_path / "back.bin"), "--force-glacier-transfer")
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_listings_show_restore_status_when_asked(lc_server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="frozen", Body=os.urandom(BIG), StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket, OptionalObjectAttributes=["RestoreStatus"])["Contents"]}
    assert "RestoreStatus" not in listed["frozen"] and "RestoreStatus" not in listed["plain"]
    s3.restore_object(Bucket=bucket, Key="frozen", RestoreRequest={"Days": 100, "GlacierJobParameters": {"Tier": "Bulk"}})
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket, OptionalObjectAttributes=["RestoreStatus"])["Contents"]}
    assert listed["frozen"]["RestoreStatus"] == {"IsRestoreInProgress": True}
    assert "RestoreStatus" not in s3.list_objects_v2(Bucket=bucket)["Contents"][0]  # only when asked

    def ready() -> dict | None:
        status = s3.list_objects(Bucket=bucket, OptionalObjectAttributes=["RestoreStatus"])["Contents"][0].get("RestoreStatus", {})
        return status if status.get("IsRestoreInProgress") is False else None

    status = wait_until(ready)
    assert status["RestoreExpiryDate"] > datetime.now(UTC)
    versions = s3.list_object_versions(Bucket=bucket, OptionalObjectAttributes=["RestoreStatus"])["Versions"]
    assert [v.get("RestoreStatus", {}).get("IsRestoreInProgress") for v in versions] == [False, None]
    answer = send(lc_server, "GET", f"/{bucket}?list-type=2", headers={"x-amz-optional-object-attributes": "Owner"})
    assert answer.status == 400 and answer.code == "InvalidArgument"
