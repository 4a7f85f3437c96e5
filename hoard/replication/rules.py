"""A bucket's replication configuration (PutBucketReplication): S3's rule model, checked as S3
checks it, kept as the bucket configuration ``replication``, and which rule covers a version.

Pure: no I/O. The XML is parsed by the caller's hardened parser (``hoard.s3.xml.parse``).

The configuration's Role names the remote the rules write to (``hoard admin remote add NAME``):
S3's Role is the identity S3 replicates as, which is what a remote is (an endpoint and the keys
to write there). Either ``arn:aws:iam::<account>:role/NAME`` (what AWS tools expect) or
``arn:hoard:iam:::remote/NAME``. A rule's Destination Bucket (``arn:aws:s3:::BUCKET``) is a bucket
on that remote.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

REPLICATION_CONFIG = "replication"
MAX_RULES = 1000
MAX_ID = 255
_ROLE = re.compile(r"arn:aws:iam::\d{12}:role/(?:[\w+=,.@-]+/)*(?P<name>[A-Za-z0-9._-]{1,64})|arn:hoard:iam:::remote/(?P<hoard>[A-Za-z0-9._-]{1,64})")
_BUCKET_ARN = re.compile(r"arn:aws:s3:::(?P<name>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])")
STORAGE_CLASSES = ("STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR")
_RULE_ELEMENTS = {"ID", "Priority", "Prefix", "Filter", "Status", "SourceSelectionCriteria", "ExistingObjectReplication", "Destination", "DeleteMarkerReplication"}
_DESTINATION_ELEMENTS = {"Bucket", "Account", "StorageClass", "AccessControlTranslation", "EncryptionConfiguration", "ReplicationTime", "Metrics"}


class ReplicationConfigError(Exception):
    """A configuration S3 would refuse: ``code`` is S3's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _malformed(message: str = "The XML you provided was not well-formed or did not validate against our published schema") -> ReplicationConfigError:
    return ReplicationConfigError("MalformedXML", message)


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    enabled: bool
    prefix: str  # "" covers every key
    tags: tuple[tuple[str, str], ...]  # each must be on the version
    delete_markers: bool
    existing_objects: bool
    destination_bucket: str
    storage_class: str  # "" keeps the source version's
    v1: bool = False  # given in S3's first schema (a Prefix, no Filter): rendered back so

    def covers(self, key: str, tags: Iterable[tuple[str, str]]) -> bool:
        have = set(tags)
        return self.enabled and key.startswith(self.prefix) and all(t in have for t in self.tags)


@dataclass(frozen=True)
class ReplicationConfig:
    remote: str
    role: str
    rules: tuple[Rule, ...]

    def rule_for(self, key: str, tags: Iterable[tuple[str, str]]) -> Rule | None:
        """The enabled rule that covers the version, the highest priority winning (S3's rule
        when several do)."""
        tags = tuple(tags)
        covering = [r for r in self.rules if r.covers(key, tags)]
        return max(covering, key=lambda r: r.priority) if covering else None

    def to_json(self) -> dict:
        return {
            "remote": self.remote,
            "role": self.role,
            "rules": [
                {
                    "id": r.id, "priority": r.priority, "enabled": r.enabled, "prefix": r.prefix, "tags": [list(t) for t in r.tags],
                    "delete_markers": r.delete_markers, "existing_objects": r.existing_objects,
                    "destination_bucket": r.destination_bucket, "storage_class": r.storage_class, "v1": r.v1,
                }  # fmt: skip
                for r in self.rules
            ],
        }

    @classmethod
    def from_json(cls, value: dict) -> ReplicationConfig:
        rules = tuple(Rule(**{**r, "tags": tuple((k, v) for k, v in r["tags"])}) for r in value["rules"])
        return cls(value["remote"], value["role"], rules)


def remote_of(role: str) -> str:
    """The remote a Role names; ReplicationConfigError if it names none."""
    match = _ROLE.fullmatch(role.strip())
    if match is None:
        raise ReplicationConfigError("InvalidArgument", "Invalid Role: name a remote, as arn:aws:iam::<account>:role/REMOTE or arn:hoard:iam:::remote/REMOTE.")
    return match.group("name") or match.group("hoard")


def _text(parent: Element, name: str) -> str | None:
    child = parent.find(name)
    return None if child is None else (child.text or "").strip()


def _status(parent: Element, name: str, required: bool = False) -> bool | None:
    """An element holding a Status of Enabled or Disabled; None where it is absent."""
    element = parent.find(name)
    if element is None:
        if required:
            raise _malformed()
        return None
    status = _text(element, "Status")
    if status not in ("Enabled", "Disabled"):
        raise _malformed()
    return status == "Enabled"


def _tag(element: Element) -> tuple[str, str]:
    key, value = _text(element, "Key"), _text(element, "Value")
    if not key or value is None:
        raise _malformed()
    return key, value


def _filter(element: Element) -> tuple[str, tuple[tuple[str, str], ...]]:
    children = list(element)
    if len(children) > 1:
        raise _malformed("A Filter holds one of Prefix, Tag or And.")
    if not children:
        return "", ()
    child = children[0]
    if child.tag == "Prefix":
        return (child.text or "").strip(), ()
    if child.tag == "Tag":
        return "", (_tag(child),)
    if child.tag == "And":
        prefix = _text(child, "Prefix") or ""
        tags = tuple(_tag(t) for t in child.findall("Tag"))
        if len({k for k, _ in tags}) != len(tags):
            raise ReplicationConfigError("InvalidRequest", "Duplicate Tag Keys are not allowed.")
        return prefix, tags
    raise _malformed()


def _not_implemented(what: str) -> ReplicationConfigError:
    return ReplicationConfigError("NotImplemented", f"{what} is not implemented yet.")


def _rule(element: Element) -> Rule:
    unknown = {c.tag for c in element} - _RULE_ELEMENTS
    if unknown:
        raise _malformed()
    rule_id = _text(element, "ID") or str(uuid.uuid4())
    if len(rule_id) > MAX_ID:
        raise ReplicationConfigError("InvalidArgument", f"ID must be no longer than {MAX_ID} characters.")
    status = _text(element, "Status")
    if status not in ("Enabled", "Disabled"):
        raise _malformed()
    has_filter, has_prefix = element.find("Filter") is not None, element.find("Prefix") is not None
    if has_filter and has_prefix:
        raise _malformed("A rule has a Filter or a Prefix, not both.")
    priority_text = _text(element, "Priority")
    delete_markers = _status(element, "DeleteMarkerReplication")
    if has_filter:
        prefix, tags = _filter(element.find("Filter"))
        if priority_text is None:
            raise ReplicationConfigError("InvalidRequest", "Priority must be specified for this version of Cross Region Replication configuration schema.")
        if delete_markers is None:
            raise ReplicationConfigError("InvalidRequest", "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema.")
    else:
        prefix, tags = _text(element, "Prefix") or "", ()
        if delete_markers is not None:
            raise ReplicationConfigError("InvalidRequest", "DeleteMarkerReplication cannot be specified with a Prefix outside a Filter (the first schema).")
        delete_markers = True  # S3's first schema replicates delete markers
    try:
        priority = int(priority_text) if priority_text is not None else 0
    except ValueError:
        raise _malformed() from None
    criteria = element.find("SourceSelectionCriteria")
    if criteria is not None:
        for name, what in (("SseKmsEncryptedObjects", "Replicating SSE-KMS encrypted objects"), ("ReplicaModifications", "Replica modification sync")):
            if _status(criteria, name):
                raise _not_implemented(what)
    destination = element.find("Destination")
    if destination is None:
        raise _malformed()
    if {c.tag for c in destination} - _DESTINATION_ELEMENTS:
        raise _malformed()
    arn = _text(destination, "Bucket")
    if not arn:
        raise _malformed()
    bucket = _BUCKET_ARN.fullmatch(arn)
    if bucket is None:
        raise ReplicationConfigError("InvalidArgument", f"Invalid bucket ARN: {arn}")
    for name, what in (("Account", "A destination account"), ("AccessControlTranslation", "Owner override"), ("EncryptionConfiguration", "Replica encryption")):
        if destination.find(name) is not None:
            raise _not_implemented(what)
    for name, what in (("ReplicationTime", "Replication Time Control"), ("Metrics", "Replication metrics")):
        if _status(destination, name):
            raise _not_implemented(what)
    storage_class = _text(destination, "StorageClass") or ""
    if storage_class and storage_class not in STORAGE_CLASSES:
        raise ReplicationConfigError("InvalidStorageClass", "The storage class you specified is not valid")
    return Rule(
        id=rule_id, priority=priority, enabled=status == "Enabled", prefix=prefix, tags=tags, delete_markers=delete_markers,
        existing_objects=bool(_status(element, "ExistingObjectReplication")), destination_bucket=bucket.group("name"),
        storage_class=storage_class, v1=not has_filter,
    )  # fmt: skip


def parse(body: bytes, parse_xml: Callable[[bytes], Element]) -> ReplicationConfig:
    """A PutBucketReplication document, checked; ReplicationConfigError as S3 answers."""
    root = parse_xml(body)
    if root.tag != "ReplicationConfiguration" or {c.tag for c in root} - {"Role", "Rule"}:
        raise _malformed()
    role = _text(root, "Role")
    if not role:
        raise _malformed()
    elements = root.findall("Rule")
    if not elements:
        raise _malformed()
    if len(elements) > MAX_RULES:
        raise ReplicationConfigError("InvalidArgument", f"A replication configuration holds at most {MAX_RULES} rules.")
    rules = tuple(_rule(e) for e in elements)
    if len({r.id for r in rules}) != len(rules):
        raise ReplicationConfigError("InvalidArgument", "Rule Id must be unique.")
    if len({r.v1 for r in rules}) > 1:
        raise ReplicationConfigError("InvalidRequest", "Rules of the two replication schemas (Filter, or a Prefix alone) cannot be mixed.")
    v2 = [r for r in rules if not r.v1]
    if len({r.priority for r in v2}) != len(v2):
        raise ReplicationConfigError("InvalidRequest", "Found duplicate priority: each rule's Priority must be unique.")
    if len({r.destination_bucket for r in rules}) > 1:
        raise _not_implemented("Replicating one bucket to several destinations")
    return ReplicationConfig(remote_of(role), role, rules)


def render(config: ReplicationConfig) -> list:
    """GetBucketReplication's children of ReplicationConfiguration, as S3 answers them."""
    children: list = [("Role", config.role)]
    for r in config.rules:
        rule: list = [("ID", r.id)]
        if r.v1:
            rule.append(("Prefix", r.prefix))
        else:
            rule.append(("Priority", r.priority))
            tags = [("Tag", [("Key", k), ("Value", v)]) for k, v in r.tags]
            if r.tags and (r.prefix or len(r.tags) > 1):
                rule.append(("Filter", [("And", ([("Prefix", r.prefix)] if r.prefix else []) + tags)]))
            elif r.tags:
                rule.append(("Filter", tags))
            else:
                rule.append(("Filter", [("Prefix", r.prefix)]))
        rule.append(("Status", "Enabled" if r.enabled else "Disabled"))
        if r.existing_objects:
            rule.append(("ExistingObjectReplication", [("Status", "Enabled")]))
        destination: list = [("Bucket", f"arn:aws:s3:::{r.destination_bucket}")]
        if r.storage_class:
            destination.append(("StorageClass", r.storage_class))
        rule.append(("Destination", destination))
        if not r.v1:
            rule.append(("DeleteMarkerReplication", [("Status", "Enabled" if r.delete_markers else "Disabled")]))
        children.append(("Rule", rule))
    return children
