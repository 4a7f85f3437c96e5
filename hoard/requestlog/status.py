"""A bucket's server access logging configuration (PutBucketLogging's BucketLoggingStatus),
checked as S3 checks the document, rendered for GetBucketLogging and kept as JSON in the bucket's
configuration. Pure: the S3 layer parses the XML (hardened) and hands in the root element;
whether the target bucket exists, whose it is and who may write to it are the handler's to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from hoard.xmldoc import ConfigRefused, NotInSchema, fields, one, tag, text

LOGGING_CONFIG = "logging"  # the bucket configuration it is kept under
DATE_SOURCES = ("EventTime", "DeliveryTime")
PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE")
_MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"

# A grantee as the document names it: ("id" | "uri" | "emailaddress", value); resolved by the handler.
Grantee = tuple[str, str]


class LoggingConfigError(ConfigRefused):
    """A document S3 would refuse: ``code`` and ``message`` as S3 answers them."""


@dataclass(frozen=True)
class LoggingConfig:
    target_bucket: str
    target_prefix: str
    # (CanonicalUser | Group, canonical id | group URI, permission) once resolved; as parsed:
    # ("id" | "uri" | "emailaddress", value, permission).
    grants: tuple[tuple[str, str, str], ...] = ()
    partitioned: bool = False
    date_source: str = "EventTime"  # PartitionedPrefix's PartitionDateSource

    def to_json(self) -> dict[str, Any]:
        return {
            "target_bucket": self.target_bucket,
            "target_prefix": self.target_prefix,
            "grants": [list(g) for g in self.grants],
            "partitioned": self.partitioned,
            "date_source": self.date_source,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LoggingConfig:
        return cls(
            value["target_bucket"],
            value["target_prefix"],
            tuple((str(k), str(w), str(p)) for k, w, p in value.get("grants", ())),
            bool(value.get("partitioned")),
            value.get("date_source", "EventTime"),
        )


def configured(bucket_config: dict[str, Any] | None) -> LoggingConfig | None:
    """The bucket's logging configuration, None when logging is off."""
    value = (bucket_config or {}).get(LOGGING_CONFIG)
    return LoggingConfig.from_json(value) if value else None


def _malformed() -> LoggingConfigError:
    return LoggingConfigError("MalformedXML", _MALFORMED)


def _grant(element: Element) -> tuple[str, str, str]:
    found = fields(element, ("Grantee", "Permission"))
    grantee, permission = one(found, "Grantee"), one(found, "Permission")
    if grantee is None or permission is None:
        raise _malformed()
    perm = text(permission).strip()
    if perm not in PERMISSIONS:
        raise _malformed()
    named = fields(grantee, ("ID", "DisplayName", "EmailAddress", "URI"))
    given = [(name.lower(), text(one(named, name)).strip()) for name in ("ID", "EmailAddress", "URI") if one(named, name) is not None]  # type: ignore[arg-type]
    if len(given) != 1 or not given[0][1]:
        raise _malformed()
    return (given[0][0], given[0][1], perm)


def parse(root: Element) -> LoggingConfig | None:
    """The configuration a BucketLoggingStatus document asks for; None: logging turned off."""
    try:
        if tag(root) != "BucketLoggingStatus":
            raise _malformed()
        enabled = one(fields(root, ("LoggingEnabled",)), "LoggingEnabled")
        if enabled is None:
            return None
        found = fields(enabled, ("TargetBucket", "TargetPrefix", "TargetGrants", "TargetObjectKeyFormat"))
        bucket_el, prefix_el = one(found, "TargetBucket"), one(found, "TargetPrefix")
        if bucket_el is None or prefix_el is None:
            raise _malformed()
        target = text(bucket_el).strip()
        if not target:
            raise _malformed()
        prefix = text(prefix_el)
        if len(prefix.encode()) > 512:
            raise LoggingConfigError("InvalidArgument", "The target prefix is too long.", "TargetPrefix", prefix[:64])
        grants: tuple[tuple[str, str, str], ...] = ()
        grants_el = one(found, "TargetGrants")
        if grants_el is not None:
            grants = tuple(_grant(g) for g in fields(grants_el, ("Grant",), many=("Grant",)).get("Grant", ()))
        partitioned, date_source = False, "EventTime"
        fmt = one(found, "TargetObjectKeyFormat")
        if fmt is not None:
            kinds = fields(fmt, ("SimplePrefix", "PartitionedPrefix"))
            if len(kinds) != 1:
                raise _malformed()
            simple = one(kinds, "SimplePrefix")
            if simple is not None:
                fields(simple, ())
            else:
                partitioned = True
                part = one(kinds, "PartitionedPrefix")
                assert part is not None
                source = one(fields(part, ("PartitionDateSource",)), "PartitionDateSource")
                if source is not None:
                    date_source = text(source).strip()
                    if date_source not in DATE_SOURCES:
                        raise _malformed()
        return LoggingConfig(target, prefix, grants, partitioned, date_source)
    except NotInSchema:
        raise _malformed() from None


def render(config: LoggingConfig | None, grantee: Any) -> list:
    """GetBucketLogging's children of BucketLoggingStatus; ``grantee(kind, who)`` gives a
    Grantee element's name and children (the S3 layer's, which knows display names)."""
    if config is None:
        return []
    children: list = [("TargetBucket", config.target_bucket), ("TargetPrefix", config.target_prefix)]
    if config.grants:
        children.append(("TargetGrants", [("Grant", [grantee(kind, who), ("Permission", perm)]) for kind, who, perm in config.grants]))
    if config.partitioned:
        children.append(("TargetObjectKeyFormat", [("PartitionedPrefix", [("PartitionDateSource", config.date_source)])]))
    else:
        children.append(("TargetObjectKeyFormat", [("SimplePrefix", [])]))
    return [("LoggingEnabled", children)]
