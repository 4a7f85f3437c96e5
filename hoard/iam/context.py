"""What a policy is evaluated against: one request, described as AWS's request context.

The engine reads nothing else: no clock, no socket, no store. Whoever builds the context decides
what the request is (its IAM action, its resource ARN, who sent it) and gives every condition key
the request has a value for; a key left out is absent, exactly as AWS treats a key the request
does not carry (``StringEquals`` on it fails, ``StringNotEquals`` holds, ``...IfExists`` holds,
``Null: true`` holds).

The keys Hoard is expected to fill in, and the form of their values:

- ``aws:CurrentTime`` (ISO 8601, ``2024-05-01T12:00:00Z``) and ``aws:EpochTime`` (seconds):
  ``request_keys`` writes both from one ``datetime``.
- ``aws:SourceIp`` (``203.0.113.7`` or an IPv6 address), ``aws:SecureTransport`` (``true`` /
  ``false``), ``aws:UserAgent``, ``aws:Referer``: ``request_keys`` too.
- ``aws:username``, ``aws:userid``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``,
  ``aws:PrincipalType``: derived from ``principal`` unless given (see ``Principal``).
- ``s3:prefix``, ``s3:delimiter``, ``s3:max-keys`` (listings); ``s3:x-amz-acl`` and the other
  ``s3:x-amz-*`` request headers; ``s3:versionid``; ``s3:signatureversion`` (``AWS`` for
  Signature Version 2, ``AWS4-HMAC-SHA256`` for 4); ``s3:authType`` (``REST-HEADER``,
  ``REST-QUERY-STRING`` or ``POST``); ``s3:ExistingObjectTag/<key>``,
  ``s3:RequestObjectTag/<key>``; and the multi-valued ``s3:RequestObjectTagKeys`` (a list).

Key names are case-insensitive (``aws:sourceip`` is ``aws:SourceIp``); values are not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

ARN_PREFIX = "arn:aws:s3:::"


def resource_arn(bucket: str | None = None, key: str | None = None) -> str:
    """The resource a request acts on: ``arn:aws:s3:::bucket/key`` for an object,
    ``arn:aws:s3:::bucket`` for a bucket, and ``arn:aws:s3:::`` for what names neither (ListBuckets):
    that one is matched by ``*`` and ``arn:aws:s3:::*``, as AWS's ListAllMyBuckets is, and by no
    bucket's ARN."""
    if bucket is None:
        return ARN_PREFIX
    if key is None:
        return ARN_PREFIX + bucket
    return f"{ARN_PREFIX}{bucket}/{key}"


@dataclass(frozen=True)
class Principal:
    """Who sent the request, as AWS names principals.

    ``arn`` is ``arn:aws:iam::<account>:root`` for the account itself (Hoard's root identity) or
    ``arn:aws:iam::<account>:user/<name>`` for a user; ``account`` the 12-digit account id.
    ``username`` is the user's name (``aws:username``; the account root has none), ``userid``
    its unique id (``aws:userid``; for the root, AWS uses the account id), ``canonical_id`` the
    64-hex S3 canonical user id a ``CanonicalUser`` principal names.
    """

    arn: str
    account: str
    username: str | None = None
    userid: str | None = None
    canonical_id: str | None = None

    @property
    def is_account_root(self) -> bool:
        return self.arn == f"arn:aws:iam::{self.account}:root"


@dataclass(frozen=True)
class RequestContext:
    """One request: ``action`` (``s3:GetObject``), ``resource`` (see ``resource_arn``),
    ``principal`` (None for an anonymous request) and the condition ``keys``, each a string or a
    list of strings (a multi-valued key such as ``s3:RequestObjectTagKeys``).

    ``resource_account``, when known, is the account that owns the resource (the bucket's
    owner). It decides what a bucket policy naming a whole account grants: to another account it
    delegates (that account's users may then be allowed by their own policies), but within the
    owner's own account it grants nothing beyond what the users' own policies do, and only the
    root is allowed by it. Left None, an account in Principal matches every principal in it.
    """

    action: str
    resource: str
    principal: Principal | None = None
    keys: Mapping[str, str | Iterable[str]] = field(default_factory=dict)
    resource_account: str | None = None
    _values: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        normalized: dict[str, tuple[str, ...]] = {}
        for name, value in self.keys.items():
            values = (value,) if isinstance(value, str) else tuple(value)
            for item in values:
                if not isinstance(item, str):
                    raise TypeError(f"condition key {name}: values are strings, not {type(item).__name__}")
            lower = name.lower()
            # Two spellings of one key (keys are case-insensitive) are one key with both values.
            normalized[lower] = normalized.get(lower, ()) + values
        for name, values in _principal_keys(self.principal).items():
            normalized.setdefault(name, values)
        object.__setattr__(self, "_values", normalized)

    def values_of(self, key: str) -> tuple[str, ...]:
        """The key's values; empty when the request has none (which AWS treats as absent)."""
        return self._values.get(key.lower(), ())

    def variable(self, key: str) -> str | None:
        """The value a policy variable ``${key}`` takes: only a key with exactly one value can
        be a variable (AWS refuses multi-valued keys there)."""
        values = self.values_of(key)
        return values[0] if len(values) == 1 else None


def _principal_keys(principal: Principal | None) -> dict[str, tuple[str, ...]]:
    if principal is None:
        return {"aws:principaltype": ("Anonymous",)}
    keys = {
        "aws:principalarn": (principal.arn,),
        "aws:principalaccount": (principal.account,),
        "aws:principaltype": ("Account" if principal.is_account_root else "User",),
    }
    if principal.username is not None and not principal.is_account_root:
        keys["aws:username"] = (principal.username,)
    userid = principal.userid if principal.userid is not None else (principal.account if principal.is_account_root else None)
    if userid is not None:
        keys["aws:userid"] = (userid,)
    return keys


def request_keys(
    *,
    now: datetime,
    source_ip: str | None,
    secure_transport: bool,
    user_agent: str | None = None,
    referer: str | None = None,
) -> dict[str, str]:
    """The global keys every request carries, in the forms the operators expect. ``now`` is
    passed in (the engine reads no clock); a naive datetime is taken as UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    keys = {
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:SecureTransport": "true" if secure_transport else "false",
    }
    if source_ip is not None:
        keys["aws:SourceIp"] = source_ip
    if user_agent is not None:
        keys["aws:UserAgent"] = user_agent
    if referer is not None:
        keys["aws:Referer"] = referer
    return keys
