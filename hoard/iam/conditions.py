"""A statement's Condition block: its operators, checked when the policy is parsed, and whether
it holds for a request.

The rules, from AWS's IAM reference (Condition operators; Conditions with multiple keys or
values; Single-valued vs. multivalued context keys):

- Every operator of the block, and every key under an operator, must hold (AND).
- Several values for one key: any one may match (OR); for a negated operator
  (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``, ...) none may (NOR).
- A key the request does not have: the condition is false, except for the negated operators,
  where it is true; ``...IfExists`` makes it true for every operator; ``Null`` tests exactly that
  (``"true"``: the key is absent).
- ``ForAllValues:`` holds when every one of the request's values matches (and when there are
  none); ``ForAnyValue:`` when at least one does (never when there are none). With a negated
  operator each request value must itself match none of the policy's values.
- Variables (``${aws:username}``) are replaced in the String, Arn and Bool operators' values
  only; the Numeric, Date, IpAddress, Binary and Null operators take their values as written.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from hoard.iam.errors import PolicyError
from hoard.iam.patterns import ArnPattern, Lookup, Pattern


class Family(Enum):
    STRING = "String"
    NUMERIC = "Numeric"
    DATE = "Date"
    BOOL = "Bool"
    BINARY = "Binary"
    IP = "IpAddress"
    ARN = "Arn"
    NULL = "Null"


class Qualifier(Enum):
    NONE = ""
    ANY = "ForAnyValue"
    ALL = "ForAllValues"


# Operator name (lower case) -> family, comparison, negated, ignore case. The comparison names the
# positive test; a negated operator is the same test, inverted.
_OPERATORS: dict[str, tuple[Family, str, bool, bool]] = {
    "stringequals": (Family.STRING, "eq", False, False),
    "stringnotequals": (Family.STRING, "eq", True, False),
    "stringequalsignorecase": (Family.STRING, "eq", False, True),
    "stringnotequalsignorecase": (Family.STRING, "eq", True, True),
    "stringlike": (Family.STRING, "like", False, False),
    "stringnotlike": (Family.STRING, "like", True, False),
    "bool": (Family.BOOL, "eq", False, False),
    "binaryequals": (Family.BINARY, "eq", False, False),
    "ipaddress": (Family.IP, "in", False, False),
    "notipaddress": (Family.IP, "in", True, False),
    "arnequals": (Family.ARN, "like", False, False),
    "arnlike": (Family.ARN, "like", False, False),
    "arnnotequals": (Family.ARN, "like", True, False),
    "arnnotlike": (Family.ARN, "like", True, False),
    "null": (Family.NULL, "null", False, False),
}
for _family in (Family.NUMERIC, Family.DATE):
    _prefix = _family.value.lower()
    _OPERATORS[_prefix + "equals"] = (_family, "eq", False, False)
    _OPERATORS[_prefix + "notequals"] = (_family, "eq", True, False)
    for _name, _comparison in (("lessthan", "lt"), ("lessthanequals", "le"), ("greaterthan", "gt"), ("greaterthanequals", "ge")):
        _OPERATORS[_prefix + _name] = (_family, _comparison, False, False)

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*:\S.*", re.DOTALL)
_EPOCH = re.compile(r"\d+(\.\d+)?")
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


@dataclass(frozen=True)
class Condition:
    """One key under one operator, with the policy's values already parsed for their family."""

    operator: str  # as written, for messages
    key: str  # lower case
    family: Family
    comparison: str
    negated: bool
    ignore_case: bool
    if_exists: bool
    qualifier: Qualifier
    values: tuple[Any, ...]  # Pattern, ArnPattern, Decimal, datetime, bytes, ip network or bool

    def holds(self, request_values: tuple[str, ...], lookup: Lookup) -> bool:
        """Whether the condition holds for the request's values of its key (empty: absent).
        Raises ``Unresolved`` when a value needs a variable the request does not have."""
        if self.family is Family.NULL:
            absent = not request_values
            return any(absent == wanted for wanted in self.values)
        if not request_values:
            if self.if_exists or self.qualifier is Qualifier.ALL:
                return True
            if self.qualifier is Qualifier.ANY:
                return False
            return self.negated
        if self.qualifier is Qualifier.NONE:
            positive = any(self._matches(value, lookup) for value in request_values)
            return positive != self.negated
        each = (self._matches(value, lookup) != self.negated for value in request_values)
        return all(each) if self.qualifier is Qualifier.ALL else any(each)

    def _matches(self, value: str, lookup: Lookup) -> bool:
        """The positive test: does one request value match any of the policy's values?"""
        return _MATCHERS[self.family](self, value, lookup)


def _match_string(condition: Condition, value: str, lookup: Lookup) -> bool:
    if condition.comparison == "like":
        return any(p.glob(lookup).match(value) for p in condition.values)
    if condition.ignore_case:
        folded = value.casefold()
        return any(p.literal(lookup).casefold() == folded for p in condition.values)
    return any(p.literal(lookup) == value for p in condition.values)


def _match_numeric(condition: Condition, value: str, lookup: Lookup) -> bool:
    number = _number(value)
    return number is not None and any(_compare(condition.comparison, number, p) for p in condition.values)


def _match_date(condition: Condition, value: str, lookup: Lookup) -> bool:
    when = parse_date(value)
    return when is not None and any(_compare(condition.comparison, when, p) for p in condition.values)


def _match_bool(condition: Condition, value: str, lookup: Lookup) -> bool:
    return any(p.literal(lookup).lower() == value.lower() for p in condition.values)


def _match_binary(condition: Condition, value: str, lookup: Lookup) -> bool:
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        data = value.encode()
    return any(data == p for p in condition.values)


def _match_ip(condition: Condition, value: str, lookup: Lookup) -> bool:
    address = _address(value)
    return address is not None and any(address in network for network in condition.values)


def _match_arn(condition: Condition, value: str, lookup: Lookup) -> bool:
    return any(p.match(value, lookup) for p in condition.values)


_MATCHERS: dict[Family, Callable[[Condition, str, Lookup], bool]] = {
    Family.STRING: _match_string,
    Family.NUMERIC: _match_numeric,
    Family.DATE: _match_date,
    Family.BOOL: _match_bool,
    Family.BINARY: _match_binary,
    Family.IP: _match_ip,
    Family.ARN: _match_arn,
}


def _compare(comparison: str, left: Any, right: Any) -> bool:
    if comparison == "eq":
        return left == right
    if comparison == "lt":
        return left < right
    if comparison == "le":
        return left <= right
    if comparison == "gt":
        return left > right
    return left >= right


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; policies name them as IPv4.
        return address.ipv4_mapped
    return address


def parse_date(text: str) -> datetime | None:
    """A date as AWS takes it: epoch seconds, or one of the W3C profiles of ISO 8601
    (``2024-05``, ``2024-05-01``, ``2024-05-01T12:00Z``, ``2024-05-01T12:00:00.5+02:00``).
    A time without a zone is UTC. A string of digits is epoch seconds, never a year."""
    text = text.strip()
    try:
        if _EPOCH.fullmatch(text):
            return datetime.fromtimestamp(float(text), tz=UTC)
        year_month = _YEAR_MONTH.fullmatch(text)
        if year_month:
            return datetime(int(year_month.group(1)), int(year_month.group(2)), 1, tzinfo=UTC)
        when = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


# -- parsing ---------------------------------------------------------------------------------------


def parse_conditions(block: Any, *, variables: bool) -> tuple[Condition, ...]:
    """The Condition element of one statement: ``{operator: {key: value or [values]}}``.
    ``variables``: whether the policy's Version replaces ``${...}`` (2012-10-17)."""
    if not isinstance(block, Mapping):
        raise PolicyError("Condition must be an object")
    conditions: list[Condition] = []
    for operator, keys in block.items():
        family, comparison, negated, ignore_case, if_exists, qualifier = _operator(operator)
        if not isinstance(keys, Mapping):
            raise PolicyError(f"Condition operator {operator} must map condition keys to values")
        for key, raw in keys.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise PolicyError(f"Policy has an invalid condition key: {key}")
            texts = _texts(operator, key, raw)
            values = tuple(_value(family, operator, key, text, variables) for text in texts)
            conditions.append(Condition(operator, key.lower(), family, comparison, negated, ignore_case, if_exists, qualifier, values))
    return tuple(conditions)


def _operator(name: Any) -> tuple[Family, str, bool, bool, bool, Qualifier]:
    if not isinstance(name, str):
        raise PolicyError("Condition operators are strings")
    rest = name
    qualifier = Qualifier.NONE
    for candidate in (Qualifier.ANY, Qualifier.ALL):
        if rest.lower().startswith(candidate.value.lower() + ":"):
            qualifier = candidate
            rest = rest[len(candidate.value) + 1 :]
            break
    if_exists = rest.lower().endswith("ifexists")
    if if_exists:
        rest = rest[: -len("ifexists")]
    known = _OPERATORS.get(rest.lower())
    if known is None:
        raise PolicyError(f"Invalid Condition type : {name}")
    family, comparison, negated, ignore_case = known
    if family is Family.NULL and (if_exists or qualifier is not Qualifier.NONE):
        raise PolicyError(f"Invalid Condition type : {name}")
    return family, comparison, negated, ignore_case, if_exists, qualifier


def _texts(operator: str, key: str, raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise PolicyError(f"Condition {operator} has no value for {key}")
    texts = []
    for item in items:
        if isinstance(item, bool):
            texts.append("true" if item else "false")
        elif isinstance(item, str):
            texts.append(item)
        elif isinstance(item, int | Decimal):
            texts.append(str(item))
        else:
            raise PolicyError(f"Condition {operator} has an invalid value for {key}: values are strings, numbers or booleans")
    return texts


def _value(family: Family, operator: str, key: str, text: str, variables: bool) -> Any:
    def invalid(what: str) -> PolicyError:
        return PolicyError(f"Invalid {what} in condition {operator} for {key}: {text!r}")

    if family is Family.STRING:
        return Pattern(text, variables=variables)
    if family is Family.ARN:
        return ArnPattern(text, variables=variables)
    if family is Family.BOOL:
        pattern = Pattern(text, variables=variables)
        if not pattern.has_variables and text.lower() not in ("true", "false"):
            raise invalid("boolean")
        return pattern
    if family is Family.NULL:
        if text.lower() not in ("true", "false"):
            raise invalid("Null value (true or false)")
        return text.lower() == "true"
    if family is Family.NUMERIC:
        number = _number(text)
        if number is None:
            raise invalid("number")
        return number
    if family is Family.DATE:
        when = parse_date(text)
        if when is None:
            raise invalid("date")
        return when
    if family is Family.IP:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise invalid("IP address or CIDR block") from None
        return network
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("base-64 value") from None


# -- what a condition restricts (for "public") ----------------------------------------------------


def fixed_values(condition: Condition) -> Iterable[str] | None:
    """The values a condition pins its key to, when it can only hold for those (a positive
    operator that must find the key: no IfExists, no ForAllValues, no wildcard, no variable);
    None when it can hold for a request carrying any value at all, or none."""
    if condition.negated or condition.if_exists or condition.qualifier is Qualifier.ALL:
        return None
    if condition.family is Family.IP:
        return [str(network) for network in condition.values]
    if condition.family not in (Family.STRING, Family.ARN):
        return None
    patterns = [p.pattern if isinstance(p, ArnPattern) else p for p in condition.values]
    if condition.family is Family.STRING and condition.comparison == "eq":
        if any(p.has_variables for p in patterns):
            return None
        return [p.literal(lambda key: None) for p in patterns]
    if any(p.has_variables or p.has_wildcards for p in patterns):
        # Wildcards are not fixed; callers with a rule of their own (aws:userid's "ROLEID:*")
        # look at the raw text.
        return None
    return [p.literal(lambda key: None) for p in patterns]


def narrow_network(text: str) -> bool:
    """An aws:SourceIp range S3 does not call public: an IPv4 block of /8 or narrower, an IPv6
    block of /32 or narrower, or one inside the private RFC 1918 ranges."""
    network = ipaddress.ip_network(text, strict=False)
    if isinstance(network, ipaddress.IPv4Network):
        return network.prefixlen >= 8 or any(network.subnet_of(private) for private in _RFC1918)
    return network.prefixlen >= 32
