"""Which bucket policies S3 calls public ("The meaning of 'public'", S3 User Guide), starting
with the examples given there."""

from __future__ import annotations

import json

import pytest

from hoard.iam.policy import parse_policy
from hoard.iam.public import is_public

BUCKET = "amzn-s3-demo-bucket"
OBJECTS = f"arn:aws:s3:::{BUCKET}/*"


def public(*statements: dict) -> bool:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return is_public(parse_policy(json.dumps(document), kind="bucket", bucket=BUCKET))


def grant(principal="*", condition: dict | None = None, **elements) -> dict:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:PutObject", "Resource": OBJECTS, **elements}
    if condition is not None:
        statement["Condition"] = condition
    return statement


# -- the User Guide's examples ---------------------------------------------------------------------


def test_a_web_identity_provider_is_the_public():
    assert public(grant({"Federated": "graph.facebook.com"}))


def test_everyone():
    assert public(grant("*"))
    assert public(grant({"AWS": "*"}))
    assert public(grant({"AWS": ["111122223333", "*"]}))


def test_a_wildcard_vpc_is_public_a_fixed_one_is_not():
    assert public(grant(condition={"StringLike": {"aws:SourceVpc": "vpc-*"}}))
    assert not public(grant(condition={"StringEquals": {"aws:SourceVpc": "vpc-91237329"}}))


def test_one_public_statement_makes_the_policy_public():
    cloudtrail = grant({"Service": "cloudtrail.amazonaws.com"})
    other_account = grant({"AWS": "444455556666"})
    assert not public(cloudtrail, other_account)
    assert public(cloudtrail, other_account, grant("*"))


# -- principals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": "111122223333"},
        {"AWS": "arn:aws:iam::111122223333:root"},
        {"AWS": "arn:aws:iam::111122223333:user/alice"},
        {"AWS": "arn:aws:iam::111122223333:role/reader"},
        {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
        {"Service": "logging.s3.amazonaws.com"},
    ],
)
def test_fixed_principals_are_not_public(principal):
    assert not public(grant(principal))


def test_not_principal_in_an_allow_grants_everyone_else():
    statement = grant()
    del statement["Principal"]
    statement["NotPrincipal"] = {"AWS": "arn:aws:iam::111122223333:user/mallory"}
    assert public(statement)


def test_deny_statements_never_make_a_policy_public():
    assert not public(grant(Effect="Deny"))
    assert not public(grant(Effect="Deny"), grant({"AWS": "111122223333"}))


# -- conditions that restrict, and those that do not -----------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
        {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.7", "10.0.0.0/8"]}},
        {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}},
        {"IpAddress": {"aws:SourceIp": "2001:db8:1234:5678::/64"}},
        {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
        {"StringEquals": {"aws:SourceAccount": "111122223333"}},
        {"StringEquals": {"aws:SourceOwner": "111122223333"}},
        {"ArnEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/t"}},
        {"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/t"}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        {"StringEquals": {"aws:PrincipalAccount": "111122223333"}},
        {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/r"}},
        {"StringEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:111122223333:key/k"}},
        {"StringEquals": {"aws:userid": "AIDAEXAMPLE"}},
        {"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}},
        {"StringLike": {"s3:DataAccessPointArn": "arn:aws:s3:us-west-2:111122223333:accesspoint/*"}},
        {"StringEquals": {"s3:DataAccessPointAccount": "111122223333"}},
        {"ForAnyValue:StringEquals": {"aws:SourceVpc": "vpc-1"}},
        {"StringEquals": {"AWS:SOURCEVPC": "vpc-1"}},
        # One restricting condition is enough, whatever else the block says.
        {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpc": "vpc-1"}},
    ],
)
def test_conditions_that_pin_the_caller_make_a_grant_to_everyone_not_public(condition):
    assert not public(grant(condition=condition))


@pytest.mark.parametrize(
    "condition",
    [
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/7"}},
        {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "64.0.0.0/2"]}},  # one wide range opens it
        {"IpAddress": {"aws:SourceIp": "2001:db8::/31"}},
        {"IpAddress": {"aws:SourceIp": "::/0"}},
        {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
        {"IpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}},
        {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}},
        {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}},
        {"ForAllValues:StringEquals": {"aws:SourceVpc": "vpc-1"}},
        {"StringLike": {"aws:SourceVpce": "vpce-*"}},
        {"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}},
        {"StringEquals": {"aws:SourceAccount": "${aws:PrincipalAccount}"}},
        {"StringLike": {"aws:userid": "*"}},
        {"StringLike": {"aws:userid": "AIDA*"}},
        {"StringLike": {"s3:DataAccessPointArn": "arn:aws:s3:us-west-2:*:accesspoint/*"}},
        {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"StringEquals": {"aws:Referer": "http://www.example.com/"}},
        {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
        {"StringEquals": {"aws:SourceIp": "192.0.2.1"}},  # not an IP operator
    ],
)
def test_conditions_that_do_not_pin_the_caller(condition):
    assert public(grant(condition=condition))


def test_the_resource_and_action_do_not_matter():
    assert public(grant(Action="s3:GetBucketLocation", Resource=f"arn:aws:s3:::{BUCKET}"))
    assert public(grant(Action="s3:ListBucket", Resource=f"arn:aws:s3:::{BUCKET}"))


def test_identity_policies_are_never_public():
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert not is_public(parse_policy(json.dumps(document), kind="identity"))
