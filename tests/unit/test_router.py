"""The router table: every operation once, picked by method, target, query words and headers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import botocore
import pytest

from hoard.s3.errors import S3Error
from hoard.s3.router import ROUTES, route, split_target


def r(method, path, params=None, headers=None, host="127.0.0.1:9000", domain=None):
    return route(method, path, host, params or {}, headers or {}, domain)


@pytest.mark.parametrize(
    "method,path,params,headers,expected",
    [
        ("GET", "/", {}, {}, "ListBuckets"),
        ("PUT", "/b", {}, {}, "CreateBucket"),
        ("HEAD", "/b", {}, {}, "HeadBucket"),
        ("GET", "/b", {}, {}, "ListObjects"),
        ("GET", "/b", {"list-type": "2"}, {}, "ListObjectsV2"),
        ("GET", "/b/", {"versions": ""}, {}, "ListObjectVersions"),
        ("GET", "/b", {"uploads": ""}, {}, "ListMultipartUploads"),
        ("GET", "/b", {"location": ""}, {}, "GetBucketLocation"),
        ("POST", "/b", {"delete": ""}, {}, "DeleteObjects"),
        ("DELETE", "/b", {}, {}, "DeleteBucket"),
        ("PUT", "/b/k", {}, {}, "PutObject"),
        ("PUT", "/b/k", {}, {"x-amz-copy-source": "/a/b"}, "CopyObject"),
        ("PUT", "/b/k", {"partNumber": "1", "uploadId": "u"}, {}, "UploadPart"),
        ("PUT", "/b/k", {"partNumber": "1", "uploadId": "u"}, {"x-amz-copy-source": "/a/b"}, "UploadPartCopy"),
        ("POST", "/b/k", {"uploads": ""}, {}, "CreateMultipartUpload"),
        ("POST", "/b/k", {"uploadId": "u"}, {}, "CompleteMultipartUpload"),
        ("DELETE", "/b/k", {"uploadId": "u"}, {}, "AbortMultipartUpload"),
        ("GET", "/b/k", {"uploadId": "u"}, {}, "ListParts"),
        ("GET", "/b/k", {}, {}, "GetObject"),
        ("HEAD", "/b/k", {}, {}, "HeadObject"),
        ("DELETE", "/b/k", {}, {}, "DeleteObject"),
        ("GET", "/b/k", {"acl": ""}, {}, "GetObjectAcl"),
        ("PUT", "/b", {"versioning": ""}, {}, "PutBucketVersioning"),
    ],
)
def test_routes(method, path, params, headers, expected):
    assert r(method, path, params, headers).name == expected


def test_keys_keep_every_character():
    assert split_target("/b/a//b/../c/", "h", None) == ("b", "a//b/../c/")
    assert split_target("/b/", "h", None) == ("b", None)
    assert split_target("/", "h", None) == (None, None)


def test_a_bucket_or_key_holding_nul_is_invalid_uri():
    """U+0000 names nothing: no store can hold it (PostgreSQL's text), nor XML 1.0 carry it."""
    for path in ("/b/a\x00b", "/b\x00/k", "/b\x00"):
        with pytest.raises(S3Error) as e:
            r("GET", path)
        assert e.value.code == "InvalidURI"


def test_virtual_hosted_style():
    op = r("GET", "/photos/cat.jpg", host="my-bucket.s3.localhost:9000", domain="s3.localhost")
    assert (op.name, op.bucket, op.key) == ("GetObject", "my-bucket", "photos/cat.jpg")
    op = r("GET", "/", host="my-bucket.s3.localhost", domain="s3.localhost")
    assert (op.name, op.bucket) == ("ListObjects", "my-bucket")
    # The bare domain is the service endpoint.
    assert r("GET", "/", host="s3.localhost:9000", domain="s3.localhost").name == "ListBuckets"


def test_unknown_method_is_method_not_allowed():
    with pytest.raises(S3Error) as e:
        r("PATCH", "/b/k")
    assert e.value.code == "MethodNotAllowed" and e.value.status == 405


def test_every_botocore_operation_is_in_the_table():
    """Every operation in botocore's S3 model has one row, so nothing falls through to a wrong handler."""
    model_path = Path(botocore.__file__).parent / "data" / "s3" / "2006-03-01" / "service-2.json.gz"
    model = json.loads(gzip.open(model_path).read())
    names = {r.name for r in ROUTES}
    # Older aliases of operations the table has under their current names, and one the S3 API
    # routes to a separate endpoint.
    aliases = {"GetBucketLifecycle", "PutBucketLifecycle", "GetBucketNotification", "PutBucketNotification",
               "ListDirectoryBuckets", "WriteGetObjectResponse"}
    missing = set(model["operations"]) - names - aliases
    assert not missing
    assert len(names) == len(ROUTES), "an operation appears twice"
