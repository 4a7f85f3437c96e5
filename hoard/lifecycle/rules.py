"""A bucket's lifecycle configuration (PutBucketLifecycleConfiguration): S3's rule model, checked as
S3 checks it, kept as the bucket configuration ``lifecycle``, and what its rules do to a version.

Pure: no I/O. The XML is parsed by the caller's hardened parser (``hoard.s3.xml.parse``); the clock
is the caller's too (``now``, and ``day_seconds``: how long a "day" is, 86,400 but for tests).

**The document.** ``LifecycleConfiguration`` holds 1 to 1,000 ``Rule``s. A rule has an optional
``ID`` (one is made when none is given, as S3 does; at most 255 characters, unique), a ``Status``
(Enabled or Disabled), what it covers, and at least one action. What it covers is S3's first
schema's ``Prefix`` in the rule itself, or a ``Filter`` holding one of ``Prefix``, ``Tag``,
``ObjectSizeGreaterThan``, ``ObjectSizeLessThan`` or an ``And`` of two or more of them (any number of
tags); an empty ``<Filter/>`` covers every object. One configuration does not mix the two: S3 refuses
a rule-level Prefix beside a Filter. The actions: ``Expiration`` (one of ``Days``, ``Date`` or
``ExpiredObjectDeleteMarker``), ``Transition``s (``Days`` or ``Date``, and a ``StorageClass``),
``NoncurrentVersionExpiration`` (``NoncurrentDays``, ``NewerNoncurrentVersions``),
``NoncurrentVersionTransition``s (the same and a ``StorageClass``) and
``AbortIncompleteMultipartUpload`` (``DaysAfterInitiation``). The request header
``x-amz-transition-default-minimum-object-size`` (``all_storage_classes_128K``, the default, or
``varies_by_storage_class``) is kept with the rules (``LifecycleConfig.min_object_size``).

**Refusals**, with S3's codes and, where S3's are known, its messages: what is not the schema
(unknown or repeated elements, a missing Status or a Status other than Enabled/Disabled, a rule with
both a rule-level Prefix and a Filter or with neither, a Filter of more than one kind, an And of fewer
than two conditions, an Expiration with none or more than one of Days/Date/ExpiredObjectDeleteMarker,
a Transition without exactly one of Days/Date, a number that is not an integer, a date that is not
ISO 8601, a storage class S3 does not know) is MalformedXML. InvalidArgument: an expiration's Days,
NoncurrentDays or DaysAfterInitiation under 1, a transition's Days under 0 or under 30 to
STANDARD_IA/ONEZONE_IA, a transition to STANDARD or REDUCED_REDUNDANCY, a Date not at midnight UTC,
NewerNoncurrentVersions outside 1..100, an ID over 255 characters or used twice, transitions out of
order (to a colder class later, and 30 days after a move to STANDARD_IA/ONEZONE_IA, 90 after one to
GLACIER_IR/GLACIER) or between classes S3 does not move objects between, an expiration not after the
transitions. InvalidRequest: a rule with no action, more than 1,000 rules, mixed Date and Days
transitions (or expiration), two transitions to one class, ExpiredObjectDeleteMarker or
AbortIncompleteMultipartUpload with a tag or size filter, tag keys over 128 or values over 256
characters or a key given twice, ObjectSizeLessThan not above ObjectSizeGreaterThan, a prefix over
1,024 bytes, the two schemas mixed, NewerNoncurrentVersions in the first schema, an unknown
minimum object size.

**When an action is due** (``due_after``): S3 adds the days to the object's creation time (for a
noncurrent version, to the time it became noncurrent: its successor's creation) and rounds up to the
next midnight UTC: created 2026-01-01 10:00 with ``Days`` 1, due 2026-01-03 00:00. The midnight is
the next one strictly after the sum, so a sum that is itself a midnight moves a whole day, as S3's
"rounding the resulting time to the next day midnight" says. ``Days`` 0 (transitions only) is the
next midnight. A ``Date`` action is due from that date on, for objects created before or after it.

**What ``action_for`` gives a version**, of the enabled rules whose filter selects it (a delete
marker has no tags and no size, so a rule with a tag or size condition never selects one):

- a current version: ``expire`` (delete it, or in a versioned bucket add a delete marker) once an
  Expiration's Days or Date is due; ``transition`` once a Transition is due.
- a current delete marker that is its key's only version (an *expired object delete marker*):
  ``delete-marker`` under ``ExpiredObjectDeleteMarker`` at once, or under an Expiration's Days
  (counted from the marker's creation) or Date once due: S3 removes expired object delete markers
  when "the lifecycle configuration is set to delete current versions" too. Other delete markers: none.
- a noncurrent version (a delete marker too): ``delete-version`` once NoncurrentDays have passed since
  it became noncurrent, if NewerNoncurrentVersions N is not given or N newer noncurrent versions of
  its key exist (S3 keeps the N newest); ``transition`` likewise under a NoncurrentVersionTransition
  (never for a delete marker). NoncurrentVersionExpiration with only NewerNoncurrentVersions counts
  0 days.
- a transition is due only where S3 moves objects (its waterfall: STANDARD and REDUCED_REDUNDANCY to
  any class; STANDARD_IA to INTELLIGENT_TIERING, ONEZONE_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE;
  INTELLIGENT_TIERING to ONEZONE_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE; ONEZONE_IA and GLACIER_IR to
  GLACIER, DEEP_ARCHIVE; GLACIER to DEEP_ARCHIVE), never to the class the version is in, and not for
  an object under 128 KiB: with ``all_storage_classes_128K`` to no class, with
  ``varies_by_storage_class`` to none but GLACIER and DEEP_ARCHIVE, unless the rule's filter has a
  size condition (S3's way to choose another minimum).

Where several are due, S3's rules for conflicts decide: permanent deletion (``delete-version``,
``delete-marker``, and ``expire`` in a bucket that is not versioned) before a transition; a transition
before the creation of a delete marker (``expire`` in a versioned bucket, ``VersionFacts.versioned``);
of two transitions the colder class (STANDARD_IA < INTELLIGENT_TIERING < ONEZONE_IA < GLACIER_IR <
GLACIER < DEEP_ARCHIVE, the order S3 moves objects in); of two expirations the earlier. The action
names the rule it comes from.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from xml.etree.ElementTree import Element

from hoard.xmldoc import ConfigRefused, NotInSchema
from hoard.xmldoc import fields as _fields
from hoard.xmldoc import one as _one
from hoard.xmldoc import tag as _tag
from hoard.xmldoc import text as _text

LIFECYCLE_CONFIG = "lifecycle"  # the bucket configuration a lifecycle configuration is kept under
MAX_RULES = 1000
MAX_ID_LENGTH = 255
MAX_PREFIX_BYTES = 1024  # S3's longest key
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_NEWER_NONCURRENT = 100
MAX_SIZE_FILTER = 1099511627776000  # the largest ObjectSizeGreaterThan/LessThan S3 takes
MIN_TRANSITION_SIZE = 128 * 1024  # S3's default: smaller objects are not transitioned
ALL_CLASSES_128K = "all_storage_classes_128K"
VARIES_BY_CLASS = "varies_by_storage_class"
MIN_OBJECT_SIZES = (ALL_CLASSES_128K, VARIES_BY_CLASS)
TRANSITION_CLASSES = frozenset({"GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"})
INFREQUENT_ACCESS = frozenset({"STANDARD_IA", "ONEZONE_IA"})  # S3 moves nothing younger than 30 days there
SMALL_OBJECT_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})  # where varies_by_storage_class moves objects under 128 KiB
_FIRST_CLASSES = frozenset({"", "STANDARD", "REDUCED_REDUNDANCY"})  # classes a version may move from to any other
# S3's supported transitions out of each transition class (its "waterfall"); nothing moves back.
_NEXT_CLASSES = {
    "STANDARD_IA": frozenset({"INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"}),
    "INTELLIGENT_TIERING": frozenset({"ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"}),
    "ONEZONE_IA": frozenset({"GLACIER", "DEEP_ARCHIVE"}),
    "GLACIER_IR": frozenset({"GLACIER", "DEEP_ARCHIVE"}),
    "GLACIER": frozenset({"DEEP_ARCHIVE"}),
    "DEEP_ARCHIVE": frozenset(),
}
# How cold a class is: of two transitions due at once, the colder wins (S3 takes the lower cost).
_COLDNESS = {"STANDARD_IA": 1, "INTELLIGENT_TIERING": 2, "ONEZONE_IA": 3, "GLACIER_IR": 4, "GLACIER": 5, "DEEP_ARCHIVE": 6}
# Days an object stays in a class before a rule's next transition may move it on (S3 refuses less).
_MINIMUM_STAY = {"STANDARD_IA": 30, "ONEZONE_IA": 30, "GLACIER_IR": 90, "GLACIER": 90}

# How a rule's document said what it covers, so that GetBucketLifecycleConfiguration answers it the same way.
V1 = "v1"  # <Prefix> in the rule itself (S3's first schema)
ALL = "all"  # an empty <Filter/>
PREFIX = "prefix"  # <Filter><Prefix>
TAG = "tag"  # <Filter><Tag>
GREATER = "greater"  # <Filter><ObjectSizeGreaterThan>
LESS = "less"  # <Filter><ObjectSizeLessThan>
AND = "and"  # <Filter><And> without a <Prefix>
AND_PREFIX = "and-prefix"  # <Filter><And> with a <Prefix>
FORMS = (V1, ALL, PREFIX, TAG, GREATER, LESS, AND, AND_PREFIX)

# What action_for asks of a version.
EXPIRE = "expire"  # the current version: delete it (or, versioned, add a delete marker)
TRANSITION = "transition"  # move it to Action.storage_class
DELETE_VERSION = "delete-version"  # a noncurrent version (or delete marker): delete it for good
DELETE_MARKER = "delete-marker"  # an expired object delete marker: remove it

_MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"
_STATUSES = {"Enabled": True, "Disabled": False}
_RULE_FIELDS = frozenset(
    {
        "ID", "Prefix", "Filter", "Status", "Expiration", "Transition", "NoncurrentVersionExpiration",
        "NoncurrentVersionTransition", "AbortIncompleteMultipartUpload",
    }
)  # fmt: skip
_ACTIONS = ("Expiration", "Transition", "NoncurrentVersionExpiration", "NoncurrentVersionTransition", "AbortIncompleteMultipartUpload")
_CONDITIONS = ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# ISO 8601 as S3 takes a Date: a day, or a day and a time with an optional zone (none is UTC).
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?")


class LifecycleConfigError(ConfigRefused):
    """A configuration S3 would refuse: ``code`` is S3's error code, ``message`` its message; an
    InvalidArgument names the argument (``argument_name``, ``argument_value``) as S3's answer does."""


def _malformed() -> LifecycleConfigError:
    return LifecycleConfigError("MalformedXML", _MALFORMED)


def _invalid_request(message: str) -> LifecycleConfigError:
    return LifecycleConfigError("InvalidRequest", message)


def _invalid_argument(message: str, name: str, value: object) -> LifecycleConfigError:
    return LifecycleConfigError("InvalidArgument", message, name, str(value))


# -- the model -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    """What a rule covers: every condition given must hold ("" prefix: every key)."""

    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()  # every one must be on the version
    size_greater: int | None = None  # the size must be above it
    size_less: int | None = None  # the size must be below it
    form: str = ""  # how the document gave it (FORMS); "" takes the plainest form for the conditions

    def __post_init__(self) -> None:
        if not self.form:
            object.__setattr__(self, "form", self._plainest_form())

    def _plainest_form(self) -> str:
        sizes = (self.size_greater is not None) + (self.size_less is not None)
        conditions = bool(self.prefix) + len(self.tags) + sizes
        if conditions > 1:
            return AND_PREFIX if self.prefix else AND
        if self.prefix:
            return PREFIX
        if self.tags:
            return TAG
        if sizes:
            return GREATER if self.size_greater is not None else LESS
        return ALL

    @property
    def object_conditions(self) -> bool:
        """Whether it asks for tags or a size, which delete markers and multipart uploads lack."""
        return bool(self.tags) or self.size_greater is not None or self.size_less is not None

    def matches(self, key: str, tags: Iterable[tuple[str, str]], size: int) -> bool:
        """Whether it selects an object with this key, these tags and this size."""
        if not key.startswith(self.prefix):
            return False
        if self.size_greater is not None and not size > self.size_greater:
            return False
        if self.size_less is not None and not size < self.size_less:
            return False
        if not self.tags:
            return True
        have = set(tags)
        return all(tag in have for tag in self.tags)


@dataclass(frozen=True)
class Transition:
    days: int | None  # after creation; None for a Date transition
    date: float | None  # Unix time of a midnight UTC; None for a Days transition
    storage_class: str


@dataclass(frozen=True)
class NoncurrentTransition:
    days: int  # after the version became noncurrent
    newer: int | None  # NewerNoncurrentVersions: the newest this many noncurrent versions stay
    storage_class: str


@dataclass(frozen=True)
class Rule:
    id: str
    enabled: bool
    filter: Filter
    expiration_days: int | None = None
    expiration_date: float | None = None  # Unix time of a midnight UTC
    expired_object_delete_marker: bool = False
    transitions: tuple[Transition, ...] = ()
    noncurrent_days: int | None = None  # NoncurrentVersionExpiration
    newer_noncurrent: int | None = None  # its NewerNoncurrentVersions
    noncurrent_transitions: tuple[NoncurrentTransition, ...] = ()
    abort_days: int | None = None  # AbortIncompleteMultipartUpload's DaysAfterInitiation
    # <Expiration><ExpiredObjectDeleteMarker>false</...>: S3 takes it and it does nothing; kept to be answered back.
    expiration_noop: bool = False

    @property
    def noncurrent_expiration(self) -> bool:
        """Whether the rule has a NoncurrentVersionExpiration."""
        return self.noncurrent_days is not None or self.newer_noncurrent is not None


@dataclass(frozen=True)
class LifecycleConfig:
    rules: tuple[Rule, ...]
    min_object_size: str = ALL_CLASSES_128K  # x-amz-transition-default-minimum-object-size

    def to_json(self) -> dict:
        """The configuration as the bucket configuration ``lifecycle`` keeps it."""
        return {
            "min_object_size": self.min_object_size,
            "rules": [
                {
                    "id": r.id,
                    "enabled": r.enabled,
                    "filter": {
                        "prefix": r.filter.prefix,
                        "tags": [[k, v] for k, v in r.filter.tags],
                        "size_greater": r.filter.size_greater,
                        "size_less": r.filter.size_less,
                        "form": r.filter.form,
                    },
                    "expiration_days": r.expiration_days,
                    "expiration_date": r.expiration_date,
                    "expired_object_delete_marker": r.expired_object_delete_marker,
                    "transitions": [{"days": t.days, "date": t.date, "storage_class": t.storage_class} for t in r.transitions],
                    "noncurrent_days": r.noncurrent_days,
                    "newer_noncurrent": r.newer_noncurrent,
                    "noncurrent_transitions": [
                        {"days": t.days, "newer": t.newer, "storage_class": t.storage_class} for t in r.noncurrent_transitions
                    ],
                    "abort_days": r.abort_days,
                    "expiration_noop": r.expiration_noop,
                }
                for r in self.rules
            ],
        }

    @classmethod
    def from_json(cls, value: dict) -> LifecycleConfig:
        rules = []
        for r in value["rules"]:
            f = r["filter"]
            rule_filter = Filter(f["prefix"], tuple((k, v) for k, v in f["tags"]), f["size_greater"], f["size_less"], f["form"])
            rules.append(
                Rule(
                    **{
                        **r,
                        "filter": rule_filter,
                        "transitions": tuple(Transition(**t) for t in r["transitions"]),
                        "noncurrent_transitions": tuple(NoncurrentTransition(**t) for t in r["noncurrent_transitions"]),
                    }
                )
            )
        return cls(tuple(rules), value["min_object_size"])


def configured(bucket_config: dict) -> LifecycleConfig | None:
    """A bucket's lifecycle configuration, from its configurations (None: it has none)."""
    value = bucket_config.get(LIFECYCLE_CONFIG)
    return LifecycleConfig.from_json(value) if value else None


# -- time ------------------------------------------------------------------------------------------
def day_start(t: float, day_seconds: int) -> float:
    """The "midnight" at or before ``t``: ``t`` rounded down to a multiple of ``day_seconds`` since
    the epoch (midnight UTC for 86,400)."""
    return float(math.floor(t / day_seconds) * day_seconds)


def due_after(since: float, days: int, day_seconds: int) -> float:
    """When an action of ``days`` days counted from ``since`` is due: S3 adds the days and rounds up
    to the next midnight (strictly after the sum)."""
    return day_start(since + days * day_seconds, day_seconds) + day_seconds


# -- the document --------------------------------------------------------------------------------








def _integer(element: Element, bits: int = 32) -> int:
    """An xs:int (or, 64 bits, xs:long): MalformedXML if the text is not one."""
    text = _text(element).strip()
    if not _INTEGER.fullmatch(text):
        raise _malformed()
    value = int(text)
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise _malformed()
    return value


def _boolean(element: Element) -> bool:
    text = _text(element).strip()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise _malformed()


def _date(element: Element) -> float:
    """A Date: MalformedXML if it is not ISO 8601, InvalidArgument if it is not a midnight UTC."""
    text = _text(element).strip()
    match = _DATE.fullmatch(text)
    if match is None:
        raise _malformed()
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = dt.timedelta()
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if zone[0] == "-" else offset
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=dt.timezone(offset)
        )
    except ValueError:
        raise _malformed() from None
    moment = moment.astimezone(dt.UTC)
    if (moment.hour, moment.minute, moment.second) != (0, 0, 0) or int(fraction or 0):
        raise _invalid_argument("'Date' must be at midnight GMT", "Date", text)
    return moment.timestamp()


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _prefix(element: Element) -> str:
    prefix = _text(element)
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        raise _invalid_request(f"The maximum size of a prefix is {MAX_PREFIX_BYTES}")
    return prefix


def _tag_pair(element: Element) -> tuple[str, str]:
    fields = _fields(element, {"Key", "Value"})
    key, value = _one(fields, "Key"), _one(fields, "Value")
    if key is None or value is None:
        raise _malformed()
    pair = _text(key), _text(value)
    if not 1 <= _utf16_length(pair[0]) <= MAX_TAG_KEY:
        raise _invalid_request(f"A Tag's Key must be a length between 1 and {MAX_TAG_KEY}.")
    if _utf16_length(pair[1]) > MAX_TAG_VALUE:
        raise _invalid_request(f"A Tag's Value must be a length between 0 and {MAX_TAG_VALUE}.")
    return pair


def _size(element: Element, name: str) -> int:
    size = _integer(element, bits=64)
    smallest = 0 if name == "ObjectSizeGreaterThan" else 1
    if not smallest <= size <= MAX_SIZE_FILTER:
        raise _invalid_request(f"'{name}' should be between {smallest} and {MAX_SIZE_FILTER}.")
    return size


def _sizes(fields: dict[str, list[Element]]) -> tuple[int | None, int | None]:
    greater, less = _one(fields, "ObjectSizeGreaterThan"), _one(fields, "ObjectSizeLessThan")
    above = _size(greater, "ObjectSizeGreaterThan") if greater is not None else None
    below = _size(less, "ObjectSizeLessThan") if less is not None else None
    if above is not None and below is not None and below <= above:
        raise _invalid_request("'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.")
    return above, below


def _filter(element: Element) -> Filter:
    fields = _fields(element, {*_CONDITIONS, "And"})
    if len(fields) > 1:
        raise _malformed()  # one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan, And
    if not fields:
        return Filter(form=ALL)
    if (prefix := _one(fields, "Prefix")) is not None:
        return Filter(prefix=_prefix(prefix), form=PREFIX)
    if (tag := _one(fields, "Tag")) is not None:
        return Filter(tags=(_tag_pair(tag),), form=TAG)
    if "And" not in fields:
        above, below = _sizes(fields)
        return Filter(size_greater=above, size_less=below, form=GREATER if above is not None else LESS)
    conditions = _fields(fields["And"][0], _CONDITIONS, many={"Tag"})
    prefix = _one(conditions, "Prefix")
    tags = tuple(_tag_pair(t) for t in conditions.get("Tag", ()))
    if sum(len(found) for found in conditions.values()) < 2:
        raise _malformed()  # And joins two conditions or more
    if len({k for k, _ in tags}) != len(tags):
        raise _invalid_request("Duplicate Tag Keys are not allowed.")
    above, below = _sizes(conditions)
    if prefix is None:
        return Filter(tags=tags, size_greater=above, size_less=below, form=AND)
    return Filter(_prefix(prefix), tags, above, below, form=AND_PREFIX)


def _described(rule_filter: Filter) -> str:
    """The filter as S3's messages name it: "prefix 'logs/'" in the first schema, else
    "filter '(prefix=logs/)'" (conditions joined with " and ")."""
    if rule_filter.form == V1:
        return f"prefix '{rule_filter.prefix}'"
    parts = [f"prefix={rule_filter.prefix}"] if rule_filter.form in (PREFIX, AND_PREFIX) else []
    parts += [f"tag: key={k}, value={v}" for k, v in rule_filter.tags]
    if rule_filter.size_greater is not None:
        parts.append(f"ObjectSizeGreaterThan={rule_filter.size_greater}")
    if rule_filter.size_less is not None:
        parts.append(f"ObjectSizeLessThan={rule_filter.size_less}")
    return f"filter '({' and '.join(parts)})'"


def _storage_class(element: Element | None) -> str:
    if element is None:
        raise _malformed()
    storage_class = _text(element)
    if storage_class in ("STANDARD", "REDUCED_REDUNDANCY"):
        raise _invalid_argument("Invalid target Storage class for Transition action", "StorageClass", storage_class)
    if storage_class not in TRANSITION_CLASSES:
        raise _malformed()
    return storage_class


def _transition(element: Element) -> Transition:
    fields = _fields(element, {"Days", "Date", "StorageClass"})
    storage_class = _storage_class(_one(fields, "StorageClass"))
    days, date = _one(fields, "Days"), _one(fields, "Date")
    if (days is None) == (date is None):
        raise _malformed()  # Days or Date
    if date is not None:
        return Transition(None, _date(date), storage_class)
    count = _integer(days)
    if count < 0:
        raise _invalid_argument("'Days' in Transition action must be nonnegative", "Days", count)
    if storage_class in INFREQUENT_ACCESS and count < 30:
        raise _invalid_argument(
            f"'Days' in Transition action must be greater than or equal to 30 for storageClass '{storage_class}'", "Days", count
        )
    return Transition(count, None, storage_class)


def _newer(element: Element, action: str) -> int:
    count = _integer(element)
    if count < 1:
        raise _invalid_argument(
            f"'NewerNoncurrentVersions' for {action} action must be a positive integer", "NewerNoncurrentVersions", count
        )
    if count > MAX_NEWER_NONCURRENT:
        raise _invalid_argument(
            f"'NewerNoncurrentVersions' for {action} action must not exceed {MAX_NEWER_NONCURRENT}", "NewerNoncurrentVersions", count
        )
    return count


def _noncurrent_transition(element: Element) -> NoncurrentTransition:
    fields = _fields(element, {"NoncurrentDays", "NewerNoncurrentVersions", "StorageClass"})
    storage_class = _storage_class(_one(fields, "StorageClass"))
    days = _one(fields, "NoncurrentDays")
    if days is None:
        raise _malformed()
    count = _integer(days)
    if count < 0:
        raise _invalid_argument("'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative", "NoncurrentDays", count)
    if storage_class in INFREQUENT_ACCESS and count < 30:
        raise _invalid_argument(
            "'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal to 30 "
            f"for storageClass '{storage_class}'",
            "NoncurrentDays",
            count,
        )
    newer = _one(fields, "NewerNoncurrentVersions")
    return NoncurrentTransition(count, _newer(newer, "NoncurrentVersionTransition") if newer is not None else None, storage_class)


def _positive(element: Element, field: str, action: str) -> int:
    count = _integer(element)
    if count < 1:
        raise _invalid_argument(f"'{field}' for {action} action must be a positive integer", field, count)
    return count


def _unfiltered(action: str, rule_filter: Filter) -> None:
    """Refuse an action S3 takes only in a rule without tag or size conditions (delete markers and
    multipart uploads have neither)."""
    if rule_filter.tags:
        raise _invalid_request(f"{action} cannot be specified with Tags.")
    if rule_filter.size_greater is not None or rule_filter.size_less is not None:
        raise _invalid_request(f"{action} cannot be specified with Object Size.")


def _check_transition_order(moves: list[tuple[int | None, float | None, str]], action: str, field: str, described: str) -> None:
    """S3's checks across a rule's transitions (days, date, class): distinct classes, all by Days or
    all by Date, and each later one to a class S3 moves the earlier one's objects to, after the
    earlier class's minimum stay."""
    for i, (days, date, storage_class) in enumerate(moves):
        for earlier_days, earlier_date, earlier_class in moves[:i]:
            if storage_class == earlier_class:
                raise _invalid_request(f"'StorageClass' must be different for '{action}' actions in same 'Rule' with {described}")
            if (date is None) != (earlier_date is None):
                raise _invalid_request(f"Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule for {described}")
            pair = [(earlier_days, earlier_date, earlier_class), (days, date, storage_class)]
            if can_transition(storage_class, earlier_class):
                pair.reverse()
            (warm_days, warm_date, warm), (cold_days, cold_date, cold) = pair
            if not can_transition(warm, cold):
                raise _invalid_argument(
                    f"'StorageClass' '{cold}' in the '{action}' action for {described} cannot be used with "
                    f"StorageClass '{warm}': S3 moves objects from neither to the other",
                    "StorageClass",
                    cold,
                )
            if cold_date is not None and warm_date is not None:
                name, value, gap = "Date", _iso_date(cold_date), (cold_date - warm_date) / 86400
            else:
                name, value, gap = field, cold_days, (cold_days or 0) - (warm_days or 0)
            if gap <= 0:
                raise _invalid_argument(
                    f"'{name}' in the '{action}' action for StorageClass '{cold}' for {described} must be greater than "
                    f"'{name}' in the '{action}' action for StorageClass '{warm}' for {described}",
                    name,
                    value,
                )
            stay = _MINIMUM_STAY.get(warm, 0)
            if gap < stay:
                # S3's own wording, the filter quoted where the field belongs.
                raise _invalid_argument(
                    f"'{name}' in the '{action}' action for StorageClass '{cold}' for {described} must be {stay} days more than "
                    f"'{described}' in the '{action}' action for StorageClass '{warm}'",
                    name,
                    value,
                )


def _iso_date(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def new_rule_id() -> str:
    """An ID for a rule given none, in the form S3 makes them (base64 of a UUID's text)."""
    return base64.b64encode(str(uuid.uuid4()).encode()).decode()


def _rule(element: Element) -> Rule:
    fields = _fields(element, _RULE_FIELDS, many={"Transition", "NoncurrentVersionTransition"})
    status = _one(fields, "Status")
    if status is None or _text(status) not in _STATUSES:
        raise _malformed()
    filter_element, prefix_element = _one(fields, "Filter"), _one(fields, "Prefix")
    if (filter_element is None) == (prefix_element is None):
        raise _malformed()  # the first schema's Prefix or a Filter, one of them
    rule_filter = _filter(filter_element) if filter_element is not None else Filter(prefix=_prefix(prefix_element), form=V1)
    rule_id = _text(id_element) if (id_element := _one(fields, "ID")) is not None else ""
    if len(rule_id) > MAX_ID_LENGTH:
        raise _invalid_argument(f"ID length should not exceed allowed limit of {MAX_ID_LENGTH}", "ID", rule_id)
    if not any(name in fields for name in _ACTIONS):
        raise _invalid_request("At least one action needs to be specified in a rule")
    described = _described(rule_filter)

    expiration_days = expiration_date = None
    marker = noop = False
    if (expiration := _one(fields, "Expiration")) is not None:
        given = _fields(expiration, {"Days", "Date", "ExpiredObjectDeleteMarker"})
        if len(given) != 1:
            raise _malformed()  # one of Days, Date, ExpiredObjectDeleteMarker
        if (days := _one(given, "Days")) is not None:
            expiration_days = _positive(days, "Days", "Expiration")
        elif (date := _one(given, "Date")) is not None:
            expiration_date = _date(date)
        else:
            marker = _boolean(given["ExpiredObjectDeleteMarker"][0])
            noop = not marker
            _unfiltered("ExpiredObjectDeleteMarker", rule_filter)

    transitions = tuple(_transition(t) for t in fields.get("Transition", ()))
    _check_transition_order([(t.days, t.date, t.storage_class) for t in transitions], "Transition", "Days", described)
    if transitions and (expiration_days is not None or expiration_date is not None):
        if (expiration_date is None) != (transitions[0].date is None):
            raise _invalid_request(
                f"Found mixed 'Date' and 'Days' based Expiration and Transition actions in lifecycle rule for {described}"
            )
        if expiration_days is not None and expiration_days <= max(t.days for t in transitions if t.days is not None):
            raise _invalid_argument(
                f"'Days' in the Expiration action for {described} must be greater than 'Days' in the Transition action",
                "Days",
                expiration_days,
            )
        if expiration_date is not None and expiration_date <= max(t.date for t in transitions if t.date is not None):
            raise _invalid_argument(
                f"'Date' in the Expiration action for {described} must be greater than 'Date' in the Transition action",
                "Date",
                _iso_date(expiration_date),
            )

    noncurrent_days = newer_noncurrent = None
    if (noncurrent := _one(fields, "NoncurrentVersionExpiration")) is not None:
        given = _fields(noncurrent, {"NoncurrentDays", "NewerNoncurrentVersions"})
        if not given:
            raise _malformed()
        if (days := _one(given, "NoncurrentDays")) is not None:
            noncurrent_days = _positive(days, "NoncurrentDays", "NoncurrentVersionExpiration")
        if (newer := _one(given, "NewerNoncurrentVersions")) is not None:
            newer_noncurrent = _newer(newer, "NoncurrentVersionExpiration")
    noncurrent_transitions = tuple(_noncurrent_transition(t) for t in fields.get("NoncurrentVersionTransition", ()))
    if rule_filter.form == V1 and (newer_noncurrent is not None or any(t.newer is not None for t in noncurrent_transitions)):
        raise _invalid_request("NewerNoncurrentVersions element can only be used in Lifecycle V2.")
    _check_transition_order(
        [(t.days, None, t.storage_class) for t in noncurrent_transitions], "NoncurrentVersionTransition", "NoncurrentDays", described
    )
    if noncurrent_days is not None and noncurrent_transitions and noncurrent_days <= max(t.days for t in noncurrent_transitions):
        raise _invalid_argument(
            f"'NoncurrentDays' in the NoncurrentVersionExpiration action for {described} must be greater than "
            "'NoncurrentDays' in the NoncurrentVersionTransition action",
            "NoncurrentDays",
            noncurrent_days,
        )

    abort_days = None
    if (abort := _one(fields, "AbortIncompleteMultipartUpload")) is not None:
        days = _one(_fields(abort, {"DaysAfterInitiation"}), "DaysAfterInitiation")
        if days is None:
            raise _malformed()
        abort_days = _positive(days, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")
        _unfiltered("AbortIncompleteMultipartUpload", rule_filter)

    return Rule(
        id=rule_id or new_rule_id(),
        enabled=_STATUSES[_text(status)],
        filter=rule_filter,
        expiration_days=expiration_days,
        expiration_date=expiration_date,
        expired_object_delete_marker=marker,
        transitions=transitions,
        noncurrent_days=noncurrent_days,
        newer_noncurrent=newer_noncurrent,
        noncurrent_transitions=noncurrent_transitions,
        abort_days=abort_days,
        expiration_noop=noop,
    )


def parse(body: bytes, parse_xml: Callable[[bytes], Element], min_object_size: str | None = None) -> LifecycleConfig:
    """The document checked as S3 checks it (see ``_parse``); anything outside the schema is MalformedXML."""
    try:
        return _parse(body, parse_xml, min_object_size)
    except NotInSchema:
        raise _malformed() from None


def _parse(body: bytes, parse_xml: Callable[[bytes], Element], min_object_size: str | None = None) -> LifecycleConfig:
    """A PutBucketLifecycleConfiguration document and its ``x-amz-transition-default-minimum-object-size``
    header (None: not sent), checked as S3 checks them: LifecycleConfigError with S3's code (what
    ``parse_xml`` raises for a body that is not XML passes through)."""
    minimum = ALL_CLASSES_128K if min_object_size is None else min_object_size
    if minimum not in MIN_OBJECT_SIZES:
        raise _invalid_request(f"Invalid TransitionDefaultMinimumObjectSize found: {minimum}")
    root = parse_xml(body)
    if _tag(root) != "LifecycleConfiguration":
        raise _malformed()
    elements = _fields(root, {"Rule"}, many={"Rule"}).get("Rule", [])
    if not elements:
        raise _malformed()
    if len(elements) > MAX_RULES:
        raise _invalid_request(f"Number of lifecycle rules should not exceed allowed limit of {MAX_RULES} rules")
    rules: list[Rule] = []
    for element in elements:
        rule = _rule(element)
        if any(r.id == rule.id for r in rules):
            raise _invalid_argument("Rule ID must be unique. Found same ID for more than one rule", "ID", rule.id)
        rules.append(rule)
    if any(r.filter.form == V1 for r in rules) and any(r.filter.form != V1 for r in rules):
        raise _invalid_request("Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.")
    return LifecycleConfig(tuple(rules), minimum)


def render(config: LifecycleConfig) -> list:
    """The children of GetBucketLifecycleConfiguration's ``LifecycleConfiguration``, in the shape
    each rule was given (for ``hoard.s3.xml.render``)."""
    children: list = []
    for r in config.rules:
        f = r.filter
        rule: list = [("ID", r.id)]
        tags = [("Tag", [("Key", k), ("Value", v)]) for k, v in f.tags]
        sizes = [("ObjectSizeGreaterThan", f.size_greater), ("ObjectSizeLessThan", f.size_less)]
        if f.form == V1:
            rule.append(("Prefix", f.prefix))
        elif f.form in (AND, AND_PREFIX):
            rule.append(("Filter", [("And", ([("Prefix", f.prefix)] if f.form == AND_PREFIX else []) + tags + sizes)]))
        elif f.form == ALL:
            rule.append(("Filter", []))
        elif f.form == TAG:
            rule.append(("Filter", tags))
        elif f.form in (GREATER, LESS):
            rule.append(("Filter", sizes))
        else:
            rule.append(("Filter", [("Prefix", f.prefix)]))
        rule.append(("Status", "Enabled" if r.enabled else "Disabled"))
        for t in r.transitions:
            rule.append(("Transition", [("Days", t.days), ("Date", _datetime(t.date)), ("StorageClass", t.storage_class)]))
        if r.expiration_days is not None or r.expiration_date is not None:
            rule.append(("Expiration", [("Days", r.expiration_days), ("Date", _datetime(r.expiration_date))]))
        elif r.expired_object_delete_marker or r.expiration_noop:
            rule.append(("Expiration", [("ExpiredObjectDeleteMarker", r.expired_object_delete_marker)]))
        for t in r.noncurrent_transitions:
            rule.append(
                (
                    "NoncurrentVersionTransition",
                    [("NoncurrentDays", t.days), ("NewerNoncurrentVersions", t.newer), ("StorageClass", t.storage_class)],
                )
            )
        if r.noncurrent_expiration:
            rule.append(
                ("NoncurrentVersionExpiration", [("NoncurrentDays", r.noncurrent_days), ("NewerNoncurrentVersions", r.newer_noncurrent)])
            )
        if r.abort_days is not None:
            rule.append(("AbortIncompleteMultipartUpload", [("DaysAfterInitiation", r.abort_days)]))
        children.append(("Rule", rule))
    return children


def _datetime(t: float | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC)


# -- what the rules do ---------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionFacts:
    """What the rules ask of one version of a key."""

    key: str
    size: int
    tags: tuple[tuple[str, str], ...]
    last_modified: float
    storage_class: str
    is_latest: bool
    delete_marker: bool
    noncurrent_since: float | None  # when it became noncurrent (its successor's last_modified); None if current
    newer_noncurrent: int  # noncurrent versions of its key newer than it (0 if current)
    only_version: bool  # a delete marker with no other version of its key: an expired object delete marker
    # The bucket's versioning is Enabled or Suspended: expiring a current version adds a delete
    # marker, which S3 puts after a transition due the same day, where a deletion comes first.
    versioned: bool = False


@dataclass(frozen=True)
class Action:
    kind: str  # EXPIRE, TRANSITION, DELETE_VERSION or DELETE_MARKER
    rule_id: str
    storage_class: str = ""  # a transition's target


def can_transition(source: str, target: str) -> bool:
    """Whether S3's lifecycle moves a version in class ``source`` to class ``target``."""
    if source in _FIRST_CLASSES:
        return target in TRANSITION_CLASSES
    return target in _NEXT_CLASSES.get(source, ())


def _may_move(config: LifecycleConfig, rule: Rule, size: int, source: str, target: str) -> bool:
    if not can_transition(source, target):
        return False
    if size >= MIN_TRANSITION_SIZE or rule.filter.size_greater is not None or rule.filter.size_less is not None:
        return True  # a size condition in the filter replaces S3's default minimum
    return config.min_object_size == VARIES_BY_CLASS and target in SMALL_OBJECT_CLASSES


def _expires(rule: Rule, created: float, day_seconds: int) -> float | None:
    """When the rule's Expiration Days or Date expires a current version created then."""
    if rule.expiration_days is not None:
        return due_after(created, rule.expiration_days, day_seconds)
    return rule.expiration_date


def _selects(rule: Rule, v: VersionFacts) -> bool:
    if v.delete_marker:
        return not rule.filter.object_conditions and v.key.startswith(rule.filter.prefix)
    return rule.filter.matches(v.key, v.tags, v.size)


def action_for(config: LifecycleConfig, v: VersionFacts, now: float, day_seconds: int) -> Action | None:
    """What the enabled rules ask of version ``v`` at ``now`` (None: nothing yet); see the module's
    docstring for the semantics and the precedence."""
    # Per kind, the candidate due earliest (rules in order break ties); transitions by coldness first.
    removal: tuple[float, str, str] | None = None  # (due, kind, rule id): DELETE_VERSION or DELETE_MARKER
    expiry: tuple[float, str] | None = None
    move: tuple[int, float, str, str] | None = None  # (-coldness, due, rule id, class)

    def consider_move(rule: Rule, due: float, target: str) -> None:
        nonlocal move
        if now >= due and _may_move(config, rule, v.size, v.storage_class, target):
            candidate = (-_COLDNESS[target], due, rule.id, target)
            if move is None or candidate[:2] < move[:2]:
                move = candidate

    for rule in config.rules:
        if not rule.enabled or not _selects(rule, v):
            continue
        if v.is_latest and v.delete_marker:
            if not v.only_version:
                continue
            due = v.last_modified if rule.expired_object_delete_marker else _expires(rule, v.last_modified, day_seconds)
            if due is not None and now >= due and (removal is None or due < removal[0]):
                removal = (due, DELETE_MARKER, rule.id)
        elif v.is_latest:
            due = _expires(rule, v.last_modified, day_seconds)
            if due is not None and now >= due and (expiry is None or due < expiry[0]):
                expiry = (due, rule.id)
            for t in rule.transitions:
                consider_move(rule, t.date if t.date is not None else due_after(v.last_modified, t.days or 0, day_seconds), t.storage_class)
        else:
            since = v.noncurrent_since if v.noncurrent_since is not None else v.last_modified
            if rule.noncurrent_expiration and (rule.newer_noncurrent is None or v.newer_noncurrent >= rule.newer_noncurrent):
                due = due_after(since, rule.noncurrent_days or 0, day_seconds)
                if now >= due and (removal is None or due < removal[0]):
                    removal = (due, DELETE_VERSION, rule.id)
            if not v.delete_marker:
                for t in rule.noncurrent_transitions:
                    if t.newer is None or v.newer_noncurrent >= t.newer:
                        consider_move(rule, due_after(since, t.days, day_seconds), t.storage_class)

    if removal is not None:
        return Action(removal[1], removal[2])
    if expiry is not None and (move is None or not v.versioned):
        return Action(EXPIRE, expiry[1])
    if move is not None:
        return Action(TRANSITION, move[2], move[3])
    return None


def expiration_for(
    config: LifecycleConfig, key: str, tags: Iterable[tuple[str, str]], size: int, last_modified: float, day_seconds: int
) -> tuple[float, str] | None:
    """When the enabled rules will expire this current object, the earliest, and the rule's ID: what
    S3 answers in ``x-amz-expiration``. None if no rule expires it."""
    tags = tuple(tags)
    found: tuple[float, str] | None = None
    for rule in config.rules:
        if not rule.enabled or not rule.filter.matches(key, tags, size):
            continue
        due = _expires(rule, last_modified, day_seconds)
        if due is not None and (found is None or due < found[0]):
            found = (due, rule.id)
    return found


def expiration_header(when: float, rule_id: str) -> str:
    """The ``x-amz-expiration`` header's value, as S3 sends it: the expiry date as an HTTP date and
    the rule's ID URL-encoded."""
    return f'expiry-date="{formatdate(when, usegmt=True)}", rule-id="{urllib.parse.quote(rule_id, safe="")}"'


def abort_due(config: LifecycleConfig, key: str, initiated: float, now: float, day_seconds: int) -> str | None:
    """The ID of the enabled rule whose AbortIncompleteMultipartUpload applies, by ``now``, to an
    upload of ``key`` initiated then (the one due earliest); None if none does yet."""
    found: tuple[float, str] | None = None
    for rule in config.rules:
        if not rule.enabled or rule.abort_days is None or rule.filter.object_conditions or not key.startswith(rule.filter.prefix):
            continue
        due = due_after(initiated, rule.abort_days, day_seconds)
        if now >= due and (found is None or due < found[0]):
            found = (due, rule.id)
    return None if found is None else found[1]
