"""Object lock as it is today: no bucket has it, and every object-lock operation says so with
S3's answer for such a bucket (never a pretended lock)."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_multipart import error

RETENTION = {"Mode": "GOVERNANCE", "RetainUntilDate": dt.datetime(2099, 1, 1, tzinfo=dt.UTC)}


def test_bucket_without_object_lock(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert error(exc) == (404, "ObjectLockConfigurationNotFoundError")
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=conf)
    assert error(exc) == (409, "InvalidBucketState")
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert error(exc) == (404, "ObjectLockConfigurationNotFoundError")


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
    # The object is untouched and deletable: nothing locked it.
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=bucket, Key="k")
    assert error(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket="no-such-bucket-anywhere")
    assert error(exc) == (404, "NoSuchBucket")
