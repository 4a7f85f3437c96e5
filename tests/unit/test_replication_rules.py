"""Replication configurations as S3 takes them (PutBucketReplication): both schemas, S3's
refusals, which rule covers a version, and the round trip through storage and GetBucketReplication."""

from __future__ import annotations

import pytest

from hoard.replication.rules import ReplicationConfig, ReplicationConfigError, parse, remote_of, render
from hoard.s3 import xml

ROLE = "<Role>arn:aws:iam::123456789012:role/dr</Role>"


def config(*rules: str, role: str = ROLE) -> bytes:
    return f"<ReplicationConfiguration>{role}{''.join(rules)}</ReplicationConfiguration>".encode()


def rule(inner: str = "", *, rid: str = "r1", priority: str | None = "1", status: str = "Enabled", dest: str = "arn:aws:s3:::target",
         filter_: str | None = "<Filter><Prefix></Prefix></Filter>", dmr: str | None = "Disabled") -> str:  # fmt: skip
    parts = [f"<ID>{rid}</ID>" if rid else ""]
    if priority is not None:
        parts.append(f"<Priority>{priority}</Priority>")
    if filter_ is not None:
        parts.append(filter_)
    parts.append(f"<Status>{status}</Status>")
    if dmr is not None:
        parts.append(f"<DeleteMarkerReplication><Status>{dmr}</Status></DeleteMarkerReplication>")
    parts.append(f"<Destination><Bucket>{dest}</Bucket></Destination>")
    return "<Rule>" + "".join(parts) + inner + "</Rule>"


def refused(body: bytes) -> str:
    with pytest.raises(ReplicationConfigError) as e:
        parse(body, xml.parse)
    return e.value.code


def test_the_role_names_the_remote():
    assert remote_of("arn:aws:iam::123456789012:role/dr") == "dr"
    assert remote_of("arn:aws:iam::123456789012:role/service/dr-site") == "dr-site"
    assert remote_of("arn:hoard:iam:::remote/east.1") == "east.1"
    for bad in ("dr", "arn:aws:iam::1234:role/dr", "arn:aws:s3:::bucket", "arn:hoard:iam:::user/x"):
        with pytest.raises(ReplicationConfigError):
            remote_of(bad)


def test_s3s_documented_shapes_parse():
    # The second schema: Filter (Prefix, Tag, And), Priority, DeleteMarkerReplication.
    parsed = parse(config(
        rule(rid="logs", priority="2", filter_="<Filter><Prefix>logs/</Prefix></Filter>", dmr="Enabled"),
        rule(rid="tagged", priority="5", filter_="<Filter><And><Prefix>img/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>",
             inner="<ExistingObjectReplication><Status>Enabled</Status></ExistingObjectReplication>"),
    ), xml.parse)  # fmt: skip
    assert parsed.remote == "dr"
    logs, tagged = parsed.rules
    assert (logs.prefix, logs.delete_markers, logs.priority, logs.destination_bucket) == ("logs/", True, 2, "target")
    assert (tagged.prefix, tagged.tags, tagged.existing_objects, tagged.delete_markers) == ("img/", (("k", "v"),), True, False)
    # The first schema: a Prefix, no Filter; delete markers are replicated then.
    v1 = parse(config(rule(priority=None, filter_="<Prefix>docs/</Prefix>", dmr=None)), xml.parse).rules[0]
    assert (v1.v1, v1.prefix, v1.delete_markers) == (True, "docs/", True)
    # A rule without an ID gets one, as on S3.
    assert parse(config(rule(rid="")), xml.parse).rules[0].id


def test_the_highest_priority_covering_rule_decides():
    parsed = parse(config(
        rule(rid="all", priority="1"),
        rule(rid="img", priority="9", filter_="<Filter><Prefix>img/</Prefix></Filter>", dest="arn:aws:s3:::target"),
        rule(rid="off", priority="20", status="Disabled"),
        rule(rid="tag", priority="30", filter_="<Filter><Tag><Key>t</Key><Value>1</Value></Tag></Filter>"),
    ), xml.parse)  # fmt: skip
    assert parsed.rule_for("img/a", ()).id == "img"
    assert parsed.rule_for("doc/a", ()).id == "all"
    assert parsed.rule_for("doc/a", (("t", "1"),)).id == "tag"
    only_img = parse(config(rule(filter_="<Filter><Prefix>img/</Prefix></Filter>")), xml.parse)
    assert only_img.rule_for("doc/a", ()) is None


def test_stored_and_answered_as_put():
    body = config(rule(rid="a", priority="3", filter_="<Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>", dmr="Enabled"))
    parsed = parse(body, xml.parse)
    assert ReplicationConfig.from_json(parsed.to_json()) == parsed
    again = parse(xml.render("ReplicationConfiguration", render(parsed)), xml.parse)
    assert again == parsed
    v1 = parse(config(rule(priority=None, filter_="<Prefix>x/</Prefix>", dmr=None)), xml.parse)
    assert parse(xml.render("ReplicationConfiguration", render(v1)), xml.parse) == v1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<ReplicationConfiguration><Rule/></ReplicationConfiguration>", "MalformedXML"),  # no Role
        (config(), "MalformedXML"),  # no rule
        (config(rule(status="On")), "MalformedXML"),
        (config(rule(inner="<Unknown/>")), "MalformedXML"),
        (config(rule(filter_="<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>")), "MalformedXML"),
        (config(rule(filter_="<Filter></Filter><Prefix>a</Prefix>")), "MalformedXML"),
        (config(rule(priority=None)), "InvalidRequest"),  # a Filter needs a Priority
        (config(rule(dmr=None)), "InvalidRequest"),  # ... and DeleteMarkerReplication
        (config(rule(priority=None, filter_="<Prefix>a</Prefix>", dmr="Enabled")), "InvalidRequest"),
        (config(rule(rid="x"), rule(rid="x", priority="2")), "InvalidArgument"),  # IDs are unique
        (config(rule(rid="a"), rule(rid="b")), "InvalidRequest"),  # so are priorities
        (config(rule(rid="a"), rule(rid="b", priority=None, filter_="<Prefix>x</Prefix>", dmr=None)), "InvalidRequest"),  # schemas mixed
        (config(rule(rid="x" * 256)), "InvalidArgument"),
        (config(rule(dest="target")), "InvalidArgument"),
        (config(rule(dest="arn:aws:s3:::target/prefix")), "InvalidArgument"),
        (config(rule(), role="<Role>not-an-arn</Role>"), "InvalidArgument"),
        (config(rule(filter_="<Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And></Filter>")), "InvalidRequest"),
        (config("<Rule><ID>a</ID><Priority>1</Priority><Filter/><Status>Enabled</Status><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>"
                "<Destination><Bucket>arn:aws:s3:::target</Bucket><StorageClass>COLD</StorageClass></Destination></Rule>"), "InvalidStorageClass"),  # fmt: skip
        # What would change what is replicated, and is not built: refused, never ignored.
        (config(rule(inner="<SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Enabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria>")), "NotImplemented"),
        (config(rule(rid="a"), rule(rid="b", priority="2", dest="arn:aws:s3:::other")), "NotImplemented"),
    ],
)
def test_s3s_refusals(body, code):
    assert refused(body) == code
