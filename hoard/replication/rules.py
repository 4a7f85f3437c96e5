"""A bucket's replication configuration (PutBucketReplication): S3's rule model, checked as S3
checks it, kept as the bucket configuration ``replication``, and which rule covers a version.

Pure: no I/O. The XML is parsed by the caller's hardened parser (``hoard.s3.xml.parse``).

**Where replicas go.** S3's ``Role`` is the identity S3 replicates as: the credentials it writes
to the destination with. In Hoard that is a *remote* (``hoard admin remote add NAME URL
--access-key ... --secret-key ...``: an S3 endpoint and the keys to write there), so the Role names
one: ``arn:aws:iam::<any 12-digit account id>:role/NAME`` (the primary form: every AWS tool, the
CLI, SDKs, Terraform, CloudFormation, takes it as a role ARN; a path before the name is allowed and
ignored) or ``arn:hoard:iam:::remote/NAME``. A rule's Destination ``Bucket``,
``arn:aws:s3:::BUCKET``, is a bucket on that remote.

**S3's two schemas.** A configuration with a rule that has no ``Filter`` is S3's first schema (V1):
each rule has a ``Prefix`` of its own, no ``Priority`` and no ``DeleteMarkerReplication`` (S3 refuses
them there, and replicates delete markers), rules' prefixes must not overlap, and all rules go to one
destination. Otherwise (V2) every rule needs ``Priority`` (unique) and ``DeleteMarkerReplication``;
its ``Filter`` holds one of ``Prefix``, ``Tag`` or ``And`` (or nothing: every key); a rule with a tag
cannot replicate delete markers (they have no tags). Where rules overlap, the enabled one with the
highest priority decides (``ReplicationConfig.rule_for``).

**Refusals**, with S3's codes: anything that is not the schema (unknown or repeated elements, a
missing Status or Destination, a Filter of more than one kind, an ``And`` of fewer than two
conditions, a Status other than Enabled/Disabled, a storage class S3 does not know) is
MalformedXML; schema-version mistakes, duplicate priorities or tag keys, overlapping V1 prefixes,
more than 1,000 rules are InvalidRequest; a Role or a destination that is not an ARN of the right
kind, an ID over 255 characters or used twice, a prefix over 1,024 bytes are InvalidArgument. What
Hoard does not do and what would change what is replicated is 501 NotImplemented, never accepted
and ignored: exclusion filters (``Not``), replica modification sync, SSE-KMS object selection,
replica encryption, a destination ``Account`` and owner override (``AccessControlTranslation``),
Replication Time Control and replication metrics when Enabled (Disabled, they are accepted: they
change nothing), and rules with different destination buckets. An ``ExistingObjectReplication``
given Disabled and a ``DeleteMarkerReplication`` without Status are answered as Disabled.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from hoard.xmldoc import ConfigRefused, NotInSchema
from hoard.xmldoc import fields as _fields
from hoard.xmldoc import one as _one
from hoard.xmldoc import tag as _tag
from hoard.xmldoc import text as _text

REPLICATION_CONFIG = "replication"  # the bucket configuration a replication configuration is kept under
MAX_RULES = 1000
MAX_ID_LENGTH = 255
MAX_PREFIX_BYTES = 1024  # S3's longest key
MAX_PRIORITY = 2**31 - 1
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
REMOTE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # what ``hoard admin remote add`` takes as a name
ROLE_FOR = "arn:aws:iam::000000000000:role/{remote}"  # the Role to write for a remote (any account id will do)
# Every StorageClass botocore's model allows a destination; the remote decides which it takes.
STORAGE_CLASSES = frozenset(
    {
        "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE",
        "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE", "FSX_OPENZFS", "FSX_ONTAP", "AWS_BACKUP_WARM", "AWS_BACKUP_LOW_COST_WARM",
    }
)  # fmt: skip

# How a rule's document said what it covers, so that GetBucketReplication answers it the same way.
V1 = "v1"  # <Prefix> in the rule itself (S3's first schema)
ALL = "all"  # an empty <Filter/>
PREFIX = "prefix"  # <Filter><Prefix>
TAG = "tag"  # <Filter><Tag>
AND = "and"  # <Filter><And> of tags
AND_PREFIX = "and-prefix"  # <Filter><And> with a <Prefix>
FORMS = (V1, ALL, PREFIX, TAG, AND, AND_PREFIX)

_AWS_ROLE = re.compile(r"arn:aws:iam::[0-9]{12}:role/(?:[!-~]*/)?(?P<name>[^/]+)")
_HOARD_ROLE = re.compile(r"arn:hoard:iam:::remote/(?P<name>[^/]+)")
_BUCKET_ARN = re.compile(r"arn:aws:s3:::(?P<name>.*)", re.DOTALL)
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_STATUSES = {"Enabled": True, "Disabled": False}
_MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"
_SCHEMA = " of Cross Region Replication configuration schema. Please refer to S3 Developer Guide for more information."
_RULE_FIELDS = frozenset(
    {"ID", "Priority", "Prefix", "Filter", "Status", "SourceSelectionCriteria", "ExistingObjectReplication", "Destination", "DeleteMarkerReplication"}
)
_DESTINATION_FIELDS = frozenset(
    {"Bucket", "Account", "StorageClass", "AccessControlTranslation", "EncryptionConfiguration", "ReplicationTime", "Metrics"}
)


class ReplicationConfigError(ConfigRefused):
    """A configuration S3 would refuse: ``code`` is S3's error code, ``message`` its message; an
    InvalidArgument names the argument (``argument_name``, ``argument_value``) as S3's answer does."""


def _malformed() -> ReplicationConfigError:
    return ReplicationConfigError("MalformedXML", _MALFORMED)


def _invalid_request(message: str) -> ReplicationConfigError:
    return ReplicationConfigError("InvalidRequest", message)


def _not_implemented(what: str) -> ReplicationConfigError:
    return ReplicationConfigError("NotImplemented", f"{what} is not implemented.")


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int  # 0 in S3's first schema (V1), whose rules cannot overlap
    enabled: bool
    prefix: str  # "" covers every key
    tags: tuple[tuple[str, str], ...]  # every one must be on the version (so never on a delete marker)
    delete_markers: bool  # DeleteMarkerReplication Enabled; always in S3's first schema
    existing_objects: bool  # ExistingObjectReplication Enabled
    destination_bucket: str  # the bucket's name on the remote
    storage_class: str  # "" keeps the source version's
    form: str = PREFIX  # how the document gave the filter (FORMS), for GetBucketReplication

    @property
    def v1(self) -> bool:
        """Given in S3's first schema: a Prefix of its own, no Filter."""
        return self.form == V1

    def covers(self, key: str, tags: Iterable[tuple[str, str]]) -> bool:
        """Whether the rule's filter selects a version with this key and these tags (enabled or not)."""
        if not key.startswith(self.prefix):
            return False
        if not self.tags:
            return True
        have = set(tags)
        return all(tag in have for tag in self.tags)


@dataclass(frozen=True)
class ReplicationConfig:
    remote: str  # the remote the Role names
    role: str  # the Role as given, echoed by GetBucketReplication
    rules: tuple[Rule, ...]

    def rule_for(self, key: str, tags: Iterable[tuple[str, str]]) -> Rule | None:
        """The rule that decides what becomes of a version (a delete marker has no tags): of the
        enabled rules whose filter selects it, the one with the highest priority (S3's rule for
        rules that overlap); None if no enabled rule selects it."""
        tags = tuple(tags)
        chosen: Rule | None = None
        for rule in self.rules:
            if rule.enabled and rule.covers(key, tags) and (chosen is None or rule.priority > chosen.priority):
                chosen = rule
        return chosen

    def to_json(self) -> dict:
        """The configuration as the bucket configuration ``replication`` keeps it."""
        return {
            "remote": self.remote,
            "role": self.role,
            "rules": [
                {
                    "id": r.id, "priority": r.priority, "enabled": r.enabled, "prefix": r.prefix, "tags": [[k, v] for k, v in r.tags],
                    "delete_markers": r.delete_markers, "existing_objects": r.existing_objects,
                    "destination_bucket": r.destination_bucket, "storage_class": r.storage_class, "form": r.form,
                }  # fmt: skip
                for r in self.rules
            ],
        }

    @classmethod
    def from_json(cls, value: dict) -> ReplicationConfig:
        rules = tuple(Rule(**{**r, "tags": tuple((k, v) for k, v in r["tags"])}) for r in value["rules"])
        return cls(value["remote"], value["role"], rules)


def remote_of(role: str) -> str:
    """The remote a Role names; InvalidArgument if it names none the way a Role must."""
    match = _AWS_ROLE.fullmatch(role) or _HOARD_ROLE.fullmatch(role)
    if match is None or not REMOTE_NAME.fullmatch(match.group("name")):
        raise ReplicationConfigError(
            "InvalidArgument",
            "Invalid Role specified in replication configuration: it names the remote to replicate to (hoard admin remote add NAME), "
            "as arn:aws:iam::<account id>:role/NAME or arn:hoard:iam:::remote/NAME.",
            "Role",
            role,
        )
    return match.group("name")


# -- the document --------------------------------------------------------------------------------








def _status(element: Element, extra: Iterable[str] = (), required: bool = True) -> bool:
    """The Status of an element that holds one (Enabled: True); MalformedXML if it is missing
    (unless not ``required``: Disabled) or neither Enabled nor Disabled."""
    status = _one(_fields(element, {"Status", *extra}), "Status")
    if status is None:
        if required:
            raise _malformed()
        return False
    value = _STATUSES.get(_text(status))
    if value is None:
        raise _malformed()
    return value


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _tag_pair(element: Element) -> tuple[str, str]:
    fields = _fields(element, {"Key", "Value"})
    key, value = _one(fields, "Key"), _one(fields, "Value")
    if key is None or value is None:
        raise _malformed()
    pair = _text(key), _text(value)
    if not pair[0]:
        raise ReplicationConfigError("InvalidTag", "The TagKey you have provided is invalid")
    if _utf16_length(pair[0]) > MAX_TAG_KEY:
        raise ReplicationConfigError("InvalidTag", f"The TagKey you have provided is too long, max {MAX_TAG_KEY}")
    if _utf16_length(pair[1]) > MAX_TAG_VALUE:
        raise ReplicationConfigError("InvalidTag", f"The TagValue you have provided is too long, max {MAX_TAG_VALUE}")
    return pair


def _filter(element: Element) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """A rule's Filter: (form, prefix, tags)."""
    fields = _fields(element, {"Prefix", "Tag", "And", "Not"})
    if len(fields) > 1:
        raise _malformed()  # exactly one of Prefix, Tag, And
    if "Not" in fields:
        raise _not_implemented("An exclusion filter (Not)")
    if not fields:
        return ALL, "", ()
    if (prefix := _one(fields, "Prefix")) is not None:
        return PREFIX, _text(prefix), ()
    if (tag := _one(fields, "Tag")) is not None:
        return TAG, "", (_tag_pair(tag),)
    conditions = _fields(fields["And"][0], {"Prefix", "Tag", "Not"}, many={"Tag"})
    if "Not" in conditions:
        raise _not_implemented("An exclusion filter (Not)")
    prefix = _one(conditions, "Prefix")
    tags = tuple(_tag_pair(t) for t in conditions.get("Tag", ()))
    if len(tags) + (prefix is not None) < 2:
        raise _malformed()  # And joins two conditions or more
    if len({k for k, _ in tags}) != len(tags):
        raise _invalid_request("Duplicate Tag Keys are not allowed.")
    return (AND if prefix is None else AND_PREFIX), ("" if prefix is None else _text(prefix)), tags


def _priority(element: Element) -> int:
    text = _text(element)
    if re.fullmatch(r"-[0-9]+", text):
        raise _invalid_request(f"Priority must be between 0 and {MAX_PRIORITY}.")
    if not re.fullmatch(r"\+?[0-9]+", text) or int(text) > MAX_PRIORITY:
        raise _malformed()  # not an integer S3's schema takes
    return int(text)


def new_rule_id() -> str:
    """An ID for a rule given none, in the form S3 makes them (base64 of a UUID's text)."""
    return base64.b64encode(str(uuid.uuid4()).encode()).decode()


def _destination(element: Element) -> tuple[str, str]:
    """The destination bucket's name and the storage class ("": the source's)."""
    fields = _fields(element, _DESTINATION_FIELDS)
    bucket = _one(fields, "Bucket")
    if bucket is None:
        raise _malformed()
    arn = _text(bucket)
    storage_class = _one(fields, "StorageClass")
    if storage_class is not None and _text(storage_class) not in STORAGE_CLASSES:
        raise _malformed()
    if (translation := _one(fields, "AccessControlTranslation")) is not None:
        owner = _one(_fields(translation, {"Owner"}), "Owner")
        if owner is None or _text(owner) != "Destination":
            raise _malformed()
    if not arn:
        raise ReplicationConfigError("InvalidArgument", "Destination bucket cannot be null or empty", "Bucket", arn)
    match = _BUCKET_ARN.fullmatch(arn)
    if match is None:
        raise ReplicationConfigError("InvalidArgument", "Invalid bucket ARN", "Bucket", arn)
    name = match.group("name")
    if not _BUCKET_NAME.fullmatch(name) or ".." in name or _IP_ADDRESS.fullmatch(name):
        raise ReplicationConfigError("InvalidArgument", "The specified bucket is not valid.", "Bucket", arn)
    time, metrics = _one(fields, "ReplicationTime"), _one(fields, "Metrics")
    if time is not None:
        time_on = _status(time, {"Time"})
        if metrics is None:
            raise _invalid_request("Replication destination must contain both ReplicationTime and Metrics or neither.")
        if time_on:
            raise _not_implemented("Replication Time Control")
    if metrics is not None and _status(metrics, {"EventThreshold"}):
        raise _not_implemented("Replication metrics")
    if "Account" in fields:
        raise _not_implemented("A destination Account (replicas are written with the remote's keys, owned as they make them)")
    if "AccessControlTranslation" in fields:
        raise _not_implemented("Replica owner override (AccessControlTranslation)")
    if "EncryptionConfiguration" in fields:
        raise _not_implemented("Replica encryption (EncryptionConfiguration)")
    return name, "" if storage_class is None else _text(storage_class)


def _rule(element: Element, v1_schema: bool) -> Rule:
    fields = _fields(element, _RULE_FIELDS)
    status, destination = _one(fields, "Status"), _one(fields, "Destination")
    if status is None or destination is None or _text(status) not in _STATUSES:
        raise _malformed()
    filter_, prefix_element = _one(fields, "Filter"), _one(fields, "Prefix")
    if filter_ is not None and prefix_element is not None:
        raise _malformed()  # the first schema's Prefix, or a Filter: not both
    if filter_ is None:
        if prefix_element is None:
            raise _malformed()
        form, prefix, tags = V1, _text(prefix_element), ()
    else:
        form, prefix, tags = _filter(filter_)
    priority, markers = _one(fields, "Priority"), _one(fields, "DeleteMarkerReplication")
    criteria = _one(fields, "SourceSelectionCriteria")
    selectors = _fields(criteria, {"SseKmsEncryptedObjects", "ReplicaModifications"}) if criteria is not None else {}
    if v1_schema:
        for name, given in (("Priority", priority), ("DeleteMarkerReplication", markers), ("ReplicaModifications", _one(selectors, "ReplicaModifications"))):
            if given is not None:
                raise _invalid_request(f"{name} cannot be used for this version" + _SCHEMA)
    else:
        for name, given in (("Priority", priority), ("DeleteMarkerReplication", markers)):
            if given is None:
                raise _invalid_request(f"{name} must be specified for this version" + _SCHEMA)
    rule_id = _text(id_element) if (id_element := _one(fields, "ID")) is not None else ""
    if len(rule_id) > MAX_ID_LENGTH:
        raise ReplicationConfigError("InvalidArgument", f"Rule Id cannot be greater than {MAX_ID_LENGTH}", "ID", rule_id)
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        raise ReplicationConfigError("InvalidArgument", f"Rule prefix cannot be longer than maximum allowed key length of {MAX_PREFIX_BYTES}", "Prefix", prefix)
    # S3's first schema replicates delete markers; the second does as DeleteMarkerReplication says.
    delete_markers = True if v1_schema else _status(markers, required=False) if markers is not None else False
    if delete_markers and tags:
        raise _invalid_request("Delete marker replication is not supported if any Tag filter is specified. Please refer to S3 Developer Guide for more information.")
    if criteria is not None:
        if not selectors:
            raise _invalid_request("SourceSelectionCriteria cannot be empty.")
        if (kms := _one(selectors, "SseKmsEncryptedObjects")) is not None and _status(kms):
            raise _not_implemented("Replicating SSE-KMS encrypted objects (SseKmsEncryptedObjects)")
        if (modifications := _one(selectors, "ReplicaModifications")) is not None and _status(modifications):
            raise _not_implemented("Replica modification sync (ReplicaModifications)")
    existing = _one(fields, "ExistingObjectReplication")
    bucket, storage_class = _destination(destination)
    return Rule(
        id=rule_id or new_rule_id(),
        priority=_priority(priority) if priority is not None else 0,
        enabled=_STATUSES[_text(status)],
        prefix=prefix,
        tags=tags,
        delete_markers=delete_markers,
        existing_objects=_status(existing) if existing is not None else False,
        destination_bucket=bucket,
        storage_class=storage_class,
        form=form,
    )


def parse(body: bytes, parse_xml: Callable[[bytes], Element]) -> ReplicationConfig:
    """The document checked as S3 checks it (see ``_parse``); anything outside the schema is MalformedXML."""
    try:
        return _parse(body, parse_xml)
    except NotInSchema:
        raise _malformed() from None


def _parse(body: bytes, parse_xml: Callable[[bytes], Element]) -> ReplicationConfig:
    """A PutBucketReplication document, checked as S3 checks it: ReplicationConfigError with S3's
    code (what ``parse_xml`` raises for a body that is not XML passes through)."""
    root = parse_xml(body)
    if _tag(root) != "ReplicationConfiguration":
        raise _malformed()
    fields = _fields(root, {"Role", "Rule"}, many={"Rule"})
    role, elements = _one(fields, "Role"), fields.get("Rule", [])
    if role is None or not elements:
        raise _malformed()
    if len(elements) > MAX_RULES:
        raise _invalid_request(f"Number of defined replication rules cannot exceed {MAX_RULES}")
    remote = remote_of(_text(role))
    # A rule without a Filter makes the whole configuration S3's first schema.
    v1_schema = any(not any(isinstance(c.tag, str) and _tag(c) == "Filter" for c in e) for e in elements)
    rules: list[Rule] = []
    for element in elements:
        rule = _rule(element, v1_schema)
        if any(r.id == rule.id for r in rules):
            raise ReplicationConfigError("InvalidArgument", "Rule Id must be unique", "ID", rule.id)
        rules.append(rule)
    destinations = sorted({r.destination_bucket for r in rules})
    if v1_schema:
        if len(destinations) > 1:
            raise _invalid_request("The destination bucket must be same for all rules")
        for i, rule in enumerate(rules):
            for other in rules[:i]:
                if rule.prefix.startswith(other.prefix) or other.prefix.startswith(rule.prefix):
                    raise _invalid_request(f"Found overlapping prefixes '{other.prefix}' and '{rule.prefix}'")
    else:
        seen: set[int] = set()
        for rule in rules:
            if rule.priority in seen:
                raise _invalid_request(f"Found duplicate priority {rule.priority}: each rule's Priority must be unique.")
            seen.add(rule.priority)
        if len(destinations) > 1:
            raise _not_implemented("Replicating one bucket to several destination buckets")
    return ReplicationConfig(remote, _text(role), tuple(rules))


def render(config: ReplicationConfig) -> list:
    """The children of GetBucketReplication's ``ReplicationConfiguration``, in S3's shape and order
    (for ``hoard.s3.xml.render``)."""
    children: list = [("Role", config.role)]
    for r in config.rules:
        rule: list = [("ID", r.id)]
        tags = [("Tag", [("Key", k), ("Value", v)]) for k, v in r.tags]
        if r.form == V1:
            rule.append(("Prefix", r.prefix))
        else:
            rule.append(("Priority", r.priority))
            if r.form == ALL:
                rule.append(("Filter", []))
            elif r.form == TAG:
                rule.append(("Filter", tags))
            elif r.form in (AND, AND_PREFIX):
                rule.append(("Filter", [("And", ([("Prefix", r.prefix)] if r.form == AND_PREFIX else []) + tags)]))
            else:
                rule.append(("Filter", [("Prefix", r.prefix)]))
        rule.append(("Status", "Enabled" if r.enabled else "Disabled"))
        if r.existing_objects:
            rule.append(("ExistingObjectReplication", [("Status", "Enabled")]))
        destination: list = [("Bucket", f"arn:aws:s3:::{r.destination_bucket}")]
        if r.storage_class:
            destination.append(("StorageClass", r.storage_class))
        rule.append(("Destination", destination))
        if r.form != V1:
            rule.append(("DeleteMarkerReplication", [("Status", "Enabled" if r.delete_markers else "Disabled")]))
        children.append(("Rule", rule))
    return children
