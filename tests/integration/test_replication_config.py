"""Replication's configuration against a real server: remotes managed with ``hoard admin remote``
(their secret sealed on the drives), and PutBucketReplication's refusals, as S3 makes them."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer
from tests.integration.test_iam_admin import all_bytes, refused

ROLE = "arn:aws:iam::123456789012:role/offsite"
REMOTE_SECRET = "remote-secret-that-must-not-leak-0123456789"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("replconfig")
    for site in ("source", "target"):
        (base / site).mkdir()
    source = HoardServer(base / "source" / "data").start()
    target = HoardServer(base / "target" / "data").start()
    yield source, target
    for site in (source, target):
        site.stop()
        assert "Traceback" not in site.log(), site.log()[-5000:]


def put_replication(s3, bucket: str, destination: str = "arn:aws:s3:::dest", role: str = ROLE) -> None:
    s3.put_bucket_replication(
        Bucket=bucket,
        ReplicationConfiguration={
            "Role": role,
            "Rules": [{"ID": "r", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""}, "DeleteMarkerReplication": {"Status": "Disabled"},
                       "Destination": {"Bucket": destination}}],
        },
    )  # fmt: skip


def code(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_remotes_are_managed_and_their_secret_kept_sealed(pair):
    source, target = pair
    source.admin("remote", "add", "offsite", target.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
    source.admin("remote", "add", "unused", "http://127.0.0.1:9", "--access-key", "AK", "--secret-key", REMOTE_SECRET)
    listed = json.loads(source.admin("remote", "list", "--json").stdout)["remotes"]
    assert [r["name"] for r in listed] == ["offsite", "unused"]
    assert REMOTE_SECRET not in json.dumps(listed) and "secret" not in json.dumps(listed)
    assert REMOTE_SECRET.encode() not in all_bytes(source.data_dir)
    assert "answers" in source.admin("remote", "check", "offsite").stdout
    assert "Error:" in refused(source, "remote", "check", "unused")  # nothing listens there: said in one line
    assert "EntityAlreadyExists" in refused(source, "remote", "add", "offsite", target.endpoint, "--access-key", "a", "--secret-key", "b")
    assert "InvalidArgument" in refused(source, "remote", "add", "bad name", target.endpoint, "--access-key", "a", "--secret-key", "b")
    assert "InvalidArgument" in refused(source, "remote", "add", "x", "ftp://host", "--access-key", "a", "--secret-key", "b")
    source.admin("remote", "remove", "unused")
    assert "NoSuchEntity" in refused(source, "remote", "remove", "unused")


def test_put_get_delete_and_s3s_refusals(pair):
    source, target = pair
    src, dst = source.client(), target.client()
    src.create_bucket(Bucket="origin")
    # The source must be versioned.
    assert code(lambda: put_replication(src, "origin")) == "InvalidRequest"
    src.put_bucket_versioning(Bucket="origin", VersioningConfiguration={"Status": "Enabled"})
    # The destination must exist on the remote, versioned.
    assert code(lambda: put_replication(src, "origin")) == "InvalidRequest"
    dst.create_bucket(Bucket="dest")
    assert code(lambda: put_replication(src, "origin")) == "InvalidRequest"
    dst.put_bucket_versioning(Bucket="dest", VersioningConfiguration={"Status": "Enabled"})
    # The Role must name a remote there is.
    assert code(lambda: put_replication(src, "origin", role="arn:aws:iam::123456789012:role/nowhere")) == "InvalidArgument"
    assert code(lambda: src.get_bucket_replication(Bucket="origin")) == "ReplicationConfigurationNotFoundError"
    put_replication(src, "origin")
    got = src.get_bucket_replication(Bucket="origin")["ReplicationConfiguration"]
    assert got["Role"] == ROLE and got["Rules"][0]["Destination"]["Bucket"] == "arn:aws:s3:::dest"
    # Versioning cannot be suspended under replication, and the remote cannot go while named.
    assert code(lambda: src.put_bucket_versioning(Bucket="origin", VersioningConfiguration={"Status": "Suspended"})) == "InvalidBucketState"
    assert "DeleteConflict" in refused(source, "remote", "remove", "offsite")
    src.delete_bucket_replication(Bucket="origin")
    assert code(lambda: src.get_bucket_replication(Bucket="origin")) == "ReplicationConfigurationNotFoundError"
    src.put_bucket_versioning(Bucket="origin", VersioningConfiguration={"Status": "Suspended"})


def test_malformed_configurations_change_nothing(pair):
    source, _ = pair
    src = source.client()
    src.create_bucket(Bucket="strict")
    src.put_bucket_versioning(Bucket="strict", VersioningConfiguration={"Status": "Enabled"})

    def raw(body: bytes) -> None:
        # Replace the body before botocore computes its checksum: the document itself is the fault.
        src.meta.events.register_first("before-call.s3.PutBucketReplication", lambda params, **_: params.update(body=body))
        put_replication(src, "strict")

    assert code(lambda: raw(b"<ReplicationConfiguration><Role>x</Role><Rule>")) == "MalformedXML"
    assert code(lambda: src.get_bucket_replication(Bucket="strict")) == "ReplicationConfigurationNotFoundError"
