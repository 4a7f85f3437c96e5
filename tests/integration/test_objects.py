"""Object operations with boto3 against a real server, checked against S3's documented behaviour.

PutObject, GetObject, HeadObject (headers, metadata, storage classes, digests, conditions,
ranges, checksums), DeleteObject(s), ListObjectVersions on an unversioned bucket, CopyObject,
awkward keys, and an overwrite racing a reader.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.header
import hashlib
import os
import urllib.request
import zlib

import boto3
import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY

MiB = 1024 * 1024
EMPTY_MD5 = '"d41d8cd98f00b204e9800998ecf8427e"'


def error_code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def status(exc: pytest.ExceptionInfo) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def http_status(resp: dict) -> int:
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def headers(resp: dict) -> dict[str, str]:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def plain_client(server):
    """A client that sends and asks for checksums only when the operation requires them."""
    return server.client(request_checksum_calculation="when_required", response_checksum_validation="when_required")


# -- PutObject / GetObject / HeadObject: headers and metadata ---------------------------------


def test_put_get_head_round_trip(s3, bucket):
    data = os.urandom(1000)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=data)
    assert http_status(put) == 200
    assert put["ETag"] == md5_etag(data)
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == data
    assert got["ETag"] == md5_etag(data)
    assert got["ContentLength"] == 1000
    assert got["ContentType"] == "binary/octet-stream"
    assert got["AcceptRanges"] == "bytes"
    assert got["Metadata"] == {}
    assert "StorageClass" not in got  # STANDARD is not announced
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ContentLength"] == 1000
    assert head["ETag"] == md5_etag(data)
    assert head["LastModified"] == got["LastModified"]
    assert abs((head["LastModified"] - dt.datetime.now(dt.UTC)).total_seconds()) < 120


def test_standard_headers_and_user_metadata_are_kept(s3, bucket):
    expires = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    meta = {"colour": "blue", "camelcase-key": "Mixed Case Value", "empty": "", "spaces": "a  b c"}
    s3.put_object(
        Bucket=bucket,
        Key="doc.html",
        Body=b"<p>hi</p>",
        ContentType="text/html; charset=utf-8",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="doc.html"',
        ContentLanguage="en-GB",
        CacheControl="max-age=3600, public",
        Expires=expires,
        Metadata=meta,
    )
    for resp in (s3.get_object(Bucket=bucket, Key="doc.html"), s3.head_object(Bucket=bucket, Key="doc.html")):
        assert resp["ContentType"] == "text/html; charset=utf-8"
        assert resp["ContentEncoding"] == "identity"
        assert resp["ContentDisposition"] == 'attachment; filename="doc.html"'
        assert resp["ContentLanguage"] == "en-GB"
        assert resp["CacheControl"] == "max-age=3600, public"
        assert resp["Expires"] == expires
        assert headers(resp)["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
        assert resp["Metadata"] == meta


def test_metadata_names_are_case_insensitive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"MixedName": "Value"})
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"mixedname": "Value"}


def test_overwrite_replaces_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", Metadata={"a": "1"}, ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two", Metadata={"b": "2"})
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentType"] == "binary/octet-stream"


def test_rfc2047_encoded_metadata_round_trips(s3, bucket):
    # boto3 only sends ASCII metadata; non-ASCII text travels as RFC 2047 encoded words.
    value = "café – 日本語 ✓"
    encoded = email.header.Header(value, "utf-8").encode()
    assert encoded.isascii()
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"title": encoded})
    returned = s3.head_object(Bucket=bucket, Key="k")["Metadata"]["title"]
    assert str(email.header.make_header(email.header.decode_header(returned))) == value


@pytest.mark.parametrize("value", ["café", "日本語のファイル", "emoji 📦 box"])
def test_raw_utf8_metadata_is_returned_rfc2047_encoded(server, bucket, value):
    """A client that sends raw UTF-8 bytes in x-amz-meta-* gets them back as RFC 2047, as S3 does."""
    client = server.client()

    def add_raw_header(request, **_):
        # boto3 refuses non-ASCII Metadata, but sends (and signs) any header as UTF-8 bytes.
        request.headers["x-amz-meta-raw"] = value

    client.meta.events.register("before-sign.s3.PutObject", add_raw_header)
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    returned = client.head_object(Bucket=bucket, Key="k")["Metadata"]["raw"]
    assert returned.isascii()
    assert str(email.header.make_header(email.header.decode_header(returned))) == value
    # GET answers the same, and ASCII values stay as they are.
    got = client.get_object(Bucket=bucket, Key="k")
    assert got["Metadata"]["raw"] == returned
    got["Body"].read()


def test_user_metadata_too_large(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"big": "v" * 2100})
    assert error_code(e) == "MetadataTooLarge"
    assert status(e) == 400
    # Exactly 2 KB of names and values is allowed.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"big": "v" * (2048 - 3)})


def test_zero_byte_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == EMPTY_MD5
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == EMPTY_MD5
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("empty", 0, EMPTY_MD5)]


def test_get_missing_key(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert error_code(e) == "NoSuchKey"
    assert status(e) == 404
    assert e.value.response["Error"]["Key"] == "nope"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope")
    assert status(e) == 404


# -- Storage classes ---------------------------------------------------------------------------


@pytest.mark.parametrize("sclass", ["REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR"])
def test_storage_class_is_stored(s3, bucket, sclass):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass=sclass)
    assert s3.head_object(Bucket=bucket, Key="k")["StorageClass"] == sclass
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["StorageClass"] == sclass
    assert got["Body"].read() == b"x"
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["StorageClass"] == sclass
    assert s3.list_objects(Bucket=bucket)["Contents"][0]["StorageClass"] == sclass
    assert s3.list_object_versions(Bucket=bucket)["Versions"][0]["StorageClass"] == sclass


def test_standard_storage_class(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass="STANDARD")
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="k")
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["StorageClass"] == "STANDARD"


@pytest.mark.parametrize("sclass", ["GLACIER", "DEEP_ARCHIVE"])
def test_archive_storage_classes_are_read_only_once_restored(s3, bucket, sclass):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass=sclass)
    assert s3.head_object(Bucket=bucket, Key="k")["StorageClass"] == sclass
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(e) == "InvalidObjectState"
    assert status(e) == 403
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["StorageClass"] == sclass


def test_bogus_storage_class(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass="NOT_A_CLASS")
    assert error_code(e) == "InvalidStorageClass"
    assert status(e) == 400
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# -- Content-MD5 -------------------------------------------------------------------------------


def test_content_md5_correct(server, bucket):
    s3 = plain_client(server)
    data = b"hello, md5"
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ContentMD5=b64(hashlib.md5(data).digest()))
    assert put["ETag"] == md5_etag(data)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_content_md5_wrong_is_bad_digest(server, bucket):
    s3 = plain_client(server)
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"new", ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert error_code(e) == "BadDigest"
    assert status(e) == 400
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


@pytest.mark.parametrize("value", ["not-base64!", b64(b"too short"), b64(b"x" * 20)])
def test_content_md5_malformed_is_invalid_digest(server, bucket, value):
    s3 = plain_client(server)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5=value)
    assert error_code(e) == "InvalidDigest"
    assert status(e) == 400
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# -- Conditional writes ------------------------------------------------------------------------


def test_if_none_match_star(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    assert http_status(put) == 200
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert error_code(e) == "PreconditionFailed"
    assert status(e) == 412
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_if_match_on_write(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=md5_etag(b"something else"))
    assert error_code(e) == "PreconditionFailed"
    assert status(e) == 412
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)
    assert put["ETag"] == md5_etag(b"v2")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    # If-Match on a key that does not exist: there is nothing to match.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag)
    assert error_code(e) == "NoSuchKey"
    assert status(e) == 404


# -- Ranges ------------------------------------------------------------------------------------

DATA_100 = bytes(range(100))


@pytest.fixture
def hundred(s3, bucket) -> str:
    s3.put_object(Bucket=bucket, Key="hundred", Body=DATA_100)
    return "hundred"


@pytest.mark.parametrize(
    "spec,start,end",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=5-", 5, 99),
        ("bytes=-3", 97, 99),
        ("bytes=90-1000", 90, 99),  # beyond the end: clamped
        ("bytes=-500", 0, 99),  # a suffix longer than the object: all of it
        ("bytes=99-99", 99, 99),
        ("bytes=0-0", 0, 0),
    ],
)
def test_get_range(s3, bucket, hundred, spec, start, end):
    got = s3.get_object(Bucket=bucket, Key=hundred, Range=spec)
    assert http_status(got) == 206
    assert got["ContentRange"] == f"bytes {start}-{end}/100"
    assert got["ContentLength"] == end - start + 1
    assert got["Body"].read() == DATA_100[start : end + 1]
    assert got["ETag"] == md5_etag(DATA_100)
    head = s3.head_object(Bucket=bucket, Key=hundred, Range=spec)
    assert http_status(head) == 206
    assert head["ContentRange"] == f"bytes {start}-{end}/100"
    assert head["ContentLength"] == end - start + 1


@pytest.mark.parametrize("spec", ["bytes=100-", "bytes=100-200", "bytes=5000-6000"])
def test_get_range_start_beyond_size_is_416(s3, bucket, hundred, spec):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=hundred, Range=spec)
    assert error_code(e) == "InvalidRange"
    assert status(e) == 416
    assert headers(e.value.response)["content-range"] == "bytes */100"
    assert e.value.response["Error"]["ActualObjectSize"] == "100"


@pytest.mark.parametrize("spec", ["bytes=9-5", "lines=0-5", "bytes=a-b", "bytes=0-5,10-15"])
def test_get_unusable_range_serves_whole_object(s3, bucket, hundred, spec):
    # S3 ignores a Range it cannot use (bad syntax, reversed, several ranges) and answers 200.
    got = s3.get_object(Bucket=bucket, Key=hundred, Range=spec)
    assert http_status(got) == 200
    assert "ContentRange" not in got
    assert got["Body"].read() == DATA_100


# -- Conditional reads -------------------------------------------------------------------------


def read_status(s3, bucket: str, key: str, **conditions) -> int:
    try:
        resp = s3.get_object(Bucket=bucket, Key=key, **conditions)
        resp["Body"].read()
        return http_status(resp)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]


def head_status(s3, bucket: str, key: str, **conditions) -> int:
    try:
        return http_status(s3.head_object(Bucket=bucket, Key=key, **conditions))
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]


def test_conditional_reads(s3, bucket, hundred):
    head = s3.head_object(Bucket=bucket, Key=hundred)
    etag, modified = head["ETag"], head["LastModified"]
    before, after = modified - dt.timedelta(seconds=10), modified + dt.timedelta(seconds=10)
    other = md5_etag(b"other")
    cases = [
        ({"IfMatch": etag}, 200),
        ({"IfMatch": "*"}, 200),
        ({"IfMatch": other}, 412),
        ({"IfNoneMatch": etag}, 304),
        ({"IfNoneMatch": "*"}, 304),
        ({"IfNoneMatch": other}, 200),
        ({"IfModifiedSince": before}, 200),
        ({"IfModifiedSince": modified}, 304),
        ({"IfUnmodifiedSince": before}, 412),
        ({"IfUnmodifiedSince": modified}, 200),
        ({"IfUnmodifiedSince": after}, 200),
        # S3's documented combinations: If-Match wins over If-Unmodified-Since ...
        ({"IfMatch": etag, "IfUnmodifiedSince": before}, 200),
        # ... and If-None-Match over If-Modified-Since.
        ({"IfNoneMatch": etag, "IfModifiedSince": before}, 304),
        # A failed precondition (412) outranks not-modified (304).
        ({"IfMatch": other, "IfNoneMatch": etag}, 412),
    ]
    for conditions, expected in cases:
        assert read_status(s3, bucket, hundred, **conditions) == expected, conditions
        assert head_status(s3, bucket, hundred, **conditions) == expected, conditions


def test_not_modified_answer_carries_etag(s3, bucket, hundred):
    etag = s3.head_object(Bucket=bucket, Key=hundred)["ETag"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=hundred, IfNoneMatch=etag)
    assert status(e) == 304
    assert headers(e.value.response)["etag"] == etag
    assert "last-modified" in headers(e.value.response)


def test_precondition_failed_body(s3, bucket, hundred):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=hundred, IfMatch=md5_etag(b"other"))
    assert error_code(e) == "PreconditionFailed"
    assert e.value.response["Error"]["Condition"] == "If-Match"


# -- Response overrides, part numbers, checksums ---------------------------------------------


def test_response_header_overrides(s3, bucket, hundred):
    got = s3.get_object(
        Bucket=bucket,
        Key=hundred,
        ResponseContentType="text/csv",
        ResponseContentDisposition='attachment; filename="data.csv"',
        ResponseCacheControl="no-store",
        ResponseContentLanguage="fr",
        ResponseContentEncoding="identity",
        ResponseExpires=dt.datetime(2031, 5, 6, tzinfo=dt.UTC),
    )
    assert got["ContentType"] == "text/csv"
    assert got["ContentDisposition"] == 'attachment; filename="data.csv"'
    assert got["CacheControl"] == "no-store"
    assert got["ContentLanguage"] == "fr"
    assert got["ContentEncoding"] == "identity"
    assert got["Expires"] == dt.datetime(2031, 5, 6, tzinfo=dt.UTC)
    assert got["Body"].read() == DATA_100
    # The stored headers are unchanged.
    assert s3.head_object(Bucket=bucket, Key=hundred)["ContentType"] == "binary/octet-stream"


def test_presigned_get_with_overrides(server, bucket, hundred):
    url = server.client(signature_version="s3v4").generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": hundred, "ResponseContentType": "image/png", "ResponseContentDisposition": "inline"},
    )
    with urllib.request.urlopen(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["Content-Disposition"] == "inline"
        assert resp.read() == DATA_100


def test_part_number_one_on_single_part_object(s3, bucket, hundred):
    got = s3.get_object(Bucket=bucket, Key=hundred, PartNumber=1)
    # S3 treats partNumber as a range: 206 with a Content-Range covering the whole object.
    assert http_status(got) == 206
    assert got["ContentRange"] == "bytes 0-99/100"
    assert got["ContentLength"] == 100
    assert got["Body"].read() == DATA_100
    head = s3.head_object(Bucket=bucket, Key=hundred, PartNumber=1)
    assert http_status(head) == 206
    assert head["ContentLength"] == 100
    assert head["ContentRange"] == "bytes 0-99/100"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=hundred, PartNumber=2)
    assert error_code(e) == "InvalidPart"
    assert status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=hundred, PartNumber=1, Range="bytes=0-1")
    assert error_code(e) == "InvalidRequest"


def expected_checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(crt.crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(crt.crc64nvme(data).to_bytes(8, "big"))
    return b64(hashlib.new(algorithm.lower().replace("sha", "sha"), data).digest())


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_checksum_mode_returns_stored_checksum(server, bucket, algorithm):
    s3 = plain_client(server)
    data = os.urandom(3000)
    want = expected_checksum(algorithm, data)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == want
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == want
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == want
    # Without ChecksumMode, no checksum is returned.
    plain = s3.get_object(Bucket=bucket, Key="k")
    assert not [k for k in plain if k.startswith("Checksum")]
    plain["Body"].read()
    # A ranged read has no whole-object checksum to give.
    ranged = s3.get_object(Bucket=bucket, Key="k", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert f"Checksum{algorithm}" not in ranged
    ranged["Body"].read()
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert listed["ChecksumAlgorithm"] == [algorithm]


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_wrong_checksum_is_bad_digest(server, bucket, algorithm):
    s3 = plain_client(server)
    wrong = expected_checksum(algorithm, b"other bytes")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", **{f"Checksum{algorithm}": wrong})
    assert error_code(e) == "BadDigest"
    assert status(e) == 400
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_default_client_checksum_validation(s3, bucket):
    # A default boto3 client sends CRC32 and validates it on GET: it must all agree.
    data = os.urandom(5000)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


# -- Deleting ----------------------------------------------------------------------------------


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    resp = s3.delete_object(Bucket=bucket, Key="k")
    assert http_status(resp) == 204
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(e) == "NoSuchKey"


def test_delete_missing_key_is_204(s3, bucket):
    assert http_status(s3.delete_object(Bucket=bucket, Key="never-existed")) == 204


def test_delete_with_null_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert http_status(s3.delete_object(Bucket=bucket, Key="k", VersionId="null")) == 204
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_verbose_mixed(s3, bucket):
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    resp = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}, {"Key": "b", "VersionId": "null"}], "Quiet": False},
    )
    assert http_status(resp) == 200
    deleted = sorted(resp["Deleted"], key=lambda d: d["Key"])
    assert [d["Key"] for d in deleted] == ["a", "b", "missing"]
    assert [d for d in deleted if d["Key"] == "b"][0]["VersionId"] == "null"
    assert "Errors" not in resp or resp["Errors"] == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["c"]


def test_delete_objects_quiet(s3, bucket):
    for key in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zzz"}], "Quiet": True})
    assert http_status(resp) == 200
    assert resp.get("Deleted", []) == []
    assert resp.get("Errors", []) == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_awkward_keys(s3, bucket):
    keys = ["a b", "a+b", "ü/ñ", "x&y<z>", "100%"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# -- ListObjectVersions on an unversioned bucket ---------------------------------------------


def test_list_object_versions_unversioned(s3, bucket):
    keys = ["a", "b/c", "d"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.put_object(Bucket=bucket, Key="a", Body=b"overwritten")
    resp = s3.list_object_versions(Bucket=bucket)
    versions = resp["Versions"]
    assert [v["Key"] for v in versions] == keys
    for v in versions:
        assert v["VersionId"] == "null"
        assert v["IsLatest"] is True
        assert v["Owner"]["ID"]
    assert versions[0]["Size"] == len(b"overwritten")
    assert versions[0]["ETag"] == md5_etag(b"overwritten")
    assert "DeleteMarkers" not in resp
    assert resp["IsTruncated"] is False


def test_list_object_versions_paginator(s3, bucket):
    keys = [f"k{i:02d}" for i in range(7)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [v["Key"] for p in pages for v in p.get("Versions", [])] == keys
    assert pages[0]["NextKeyMarker"] == "k02"
    assert pages[0]["NextVersionIdMarker"] == "null"


def test_resource_object_versions_delete_empties_bucket(server, s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"v/{i}", Body=b"x")
    resource = boto3.resource(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    resource.Bucket(bucket).object_versions.delete()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)


def test_get_with_version_id(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-real-version")
    assert status(e) == 400


# -- CopyObject --------------------------------------------------------------------------------


def test_copy_within_bucket_keeps_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/plain", CacheControl="no-cache", Metadata={"m": "1"})
    resp = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert resp["CopyObjectResult"]["ETag"] == md5_etag(b"payload")
    assert isinstance(resp["CopyObjectResult"]["LastModified"], dt.datetime)
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"payload"
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "no-cache"
    assert got["Metadata"] == {"m": "1"}
    # COPY is the default, and ignores metadata sent with the request.
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", MetadataDirective="COPY", Metadata={"ignored": "x"})
    assert s3.head_object(Bucket=bucket, Key="dst2")["Metadata"] == {"m": "1"}


def test_copy_across_buckets(s3, bucket):
    other = f"{bucket}-other"
    s3.create_bucket(Bucket=other)
    try:
        s3.put_object(Bucket=bucket, Key="src", Body=b"across", Metadata={"m": "1"})
        s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
        got = s3.get_object(Bucket=other, Key="dst")
        assert got["Body"].read() == b"across"
        assert got["Metadata"] == {"m": "1"}
        # The source is untouched.
        assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"across"
    finally:
        s3.delete_object(Bucket=other, Key="dst")
        s3.delete_bucket(Bucket=other)


def test_copy_replace_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", ContentType="text/plain", ContentLanguage="en", Metadata={"old": "1"})
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        Metadata={"new": "2"},
        ContentType="application/json",
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"new": "2"}
    assert head["ContentType"] == "application/json"
    assert "ContentLanguage" not in head
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"old": "1"}


def test_copy_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"v": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert error_code(e) == "InvalidRequest"
    assert status(e) == 400
    s3.copy_object(
        Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"}, MetadataDirective="REPLACE", Metadata={"v": "2"}
    )
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Body"].read() == b"same"
    assert got["Metadata"] == {"v": "2"}
    # Changing the storage class is a change too.
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"}, StorageClass="STANDARD_IA")
    assert s3.head_object(Bucket=bucket, Key="self")["StorageClass"] == "STANDARD_IA"


def test_copy_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"cond")
    head = s3.head_object(Bucket=bucket, Key="src")
    etag, modified = head["ETag"], head["LastModified"]
    before, after = modified - dt.timedelta(seconds=10), modified + dt.timedelta(seconds=10)
    other = md5_etag(b"other")
    src = {"Bucket": bucket, "Key": "src"}
    failing = [
        {"CopySourceIfMatch": other},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": modified},
        {"CopySourceIfUnmodifiedSince": before},
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": before},
    ]
    for conditions in failing:
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, **conditions)
        assert error_code(e) == "PreconditionFailed", conditions
        assert status(e) == 412, conditions
    assert s3.list_objects_v2(Bucket=bucket, Prefix="dst")["KeyCount"] == 0
    passing = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": other},
        {"CopySourceIfModifiedSince": before},
        {"CopySourceIfUnmodifiedSince": after},
        {"CopySourceIfUnmodifiedSince": modified},
        # If-Match true wins over If-Unmodified-Since false (S3's documented rule).
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": before},
    ]
    for i, conditions in enumerate(passing):
        s3.copy_object(Bucket=bucket, Key=f"dst{i}", CopySource=src, **conditions)
        assert s3.get_object(Bucket=bucket, Key=f"dst{i}")["Body"].read() == b"cond", conditions


def test_copy_missing_source(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "absent"})
    assert error_code(e) == "NoSuchKey"
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": f"{bucket}-none", "Key": "absent"})
    assert error_code(e) == "NoSuchBucket"


def test_copy_of_multipart_object(s3, bucket):
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="video/mp4", Metadata={"m": "mp"})
    parts = []
    for number, data in enumerate(parts_data, start=1):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=number, Body=data)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    whole = b"".join(parts_data)
    s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
    got = s3.get_object(Bucket=bucket, Key="mp-copy")
    body = got["Body"].read()
    assert len(body) == len(whole)
    assert hashlib.sha256(body).digest() == hashlib.sha256(whole).digest()
    assert got["ContentType"] == "video/mp4"
    assert got["Metadata"] == {"m": "mp"}
    assert s3.head_object(Bucket=bucket, Key="mp-copy")["ContentLength"] == 10 * MiB


@pytest.mark.parametrize("key", ["with space.txt", "plus+sign", "ünïcødé/文件.txt", "both + and space", "percent%20literal", "q?x=1&y"])
def test_copy_awkward_keys(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    target = f"copy of {key}"
    s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
    assert s3.get_object(Bucket=bucket, Key=target)["Body"].read() == key.encode()
    # The string form, which boto3 URL-encodes for us.
    s3.copy_object(Bucket=bucket, Key=target + "-2", CopySource=f"{bucket}/{key}")
    assert s3.get_object(Bucket=bucket, Key=target + "-2")["Body"].read() == key.encode()


# -- Keys --------------------------------------------------------------------------------------

AWKWARD_KEYS = [
    "ünïcødé-ключ-鍵-🔑",
    "with space",
    "  leading and trailing spaces  ",
    "plus+sign",
    "100%",
    "%2F-not-a-slash",
    "a//b",
    "double//slash//",
    "..",
    "a/../b",
    "./dot",
    "trailing/",
    "/leading-slash",
    " ",
    "?query#fragment",
    "new\nline and\rreturn",
    "ctrl\x01char",
    "tab\tchar",
    "semi;colon,comma=equals&amp",
    "quote'\"<xml>",
    "~tilde!*()",
    "k" * 1024,
    "é" * 512,  # 1,024 bytes of UTF-8
]


@pytest.mark.parametrize("key", AWKWARD_KEYS, ids=range(len(AWKWARD_KEYS)))
def test_awkward_keys_round_trip(s3, bucket, key):
    body = f"body of {key!r}".encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == [key]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_key_longer_than_1024_bytes(s3, bucket):
    for key in ("k" * 1025, "é" * 513):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert error_code(e) == "KeyTooLongError"
        assert status(e) == 400
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_many_awkward_keys_list_in_utf8_order(s3, bucket):
    keys = [k for k in AWKWARD_KEYS if len(k) < 100]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = [
        o["Key"]
        for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4})
        for o in p.get("Contents", [])
    ]
    assert listed == sorted(keys, key=lambda k: k.encode("utf-8"))


# -- An overwrite while a reader streams the old object ---------------------------------------


def test_overwrite_during_read_is_atomic(server, s3, bucket):
    old = os.urandom(20 * MiB)
    new = os.urandom(20 * MiB)
    s3.put_object(Bucket=bucket, Key="big", Body=old)
    reader = server.client()
    resp = reader.get_object(Bucket=bucket, Key="big")
    assert resp["ETag"] == md5_etag(old)
    body = resp["Body"]
    first = body.read(64 * 1024)
    assert first == old[: 64 * 1024]

    put = s3.put_object(Bucket=bucket, Key="big", Body=new)
    assert put["ETag"] == md5_etag(new)

    rest = body.read()
    whole = first + rest
    assert len(whole) == len(old)
    assert hashlib.sha256(whole).digest() == hashlib.sha256(old).digest()

    fresh = s3.get_object(Bucket=bucket, Key="big")
    assert fresh["ETag"] == md5_etag(new)
    assert hashlib.sha256(fresh["Body"].read()).digest() == hashlib.sha256(new).digest()


def test_overwrite_during_ranged_read_is_atomic(server, s3, bucket):
    old = os.urandom(4 * MiB)
    s3.put_object(Bucket=bucket, Key="big", Body=old)
    resp = server.client().get_object(Bucket=bucket, Key="big", Range=f"bytes={MiB}-")
    body = resp["Body"]
    first = body.read(1024)
    s3.put_object(Bucket=bucket, Key="big", Body=b"tiny")
    assert first + body.read() == old[MiB:]
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == b"tiny"
