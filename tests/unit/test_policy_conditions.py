"""Condition operators, as AWS's IAM reference describes them: every family with its negated,
IfExists and set-operator forms, absent keys, several values and several keys; and the wildcard
matching under them."""

from __future__ import annotations

import itertools
import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoard.iam.conditions import parse_date
from hoard.iam.context import Principal, RequestContext, request_keys, resource_arn
from hoard.iam.errors import PolicyError
from hoard.iam.patterns import Glob, Pattern, could_match
from hoard.iam.policy import Decision, evaluate, parse_policy

ALICE = Principal("arn:aws:iam::111122223333:user/alice", "111122223333", username="alice", userid="AIDAALICE")


def holds(condition: dict, keys: dict | None = None, *, principal: Principal | None = ALICE, version: str = "2012-10-17") -> bool:
    """Whether an Allow statement with this Condition block allows a GetObject with these keys."""
    document = {"Version": version, "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": condition}}
    policy = parse_policy(json.dumps(document), kind="identity")
    ctx = RequestContext("s3:GetObject", resource_arn("bucket", "key"), principal, keys or {})
    return evaluate([policy], ctx) is Decision.ALLOW


def refused(condition: dict) -> str:
    document = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": condition}}
    with pytest.raises(PolicyError) as caught:
        parse_policy(json.dumps(document), kind="identity")
    return caught.value.message


# -- String ----------------------------------------------------------------------------------------


def test_string_equals_is_exact_and_case_sensitive():
    condition = {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}
    assert holds(condition, {"s3:x-amz-acl": "bucket-owner-full-control"})
    assert not holds(condition, {"s3:x-amz-acl": "Bucket-Owner-Full-Control"})
    assert not holds(condition, {"s3:x-amz-acl": "bucket-owner-full-control "})
    assert not holds(condition, {"s3:x-amz-acl": "public-read"})


def test_string_equals_has_no_wildcards():
    condition = {"StringEquals": {"s3:prefix": "home/*"}}
    assert holds(condition, {"s3:prefix": "home/*"})
    assert not holds(condition, {"s3:prefix": "home/alice"})


def test_several_values_for_one_key_are_alternatives():
    condition = {"StringEquals": {"s3:x-amz-acl": ["private", "bucket-owner-read"]}}
    assert holds(condition, {"s3:x-amz-acl": "private"})
    assert holds(condition, {"s3:x-amz-acl": "bucket-owner-read"})
    assert not holds(condition, {"s3:x-amz-acl": "public-read"})


def test_string_not_equals_matches_none_of_the_values_and_holds_when_the_key_is_absent():
    condition = {"StringNotEquals": {"s3:x-amz-acl": ["public-read", "public-read-write"]}}
    assert holds(condition, {"s3:x-amz-acl": "private"})
    assert not holds(condition, {"s3:x-amz-acl": "public-read"})
    assert not holds(condition, {"s3:x-amz-acl": "public-read-write"})  # NOR, not "differs from one"
    assert holds(condition, {})


def test_string_equals_fails_when_the_key_is_absent():
    assert not holds({"StringEquals": {"s3:x-amz-acl": "private"}}, {})
    assert not holds({"StringLike": {"s3:x-amz-acl": "*"}}, {})


def test_string_equals_ignore_case():
    condition = {"StringEqualsIgnoreCase": {"s3:x-amz-storage-class": "standard_ia"}}
    assert holds(condition, {"s3:x-amz-storage-class": "STANDARD_IA"})
    assert not holds(condition, {"s3:x-amz-storage-class": "GLACIER"})
    negated = {"StringNotEqualsIgnoreCase": {"s3:x-amz-storage-class": "standard_ia"}}
    assert not holds(negated, {"s3:x-amz-storage-class": "Standard_IA"})
    assert holds(negated, {"s3:x-amz-storage-class": "GLACIER"})
    assert holds(negated, {})


def test_string_like_wildcards():
    condition = {"StringLike": {"aws:Referer": ["http://www.example.com/*", "http://example.com/?"]}}
    assert holds(condition, {"aws:Referer": "http://www.example.com/"})
    assert holds(condition, {"aws:Referer": "http://www.example.com/a/b?c=d"})
    assert holds(condition, {"aws:Referer": "http://example.com/x"})
    assert not holds(condition, {"aws:Referer": "http://example.com/xy"})
    assert not holds(condition, {"aws:Referer": "http://example.com/"})
    assert not holds(condition, {"aws:Referer": "https://www.example.com/"})
    assert not holds(condition, {"aws:Referer": "http://WWW.example.com/"})  # case-sensitive


def test_string_like_an_empty_pattern_matches_only_the_empty_string():
    condition = {"StringLike": {"s3:prefix": ""}}
    assert holds(condition, {"s3:prefix": ""})
    assert not holds(condition, {"s3:prefix": "a"})


def test_string_not_like():
    condition = {"StringNotLike": {"aws:userid": ["AROAEXAMPLEID:*", "111122223333"]}}
    assert not holds(condition, {"aws:userid": "AROAEXAMPLEID:session"})
    assert not holds(condition, {"aws:userid": "111122223333"})
    assert holds(condition, {"aws:userid": "AIDAOTHER"})


def test_json_numbers_and_booleans_are_compared_as_their_text():
    assert holds({"StringEquals": {"s3:max-keys": 10}}, {"s3:max-keys": "10"})
    assert holds({"StringEquals": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"})


def test_if_exists_holds_when_the_key_is_absent_and_checks_it_otherwise():
    condition = {"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}
    assert holds(condition, {})
    assert holds(condition, {"s3:x-amz-acl": "private"})
    assert not holds(condition, {"s3:x-amz-acl": "public-read"})
    negated = {"StringNotEqualsIfExists": {"s3:x-amz-acl": "public-read"}}
    assert holds(negated, {})
    assert not holds(negated, {"s3:x-amz-acl": "public-read"})
    assert holds({"StringLikeIfExists": {"s3:prefix": "a*"}}, {})
    assert holds({"StringNotLikeIfExists": {"s3:prefix": "a*"}}, {})
    assert not holds({"StringNotLikeIfExists": {"s3:prefix": "a*"}}, {"s3:prefix": "abc"})


def test_keys_are_case_insensitive_values_are_not():
    assert holds({"StringEquals": {"AWS:SOURCEVPCE": "vpce-1a2b"}}, {"aws:SourceVpce": "vpce-1a2b"})
    assert holds({"StringEquals": {"aws:sourcevpce": "vpce-1a2b"}}, {"AWS:SourceVPCE": "vpce-1a2b"})
    assert not holds({"StringEquals": {"aws:SourceVpce": "VPCE-1A2B"}}, {"aws:SourceVpce": "vpce-1a2b"})


# -- Numeric ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("NumericEquals", "10", True),
        ("NumericEquals", "10.0", True),
        ("NumericEquals", "9", False),
        ("NumericNotEquals", "9", True),
        ("NumericNotEquals", "10", False),
        ("NumericLessThan", "9", True),
        ("NumericLessThan", "10", False),
        ("NumericLessThanEquals", "10", True),
        ("NumericLessThanEquals", "11", False),
        ("NumericGreaterThan", "11", True),
        ("NumericGreaterThan", "10", False),
        ("NumericGreaterThanEquals", "10", True),
        ("NumericGreaterThanEquals", "9.999", False),
    ],
)
def test_numeric_operators(operator, value, expected):
    assert holds({operator: {"s3:max-keys": "10"}}, {"s3:max-keys": value}) is expected


def test_numeric_values_may_be_json_numbers_and_decimals():
    assert holds({"NumericLessThanEquals": {"s3:max-keys": 10}}, {"s3:max-keys": "10"})
    assert holds({"NumericLessThan": {"aws:MultiFactorAuthAge": 3600.5}}, {"aws:MultiFactorAuthAge": "3600.25"})
    assert holds({"NumericEquals": {"s3:max-keys": 1e2}}, {"s3:max-keys": "100"})


def test_numeric_absent_key_and_unreadable_request_values():
    assert not holds({"NumericLessThan": {"s3:max-keys": "10"}}, {})
    assert holds({"NumericNotEquals": {"s3:max-keys": "10"}}, {})  # negated: true when absent
    assert holds({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {})
    assert not holds({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {"s3:max-keys": "1000"})
    assert not holds({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "five"})


def test_numeric_policy_values_must_be_numbers():
    assert "Invalid number" in refused({"NumericLessThan": {"s3:max-keys": "ten"}})
    assert "Invalid number" in refused({"NumericLessThan": {"s3:max-keys": "${aws:username}"}})  # no variables here
    assert "Invalid number" in refused({"NumericLessThan": {"s3:max-keys": "NaN"}})


# -- Date ------------------------------------------------------------------------------------------


def test_date_operators_on_iso_8601():
    window = {
        "DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"},
        "DateLessThan": {"aws:CurrentTime": "2024-12-31T23:59:59Z"},
    }
    assert holds(window, {"aws:CurrentTime": "2024-06-15T12:00:00Z"})
    assert not holds(window, {"aws:CurrentTime": "2025-01-01T00:00:00Z"})
    assert not holds(window, {"aws:CurrentTime": "2024-01-01T00:00:00Z"})  # strictly after
    assert holds({"DateGreaterThanEquals": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2024-01-01T00:00:00Z"})
    assert holds({"DateLessThanEquals": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2024-01-01T00:00:00Z"})
    assert holds({"DateEquals": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2024-01-01T00:00:00.000Z"})
    assert holds({"DateNotEquals": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2024-01-01T00:00:01Z"})


def test_dates_compare_across_zones_epoch_and_short_forms():
    # 12:00 at +02:00 is 10:00 UTC.
    assert holds({"DateEquals": {"aws:CurrentTime": "2024-05-01T12:00:00+02:00"}}, {"aws:CurrentTime": "2024-05-01T10:00:00Z"})
    # Epoch seconds in the policy against an ISO request value, and the other way round.
    assert holds({"DateGreaterThan": {"aws:CurrentTime": "1704067200"}}, {"aws:CurrentTime": "2024-01-01T00:00:01Z"})
    assert holds({"DateLessThan": {"aws:EpochTime": "2024-01-01T00:00:00Z"}}, {"aws:EpochTime": "1704067199"})
    assert holds({"DateGreaterThan": {"aws:EpochTime": 1704067200}}, {"aws:EpochTime": "1704067201"})
    # Date-only and year-month forms are midnight UTC on the first day.
    assert holds({"DateEquals": {"aws:CurrentTime": "2024-05-01"}}, {"aws:CurrentTime": "2024-05-01T00:00:00Z"})
    assert holds({"DateEquals": {"aws:CurrentTime": "2024-05"}}, {"aws:CurrentTime": "2024-05-01T00:00:00Z"})
    # Minutes without seconds, and a time with no zone (UTC).
    assert holds({"DateEquals": {"aws:CurrentTime": "2024-05-01T10:30Z"}}, {"aws:CurrentTime": "2024-05-01T10:30:00"})


def test_date_absent_key_and_bad_values():
    assert not holds({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {})
    assert holds({"DateNotEquals": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {})
    assert holds({"DateLessThanIfExists": {"aws:TokenIssueTime": "2030-01-01T00:00:00Z"}}, {})
    assert not holds({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {"aws:CurrentTime": "yesterday"})
    assert "Invalid date" in refused({"DateLessThan": {"aws:CurrentTime": "next tuesday"}})
    assert "Invalid date" in refused({"DateLessThan": {"aws:CurrentTime": "2024-13-01"}})
    assert "Invalid date" in refused({"DateLessThan": {"aws:CurrentTime": "2024-*"}})  # no wildcards


def test_parse_date_forms():
    assert parse_date("0").timestamp() == 0
    assert parse_date("1704067200.5").timestamp() == 1704067200.5
    assert parse_date("2024-01-01T00:00:00.123456Z").microsecond == 123456
    assert parse_date("20240101T000000Z").timestamp() == 1704067200
    assert parse_date("") is None
    assert parse_date("-") is None


def test_request_keys_give_both_clocks_in_the_forms_the_operators_read():
    from datetime import UTC, datetime, timedelta, timezone

    keys = request_keys(now=datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), source_ip="192.0.2.1", secure_transport=True)
    assert keys["aws:CurrentTime"] == "2024-05-01T12:00:00Z"
    assert keys["aws:EpochTime"] == str(int(datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp()))
    assert keys["aws:SecureTransport"] == "true" and keys["aws:SourceIp"] == "192.0.2.1"
    assert "aws:UserAgent" not in keys and "aws:Referer" not in keys
    naive = request_keys(
        now=datetime(2024, 5, 1, 12, 0), source_ip=None, secure_transport=False, user_agent="aws-cli/2", referer="http://x/"
    )
    assert naive["aws:CurrentTime"] == "2024-05-01T12:00:00Z" and "aws:SourceIp" not in naive
    assert naive["aws:UserAgent"] == "aws-cli/2" and naive["aws:Referer"] == "http://x/" and naive["aws:SecureTransport"] == "false"
    assert holds({"DateLessThan": {"aws:CurrentTime": "2024-05-01T12:00:01Z", "aws:EpochTime": "2024-05-01T12:00:01Z"}}, keys)
    assert not holds({"DateGreaterThan": {"aws:CurrentTime": "2024-05-01T12:00:00Z"}}, keys)


# -- Bool, Binary ----------------------------------------------------------------------------------


def test_bool():
    condition = {"Bool": {"aws:SecureTransport": "false"}}
    assert holds(condition, {"aws:SecureTransport": "false"})
    assert not holds(condition, {"aws:SecureTransport": "true"})
    assert not holds(condition, {})  # absent: false
    assert holds({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": "false"})
    assert holds({"Bool": {"aws:SecureTransport": "True"}}, {"aws:SecureTransport": "true"})
    assert holds({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {})
    assert not holds({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": "false"})
    assert "Invalid boolean" in refused({"Bool": {"aws:SecureTransport": "yes"}})


def test_binary_equals_compares_bytes_of_base64():
    value = "QmluYXJ5VmFsdWVJbkJhc2U2NA=="
    assert holds({"BinaryEquals": {"aws:SomeBinaryKey": value}}, {"aws:SomeBinaryKey": value})
    assert not holds({"BinaryEquals": {"aws:SomeBinaryKey": value}}, {"aws:SomeBinaryKey": "b3RoZXI="})
    assert not holds({"BinaryEquals": {"aws:SomeBinaryKey": value}}, {})
    assert holds({"BinaryEqualsIfExists": {"aws:SomeBinaryKey": value}}, {})
    assert "Invalid base-64" in refused({"BinaryEquals": {"aws:SomeBinaryKey": "not base 64!"}})


# -- IP addresses ----------------------------------------------------------------------------------


def test_ipv4_ranges_and_single_addresses():
    condition = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.7"]}}
    assert holds(condition, {"aws:SourceIp": "203.0.113.0"})
    assert holds(condition, {"aws:SourceIp": "203.0.113.255"})
    assert not holds(condition, {"aws:SourceIp": "203.0.114.0"})
    assert holds(condition, {"aws:SourceIp": "198.51.100.7"})  # no prefix: /32
    assert not holds(condition, {"aws:SourceIp": "198.51.100.8"})
    assert not holds(condition, {})


def test_ipv6_ranges_written_in_any_case():
    condition = {"IpAddress": {"aws:SourceIp": ["2001:DB8:1234:5678::/64"]}}
    assert holds(condition, {"aws:SourceIp": "2001:db8:1234:5678::1"})
    assert holds(condition, {"aws:SourceIp": "2001:db8:1234:5678:ffff:ffff:ffff:ffff"})
    assert not holds(condition, {"aws:SourceIp": "2001:db8:1234:5679::1"})
    assert not holds(condition, {"aws:SourceIp": "203.0.113.1"})  # another family never matches


def test_ipv4_clients_seen_through_an_ipv6_socket_match_ipv4_ranges():
    assert holds({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "::ffff:203.0.113.9"})


def test_not_ip_address():
    condition = {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}
    assert not holds(condition, {"aws:SourceIp": "192.0.2.10"})
    assert not holds(condition, {"aws:SourceIp": "2001:db8::10"})
    assert holds(condition, {"aws:SourceIp": "198.51.100.1"})
    assert holds(condition, {})  # negated: true when absent
    assert holds(condition, {"aws:SourceIp": "not an address"})
    assert not holds({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {"aws:SourceIp": "not an address"})
    assert holds({"IpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}}, {})
    assert not holds({"NotIpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:SourceIp": "192.0.2.1"})


def test_ip_ranges_with_host_bits_are_taken_as_their_network():
    assert holds({"IpAddress": {"aws:SourceIp": "203.0.113.77/24"}}, {"aws:SourceIp": "203.0.113.1"})


@pytest.mark.parametrize("value", ["203.0.113.0/33", "300.1.1.1", "example.com", "2001:db8::/129", ""])
def test_ip_policy_values_must_be_addresses(value):
    assert "Invalid IP address" in refused({"IpAddress": {"aws:SourceIp": value}})


# -- ARNs ------------------------------------------------------------------------------------------


def test_arn_like_matches_component_by_component_where_string_like_does_not():
    # AWS's own example: the first * may not run across colons in ArnLike.
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert holds({"StringLike": {"aws:SourceArn": pattern}}, {"aws:SourceArn": value})
    assert not holds({"ArnLike": {"aws:SourceArn": pattern}}, {"aws:SourceArn": value})
    assert holds({"ArnLike": {"aws:SourceArn": pattern}}, {"aws:SourceArn": "arn:aws:someservice:us-east-2:111122223333:finance/a:b"})


def test_arn_equals_and_like_behave_alike_and_their_negations():
    topic = "arn:aws:sns:us-east-1:123456789012:topic-*"
    for operator in ("ArnEquals", "ArnLike"):
        assert holds({operator: {"aws:SourceArn": topic}}, {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic-a"})
        assert not holds({operator: {"aws:SourceArn": topic}}, {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789013:topic-a"})
        assert not holds({operator: {"aws:SourceArn": topic}}, {"aws:SourceArn": "not-an-arn"})
    for operator in ("ArnNotEquals", "ArnNotLike"):
        assert not holds({operator: {"aws:SourceArn": topic}}, {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic-a"})
        assert holds({operator: {"aws:SourceArn": topic}}, {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:other"})
        assert holds({operator: {"aws:SourceArn": topic}}, {})
    assert holds({"ArnLike": {"aws:SourceArn": "*"}}, {"aws:SourceArn": "anything:at:all"})


# -- Null ------------------------------------------------------------------------------------------


def test_null_tests_whether_the_key_is_absent():
    assert holds({"Null": {"aws:TokenIssueTime": "true"}}, {})
    assert not holds({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"})
    assert holds({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"})
    assert not holds({"Null": {"aws:TokenIssueTime": False}}, {})
    assert holds({"Null": {"s3:RequestObjectTagKeys": "true"}}, {"s3:RequestObjectTagKeys": []})  # no values: absent


def test_null_forms_refused():
    assert "Invalid Null value" in refused({"Null": {"aws:TokenIssueTime": "maybe"}})
    assert "Invalid Condition type" in refused({"NullIfExists": {"aws:TokenIssueTime": "true"}})
    assert "Invalid Condition type" in refused({"ForAnyValue:Null": {"aws:TokenIssueTime": "true"}})


# -- set operators on multi-valued keys ----------------------------------------------------------------


def test_for_all_values_every_request_value_must_match_and_none_is_vacuously_true():
    condition = {"ForAllValues:StringLike": {"s3:RequestObjectTagKeys": ["Owner", "CreationDate"]}}
    assert holds(condition, {"s3:RequestObjectTagKeys": ["Owner"]})
    assert holds(condition, {"s3:RequestObjectTagKeys": ["Owner", "CreationDate"]})
    assert not holds(condition, {"s3:RequestObjectTagKeys": ["Owner", "Secret"]})
    assert holds(condition, {})
    assert holds(condition, {"s3:RequestObjectTagKeys": []})


def test_for_any_value_one_request_value_must_match_and_none_is_false():
    condition = {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["ID", "PostDateTime"]}}
    assert holds(condition, {"s3:RequestObjectTagKeys": ["UserName", "Message", "PostDateTime"]})
    assert not holds(condition, {"s3:RequestObjectTagKeys": ["UserName", "Message"]})
    assert not holds(condition, {})


def test_for_all_values_with_a_negated_operator_matches_awss_table():
    # IAM's example: deny when not every tag key starts with key1.
    condition = {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}
    assert not holds(condition, {"aws:TagKeys": ["key1:legal"]})
    assert not holds(condition, {"aws:TagKeys": ["key1:hr", "key1:personnel"]})
    assert holds(condition, {"aws:TagKeys": ["key2:audit"]})
    assert holds(condition, {})
    assert not holds(condition, {"aws:TagKeys": ["key2:audit", "key1:x"]})


def test_for_any_value_with_a_negated_operator():
    condition = {"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": "Owner"}}
    assert holds(condition, {"s3:RequestObjectTagKeys": ["Owner", "Other"]})
    assert not holds(condition, {"s3:RequestObjectTagKeys": ["Owner"]})
    assert not holds(condition, {})


def test_set_operators_with_if_exists():
    assert holds({"ForAnyValue:StringEqualsIfExists": {"s3:RequestObjectTagKeys": "a"}}, {})
    assert holds({"ForAllValues:StringEqualsIfExists": {"s3:RequestObjectTagKeys": "a"}}, {})
    assert not holds({"ForAllValues:StringEqualsIfExists": {"s3:RequestObjectTagKeys": "a"}}, {"s3:RequestObjectTagKeys": ["b"]})


def test_a_plain_operator_on_several_request_values_matches_if_any_does():
    assert holds({"StringEquals": {"s3:RequestObjectTagKeys": "a"}}, {"s3:RequestObjectTagKeys": ["b", "a"]})
    assert not holds({"StringNotEquals": {"s3:RequestObjectTagKeys": "a"}}, {"s3:RequestObjectTagKeys": ["b", "a"]})


def test_set_operators_on_numbers_and_addresses():
    assert holds({"ForAllValues:NumericLessThan": {"s3:object-sizes": "10"}}, {"s3:object-sizes": ["1", "9"]})
    assert not holds({"ForAllValues:NumericLessThan": {"s3:object-sizes": "10"}}, {"s3:object-sizes": ["1", "10"]})
    assert holds({"ForAnyValue:IpAddress": {"aws:hops": "10.0.0.0/8"}}, {"aws:hops": ["192.0.2.1", "10.1.1.1"]})


# -- several operators and keys --------------------------------------------------------------------


def test_all_operators_and_all_keys_must_hold():
    condition = {
        "StringEquals": {"s3:x-amz-acl": "private", "s3:x-amz-storage-class": "STANDARD"},
        "IpAddress": {"aws:SourceIp": "192.0.2.0/24"},
    }
    every = {"s3:x-amz-acl": "private", "s3:x-amz-storage-class": "STANDARD", "aws:SourceIp": "192.0.2.9"}
    assert holds(condition, every)
    for missing in every:
        assert not holds(condition, {k: v for k, v in every.items() if k != missing})
    assert not holds(condition, {**every, "aws:SourceIp": "198.51.100.1"})
    assert holds({}, {})  # an empty Condition holds


def test_two_spellings_of_one_key_in_a_block_are_two_conditions():
    condition = {"StringLike": {"s3:prefix": "home/*", "S3:PREFIX": "*/alice"}}
    assert holds(condition, {"s3:prefix": "home/alice"})
    assert not holds(condition, {"s3:prefix": "home/bob"})


# -- malformed Condition elements ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"StringEqualz": {"s3:prefix": "a"}}, "Invalid Condition type : StringEqualz"),
        ({"StringLikeIgnoreCase": {"s3:prefix": "a"}}, "Invalid Condition type"),
        ({"ForSomeValues:StringLike": {"s3:prefix": "a"}}, "Invalid Condition type"),
        ({"ForAnyValue:ForAllValues:StringLike": {"s3:prefix": "a"}}, "Invalid Condition type"),
        ({"IfExists": {"s3:prefix": "a"}}, "Invalid Condition type"),
        ({"StringEquals": {"prefix": "a"}}, "invalid condition key"),
        ({"StringEquals": {":prefix": "a"}}, "invalid condition key"),
        ({"StringEquals": {"s3:": "a"}}, "invalid condition key"),
        ({"StringEquals": {"s3:prefix": []}}, "has no value"),
        ({"StringEquals": {"s3:prefix": None}}, "invalid value"),
        ({"StringEquals": {"s3:prefix": {"a": "b"}}}, "invalid value"),
        ({"StringEquals": {"s3:prefix": [["a"]]}}, "invalid value"),
        ({"StringEquals": "s3:prefix"}, "must map condition keys"),
        ({"StringEquals": ["s3:prefix"]}, "must map condition keys"),
    ],
)
def test_malformed_conditions(condition, message):
    assert message in refused(condition)


def test_the_condition_element_must_be_an_object():
    document = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": ["x"]}}
    with pytest.raises(PolicyError, match="Condition must be an object"):
        parse_policy(json.dumps(document), kind="identity")


def test_operator_names_are_read_in_any_case():
    assert holds({"stringequals": {"s3:prefix": "a"}}, {"s3:prefix": "a"})
    assert holds({"forallvalues:stringlikeifexists": {"s3:prefix": "a"}}, {})


# -- variables in conditions -----------------------------------------------------------------------


def test_variables_in_string_and_arn_values():
    assert holds({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": "home/alice/docs"})
    assert not holds({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": "home/bob/docs"})
    assert holds({"StringEquals": {"s3:x-amz-meta-owner": "${aws:userid}"}}, {"s3:x-amz-meta-owner": "AIDAALICE"})
    assert holds({"ArnEquals": {"aws:SourceArn": "arn:aws:iam::111122223333:user/${aws:username}"}}, {"aws:SourceArn": ALICE.arn})
    assert holds({"Bool": {"aws:SecureTransport": "${s3:wanted}"}}, {"aws:SecureTransport": "true", "s3:wanted": "true"})


def test_an_unfillable_variable_makes_the_statement_not_apply():
    assert not holds({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": "home//x"}, principal=None)
    # ... even for a negated operator, which would otherwise hold.
    assert not holds({"StringNotLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": "x"}, principal=None)
    # A default fills it.
    assert holds({"StringLike": {"s3:prefix": "home/${aws:username, 'anonymous'}/*"}}, {"s3:prefix": "home/anonymous/x"}, principal=None)


def test_a_multi_valued_key_is_no_variable():
    condition = {"StringEquals": {"s3:x-amz-meta-a": "${s3:RequestObjectTagKeys}"}}
    assert not holds(condition, {"s3:x-amz-meta-a": "one", "s3:RequestObjectTagKeys": ["one", "two"]})
    assert holds(condition, {"s3:x-amz-meta-a": "one", "s3:RequestObjectTagKeys": ["one"]})


def test_a_variables_value_is_literal_text_never_a_wildcard():
    condition = {"StringLike": {"s3:prefix": "${aws:username}/*"}}
    sneaky = Principal("arn:aws:iam::111122223333:user/x", "111122223333", username="*")
    assert holds(condition, {"s3:prefix": "*/docs"}, principal=sneaky)
    assert not holds(condition, {"s3:prefix": "alice/docs"}, principal=sneaky)


def test_escapes_stand_for_the_characters():
    assert holds({"StringLike": {"s3:prefix": "a${*}b"}}, {"s3:prefix": "a*b"})
    assert not holds({"StringLike": {"s3:prefix": "a${*}b"}}, {"s3:prefix": "axb"})
    assert holds({"StringLike": {"s3:prefix": "a${?}"}}, {"s3:prefix": "a?"})
    assert not holds({"StringLike": {"s3:prefix": "a${?}"}}, {"s3:prefix": "ab"})
    assert holds({"StringEquals": {"s3:prefix": "${$}{aws:username}"}}, {"s3:prefix": "${aws:username}"})


def test_version_2008_has_no_variables():
    condition = {"StringEquals": {"s3:prefix": "${aws:username}"}}
    assert holds(condition, {"s3:prefix": "${aws:username}"}, version="2008-10-17")
    assert not holds(condition, {"s3:prefix": "alice"}, version="2008-10-17")
    assert holds(condition, {"s3:prefix": "alice"}, version="2012-10-17")


def test_variables_are_not_replaced_in_numeric_date_ip_binary_or_null_values():
    assert "Invalid date" in refused({"DateLessThan": {"aws:CurrentTime": "${aws:EpochTime}"}})
    assert "Invalid IP address" in refused({"IpAddress": {"aws:SourceIp": "${aws:SourceIp}"}})
    assert "Invalid Null value" in refused({"Null": {"aws:SourceIp": "${aws:SourceIp}"}})


# -- wildcards -------------------------------------------------------------------------------------


def _reference(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="ab*?/", max_size=8), st.text(alphabet="ab*?/", max_size=10))
def test_glob_agrees_with_a_regular_expression(pattern, value):
    assert Glob.of(pattern).match(value) == _reference(pattern, value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab*?", max_size=6), st.text(alphabet="ab/", max_size=6))
def test_could_match_agrees_with_trying_strings(pattern, prefix):
    # The pattern's literals are a and b, so tails of those, up to its length, are all that
    # can make a difference.
    tails = ["".join(t) for n in range(1, len(pattern) + 2) for t in itertools.product("ab", repeat=n)]
    assert could_match(pattern, prefix, more=False) == _reference(pattern, prefix)
    assert could_match(pattern, prefix, more=True) == any(_reference(pattern, prefix + t) for t in tails)


def test_wildcards_span_slashes_and_colons_and_newlines():
    assert Glob.of("a*z").match("a/b:c\nz")
    assert Glob.of("a?z").match("a\nz")
    assert not Glob.of("a?z").match("az")


def test_a_pathological_pattern_costs_one_scan():
    pattern = "*a" * 40 + "*b"
    value = "a" * 20000
    started = time.perf_counter()
    assert not Glob.of(pattern).match(value)
    assert not Pattern(pattern).glob(lambda key: None).match(value)
    assert time.perf_counter() - started < 0.5


def test_pattern_parts():
    assert Pattern("home/${aws:username}/*").has_variables
    assert not Pattern("home/${aws:username}/*", variables=False).has_variables
    assert not Pattern("${*}").has_wildcards and Pattern("a*").has_wildcards
    assert not Pattern("${foo}").has_variables  # no service prefix: literal text
    assert Pattern("${foo}").literal(lambda key: None) == "${foo}"
    assert Pattern("${aws:username").literal(lambda key: None) == "${aws:username"  # never closed
    assert Pattern("${aws:username, 'x y'}").literal(lambda key: None) == "x y"
    assert Pattern("${AWS:UserName}").literal(lambda key: {"aws:username": "alice"}.get(key)) == "alice"


def test_context_keys_are_folded_and_merged():
    ctx = RequestContext("s3:GetObject", "arn:aws:s3:::b/k", None, {"S3:ExistingObjectTag/Env": "a", "s3:existingobjecttag/env": ["b"]})
    assert ctx.values_of("s3:ExistingObjectTag/ENV") == ("a", "b")
    assert ctx.variable("s3:ExistingObjectTag/Env") is None  # two values
    assert ctx.values_of("aws:PrincipalType") == ("Anonymous",)
    with pytest.raises(TypeError):
        RequestContext("s3:GetObject", "arn:aws:s3:::b/k", None, {"s3:max-keys": 10})
