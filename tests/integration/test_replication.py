"""Bucket replication between two real Hoard servers (two "sites" on loopback ports): every kind
of write arrives on the target byte for byte, with its version id, metadata and tags; a target
that is down for a while, or a source killed with versions still queued, loses nothing; two
buckets replicating to each other converge without looping; existing versions replicate on
demand (``hoard admin replicate resync``)."""

from __future__ import annotations

import datetime
import hashlib
import json
import time

import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, wait_for

REMOTE = "dr-site"
ROLE = f"arn:aws:iam::123456789012:role/{REMOTE}"
WAIT = 60.0


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    base = tmp_path_factory.mktemp("replication")
    for site in ("primary", "secondary"):
        (base / site).mkdir()
    primary = HoardServer(base / "primary" / "data").start()
    secondary = HoardServer(base / "secondary" / "data").start()
    try:  # the servers stop even when the setup fails
        add_remote(primary, REMOTE, secondary)
        add_remote(primary, "east", secondary)
        add_remote(secondary, "west", primary)
        yield primary, secondary
    finally:
        for site in (primary, secondary):
            site.stop()
    for site in (primary, secondary):
        assert "Traceback" not in site.log(), site.log()[-5000:]


def add_remote(site: HoardServer, name: str, target: HoardServer) -> None:
    site.admin("remote", "add", name, target.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)


def versioned(site: HoardServer, name: str) -> None:
    s3 = site.client()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def replicate(site: HoardServer, source: str, target_bucket: str, role: str = ROLE, prefix: str = "", delete_markers: bool = True) -> None:
    rule = {
        "ID": f"to-{target_bucket}",
        "Priority": 1,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "DeleteMarkerReplication": {"Status": "Enabled" if delete_markers else "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{target_bucket}"},
    }
    site.client().put_bucket_replication(Bucket=source, ReplicationConfiguration={"Role": role, "Rules": [rule]})


def status(s3, bucket: str, key: str, version: str | None = None) -> str | None:
    head = s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
    return head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-replication-status")


def versions(s3, bucket: str) -> list[tuple[str, str, str, bool]]:
    """Every version and delete marker: (key, version id, ETag or "marker", is latest)."""
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found += [(v["Key"], v["VersionId"], v["ETag"], v["IsLatest"]) for v in page.get("Versions", [])]
        found += [(m["Key"], m["VersionId"], "marker", m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
    return sorted(found)


def drained(site: HoardServer, bucket: str) -> bool:
    counts = json.loads(site.admin("replicate", "status", bucket, "--json").stdout)
    return counts["pending"] == 0 and counts["failed"] == 0


def test_every_kind_of_write_arrives_whole(sites):
    primary, secondary = sites
    versioned(primary, "photos")
    versioned(secondary, "photos-dr")
    replicate(primary, "photos", "photos-dr")
    src, dst = primary.client(), secondary.client()
    src.put_object(Bucket="photos", Key="a.jpg", Body=b"first", ContentType="image/jpeg", Metadata={"camera": "x100"}, Tagging="album=2026")
    src.put_object(Bucket="photos", Key="a.jpg", Body=b"second version")
    src.copy_object(Bucket="photos", Key="b.jpg", CopySource={"Bucket": "photos", "Key": "a.jpg"})
    parts = [b"p" * 5 * 1024 * 1024, b"q" * 5 * 1024 * 1024, b"tail"]
    upload = src.create_multipart_upload(Bucket="photos", Key="big.bin", ContentType="application/x-big")["UploadId"]
    etags = [src.upload_part(Bucket="photos", Key="big.bin", UploadId=upload, PartNumber=i + 1, Body=p)["ETag"] for i, p in enumerate(parts)]
    src.complete_multipart_upload(
        Bucket="photos", Key="big.bin", UploadId=upload, MultipartUpload={"Parts": [{"ETag": e, "PartNumber": i + 1} for i, e in enumerate(etags)]}
    )
    src.put_object(Bucket="photos", Key="gone.txt", Body=b"soon deleted")
    src.delete_object(Bucket="photos", Key="gone.txt")
    assert wait_for(lambda: drained(primary, "photos"), WAIT), primary.admin("replicate", "status", "photos").stdout
    # The same versions, under the same ids, on both sides; the target's are replicas.
    assert versions(dst, "photos-dr") == versions(src, "photos")
    assert status(src, "photos", "a.jpg") == "COMPLETED"
    assert status(dst, "photos-dr", "a.jpg") == "REPLICA"
    first = [v for v in versions(src, "photos") if v[0] == "a.jpg" and not v[3]][0][1]
    old = dst.get_object(Bucket="photos-dr", Key="a.jpg", VersionId=first)
    assert old["Body"].read() == b"first"
    assert (old["ContentType"], old["Metadata"]) == ("image/jpeg", {"camera": "x100"})
    assert dst.get_object_tagging(Bucket="photos-dr", Key="a.jpg", VersionId=first)["TagSet"] == [{"Key": "album", "Value": "2026"}]
    big = dst.get_object(Bucket="photos-dr", Key="big.bin")
    assert hashlib.sha256(big["Body"].read()).digest() == hashlib.sha256(b"".join(parts)).digest()
    assert big["ETag"] == src.head_object(Bucket="photos", Key="big.bin")["ETag"] and big["ETag"].endswith('-3"')
    # Checksums travel with the bytes: a single part's, and a multipart version's parts' (the same composite).
    src.put_object(Bucket="photos", Key="summed", Body=b"checked", ChecksumAlgorithm="SHA256")
    upload = src.create_multipart_upload(Bucket="photos", Key="summed-mp", ChecksumAlgorithm="CRC32")["UploadId"]
    sent = [src.upload_part(Bucket="photos", Key="summed-mp", UploadId=upload, PartNumber=i + 1, Body=p, ChecksumAlgorithm="CRC32") for i, p in enumerate(parts[1:])]
    src.complete_multipart_upload(
        Bucket="photos", Key="summed-mp", UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"], "PartNumber": i + 1} for i, r in enumerate(sent)]},
    )  # fmt: skip
    assert wait_for(lambda: drained(primary, "photos"), WAIT)
    for key, field in (("summed", "ChecksumSHA256"), ("summed-mp", "ChecksumCRC32")):
        there = dst.head_object(Bucket="photos-dr", Key=key, ChecksumMode="ENABLED")
        here = src.head_object(Bucket="photos", Key=key, ChecksumMode="ENABLED")
        assert there[field] == here[field] and there["ETag"] == here["ETag"]
    # A change of tags alone travels too.
    src.put_object_tagging(Bucket="photos", Key="a.jpg", VersionId=first, Tagging={"TagSet": [{"Key": "album", "Value": "best"}]})
    assert wait_for(lambda: dst.get_object_tagging(Bucket="photos-dr", Key="a.jpg", VersionId=first)["TagSet"] == [{"Key": "album", "Value": "best"}], WAIT)


def test_a_prefix_rule_replicates_only_its_keys(sites):
    primary, secondary = sites
    versioned(primary, "logs")
    versioned(secondary, "logs-dr")
    replicate(primary, "logs", "logs-dr", prefix="keep/")
    src, dst = primary.client(), secondary.client()
    src.put_object(Bucket="logs", Key="keep/1", Body=b"1")
    src.put_object(Bucket="logs", Key="skip/1", Body=b"2")
    assert wait_for(lambda: drained(primary, "logs"), WAIT)
    assert [v[0] for v in versions(dst, "logs-dr")] == ["keep/1"]
    assert status(src, "logs", "skip/1") is None  # no rule covers it: no status, as on S3


def test_a_target_down_for_a_while_loses_nothing(sites):
    primary, secondary = sites
    versioned(primary, "docs")
    versioned(secondary, "docs-dr")
    replicate(primary, "docs", "docs-dr")
    src = primary.client()
    secondary.stop()
    for i in range(5):
        src.put_object(Bucket="docs", Key=f"doc-{i}", Body=f"written while the target was down {i}".encode())
    assert wait_for(lambda: status(src, "docs", "doc-0") == "FAILED", WAIT)
    # The backlog and its lag, in the admin info as in the replication status.
    backlog = json.loads(primary.admin("info", "--json").stdout)["replication"]
    assert backlog["failed"] >= 1 and backlog["lag_seconds"] > 0
    assert "Replication:" in primary.admin("info").stdout
    # Killed with versions still queued: the queue is in the index, committed with them.
    primary.kill()
    primary.start()
    secondary.start()
    assert wait_for(lambda: drained(primary, "docs"), WAIT), primary.admin("replicate", "status", "docs").stdout
    dst = secondary.client()
    for i in range(5):
        assert dst.get_object(Bucket="docs-dr", Key=f"doc-{i}")["Body"].read() == f"written while the target was down {i}".encode()
    assert status(primary.client(), "docs", "doc-4") == "COMPLETED"


def test_two_buckets_replicating_to_each_other_converge(sites):
    primary, secondary = sites
    versioned(primary, "shared")
    versioned(secondary, "shared")
    replicate(primary, "shared", "shared", role="arn:aws:iam::123456789012:role/east")
    replicate(secondary, "shared", "shared", role="arn:aws:iam::123456789012:role/west")
    a, b = primary.client(), secondary.client()
    a.put_object(Bucket="shared", Key="same-key", Body=b"from west")
    b.put_object(Bucket="shared", Key="same-key", Body=b"from east")
    a.put_object(Bucket="shared", Key="only-west", Body=b"w")
    b.put_object(Bucket="shared", Key="only-east", Body=b"e")
    assert wait_for(lambda: drained(primary, "shared") and drained(secondary, "shared") and versions(a, "shared") == versions(b, "shared"), WAIT)
    assert len([v for v in versions(a, "shared") if v[0] == "same-key"]) == 2  # neither write lost
    # No loop: nothing more is queued, and the versions stay as they are.
    time.sleep(2)
    assert versions(a, "shared") == versions(b, "shared")
    assert a.get_object(Bucket="shared", Key="same-key")["Body"].read() == b.get_object(Bucket="shared", Key="same-key")["Body"].read()


def test_existing_versions_replicate_on_demand(sites):
    primary, secondary = sites
    versioned(primary, "archive")
    versioned(secondary, "archive-dr")
    src = primary.client()
    for i in range(3):
        src.put_object(Bucket="archive", Key=f"old-{i}", Body=f"before replication {i}".encode())
    replicate(primary, "archive", "archive-dr")
    time.sleep(1)
    assert versions(secondary.client(), "archive-dr") == []  # configuring replication sends nothing by itself
    done = primary.admin("replicate", "resync", "archive", "--timeout", "60")
    assert "3 versions of archive queued" in done.stdout
    assert versions(secondary.client(), "archive-dr") == versions(src, "archive")


def test_object_lock_settings_travel_with_the_version(sites):
    primary, secondary = sites
    for site, name in ((primary, "vault"), (secondary, "vault-dr")):
        site.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    replicate(primary, "vault", "vault-dr")
    src, dst = primary.client(), secondary.client()
    until = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=1)
    src.put_object(Bucket="vault", Key="ledger", Body=b"kept", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    assert wait_for(lambda: drained(primary, "vault"), WAIT)
    there = dst.head_object(Bucket="vault-dr", Key="ledger")
    assert (there["ObjectLockMode"], there["ObjectLockRetainUntilDate"], there["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", until, "ON")
    # Lifting the legal hold on the source lifts it on the target.
    version = there["VersionId"]
    src.put_object_legal_hold(Bucket="vault", Key="ledger", VersionId=version, LegalHold={"Status": "OFF"})
    assert wait_for(lambda: dst.get_object_legal_hold(Bucket="vault-dr", Key="ledger", VersionId=version)["LegalHold"]["Status"] == "OFF", WAIT)


def test_an_encrypted_version_arrives_encrypted(sites):
    """S3 replicates an SSE-S3 object as SSE-S3: the target keeps it encrypted too, single-part
    and multipart alike."""
    primary, secondary = sites
    versioned(primary, "sealed")
    versioned(secondary, "sealed-dr")
    replicate(primary, "sealed", "sealed-dr")
    src, dst = primary.client(), secondary.client()
    small = b"s" * 300_000
    src.put_object(Bucket="sealed", Key="small", Body=small, ServerSideEncryption="AES256")
    parts = [b"a" * (5 * 1024 * 1024), b"b" * 1000]
    upload = src.create_multipart_upload(Bucket="sealed", Key="large", ServerSideEncryption="AES256")
    done = [
        {"ETag": src.upload_part(Bucket="sealed", Key="large", UploadId=upload["UploadId"], PartNumber=n, Body=data)["ETag"], "PartNumber": n}
        for n, data in enumerate(parts, 1)
    ]
    src.complete_multipart_upload(Bucket="sealed", Key="large", UploadId=upload["UploadId"], MultipartUpload={"Parts": done})
    assert wait_for(lambda: drained(primary, "sealed"), WAIT)
    for key, body in (("small", small), ("large", b"".join(parts))):
        there = dst.get_object(Bucket="sealed-dr", Key=key)
        assert there["Body"].read() == body and there["ServerSideEncryption"] == "AES256", key
