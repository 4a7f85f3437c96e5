"""Object and bucket tagging, against a real server with boto3, the AWS CLI and raw requests:
the tagging operations and S3's rules, tags given with writes (PutObject, multipart, CopyObject's
directives, PostObject's form), x-amz-tagging-count, tags surviving restarts and index rebuilds,
and a tag change that races an overwrite."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from hoard.storage import record as record_file
from tests.conftest import HoardServer, aws_cli
from tests.wire import Reply, assert_missing, error_code, signed, status

INLINE_LIMIT = 128 * 1024
MiB = 1024 * 1024


def tagset(*pairs: tuple[str, str]) -> dict:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs]}


def tags_of(s3, bucket: str, key: str) -> list[tuple[str, str]]:
    return [(t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]]


def bucket_tags(s3, bucket: str) -> list[tuple[str, str]] | None:
    try:
        return [(t["Key"], t["Value"]) for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]]
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchTagSet"
        return None


def records_of(drives: list[Path], bucket: str, key: str) -> dict[str, list[record_file.StoredRecord]]:
    """The version record files of bucket/key on the drives, by file name (the version's data id)."""
    found: dict[str, list[record_file.StoredRecord]] = {}
    for drive in drives:
        for path in (drive / ".hoard" / "records").glob("*/*"):
            try:
                stored = record_file.decode(path.read_bytes())
            except (OSError, ValueError):
                continue  # removed or replaced while we looked
            if (stored.record.bucket, stored.record.key) == (bucket, key):
                found.setdefault(path.name, []).append(stored)
    return found


def shard_files(drives: list[Path]) -> set[str]:
    return {p.name for d in drives for p in (d / ".hoard" / "shards").glob("*/*")}


def raw(server: HoardServer, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Reply:
    r = requests.request(method, server.endpoint + target, data=body, headers=signed(server, method, target, body, headers), timeout=30)
    return Reply(r.status_code, r.headers, r.content)  # type: ignore[arg-type]  # case-insensitive


def md5_header(body: bytes) -> dict[str, str]:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


# -- PutObjectTagging / GetObjectTagging / DeleteObjectTagging --------------------------------------


def test_object_tagging_round_trip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    head = s3.head_object(Bucket=bucket, Key="k")
    assert "x-amz-tagging-count" not in head["ResponseMetadata"]["HTTPHeaders"]
    etag, modified = head["ETag"], head["LastModified"]

    answer = s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(("zeta", "last"), ("Alpha", ""), ("mid dle", "a+b=c.d_e:f/g@h")))
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "x-amz-version-id" not in answer["ResponseMetadata"]["HTTPHeaders"]
    # Sorted by key, whatever order they were given in.
    assert tags_of(s3, bucket, "k") == [("Alpha", ""), ("mid dle", "a+b=c.d_e:f/g@h"), ("zeta", "last")]
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == 3 and got["Body"].read() == b"data"
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "3"
    # A tag change is not a new object: same ETag, same Last-Modified.
    assert (head["ETag"], head["LastModified"]) == (etag, modified)

    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(("only", "one")))
    assert tags_of(s3, bucket, "k") == [("only", "one")]  # replaced, not merged

    answer = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k") == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")
    assert s3.delete_object_tagging(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204

    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(("a", "1")))
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})  # an empty set removes them all
    assert tags_of(s3, bucket, "k") == []


def test_unicode_and_limits(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    ten = [(f"k{i}", f"v{i}") for i in range(10)]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(*ten))
    assert tags_of(s3, bucket, "k") == sorted(ten)
    longest = [("ключ" + "k" * 124, "значение" + "v" * 248), ("日本", "")]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(*longest))
    assert tags_of(s3, bucket, "k") == sorted(longest)


INVALID_TAG_SETS = {
    "eleven": [(f"k{i}", "v") for i in range(11)],
    "key-129": [("k" * 129, "v")],
    "value-257": [("k", "v" * 257)],
    "duplicate": [("k", "1"), ("k", "2")],
    "bad-key-char": [("semi;colon", "v")],
    "bad-value-char": [("k", "comma,value")],
    "aws-prefix": [("aws:reserved", "v")],
}


@pytest.mark.parametrize("name", INVALID_TAG_SETS)
def test_invalid_object_tags_change_nothing(s3, bucket, name):
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(("before", "1")))
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(*INVALID_TAG_SETS[name]))
    assert (status(e), error_code(e)) == (400, "InvalidTag")
    assert tags_of(s3, bucket, "k") == [("before", "1")]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
        b"<Tagging><Tag><Key>a</Key><Value>b</Value></Tag></Tagging>",
        b"<Other><TagSet/></Other>",
        b'<!DOCTYPE x [<!ENTITY e "b">]><Tagging><TagSet><Tag><Key>a</Key><Value>&e;</Value></Tag></TagSet></Tagging>',
    ],
    ids=["not-xml", "no-value", "no-tagset", "wrong-root", "entity"],
)
def test_malformed_tagging_documents(server, s3, bucket, body):
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(("before", "1")))
    reply = raw(server, "PUT", f"/{bucket}/k?tagging", body, md5_header(body))
    assert (reply.status, reply.code) == (400, "MalformedXML")
    reply = raw(server, "PUT", f"/{bucket}?tagging", body, md5_header(body))
    assert (reply.status, reply.code) == (400, "MalformedXML")
    assert tags_of(s3, bucket, "k") == [("before", "1")]
    assert bucket_tags(s3, bucket) is None


def test_empty_key_is_invalid(server, s3, bucket):
    # boto3 refuses to send an empty key; S3 answers it InvalidTag.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    body = b"<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag></TagSet></Tagging>"
    for target in (f"/{bucket}/k?tagging", f"/{bucket}?tagging"):
        reply = raw(server, "PUT", target, body, md5_header(body))
        assert (reply.status, reply.code) == (400, "InvalidTag"), target
    assert tags_of(s3, bucket, "k") == []


def test_tag_documents_need_a_body_checksum(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    body = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"
    for target in (f"/{bucket}/k?tagging", f"/{bucket}?tagging"):
        reply = raw(server, "PUT", target, body)
        assert (reply.status, reply.code) == (400, "InvalidRequest"), target
        reply = raw(server, "PUT", target, body, {"Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()})
        assert (reply.status, reply.code) == (400, "BadDigest"), target
    assert tags_of(s3, bucket, "k") == []
    assert bucket_tags(s3, bucket) is None
    reply = raw(server, "PUT", f"/{bucket}/k?tagging", body, md5_header(body))
    assert reply.status == 200
    assert tags_of(s3, bucket, "k") == [("a", "b")]


def test_version_ids(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    answer = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId="null", Tagging=tagset(("a", "1")))
    assert answer["VersionId"] == "null"
    answer = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="null")
    assert (answer["VersionId"], answer["TagSet"]) == ("null", [{"Key": "a", "Value": "1"}])
    assert "VersionId" not in s3.get_object_tagging(Bucket=bucket, Key="k")
    for call, extra in (
        (s3.put_object_tagging, {"Tagging": tagset(("b", "2"))}),
        (s3.get_object_tagging, {}),
        (s3.delete_object_tagging, {}),
    ):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmjVBH40Nrjfkd", **extra)
        assert (status(e), error_code(e)) == (400, "InvalidArgument")
    assert tags_of(s3, bucket, "k") == [("a", "1")]
    answer = s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId="null")
    assert answer["VersionId"] == "null"
    assert tags_of(s3, bucket, "k") == []


def test_missing_object_or_bucket(s3, bucket):
    for call, extra in (
        (s3.put_object_tagging, {"Tagging": tagset(("a", "1"))}),
        (s3.get_object_tagging, {}),
        (s3.delete_object_tagging, {}),
    ):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="absent", **extra)
        assert (status(e), error_code(e)) == (404, "NoSuchKey")
        with pytest.raises(ClientError) as e:
            call(Bucket=f"absent-{uuid.uuid4().hex[:12]}", Key="k", **extra)
        assert (status(e), error_code(e)) == (404, "NoSuchBucket")
    assert_missing(s3, bucket, "absent")


def test_aws_cli(server, s3, bucket, aws_env, tmp_path):
    s3.put_object(Bucket=bucket, Key="cli", Body=b"x")

    def aws(*args: str) -> str:
        proc = subprocess.run(
            [*aws_cli(), "--endpoint-url", server.endpoint, "s3api", *args], env=aws_env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    aws("put-object-tagging", "--bucket", bucket, "--key", "cli", "--tagging", "TagSet=[{Key=team,Value=storage},{Key=env,Value=dev}]")
    got = json.loads(aws("get-object-tagging", "--bucket", bucket, "--key", "cli"))
    assert got["TagSet"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "storage"}]
    aws("put-bucket-tagging", "--bucket", bucket, "--tagging", "TagSet=[{Key=owner,Value=ops}]")
    assert json.loads(aws("get-bucket-tagging", "--bucket", bucket))["TagSet"] == [{"Key": "owner", "Value": "ops"}]
    aws("delete-object-tagging", "--bucket", bucket, "--key", "cli")
    assert json.loads(aws("get-object-tagging", "--bucket", bucket, "--key", "cli"))["TagSet"] == []


# -- a tag change keeps the bytes, and leaves no old record behind ---------------------------------


@pytest.mark.parametrize("size", [1000, INLINE_LIMIT, 3 * MiB + 5], ids=["inline", "at-inline-limit", "shards"])
def test_tag_change_keeps_bytes_and_drops_old_records(server, s3, bucket, size):
    body = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="obj", Body=body, Metadata={"m": "v"}, ContentType="text/x-test")
    drives = [server.data_dir]
    before = records_of(drives, bucket, "obj")
    assert len(before) == 1
    (old_stored,) = next(iter(before.values()))
    assert old_stored.record.inline == (size < INLINE_LIMIT)
    shards = shard_files(drives)

    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging=tagset(("t", "1")))
    after = records_of(drives, bucket, "obj")
    assert len(after) == 1 and set(after) != set(before)  # a new record under a new id; the old one is gone
    (new_stored,) = next(iter(after.values()))
    assert new_stored.record.tags == (("t", "1"),)
    assert new_stored.record.segments == old_stored.record.segments  # the same shard files, or none
    assert new_stored.inline == old_stored.inline
    # No shard file written, and the object's own kept (the shared server's reclaimer may remove
    # other tests' garbage meanwhile: only this object's files are compared).
    now = shard_files(drives)
    assert not now - shards
    own = {seg.blob for seg in old_stored.record.segments if seg.blob}
    assert own <= now and (own or size < INLINE_LIMIT)

    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body
    assert (got["Metadata"], got["ContentType"], got["TagCount"]) == ({"m": "v"}, "text/x-test", 1)
    assert s3.get_object(Bucket=bucket, Key="obj", Range="bytes=1-10")["Body"].read() == body[1:11]

    s3.delete_object_tagging(Bucket=bucket, Key="obj")
    assert len(records_of(drives, bucket, "obj")) == 1
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == body


# -- tags given with writes --------------------------------------------------------------------------


def test_put_object_with_tagging_header(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"A" * 100, Tagging="foo=bar&bar")
    assert tags_of(s3, bucket, "k") == [("bar", ""), ("foo", "bar")]
    s3.put_object(Bucket=bucket, Key="enc", Body=b"x", Tagging="key%20one=value+two&%C3%A9t%C3%A9=%40home")
    assert tags_of(s3, bucket, "enc") == [("key one", "value two"), ("été", "@home")]
    # An overwrite without the header has no tags: tags belong to the version.
    s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    assert tags_of(s3, bucket, "k") == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")


@pytest.mark.parametrize(
    "header,code",
    [
        ("a=1&a=2", "InvalidArgument"),
        ("a=%FF", "InvalidArgument"),
        ("a=b%21", "InvalidTag"),
        ("=v", "InvalidTag"),
        ("&".join(f"k{i}=v" for i in range(11)), "InvalidTag"),
        ("k=" + "v" * 257, "InvalidTag"),
    ],
    ids=["duplicate", "not-utf8", "bad-char", "empty-key", "eleven", "long-value"],
)
def test_bad_tagging_header_writes_nothing(s3, bucket, header, code):
    s3.put_object(Bucket=bucket, Key="old", Body=b"old")
    for call, key in ((s3.put_object, "new"), (s3.put_object, "old"), (s3.create_multipart_upload, "mp")):
        kwargs = {"Body": b"new"} if call == s3.put_object else {}
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key=key, Tagging=header, **kwargs)
        assert (status(e), error_code(e)) == (400, code)
    assert_missing(s3, bucket, "new")
    assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == b"old"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "old"}, TaggingDirective="REPLACE", Tagging="ok=1")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "old"}, TaggingDirective="REPLACE", Tagging=header)
    assert (status(e), error_code(e)) == (400, code)
    assert tags_of(s3, bucket, "copy") == [("ok", "1")]


def test_multipart_upload_tags(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="Hello=World&foo=bar")
    parts = []
    for n, body in enumerate((b"a" * (5 * MiB), b"tail"), start=1):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n, Body=body)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    # Tags come into being with the object, not before.
    assert_missing(s3, bucket, "mp")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    assert tags_of(s3, bucket, "mp") == [("Hello", "World"), ("foo", "bar")]
    assert s3.head_object(Bucket=bucket, Key="mp")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    s3.put_object_tagging(Bucket=bucket, Key="mp", Tagging=tagset(("x", "y")))
    assert tags_of(s3, bucket, "mp") == [("x", "y")]
    got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert got["Body"].read() == b"tail" and got["PartsCount"] == 2
    # Without the header, an upload's object has none.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="plain")
    etag = s3.upload_part(Bucket=bucket, Key="plain", UploadId=upload["UploadId"], PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="plain", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert tags_of(s3, bucket, "plain") == []


def test_copy_object_tagging_directives(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source bytes", Tagging="a=1&b=2")
    src = {"Bucket": bucket, "Key": "src"}

    s3.copy_object(Bucket=bucket, Key="default", CopySource=src)
    assert tags_of(s3, bucket, "default") == [("a", "1"), ("b", "2")]
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=src, TaggingDirective="COPY", Tagging="ignored=1")
    assert tags_of(s3, bucket, "copy") == [("a", "1"), ("b", "2")]
    s3.copy_object(Bucket=bucket, Key="replace", CopySource=src, TaggingDirective="REPLACE", Tagging="c=3")
    assert tags_of(s3, bucket, "replace") == [("c", "3")]
    s3.copy_object(Bucket=bucket, Key="cleared", CopySource=src, TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "cleared") == []
    # The metadata directive does not touch the tags, nor the tagging directive the metadata.
    s3.copy_object(Bucket=bucket, Key="meta", CopySource=src, MetadataDirective="REPLACE", Metadata={"m": "1"})
    assert tags_of(s3, bucket, "meta") == [("a", "1"), ("b", "2")]
    for key in ("default", "copy", "replace", "cleared", "meta"):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"source bytes"

    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=src, TaggingDirective="MERGE")
    assert (status(e), error_code(e)) == (400, "InvalidArgument")
    assert_missing(s3, bucket, "bad")

    # Replacing the tags is a change: an object may be copied onto itself to do it.
    s3.copy_object(Bucket=bucket, Key="src", CopySource=src, TaggingDirective="REPLACE", Tagging="self=1")
    assert tags_of(s3, bucket, "src") == [("self", "1")]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=src)
    assert (status(e), error_code(e)) == (400, "InvalidRequest")
    # A large (not inline) source too.
    big = os.urandom(INLINE_LIMIT + 10)
    s3.put_object(Bucket=bucket, Key="big", Body=big, Tagging="size=big")
    s3.copy_object(Bucket=bucket, Key="big-copy", CopySource={"Bucket": bucket, "Key": "big"})
    assert tags_of(s3, bucket, "big-copy") == [("size", "big")]
    assert s3.get_object(Bucket=bucket, Key="big-copy")["Body"].read() == big


@pytest.fixture
def v4(server):
    return server.client(signature_version="s3v4")


def _post(url: str, fields: dict[str, str], content: bytes = b"bar") -> Reply:
    r = requests.post(url, data=fields, files={"file": ("foo.txt", content)}, allow_redirects=False, timeout=60)
    return Reply(r.status_code, r.headers, r.content)  # type: ignore[arg-type]  # case-insensitive


TWO_TAGS_XML = "<Tagging><TagSet><Tag><Key>0</Key><Value>0</Value></Tag><Tag><Key>1</Key><Value>1</Value></Tag></TagSet></Tagging>"


def test_post_object_tagging_field(v4, s3, bucket):
    post = v4.generate_presigned_post(bucket, "posted", Fields={"tagging": TWO_TAGS_XML}, Conditions=[{"tagging": TWO_TAGS_XML}])
    reply = _post(post["url"], post["fields"])
    assert reply.status == 204, reply.body
    assert s3.get_object(Bucket=bucket, Key="posted")["Body"].read() == b"bar"
    assert tags_of(s3, bucket, "posted") == [("0", "0"), ("1", "1")]
    # As ceph/s3-tests sends it: a starts-with condition on $tagging.
    post = v4.generate_presigned_post(bucket, "posted2", Fields={"tagging": TWO_TAGS_XML}, Conditions=[["starts-with", "$tagging", ""]])
    assert _post(post["url"], post["fields"], b"x" * (INLINE_LIMIT + 1)).status == 204
    assert tags_of(s3, bucket, "posted2") == [("0", "0"), ("1", "1")]


@pytest.mark.parametrize(
    "tagging,code",
    [
        ("k=v", "MalformedXML"),
        ("<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>", "MalformedXML"),
        ("<Tagging><TagSet><Tag><Key>k!</Key><Value>v</Value></Tag></TagSet></Tagging>", "InvalidTag"),
    ],
    ids=["query-string", "no-value", "bad-char"],
)
def test_post_object_bad_tagging_field_stores_nothing(v4, s3, bucket, tagging, code):
    post = v4.generate_presigned_post(bucket, "posted", Fields={"tagging": tagging}, Conditions=[{"tagging": tagging}])
    reply = _post(post["url"], post["fields"])
    assert (reply.status, reply.code) == (400, code)
    assert_missing(s3, bucket, "posted")


# -- bucket tagging ---------------------------------------------------------------------------------


def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert (status(e), error_code(e)) == (404, "NoSuchTagSet")
    answer = s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(("Hello", "World"), ("cost-center", "42")))
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert bucket_tags(s3, bucket) == [("Hello", "World"), ("cost-center", "42")]
    fifty = [(f"key{i:02}", f"value {i}") for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(*fifty))
    assert bucket_tags(s3, bucket) == fifty
    # Bucket tags are not object tags.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert tags_of(s3, bucket, "k") == []

    for bad in ([*fifty, ("one-more", "")], [("k", "1"), ("k", "2")], [("aws:x", "1")], [("k" * 129, "")], [("k", "a|b")]):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(*bad))
        assert (status(e), error_code(e)) == (400, "InvalidTag")
    assert bucket_tags(s3, bucket) == fifty

    answer = s3.delete_bucket_tagging(Bucket=bucket)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert bucket_tags(s3, bucket) is None
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(("a", "1")))
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})  # an empty set leaves none
    assert bucket_tags(s3, bucket) is None


def test_bucket_tagging_of_missing_bucket(s3):
    name = f"absent-{uuid.uuid4().hex[:12]}"
    for call, extra in (
        (s3.put_bucket_tagging, {"Tagging": tagset(("a", "1"))}),
        (s3.get_bucket_tagging, {}),
        (s3.delete_bucket_tagging, {}),
    ):
        with pytest.raises(ClientError) as e:
            call(Bucket=name, **extra)
        assert (status(e), error_code(e)) == (404, "NoSuchBucket")


def test_bucket_tags_go_with_the_bucket(s3):
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging=tagset(("a", "1")))
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert bucket_tags(s3, name) is None
    finally:
        s3.delete_bucket(Bucket=name)


# -- a tag change racing an overwrite ----------------------------------------------------------------


@pytest.mark.parametrize("size", [100, INLINE_LIMIT + 100], ids=["inline", "shards"])
def test_tag_change_racing_overwrites(server, s3, bucket, size):
    """Either order is fine, or the tag change answers 409; never the new bytes with tags that a
    409 refused, never old bytes after an acknowledged overwrite, never a record left behind."""
    outcomes: dict[str, int] = {}
    for round_ in range(12):
        old, new = os.urandom(size), os.urandom(size)
        s3.put_object(Bucket=bucket, Key="race", Body=old)
        results = _race(s3, bucket, tagset(("round", str(round_))), new)
        assert results["tag"] in (200, (409, "ConditionalRequestConflict")), results
        got = s3.get_object(Bucket=bucket, Key="race")
        assert got["Body"].read() == new and got["ETag"] == results["put"]
        now = tags_of(s3, bucket, "race")
        if results["tag"] == 200:
            assert now in ([], [("round", str(round_))])  # the tag change came before the overwrite, or after it
            outcomes["tagged after" if now else "tagged before"] = outcomes.get("tagged after" if now else "tagged before", 0) + 1
        else:
            assert now == []
            outcomes["409"] = outcomes.get("409", 0) + 1
        assert len(records_of([server.data_dir], bucket, "race")) == 1
    print("race outcomes:", outcomes)


def _race(s3, bucket: str, tagging: dict, new: bytes) -> dict[str, object]:
    """A tag change of "race" and an overwrite of it, sent at the same instant."""
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def tag() -> None:
        start.wait()
        try:
            s3.put_object_tagging(Bucket=bucket, Key="race", Tagging=tagging)
            results["tag"] = 200
        except ClientError as e:
            results["tag"] = (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])

    def overwrite() -> None:
        start.wait()
        results["put"] = s3.put_object(Bucket=bucket, Key="race", Body=new)["ETag"]

    threads = [threading.Thread(target=tag), threading.Thread(target=overwrite)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# -- restarts and index rebuilds ---------------------------------------------------------------------


def test_tags_survive_restart_and_index_rebuild(tmp_path):
    drives = [tmp_path / f"disk{i}" for i in range(4)]  # an erasure set: 2 data + 2 parity
    srv = HoardServer(tmp_path / "logs", drives=drives).start()
    try:
        c = srv.client()
        c.create_bucket(Bucket="tagged")
        c.create_bucket(Bucket="untagged")
        c.put_bucket_tagging(Bucket="tagged", Tagging=tagset(("team", "storage"), ("env", "test")))
        bodies = {"small": os.urandom(1000), "large": os.urandom(INLINE_LIMIT * 3), "plain": b"no tags"}
        c.put_object(Bucket="tagged", Key="small", Body=bodies["small"], Tagging="a=1")
        c.put_object(Bucket="tagged", Key="large", Body=bodies["large"])
        c.put_object_tagging(Bucket="tagged", Key="large", Tagging=tagset(("b", "2"), ("c", "")))
        c.put_object(Bucket="tagged", Key="plain", Body=bodies["plain"])
        upload = c.create_multipart_upload(Bucket="tagged", Key="multi", Tagging="m=1")
        part = os.urandom(5 * MiB)
        etags = [c.upload_part(Bucket="tagged", Key="multi", UploadId=upload["UploadId"], PartNumber=n, Body=part)["ETag"] for n in (1, 2)]
        c.complete_multipart_upload(
            Bucket="tagged",
            Key="multi",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]},
        )
        bodies["multi"] = part + part
        # One whose tags were removed: it must not come back tagged.
        c.put_object(Bucket="tagged", Key="untagged-later", Body=b"x", Tagging="gone=1")
        c.delete_object_tagging(Bucket="tagged", Key="untagged-later")
        bodies["untagged-later"] = b"x"
        expected = {"small": [("a", "1")], "large": [("b", "2"), ("c", "")], "plain": [], "multi": [("m", "1")], "untagged-later": []}

        def check(server: HoardServer) -> None:
            cl = server.client()
            assert bucket_tags(cl, "tagged") == [("env", "test"), ("team", "storage")]
            assert bucket_tags(cl, "untagged") is None
            for key, want in expected.items():
                assert tags_of(cl, "tagged", key) == want, key
                got = cl.get_object(Bucket="tagged", Key=key)
                assert got.get("TagCount", 0) == len(want), key
                assert got["Body"].read() == bodies[key], key

        check(srv)
        srv.stop()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        check(srv)

        out = srv.admin("rebuild-index").stdout
        assert "5 objects" in out, out
        check(srv)

        srv.stop()
        for path in drives[0].glob(".hoard/meta.db*"):
            path.unlink()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        check(srv)
        # And the tags still change after a rebuild.
        c = srv.client()
        c.put_object_tagging(Bucket="tagged", Key="small", Tagging=tagset(("after", "rebuild")))
        assert tags_of(c, "tagged", "small") == [("after", "rebuild")]
        assert c.get_object(Bucket="tagged", Key="small")["Body"].read() == bodies["small"]
        assert len(records_of(drives, "tagged", "small")) == 1
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def test_a_record_left_by_a_crash_after_a_tag_change_is_not_taken_for_current(tmp_path):
    """A tag change writes new records and then removes the old ones; a crash between the two
    leaves both, with the same last_modified. An index rebuilt from the drives must take the
    new one (the change was acknowledged), never bring the old tags back."""
    srv = HoardServer(tmp_path / "data").start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="crashed")
        s3.put_object(Bucket="crashed", Key="k", Body=b"bytes", Tagging="v=old")
        drives = [tmp_path / "data"]
        (old_id, old_copies), = records_of(drives, "crashed", "k").items()
        old_path = next((tmp_path / "data" / ".hoard" / "records").glob(f"*/{old_id}"))
        old_bytes = old_path.read_bytes()
        s3.put_object_tagging(Bucket="crashed", Key="k", Tagging={"TagSet": [{"Key": "v", "Value": "new"}]})
        assert not old_path.exists()
        old_path.write_bytes(old_bytes)  # as if the crash came before its removal
        srv.stop()
        for index in (tmp_path / "data" / ".hoard").glob("meta.db*"):
            index.unlink()
        srv.start()
        assert s3.get_object_tagging(Bucket="crashed", Key="k")["TagSet"] == [{"Key": "v", "Value": "new"}]
        assert s3.get_object(Bucket="crashed", Key="k")["Body"].read() == b"bytes"
    finally:
        srv.stop()
