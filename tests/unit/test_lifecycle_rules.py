"""Lifecycle configurations (hoard.lifecycle.rules): S3's documented examples, serialized by botocore
as ``aws s3api put-bucket-lifecycle-configuration`` sends them and read back by botocore as
GetBucketLifecycleConfiguration answers them; every element and every refusal; when actions fall
due and which one a version gets."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from xml.etree import ElementTree

import botocore.session
import pytest
from botocore import parsers, serialize

from hoard.lifecycle import rules
from hoard.lifecycle.rules import (
    Action,
    Filter,
    LifecycleConfig,
    LifecycleConfigError,
    NoncurrentTransition,
    Rule,
    Transition,
    VersionFacts,
    action_for,
    day_start,
    due_after,
)
from hoard.s3 import xml

MODEL = botocore.session.get_session().get_service_model("s3")
DAY = 86400
KIB = 1024


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


T0 = utc(2026, 1, 1, 10, 0)  # an object's creation, mid-morning


def document(config: dict) -> bytes:
    """The body botocore sends for PutBucketLifecycleConfiguration with this configuration."""
    operation = MODEL.operation_model("PutBucketLifecycleConfiguration")
    serializer = serialize.create_serializer("rest-xml", include_validation=False)
    return serializer.serialize_to_request({"Bucket": "b", "LifecycleConfiguration": config}, operation)["body"]


def answered(config: LifecycleConfig) -> list[dict]:
    """The rules a client reads from GetBucketLifecycleConfiguration's answer for ``config``."""
    body = xml.render("LifecycleConfiguration", rules.render(config))
    operation = MODEL.operation_model("GetBucketLifecycleConfiguration")
    parsed = parsers.create_parser("rest-xml").parse({"body": body, "headers": {}, "status_code": 200}, operation.output_shape)
    return parsed["Rules"]


def parse(config: dict | bytes, min_object_size: str | None = None) -> LifecycleConfig:
    return rules.parse(config if isinstance(config, bytes) else document(config), xml.parse, min_object_size)


def refusal(config: dict | bytes, min_object_size: str | None = None) -> LifecycleConfigError:
    with pytest.raises(LifecycleConfigError) as e:
        parse(config, min_object_size)
    return e.value


def raw(*rule_bodies: str) -> bytes:
    """A document of rules written out by hand (what botocore would not send)."""
    return ("<LifecycleConfiguration>" + "".join(f"<Rule>{b}</Rule>" for b in rule_bodies) + "</LifecycleConfiguration>").encode()


def rule_xml(
    actions: str = "<Expiration><Days>1</Days></Expiration>",
    scope: str = "<Filter><Prefix>logs/</Prefix></Filter>",
    status: str = "Enabled",
) -> str:
    return f"<ID>r</ID>{scope}<Status>{status}</Status>{actions}"


def one(**changes) -> dict:
    """One rule (the S3 user guide's first example), changed; a None drops an element."""
    rule = {
        "ID": "Transition and Expiration Rule",
        "Filter": {"Prefix": "tax/"},
        "Status": "Enabled",
        "Transitions": [{"Days": 365, "StorageClass": "GLACIER"}],
        "Expiration": {"Days": 3650},
    }
    rule.update(changes)
    return {"Rules": [{k: v for k, v in rule.items() if v is not None}]}


# -- S3's examples, both ways ---------------------------------------------------------------------
def test_the_user_guides_transition_and_expiration_example():
    config = parse(one())
    (rule,) = config.rules
    assert rule.id == "Transition and Expiration Rule" and rule.enabled
    assert rule.filter == Filter(prefix="tax/", form=rules.PREFIX)
    assert rule.transitions == (Transition(365, None, "GLACIER"),)
    assert rule.expiration_days == 3650 and rule.expiration_date is None and not rule.expired_object_delete_marker
    assert config.min_object_size == rules.ALL_CLASSES_128K
    read = answered(config)
    assert read == [
        {
            "ID": "Transition and Expiration Rule",
            "Filter": {"Prefix": "tax/"},
            "Status": "Enabled",
            "Transitions": [{"Days": 365, "StorageClass": "GLACIER"}],
            "Expiration": {"Days": 3650},
        }
    ]


def test_every_action_of_a_rule():
    config = parse(
        one(
            Transitions=[
                {"Days": 30, "StorageClass": "STANDARD_IA"},
                {"Days": 60, "StorageClass": "INTELLIGENT_TIERING"},
                {"Days": 90, "StorageClass": "GLACIER_IR"},
            ],
            Expiration={"Days": 365},
            NoncurrentVersionTransitions=[
                {"NoncurrentDays": 30, "StorageClass": "ONEZONE_IA", "NewerNoncurrentVersions": 2},
                {"NoncurrentDays": 60, "StorageClass": "DEEP_ARCHIVE"},
            ],
            NoncurrentVersionExpiration={"NoncurrentDays": 400, "NewerNoncurrentVersions": 5},
            AbortIncompleteMultipartUpload={"DaysAfterInitiation": 7},
        )
    )
    (rule,) = config.rules
    assert [(t.days, t.storage_class) for t in rule.transitions] == [(30, "STANDARD_IA"), (60, "INTELLIGENT_TIERING"), (90, "GLACIER_IR")]
    assert rule.noncurrent_transitions == (NoncurrentTransition(30, 2, "ONEZONE_IA"), NoncurrentTransition(60, None, "DEEP_ARCHIVE"))
    assert (rule.noncurrent_days, rule.newer_noncurrent, rule.abort_days) == (400, 5, 7)
    (read,) = answered(config)
    assert read["NoncurrentVersionTransitions"] == [
        {"NoncurrentDays": 30, "StorageClass": "ONEZONE_IA", "NewerNoncurrentVersions": 2},
        {"NoncurrentDays": 60, "StorageClass": "DEEP_ARCHIVE"},
    ]
    assert read["NoncurrentVersionExpiration"] == {"NoncurrentDays": 400, "NewerNoncurrentVersions": 5}
    assert read["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({}, Filter(form=rules.ALL)),
        ({"Prefix": ""}, Filter(prefix="", form=rules.PREFIX)),
        ({"Tag": {"Key": "archive", "Value": "yes"}}, Filter(tags=(("archive", "yes"),), form=rules.TAG)),
        ({"ObjectSizeGreaterThan": 500}, Filter(size_greater=500, form=rules.GREATER)),
        ({"ObjectSizeLessThan": 64000}, Filter(size_less=64000, form=rules.LESS)),
        (
            {
                "And": {
                    "Prefix": "a/",
                    "Tags": [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": ""}],
                    "ObjectSizeGreaterThan": 1,
                    "ObjectSizeLessThan": 9,
                }
            },
            Filter("a/", (("k1", "v1"), ("k2", "")), 1, 9, rules.AND_PREFIX),
        ),
        (
            {"And": {"Tags": [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}]}},
            Filter(tags=(("k1", "v1"), ("k2", "v2")), form=rules.AND),
        ),
        ({"And": {"Prefix": "", "ObjectSizeGreaterThan": 0}}, Filter(size_greater=0, form=rules.AND_PREFIX)),
    ],
)
def test_each_kind_of_filter_is_read_and_answered_in_its_own_shape(filter_, expected):
    config = parse(one(Filter=filter_, Transitions=None))
    assert config.rules[0].filter == expected
    assert answered(config)[0]["Filter"] == filter_


def test_the_first_schemas_rule_level_prefix():
    config = parse(raw(rule_xml(scope="<Prefix>docs/</Prefix>"), rule_xml(scope="<Prefix></Prefix>").replace("<ID>r</ID>", "<ID>s</ID>")))
    assert [r.filter for r in config.rules] == [Filter(prefix="docs/", form=rules.V1), Filter(prefix="", form=rules.V1)]
    assert [(r["Prefix"], "Filter" in r) for r in answered(config)] == [("docs/", False), ("", False)]


@pytest.mark.parametrize(
    "text",
    [
        "2026-06-01T00:00:00Z",
        "2026-06-01T00:00:00.000Z",
        "2026-06-01",
        "2026-06-01T02:00:00+02:00",
        "2026-05-31T19:00:00-05:00",
        "2026-06-01T00:00",
    ],
)
def test_dates_in_iso_8601_at_midnight_utc(text):
    config = parse(raw(rule_xml(f"<Expiration><Date>{text}</Date></Expiration>")))
    assert config.rules[0].expiration_date == utc(2026, 6, 1)
    assert answered(config)[0]["Expiration"] == {"Date": dt.datetime(2026, 6, 1, tzinfo=dt.UTC)}


def test_date_transitions_and_expiration_as_botocore_sends_them():
    config = parse(
        one(
            Transitions=[{"Date": dt.datetime(2026, 3, 1, tzinfo=dt.UTC), "StorageClass": "GLACIER"}],
            Expiration={"Date": dt.datetime(2027, 1, 1, tzinfo=dt.UTC)},
        )
    )
    (rule,) = config.rules
    assert rule.transitions == (Transition(None, utc(2026, 3, 1), "GLACIER"),)
    assert rule.expiration_date == utc(2027, 1, 1) and rule.expiration_days is None
    body = xml.render("LifecycleConfiguration", rules.render(config))
    assert b"<Date>2026-03-01T00:00:00.000Z</Date>" in body and b"<Date>2027-01-01T00:00:00.000Z</Date>" in body


def test_expired_object_delete_marker_true_and_false():
    config = parse(one(Filter={"Prefix": ""}, Transitions=None, Expiration={"ExpiredObjectDeleteMarker": True}))
    assert config.rules[0].expired_object_delete_marker and not config.rules[0].expiration_noop
    assert answered(config)[0]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    # False asks for nothing, but S3 takes it; it is answered back as given.
    config = parse(raw(rule_xml("<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration>")))
    assert not config.rules[0].expired_object_delete_marker and config.rules[0].expiration_noop
    assert answered(config)[0]["Expiration"] == {"ExpiredObjectDeleteMarker": False}


def test_rules_given_no_id_get_one_each_as_s3_makes_them():
    config = parse(
        raw(
            "<Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
            "<ID></ID><Filter/><Status>Disabled</Status><Expiration><Days>2</Days></Expiration>",
        )
    )
    first, second = config.rules
    assert first.id != second.id
    for rule in config.rules:
        uuid.UUID(base64.b64decode(rule.id).decode())  # base64 of a UUID's text
    assert not second.enabled


def test_namespaced_or_not():
    body = raw(rule_xml()).replace(b"<LifecycleConfiguration>", b'<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">')
    assert parse(body) == parse(raw(rule_xml()))
    # A parser that keeps the namespace in the tags (ElementTree's own) reads the same.
    assert rules.parse(body, ElementTree.fromstring) == parse(raw(rule_xml()))


def test_transition_minimum_object_size_is_kept():
    assert parse(raw(rule_xml()), rules.VARIES_BY_CLASS).min_object_size == rules.VARIES_BY_CLASS
    assert parse(raw(rule_xml()), rules.ALL_CLASSES_128K).min_object_size == rules.ALL_CLASSES_128K
    e = refusal(raw(rule_xml()), "all_storage_classes_64K")
    assert (e.code, e.message) == ("InvalidRequest", "Invalid TransitionDefaultMinimumObjectSize found: all_storage_classes_64K")


def test_values_s3_takes_at_their_limits():
    config = parse(
        raw(
            rule_xml("<Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition>", scope="<Filter/>"),
            rule_xml("<Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition>").replace(
                "<ID>r</ID>", "<ID>s</ID>"
            ),
            rule_xml(
                "<NoncurrentVersionExpiration><NewerNoncurrentVersions>100</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
            ).replace("<ID>r</ID>", "<ID>t</ID>"),
            rule_xml(f"<Expiration><Days>{2**31 - 1}</Days></Expiration>", scope=f"<Filter><Prefix>{'k' * 1024}</Prefix></Filter>").replace(
                "<ID>r</ID>", f"<ID>{'i' * 255}</ID>"
            ),
        )
    )
    assert config.rules[0].transitions[0].days == 0 and config.rules[1].transitions[0].days == 30
    assert (config.rules[2].noncurrent_days, config.rules[2].newer_noncurrent) == (None, 100)
    assert config.rules[3].expiration_days == 2**31 - 1 and len(config.rules[3].id) == 255
    tags = "".join(f"<Tag><Key>k{i}</Key><Value>v</Value></Tag>" for i in range(51))
    key, value = "ü" * 128, "v" * 256
    config = parse(raw(rule_xml(scope=f"<Filter><And>{tags}<Tag><Key>{key}</Key><Value>{value}</Value></Tag></And></Filter>")))
    assert len(config.rules[0].filter.tags) == 52


# -- refusals -------------------------------------------------------------------------------------
MALFORMED = [
    b"<Lifecycle><Rule>" + rule_xml().encode() + b"</Rule></Lifecycle>",  # not the root S3 names
    b"<LifecycleConfiguration></LifecycleConfiguration>",  # no rule
    raw(rule_xml() + "<Priority>1</Priority>"),  # an element S3 does not know
    raw(rule_xml() + "<Status>Enabled</Status>"),  # Status twice
    raw(rule_xml() + "<Expiration><Days>2</Days></Expiration>"),  # Expiration twice
    raw("<ID>r</ID><Filter/><Expiration><Days>1</Days></Expiration>"),  # no Status
    raw(rule_xml(status="enabled")),
    raw(rule_xml(scope="<Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter>")),  # both kinds of prefix
    raw(rule_xml(scope="")),  # neither
    raw(rule_xml(scope="<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>")),
    raw(rule_xml(scope="<Filter><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan><ObjectSizeLessThan>9</ObjectSizeLessThan></Filter>")),
    raw(rule_xml(scope="<Filter><And><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>")),  # And of one condition
    raw(rule_xml(scope="<Filter><And><Prefix>a</Prefix></And></Filter>")),
    raw(rule_xml(scope="<Filter><And></And></Filter>")),
    raw(rule_xml(scope="<Filter><Tag><Key>k</Key></Tag></Filter>")),  # a tag without a value
    raw(rule_xml(scope="<Filter><ObjectSizeGreaterThan>1KB</ObjectSizeGreaterThan></Filter>")),
    raw(rule_xml("<Expiration><Days>ten</Days></Expiration>")),
    raw(rule_xml("<Expiration><Days>1.5</Days></Expiration>")),
    raw(rule_xml(f"<Expiration><Days>{2**31}</Days></Expiration>")),  # not an int
    raw(rule_xml("<Expiration></Expiration>")),
    raw(rule_xml("<Expiration><Days>1</Days><Date>2026-01-01T00:00:00Z</Date></Expiration>")),
    raw(rule_xml("<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")),
    raw(rule_xml("<Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker></Expiration>")),
    raw(rule_xml("<Expiration><Date>20200101</Date></Expiration>")),
    raw(rule_xml("<Expiration><Date>2026-02-30T00:00:00Z</Date></Expiration>")),
    raw(rule_xml("<Transition><Days>1</Days></Transition>")),  # no StorageClass
    raw(rule_xml("<Transition><StorageClass>GLACIER</StorageClass></Transition>")),  # neither Days nor Date
    raw(rule_xml("<Transition><Days>1</Days><Date>2026-01-01</Date><StorageClass>GLACIER</StorageClass></Transition>")),
    raw(rule_xml("<Transition><Days>1</Days><StorageClass>COLD</StorageClass></Transition>")),
    raw(rule_xml("<NoncurrentVersionExpiration></NoncurrentVersionExpiration>")),
    raw(rule_xml("<NoncurrentVersionTransition><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>")),
    raw(rule_xml("<AbortIncompleteMultipartUpload></AbortIncompleteMultipartUpload>")),
    raw(rule_xml() + "stray text"),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_what_is_not_the_schema_is_malformed_xml(body):
    e = refusal(body)
    assert e.code == "MalformedXML"
    assert e.message == "The XML you provided was not well-formed or did not validate against our published schema"


def expiration_after(scope: str) -> str:
    return rule_xml(scope=scope)


TAG = "<Tag><Key>k</Key><Value>v</Value></Tag>"
REQUESTS = [
    (raw("<ID>r</ID><Filter/><Status>Enabled</Status>"), "At least one action needs to be specified in a rule"),
    (
        raw(*[rule_xml().replace("<ID>r</ID>", f"<ID>{i}</ID>") for i in range(1001)]),
        "Number of lifecycle rules should not exceed allowed limit of 1000 rules",
    ),
    (
        raw(
            rule_xml(
                "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Transition><Date>2027-01-01</Date><StorageClass>DEEP_ARCHIVE</StorageClass></Transition>"
            )
        ),
        "Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule for filter '(prefix=logs/)'",
    ),
    (
        raw(
            rule_xml(
                "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Date>2027-01-01</Date></Expiration>"
            )
        ),
        "Found mixed 'Date' and 'Days' based Expiration and Transition actions in lifecycle rule for filter '(prefix=logs/)'",
    ),
    (
        raw(
            rule_xml(
                "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Transition><Days>300</Days><StorageClass>GLACIER</StorageClass></Transition>"
            )
        ),
        "'StorageClass' must be different for 'Transition' actions in same 'Rule' with filter '(prefix=logs/)'",
    ),
    (
        raw(
            rule_xml(
                "<NoncurrentVersionTransition><NoncurrentDays>3</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>"
                * 2,
                scope="<Prefix>p</Prefix>",
            )
        ),
        "'StorageClass' must be different for 'NoncurrentVersionTransition' actions in same 'Rule' with prefix 'p'",
    ),
    (
        raw(rule_xml("<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>", f"<Filter>{TAG}</Filter>")),
        "ExpiredObjectDeleteMarker cannot be specified with Tags.",
    ),
    (
        raw(
            rule_xml(
                "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
                f"<Filter><And><Prefix>a</Prefix>{TAG}</And></Filter>",
            )
        ),
        "ExpiredObjectDeleteMarker cannot be specified with Tags.",
    ),
    (
        raw(
            rule_xml(
                "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
                "<Filter><ObjectSizeLessThan>9</ObjectSizeLessThan></Filter>",
            )
        ),
        "ExpiredObjectDeleteMarker cannot be specified with Object Size.",
    ),
    (
        raw(
            rule_xml(
                "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
                f"<Filter>{TAG}</Filter>",
            )
        ),
        "AbortIncompleteMultipartUpload cannot be specified with Tags.",
    ),
    (
        raw(
            rule_xml(
                "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
                "<Filter><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></Filter>",
            )
        ),
        "AbortIncompleteMultipartUpload cannot be specified with Object Size.",
    ),
    (
        raw(expiration_after(f"<Filter><Tag><Key>{'k' * 129}</Key><Value>v</Value></Tag></Filter>")),
        "A Tag's Key must be a length between 1 and 128.",
    ),
    (raw(expiration_after("<Filter><Tag><Key></Key><Value>v</Value></Tag></Filter>")), "A Tag's Key must be a length between 1 and 128."),
    (
        raw(expiration_after(f"<Filter><Tag><Key>k</Key><Value>{'v' * 257}</Value></Tag></Filter>")),
        "A Tag's Value must be a length between 0 and 256.",
    ),
    (
        raw(expiration_after(f"<Filter><And>{TAG}<Tag><Key>k</Key><Value>w</Value></Tag></And></Filter>")),
        "Duplicate Tag Keys are not allowed.",
    ),
    (
        raw(
            expiration_after(
                "<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter>"
            )
        ),
        "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.",
    ),
    (
        raw(expiration_after("<Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter>")),
        "'ObjectSizeLessThan' should be between 1 and 1099511627776000.",
    ),
    (
        raw(expiration_after("<Filter><ObjectSizeGreaterThan>-1</ObjectSizeGreaterThan></Filter>")),
        "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000.",
    ),
    (raw(expiration_after(f"<Filter><Prefix>{'a' * 1025}</Prefix></Filter>")), "The maximum size of a prefix is 1024"),
    (raw(expiration_after(f"<Prefix>{'é' * 513}</Prefix>")), "The maximum size of a prefix is 1024"),  # bytes, not characters
    (
        raw(rule_xml(), rule_xml(scope="<Prefix>logs/</Prefix>").replace("<ID>r</ID>", "<ID>s</ID>")),
        "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.",
    ),
    (
        raw(rule_xml(scope="<Prefix>old/</Prefix>"), rule_xml(scope="<Filter/>").replace("<ID>r</ID>", "<ID>s</ID>")),
        "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.",
    ),
    (
        raw(
            rule_xml(
                "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
                "<Prefix>a</Prefix>",
            )
        ),
        "NewerNoncurrentVersions element can only be used in Lifecycle V2.",
    ),
]


@pytest.mark.parametrize(("body", "message"), REQUESTS)
def test_invalid_requests(body, message):
    e = refusal(body)
    assert (e.code, e.message) == ("InvalidRequest", message)


ARGUMENTS = [
    (rule_xml("<Expiration><Days>0</Days></Expiration>"), "'Days' for Expiration action must be a positive integer", "Days", "0"),
    (rule_xml("<Expiration><Days>-3</Days></Expiration>"), "'Days' for Expiration action must be a positive integer", "Days", "-3"),
    (
        rule_xml("<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>"),
        "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
        "NoncurrentDays",
        "0",
    ),
    (
        rule_xml("<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>"),
        "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
        "DaysAfterInitiation",
        "0",
    ),
    (
        rule_xml("<Transition><Days>-1</Days><StorageClass>GLACIER</StorageClass></Transition>"),
        "'Days' in Transition action must be nonnegative",
        "Days",
        "-1",
    ),
    (
        rule_xml("<Transition><Days>29</Days><StorageClass>STANDARD_IA</StorageClass></Transition>"),
        "'Days' in Transition action must be greater than or equal to 30 for storageClass 'STANDARD_IA'",
        "Days",
        "29",
    ),
    (
        rule_xml("<Transition><Days>0</Days><StorageClass>ONEZONE_IA</StorageClass></Transition>"),
        "'Days' in Transition action must be greater than or equal to 30 for storageClass 'ONEZONE_IA'",
        "Days",
        "0",
    ),
    (
        rule_xml(
            "<NoncurrentVersionTransition><NoncurrentDays>29</NoncurrentDays><StorageClass>STANDARD_IA</StorageClass></NoncurrentVersionTransition>"
        ),
        "'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal to 30 for storageClass 'STANDARD_IA'",
        "NoncurrentDays",
        "29",
    ),
    (
        rule_xml(
            "<NoncurrentVersionTransition><NoncurrentDays>-1</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>"
        ),
        "'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative",
        "NoncurrentDays",
        "-1",
    ),
    (
        rule_xml("<Transition><Days>5</Days><StorageClass>STANDARD</StorageClass></Transition>"),
        "Invalid target Storage class for Transition action",
        "StorageClass",
        "STANDARD",
    ),
    (
        rule_xml("<Expiration><Date>2026-01-01T10:00:00Z</Date></Expiration>"),
        "'Date' must be at midnight GMT",
        "Date",
        "2026-01-01T10:00:00Z",
    ),
    (
        rule_xml("<Expiration><Date>2026-01-01T00:00:00.5Z</Date></Expiration>"),
        "'Date' must be at midnight GMT",
        "Date",
        "2026-01-01T00:00:00.5Z",
    ),
    (
        rule_xml("<Expiration><Date>2026-01-01T00:00:00+01:00</Date></Expiration>"),
        "'Date' must be at midnight GMT",
        "Date",
        "2026-01-01T00:00:00+01:00",
    ),
    (
        rule_xml("<Transition><Date>2026-01-01T12:00:00Z</Date><StorageClass>GLACIER</StorageClass></Transition>"),
        "'Date' must be at midnight GMT",
        "Date",
        "2026-01-01T12:00:00Z",
    ),
    (
        rule_xml(
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>0</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
        ),
        "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer",
        "NewerNoncurrentVersions",
        "0",
    ),
    (
        rule_xml(
            "<NoncurrentVersionTransition><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions>"
            "<StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>"
        ),
        "'NewerNoncurrentVersions' for NoncurrentVersionTransition action must not exceed 100",
        "NewerNoncurrentVersions",
        "101",
    ),
    (rule_xml().replace("<ID>r</ID>", f"<ID>{'i' * 256}</ID>"), "ID length should not exceed allowed limit of 255", "ID", "i" * 256),
    (
        rule_xml(
            "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Transition><Days>60</Days><StorageClass>STANDARD_IA</StorageClass></Transition>"
        ),
        "'Days' in the 'Transition' action for StorageClass 'GLACIER' for filter '(prefix=logs/)' must be greater than "
        "'Days' in the 'Transition' action for StorageClass 'STANDARD_IA' for filter '(prefix=logs/)'",
        "Days",
        "30",
    ),
    # S3's own answer to this rule, word for word (its filter where the field belongs included).
    (
        rule_xml(
            "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Transition><Days>90</Days><StorageClass>DEEP_ARCHIVE</StorageClass></Transition>",
            "<Filter><Prefix></Prefix></Filter>",
        ),
        "'Days' in the 'Transition' action for StorageClass 'DEEP_ARCHIVE' for filter '(prefix=)' must be 90 days more than "
        "'filter '(prefix=)'' in the 'Transition' action for StorageClass 'GLACIER'",
        "Days",
        "90",
    ),
    (
        rule_xml(
            "<Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition><Transition><Days>31</Days><StorageClass>GLACIER</StorageClass></Transition>"
        ),
        "'Days' in the 'Transition' action for StorageClass 'GLACIER' for filter '(prefix=logs/)' must be 30 days more than "
        "'filter '(prefix=logs/)'' in the 'Transition' action for StorageClass 'STANDARD_IA'",
        "Days",
        "31",
    ),
    (
        rule_xml(
            "<Transition><Date>2026-01-01</Date><StorageClass>GLACIER_IR</StorageClass></Transition>"
            "<Transition><Date>2026-02-01</Date><StorageClass>GLACIER</StorageClass></Transition>"
        ),
        "'Date' in the 'Transition' action for StorageClass 'GLACIER' for filter '(prefix=logs/)' must be 90 days more than "
        "'filter '(prefix=logs/)'' in the 'Transition' action for StorageClass 'GLACIER_IR'",
        "Date",
        "2026-02-01T00:00:00.000Z",
    ),
    (
        rule_xml(
            "<Transition><Days>30</Days><StorageClass>ONEZONE_IA</StorageClass></Transition><Transition><Days>90</Days><StorageClass>GLACIER_IR</StorageClass></Transition>"
        ),
        "'StorageClass' 'GLACIER_IR' in the 'Transition' action for filter '(prefix=logs/)' cannot be used with StorageClass 'ONEZONE_IA': "
        "S3 moves objects from neither to the other",
        "StorageClass",
        "GLACIER_IR",
    ),
    (
        rule_xml("<Transition><Days>100</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Days>100</Days></Expiration>"),
        "'Days' in the Expiration action for filter '(prefix=logs/)' must be greater than 'Days' in the Transition action",
        "Days",
        "100",
    ),
    (
        rule_xml(
            "<Transition><Date>2027-01-01</Date><StorageClass>GLACIER</StorageClass></Transition><Expiration><Date>2026-01-01</Date></Expiration>"
        ),
        "'Date' in the Expiration action for filter '(prefix=logs/)' must be greater than 'Date' in the Transition action",
        "Date",
        "2026-01-01T00:00:00.000Z",
    ),
    (
        rule_xml(
            "<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>"
            "<NoncurrentVersionExpiration><NoncurrentDays>20</NoncurrentDays></NoncurrentVersionExpiration>",
            f"<Filter><And><Prefix>a/</Prefix>{TAG}</And></Filter>",
        ),
        "'NoncurrentDays' in the NoncurrentVersionExpiration action for filter '(prefix=a/ and tag: key=k, value=v)' must be greater than "
        "'NoncurrentDays' in the NoncurrentVersionTransition action",
        "NoncurrentDays",
        "20",
    ),
]


@pytest.mark.parametrize(("body", "message", "name", "value"), ARGUMENTS)
def test_invalid_arguments(body, message, name, value):
    e = refusal(raw(body))
    assert (e.code, e.message, e.argument_name, e.argument_value) == ("InvalidArgument", message, name, value)


def test_rule_ids_must_be_unique():
    e = refusal(raw(rule_xml(), rule_xml(scope="<Filter><Prefix>other/</Prefix></Filter>")))
    assert (e.code, e.message, e.argument_name, e.argument_value) == (
        "InvalidArgument",
        "Rule ID must be unique. Found same ID for more than one rule",
        "ID",
        "r",
    )


def test_what_parse_xml_raises_passes_through():
    from hoard.s3.errors import S3Error

    with pytest.raises(S3Error):
        parse(b"<LifecycleConfiguration><Rule>")


# -- round trips ----------------------------------------------------------------------------------
RICH = raw(
    rule_xml(
        "<Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition>"
        "<Transition><Days>60</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Days>400</Days></Expiration>"
        "<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions>"
        "<StorageClass>ONEZONE_IA</StorageClass></NoncurrentVersionTransition>"
        "<NoncurrentVersionExpiration><NoncurrentDays>90</NoncurrentDays><NewerNoncurrentVersions>4</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
    ),
    "<ID>all</ID><Filter></Filter><Status>Disabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
    f"<ID>tag</ID><Filter>{TAG}</Filter><Status>Enabled</Status><Transition><Date>2026-05-01</Date><StorageClass>DEEP_ARCHIVE</StorageClass></Transition>"
    "<Expiration><Date>2026-06-01</Date></Expiration>",
    "<ID>big</ID><Filter><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration>",
    "<ID>small</ID><Filter><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter><Status>Enabled</Status>"
    "<NoncurrentVersionExpiration><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
    f"<ID>and</ID><Filter><And>{TAG}<Tag><Key>k2</Key><Value></Value></Tag><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter>"
    "<Status>Enabled</Status><Expiration><Days>3</Days></Expiration>",
    "<ID>and-prefix</ID><Filter><And><Prefix></Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter><Status>Enabled</Status>"
    "<Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition>",
    "<ID>noop</ID><Filter><Prefix>n/</Prefix></Filter><Status>Enabled</Status>"
    "<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration>",
)
V1_RULES = raw(
    rule_xml(scope="<Prefix>a &amp; b/</Prefix>"),
    "<ID>s</ID><Prefix></Prefix><Status>Enabled</Status><Expiration><Days>9</Days></Expiration>",
)


@pytest.mark.parametrize("body", [RICH, V1_RULES])
def test_render_then_parse_gives_the_same_configuration(body):
    config = parse(body, rules.VARIES_BY_CLASS)
    again = rules.parse(xml.render("LifecycleConfiguration", rules.render(config)), xml.parse, config.min_object_size)
    assert again == config
    assert [r.filter.form for r in again.rules] == [r.filter.form for r in config.rules]


@pytest.mark.parametrize("body", [RICH, V1_RULES])
def test_json_round_trip(body):
    config = parse(body, rules.VARIES_BY_CLASS)
    kept = json.loads(json.dumps(config.to_json()))
    assert LifecycleConfig.from_json(kept) == config
    assert kept["min_object_size"] == rules.VARIES_BY_CLASS


def test_a_filter_made_in_code_takes_the_plainest_form():
    assert Filter().form == rules.ALL
    assert Filter(prefix="a").form == rules.PREFIX
    assert Filter(tags=(("k", "v"),)).form == rules.TAG
    assert Filter(size_greater=1).form == rules.GREATER and Filter(size_less=1).form == rules.LESS
    assert Filter(tags=(("k", "v"), ("l", "w"))).form == rules.AND and Filter("a", size_less=3).form == rules.AND_PREFIX


# -- time -----------------------------------------------------------------------------------------
def test_due_after_rounds_up_to_the_next_midnight_utc():
    assert due_after(T0, 1, DAY) == utc(2026, 1, 3)  # 2026-01-01 10:00 + 1 day -> 2026-01-03 00:00
    assert due_after(utc(2014, 1, 15, 10, 30), 3, DAY) == utc(2014, 1, 19)  # the user guide's example
    assert due_after(utc(2026, 1, 1, 23, 59, 59), 1, DAY) == utc(2026, 1, 3)
    assert due_after(utc(2026, 1, 1), 1, DAY) == utc(2026, 1, 3)  # a sum at midnight moves to the next one
    assert due_after(T0, 0, DAY) == utc(2026, 1, 2)  # Days 0: the next midnight


def test_a_two_second_day():
    assert day_start(101.9, 2) == 100 and day_start(100, 2) == 100
    assert due_after(101.5, 1, 2) == 104
    assert due_after(100, 1, 2) == 104
    assert due_after(99.9, 3, 2) == 106
    assert due_after(101, 0, 2) == 102


def test_day_start_is_midnight_utc():
    assert day_start(T0, DAY) == utc(2026, 1, 1)
    assert day_start(utc(2026, 1, 1), DAY) == utc(2026, 1, 1)


# -- what the rules do ----------------------------------------------------------------------------
def facts(**changes) -> VersionFacts:
    """The current version of logs/a, 1 MiB in STANDARD, created at T0."""
    v = {
        "key": "logs/a", "size": 1024 * KIB, "tags": (), "last_modified": T0, "storage_class": "STANDARD", "is_latest": True,
        "delete_marker": False, "noncurrent_since": None, "newer_noncurrent": 0, "only_version": False,
    }  # fmt: skip
    v.update(changes)
    return VersionFacts(**v)


def noncurrent(since: float = utc(2026, 2, 1, 8), newer: int = 0, **changes) -> VersionFacts:
    return facts(is_latest=False, noncurrent_since=since, newer_noncurrent=newer, **changes)


def config(*rules_: Rule, min_object_size: str = rules.ALL_CLASSES_128K) -> LifecycleConfig:
    return LifecycleConfig(tuple(rules_), min_object_size)


def rule(rule_id: str = "r", **changes) -> Rule:
    return Rule(**{"id": rule_id, "enabled": True, "filter": Filter(), **changes})


def at(c: LifecycleConfig, v: VersionFacts, when: float) -> Action | None:
    return action_for(c, v, when, DAY)


def test_expiration_by_days_expires_the_current_version_from_its_due_midnight():
    c = config(rule(expiration_days=1))
    assert at(c, facts(), utc(2026, 1, 3) - 1) is None
    assert at(c, facts(), utc(2026, 1, 3)) == Action("expire", "r")


def test_expiration_by_date_expires_everything_from_that_date():
    c = config(rule(expiration_date=utc(2026, 3, 1)))
    assert at(c, facts(), utc(2026, 3, 1) - 1) is None
    assert at(c, facts(), utc(2026, 3, 1)) == Action("expire", "r")
    assert at(c, facts(last_modified=utc(2026, 4, 1)), utc(2026, 4, 2)) == Action("expire", "r")  # created after the date


def test_expiration_leaves_noncurrent_versions():
    assert at(config(rule(expiration_days=1)), noncurrent(), utc(2027, 1, 1)) is None


def test_a_transition_falls_due():
    c = config(rule(transitions=(Transition(30, None, "STANDARD_IA"),)))
    due = due_after(T0, 30, DAY)
    assert at(c, facts(), due - 1) is None
    assert at(c, facts(), due) == Action("transition", "r", "STANDARD_IA")
    assert at(c, facts(storage_class="STANDARD_IA"), due) is None  # there already


def test_a_date_transition():
    c = config(rule(transitions=(Transition(None, utc(2026, 2, 1), "GLACIER"),)))
    assert at(c, facts(), utc(2026, 2, 1) - 1) is None
    assert at(c, facts(), utc(2026, 2, 1)) == Action("transition", "r", "GLACIER")


def test_of_the_due_transitions_the_coldest():
    c = config(rule(transitions=(Transition(30, None, "STANDARD_IA"), Transition(60, None, "GLACIER"))))
    assert at(c, facts(), due_after(T0, 30, DAY)) == Action("transition", "r", "STANDARD_IA")
    assert at(c, facts(), due_after(T0, 60, DAY)) == Action("transition", "r", "GLACIER")  # skipped STANDARD_IA
    assert at(c, facts(storage_class="STANDARD_IA"), due_after(T0, 60, DAY)) == Action("transition", "r", "GLACIER")
    # Two rules: the colder class wins whatever the order.
    c = config(
        rule("ia", transitions=(Transition(30, None, "STANDARD_IA"),)), rule("gir", transitions=(Transition(30, None, "GLACIER_IR"),))
    )
    assert at(c, facts(), due_after(T0, 30, DAY)) == Action("transition", "gir", "GLACIER_IR")


@pytest.mark.parametrize(
    ("source", "target", "moves"),
    [
        ("STANDARD", "DEEP_ARCHIVE", True),
        ("REDUCED_REDUNDANCY", "GLACIER_IR", True),
        ("STANDARD_IA", "INTELLIGENT_TIERING", True),
        ("INTELLIGENT_TIERING", "STANDARD_IA", False),
        ("INTELLIGENT_TIERING", "ONEZONE_IA", True),
        ("ONEZONE_IA", "GLACIER_IR", False),  # outside S3's waterfall
        ("ONEZONE_IA", "GLACIER", True),
        ("GLACIER", "STANDARD_IA", False),  # never back up
        ("GLACIER", "DEEP_ARCHIVE", True),
        ("DEEP_ARCHIVE", "GLACIER", False),
    ],
)
def test_transitions_only_where_s3_moves_objects(source, target, moves):
    c = config(rule(transitions=(Transition(30, None, target),)))
    expected = Action("transition", "r", target) if moves else None
    assert at(c, facts(storage_class=source), utc(2027, 1, 1)) == expected
    assert rules.can_transition(source, target) is moves


def test_objects_under_128_kib_are_not_transitioned_by_default():
    glacier, ia = Transition(30, None, "GLACIER"), Transition(30, None, "STANDARD_IA")
    small, later = facts(size=128 * KIB - 1), utc(2027, 1, 1)
    assert at(config(rule(transitions=(glacier,))), small, later) is None
    assert at(config(rule(transitions=(glacier,))), facts(size=128 * KIB), later) == Action("transition", "r", "GLACIER")
    # varies_by_storage_class: to GLACIER and DEEP_ARCHIVE only.
    assert at(config(rule(transitions=(glacier,)), min_object_size=rules.VARIES_BY_CLASS), small, later) == Action(
        "transition", "r", "GLACIER"
    )
    assert at(config(rule(transitions=(ia,)), min_object_size=rules.VARIES_BY_CLASS), small, later) is None
    # A size condition in the filter chooses the minimum instead.
    sized = rule(filter=Filter(size_greater=0), transitions=(ia,))
    assert at(config(sized), small, later) == Action("transition", "r", "STANDARD_IA")


def test_expiration_before_a_transition_due_the_same_day_unless_it_only_adds_a_delete_marker():
    c = config(rule("move", transitions=(Transition(0, None, "GLACIER"),)), rule("expire", expiration_days=1))
    later = utc(2026, 2, 1)
    assert at(c, facts(), later) == Action("expire", "expire")  # deleting it for good comes first
    assert at(c, facts(versioned=True), later) == Action("transition", "move", "GLACIER")  # a transition before a delete marker
    assert at(c, facts(versioned=True, storage_class="GLACIER"), later) == Action("expire", "expire")  # nothing to move: expire


def test_of_two_expirations_the_earlier():
    c = config(rule("late", expiration_days=30), rule("soon", expiration_days=5))
    assert at(c, facts(), utc(2027, 1, 1)) == Action("expire", "soon")


def test_expired_object_delete_markers():
    c = config(rule(expired_object_delete_marker=True))
    marker = facts(delete_marker=True, size=0, only_version=True)
    assert at(c, marker, T0) == Action("delete-marker", "r")
    assert at(c, facts(delete_marker=True, size=0, only_version=False), T0) is None  # it hides versions
    assert at(c, facts(), utc(2030, 1, 1)) is None  # asks nothing of objects
    # A rule that expires current versions removes them too, once its days have passed.
    c = config(rule(expiration_days=3))
    assert at(c, marker, due_after(T0, 3, DAY) - 1) is None
    assert at(c, marker, due_after(T0, 3, DAY)) == Action("delete-marker", "r")
    assert at(config(rule(expiration_date=utc(2026, 5, 1))), marker, utc(2026, 5, 1)) == Action("delete-marker", "r")


def test_rules_with_tag_or_size_conditions_never_select_delete_markers():
    marker = facts(delete_marker=True, size=0, only_version=True)
    for rule_filter in (Filter(tags=(("k", "v"),)), Filter(size_less=10), Filter(size_greater=0), Filter("logs/", size_less=10)):
        assert at(config(rule(filter=rule_filter, expiration_days=1)), marker, utc(2030, 1, 1)) is None
    assert at(config(rule(filter=Filter("logs/"), expiration_days=1)), marker, utc(2030, 1, 1)) == Action("delete-marker", "r")
    assert at(config(rule(filter=Filter("other/"), expiration_days=1)), marker, utc(2030, 1, 1)) is None
    gone = noncurrent(delete_marker=True, size=0)
    assert at(config(rule(filter=Filter(tags=(("k", "v"),)), noncurrent_days=1)), gone, utc(2030, 1, 1)) is None


def test_noncurrent_expiration_counts_from_when_the_version_became_noncurrent():
    c = config(rule(noncurrent_days=30))
    since = utc(2026, 2, 1, 8)
    v = noncurrent(since)
    assert at(c, v, due_after(since, 30, DAY) - 1) is None  # long after creation, but not after becoming noncurrent
    assert at(c, v, due_after(since, 30, DAY)) == Action("delete-version", "r")
    # A noncurrent delete marker goes the same way.
    assert at(c, noncurrent(since, delete_marker=True, size=0), due_after(since, 30, DAY)) == Action("delete-version", "r")


def test_newer_noncurrent_versions_keeps_the_newest():
    c = config(rule(noncurrent_days=1, newer_noncurrent=2))
    later = utc(2027, 1, 1)
    assert [at(c, noncurrent(newer=n), later) for n in range(4)] == [
        None,
        None,
        Action("delete-version", "r"),
        Action("delete-version", "r"),
    ]
    # With no NoncurrentDays, the extra versions go at the next midnight.
    c = config(rule(newer_noncurrent=1))
    since = utc(2026, 2, 1, 8)
    assert at(c, noncurrent(since, newer=1), utc(2026, 2, 2) - 1) is None
    assert at(c, noncurrent(since, newer=1), utc(2026, 2, 2)) == Action("delete-version", "r")
    assert at(c, noncurrent(since, newer=0), utc(2027, 1, 1)) is None


def test_noncurrent_transitions():
    c = config(rule(noncurrent_transitions=(NoncurrentTransition(30, 1, "GLACIER"), NoncurrentTransition(10, None, "GLACIER_IR"))))
    since = utc(2026, 2, 1, 8)
    assert at(c, noncurrent(since), due_after(since, 10, DAY) - 1) is None
    assert at(c, noncurrent(since), due_after(since, 10, DAY)) == Action("transition", "r", "GLACIER_IR")
    assert at(c, noncurrent(since, newer=0), due_after(since, 30, DAY)) == Action("transition", "r", "GLACIER_IR")  # the newest stays
    assert at(c, noncurrent(since, newer=1), due_after(since, 30, DAY)) == Action("transition", "r", "GLACIER")
    assert at(c, noncurrent(since, newer=1, delete_marker=True, size=0), utc(2030, 1, 1)) is None  # markers do not move
    assert at(c, facts(), utc(2030, 1, 1)) is None  # nor do current versions


def test_permanent_deletion_before_a_transition():
    c = config(rule("move", noncurrent_transitions=(NoncurrentTransition(5, None, "GLACIER"),)), rule("drop", noncurrent_days=5))
    since = utc(2026, 2, 1, 8)
    assert at(c, noncurrent(since), due_after(since, 5, DAY)) == Action("delete-version", "drop")


def test_disabled_rules_do_nothing():
    off = {"enabled": False}
    assert at(config(rule(expiration_days=1, **off)), facts(), utc(2030, 1, 1)) is None
    assert at(config(rule(transitions=(Transition(0, None, "GLACIER"),), **off)), facts(), utc(2030, 1, 1)) is None
    assert at(config(rule(noncurrent_days=1, **off)), noncurrent(), utc(2030, 1, 1)) is None
    assert at(config(rule(expired_object_delete_marker=True, **off)), facts(delete_marker=True, size=0, only_version=True), T0) is None
    assert rules.expiration_for(config(rule(expiration_days=1, **off)), "logs/a", (), 1, T0, DAY) is None
    assert rules.abort_due(config(rule(abort_days=1, **off)), "logs/a", T0, utc(2030, 1, 1), DAY) is None


@pytest.mark.parametrize(
    ("rule_filter", "key", "tags", "size", "selected"),
    [
        (Filter("logs/"), "logs/a", (), 1, True),
        (Filter("logs/"), "log/a", (), 1, False),
        (Filter(tags=(("k", "v"),)), "x", (("a", "b"), ("k", "v")), 1, True),
        (Filter(tags=(("k", "v"),)), "x", (("k", "w"),), 1, False),
        (Filter(tags=(("k", "v"), ("l", "w"))), "x", (("k", "v"),), 1, False),  # And: every tag
        (Filter(size_greater=10), "x", (), 10, False),
        (Filter(size_greater=10), "x", (), 11, True),
        (Filter(size_less=10), "x", (), 10, False),
        (Filter(size_less=10), "x", (), 9, True),
        (Filter("a/", (("k", "v"),), 1, 100, rules.AND_PREFIX), "a/x", (("k", "v"),), 50, True),
        (Filter("a/", (("k", "v"),), 1, 100, rules.AND_PREFIX), "b/x", (("k", "v"),), 50, False),
        (Filter("a/", (("k", "v"),), 1, 100, rules.AND_PREFIX), "a/x", (("k", "v"),), 100, False),
        (Filter(), "anything", (), 0, True),
    ],
)
def test_filters(rule_filter, key, tags, size, selected):
    assert rule_filter.matches(key, iter(tags), size) is selected
    expected = Action("expire", "r") if selected else None
    assert at(config(rule(filter=rule_filter, expiration_days=1)), facts(key=key, tags=tags, size=size), utc(2030, 1, 1)) == expected


# -- x-amz-expiration and multipart uploads ------------------------------------------------------------
def test_expiration_for_is_the_earliest_expiry_and_its_rule():
    c = config(
        rule("by-days", filter=Filter("logs/"), expiration_days=30),
        rule("by-date", expiration_date=utc(2026, 1, 20)),
        rule("markers", expired_object_delete_marker=True),
        rule("tagged", filter=Filter(tags=(("k", "v"),)), expiration_days=1),
        rule("moves", transitions=(Transition(1, None, "GLACIER"),)),
    )
    assert rules.expiration_for(c, "logs/a", (), 5, T0, DAY) == (utc(2026, 1, 20), "by-date")
    assert rules.expiration_for(c, "logs/a", (), 5, utc(2025, 12, 1, 9), DAY) == (utc(2026, 1, 1), "by-days")
    assert rules.expiration_for(c, "logs/a", iter([("k", "v")]), 5, T0, DAY) == (utc(2026, 1, 3), "tagged")
    assert rules.expiration_for(config(rule(expired_object_delete_marker=True)), "logs/a", (), 5, T0, DAY) is None
    assert rules.expiration_for(config(rule(filter=Filter("other/"), expiration_days=1)), "logs/a", (), 5, T0, DAY) is None


def test_expiration_header_as_s3_sends_it():
    assert (
        rules.expiration_header(utc(2012, 12, 23), "picture-deletion-rule")
        == 'expiry-date="Sun, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"'
    )
    assert rules.expiration_header(utc(2026, 1, 3), "my rule/1") == 'expiry-date="Sat, 03 Jan 2026 00:00:00 GMT", rule-id="my%20rule%2F1"'


def test_abort_due():
    c = config(
        rule("week", filter=Filter("uploads/"), abort_days=7),
        rule("day", filter=Filter("uploads/tmp/"), abort_days=1),
        rule("none", expiration_days=1),
    )
    assert rules.abort_due(c, "uploads/a", T0, due_after(T0, 7, DAY) - 1, DAY) is None
    assert rules.abort_due(c, "uploads/a", T0, due_after(T0, 7, DAY), DAY) == "week"
    assert rules.abort_due(c, "uploads/tmp/a", T0, due_after(T0, 1, DAY), DAY) == "day"
    assert rules.abort_due(c, "uploads/tmp/a", T0, utc(2030, 1, 1), DAY) == "day"  # the one due first
    assert rules.abort_due(c, "other/a", T0, utc(2030, 1, 1), DAY) is None
    assert rules.abort_due(config(rule(abort_days=2)), "k", 100.5, 106, 2) == "r"  # a two-second day: due at 106
    assert rules.abort_due(config(rule(abort_days=2)), "k", 100.5, 105.9, 2) is None


def test_a_parsed_configuration_acts():
    """End to end: the document S3's user guide gives, then what it does to an object."""
    c = parse(one(Transitions=[{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 365, "StorageClass": "GLACIER"}]))
    v = facts(key="tax/2026.pdf")
    assert at(c, v, due_after(T0, 30, DAY)) == Action("transition", "Transition and Expiration Rule", "STANDARD_IA")
    assert at(c, v, due_after(T0, 3650, DAY)) == Action("expire", "Transition and Expiration Rule")
    assert at(c, facts(key="other"), due_after(T0, 3650, DAY)) is None
