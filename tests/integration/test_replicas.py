"""Replica writes on a replication target: a version written with its source's id, seq and time
(``x-hoard-replica-*``), marked REPLICA, by an identity allowed s3:ReplicateObject only, into a
versioned bucket only; checked through real boto3 clients against a real server."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from hoard.objects.replicas import ReplicaOf
from hoard.objects.versions import new_seq
from tests.integration.test_iam_admin import client

SEQ = "0005f9a3b2c4d1e2a1b2c3d4"
OLDER_SEQ = "0005f9a3b2c4d0e2a1b2c3d4"


def with_headers(s3, event: str, headers: dict[str, str]) -> None:
    """Send ``headers`` with every call of ``event`` (e.g. before-call.s3.PutObject) on this client."""
    s3.meta.events.register(event, lambda params, **_: params["headers"].update(headers))


@pytest.fixture
def versioned(s3, bucket) -> str:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def replica_client(server, replica: ReplicaOf, *operations: str):
    s3 = server.client()
    for op in operations:
        with_headers(s3, f"before-call.s3.{op}", replica.headers())
    return s3


def test_a_replica_keeps_its_source_versions_identity(server, versioned, s3):
    replica = ReplicaOf(SEQ, SEQ, 1_700_000_000.123)
    target = replica_client(server, replica, "PutObject")
    answer = target.put_object(Bucket=versioned, Key="k", Body=b"replicated bytes")
    assert answer["VersionId"] == SEQ
    head = s3.head_object(Bucket=versioned, Key="k")
    assert head["VersionId"] == SEQ
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-replication-status"] == "REPLICA"
    assert head["LastModified"].timestamp() == 1_700_000_000
    assert head["ETag"] == f'"{hashlib.md5(b"replicated bytes").hexdigest()}"'
    # An older source version arriving later takes its place behind the newer one, as on the source.
    older = replica_client(server, ReplicaOf(OLDER_SEQ, OLDER_SEQ, 1_699_999_999.0), "PutObject")
    older.put_object(Bucket=versioned, Key="k", Body=b"older")
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"replicated bytes"
    versions = [v["VersionId"] for v in s3.list_object_versions(Bucket=versioned, Prefix="k")["Versions"]]
    assert versions == [SEQ, OLDER_SEQ]
    # The same version sent again (a retry) is the same version, not a new one.
    target.put_object(Bucket=versioned, Key="k", Body=b"replicated bytes")
    assert len(s3.list_object_versions(Bucket=versioned, Prefix="k")["Versions"]) == 2


def test_a_replica_delete_marker_and_multipart_replica(server, versioned, s3):
    s3.put_object(Bucket=versioned, Key="gone", Body=b"x")
    later = new_seq()  # the source deleted the key after this target's own write
    marker = ReplicaOf(later, later, 1_900_000_000.0)
    replica_client(server, marker, "DeleteObject").delete_object(Bucket=versioned, Key="gone")
    markers = s3.list_object_versions(Bucket=versioned, Prefix="gone")["DeleteMarkers"]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [(later, True)]
    # A multipart replica: the same parts give the same ETag, and the version keeps its id.
    upload_replica = ReplicaOf(SEQ, SEQ, 1_800_000_000.0)
    target = replica_client(server, upload_replica, "CreateMultipartUpload")
    upload = target.create_multipart_upload(Bucket=versioned, Key="mp")["UploadId"]
    parts = [b"a" * 5 * 1024 * 1024, b"tail"]
    etags = [target.upload_part(Bucket=versioned, Key="mp", UploadId=upload, PartNumber=i + 1, Body=p)["ETag"] for i, p in enumerate(parts)]
    done = target.complete_multipart_upload(
        Bucket=versioned, Key="mp", UploadId=upload, MultipartUpload={"Parts": [{"ETag": e, "PartNumber": i + 1} for i, e in enumerate(etags)]}
    )
    assert done["VersionId"] == SEQ
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    head = s3.head_object(Bucket=versioned, Key="mp")
    assert head["ETag"] == f'"{digest}-2"'
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-replication-status"] == "REPLICA"
    assert "x-hoard-replica-seq" not in head["ResponseMetadata"]["HTTPHeaders"]


def test_replica_writes_are_refused_where_they_do_not_belong(server, s3, bucket):
    replica = ReplicaOf(SEQ, SEQ, 1_700_000_000.0)
    # An unversioned bucket cannot keep a version's id.
    with pytest.raises(ClientError) as e:
        replica_client(server, replica, "PutObject").put_object(Bucket=bucket, Key="k", Body=b"x")
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # Headers that name no version.
    for bad in ({"x-hoard-replica-seq": "../../etc"}, {"x-hoard-replica-seq": SEQ, "x-hoard-replica-version-id": "other"},
                {**replica.headers(), "x-hoard-replica-last-modified": "yesterday"}):  # fmt: skip
        client = server.client()
        with_headers(client, "before-call.s3.PutObject", bad)
        with pytest.raises(ClientError) as e:
            client.put_object(Bucket=bucket, Key="bad", Body=b"x")
        assert e.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad")
    assert e.value.response["Error"]["Code"] == "404"


def test_only_an_identity_allowed_to_replicate_writes_replicas(server, s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    server.admin("user", "add", "writer-only")
    server.admin("policy", "attach", "writeonly", "--user", "writer-only")
    key = json.loads(server.admin("key", "create", "--user", "writer-only", "--json").stdout)
    writer = client(server, key["access_key"], key["secret_key"])
    writer.put_object(Bucket=bucket, Key="plain", Body=b"an ordinary write is fine")
    with_headers(writer, "before-call.s3.PutObject", ReplicaOf(SEQ, SEQ, 1_700_000_000.0).headers())
    with pytest.raises(ClientError) as e:
        writer.put_object(Bucket=bucket, Key="forged", Body=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="forged")
