"""Bucket versioning against a real server, with boto3, the AWS CLI and raw requests: the three
states (never configured, Enabled, Suspended) and the null version; a version for every write and
``versionId`` on every operation that takes one; delete markers; ListObjectVersions (order,
prefix, delimiter, markers, pages, IsLatest) up to 1,000 versions of one key; old versions keeping
their bytes and deleted ones giving them back; restoring a file overwritten and deleted by mistake;
bad input; and every version surviving a restart and an index rebuilt from the drives."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from botocore.exceptions import ClientError

from hoard.storage import record as record_file
from tests.conftest import HoardServer, aws_cli, wait_for
from tests.wire import Reply, error_code, signed, status

INLINE_LIMIT = 128 * 1024
MiB = 1024 * 1024


# -- helpers ------------------------------------------------------------------------------------


def raw(server: HoardServer, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Reply:
    r = requests.request(method, server.endpoint + target, data=body, headers=signed(server, method, target, body, headers), timeout=60)
    return Reply(r.status_code, r.headers, r.content)  # type: ignore[arg-type]  # case-insensitive


def enable(s3, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def suspend(s3, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def headers_of(answer: dict) -> dict[str, str]:
    return answer["ResponseMetadata"]["HTTPHeaders"]


def error_headers(e: pytest.ExceptionInfo) -> dict[str, str]:
    return e.value.response["ResponseMetadata"]["HTTPHeaders"]


def body_of(s3, bucket: str, key: str, version: str | None = None) -> bytes:
    args = {"VersionId": version} if version is not None else {}
    return s3.get_object(Bucket=bucket, Key=key, **args)["Body"].read()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass(frozen=True)
class Entry:
    """One ``Version`` or ``DeleteMarker`` of a ListVersionsResult, in document order."""

    key: str
    version_id: str
    is_latest: bool
    marker: bool
    etag: str = ""
    size: int = 0
    last_modified: str = ""


@dataclass
class VersionPage:
    entries: list[Entry] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    fields: dict[str, str] = field(default_factory=dict)  # the result's other top-level elements

    @property
    def ids(self) -> list[str]:
        return [e.version_id for e in self.entries]


def list_versions(server: HoardServer, bucket: str, **params: str | int) -> VersionPage:
    """ListObjectVersions over the wire, its entries in the order S3 sent them (boto3 splits
    versions and delete markers into two lists, losing the order between them)."""
    names = {"key_marker": "key-marker", "version_id_marker": "version-id-marker", "max_keys": "max-keys"}
    query = "".join(f"&{names.get(k, k)}={quote(str(v), safe='')}" for k, v in sorted(params.items()))
    reply = raw(server, "GET", f"/{bucket}?versions{query}")
    assert reply.status == 200, reply.body
    root = ET.fromstring(reply.body)
    assert _local(root.tag) == "ListVersionsResult"
    page = VersionPage()
    for child in root:
        name = _local(child.tag)
        values = {_local(c.tag): (c.text or "") for c in child}
        if name in ("Version", "DeleteMarker"):
            page.entries.append(
                Entry(
                    key=values["Key"],
                    version_id=values["VersionId"],
                    is_latest=values["IsLatest"] == "true",
                    marker=name == "DeleteMarker",
                    etag=values.get("ETag", ""),
                    size=int(values.get("Size", 0)),
                    last_modified=values["LastModified"],
                )
            )
        elif name == "CommonPrefixes":
            page.prefixes.append(values["Prefix"])
        elif name == "IsTruncated":
            page.truncated = child.text == "true"
        else:
            page.fields[name] = child.text or ""
    return page


def all_pages(server: HoardServer, bucket: str, max_keys: int = 1000, **params: str) -> list[VersionPage]:
    """Every page of a listing, each next one asked for as S3 says: NextKeyMarker and, when there
    is one, NextVersionIdMarker."""
    pages = [list_versions(server, bucket, max_keys=max_keys, **params)]
    while pages[-1].truncated:
        last = pages[-1]
        assert last.entries or last.prefixes, "a truncated page must hold something"
        nxt = {"key_marker": last.fields["NextKeyMarker"]}
        if "NextVersionIdMarker" in last.fields:
            nxt["version_id_marker"] = last.fields["NextVersionIdMarker"]
        pages.append(list_versions(server, bucket, max_keys=max_keys, **params, **nxt))
        assert len(pages) < 10_000
    return pages


def history(server: HoardServer, bucket: str, **params: str) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is a delete marker) of every version, in S3's order."""
    return [(e.key, e.version_id, e.is_latest, e.marker) for p in all_pages(server, bucket, **params) for e in p.entries]


def empty_bucket(s3, name: str) -> None:
    """Remove every version and delete marker, then the bucket."""
    doomed = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        doomed += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    for i in range(0, len(doomed), 1000):
        s3.delete_objects(Bucket=name, Delete={"Objects": doomed[i : i + 1000], "Quiet": True})
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def vbucket(s3) -> str:
    """A new bucket, emptied of every version (not only the current ones) afterwards."""
    name = f"ver-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    try:
        empty_bucket(s3, name)
    except ClientError:
        pass


def write_versions(s3, bucket: str, key: str, bodies: list[bytes]) -> list[str]:
    """PUT each body in turn; the version ids the answers named."""
    ids = []
    for body in bodies:
        answer = s3.put_object(Bucket=bucket, Key=key, Body=body)
        ids.append(answer["VersionId"])
    return ids


# -- PutBucketVersioning / GetBucketVersioning: the three states ------------------------------------


def test_versioning_states_round_trip(server, s3, vbucket):
    # Never configured: an empty document, no Status.
    reply = raw(server, "GET", f"/{vbucket}?versioning")
    assert reply.status == 200
    root = ET.fromstring(reply.body)
    assert _local(root.tag) == "VersioningConfiguration" and list(root) == []
    assert "Status" not in s3.get_bucket_versioning(Bucket=vbucket)

    for state in ("Enabled", "Suspended", "Enabled", "Enabled", "Suspended", "Suspended"):
        answer = s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": state})
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        got = s3.get_bucket_versioning(Bucket=vbucket)
        assert got["Status"] == state
        assert "MFADelete" not in got

    # The state is the bucket's own: a new bucket next to it is still unversioned.
    other = f"ver-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=other)
    try:
        assert "Status" not in s3.get_bucket_versioning(Bucket=other)
    finally:
        s3.delete_bucket(Bucket=other)

    with pytest.raises(ClientError) as e:
        s3.get_bucket_versioning(Bucket=other)
    assert (status(e), error_code(e)) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=other, VersioningConfiguration={"Status": "Enabled"})
    assert (status(e), error_code(e)) == (404, "NoSuchBucket")


def test_unversioned_bucket_keeps_one_null_version_per_key(s3, vbucket):
    first = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")
    assert "VersionId" not in first and "x-amz-version-id" not in headers_of(first)
    s3.put_object(Bucket=vbucket, Key="k", Body=b"two")
    got = s3.get_object(Bucket=vbucket, Key="k")
    assert got["Body"].read() == b"two" and "VersionId" not in got
    listed = s3.list_object_versions(Bucket=vbucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [("k", "null", True)]
    assert "DeleteMarkers" not in listed
    # The null version by name.
    assert body_of(s3, vbucket, "k", "null") == b"two"
    assert s3.head_object(Bucket=vbucket, Key="k", VersionId="null")["VersionId"] == "null"

    # A delete removes it for good: no delete marker.
    answer = s3.delete_object(Bucket=vbucket, Key="k")
    assert "DeleteMarker" not in answer and "VersionId" not in answer
    listed = s3.list_object_versions(Bucket=vbucket)
    assert "Versions" not in listed and "DeleteMarkers" not in listed


def test_suspended_without_ever_being_enabled(server, s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"one")
    suspend(s3, vbucket)
    assert s3.get_bucket_versioning(Bucket=vbucket)["Status"] == "Suspended"
    s3.put_object(Bucket=vbucket, Key="k", Body=b"two")
    assert history(server, vbucket) == [("k", "null", True, False)]
    assert body_of(s3, vbucket, "k") == b"two"
    # Suspended is a versioning state: a delete leaves a null delete marker, not nothing.
    answer = s3.delete_object(Bucket=vbucket, Key="k")
    assert answer["DeleteMarker"] is True and answer["VersionId"] == "null"
    assert history(server, vbucket) == [("k", "null", True, True)]


def test_object_written_before_enabling_keeps_the_null_version(server, s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="old", Body=b"before versioning")
    enable(s3, vbucket)
    # Nothing changes for it until it is written again.
    got = s3.get_object(Bucket=vbucket, Key="old")
    assert got["Body"].read() == b"before versioning"
    assert history(server, vbucket) == [("old", "null", True, False)]

    new = s3.put_object(Bucket=vbucket, Key="old", Body=b"after")["VersionId"]
    assert new and new != "null"
    assert history(server, vbucket) == [("old", new, True, False), ("old", "null", False, False)]
    assert body_of(s3, vbucket, "old") == b"after"
    got = s3.get_object(Bucket=vbucket, Key="old", VersionId="null")
    assert got["Body"].read() == b"before versioning" and got["VersionId"] == "null"
    assert s3.head_object(Bucket=vbucket, Key="old", VersionId="null")["ContentLength"] == len(b"before versioning")

    # Deleting the null version by id leaves the newer one alone.
    answer = s3.delete_object(Bucket=vbucket, Key="old", VersionId="null")
    assert answer["VersionId"] == "null" and not answer.get("DeleteMarker", False)
    assert history(server, vbucket) == [("old", new, True, False)]
    assert body_of(s3, vbucket, "old") == b"after"


def test_suspended_writes_replace_only_the_null_version(server, s3, vbucket):
    enable(s3, vbucket)
    a, b = write_versions(s3, vbucket, "k", [b"a", b"b"])
    suspend(s3, vbucket)

    answer = s3.put_object(Bucket=vbucket, Key="k", Body=b"s1")
    assert answer.get("VersionId", "null") == "null"
    assert history(server, vbucket) == [("k", "null", True, False), ("k", b, False, False), ("k", a, False, False)]
    assert body_of(s3, vbucket, "k") == b"s1"

    # A second write while suspended replaces the null version; the versions with ids stay.
    s3.put_object(Bucket=vbucket, Key="k", Body=b"s2")
    assert history(server, vbucket) == [("k", "null", True, False), ("k", b, False, False), ("k", a, False, False)]
    assert body_of(s3, vbucket, "k") == b"s2"
    assert body_of(s3, vbucket, "k", "null") == b"s2"
    assert body_of(s3, vbucket, "k", a) == b"a" and body_of(s3, vbucket, "k", b) == b"b"

    # A delete while suspended: a delete marker whose id is null, in place of the null version.
    answer = s3.delete_object(Bucket=vbucket, Key="k")
    assert answer["DeleteMarker"] is True and answer["VersionId"] == "null"
    assert history(server, vbucket) == [("k", "null", True, True), ("k", b, False, False), ("k", a, False, False)]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k")
    assert (status(e), error_code(e)) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:  # the null version is now a marker
        s3.get_object(Bucket=vbucket, Key="k", VersionId="null")
    assert (status(e), error_code(e)) == (405, "MethodNotAllowed")

    # Writing again replaces that null marker with a null version.
    s3.put_object(Bucket=vbucket, Key="k", Body=b"s3")
    assert history(server, vbucket) == [("k", "null", True, False), ("k", b, False, False), ("k", a, False, False)]

    # Enabled again: new versions get ids, the null version stays among them.
    enable(s3, vbucket)
    c = s3.put_object(Bucket=vbucket, Key="k", Body=b"c")["VersionId"]
    assert c not in ("null", a, b)
    assert history(server, vbucket) == [("k", c, True, False), ("k", "null", False, False), ("k", b, False, False), ("k", a, False, False)]
    assert body_of(s3, vbucket, "k", "null") == b"s3"

    # Suspended once more: the next write replaces the null version in the middle of the history
    # and becomes the latest.
    suspend(s3, vbucket)
    s3.put_object(Bucket=vbucket, Key="k", Body=b"s4")
    assert history(server, vbucket) == [("k", "null", True, False), ("k", c, False, False), ("k", b, False, False), ("k", a, False, False)]
    assert body_of(s3, vbucket, "k") == b"s4"

    # A key first written while suspended has a null version too.
    s3.put_object(Bucket=vbucket, Key="new", Body=b"n")
    assert ("new", "null", True, False) in history(server, vbucket)


# -- a version for every write; versionId on reads, deletes, copies, ACLs and tags ----------------


def test_every_write_makes_a_version_with_a_unique_time_ordered_id(server, s3, vbucket):
    enable(s3, vbucket)
    s3.put_object(Bucket=vbucket, Key="src", Body=b"copied bytes")
    put = s3.put_object(Bucket=vbucket, Key="k", Body=b"put")
    v_put = put["VersionId"]
    assert headers_of(put)["x-amz-version-id"] == v_put

    copy = s3.copy_object(Bucket=vbucket, Key="k", CopySource={"Bucket": vbucket, "Key": "src"})
    v_copy = copy["VersionId"]
    assert headers_of(copy)["x-amz-version-id"] == v_copy
    assert copy["CopySourceVersionId"] == s3.head_object(Bucket=vbucket, Key="src")["VersionId"]

    upload = s3.create_multipart_upload(Bucket=vbucket, Key="k")
    part = s3.upload_part(Bucket=vbucket, Key="k", UploadId=upload["UploadId"], PartNumber=1, Body=b"multipart")
    done = s3.complete_multipart_upload(
        Bucket=vbucket, Key="k", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    )
    v_multi = done["VersionId"]
    assert headers_of(done)["x-amz-version-id"] == v_multi

    v_again = s3.put_object(Bucket=vbucket, Key="k", Body=b"put again")["VersionId"]

    written = [v_put, v_copy, v_multi, v_again]
    assert len(set(written)) == 4 and "null" not in written
    # Time-ordered: each id sorts after the ids written before it, and the listing is newest first.
    assert sorted(written) == written
    assert [e[1] for e in history(server, vbucket, prefix="k")] == written[::-1]

    # GET and HEAD name the version they answer with, latest or named.
    got = s3.get_object(Bucket=vbucket, Key="k")
    assert got["VersionId"] == v_again and headers_of(got)["x-amz-version-id"] == v_again
    assert s3.head_object(Bucket=vbucket, Key="k")["VersionId"] == v_again
    expected = {v_put: b"put", v_copy: b"copied bytes", v_multi: b"multipart", v_again: b"put again"}
    for version, body in expected.items():
        got = s3.get_object(Bucket=vbucket, Key="k", VersionId=version)
        assert got["Body"].read() == body and got["VersionId"] == version
        head = s3.head_object(Bucket=vbucket, Key="k", VersionId=version)
        assert head["VersionId"] == version and head["ContentLength"] == len(body)
        assert head["ETag"] == got["ETag"]
    attributes = s3.get_object_attributes(Bucket=vbucket, Key="k", VersionId=v_put, ObjectAttributes=["ETag", "ObjectSize"])
    assert attributes["VersionId"] == v_put and attributes["ObjectSize"] == len(b"put")
    # A range of an old version.
    got = s3.get_object(Bucket=vbucket, Key="k", VersionId=v_put, Range="bytes=1-2")
    assert got["Body"].read() == b"ut" and got["VersionId"] == v_put


def test_a_retried_multipart_complete_names_the_version_it_made(server, s3, vbucket):
    """A complete sent again after it succeeded (its answer lost) is answered the same: the
    version id included, and no second version made."""
    enable(s3, vbucket)
    upload = s3.create_multipart_upload(Bucket=vbucket, Key="mp")
    etag = s3.upload_part(Bucket=vbucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"part")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    first = s3.complete_multipart_upload(Bucket=vbucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload=parts)
    again = s3.complete_multipart_upload(Bucket=vbucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload=parts)
    assert again["ETag"] == first["ETag"]
    assert history(server, vbucket) == [("mp", first["VersionId"], True, False)]
    assert again.get("VersionId") == first["VersionId"]


def test_browser_upload_makes_a_version_too(server, s3, vbucket):
    """PostObject (an HTML form's upload) is a write like any other: a new version with its own id."""
    enable(s3, vbucket)
    v1 = s3.put_object(Bucket=vbucket, Key="form", Body=b"put")["VersionId"]
    uploader = server.client(signature_version="s3v4")
    posted = []
    for content in (b"posted once", b"posted twice"):
        post = uploader.generate_presigned_post(vbucket, "form")
        r = requests.post(post["url"], data=post["fields"], files={"file": ("f.txt", content)}, allow_redirects=False, timeout=60)
        assert r.status_code == 204, r.content
        posted.append(r.headers.get("x-amz-version-id"))
    listed = history(server, vbucket)
    assert [v for _, v, _, _ in listed][2:] == [v1], listed  # v1 kept, the oldest of three
    assert len(listed) == 3 and "null" not in [v for _, v, _, _ in listed], listed
    assert posted == [v for _, v, _, _ in listed][:2][::-1]
    assert body_of(s3, vbucket, "form") == b"posted twice"
    assert body_of(s3, vbucket, "form", posted[0]) == b"posted once"


def test_copy_object_from_a_named_version(s3, vbucket):
    enable(s3, vbucket)
    v1, v2 = write_versions(s3, vbucket, "src", [b"first", b"second"])
    copy = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1})
    assert copy["CopySourceVersionId"] == v1
    assert body_of(s3, vbucket, "dst") == b"first"
    assert s3.get_object(Bucket=vbucket, Key="dst")["VersionId"] == copy["VersionId"]
    # The source's own versions are untouched.
    assert body_of(s3, vbucket, "src") == b"second"
    assert body_of(s3, vbucket, "src", v1) == b"first"

    # A named version into another, unversioned bucket: null there.
    other = f"ver-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=other)
    try:
        copy = s3.copy_object(Bucket=other, Key="x", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v2})
        assert copy["CopySourceVersionId"] == v2 and "VersionId" not in copy
        assert body_of(s3, other, "x") == b"second"
    finally:
        s3.delete_object(Bucket=other, Key="x")
        s3.delete_bucket(Bucket=other)

    # UploadPartCopy takes a named version as well.
    upload = s3.create_multipart_upload(Bucket=vbucket, Key="parts")
    part = s3.upload_part_copy(
        Bucket=vbucket,
        Key="parts",
        UploadId=upload["UploadId"],
        PartNumber=1,
        CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1},
    )
    assert part["CopySourceVersionId"] == v1
    s3.complete_multipart_upload(
        Bucket=vbucket,
        Key="parts",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert body_of(s3, vbucket, "parts") == b"first"

    # A version that is gone, a latest version that is a delete marker, a delete marker by id.
    s3.delete_object(Bucket=vbucket, Key="src", VersionId=v1)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=vbucket, Key="dst2", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1})
    assert (status(e), error_code(e)) == (404, "NoSuchVersion")
    marker = s3.delete_object(Bucket=vbucket, Key="src")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=vbucket, Key="dst2", CopySource={"Bucket": vbucket, "Key": "src"})
    assert (status(e), error_code(e)) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=vbucket, Key="dst2", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": marker})
    assert (status(e), error_code(e)) == (400, "InvalidRequest")
    # The older version still copies from under the marker.
    s3.copy_object(Bucket=vbucket, Key="dst2", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v2})
    assert body_of(s3, vbucket, "dst2") == b"second"


def test_tags_of_one_version_do_not_touch_another(server, s3, vbucket):
    enable(s3, vbucket)
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one", Tagging="gen=1")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two", Tagging="gen=2")["VersionId"]
    before = history(server, vbucket)
    etag1 = s3.head_object(Bucket=vbucket, Key="k", VersionId=v1)["ETag"]

    def tags(version: str | None = None) -> list[tuple[str, str]]:
        args = {"VersionId": version} if version else {}
        answer = s3.get_object_tagging(Bucket=vbucket, Key="k", **args)
        if version:
            assert answer["VersionId"] == version
        return [(t["Key"], t["Value"]) for t in answer["TagSet"]]

    assert tags(v1) == [("gen", "1")] and tags(v2) == [("gen", "2")] and tags() == [("gen", "2")]
    assert s3.get_object_tagging(Bucket=vbucket, Key="k")["VersionId"] == v2

    answer = s3.put_object_tagging(Bucket=vbucket, Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
    assert answer["VersionId"] == v1
    assert tags(v1) == [("old", "yes")]
    assert tags(v2) == [("gen", "2")] and tags() == [("gen", "2")]

    # Without a version id, the latest version's tags.
    s3.put_object_tagging(Bucket=vbucket, Key="k", Tagging={"TagSet": [{"Key": "latest", "Value": "1"}]})
    assert tags(v2) == [("latest", "1")] and tags(v1) == [("old", "yes")]

    answer = s3.delete_object_tagging(Bucket=vbucket, Key="k", VersionId=v2)
    assert answer["VersionId"] == v2
    assert tags(v2) == [] and tags(v1) == [("old", "yes")]
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)["TagCount"] == 1
    assert "TagCount" not in s3.get_object(Bucket=vbucket, Key="k", VersionId=v2)

    # A tag change is no new version: same ids, same latest, same ETag and bytes.
    assert history(server, vbucket) == before
    assert s3.head_object(Bucket=vbucket, Key="k", VersionId=v1)["ETag"] == etag1
    assert body_of(s3, vbucket, "k", v1) == b"one" and body_of(s3, vbucket, "k") == b"two"

    # Tags of a version that is gone.
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v1)
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)
    assert (status(e), error_code(e)) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=vbucket, Key="k", VersionId=v1, Tagging={"TagSet": []})
    assert (status(e), error_code(e)) == (404, "NoSuchVersion")


def test_get_object_acl_of_a_version(s3, vbucket):
    enable(s3, vbucket)
    v1, _v2 = write_versions(s3, vbucket, "k", [b"1", b"2"])
    acl = s3.get_object_acl(Bucket=vbucket, Key="k", VersionId=v1)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v1)
    with pytest.raises(ClientError) as e:
        s3.get_object_acl(Bucket=vbucket, Key="k", VersionId=v1)
    assert (status(e), error_code(e)) == (404, "NoSuchVersion")
    # The latest is still there.
    assert s3.get_object_acl(Bucket=vbucket, Key="k")["Grants"][0]["Permission"] == "FULL_CONTROL"


def records_on_disk(server: HoardServer, bucket: str) -> dict[str, list[str]]:
    """The version ids of the version records of ``bucket`` on the server's drive, by key."""
    found: dict[str, list[str]] = {}
    for path in (server.data_dir / ".hoard" / "records").glob("*/*"):
        try:
            record = record_file.decode(path.read_bytes()).record
        except (OSError, ValueError):
            continue  # removed or replaced while we looked
        if record.bucket == bucket:
            found.setdefault(record.key, []).append(record.version_id)
    return found


def test_racing_suspended_writes_leave_one_null_version(server, s3, vbucket):
    enable(s3, vbucket)
    ids = write_versions(s3, vbucket, "k", [b"a", b"b", b"c"])
    suspend(s3, vbucket)
    bodies = [f"racer {i}".encode() for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda body: s3.put_object(Bucket=vbucket, Key="k", Body=body), bodies))
    assert history(server, vbucket) == [("k", "null", True, False)] + [("k", v, False, False) for v in reversed(ids)]
    current = body_of(s3, vbucket, "k")
    assert current in bodies and body_of(s3, vbucket, "k", "null") == current
    # The 39 null versions replaced left no record behind: one per version listed.
    assert sorted(records_on_disk(server, vbucket)["k"]) == sorted([*ids, "null"])

    # Racing deletes while Enabled: one marker each, the versions under them untouched.
    enable(s3, vbucket)
    with ThreadPoolExecutor(8) as pool:
        markers = list(pool.map(lambda _: s3.delete_object(Bucket=vbucket, Key="k")["VersionId"], range(10)))
    listed = history(server, vbucket)
    assert [v for _, v, _, m in listed if m] == sorted(markers, reverse=True)
    assert [v for _, v, _, m in listed if not m] == ["null", *reversed(ids)]
    assert sorted(records_on_disk(server, vbucket)["k"]) == sorted([*ids, "null", *markers])
    # Racing deletes of every version by id: nothing left, not even a record.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda v: s3.delete_object(Bucket=vbucket, Key="k", VersionId=v), [*ids, "null", *markers]))
    assert history(server, vbucket) == []
    assert records_on_disk(server, vbucket) == {}


# -- delete markers --------------------------------------------------------------------------------


def test_delete_marker_hides_the_object_until_it_is_deleted(server, s3, vbucket):
    enable(s3, vbucket)
    v1 = s3.put_object(Bucket=vbucket, Key="doc", Body=b"kept")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="other", Body=b"o")

    answer = s3.delete_object(Bucket=vbucket, Key="doc")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert answer["DeleteMarker"] is True and headers_of(answer)["x-amz-delete-marker"] == "true"
    marker = answer["VersionId"]
    assert marker not in ("null", v1) and marker > v1

    # The latest version is a marker: 404 NoSuchKey, saying so.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="doc")
    assert (status(e), error_code(e)) == (404, "NoSuchKey")
    assert error_headers(e)["x-amz-delete-marker"] == "true"
    assert error_headers(e)["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="doc")
    assert status(e) == 404 and error_headers(e)["x-amz-delete-marker"] == "true"

    # The marker by id is no object: 405 MethodNotAllowed.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="doc", VersionId=marker)
    assert (status(e), error_code(e)) == (405, "MethodNotAllowed")
    assert error_headers(e)["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="doc", VersionId=marker)
    assert status(e) == 405 and error_headers(e)["x-amz-delete-marker"] == "true"

    # The version under it is still there by id.
    assert body_of(s3, vbucket, "doc", v1) == b"kept"

    # Listings: the key is gone from ListObjects(V2), its marker and version in ListObjectVersions.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["other"]
    assert [o["Key"] for o in s3.list_objects(Bucket=vbucket)["Contents"]] == ["other"]
    listed = s3.list_object_versions(Bucket=vbucket, Prefix="doc")
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(v1, False)]
    assert "ID" in listed["DeleteMarkers"][0]["Owner"]

    # Another delete stacks another marker.
    marker2 = s3.delete_object(Bucket=vbucket, Key="doc")["VersionId"]
    assert marker2 != marker
    assert history(server, vbucket, prefix="doc") == [("doc", marker2, True, True), ("doc", marker, False, True), ("doc", v1, False, False)]

    # Deleting the markers by id brings the object back.
    for m in (marker2, marker):
        answer = s3.delete_object(Bucket=vbucket, Key="doc", VersionId=m)
        assert answer["DeleteMarker"] is True and answer["VersionId"] == m
    got = s3.get_object(Bucket=vbucket, Key="doc")
    assert got["Body"].read() == b"kept" and got["VersionId"] == v1
    assert history(server, vbucket, prefix="doc") == [("doc", v1, True, False)]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["doc", "other"]

    # Deleting the last version by id: nothing left, and no marker added.
    answer = s3.delete_object(Bucket=vbucket, Key="doc", VersionId=v1)
    assert answer["VersionId"] == v1 and not answer.get("DeleteMarker", False)
    assert history(server, vbucket, prefix="doc") == []
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="doc")
    assert (status(e), error_code(e)) == (404, "NoSuchKey")
    assert "x-amz-delete-marker" not in error_headers(e)


def test_deleting_the_latest_version_by_id_makes_the_one_before_it_latest(server, s3, vbucket):
    enable(s3, vbucket)
    v1, v2 = write_versions(s3, vbucket, "k", [b"older, longer", b"newer"])
    answer = s3.delete_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert answer["VersionId"] == v2 and not answer.get("DeleteMarker", False)
    assert history(server, vbucket) == [("k", v1, True, False)]
    got = s3.get_object(Bucket=vbucket, Key="k")
    assert got["Body"].read() == b"older, longer" and got["VersionId"] == v1
    # The listing shows that version, not the one removed.
    (listed,) = s3.list_objects_v2(Bucket=vbucket)["Contents"]
    assert (listed["Key"], listed["Size"], listed["ETag"]) == ("k", len(b"older, longer"), got["ETag"])


def test_conditional_write_over_a_delete_marker(s3, vbucket):
    enable(s3, vbucket)
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=vbucket, Key="k", Body=b"y", IfNoneMatch="*")
    assert status(e) == 412
    s3.delete_object(Bucket=vbucket, Key="k")
    # The latest version is a marker: there is no object, so If-None-Match: * lets the write in.
    s3.put_object(Bucket=vbucket, Key="k", Body=b"z", IfNoneMatch="*")
    assert body_of(s3, vbucket, "k") == b"z"


def test_version_listing_of_keys_that_need_encoding(s3, vbucket):
    """boto3 asks for encoding-type=url and decodes keys and markers: pages of one still work."""
    enable(s3, vbucket)
    keys = ["a b/c+d", "caf\u00e9/\u00fc", "k&v=1?x", "tab\there"]
    expected = []
    for key in sorted(keys, key=lambda k: k.encode()):
        ids = write_versions(s3, vbucket, key, [b"1", b"2"])
        expected += [(key, v) for v in reversed(ids)]
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=vbucket, PaginationConfig={"PageSize": 1}):
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    assert seen == expected
    prefixes = s3.list_object_versions(Bucket=vbucket, Delimiter="/")
    assert [p["Prefix"] for p in prefixes["CommonPrefixes"]] == ["a b/", "caf\u00e9/"]


def test_delete_of_a_missing_key_still_adds_a_marker(server, s3, vbucket):
    enable(s3, vbucket)
    answer = s3.delete_object(Bucket=vbucket, Key="never-written")
    assert answer["DeleteMarker"] is True
    assert history(server, vbucket) == [("never-written", answer["VersionId"], True, True)]
    assert "Contents" not in s3.list_objects_v2(Bucket=vbucket)


def test_a_bucket_holding_only_old_versions_or_markers_is_not_empty(server, s3):
    name = f"ver-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    enable(s3, name)
    v1 = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=name, Key="k")["VersionId"]
    assert "Contents" not in s3.list_objects_v2(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert (status(e), error_code(e)) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k", VersionId=v1)
    with pytest.raises(ClientError) as e:  # the marker alone
        s3.delete_bucket(Bucket=name)
    assert (status(e), error_code(e)) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_objects_with_versions_and_markers(server, s3, vbucket):
    enable(s3, vbucket)
    a1, a2 = write_versions(s3, vbucket, "a", [b"a1", b"a2"])
    (b1,) = write_versions(s3, vbucket, "b", [b"b1"])
    (c1,) = write_versions(s3, vbucket, "c", [b"c1"])

    answer = s3.delete_objects(
        Bucket=vbucket,
        Delete={
            "Objects": [
                {"Key": "a"},
                {"Key": "b", "VersionId": b1},
                {"Key": "c", "VersionId": c1},
                {"Key": "a", "VersionId": a1},
                {"Key": "ghost"},
            ]
        },
    )
    assert "Errors" not in answer
    deleted = {(d["Key"], d.get("VersionId")): d for d in answer["Deleted"]}
    assert set(deleted) == {("a", None), ("b", b1), ("c", c1), ("a", a1), ("ghost", None)}
    # Without a version id: a delete marker, named in the answer.
    marker_a = deleted[("a", None)]["DeleteMarkerVersionId"]
    marker_ghost = deleted[("ghost", None)]["DeleteMarkerVersionId"]
    assert deleted[("a", None)]["DeleteMarker"] is True and deleted[("ghost", None)]["DeleteMarker"] is True
    # A version by id: removed, no marker.
    for k in (("b", b1), ("c", c1), ("a", a1)):
        assert not deleted[k].get("DeleteMarker", False)

    assert history(server, vbucket) == [
        ("a", marker_a, True, True),
        ("a", a2, False, False),
        ("ghost", marker_ghost, True, True),
    ]
    assert "Contents" not in s3.list_objects_v2(Bucket=vbucket)

    # Markers by id: the answer says a marker was deleted; the object comes back.
    answer = s3.delete_objects(
        Bucket=vbucket, Delete={"Objects": [{"Key": "a", "VersionId": marker_a}, {"Key": "ghost", "VersionId": marker_ghost}]}
    )
    assert "Errors" not in answer
    for d in answer["Deleted"]:
        assert d["DeleteMarker"] is True
        assert d["VersionId"] == {"a": marker_a, "ghost": marker_ghost}[d["Key"]]
    assert history(server, vbucket) == [("a", a2, True, False)]
    assert body_of(s3, vbucket, "a") == b"a2"

    # Quiet: nothing to say when everything went well, but it was done.
    answer = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "a", "VersionId": a2}], "Quiet": True})
    assert "Deleted" not in answer and "Errors" not in answer
    assert history(server, vbucket) == []

    # A malformed version id is that entry's error; the others are done.
    s3.put_object(Bucket=vbucket, Key="d", Body=b"d")
    answer = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "d", "VersionId": "not-a-version"}, {"Key": "d"}]})
    assert [(e["Key"], e["VersionId"]) for e in answer["Errors"]] == [("d", "not-a-version")]
    assert [d["Key"] for d in answer["Deleted"]] == ["d"] and answer["Deleted"][0]["DeleteMarker"] is True


def test_list_objects_v2_leaves_out_keys_whose_latest_version_is_a_marker(s3, vbucket):
    enable(s3, vbucket)
    for key in ("a", "b", "dir/x", "dir/y", "mixed/keep", "mixed/gone", "z"):
        s3.put_object(Bucket=vbucket, Key=key, Body=b"1")
    for key in ("a", "dir/x", "dir/y", "mixed/gone"):
        s3.delete_object(Bucket=vbucket, Key=key)
    s3.put_object(Bucket=vbucket, Key="z", Body=b"2")  # an older version does not matter

    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["b", "mixed/keep", "z"]
    page = s3.list_objects_v2(Bucket=vbucket, Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["b", "z"]
    # A "folder" whose every key is deleted is gone too.
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["mixed/"]
    assert page["KeyCount"] == 3
    # Pages of one still find every live key.
    keys, token = [], None
    while True:
        args = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=vbucket, MaxKeys=1, **args)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert keys == ["b", "mixed/keep", "z"]
    assert [o["Key"] for o in s3.list_objects(Bucket=vbucket, Prefix="dir/").get("Contents", [])] == []


# -- ListObjectVersions -----------------------------------------------------------------------------


@pytest.fixture
def history_tree(s3, vbucket) -> tuple[str, list[tuple[str, str, bool, bool]]]:
    """A bucket of several keys with several versions and markers, and its expected full listing."""
    s3.put_object(Bucket=vbucket, Key="a", Body=b"null version")  # before versioning: null
    enable(s3, vbucket)
    expected: list[tuple[str, str, bool, bool]] = []
    a = write_versions(s3, vbucket, "a", [b"a1", b"a2"])
    b1 = write_versions(s3, vbucket, "b/1", [b"x", b"y", b"z"])
    b1_marker = s3.delete_object(Bucket=vbucket, Key="b/1")["VersionId"]
    b2 = write_versions(s3, vbucket, "b/2", [b"x"])
    c_marker = s3.delete_object(Bucket=vbucket, Key="c")["VersionId"]
    c = write_versions(s3, vbucket, "c", [b"c1", b"c2"])
    d = write_versions(s3, vbucket, "d", [b"d"])
    expected += [("a", a[1], True, False), ("a", a[0], False, False), ("a", "null", False, False)]
    expected += [("b/1", b1_marker, True, True)] + [("b/1", v, False, False) for v in reversed(b1)]
    expected += [("b/2", b2[0], True, False)]
    expected += [("c", c[1], True, False), ("c", c[0], False, False), ("c", c_marker, False, True)]
    expected += [("d", d[0], True, False)]
    return vbucket, expected


def test_list_object_versions_order_and_fields(server, s3, history_tree):
    bucket, expected = history_tree
    page = list_versions(server, bucket)
    assert [(e.key, e.version_id, e.is_latest, e.marker) for e in page.entries] == expected
    assert page.truncated is False
    assert page.fields["Name"] == bucket and page.fields["MaxKeys"] == "1000"
    assert "NextKeyMarker" not in page.fields and "NextVersionIdMarker" not in page.fields
    # A version carries its size and ETag; the null one is the bytes written before versioning.
    sizes = {(e.key, e.version_id): (e.size, e.etag) for e in page.entries if not e.marker}
    assert sizes[("a", "null")] == (len(b"null version"), f'"{hashlib.md5(b"null version").hexdigest()}"')
    # Newest first within each key, by time too.
    for key in {e.key for e in page.entries}:
        times = [e.last_modified for e in page.entries if e.key == key]
        assert times == sorted(times, reverse=True), key
    # boto3 sees the same, split in its two lists.
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [
        (k, v, latest) for k, v, latest, m in expected if not m
    ]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["DeleteMarkers"]] == [
        (k, v, latest) for k, v, latest, m in expected if m
    ]


def test_list_object_versions_prefix_and_delimiter(server, history_tree):
    bucket, expected = history_tree
    page = list_versions(server, bucket, prefix="b/")
    assert [(e.key, e.version_id, e.is_latest, e.marker) for e in page.entries] == [x for x in expected if x[0].startswith("b/")]
    assert page.fields["Prefix"] == "b/"

    page = list_versions(server, bucket, delimiter="/")
    assert [(e.key, e.version_id, e.is_latest, e.marker) for e in page.entries] == [x for x in expected if "/" not in x[0]]
    assert page.prefixes == ["b/"]
    assert page.fields["Delimiter"] == "/"

    page = list_versions(server, bucket, prefix="b/", delimiter="/")
    assert len(page.entries) == 5 and page.prefixes == []
    page = list_versions(server, bucket, prefix="nothing")
    assert page.entries == [] and page.prefixes == [] and page.truncated is False


def test_list_object_versions_key_and_version_markers(server, history_tree):
    bucket, expected = history_tree
    # key-marker alone: every version of keys after it (none of its own).
    page = list_versions(server, bucket, key_marker="b/1")
    assert [(e.key, e.version_id) for e in page.entries] == [(k, v) for k, v, _, _ in expected if k > "b/1"]
    assert page.fields["KeyMarker"] == "b/1"
    page = list_versions(server, bucket, key_marker="b")  # need not be a key
    assert [e.key for e in page.entries] == [k for k, *_ in expected if k > "b"]

    # With a version-id-marker: that key's versions older than it, then the keys after.
    keyed = [(k, v) for k, v, _, _ in expected]
    for i, (key, version) in enumerate(keyed):
        page = list_versions(server, bucket, key_marker=key, version_id_marker=version)
        assert [(e.key, e.version_id) for e in page.entries] == keyed[i + 1 :], (key, version)
        assert page.fields["VersionIdMarker"] == version
    # The null version as the marker.
    i = keyed.index(("a", "null"))
    assert list_versions(server, bucket, key_marker="a", version_id_marker="null").ids == [v for _, v in keyed[i + 1 :]]


@pytest.mark.parametrize("delimiter", ["", "/"], ids=["flat", "delimited"])
def test_list_object_versions_pages_of_every_size(server, history_tree, delimiter):
    bucket, expected = history_tree
    extra = {"delimiter": delimiter} if delimiter else {}
    whole = list_versions(server, bucket, **extra)
    for size in range(1, len(expected) + 1):
        pages = all_pages(server, bucket, max_keys=size, **extra)
        assert [e for p in pages for e in p.entries] == whole.entries, size
        assert [x for p in pages for x in p.prefixes] == whole.prefixes, size
        for p in pages[:-1]:
            assert len(p.entries) + len(p.prefixes) == size and p.truncated
            if p.entries and not (p.prefixes and p.prefixes[-1] > p.entries[-1].key):
                # Ended on a version: the markers name it.
                assert p.fields["NextKeyMarker"] == p.entries[-1].key
                assert p.fields["NextVersionIdMarker"] == p.entries[-1].version_id
        assert not pages[-1].truncated
        assert "NextKeyMarker" not in pages[-1].fields


def test_thousand_versions_of_one_key_through_every_state_in_pages_of_seven(server, s3, vbucket):
    bucket = vbucket
    s3.put_object(Bucket=bucket, Key="j", Body=b"before k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")  # unversioned: the null version
    s3.put_object(Bucket=bucket, Key="l", Body=b"after k")

    def check_pages(expected_k: list[tuple[str, bool]]) -> None:
        """The listing, in pages of 7, is j, then k's versions (id, is a marker) newest first, then l."""
        pages = all_pages(server, bucket, max_keys=7)
        entries = [e for p in pages for e in p.entries]
        want = [("j", "null", True, False)]
        want += [("k", v, i == 0, m) for i, (v, m) in enumerate(expected_k)]
        want += [("l", "null", True, False)]
        assert [(e.key, e.version_id, e.is_latest, e.marker) for e in entries] == want
        assert len(pages) == -(-len(want) // 7)
        for p in pages[:-1]:
            assert len(p.entries) == 7 and p.truncated
            # Every boundary here falls inside k's versions: the next page goes on after this one.
            assert p.fields["NextKeyMarker"] == p.entries[-1].key
            assert p.fields["NextVersionIdMarker"] == p.entries[-1].version_id
        assert "NextKeyMarker" not in pages[-1].fields

    check_pages([("null", False)])

    enable(s3, bucket)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key="k", Body=f"v{i}".encode())["VersionId"], range(1000)))
    assert len(set(ids)) == 1000 and "null" not in ids
    newest_first = sorted(ids, reverse=True)
    check_pages([(v, False) for v in newest_first] + [("null", False)])
    # Each id names the bytes written with it.
    for i in (0, 499, 999):
        assert body_of(s3, bucket, "k", ids[i]) == f"v{i}".encode()
    assert body_of(s3, bucket, "k") == body_of(s3, bucket, "k", newest_first[0])
    assert body_of(s3, bucket, "k", "null") == b"original"

    # Suspended: a write replaces the null version (the oldest one) and is the latest.
    suspend(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"suspended")
    check_pages([("null", False)] + [(v, False) for v in newest_first])
    assert body_of(s3, bucket, "k") == b"suspended"

    # Suspended delete: a null marker in place of the null version.
    assert s3.delete_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    check_pages([("null", True)] + [(v, False) for v in newest_first])

    # Enabled again: a marker with an id on top, then a new version on top of that.
    enable(s3, bucket)
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    last = s3.put_object(Bucket=bucket, Key="k", Body=b"last")["VersionId"]
    assert last > marker > newest_first[0]
    check_pages([(last, False), (marker, True), ("null", True)] + [(v, False) for v in newest_first])

    # ListObjectsV2 sees three keys; the boto3 paginator agrees with the raw pages.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["j", "k", "l"]
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="k", PaginationConfig={"PageSize": 7}):
        seen += [v["VersionId"] for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    assert sorted(seen) == sorted([last, marker, "null", *ids])


# -- storage: old versions keep their bytes, deleted ones give them back ----------------------------


def usage(path: Path) -> int:
    """Bytes the folder takes on disk, as du counts them."""
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_blocks * 512
        except FileNotFoundError:
            continue  # removed while we looked
    return total


def shard_count(data: Path) -> int:
    return sum(1 for p in (data / ".hoard" / "shards").glob("*/*"))


def test_old_versions_keep_their_bytes_and_deleting_one_reclaims_them(tmp_path):
    data = tmp_path / "data"
    srv = HoardServer(data, env_extra={"HOARD_RECLAIM_GRACE": "0.5"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="reclaim")
        enable(s3, "reclaim")
        bodies = [os.urandom(MiB) for _ in range(3)]
        ids = write_versions(s3, "reclaim", "big", bodies)
        marker = s3.delete_object(Bucket="reclaim", Key="big")["VersionId"]
        assert shard_count(data) == 3
        full = usage(data)
        # Well past the grace period: every old version still has its bytes.
        time.sleep(3)
        assert shard_count(data) == 3
        for version, body in zip(ids, bodies, strict=True):
            assert body_of(s3, "reclaim", "big", version) == body

        # Deleting a version by id gives its bytes back; the others are untouched.
        s3.delete_object(Bucket="reclaim", Key="big", VersionId=ids[0])
        assert wait_for(lambda: usage(data) <= full - 0.9 * MiB, timeout=30), (full, usage(data))
        assert shard_count(data) == 2
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket="reclaim", Key="big", VersionId=ids[0])
        assert (status(e), error_code(e)) == (404, "NoSuchVersion")
        assert body_of(s3, "reclaim", "big", ids[1]) == bodies[1] and body_of(s3, "reclaim", "big", ids[2]) == bodies[2]

        # Suspended: a write replacing the null version gives the replaced one's bytes back.
        suspend(s3, "reclaim")
        s3.put_object(Bucket="reclaim", Key="big", Body=os.urandom(MiB))
        assert wait_for(lambda: shard_count(data) == 3)
        replacement = os.urandom(MiB)
        s3.put_object(Bucket="reclaim", Key="big", Body=replacement)
        time.sleep(2)
        assert wait_for(lambda: shard_count(data) == 3)
        assert body_of(s3, "reclaim", "big") == replacement
        assert body_of(s3, "reclaim", "big", ids[1]) == bodies[1]

        # A version restored by a copy keeps its bytes when the version it came from is deleted.
        enable(s3, "reclaim")
        restored = s3.copy_object(Bucket="reclaim", Key="big", CopySource={"Bucket": "reclaim", "Key": "big", "VersionId": ids[1]})
        assert wait_for(lambda: shard_count(data) == 4)
        s3.delete_object(Bucket="reclaim", Key="big", VersionId=ids[1])
        assert wait_for(lambda: shard_count(data) == 3, timeout=30)
        time.sleep(2)
        assert body_of(s3, "reclaim", "big") == bodies[1]
        assert body_of(s3, "reclaim", "big", restored["VersionId"]) == bodies[1]

        # A multipart version, no longer the latest, keeps every part until it is deleted.
        upload = s3.create_multipart_upload(Bucket="reclaim", Key="big")
        parts = [os.urandom(5 * MiB), os.urandom(MiB)]
        etags = [
            s3.upload_part(Bucket="reclaim", Key="big", UploadId=upload["UploadId"], PartNumber=n, Body=body)["ETag"]
            for n, body in enumerate(parts, start=1)
        ]
        multipart = s3.complete_multipart_upload(
            Bucket="reclaim",
            Key="big",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
        )["VersionId"]
        s3.put_object(Bucket="reclaim", Key="big", Body=b"small, inline")
        time.sleep(2)
        assert shard_count(data) == 5
        assert body_of(s3, "reclaim", "big", multipart) == parts[0] + parts[1]
        before = usage(data)
        s3.delete_object(Bucket="reclaim", Key="big", VersionId=multipart)
        assert wait_for(lambda: shard_count(data) == 3, timeout=30)
        assert wait_for(lambda: usage(data) <= before - 5.5 * MiB, timeout=30), (before, usage(data))

        # Delete every version and marker (in one DeleteObjects): nothing is left on the drive.
        before = usage(data)
        doomed = [{"Key": e.key, "VersionId": e.version_id} for e in list_versions(srv, "reclaim").entries]
        # Newest first: the inline one, the restored copy, the null version, the marker, ids[2].
        assert [d["VersionId"] for d in doomed][1:] == [restored["VersionId"], "null", marker, ids[2]]
        answer = s3.delete_objects(Bucket="reclaim", Delete={"Objects": doomed})
        assert "Errors" not in answer and len(answer["Deleted"]) == 5
        assert wait_for(lambda: shard_count(data) == 0, timeout=30)
        assert wait_for(lambda: not list((data / ".hoard" / "records").glob("*/*")), timeout=30)
        assert usage(data) <= before - 2.7 * MiB
        assert history(srv, "reclaim") == []
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


# -- "I overwrote and deleted a file by mistake" ------------------------------------------------------


def test_restore_an_overwritten_and_deleted_file_with_boto3(server, s3, vbucket):
    enable(s3, vbucket)
    first = b"the report, as it should be\n" * 100
    v1 = s3.put_object(Bucket=vbucket, Key="report.txt", Body=first)["VersionId"]
    s3.put_object(Bucket=vbucket, Key="report.txt", Body=b"oops, overwritten")
    s3.put_object(Bucket=vbucket, Key="report.txt", Body=b"oops, overwritten again")
    s3.delete_object(Bucket=vbucket, Key="report.txt")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="report.txt")
    assert error_code(e) == "NoSuchKey"

    listed = s3.list_object_versions(Bucket=vbucket, Prefix="report.txt")
    assert len(listed["Versions"]) == 3 and len(listed["DeleteMarkers"]) == 1
    assert listed["DeleteMarkers"][0]["IsLatest"] is True
    oldest = listed["Versions"][-1]
    assert oldest["VersionId"] == v1 and oldest["Size"] == len(first)

    restored = s3.copy_object(
        Bucket=vbucket, Key="report.txt", CopySource={"Bucket": vbucket, "Key": "report.txt", "VersionId": oldest["VersionId"]}
    )
    assert restored["CopySourceVersionId"] == v1
    got = s3.get_object(Bucket=vbucket, Key="report.txt")
    assert got["Body"].read() == first
    assert got["VersionId"] == restored["VersionId"] != v1
    assert got["ETag"] == oldest["ETag"]
    # The whole history is kept, the restored copy on top.
    entries = history(server, vbucket, prefix="report.txt")
    assert len(entries) == 5 and entries[0] == ("report.txt", restored["VersionId"], True, False)
    assert entries[-1][1] == v1


def test_restore_an_overwritten_and_deleted_file_with_the_aws_cli(server, s3, vbucket, aws_env, tmp_path):
    def aws(*args: str) -> dict:
        proc = subprocess.run(
            [*aws_cli(), "--endpoint-url", server.endpoint, "s3api", *args], env=aws_env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    aws("put-bucket-versioning", "--bucket", vbucket, "--versioning-configuration", "Status=Enabled")
    assert aws("get-bucket-versioning", "--bucket", vbucket)["Status"] == "Enabled"
    files = []
    for i, text in enumerate([b"first draft, the good one\n" * 1000, b"second\n", b"third\n"]):
        f = tmp_path / f"notes-{i}.txt"
        f.write_bytes(text)
        files.append(f)
    ids = [aws("put-object", "--bucket", vbucket, "--key", "notes.txt", "--body", str(f))["VersionId"] for f in files]
    assert len(set(ids)) == 3
    deleted = aws("delete-object", "--bucket", vbucket, "--key", "notes.txt")
    assert deleted["DeleteMarker"] is True

    listed = aws("list-object-versions", "--bucket", vbucket, "--prefix", "notes.txt")
    assert [v["VersionId"] for v in listed["Versions"]] == ids[::-1]
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == [deleted["VersionId"]]
    first = listed["Versions"][-1]["VersionId"]

    copied = aws("copy-object", "--bucket", vbucket, "--key", "notes.txt", "--copy-source", f"{vbucket}/notes.txt?versionId={first}")
    assert copied["CopySourceVersionId"] == first
    out = tmp_path / "restored.txt"
    got = aws("get-object", "--bucket", vbucket, "--key", "notes.txt", str(out))
    assert out.read_bytes() == files[0].read_bytes()
    assert got["VersionId"] == copied["VersionId"]
    # The old version by id, with the CLI as well.
    out2 = tmp_path / "second.txt"
    aws("get-object", "--bucket", vbucket, "--key", "notes.txt", "--version-id", ids[1], str(out2))
    assert out2.read_bytes() == b"second\n"
    head = aws("head-object", "--bucket", vbucket, "--key", "notes.txt", "--version-id", first)
    assert head["VersionId"] == first and head["ContentLength"] == files[0].stat().st_size
    assert len(aws("list-object-versions", "--bucket", vbucket)["Versions"]) == 4


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<VersioningConfiguration><Status>Enabled</Status>",
        b"<Other><Status>Enabled</Status></Other>",
        b"<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>",
        b"<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
        b"<VersioningConfiguration><Status></Status></VersioningConfiguration>",
    ],
    ids=["not-xml", "unclosed", "wrong-root", "disabled", "lower-case", "empty-status"],
)
def test_bad_versioning_configuration_is_malformed_xml(server, s3, vbucket, body):
    enable(s3, vbucket)
    reply = raw(server, "PUT", f"/{vbucket}?versioning", body, {"Content-Type": "application/xml"})
    assert (reply.status, reply.code) == (400, "MalformedXML"), reply.body
    assert s3.get_bucket_versioning(Bucket=vbucket)["Status"] == "Enabled"


def test_status_other_than_enabled_or_suspended_through_boto3(s3, vbucket):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Off"})
    assert (status(e), error_code(e)) == (400, "MalformedXML")
    assert "Status" not in s3.get_bucket_versioning(Bucket=vbucket)


def test_version_that_does_not_exist_is_no_such_version(s3, vbucket):
    enable(s3, vbucket)
    gone, kept = write_versions(s3, vbucket, "k", [b"gone", b"kept"])
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=gone)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=gone)
    assert (status(e), error_code(e)) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="k", VersionId=gone)
    assert status(e) == 404
    # A version id of another key is no version of this one.
    other = s3.put_object(Bucket=vbucket, Key="other", Body=b"o")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=other)
    assert (status(e), error_code(e)) == (404, "NoSuchVersion")
    # null, when the key has no null version.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId="null")
    assert (status(e), error_code(e)) == (404, "NoSuchVersion")
    assert body_of(s3, vbucket, "k", kept) == b"kept"
    # A missing bucket is still NoSuchBucket.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=f"missing-{uuid.uuid4().hex[:8]}", Key="k", VersionId=kept)
    assert (status(e), error_code(e)) == (404, "NoSuchBucket")


@pytest.mark.parametrize("version", ["not-a-version", "0123456789abcdef", "ZZZZZZZZZZZZZZZZZZZZZZZZ"])
def test_malformed_version_id_is_invalid_argument(server, s3, vbucket, version):
    enable(s3, vbucket)
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    for call in (
        lambda: s3.get_object(Bucket=vbucket, Key="k", VersionId=version),
        lambda: s3.delete_object(Bucket=vbucket, Key="k", VersionId=version),
        lambda: s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=version),
        lambda: s3.get_object_acl(Bucket=vbucket, Key="k", VersionId=version),
        lambda: s3.copy_object(Bucket=vbucket, Key="c", CopySource={"Bucket": vbucket, "Key": "k", "VersionId": version}),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), error_code(e)) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="k", VersionId=version)
    assert status(e) == 400
    reply = raw(server, "GET", f"/{vbucket}?versions&key-marker=k&version-id-marker={version}")
    assert (reply.status, reply.code) == (400, "InvalidArgument")
    reply = raw(server, "GET", f"/{vbucket}/k?versionId=")  # an empty one too
    assert (reply.status, reply.code) == (400, "InvalidArgument")
    # Nothing was deleted.
    assert body_of(s3, vbucket, "k") == b"x"
    assert len(history(server, vbucket)) == 1


def test_version_id_marker_without_key_marker(server, s3, vbucket):
    enable(s3, vbucket)
    v = s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=vbucket, VersionIdMarker=v)
    assert (status(e), error_code(e)) == (400, "InvalidArgument")
    reply = raw(server, "GET", f"/{vbucket}?versions&version-id-marker=null")
    assert (reply.status, reply.code) == (400, "InvalidArgument")


# -- restarts and index rebuilds -----------------------------------------------------------------------


def build_history(c) -> None:
    """Every kind of version, on an erasure set: null versions from before versioning and from
    Suspended, versions with ids (inline, sharded, multipart, tagged), markers with ids and null."""
    c.create_bucket(Bucket="hist")
    c.put_object(Bucket="hist", Key="pre", Body=b"before versioning")
    c.put_object(Bucket="hist", Key="susp", Body=b"null, then replaced")
    enable(c, "hist")
    c.put_object(Bucket="hist", Key="pre", Body=b"pre v2")
    for i in range(3):
        c.put_object(Bucket="hist", Key="big", Body=bytes([i]) * (3 * INLINE_LIMIT))
    gone_v1 = c.put_object(Bucket="hist", Key="gone", Body=b"gone v1", Tagging="t=1")["VersionId"]
    c.put_object(Bucket="hist", Key="gone", Body=b"gone v2")
    # New tags for a version that is no longer the latest.
    c.put_object_tagging(Bucket="hist", Key="gone", VersionId=gone_v1, Tagging={"TagSet": [{"Key": "t", "Value": "2"}]})
    c.delete_object(Bucket="hist", Key="gone")
    old = c.put_object(Bucket="hist", Key="back", Body=b"back")["VersionId"]
    c.put_object_tagging(Bucket="hist", Key="back", VersionId=old, Tagging={"TagSet": [{"Key": "restored", "Value": "yes"}]})
    marker = c.delete_object(Bucket="hist", Key="back")["VersionId"]
    c.delete_object(Bucket="hist", Key="back", VersionId=marker)
    upload = c.create_multipart_upload(Bucket="hist", Key="multi")
    part = os.urandom(5 * MiB)
    etag = c.upload_part(Bucket="hist", Key="multi", UploadId=upload["UploadId"], PartNumber=1, Body=part)["ETag"]
    c.complete_multipart_upload(
        Bucket="hist", Key="multi", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    c.put_object(Bucket="hist", Key="multi", Body=b"small over multipart")
    c.put_object(Bucket="hist", Key="susp", Body=b"enabled version")
    c.delete_object(Bucket="hist", Key="pre")  # a marker over a version with an id and the null one
    suspend(c, "hist")
    c.put_object(Bucket="hist", Key="susp", Body=b"suspended null")
    c.put_object(Bucket="hist", Key="susp-del", Body=b"null")
    c.delete_object(Bucket="hist", Key="susp-del")  # a null marker, in place of the null version


def snapshot(server: HoardServer) -> dict:
    """What a client can see of the bucket's history: the listing, every version's bytes, tags
    and headers, what GET answers for each key, ListObjectsV2, the versioning state."""
    c = server.client()
    page = list_versions(server, "hist")
    assert not page.truncated
    versions = {}
    for e in page.entries:
        if e.marker:
            with pytest.raises(ClientError) as exc:
                c.head_object(Bucket="hist", Key=e.key, VersionId=e.version_id)
            versions[(e.key, e.version_id)] = ("marker", status(exc))
        else:
            got = c.get_object(Bucket="hist", Key=e.key, VersionId=e.version_id)
            tags = c.get_object_tagging(Bucket="hist", Key=e.key, VersionId=e.version_id)["TagSet"]
            versions[(e.key, e.version_id)] = (
                hashlib.sha256(got["Body"].read()).hexdigest(),
                got["ETag"],
                got["ContentLength"],
                str(got["LastModified"]),
                tags,
            )
    current = {}
    for key in sorted({e.key for e in page.entries}):
        try:
            got = c.get_object(Bucket="hist", Key=key)
            current[key] = (got["VersionId"] if "VersionId" in got else "null", hashlib.sha256(got["Body"].read()).hexdigest())
        except ClientError as exc:
            current[key] = (exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker"))
    return {
        "listing": page.entries,
        "versions": versions,
        "current": current,
        "live": [o["Key"] for o in c.list_objects_v2(Bucket="hist").get("Contents", [])],
        "state": c.get_bucket_versioning(Bucket="hist").get("Status"),
    }


def test_versions_survive_restart_and_index_rebuild(tmp_path):
    drives = [tmp_path / f"disk{i}" for i in range(4)]  # an erasure set: 2 data + 2 parity
    srv = HoardServer(tmp_path / "logs", drives=drives).start()
    try:
        build_history(srv.client())
        before = snapshot(srv)
        # What the history should be, so that a snapshot equal to a wrong one cannot pass.
        kinds = {(e.key, e.marker, e.is_latest, e.version_id == "null") for e in before["listing"]}
        assert ("pre", True, True, False) in kinds and ("pre", False, False, True) in kinds
        assert ("susp-del", True, True, True) in kinds and ("gone", True, True, False) in kinds
        assert [e.key for e in before["listing"]].count("big") == 3
        assert [(e.key, e.version_id) for e in before["listing"] if e.key == "susp"][0] == ("susp", "null")
        assert sum(1 for e in before["listing"] if e.key == "susp") == 2
        assert before["live"] == ["back", "big", "multi", "susp"]
        assert before["state"] == "Suspended"
        assert len(before["listing"]) == 15
        gone_tags = [v[-1] for (key, _), v in before["versions"].items() if key == "gone" and v[0] != "marker"]
        assert gone_tags == [[], [{"Key": "t", "Value": "2"}]]

        srv.stop()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        assert snapshot(srv) == before, "after a restart"

        srv.admin("rebuild-index")
        assert snapshot(srv) == before, "after hoard admin rebuild-index"

        srv.stop()
        for path in drives[0].glob(".hoard/meta.db*"):
            path.unlink()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        assert snapshot(srv) == before, "after an index rebuilt from the drives at start-up"

        # And versioning goes on as before: Suspended replaces the null version, Enabled adds one.
        c = srv.client()
        c.put_object(Bucket="hist", Key="susp", Body=b"after rebuild")
        enabled_version = [e.version_id for e in before["listing"] if e.key == "susp"][1]
        susp = [e for e in list_versions(srv, "hist", prefix="susp").entries if e.key == "susp"]
        assert [(e.version_id, e.is_latest) for e in susp] == [("null", True), (enabled_version, False)]
        assert body_of(c, "hist", "susp") == b"after rebuild"
        enable(c, "hist")
        new = c.put_object(Bucket="hist", Key="big", Body=b"newest")["VersionId"]
        assert [e.version_id for e in list_versions(srv, "hist", prefix="big").entries][0] == new
        assert len(list_versions(srv, "hist", prefix="big").entries) == 4
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]
