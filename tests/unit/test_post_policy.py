"""POST policies and form credentials (PostObject), against botocore's own presigned-POST signer."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest
from botocore.config import Config

from hoard.iam.credentials import FixedKeys, Identity
from hoard.s3.auth.post_policy import (
    FormFields,
    authenticate_form,
    base_filename,
    check_length,
    check_policy,
    parse_policy,
    sign_v2,
)
from hoard.s3.errors import S3Error

ACCESS = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ROOT = Identity(ACCESS, SECRET, "0" * 64, "root")
KEYS = FixedKeys([ROOT])
FUTURE = "2099-01-01T00:00:00.000Z"


def _client(signature_version: str):
    # generate_presigned_post signs locally: no endpoint is contacted.
    return boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(signature_version=signature_version, s3={"addressing_style": "path"}),
    )


def _form(fields: dict[str, str]) -> FormFields:
    form = FormFields()
    for name, value in fields.items():
        form.add(name, value)
    return form


def _encode(document: dict) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def _code(exc: pytest.ExceptionInfo) -> tuple[str, int]:
    return exc.value.code, exc.value.status


# -- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_botocore_presigned_post_authenticates(version):
    post = _client(version).generate_presigned_post("bucket", "k", Conditions=[["starts-with", "$key", ""]])
    form = _form(post["fields"])
    assert authenticate_form(form, KEYS, "us-east-1", strict_region=True) is ROOT
    check_policy(parse_policy(form.get("policy")), form, "bucket", time.time())


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_tampered_policy_or_signature_does_not_match(version):
    fields = _client(version).generate_presigned_post("bucket", "k")["fields"]
    tampered = dict(fields, policy=_encode({"expiration": FUTURE, "conditions": [["starts-with", "$key", ""]]}))
    with pytest.raises(S3Error) as e:
        authenticate_form(_form(tampered), KEYS, "us-east-1", False)
    assert _code(e) == ("SignatureDoesNotMatch", 403)


def test_field_names_are_case_insensitive():
    fields = _client("s3").generate_presigned_post("bucket", "k")["fields"]
    form = _form({name.upper(): value for name, value in fields.items()})
    assert authenticate_form(form, KEYS, "us-east-1", False) is ROOT
    assert form.get("Policy") == fields["policy"]


def test_unknown_access_key():
    policy = _encode({"expiration": FUTURE, "conditions": []})
    form = _form({"AWSAccessKeyId": "NOBODY", "policy": policy, "signature": sign_v2(SECRET, policy)})
    with pytest.raises(S3Error) as e:
        authenticate_form(form, KEYS, "us-east-1", False)
    assert _code(e) == ("InvalidAccessKeyId", 403)


def test_missing_pieces_are_named():
    policy = _encode({"expiration": FUTURE, "conditions": []})
    cases = [
        ({"AWSAccessKeyId": ACCESS, "policy": policy}, "signature"),
        ({"AWSAccessKeyId": ACCESS, "signature": "x"}, "policy"),
        ({"policy": policy}, "AWSAccessKeyId"),
        ({"x-amz-algorithm": "AWS4-HMAC-SHA256", "policy": policy, "x-amz-signature": "0"}, "x-amz-credential"),
    ]
    for fields, missing in cases:
        with pytest.raises(S3Error) as e:
            authenticate_form(_form(fields), KEYS, "us-east-1", False)
        assert _code(e) == ("InvalidArgument", 400)
        assert e.value.extra["ArgumentName"] == missing


def test_no_policy_no_credentials_is_anonymous():
    assert authenticate_form(_form({"key": "k", "acl": "public-read"}), KEYS, "us-east-1", False) is None


def test_wrong_region_when_strict():
    fields = _client("s3v4").generate_presigned_post("bucket", "k")["fields"]
    assert authenticate_form(_form(fields), KEYS, "eu-west-1", strict_region=False) is ROOT
    with pytest.raises(S3Error) as e:
        authenticate_form(_form(fields), KEYS, "eu-west-1", strict_region=True)
    assert e.value.code == "InvalidArgument"


# -- the policy document ---------------------------------------------------------------------


def test_parse_conditions():
    policy = parse_policy(
        _encode(
            {
                "expiration": "2099-01-01T00:00:00Z",
                "conditions": [
                    {"bUcKeT": "b"},
                    ["StArTs-WiTh", "$KeY", "user/"],
                    ["eq", "$Content-Type", "text/plain"],
                    ["content-length-range", 10, "20"],
                ],
            }
        )
    )
    assert [(c.operation, c.field, c.value) for c in policy.conditions] == [
        ("eq", "bucket", "b"),
        ("starts-with", "key", "user/"),
        ("eq", "content-type", "text/plain"),
    ]
    assert policy.length_range == (10, 20)
    assert policy.expiration == 4070908800


@pytest.mark.parametrize(
    "document",
    [
        {"conditions": []},  # no expiration
        {"expiration": FUTURE},  # no conditions
        {"EXPIRATION": FUTURE, "conditions": []},  # names are case-sensitive
        {"expiration": FUTURE, "CONDITIONS": []},
        {"expiration": "2099-01-01 00:00:00.123456+00:00", "conditions": []},
        {"expiration": "2099-02-30T00:00:00Z", "conditions": []},
        {"expiration": FUTURE, "conditions": [{}]},
        {"expiration": FUTURE, "conditions": [{"a": "b", "c": "d"}]},
        {"expiration": FUTURE, "conditions": [{"a": 1}]},
        {"expiration": FUTURE, "conditions": [["content-length-range", 0]]},
        {"expiration": FUTURE, "conditions": [["content-length-range", -1, 0]]},
        {"expiration": FUTURE, "conditions": [["content-length-range", 0, "ten"]]},
        {"expiration": FUTURE, "conditions": [["content-length-range", 0, 1.5]]},
        {"expiration": FUTURE, "conditions": [["content-length-range", 5, 1]]},
        {"expiration": FUTURE, "conditions": [["ends-with", "$key", "x"]]},
        {"expiration": FUTURE, "conditions": [["eq", "key", "x"]]},
        {"expiration": FUTURE, "conditions": [["eq", "$key"]]},
        {"expiration": FUTURE, "conditions": "all"},
        {"expiration": FUTURE, "conditions": ["key"]},
    ],
)
def test_malformed_policies(document):
    with pytest.raises(S3Error) as e:
        parse_policy(_encode(document))
    assert _code(e) == ("InvalidPolicyDocument", 400)


@pytest.mark.parametrize("encoded", ["not base64!", base64.b64encode(b"{not json").decode(), base64.b64encode(b"[]").decode(), "é"])
def test_undecodable_policies(encoded):
    with pytest.raises(S3Error) as e:
        parse_policy(encoded)
    assert _code(e) == ("InvalidPolicyDocument", 400)


def _check(conditions: list, fields: dict[str, str], bucket: str = "b", expiration: str = FUTURE) -> None:
    check_policy(parse_policy(_encode({"expiration": expiration, "conditions": conditions})), _form(fields), bucket, time.time())


def _denied(conditions: list, fields: dict[str, str], bucket: str = "b", expiration: str = FUTURE) -> str:
    with pytest.raises(S3Error) as e:
        _check(conditions, fields, bucket, expiration)
    assert _code(e) == ("AccessDenied", 403)
    return e.value.message


def test_expired():
    assert _denied([], {}, expiration="2001-01-01T00:00:00Z") == "Invalid according to Policy: Policy expired."


def test_exact_and_starts_with():
    _check([{"key": "a/b"}, ["starts-with", "$x-amz-meta-tag", "red"]], {"key": "a/b", "x-amz-meta-tag": "reddish"})
    assert "Policy Condition failed" in _denied([{"key": "a/b"}], {"key": "a/c"})
    # Values are case-sensitive, names are not.
    _check([["eq", "$Content-Type", "text/plain"]], {"content-type": "text/plain"})
    _denied([["eq", "$Content-Type", "text/plain"]], {"content-type": "Text/Plain"})
    # An empty prefix matches anything, an absent field included.
    _check([["starts-with", "$key", ""], ["starts-with", "$x-amz-meta-a", ""]], {"key": "whatever"})
    _denied([["starts-with", "$x-amz-meta-foo", "bar"]], {})


def test_bucket_condition_holds_against_the_target_bucket():
    _check([{"bucket": "mine"}], {"bucket": "mine"}, bucket="mine")
    _denied([{"bucket": "mine"}], {"bucket": "mine"}, bucket="other")


def test_every_field_must_be_named():
    message = _denied([{"key": "k"}], {"key": "k", "X-Amz-Meta-Colour": "red"})
    assert message == "Invalid according to Policy: Extra input fields: X-Amz-Meta-Colour"
    # Exempt: the credentials, the policy, the file, x-ignore-* and the checksums of the file.
    _check(
        [{"key": "k"}],
        {"key": "k", "AWSAccessKeyId": "a", "signature": "s", "policy": "p", "x-ignore-flash": "1", "x-amz-checksum-sha256": "c"},
    )
    _denied([{"key": "k"}], {"key": "k", "x-amz-credential": "c"})  # SigV4's are named in its policy


def test_repeated_fields_are_joined_with_commas():
    _check([{"x-amz-meta-tag": "Ninja,Stallman"}], {"x-amz-meta-tag": "Ninja"} | {"X-Amz-Meta-Tag": "Stallman"})


def test_content_length_range():
    policy = parse_policy(_encode({"expiration": FUTURE, "conditions": [["content-length-range", 2, 4]]}))
    for size in (2, 3, 4):
        check_length(policy, size)
    with pytest.raises(S3Error) as e:
        check_length(policy, 1)
    assert e.value.code == "EntityTooSmall"
    with pytest.raises(S3Error) as e:
        check_length(policy, 5)
    assert e.value.code == "EntityTooLarge"
    check_length(parse_policy(_encode({"expiration": FUTURE, "conditions": []})), 10**12)


def test_filename():
    assert base_filename("C:\\Program Files\\directory1\\file.txt") == "file.txt"
    assert base_filename("/home/me/a.txt") == "a.txt"
    form = _form({"key": "uploads/${filename}", "x-amz-meta-name": "${filename}", "policy": "${filename}"})
    form.expand_filename("cat.jpg")
    assert form.get("key") == "uploads/cat.jpg"
    assert form.get("x-amz-meta-name") == "cat.jpg"
    assert form.get("policy") == "${filename}"  # signed as sent
