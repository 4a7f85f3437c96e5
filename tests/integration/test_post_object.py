"""PostObject: browser-based uploads with a POST policy, signed by boto3's generate_presigned_post
(SigV4, and SigV2 with signature_version='s3') and sent as a browser would, with requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import ACCESS_KEY, SECRET_KEY
from tests.wire import Reply, assert_missing


@pytest.fixture
def v4(server):
    return server.client(signature_version="s3v4")


@pytest.fixture
def v2(server):
    return server.client(signature_version="s3")


def _post(url: str, fields: dict[str, str], content: bytes = b"hello", filename: str = "hello.txt", **kw) -> Reply:
    r = requests.post(url, data=fields, files={"file": (filename, content)}, allow_redirects=False, timeout=120, **kw)
    return Reply(r.status_code, r.headers, r.content)  # type: ignore[arg-type]  # case-insensitive


def _raw(server, bucket: str, body: bytes, content_type: str) -> Reply:
    r = requests.post(f"{server.endpoint}/{bucket}", data=body, headers={"Content-Type": content_type}, allow_redirects=False, timeout=60)
    return Reply(r.status_code, r.headers, r.content)  # type: ignore[arg-type]  # case-insensitive


def _multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = "XyZzYboundary", close: bool = True) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return out + (f"--{boundary}--\r\n".encode() if close else b"")


def _v2_fields(policy: dict, **fields: str) -> dict[str, str]:
    """A hand-made SigV2 form (as ceph/s3-tests builds them), for policies boto3 would not write."""
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    signature = base64.b64encode(hmac.new(SECRET_KEY.encode(), encoded.encode(), hashlib.sha1).digest()).decode()
    return {"AWSAccessKeyId": ACCESS_KEY, "policy": encoded, "signature": signature, **fields}


def _expires(seconds: int = 600) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


@pytest.mark.parametrize("client_name", ["v4", "v2"])
def test_upload_stores_object_with_headers_and_metadata(request, client_name, bucket, s3):
    client = request.getfixturevalue(client_name)
    post = client.generate_presigned_post(
        bucket,
        "docs/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-colour": "blue", "Cache-Control": "max-age=60"},
        Conditions=[
            ["starts-with", "$key", "docs/"],
            {"Content-Type": "text/plain"},
            {"x-amz-meta-colour": "blue"},
            {"Cache-Control": "max-age=60"},
        ],
    )
    reply = _post(post["url"], post["fields"], b"hello world", filename="C:\\Users\\me\\note.txt")
    assert reply.status == 204, reply.body
    assert reply.body == b""
    assert reply.headers["ETag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'
    obj = s3.get_object(Bucket=bucket, Key="docs/note.txt")
    assert obj["Body"].read() == b"hello world"
    assert obj["ContentType"] == "text/plain"
    assert obj["CacheControl"] == "max-age=60"
    assert obj["Metadata"] == {"colour": "blue"}


def test_success_action_status(v4, s3, bucket):
    for status, expected in (("200", 200), ("201", 201), ("204", 204), ("404", 204), ("", 204)):
        post = v4.generate_presigned_post(
            bucket, "k", Fields={"success_action_status": status}, Conditions=[{"success_action_status": status}]
        )
        reply = _post(post["url"], post["fields"], b"data")
        assert reply.status == expected, (status, reply.body)
        if expected == 201:
            root = ET.fromstring(reply.body)
            assert root.tag == "PostResponse"
            assert root.findtext("Bucket") == bucket
            assert root.findtext("Key") == "k"
            assert root.findtext("ETag") == f'"{hashlib.md5(b"data").hexdigest()}"'
            assert root.findtext("Location").endswith(f"/{bucket}/k")
        else:
            assert reply.body == b""


def test_success_action_redirect(v4, s3, bucket):
    target = "https://example.invalid/done?from=form"
    post = v4.generate_presigned_post(
        bucket, "a b/c.txt", Fields={"success_action_redirect": target}, Conditions=[{"success_action_redirect": target}]
    )
    reply = _post(post["url"], post["fields"], b"data")
    assert reply.status == 303, reply.body
    location = urlsplit(reply.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "example.invalid", "/done")
    assert parse_qs(location.query) == {
        "from": ["form"],
        "bucket": [bucket],
        "key": ["a b/c.txt"],
        "etag": [f'"{hashlib.md5(b"data").hexdigest()}"'],
    }
    # A redirect that is not a URL is ignored, as S3 does.
    post = v4.generate_presigned_post(bucket, "k2", Fields={"redirect": "nowhere"}, Conditions=[{"redirect": "nowhere"}])
    assert _post(post["url"], post["fields"]).status == 204


def test_content_length_range_stores_nothing_outside_it(v4, s3, bucket):
    post = v4.generate_presigned_post(bucket, "sized", Conditions=[["content-length-range", 5, 10]])
    small = _post(post["url"], post["fields"], b"1234")
    assert (small.status, small.code) == (400, "EntityTooSmall")
    large = _post(post["url"], post["fields"], b"12345678901")
    assert (large.status, large.code) == (400, "EntityTooLarge")
    assert_missing(s3, bucket, "sized")
    big = _post(post["url"], post["fields"], os.urandom(3 * 1024 * 1024))  # refused while it streams
    assert (big.status, big.code) == (400, "EntityTooLarge")
    assert_missing(s3, bucket, "sized")
    assert _post(post["url"], post["fields"], b"12345").status == 204


def test_expired_policy(v4, s3, bucket):
    post = v4.generate_presigned_post(bucket, "k", ExpiresIn=-60)
    reply = _post(post["url"], post["fields"])
    assert (reply.status, reply.code) == (403, "AccessDenied")
    assert reply.field("Message") == "Invalid according to Policy: Policy expired."
    assert_missing(s3, bucket, "k")


@pytest.mark.parametrize("client_name", ["v4", "v2"])
def test_bad_signature_and_unknown_key(request, client_name, s3, bucket):
    client = request.getfixturevalue(client_name)
    post = client.generate_presigned_post(bucket, "k")
    sig = "x-amz-signature" if client_name == "v4" else "signature"
    bad = dict(post["fields"], **{sig: post["fields"][sig][::-1]})
    reply = _post(post["url"], bad)
    assert (reply.status, reply.code) == (403, "SignatureDoesNotMatch")
    if client_name == "v2":
        stranger = dict(post["fields"], AWSAccessKeyId="NOSUCHKEY")
    else:
        stranger = dict(post["fields"], **{"x-amz-credential": "NOSUCHKEY/" + post["fields"]["x-amz-credential"].split("/", 1)[1]})
    reply = _post(post["url"], stranger)
    assert (reply.status, reply.code) == (403, "InvalidAccessKeyId")
    missing = {k: v for k, v in post["fields"].items() if k != sig}
    reply = _post(post["url"], missing)
    assert (reply.status, reply.code) == (400, "InvalidArgument")
    assert_missing(s3, bucket, "k")


def test_policy_conditions(v4, s3, bucket):
    post = v4.generate_presigned_post(bucket, "user/eric/${filename}", Conditions=[["starts-with", "$key", "user/eric/"]])
    assert _post(post["url"], post["fields"], filename="a.txt").status == 204
    assert s3.get_object(Bucket=bucket, Key="user/eric/a.txt")["Body"].read() == b"hello"
    # A field the policy does not name is refused, even one S3 would store.
    extra = dict(post["fields"], **{"x-amz-meta-sneaky": "1"})
    reply = _post(post["url"], extra)
    assert (reply.status, reply.code) == (403, "AccessDenied")
    assert reply.field("Message") == "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky"
    # ... but x-ignore-* fields are exempt.
    assert _post(post["url"], dict(post["fields"], **{"x-ignore-flash": "1"}), filename="b.txt").status == 204
    # A key outside the prefix breaks the starts-with condition.
    other = dict(post["fields"], key="user/mallory/x")
    reply = _post(post["url"], other)
    assert (reply.status, reply.code) == (403, "AccessDenied")
    assert "Policy Condition failed" in reply.field("Message")
    assert_missing(s3, bucket, "user/mallory/x")


def test_policy_for_another_bucket(v4, s3, bucket):
    post = v4.generate_presigned_post(bucket, "k")
    other = f"{bucket}-2"
    s3.create_bucket(Bucket=other)
    try:
        reply = _post(post["url"].replace(f"/{bucket}", f"/{other}"), post["fields"])
        assert (reply.status, reply.code) == (403, "AccessDenied")
    finally:
        s3.delete_bucket(Bucket=other)


def test_field_names_are_case_insensitive(s3, bucket):
    policy = {
        "expiration": _expires(),
        "conditions": [{"bUcKeT": bucket}, ["StArTs-WiTh", "$KeY", "ci/"], ["eq", "$CoNtEnT-TyPe", "text/csv"]],
    }
    fields = _v2_fields(policy, kEy="ci/one.csv", **{"Content-type": "text/csv"})
    fields = {"PoLiCy" if k == "policy" else "Signature" if k == "signature" else k: v for k, v in fields.items()}
    reply = _post(f"{s3.meta.endpoint_url}/{bucket}", fields, b"a,b")
    assert reply.status == 204, reply.body
    assert s3.get_object(Bucket=bucket, Key="ci/one.csv")["ContentType"] == "text/csv"


def test_missing_key_and_missing_file(s3, bucket, server):
    fields = _v2_fields({"expiration": _expires(), "conditions": [{"bucket": bucket}]})
    reply = _post(f"{server.endpoint}/{bucket}", fields)
    assert (reply.status, reply.code) == (400, "InvalidArgument")
    assert reply.field("ArgumentName") == "key"
    fields = _v2_fields({"expiration": _expires(), "conditions": [{"key": "k"}]}, key="k")
    reply = _raw(server, bucket, _multipart([(k, v.encode(), None) for k, v in fields.items()], "b0"), "multipart/form-data; boundary=b0")
    assert (reply.status, reply.code) == (400, "IncorrectNumberOfFilesInPostRequest")


@pytest.mark.parametrize(
    "document",
    [
        {"conditions": []},
        {"expiration": "2099-01-01 12:00:00", "conditions": []},
        {"expiration": "2099-01-01T00:00:00Z", "conditions": [{}]},
        {"expiration": "2099-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 10]]},
    ],
)
def test_malformed_policy(server, bucket, s3, document):
    reply = _post(f"{server.endpoint}/{bucket}", _v2_fields(document, key="k"))
    assert (reply.status, reply.code) == (400, "InvalidPolicyDocument")
    assert_missing(s3, bucket, "k")


def test_anonymous_upload_needs_a_bucket_that_lets_anyone_write(server, bucket, s3):
    # No credentials and no policy: only the bucket's ACL or policy may let it in.
    reply = _post(f"{server.endpoint}/{bucket}", {"key": "anon"})
    assert (reply.status, reply.code) == (403, "AccessDenied")
    assert_missing(s3, bucket, "anon")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    reply = _post(f"{server.endpoint}/{bucket}", {"key": "anon", "success_action_status": "201"}, b"from anyone")
    assert reply.status == 201, reply.body
    assert s3.get_object(Bucket=bucket, Key="anon")["Body"].read() == b"from anyone"
    # A policy without credentials is still a signed upload missing its signature.
    reply = _post(f"{server.endpoint}/{bucket}", {"key": "anon2", "policy": base64.b64encode(b'{"conditions": []}').decode()})
    assert (reply.status, reply.code) == (400, "InvalidArgument")
    assert_missing(s3, bucket, "anon2")


def test_large_file_streams(v4, s3, bucket):
    data = os.urandom(20 * 1024 * 1024 + 7)
    post = v4.generate_presigned_post(bucket, "big", Conditions=[["content-length-range", 0, 32 * 1024 * 1024]])
    reply = _post(post["url"], post["fields"], data)
    assert reply.status == 204, reply.body
    assert reply.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_body_cut_short_or_malformed_stores_nothing(v4, server, s3, bucket):
    post = v4.generate_presigned_post(bucket, "cut")
    parts = [(k, v.encode(), None) for k, v in post["fields"].items()] + [("file", b"x" * 300_000, "f.bin")]
    ctype = "multipart/form-data; boundary=XyZzYboundary"
    # The body ends inside the file: no closing boundary.
    truncated = _multipart(parts, close=False)[:-1000]
    reply = _raw(server, bucket, truncated, ctype)
    assert (reply.status, reply.code) == (400, "MalformedPOSTRequest")
    # Garbage where a part's headers should be.
    reply = _raw(server, bucket, b"--XyZzYboundary\r\nthis is no header\r\n\r\n", ctype)
    assert (reply.status, reply.code) == (400, "MalformedPOSTRequest")
    # Not a form at all.
    reply = _raw(server, bucket, b"key=cut", "application/x-www-form-urlencoded")
    assert (reply.status, reply.code) == (412, "PreconditionFailed")
    assert_missing(s3, bucket, "cut")
    # The same form, whole, and with a field after the file (ignored, as in S3).
    reply = _raw(server, bucket, _multipart(parts + [("x-amz-meta-late", b"1", None)]), ctype)
    assert reply.status == 204, reply.body
    assert s3.head_object(Bucket=bucket, Key="cut")["Metadata"] == {}


def test_fields_before_the_file_are_capped(v4, server, s3, bucket):
    post = v4.generate_presigned_post(bucket, "capped", Conditions=[["starts-with", "$x-amz-meta-big", ""]])
    reply = _post(post["url"], dict(post["fields"], **{"x-amz-meta-big": "x" * 21_000}))
    assert (reply.status, reply.code) == (400, "MaxPostPreDataLengthExceeded")
    assert_missing(s3, bucket, "capped")


def test_checksums_are_verified(v4, s3, bucket):
    data = b"checked data"
    good_md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    post = v4.generate_presigned_post(bucket, "sum", Fields={"Content-MD5": good_md5}, Conditions=[{"Content-MD5": good_md5}])
    assert _post(post["url"], post["fields"], data).status == 204
    reply = _post(post["url"], post["fields"], b"other data")
    assert (reply.status, reply.code) == (400, "BadDigest")
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    post = v4.generate_presigned_post(bucket, "sum2")
    reply = _post(post["url"], dict(post["fields"], **{"x-amz-checksum-sha256": sha}), data)
    assert reply.status == 204, reply.body
    assert reply.headers["x-amz-checksum-sha256"] == sha
    reply = _post(post["url"], dict(post["fields"], key="sum3", **{"x-amz-checksum-sha256": sha}), b"tampered")
    assert reply.status == 403  # key no longer matches the policy
    post = v4.generate_presigned_post(bucket, "sum3")
    reply = _post(post["url"], dict(post["fields"], **{"x-amz-checksum-sha256": sha}), b"tampered")
    assert (reply.status, reply.code) == (400, "BadDigest")
    assert_missing(s3, bucket, "sum3")


def test_a_form_acl_is_the_objects(v4, s3, bucket):
    post = v4.generate_presigned_post(bucket, "public", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}])
    reply = _post(post["url"], post["fields"])
    assert reply.status == 204, reply.body
    grants = s3.get_object_acl(Bucket=bucket, Key="public")["Grants"]
    assert {(g["Grantee"].get("URI"), g["Permission"]) for g in grants if g["Grantee"]["Type"] == "Group"} == {
        ("http://acs.amazonaws.com/groups/global/AllUsers", "READ")
    }
    s3.delete_object(Bucket=bucket, Key="public")


def test_a_form_asking_for_sse_s3_is_stored_encrypted(v4, s3, bucket):
    name = "x-amz-server-side-encryption"
    post = v4.generate_presigned_post(bucket, "encrypted", Fields={name: "AES256"}, Conditions=[{name: "AES256"}])
    reply = _post(post["url"], post["fields"])
    assert reply.status == 204, reply.body
    head = s3.head_object(Bucket=bucket, Key="encrypted")
    assert head["ServerSideEncryption"] == "AES256"
    s3.delete_object(Bucket=bucket, Key="encrypted")


def test_unimplemented_features_are_refused(v4, s3, bucket):
    for name, value in (("x-amz-server-side-encryption", "aws:kms:dsse"),):
        post = v4.generate_presigned_post(bucket, "feature", Fields={name: value}, Conditions=[{name: value}])
        reply = _post(post["url"], post["fields"])
        assert (reply.status, reply.code) == (501, "NotImplemented"), name
    assert_missing(s3, bucket, "feature")
    post = v4.generate_presigned_post(
        bucket,
        "feature",
        Fields={"acl": "private", "x-amz-storage-class": "STANDARD_IA"},
        Conditions=[{"acl": "private"}, {"x-amz-storage-class": "STANDARD_IA"}],
    )
    assert _post(post["url"], post["fields"]).status == 204
    assert s3.head_object(Bucket=bucket, Key="feature")["StorageClass"] == "STANDARD_IA"


def test_no_such_bucket(v4, s3, server):
    post = v4.generate_presigned_post("no-such-bucket-here", "k")
    reply = _post(post["url"], post["fields"])
    assert (reply.status, reply.code) == (404, "NoSuchBucket")
