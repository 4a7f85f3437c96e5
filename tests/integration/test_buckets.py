"""Bucket operations with boto3 against a real server, checked against S3's documented behaviour.

CreateBucket, HeadBucket, GetBucketLocation, DeleteBucket, ListBuckets (with paging), the ACL
operations as far as Hoard implements them, and NotImplemented (501) for everything it does not.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from botocore.exceptions import ClientError


def unique(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def error_code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def status(exc: pytest.ExceptionInfo) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def new_name(s3):
    """A fresh bucket name; whatever bucket the test made under it is removed afterwards."""
    names: list[str] = []

    def make(prefix: str = "b") -> str:
        names.append(unique(prefix))
        return names[-1]

    yield make
    for name in names:
        try:
            for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
            s3.delete_bucket(Bucket=name)
        except ClientError:
            pass


# -- CreateBucket, GetBucketLocation, HeadBucket ---------------------------------------------


def test_create_bucket_without_location_is_us_east_1(s3, new_name):
    name = new_name()
    resp = s3.create_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Location"] == f"/{name}"
    # S3 reports us-east-1 as an empty LocationConstraint, which boto3 shows as None.
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert head["BucketRegion"] == "us-east-1"
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"


def test_create_bucket_with_location_constraint(s3, new_name):
    name = new_name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
    listed = s3.list_buckets(Prefix=name)["Buckets"]
    assert [(b["Name"], b["BucketRegion"]) for b in listed] == [(name, "eu-west-1")]


def test_create_bucket_with_empty_configuration_document(s3, new_name):
    name = new_name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None


def test_create_bucket_malformed_location_constraint(s3, new_name):
    name = new_name()
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "not a region!"})
    assert error_code(e) == "InvalidLocationConstraint"
    assert status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert status(e) == 404


def test_create_existing_bucket_in_us_east_1_succeeds_and_resets_only_its_acl(s3, bucket):
    """S3's us-east-1 answers 200 to its owner re-creating a bucket (the AWS CLI's `s3 mb` on a
    bucket that exists) and resets the bucket's ACL to the request's; the bucket keeps its objects."""
    s3.put_object(Bucket=bucket, Key="kept", Body=b"still here")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    again = s3.create_bucket(Bucket=bucket)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"still here"
    assert [g["Permission"] for g in s3.get_bucket_acl(Bucket=bucket)["Grants"]] == ["FULL_CONTROL"]
    s3.create_bucket(Bucket=bucket, ACL="authenticated-read")
    assert {g["Grantee"].get("URI") for g in s3.get_bucket_acl(Bucket=bucket)["Grants"]} == {None, "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}


def test_create_existing_bucket_elsewhere_is_already_owned_by_you(s3, bucket):
    """Everywhere but us-east-1, S3 answers the owner 409 BucketAlreadyOwnedByYou."""
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error_code(e) == "BucketAlreadyOwnedByYou"
    assert status(e) == 409
    assert e.value.response["Error"].get("BucketName") == bucket
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] in (None, "")


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # shorter than 3
        "a" * 64,  # longer than 63
        "UpperCase",
        "under_score",
        "-leading-hyphen",
        "trailing-hyphen-",
        ".leading-dot",
        "trailing-dot.",
        "double..dot",
        "dot.-hyphen",
        "hyphen-.dot",
        "192.168.5.4",
        "xn--reserved-prefix",
        "sthree-reserved",
        "reserved-suffix-s3alias",
        "reserved--ol-s3",
    ],
)
def test_invalid_bucket_names(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert error_code(e) == "InvalidBucketName"
    assert status(e) == 400


def test_valid_bucket_name_edges(s3, new_name):
    base = new_name()
    for name in (base[:3], (base + "x" * 63)[:63], f"{base}.with.dots", f"{base}-with-1-digit"):
        s3.create_bucket(Bucket=name)
        try:
            assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        finally:
            s3.delete_bucket(Bucket=name)


def test_head_missing_bucket_is_404(s3):
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=unique("missing"))
    assert status(e) == 404
    # HEAD answers carry no body, so boto3 names the error by its status.
    assert error_code(e) == "404"


# -- DeleteBucket ------------------------------------------------------------------------------


def test_delete_bucket(s3, new_name):
    name = new_name()
    s3.create_bucket(Bucket=name)
    resp = s3.delete_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert status(e) == 404
    assert name not in [b["Name"] for b in s3.list_buckets(Prefix=name)["Buckets"]]
    # The name is free again.
    s3.create_bucket(Bucket=name)
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_delete_non_empty_bucket_is_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(e) == "BucketNotEmpty"
    assert status(e) == 409
    # Nothing was removed.
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"1"
    s3.delete_object(Bucket=bucket, Key="one")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_bucket_with_pending_upload_aborts_it(s3, new_name):
    name = new_name()
    s3.create_bucket(Bucket=name)
    s3.create_multipart_upload(Bucket=name, Key="pending")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


# -- NoSuchBucket ------------------------------------------------------------------------------

MISSING_BUCKET_CALLS = [
    ("delete_bucket", {}),
    ("get_bucket_location", {}),
    ("get_bucket_acl", {}),
    ("get_bucket_versioning", {}),
    ("list_objects", {}),
    ("list_objects_v2", {}),
    ("list_object_versions", {}),
    ("list_multipart_uploads", {}),
    ("put_object", {"Key": "k", "Body": b"data"}),
    ("get_object", {"Key": "k"}),
    ("get_object_acl", {"Key": "k"}),
    ("delete_object", {"Key": "k"}),
    ("delete_objects", {"Delete": {"Objects": [{"Key": "k"}]}}),
    ("create_multipart_upload", {"Key": "k"}),
    ("copy_object", {"Key": "k", "CopySource": "nowhere-bucket-xyz/k"}),
]


@pytest.mark.parametrize("method,kwargs", MISSING_BUCKET_CALLS, ids=[m for m, _ in MISSING_BUCKET_CALLS])
def test_operations_on_missing_bucket_are_no_such_bucket(s3, method, kwargs):
    name = unique("missing")
    with pytest.raises(ClientError) as e:
        getattr(s3, method)(Bucket=name, **kwargs)
    assert error_code(e) == "NoSuchBucket"
    assert status(e) == 404
    assert e.value.response["Error"].get("BucketName") == name


def test_head_object_on_missing_bucket_is_404(s3):
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=unique("missing"), Key="k")
    assert status(e) == 404


# -- ListBuckets -------------------------------------------------------------------------------


def test_list_buckets_owner_and_creation_date(s3, bucket):
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    resp = s3.list_buckets()
    mine = [b for b in resp["Buckets"] if b["Name"] == bucket]
    assert len(mine) == 1
    created = mine[0]["CreationDate"]
    assert isinstance(created, dt.datetime)
    assert before <= created <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    owner = resp["Owner"]
    assert owner["ID"] and owner["DisplayName"]
    names = [b["Name"] for b in resp["Buckets"]]
    assert names == sorted(names)

    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Owner"] == owner
    s3.put_object(Bucket=bucket, Key="owned", Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
    assert listed[0]["Owner"] == owner
    # Without FetchOwner, ListObjectsV2 leaves the owner out.
    assert "Owner" not in s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    # ListObjects (v1) always includes it.
    assert s3.list_objects(Bucket=bucket)["Contents"][0]["Owner"] == owner
    assert s3.get_object_acl(Bucket=bucket, Key="owned")["Owner"] == owner


def test_list_buckets_creation_date_is_stable(s3, bucket):
    first = [b for b in s3.list_buckets(Prefix=bucket)["Buckets"]]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    second = [b for b in s3.list_buckets(Prefix=bucket)["Buckets"]]
    assert first == second


def test_list_buckets_paging_with_prefix(s3, new_name):
    prefix = new_name("page")
    names = sorted(f"{prefix}-{i}" for i in range(5))
    for name in names:
        s3.create_bucket(Bucket=name)
    try:
        resp = s3.list_buckets(Prefix=prefix)
        assert [b["Name"] for b in resp["Buckets"]] == names
        assert resp["Prefix"] == prefix
        assert "ContinuationToken" not in resp

        seen: list[str] = []
        token = None
        pages = 0
        while True:
            kwargs = {"Prefix": prefix, "MaxBuckets": 2}
            if token:
                kwargs["ContinuationToken"] = token
            page = s3.list_buckets(**kwargs)
            pages += 1
            assert len(page["Buckets"]) <= 2
            assert page["Owner"]["ID"]
            seen += [b["Name"] for b in page["Buckets"]]
            token = page.get("ContinuationToken")
            if not token:
                break
        assert seen == names
        assert pages == 3

        paginated = s3.get_paginator("list_buckets").paginate(Prefix=prefix, PaginationConfig={"PageSize": 2})
        assert [b["Name"] for page in paginated for b in page["Buckets"]] == names

        exact = s3.list_buckets(Prefix=prefix, MaxBuckets=5)
        assert [b["Name"] for b in exact["Buckets"]] == names
        assert "ContinuationToken" not in exact

        assert s3.list_buckets(Prefix=prefix + "-nothing")["Buckets"] == []
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)


def test_list_buckets_invalid_max_buckets(s3):
    for bad in (10001, 99999):
        with pytest.raises(ClientError) as e:
            s3.list_buckets(MaxBuckets=bad)
        assert error_code(e) == "InvalidArgument"
        assert status(e) == 400


def test_list_buckets_garbage_continuation_token(s3):
    with pytest.raises(ClientError) as e:
        s3.list_buckets(ContinuationToken="!!not-a-token!!")
    assert error_code(e) == "InvalidArgument"


# -- ACLs --------------------------------------------------------------------------------------


def assert_owner_full_control(acl: dict) -> None:
    owner = acl["Owner"]
    assert owner["ID"]
    assert len(acl["Grants"]) == 1
    grant = acl["Grants"][0]
    assert grant["Permission"] == "FULL_CONTROL"
    assert grant["Grantee"]["Type"] == "CanonicalUser"
    assert grant["Grantee"]["ID"] == owner["ID"]
    assert grant["Grantee"]["DisplayName"] == owner["DisplayName"]


def test_get_bucket_acl_owner_full_control(s3, bucket):
    assert_owner_full_control(s3.get_bucket_acl(Bucket=bucket))


def test_get_object_acl_owner_full_control(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert_owner_full_control(s3.get_object_acl(Bucket=bucket, Key="k"))
    with pytest.raises(ClientError) as e:
        s3.get_object_acl(Bucket=bucket, Key="missing")
    assert error_code(e) == "NoSuchKey"


def test_put_bucket_acl_private_is_accepted(s3, bucket):
    resp = s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_owner_full_control(s3.get_bucket_acl(Bucket=bucket))


def test_put_bucket_acl_owner_only_document_is_accepted(s3, bucket):
    acl = s3.get_bucket_acl(Bucket=bucket)
    policy = {"Owner": acl["Owner"], "Grants": acl["Grants"]}
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)
    assert_owner_full_control(s3.get_bucket_acl(Bucket=bucket))


ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def group_grants(acl: dict) -> set[tuple[str, str]]:
    return {(g["Grantee"]["URI"], g["Permission"]) for g in acl["Grants"] if g["Grantee"]["Type"] == "Group"}


@pytest.mark.parametrize(
    "canned,expected",
    [
        ("public-read", {(ALL_USERS, "READ")}),
        ("public-read-write", {(ALL_USERS, "READ"), (ALL_USERS, "WRITE")}),
        ("authenticated-read", {(AUTHENTICATED, "READ")}),
        ("private", set()),
    ],
)
def test_canned_bucket_acls(s3, bucket, canned, expected):
    s3.put_bucket_acl(Bucket=bucket, ACL=canned)
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert group_grants(acl) == expected
    owner = [g for g in acl["Grants"] if g["Grantee"]["Type"] == "CanonicalUser"]
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in owner] == [(acl["Owner"]["ID"], "FULL_CONTROL")]


def test_bucket_acl_by_document_and_by_grant_header(s3, bucket):
    acl = s3.get_bucket_acl(Bucket=bucket)
    grants = acl["Grants"] + [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": acl["Owner"], "Grants": grants})
    assert group_grants(s3.get_bucket_acl(Bucket=bucket)) == {(ALL_USERS, "READ")}
    s3.put_bucket_acl(Bucket=bucket, GrantRead=f'uri="{AUTHENTICATED}"', GrantFullControl=f'id="{acl["Owner"]["ID"]}"')
    assert group_grants(s3.get_bucket_acl(Bucket=bucket)) == {(AUTHENTICATED, "READ")}


def test_bad_acls_are_refused_and_change_nothing(s3, bucket):
    acl = s3.get_bucket_acl(Bucket=bucket)
    unknown = acl["Grants"] + [{"Grantee": {"Type": "CanonicalUser", "ID": "f" * 64}, "Permission": "READ"}]
    bad = [
        (lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": acl["Owner"], "Grants": unknown}), "InvalidArgument"),
        (lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-everything"), "InvalidArgument"),
        (lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read", GrantRead=f'uri="{ALL_USERS}"'), "InvalidRequest"),
        (lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead='uri="http://example.com/nobody"'), "InvalidArgument"),
        (lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead='emailAddress="someone@example.com"'), "UnresolvableGrantByEmailAddress"),
    ]
    for call, code in bad:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == code
    assert_owner_full_control(s3.get_bucket_acl(Bucket=bucket))


def test_object_acls_open_and_close_anonymous_reads(server, s3, bucket):
    """The console's "make public" and back, as a user does it; anonymous reads follow."""
    import requests

    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = f"{server.endpoint}/{bucket}/k"
    assert requests.get(url, timeout=10).status_code == 403
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert group_grants(s3.get_object_acl(Bucket=bucket, Key="k")) == {(ALL_USERS, "READ")}
    got = requests.get(url, timeout=10)
    assert (got.status_code, got.content) == (200, b"x")
    assert requests.put(url, data=b"y", timeout=10).status_code == 403  # READ is not WRITE
    assert requests.get(f"{server.endpoint}/{bucket}/k?acl", timeout=10).status_code == 403  # nor READ_ACP
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert requests.get(url, timeout=10).status_code == 403
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_acl_given_with_writes(server, s3, new_name):
    import requests

    name = new_name()
    s3.create_bucket(Bucket=name, ACL="public-read")
    assert group_grants(s3.get_bucket_acl(Bucket=name)) == {(ALL_USERS, "READ")}
    assert requests.get(f"{server.endpoint}/{name}?list-type=2", timeout=10).status_code == 200  # the bucket's READ lists it
    s3.put_object(Bucket=name, Key="open", Body=b"o", ACL="public-read")
    s3.put_object(Bucket=name, Key="closed", Body=b"c")
    s3.copy_object(Bucket=name, Key="copied", CopySource={"Bucket": name, "Key": "open"})  # a copy does not take the source's ACL
    upload = s3.create_multipart_upload(Bucket=name, Key="multi", ACL="public-read")
    etag = s3.upload_part(Bucket=name, Key="multi", UploadId=upload["UploadId"], PartNumber=1, Body=b"m")["ETag"]
    s3.complete_multipart_upload(Bucket=name, Key="multi", UploadId=upload["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    codes = {key: requests.get(f"{server.endpoint}/{name}/{key}", timeout=10).status_code for key in ("open", "closed", "copied", "multi")}
    assert codes == {"open": 200, "closed": 403, "copied": 403, "multi": 200}
    for key in ("open", "closed", "copied", "multi"):
        s3.delete_object(Bucket=name, Key=key)
    s3.delete_bucket(Bucket=name)


# -- Versioning and everything not implemented -----------------------------------------------


def test_get_bucket_versioning_has_no_status(s3, bucket):
    resp = s3.get_bucket_versioning(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in resp
    assert "MFADelete" not in resp


NOT_IMPLEMENTED_BUCKET_CALLS = [
    (
        "put_bucket_encryption",
        {"ServerSideEncryptionConfiguration": {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}]}},
    ),
    ("put_bucket_notification_configuration", {"NotificationConfiguration": {}}),
    ("put_bucket_request_payment", {"RequestPaymentConfiguration": {"Payer": "Requester"}}),
    ("put_bucket_accelerate_configuration", {"AccelerateConfiguration": {"Status": "Enabled"}}),
]


@pytest.mark.parametrize(
    "method,kwargs", NOT_IMPLEMENTED_BUCKET_CALLS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(NOT_IMPLEMENTED_BUCKET_CALLS)]
)
def test_unimplemented_bucket_operations_are_501(s3, bucket, method, kwargs):
    with pytest.raises(ClientError) as e:
        getattr(s3, method)(Bucket=bucket, **kwargs)
    assert error_code(e) == "NotImplemented"
    assert status(e) == 501
    # Nothing was silently switched on.
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


NOT_IMPLEMENTED_OBJECT_CALLS = [
    ("get_object_torrent", {}),
]


@pytest.mark.parametrize("method,kwargs", NOT_IMPLEMENTED_OBJECT_CALLS, ids=[m for m, _ in NOT_IMPLEMENTED_OBJECT_CALLS])
def test_unimplemented_object_operations_are_501(s3, bucket, method, kwargs):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        getattr(s3, method)(Bucket=bucket, Key="k", **kwargs)
    assert error_code(e) == "NotImplemented"
    assert status(e) == 501
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


@pytest.mark.parametrize("kwargs", [{"ServerSideEncryption": "aws:kms:dsse"}], ids=["dsse-kms"])
def test_put_object_with_unimplemented_features_is_501_and_writes_nothing(s3, bucket, kwargs):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", **kwargs)
    assert error_code(e) == "NotImplemented"
    assert status(e) == 501
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_website_redirect_location_is_kept_and_checked(s3, bucket):
    s3.put_object(Bucket=bucket, Key="old", Body=b"", WebsiteRedirectLocation="/new.html")
    assert s3.head_object(Bucket=bucket, Key="old")["WebsiteRedirectLocation"] == "/new.html"
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "old"})
    assert s3.head_object(Bucket=bucket, Key="copy")["WebsiteRedirectLocation"] == "/new.html"
    for bad in ["new.html", "ftp://x/y", "/" + "a" * 2048]:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="bad", Body=b"", WebsiteRedirectLocation=bad)
        assert error_code(e) == "InvalidRedirectLocation"
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == ["copy", "old"]


def test_create_bucket_with_tags_keeps_them(s3, new_name):
    name = new_name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"Tags": [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": ""}]})
    try:
        assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "env", "Value": ""}, {"Key": "team", "Value": "storage"}]
    finally:
        s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"Tags": [{"Key": "aws:x", "Value": "1"}]})
    assert error_code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert status(e) == 404


def test_object_ownership_controls(server, s3, new_name):
    """BucketOwnerEnforced turns ACLs off: only bucket-owner-full-control is taken, every other
    ACL is refused, and a public ACL grants nothing; the other settings keep ACLs."""
    import requests

    name = new_name()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_ownership_controls(Bucket=name)
    assert (status(e), error_code(e)) == (404, "OwnershipControlsNotFoundError")
    s3.put_object(Bucket=name, Key="public", Body=b"p", ACL="public-read")
    s3.put_bucket_acl(Bucket=name, ACL="public-read")
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=enforced)
    assert (status(e), error_code(e)) == (400, "InvalidBucketAclWithObjectOwnership")
    s3.put_bucket_acl(Bucket=name, ACL="private")
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=enforced)
    assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"] == enforced
    assert requests.get(f"{server.endpoint}/{name}/public", timeout=10).status_code == 403  # its ACL no longer counts
    s3.put_object(Bucket=name, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    for call in (
        lambda: s3.put_object(Bucket=name, Key="k2", Body=b"x", ACL="private"),
        lambda: s3.create_multipart_upload(Bucket=name, Key="k3", ACL="public-read"),
        lambda: s3.copy_object(Bucket=name, Key="k4", CopySource={"Bucket": name, "Key": "k"}, ACL="private"),
        lambda: s3.put_bucket_acl(Bucket=name, ACL="private"),
        lambda: s3.put_object_acl(Bucket=name, Key="k", ACL="private"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert (status(e), error_code(e)) == (400, "AccessControlListNotSupported")
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    assert requests.get(f"{server.endpoint}/{name}/public", timeout=10).status_code == 200  # ACLs count again
    s3.delete_bucket_ownership_controls(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_ownership_controls(Bucket=name)
    assert error_code(e) == "OwnershipControlsNotFoundError"
    other = new_name()
    s3.create_bucket(Bucket=other, ObjectOwnership="BucketOwnerEnforced")
    assert s3.get_bucket_ownership_controls(Bucket=other)["OwnershipControls"] == enforced
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=new_name(), ObjectOwnership="BucketOwnerEnforced", ACL="public-read")
    assert error_code(e) == "InvalidBucketAclWithObjectOwnership"
    for bucket_name, keys in ((name, ("public", "k")), (other, ())):
        for key in keys:
            s3.delete_object(Bucket=bucket_name, Key=key)
        s3.delete_bucket(Bucket=bucket_name)
