"""Replication configurations (hoard.replication.rules): S3's documented examples in both schemas,
serialized by botocore exactly as ``aws s3api put-bucket-replication`` sends them and read back
by botocore as GetBucketReplication answers them; which rule covers a version; every refusal."""

from __future__ import annotations

import copy

import botocore.session
import pytest
from botocore import parsers, serialize

from hoard.replication import rules
from hoard.replication.rules import ReplicationConfig, ReplicationConfigError, Rule
from hoard.s3 import xml
from hoard.s3.errors import S3Error

MODEL = botocore.session.get_session().get_service_model("s3")
ROLE = "arn:aws:iam::123456789012:role/dr-site"


def document(config: dict) -> bytes:
    """The body botocore sends for PutBucketReplication with this configuration."""
    operation = MODEL.operation_model("PutBucketReplication")
    request = serialize.create_serializer("rest-xml", include_validation=False).serialize_to_request({"Bucket": "src", "ReplicationConfiguration": config}, operation)
    return request["body"]


def answered(config: ReplicationConfig) -> dict:
    """What a client reads from GetBucketReplication's answer for ``config``."""
    body = xml.render("ReplicationConfiguration", rules.render(config))
    operation = MODEL.operation_model("GetBucketReplication")
    parsed = parsers.create_parser("rest-xml").parse({"body": body, "headers": {}, "status_code": 200}, operation.output_shape)
    return parsed["ReplicationConfiguration"]


def parse(config: dict | bytes) -> ReplicationConfig:
    return rules.parse(config if isinstance(config, bytes) else document(config), xml.parse)


def refusal(config: dict | bytes) -> ReplicationConfigError:
    with pytest.raises(ReplicationConfigError) as e:
        parse(config)
    return e.value


def v2(**changes) -> dict:
    """One V2 rule (the AWS CLI's documented example), changed."""
    rule = {
        "ID": "all",
        "Status": "Enabled",
        "Priority": 1,
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Filter": {"Prefix": ""},
        "Destination": {"Bucket": "arn:aws:s3:::backup"},
    }
    rule.update(changes)
    return {k: v for k, v in rule.items() if v is not None}


def config(*rules_: dict, role: str = ROLE) -> dict:
    return {"Role": role, "Rules": list(rules_) or [v2()]}


# -- S3's examples, both ways ---------------------------------------------------------------------
def test_the_aws_cli_example_v2():
    sent = {
        "Role": "arn:aws:iam::123456789012:role/s3-replication-role",
        "Rules": [
            {
                "Status": "Enabled",
                "Priority": 1,
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "Filter": {"Prefix": ""},
                "Destination": {"Bucket": "arn:aws:s3:::amzn-s3-demo-bucket2"},
            }
        ],
    }
    parsed = parse(sent)
    assert parsed.remote == "s3-replication-role" and parsed.role == sent["Role"]
    [rule] = parsed.rules
    assert rule.id  # S3 makes one up
    assert rule == Rule(rule.id, 1, True, "", (), False, False, "amzn-s3-demo-bucket2", "", rules.PREFIX)
    back = answered(parsed)
    assert back == {**sent, "Rules": [{**sent["Rules"][0], "ID": rule.id}]}


def test_the_botocore_example_v1():
    sent = {
        "Role": "arn:aws:iam::123456789012:role/examplerole",
        "Rules": [{"Destination": {"Bucket": "arn:aws:s3:::destinationbucket", "StorageClass": "STANDARD"}, "Prefix": "", "Status": "Enabled"}],
    }
    parsed = parse(sent)
    [rule] = parsed.rules
    assert rule.v1 and rule.delete_markers and rule.priority == 0 and rule.storage_class == "STANDARD"
    assert parsed.remote == "examplerole"
    # Answered in the first schema, as given (no Priority, no Filter, no DeleteMarkerReplication).
    assert answered(parsed) == {**sent, "Rules": [{**sent["Rules"][0], "ID": rule.id}]}


def test_generated_ids_look_like_s3s():
    # GetBucketReplication's documented example: "MWIwNTkwZmItMTE3MS00ZTc3LWJkZDEtNzRmODQwYzc1OTQy"
    made = rules.new_rule_id()
    assert len(made) == 48 and made != rules.new_rule_id()


@pytest.mark.parametrize(
    "filter_",
    [
        {},
        {"Prefix": "logs/"},
        {"Tag": {"Key": "class", "Value": "gold"}},
        {"And": {"Prefix": "logs/", "Tags": [{"Key": "class", "Value": "gold"}]}},
        {"And": {"Tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": ""}]}},
        {"And": {"Prefix": "", "Tags": [{"Key": "k", "Value": "v"}]}},
    ],
    ids=["all", "prefix", "tag", "and-prefix", "and-tags", "and-empty-prefix"],
)
def test_every_filter_is_answered_as_given(filter_):
    sent = config(
        v2(ID="one", Priority=7, Filter=filter_, ExistingObjectReplication={"Status": "Enabled"}, Destination={"Bucket": "arn:aws:s3:::backup", "StorageClass": "STANDARD_IA"})
    )
    parsed = parse(sent)
    assert answered(parsed) == sent
    assert ReplicationConfig.from_json(parsed.to_json()) == parsed
    assert parse(xml.render("ReplicationConfiguration", rules.render(parsed))) == parsed


def test_what_a_rule_holds():
    parsed = parse(
        config(
            v2(ID="gold", Priority=10, Filter={"And": {"Prefix": "logs/", "Tags": [{"Key": "class", "Value": "gold"}]}}),
            v2(ID="rest", Priority=1, Filter={}, DeleteMarkerReplication={"Status": "Enabled"}, ExistingObjectReplication={"Status": "Enabled"}),
            v2(ID="off", Priority=99, Status="Disabled", Filter={"Prefix": "logs/"}, Destination={"Bucket": "arn:aws:s3:::backup", "StorageClass": "GLACIER"}),
        )
    )
    gold, rest, off = parsed.rules
    assert (gold.prefix, gold.tags, gold.delete_markers, gold.existing_objects, gold.destination_bucket) == ("logs/", (("class", "gold"),), False, False, "backup")
    assert (rest.prefix, rest.tags, rest.delete_markers, rest.existing_objects) == ("", (), True, True)
    assert (off.enabled, off.storage_class) == (False, "GLACIER")


def test_both_role_forms_and_paths():
    assert parse(config(role="arn:aws:iam::000000000000:role/east")).remote == "east"
    assert parse(config(role="arn:aws:iam::123456789012:role/service-role/ops/east-1.b_2")).remote == "east-1.b_2"
    assert parse(config(role="arn:hoard:iam:::remote/east")).remote == "east"
    assert rules.ROLE_FOR.format(remote="x") == "arn:aws:iam::000000000000:role/x"


def test_disabled_extras_change_nothing_and_are_accepted():
    parsed = parse(
        config(
            v2(
                SourceSelectionCriteria={"SseKmsEncryptedObjects": {"Status": "Disabled"}, "ReplicaModifications": {"Status": "Disabled"}},
                Destination={
                    "Bucket": "arn:aws:s3:::backup",
                    "ReplicationTime": {"Status": "Disabled", "Time": {"Minutes": 15}},
                    "Metrics": {"Status": "Disabled"},
                },
                ExistingObjectReplication={"Status": "Disabled"},
            )
        )
    )
    assert parsed.rules[0].existing_objects is False


def test_namespaces_and_whitespace_between_elements():
    body = b"""<?xml version="1.0"?>
    <ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Role>arn:hoard:iam:::remote/east</Role>
      <Rule>
        <ID> spaced id </ID>
        <Status>Enabled</Status>
        <Prefix> a</Prefix>
        <Destination><Bucket>arn:aws:s3:::backup</Bucket></Destination>
      </Rule>
    </ReplicationConfiguration>"""
    [rule] = parse(body).rules
    assert (rule.id, rule.prefix) == (" spaced id ", " a")  # text is kept as given


# -- which rule covers a version ------------------------------------------------------------------
def test_the_highest_priority_enabled_rule_covering_a_version_wins():
    parsed = parse(
        config(
            v2(ID="all", Priority=1, Filter={}),
            v2(ID="logs", Priority=5, Filter={"Prefix": "logs/"}),
            v2(ID="gold-logs", Priority=9, Filter={"And": {"Prefix": "logs/", "Tags": [{"Key": "class", "Value": "gold"}]}}),
            v2(ID="off", Priority=50, Status="Disabled", Filter={}),
            v2(ID="two-tags", Priority=20, Filter={"And": {"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}),
        )
    )

    def rule(key, tags=()):
        found = parsed.rule_for(key, tags)
        return found and found.id

    assert rule("photo.jpg") == "all"
    assert rule("logs/x") == "logs"
    assert rule("logs/x", [("class", "gold")]) == "gold-logs"
    assert rule("logs/x", [("class", "silver")]) == "logs"
    assert rule("x", [("a", "1")]) == "all"  # every tag of the rule must be on the version
    assert rule("x", [("a", "1"), ("b", "2"), ("c", "3")]) == "two-tags"
    assert rule("x", iter([("b", "2"), ("a", "1")])) == "two-tags"  # any iterable of pairs
    only_tags = parse(config(v2(Filter={"Tag": {"Key": "k", "Value": "v"}})))
    assert only_tags.rule_for("k", []) is None  # a delete marker (no tags) never matches a tag rule
    assert parse(config(v2(Status="Disabled"))).rule_for("anything", []) is None
    v1 = parse(config({"Prefix": "a/", "Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::backup"}}, {"Prefix": "b/", "Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::backup"}}))
    assert v1.rule_for("b/1", []).prefix == "b/" and v1.rule_for("c", []) is None


def test_json_round_trip_keeps_every_field():
    parsed = parse(config(v2(ID="x", Filter={"And": {"Prefix": "p", "Tags": [{"Key": "k", "Value": "v"}]}})))
    stored = parsed.to_json()
    assert stored["remote"] == "dr-site" and stored["rules"][0]["tags"] == [["k", "v"]]
    assert ReplicationConfig.from_json(copy.deepcopy(stored)) == parsed


# -- refusals -------------------------------------------------------------------------------------
MALFORMED = [
    ("not XML", b"<ReplicationConfiguration><Role>"),
    ("empty body", b""),
    ("another document", b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"),
    ("no Role", b"<ReplicationConfiguration><Rule><Status>Enabled</Status><Prefix/><Destination><Bucket>arn:aws:s3:::b</Bucket></Destination></Rule></ReplicationConfiguration>"),
    ("no Rule", document({"Role": ROLE, "Rules": []})),
    ("two Roles", b"<ReplicationConfiguration><Role>a</Role><Role>b</Role></ReplicationConfiguration>"),
    ("unknown top element", b"<ReplicationConfiguration><Role>" + ROLE.encode() + b"</Role><Bogus/></ReplicationConfiguration>"),
    ("text in the root", b"<ReplicationConfiguration>junk<Role>" + ROLE.encode() + b"</Role></ReplicationConfiguration>"),
    ("unknown rule element", document(config(v2(Priority=None, DeleteMarkerReplication=None, Filter=None, Prefix="")))[:-len(b"</Rule></ReplicationConfiguration>")] + b"<Bogus/></Rule></ReplicationConfiguration>"),
    ("no Status", document(config(v2(Status=None)))),
    ("bad Status", document(config(v2(Status="enabled")))),
    ("no Destination", document(config(v2(Destination=None)))),
    ("no Bucket", document(config(v2(Destination={"StorageClass": "STANDARD"})))),
    ("unknown StorageClass", document(config(v2(Destination={"Bucket": "arn:aws:s3:::backup", "StorageClass": "COLD"})))),
    ("V1 rule without Prefix", document(config(v2(Priority=None, DeleteMarkerReplication=None, Filter=None)))),
    ("Filter and Prefix", document(config(v2(Prefix="a")))),
    ("Filter of Prefix and Tag", document(config(v2(Filter={"Prefix": "a", "Tag": {"Key": "k", "Value": "v"}})))),
    ("Filter of Prefix and And", document(config(v2(Filter={"Prefix": "a", "And": {"Prefix": "b", "Tags": [{"Key": "k", "Value": "v"}]}})))),
    ("And of one condition", document(config(v2(Filter={"And": {"Tags": [{"Key": "k", "Value": "v"}]}})))),
    ("And of a prefix alone", document(config(v2(Filter={"And": {"Prefix": "a"}})))),
    ("Tag without Value", document(config(v2(Filter={"Tag": {"Key": "k"}})))),
    ("Priority not a number", document(config(v2())).replace(b"<Priority>1</Priority>", b"<Priority>one</Priority>")),
    ("Priority too large", document(config(v2())).replace(b"<Priority>1</Priority>", b"<Priority>2147483648</Priority>")),
    ("DeleteMarkerReplication status", document(config(v2(DeleteMarkerReplication={"Status": "On"})))),
    ("ExistingObjectReplication without Status", document(config(v2())).replace(b"<Destination>", b"<ExistingObjectReplication/><Destination>")),
    ("repeated ID", document(config(v2())).replace(b"<ID>all</ID>", b"<ID>a</ID><ID>b</ID>")),
    ("Status with children", document(config(v2())).replace(b"<Status>Enabled</Status>", b"<Status><Enabled/></Status>", 1)),
    ("owner override other than Destination", document(config(v2(Destination={"Bucket": "arn:aws:s3:::backup", "AccessControlTranslation": {"Owner": "Source"}})))),
]


@pytest.mark.parametrize("body", [b for _, b in MALFORMED], ids=[n for n, _ in MALFORMED])
def test_malformed_documents(body):
    with pytest.raises((ReplicationConfigError, S3Error)) as e:
        rules.parse(body, xml.parse)
    assert e.value.code == "MalformedXML"


def test_rule_count():
    many = [v2(ID=f"r{i}", Priority=i) for i in range(rules.MAX_RULES + 1)]
    assert (refusal(config(*many)).code, refusal(config(*many)).message) == ("InvalidRequest", "Number of defined replication rules cannot exceed 1000")
    assert len(parse(config(*many[: rules.MAX_RULES])).rules) == rules.MAX_RULES


def test_ids():
    e = refusal(config(v2(ID="x" * 256)))
    assert (e.code, e.message, e.argument_name) == ("InvalidArgument", "Rule Id cannot be greater than 255", "ID")
    assert parse(config(v2(ID="x" * 255))).rules[0].id == "x" * 255
    e = refusal(config(v2(ID="same", Priority=1), v2(ID="same", Priority=2)))
    assert (e.code, e.message) == ("InvalidArgument", "Rule Id must be unique")
    two = parse(config(v2(ID=None, Priority=1), v2(ID=None, Priority=2)))
    assert len({r.id for r in two.rules}) == 2


def test_schema_versions():
    v1_rule = {"Prefix": "a", "Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::backup"}}
    cases = [
        (config(v2(Priority=None)), "Priority must be specified for this version of Cross Region Replication configuration schema."),
        (config(v2(DeleteMarkerReplication=None)), "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema."),
        (config({**v1_rule, "Priority": 1}), "Priority cannot be used for this version of Cross Region Replication configuration schema."),
        (config({**v1_rule, "DeleteMarkerReplication": {"Status": "Enabled"}}), "DeleteMarkerReplication cannot be used for this version"),
        (config({**v1_rule, "SourceSelectionCriteria": {"ReplicaModifications": {"Status": "Disabled"}}}), "ReplicaModifications cannot be used for this version"),
        # A rule without a Filter makes the configuration the first schema: the other rule's Priority is refused.
        (config(v1_rule, v2(Filter={"Prefix": "b"})), "Priority cannot be used for this version"),
    ]
    for sent, message in cases:
        e = refusal(sent)
        assert e.code == "InvalidRequest" and e.message.startswith(message), (sent, e.message)
        assert e.message.endswith("Please refer to S3 Developer Guide for more information.")


def test_v1_rules_cannot_overlap_or_go_to_two_buckets():
    def rule(prefix, bucket="b"):
        return {"Prefix": prefix, "Status": "Enabled", "Destination": {"Bucket": f"arn:aws:s3:::{bucket}-bkt"}}

    e = refusal(config(rule("TaxDocs"), rule("TaxDocs/2015")))
    assert (e.code, e.message) == ("InvalidRequest", "Found overlapping prefixes 'TaxDocs' and 'TaxDocs/2015'")
    assert refusal(config(rule("a"), rule(""))).code == "InvalidRequest"  # "" overlaps everything
    assert len(parse(config(rule("a/"), rule("b/"))).rules) == 2
    e = refusal(config(rule("a/"), rule("b/", "other")))
    assert (e.code, e.message) == ("InvalidRequest", "The destination bucket must be same for all rules")


def test_priorities_must_differ():
    e = refusal(config(v2(ID="a", Priority=3), v2(ID="b", Priority=3, Filter={"Prefix": "x"})))
    assert e.code == "InvalidRequest" and "duplicate priority 3" in e.message
    e = refusal(document(config(v2())).replace(b"<Priority>1</Priority>", b"<Priority>-1</Priority>"))
    assert (e.code, e.message) == ("InvalidRequest", "Priority must be between 0 and 2147483647.")
    assert parse(config(v2(Priority=0))).rules[0].priority == 0
    assert parse(config(v2(Priority=2**31 - 1))).rules[0].priority == 2**31 - 1


def test_tags_in_filters():
    e = refusal(config(v2(Filter={"And": {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}})))
    assert (e.code, e.message) == ("InvalidRequest", "Duplicate Tag Keys are not allowed.")
    e = refusal(config(v2(Filter={"Tag": {"Key": "k", "Value": "v"}}, DeleteMarkerReplication={"Status": "Enabled"})))
    assert e.code == "InvalidRequest" and e.message.startswith("Delete marker replication is not supported if any Tag filter is specified.")
    e = refusal(config(v2(Filter={"And": {"Prefix": "p", "Tags": [{"Key": "k", "Value": "v"}]}}, DeleteMarkerReplication={"Status": "Enabled"})))
    assert e.code == "InvalidRequest"
    assert refusal(config(v2(Filter={"Tag": {"Key": "k" * 129, "Value": "v"}}))).code == "InvalidTag"
    assert refusal(config(v2(Filter={"Tag": {"Key": "k", "Value": "v" * 257}}))).code == "InvalidTag"
    assert refusal(document(config(v2(Filter={"Tag": {"Key": "k", "Value": "v"}}))).replace(b"<Key>k</Key>", b"<Key></Key>")).code == "InvalidTag"
    assert parse(config(v2(Filter={"Tag": {"Key": "k" * 128, "Value": "é" * 256}}))).rules[0].tags == (("k" * 128, "é" * 256),)


def test_prefix_length():
    e = refusal(config(v2(Filter={"Prefix": "p" * 1025})))
    assert (e.code, e.argument_name) == ("InvalidArgument", "Prefix")
    assert parse(config(v2(Filter={"Prefix": "é" * 512}))).rules[0].prefix == "é" * 512  # 1,024 bytes


@pytest.mark.parametrize(
    "role",
    [
        "",
        "dr-site",
        "arn:aws:iam::123456789012:user/dr-site",
        "arn:aws:iam::12345:role/dr-site",
        "arn:aws:iam::１２３４５６７８９０１２:role/dr-site",  # digits of another script are no account id
        "arn:aws:s3:::dr-site",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/has+plus",  # a valid IAM role name, but no remote can be called that
        "arn:aws:iam::123456789012:role/" + "x" * 65,
        "arn:hoard:iam:::remote/",
        "arn:hoard:iam::123456789012:remote/dr-site",
        " arn:hoard:iam:::remote/dr-site",
    ],
)
def test_roles_that_name_no_remote(role):
    e = refusal(config(role=role))
    assert (e.code, e.argument_name, e.argument_value) == ("InvalidArgument", "Role", role)
    assert e.message.startswith("Invalid Role specified in replication configuration")


@pytest.mark.parametrize(
    ("bucket", "message"),
    [
        ("", "Destination bucket cannot be null or empty"),
        ("backup", "Invalid bucket ARN"),
        ("arn:aws:s3:::", "The specified bucket is not valid."),
        ("arn:aws:s3:::Backup", "The specified bucket is not valid."),
        ("arn:aws:s3:::a..b", "The specified bucket is not valid."),
        ("arn:aws:s3:::192.168.1.1", "The specified bucket is not valid."),
        ("arn:aws:s3:::backup/prefix", "The specified bucket is not valid."),
        ("arn:aws:s3:us-east-1:123456789012:backup", "Invalid bucket ARN"),
        ("arn:aws:iam::123456789012:role/backup", "Invalid bucket ARN"),
    ],
)
def test_destinations_that_are_not_bucket_arns(bucket, message):
    e = refusal(config(v2(Destination={"Bucket": bucket})))
    assert (e.code, e.message, e.argument_name) == ("InvalidArgument", message, "Bucket")


def test_replication_time_needs_metrics():
    e = refusal(config(v2(Destination={"Bucket": "arn:aws:s3:::backup", "ReplicationTime": {"Status": "Disabled", "Time": {"Minutes": 15}}})))
    assert (e.code, e.message) == ("InvalidRequest", "Replication destination must contain both ReplicationTime and Metrics or neither.")


def test_empty_source_selection_criteria():
    e = refusal(config(v2(SourceSelectionCriteria={})))
    assert (e.code, e.message) == ("InvalidRequest", "SourceSelectionCriteria cannot be empty.")


NOT_IMPLEMENTED = {
    "exclusion filter": v2(Filter={"Not": {"Prefix": "tmp/"}}),
    "exclusion inside And": v2(Filter={"And": {"Prefix": "a", "Tags": [{"Key": "k", "Value": "v"}], "Not": {"Prefix": "a/tmp"}}}),
    "SSE-KMS objects": v2(SourceSelectionCriteria={"SseKmsEncryptedObjects": {"Status": "Enabled"}}),
    "replica modifications": v2(SourceSelectionCriteria={"ReplicaModifications": {"Status": "Enabled"}}),
    "replication time control": v2(
        Destination={"Bucket": "arn:aws:s3:::backup", "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}}, "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}}
    ),
    "metrics": v2(Destination={"Bucket": "arn:aws:s3:::backup", "Metrics": {"Status": "Enabled"}}),
    "destination account": v2(Destination={"Bucket": "arn:aws:s3:::backup", "Account": "123456789012"}),
    "owner override": v2(Destination={"Bucket": "arn:aws:s3:::backup", "Account": "123456789012", "AccessControlTranslation": {"Owner": "Destination"}}),
    "replica encryption": v2(Destination={"Bucket": "arn:aws:s3:::backup", "EncryptionConfiguration": {"ReplicaKmsKeyID": "arn:aws:kms:us-east-1:123456789012:key/x"}}),
}


@pytest.mark.parametrize("rule", list(NOT_IMPLEMENTED.values()), ids=list(NOT_IMPLEMENTED))
def test_what_hoard_does_not_do_is_refused_not_ignored(rule):
    e = refusal(config(rule))
    assert e.code == "NotImplemented" and e.message.endswith("is not implemented.")


def test_several_destination_buckets_are_not_implemented():
    e = refusal(config(v2(ID="a", Priority=1), v2(ID="b", Priority=2, Destination={"Bucket": "arn:aws:s3:::other"})))
    assert e.code == "NotImplemented"


def test_every_error_code_is_one_hoard_answers():
    from hoard.s3.errors import ERRORS

    assert {"MalformedXML", "InvalidArgument", "InvalidRequest", "InvalidTag", "NotImplemented"} <= set(ERRORS)
