"""Object lock (write once, read many), driven with boto3 and the AWS CLI against a real server:
bucket lock configurations, retention and legal holds by operation and by write headers, what
they forbid (the ransomware drill), bad input, and locks that outlive restarts, index rebuilds and
heals."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import HoardServer, aws_cli
from tests.integration.test_multipart import error

FUTURE = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
RETENTION = {"Mode": "GOVERNANCE", "RetainUntilDate": FUTURE}
MiB = 1024 * 1024


def soon(**delta) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(**delta)


@pytest.fixture
def locked(s3) -> str:
    """A bucket created with object lock (no default retention)."""
    name = f"lock-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def denied(call, **kwargs) -> tuple[int, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return error(exc)


# -- buckets ---------------------------------------------------------------------------------------


def test_bucket_without_object_lock(s3, bucket):
    assert denied(s3.get_object_lock_configuration, Bucket=bucket) == (404, "ObjectLockConfigurationNotFoundError")
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
    # Unversioned, then Suspended: no lock; Enabled: the lock can be turned on.
    assert denied(s3.put_object_lock_configuration, Bucket=bucket, ObjectLockConfiguration=conf) == (409, "InvalidBucketState")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert denied(s3.put_object_lock_configuration, Bucket=bucket, ObjectLockConfiguration=conf) == (409, "InvalidBucketState")
    assert denied(s3.get_object_lock_configuration, Bucket=bucket) == (404, "ObjectLockConfigurationNotFoundError")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=conf)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == conf
    # Once locked, versioning can no longer be suspended.
    assert denied(s3.put_bucket_versioning, Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}) == (409, "InvalidBucketState")
    assert denied(s3.get_object_lock_configuration, Bucket="no-such-bucket-anywhere") == (404, "NoSuchBucket")


def test_retention_and_legal_hold_in_a_bucket_without_object_lock(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc")
    calls = [
        (s3.put_object_retention, {"Retention": RETENTION}),
        (s3.get_object_retention, {}),
        (s3.put_object_legal_hold, {"LegalHold": {"Status": "ON"}}),
        (s3.get_object_legal_hold, {}),
    ]
    for call, extra in calls:
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="k", **extra)
        assert error(exc) == (400, "InvalidRequest"), call
        assert exc.value.response["Error"]["Message"] == "Bucket is missing Object Lock Configuration"
    assert denied(s3.put_object, Bucket=bucket, Key="j", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=FUTURE) == (
        400,
        "InvalidRequest",
    )
    # The object is untouched and deletable: nothing locked it.
    s3.delete_object(Bucket=bucket, Key="k")
    assert denied(s3.get_object, Bucket=bucket, Key="k") == (404, "NoSuchKey")


def test_created_with_object_lock_is_versioned(s3, locked):
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    a = s3.put_object(Bucket=locked, Key="k", Body=b"1")
    b = s3.put_object(Bucket=locked, Key="k", Body=b"2")
    assert a["VersionId"] != b["VersionId"]
    head = s3.head_object(Bucket=locked, Key="k")
    assert "ObjectLockMode" not in head and "ObjectLockLegalHoldStatus" not in head
    assert denied(s3.get_object_retention, Bucket=locked, Key="k") == (404, "NoSuchObjectLockConfiguration")
    assert s3.get_object_legal_hold(Bucket=locked, Key="k")["LegalHold"] == {"Status": "OFF"}


def test_default_retention_applies_to_new_versions(s3, locked):
    s3.put_object(Bucket=locked, Key="before", Body=b"x")
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=conf)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == conf
    start = dt.datetime.now(dt.UTC)
    put = s3.put_object(Bucket=locked, Key="after", Body=b"y")
    head = s3.head_object(Bucket=locked, Key="after")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert start + dt.timedelta(days=2) - dt.timedelta(seconds=5) <= until <= dt.datetime.now(dt.UTC) + dt.timedelta(days=2, seconds=5)
    assert s3.get_object_retention(Bucket=locked, Key="after", VersionId=put["VersionId"])["Retention"]["Mode"] == "COMPLIANCE"
    # A version written before the rule is not retained by it.
    assert "ObjectLockMode" not in s3.head_object(Bucket=locked, Key="before")
    # Explicit headers win over the default.
    s3.put_object(Bucket=locked, Key="explicit", Body=b"z", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=FUTURE)
    head = s3.head_object(Bucket=locked, Key="explicit")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", FUTURE)
    # Years, and a copy and a multipart upload get the default too.
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 1}}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=conf)
    s3.copy_object(Bucket=locked, Key="copied", CopySource={"Bucket": locked, "Key": "before"})
    upload = s3.create_multipart_upload(Bucket=locked, Key="multi")
    etag = s3.upload_part(Bucket=locked, Key="multi", UploadId=upload["UploadId"], PartNumber=1, Body=b"m" * 100)["ETag"]
    s3.complete_multipart_upload(Bucket=locked, Key="multi", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    for key in ("copied", "multi"):
        head = s3.head_object(Bucket=locked, Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE", key
        assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC) + dt.timedelta(days=364), key


def test_lock_headers_on_put_copy_and_multipart(s3, locked):
    until = soon(days=3)
    s3.put_object(Bucket=locked, Key="p", Body=b"p", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    s3.copy_object(Bucket=locked, Key="c", CopySource={"Bucket": locked, "Key": "p"}, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    upload = s3.create_multipart_upload(Bucket=locked, Key="m", ObjectLockLegalHoldStatus="ON", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    etag = s3.upload_part(Bucket=locked, Key="m", UploadId=upload["UploadId"], PartNumber=1, Body=b"m")["ETag"]
    s3.complete_multipart_upload(Bucket=locked, Key="m", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    expected = {"p": ("GOVERNANCE", "ON"), "c": ("COMPLIANCE", None), "m": ("GOVERNANCE", "ON")}
    for key, (mode, hold) in expected.items():
        got = s3.get_object(Bucket=locked, Key=key)
        assert (got["ObjectLockMode"], got["ObjectLockRetainUntilDate"], got.get("ObjectLockLegalHoldStatus")) == (mode, until, hold), key
    # The copy does not inherit the source's legal hold: it was not asked for.
    assert s3.get_object_legal_hold(Bucket=locked, Key="c")["LegalHold"]["Status"] == "OFF"
    for key in ("p", "m"):
        s3.put_object_legal_hold(Bucket=locked, Key=key, LegalHold={"Status": "OFF"})


def test_lock_needs_a_body_checksum(server, locked):
    """With object lock settings a PUT must carry Content-MD5 or a checksum, as in S3."""
    bare = server.client(request_checksum_calculation="when_required")
    kwargs = {"Bucket": locked, "Key": "k", "Body": b"data", "ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": FUTURE}
    with pytest.raises(ClientError) as exc:
        bare.put_object(**kwargs)
    assert error(exc) == (400, "InvalidRequest")
    assert "Content-MD5" in exc.value.response["Error"]["Message"]
    bare.put_object(**kwargs, ContentMD5=base64.b64encode(hashlib.md5(b"data").digest()).decode())
    assert bare.head_object(Bucket=locked, Key="k")["ObjectLockMode"] == "GOVERNANCE"
    # Without lock settings (and no default retention) no checksum is needed.
    bare.put_object(Bucket=locked, Key="plain", Body=b"data")
    # The parts of a locked multipart upload need one too.
    upload = bare.create_multipart_upload(Bucket=locked, Key="mp", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=FUTURE)
    with pytest.raises(ClientError) as exc:
        bare.upload_part(Bucket=locked, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"part")
    assert error(exc) == (400, "InvalidRequest")
    bare.upload_part(Bucket=locked, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"part", ContentMD5=base64.b64encode(hashlib.md5(b"part").digest()).decode())
    bare.abort_multipart_upload(Bucket=locked, Key="mp", UploadId=upload["UploadId"])


# -- what a lock forbids -------------------------------------------------------------------------------


def test_ransomware_drill_compliance(s3, server, locked, aws_env):
    """COMPLIANCE for a day: nobody, the root account included, deletes, overwrites in place or
    shortens the locked version; it stays readable by its id whatever happens to the key."""
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=conf)
    backup = os.urandom(300 * 1024)
    vid = s3.put_object(Bucket=locked, Key="backup.tar", Body=backup)["VersionId"]

    assert denied(s3.delete_object, Bucket=locked, Key="backup.tar", VersionId=vid) == (403, "AccessDenied")
    assert denied(s3.delete_object, Bucket=locked, Key="backup.tar", VersionId=vid, BypassGovernanceRetention=True) == (403, "AccessDenied")
    result = s3.delete_objects(Bucket=locked, Delete={"Objects": [{"Key": "backup.tar", "VersionId": vid}]})
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("backup.tar", "AccessDenied")]
    assert not result.get("Deleted")
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": soon(hours=1)}, {"Mode": "GOVERNANCE", "RetainUntilDate": soon(days=5)}):
        assert denied(s3.put_object_retention, Bucket=locked, Key="backup.tar", VersionId=vid, Retention=retention) == (403, "AccessDenied")
        assert denied(
            s3.put_object_retention, Bucket=locked, Key="backup.tar", VersionId=vid, Retention=retention, BypassGovernanceRetention=True
        ) == (403, "AccessDenied")
    # The same refusals through the AWS CLI, as an attacker with the root keys would try.
    cli = subprocess.run(
        [*aws_cli(), "--endpoint-url", server.endpoint, "s3api", "delete-object", "--bucket", locked, "--key", "backup.tar", "--version-id", vid, "--bypass-governance-retention"],
        env=aws_env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode != 0 and "AccessDenied" in cli.stderr, cli.stderr
    cli = subprocess.run(
        [*aws_cli(), "--endpoint-url", server.endpoint, "s3", "rm", f"s3://{locked}/backup.tar"], env=aws_env, capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr  # a delete marker: allowed, it deletes no version

    # An overwrite and a delete marker leave the locked version as it was.
    s3.put_object(Bucket=locked, Key="backup.tar", Body=b"encrypted by ransomware")
    s3.delete_object(Bucket=locked, Key="backup.tar")
    assert denied(s3.get_object, Bucket=locked, Key="backup.tar") == (404, "NoSuchKey")
    assert s3.get_object(Bucket=locked, Key="backup.tar", VersionId=vid)["Body"].read() == backup
    # Extending it is allowed.
    longer = soon(days=3)
    s3.put_object_retention(Bucket=locked, Key="backup.tar", VersionId=vid, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer})
    assert s3.get_object_retention(Bucket=locked, Key="backup.tar", VersionId=vid)["Retention"] == {"Mode": "COMPLIANCE", "RetainUntilDate": longer}
    versions = s3.list_object_versions(Bucket=locked, Prefix="backup.tar")
    assert vid in [v["VersionId"] for v in versions["Versions"]]


def test_governance_needs_the_bypass(s3, locked):
    vid = s3.put_object(Bucket=locked, Key="g", Body=b"g", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=FUTURE)["VersionId"]
    assert denied(s3.delete_object, Bucket=locked, Key="g", VersionId=vid) == (403, "AccessDenied")
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": soon(days=1)}
    assert denied(s3.put_object_retention, Bucket=locked, Key="g", VersionId=vid, Retention=shorter) == (403, "AccessDenied")
    to_compliance = {"Mode": "COMPLIANCE", "RetainUntilDate": FUTURE}
    assert denied(s3.put_object_retention, Bucket=locked, Key="g", VersionId=vid, Retention=to_compliance) == (403, "AccessDenied")
    s3.put_object_retention(Bucket=locked, Key="g", VersionId=vid, Retention=shorter, BypassGovernanceRetention=True)
    assert s3.get_object_retention(Bucket=locked, Key="g", VersionId=vid)["Retention"]["RetainUntilDate"] == shorter["RetainUntilDate"]
    s3.delete_object(Bucket=locked, Key="g", VersionId=vid, BypassGovernanceRetention=True)
    assert denied(s3.get_object, Bucket=locked, Key="g", VersionId=vid) == (404, "NoSuchVersion")


def test_legal_hold_blocks_deletion_until_removed(s3, locked):
    vid = s3.put_object(Bucket=locked, Key="h", Body=b"h")["VersionId"]
    s3.put_object_legal_hold(Bucket=locked, Key="h", VersionId=vid, LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="h", VersionId=vid)["LegalHold"] == {"Status": "ON"}
    assert s3.head_object(Bucket=locked, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    assert denied(s3.delete_object, Bucket=locked, Key="h", VersionId=vid) == (403, "AccessDenied")
    assert denied(s3.delete_object, Bucket=locked, Key="h", VersionId=vid, BypassGovernanceRetention=True) == (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket=locked, Key="h", VersionId=vid, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=locked, Key="h", VersionId=vid)
    assert s3.list_object_versions(Bucket=locked, Prefix="h").get("Versions") is None


def test_an_expired_retention_no_longer_protects(s3, locked):
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    vid = s3.put_object(Bucket=locked, Key="e", Body=b"e", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)["VersionId"]
    assert denied(s3.delete_object, Bucket=locked, Key="e", VersionId=vid) == (403, "AccessDenied")
    time.sleep(max(0.0, (until - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
    s3.delete_object(Bucket=locked, Key="e", VersionId=vid)


# -- bad input -----------------------------------------------------------------------------------------


def test_malformed_lock_configurations(s3, locked):
    bad = [
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}}, (400, "MalformedXML")),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "ABC", "Days": 1}}}, (400, "MalformedXML")),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "governance", "Days": 1}}}, (400, "MalformedXML")),
        ({"ObjectLockEnabled": "Disabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}, (400, "MalformedXML")),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}}, (400, "InvalidRetentionPeriod")),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": -1}}}, (400, "InvalidRetentionPeriod")),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE"}}}, (400, "MalformedXML")),
    ]
    for conf, expected in bad:
        assert denied(s3.put_object_lock_configuration, Bucket=locked, ObjectLockConfiguration=conf) == expected, conf
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}


def test_raw_malformed_documents(server, locked):
    """Documents that are not XML at all, or entity tricks, answered with S3's error."""
    import requests
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY

    s3 = server.client()
    s3.put_object(Bucket=locked, Key="k", Body=b"k")

    def send(path_query: str, body: bytes) -> requests.Response:
        url = f"{server.endpoint}/{locked}{path_query}"
        req = AWSRequest("PUT", url, data=body, headers={"content-md5": base64.b64encode(hashlib.md5(body).digest()).decode()})
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(req)
        return requests.put(url, data=body, headers=dict(req.headers), timeout=10)

    for query in ("?object-lock", "/k?retention", "/k?legal-hold"):
        for body in (b"not xml", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><Retention>&e;</Retention>', b"<Other/>"):
            answer = send(query, body)
            assert answer.status_code == 400, (query, body, answer.text)
            assert "<Code>MalformedXML</Code>" in answer.text, (query, body, answer.text)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    assert s3.get_object_legal_hold(Bucket=locked, Key="k")["LegalHold"]["Status"] == "OFF"


def test_bad_retention_values(s3, locked):
    vid = s3.put_object(Bucket=locked, Key="k", Body=b"k")["VersionId"]
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    assert denied(s3.put_object_retention, Bucket=locked, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": past}) == (400, "InvalidArgument")
    assert denied(s3.put_object_retention, Bucket=locked, Key="k", Retention={"Mode": "WRONG", "RetainUntilDate": FUTURE}) == (400, "MalformedXML")
    assert denied(s3.put_object_legal_hold, Bucket=locked, Key="k", LegalHold={"Status": "MAYBE"}) == (400, "MalformedXML")
    assert denied(s3.put_object, Bucket=locked, Key="n", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=past) == (400, "InvalidArgument")
    assert denied(s3.put_object, Bucket=locked, Key="n", Body=b"x", ObjectLockMode="WORM", ObjectLockRetainUntilDate=FUTURE) == (400, "InvalidArgument")
    assert denied(s3.put_object, Bucket=locked, Key="n", Body=b"x", ObjectLockMode="GOVERNANCE") == (400, "InvalidArgument")
    assert denied(s3.put_object, Bucket=locked, Key="n", Body=b"x", ObjectLockLegalHoldStatus="MAYBE") == (400, "InvalidArgument")
    assert denied(s3.put_object_retention, Bucket=locked, Key="k", VersionId="0" * 24, Retention=RETENTION) == (404, "NoSuchVersion")
    assert denied(s3.put_object_retention, Bucket=locked, Key="nope", Retention=RETENTION) == (404, "NoSuchKey")
    # Nothing of that stuck: the version is unlocked, no "n" exists.
    assert denied(s3.get_object_retention, Bucket=locked, Key="k", VersionId=vid) == (404, "NoSuchObjectLockConfiguration")
    assert denied(s3.head_object, Bucket=locked, Key="n") == (404, "404")


# -- a lock outlives restarts, index rebuilds and heals ------------------------------------------------


def test_locks_survive_restart_rebuild_and_heal(tmp_path):
    drives = [tmp_path / f"disk{i}" for i in range(4)]  # an erasure set: 2 data + 2 parity
    srv = HoardServer(tmp_path / "logs", drives=drives).start()
    try:
        c = srv.client()
        c.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}}
        c.put_object_lock_configuration(Bucket="vault", ObjectLockConfiguration=conf)
        big = os.urandom(3 * MiB)
        v_big = c.put_object(Bucket="vault", Key="big", Body=big)["VersionId"]
        v_small = c.put_object(Bucket="vault", Key="small", Body=b"small", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=FUTURE)["VersionId"]
        c.put_object_legal_hold(Bucket="vault", Key="small", VersionId=v_small, LegalHold={"Status": "ON"})
        until_big = c.head_object(Bucket="vault", Key="big")["ObjectLockRetainUntilDate"]

        def check(server: HoardServer) -> None:
            cl = server.client()
            assert cl.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"] == conf
            assert cl.get_bucket_versioning(Bucket="vault")["Status"] == "Enabled"
            head = cl.head_object(Bucket="vault", Key="big", VersionId=v_big)
            assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", until_big)
            head = cl.head_object(Bucket="vault", Key="small", VersionId=v_small)
            assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", FUTURE, "ON")
            assert denied(cl.delete_object, Bucket="vault", Key="big", VersionId=v_big, BypassGovernanceRetention=True) == (403, "AccessDenied")
            assert denied(cl.delete_object, Bucket="vault", Key="small", VersionId=v_small, BypassGovernanceRetention=True) == (403, "AccessDenied")
            assert cl.get_object(Bucket="vault", Key="big", VersionId=v_big)["Body"].read() == big

        check(srv)
        srv.stop()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        check(srv)
        srv.admin("rebuild-index")
        check(srv)
        # A drive lost and healed: the records rebuilt on it carry the locks too.
        srv.stop()
        for path in (drives[1] / ".hoard" / "records").rglob("*"):
            if path.is_file():
                path.unlink()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        srv.admin("heal", "vault")
        assert any(p.is_file() for p in (drives[1] / ".hoard" / "records").rglob("*"))
        check(srv)
        # And an index rebuilt from nothing but the drives (the healed one among them).
        srv.stop()
        for d in drives:
            for path in d.glob(".hoard/meta.db*"):
                path.unlink()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        check(srv)
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]
