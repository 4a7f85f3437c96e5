"""Browser-based uploads (PostObject): the form's credentials, the POST policy and its conditions.

Pure logic, no I/O: the handler (``hoard/s3/handlers/post_object.py``) reads the form and calls
these. A POST policy is base64 JSON with an ``expiration`` and a list of ``conditions``; the
form's signature covers that base64 text only (SigV4: HMAC-SHA256 with the credential scope's
signing key, hex; SigV2: HMAC-SHA1 with the secret, base64). Every form field the policy does
not exempt must be named by a condition, so the signer decides every field the uploader sends.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from hoard.crypto import sigv4
from hoard.http.numbers import decimal
from hoard.iam.credentials import Identity, KeyRing
from hoard.s3.auth.sigv4 import parse_credential
from hoard.s3.errors import S3Error

# S3 caps the form that precedes the file: fields, part headers and boundaries.
MAX_PRE_DATA = 20 * 1024

# Fields no condition has to name: the credentials themselves, the policy, the file (AWS docs:
# "except x-amz-signature, file, policy, and field names that have an x-ignore- prefix"; SigV2
# also exempts AWSAccessKeyId and signature).
EXEMPT_FIELDS = frozenset({"policy", "file", "x-amz-signature", "awsaccesskeyid", "signature"})
# x-amz-checksum-* fields are claims about the file that can only make the upload fail, never
# change what is stored; ceph/s3-tests (test_post_object_upload_checksum) sends one that its
# policy does not name and expects success, as MinIO also allows.
EXEMPT_PREFIXES = ("x-ignore-", "x-amz-checksum-")

# Fields that carry the signature: never expanded (${filename}), never object headers.
CREDENTIAL_FIELDS = frozenset(
    {"policy", "awsaccesskeyid", "signature", "x-amz-signature", "x-amz-algorithm", "x-amz-credential", "x-amz-date"}
)

_EXPIRATION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$", re.ASCII)
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$", re.ASCII)


def _invalid(message: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {message}")


def _denied(message: str) -> S3Error:
    return S3Error("AccessDenied", f"Invalid according to Policy: {message}")


def _missing_field(name: str) -> S3Error:
    """S3's answer for a form without a field it needs (before the file: fields after it are ignored)."""
    return S3Error(
        "InvalidArgument",
        f"Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields.",
        ArgumentName=name,
        ArgumentValue="",
    )


class FormFields:
    """The form's fields before the file: names case-insensitive, a repeated field's values joined
    with commas (as S3 documents for policies), the first spelling of each name kept for messages."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        lower = name.lower()
        if lower in self._values:
            self._values[lower] += "," + value
        else:
            self._values[lower] = value
            self._names[lower] = name

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        """Lower-case names, in the order the form sent them."""
        return iter(self._values)

    def items(self) -> list[tuple[str, str]]:
        return list(self._values.items())

    def spelled(self, lower: str) -> str:
        return self._names.get(lower, lower)

    def expand_filename(self, filename: str) -> None:
        """Replace ``${filename}`` in every field but the credentials (S3: "recognized by all form
        fields"; the policy is checked against the expanded values)."""
        for name, value in self._values.items():
            if name not in CREDENTIAL_FIELDS and "${filename}" in value:
                self._values[name] = value.replace("${filename}", filename)


def base_filename(raw: str) -> str:
    """The file name a client sent, without any path: the text after the last slash or backslash."""
    return re.split(r"[/\\]", raw)[-1]


# -- credentials -----------------------------------------------------------------------------


def authenticate_form(fields: FormFields, keyring: KeyRing, region: str, strict_region: bool) -> Identity | None:
    """Who signed this form's policy: SigV4 (x-amz-*), SigV2 (AWSAccessKeyId + signature), or
    nobody (None: no policy and no credentials, an anonymous upload)."""
    policy = fields.get("policy")
    if any(name in fields for name in ("x-amz-algorithm", "x-amz-credential", "x-amz-signature")):
        return _authenticate_v4(fields, policy, keyring, region, strict_region)
    if "awsaccesskeyid" in fields or "signature" in fields:
        return _authenticate_v2(fields, policy, keyring)
    if policy is not None:
        # A policy means a signed upload: S3 names the credential that is missing.
        raise _missing_field("AWSAccessKeyId")
    return None


def _authenticate_v2(fields: FormFields, policy: str | None, keyring: KeyRing) -> Identity:
    access_key = fields.get("awsaccesskeyid")
    if not access_key:
        raise _missing_field("AWSAccessKeyId")
    if policy is None:
        raise _missing_field("policy")
    signature = fields.get("signature")
    if not signature:
        raise _missing_field("signature")
    identity = keyring.get(access_key)
    if identity is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=access_key)
    if not hmac.compare_digest(sign_v2(identity.secret_key, policy).encode(), signature.encode()):
        raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=access_key, StringToSign=policy, SignatureProvided=signature)
    return identity


def _authenticate_v4(fields: FormFields, policy: str | None, keyring: KeyRing, region: str, strict_region: bool) -> Identity:
    algorithm = fields.get("x-amz-algorithm")
    if algorithm is None:
        raise _missing_field("x-amz-algorithm")
    if algorithm != sigv4.ALGORITHM:
        raise S3Error(
            "InvalidArgument",
            "Unsupported algorithm; only AWS4-HMAC-SHA256 is supported.",
            ArgumentName="x-amz-algorithm",
            ArgumentValue=algorithm,
        )
    raw_credential = fields.get("x-amz-credential")
    if raw_credential is None:
        raise _missing_field("x-amz-credential")
    if policy is None:
        raise _missing_field("policy")
    signature = fields.get("x-amz-signature")
    if not signature:
        raise _missing_field("x-amz-signature")
    amz_date = fields.get("x-amz-date")
    if amz_date is None:
        raise _missing_field("x-amz-date")
    if not _AMZ_DATE.match(amz_date):
        raise S3Error(
            "InvalidArgument",
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            ArgumentName="x-amz-date",
            ArgumentValue=amz_date,
        )
    try:
        credential = parse_credential(raw_credential)
    except sigv4.MalformedAuth:
        raise S3Error(
            "InvalidArgument", "Error parsing the X-Amz-Credential parameter", ArgumentName="x-amz-credential", ArgumentValue=raw_credential
        ) from None
    if credential.service != "s3":
        raise S3Error(
            "InvalidArgument",
            f'Error parsing the X-Amz-Credential parameter; incorrect service "{credential.service}". This endpoint belongs to "s3".',
            ArgumentName="x-amz-credential",
            ArgumentValue=raw_credential,
        )
    if strict_region and credential.region != region:
        raise S3Error(
            "InvalidArgument",
            f"Error parsing the X-Amz-Credential parameter; the region '{credential.region}' is wrong; expecting '{region}'",
            ArgumentName="x-amz-credential",
            ArgumentValue=raw_credential,
        )
    identity = keyring.get(credential.access_key)
    if identity is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=credential.access_key)
    key = sigv4.signing_key(identity.secret_key, credential.date, credential.region, credential.service)
    if not sigv4.signatures_equal(sign_v4(key, policy), signature):
        raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=credential.access_key, StringToSign=policy, SignatureProvided=signature)
    return identity


def sign_v2(secret: str, policy: str) -> str:
    """SigV2 form signature: base64(HMAC-SHA1(secret, the policy's base64 text))."""
    return base64.b64encode(hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()).decode()


def sign_v4(signing_key: bytes, policy: str) -> str:
    """SigV4 form signature: hex HMAC-SHA256 of the policy's base64 text with the scope's signing key."""
    return sigv4.sign(signing_key, policy)


# -- the policy document ---------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    operation: str  # "eq" or "starts-with"
    field: str  # lower-case, without the "$"
    value: str
    text: str  # as the policy wrote it, for S3's "Policy Condition failed" message

    def holds(self, actual: str) -> bool:
        if self.operation == "eq":
            return actual == self.value
        return actual.startswith(self.value)


@dataclass(frozen=True)
class PostPolicy:
    expiration: float  # seconds since the epoch
    conditions: tuple[Condition, ...]
    length_range: tuple[int, int] | None  # content-length-range, inclusive

    def named(self, field: str) -> bool:
        return any(c.field == field for c in self.conditions)


def parse_policy(encoded: str) -> PostPolicy:
    """Decode and validate a policy; anything malformed is S3's 400 InvalidPolicyDocument."""
    try:
        document = json.loads(base64.b64decode(encoded.encode("ascii"), validate=True))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    # The element names are case-sensitive ("EXPIRATION" is not "expiration"), as in S3.
    if "expiration" not in document:
        raise _invalid("Policy missing expiration.")
    if "conditions" not in document:
        raise _invalid("Policy missing conditions.")
    expiration = _parse_expiration(document["expiration"])
    raw_conditions = document["conditions"]
    if not isinstance(raw_conditions, list):
        raise _invalid("Invalid 'conditions' value: must be a List.")
    conditions: list[Condition] = []
    length_range: tuple[int, int] | None = None
    for raw in raw_conditions:
        if isinstance(raw, dict):
            conditions.append(_simple_condition(raw))
        elif isinstance(raw, list):
            operation = raw[0].lower() if raw and isinstance(raw[0], str) else None
            if operation == "content-length-range":
                low, high = _length_range(raw)
                # Several ranges must all hold: keep their intersection.
                length_range = (low, high) if length_range is None else (max(low, length_range[0]), min(high, length_range[1]))
            elif operation in ("eq", "starts-with"):
                conditions.append(_list_condition(operation, raw))
            else:
                raise _invalid(f"Invalid Condition: unknown operation {json.dumps(raw[0]) if raw else '(none)'}.")
        else:
            raise _invalid("Invalid Condition: a condition must be an Object or a List.")
    return PostPolicy(expiration, tuple(conditions), length_range)


def _parse_expiration(value: object) -> float:
    match = _EXPIRATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise _invalid(f"Invalid 'expiration' value: '{value}'")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = float(f"0.{match.group(7)}") if match.group(7) else 0.0
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60 and second < 60):
        raise _invalid(f"Invalid 'expiration' value: '{value}'")
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + fraction


def _simple_condition(raw: dict) -> Condition:
    if len(raw) != 1:
        raise _invalid("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
    ((name, value),) = raw.items()
    if not isinstance(value, str):
        raise _invalid(f"Invalid Simple-Condition: the value of '{name}' must be a String.")
    return Condition("eq", name.lower(), value, json.dumps(["eq", "$" + name, value]))


def _list_condition(operation: str, raw: list) -> Condition:
    if len(raw) != 3 or not all(isinstance(item, str) for item in raw):
        raise _invalid(f"Invalid Condition: '{raw[0]}' conditions must have exactly three String elements.")
    _, field, value = raw
    if not field.startswith("$") or len(field) < 2:
        raise _invalid(f"Invalid Condition: the field name '{field}' must start with '$'.")
    return Condition(operation, field[1:].lower(), value, json.dumps(raw))


def _length_range(raw: list) -> tuple[int, int]:
    if len(raw) != 3:
        raise _invalid("Invalid content-length-range condition: must have a minimum and a maximum.")
    bounds = []
    for item in raw[1:]:
        # JSON numbers, or decimal strings; never booleans, fractions or negative sizes.
        if isinstance(item, int) and not isinstance(item, bool):
            number = item
        elif isinstance(item, str) and (parsed := decimal(item)) is not None:
            number = parsed
        else:
            raise _invalid(f"Invalid content-length-range condition: {json.dumps(item)} is not a valid size.")
        if number < 0:
            raise _invalid(f"Invalid content-length-range condition: {number} is negative.")
        bounds.append(number)
    low, high = bounds
    if low > high:
        raise _invalid(f"Invalid content-length-range condition: the minimum {low} is above the maximum {high}.")
    return low, high


def check_policy(policy: PostPolicy, fields: FormFields, bucket: str, now: float) -> None:
    """Expiration, every condition, and no field left unnamed (S3's 403 AccessDenied for each).

    ``bucket`` is the bucket the form is posted to: the ``bucket`` condition holds against it,
    whatever a ``bucket`` field says, so a policy signed for one bucket uploads to no other.
    """
    if now > policy.expiration:
        raise _denied("Policy expired.")
    for condition in policy.conditions:
        actual = bucket if condition.field == "bucket" else (fields.get(condition.field) or "")
        if not condition.holds(actual):
            raise _denied(f"Policy Condition failed: {condition.text}")
    extra = [
        fields.spelled(name)
        for name in fields
        if name not in EXEMPT_FIELDS and not name.startswith(EXEMPT_PREFIXES) and not policy.named(name)
    ]
    if extra:
        raise _denied(f"Extra input fields: {', '.join(extra)}")


def check_length(policy: PostPolicy | None, size: int) -> None:
    """The policy's content-length-range against the file's actual size."""
    if policy is None or policy.length_range is None:
        return
    low, high = policy.length_range
    if size < low:
        raise S3Error("EntityTooSmall", ProposedSize=str(size), MinSizeAllowed=str(low))
    if size > high:
        raise S3Error("EntityTooLarge", ProposedSize=str(size), MaxSizeAllowed=str(high))
