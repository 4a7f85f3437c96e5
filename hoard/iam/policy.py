"""Policy documents, for IAM identities and for buckets: parsed with the rules S3 and IAM apply
when one is stored, and evaluated against a request (``hoard.iam.context.RequestContext``).

Evaluation is AWS's: a statement applies when its Principal (bucket policies), Action, Resource
and every Condition match the request; an applying ``Deny`` in any of the policies decides
``DENY``, otherwise an applying ``Allow`` decides ``ALLOW``, otherwise nothing applied and the
request is denied implicitly (``NOT_APPLICABLE``). How the identity's policies and the bucket's
combine (the same account: either may allow; another account: both must) is the caller's: call
``evaluate`` on each and combine the decisions.

Pure: no I/O, no clock. A parsed ``Policy`` is immutable and can be cached and shared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from hoard.iam.actions import ALL_ACTIONS, BUCKET_ACTIONS, OBJECT_ACTIONS
from hoard.iam.conditions import Condition, parse_conditions
from hoard.iam.context import ARN_PREFIX, Principal, RequestContext
from hoard.iam.errors import PolicyError
from hoard.iam.patterns import ArnPattern, Glob, Pattern, Unresolved, could_match

PolicyKind = Literal["identity", "bucket"]

VERSIONS = ("2012-10-17", "2008-10-17")
BUCKET_POLICY_LIMIT = 20 * 1024  # bytes: "Policies must be less than 20 KB"

_TOP_LEVEL = {"Version", "Id", "Statement"}
_STATEMENT = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_PRINCIPAL_TYPES = {"AWS", "CanonicalUser", "Service", "Federated"}
_ACCOUNT = re.compile(r"\d{12}")
_PRINCIPAL_ARN = re.compile(r"arn:aws:(iam|sts)::(\d{12}):(\S+)")
_CANONICAL = re.compile(r"[0-9a-fA-F]{64}")
_ACTION = re.compile(r"([A-Za-z0-9-]+):(\S+)")
_SIBLING_SERVICES = {"s3-object-lambda", "s3express"}
# Hoard's own admin API (``admin:*``, ``admin:ListUsers``...), which identity policies may grant.
_HOARD_SERVICES = {"admin"}
_SID = re.compile(r"[A-Za-z0-9]*")
_VARIABLE = re.compile(r"\$\{[^}]*\}")

# Lower-cased action -> "object" / "bucket" / "other": what its Resource must name.
_KNOWN_ACTIONS = {a.lower(): "object" if a in OBJECT_ACTIONS else "bucket" if a in BUCKET_ACTIONS else "other" for a in ALL_ACTIONS}


class Decision(Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    NOT_APPLICABLE = "NotApplicable"  # no statement applied: the implicit deny


@dataclass(frozen=True)
class Principals:
    """A Principal or NotPrincipal element. ``aws`` holds user and role ARNs as written and
    accounts as ``arn:aws:iam::<account>:root`` (``"123456789012"`` is written that way too)."""

    anyone: bool = False
    aws: frozenset[str] = frozenset()
    canonical_users: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()

    def covers(self, principal: Principal | None, *, delegate: bool = True, resource_account: str | None = None) -> bool:
        """Whether the element names this principal. An account names every principal in it,
        except, with ``delegate`` False, inside the resource's own account: there an Allow to the
        account grants only its root (its users need their own policies, as on AWS). Service and
        federated principals never send Hoard requests, so they name no one here."""
        if self.anyone:
            return True
        if principal is None:
            return False
        if principal.arn in self.aws:
            return True
        if principal.canonical_id is not None and principal.canonical_id.lower() in self.canonical_users:
            return True
        if f"arn:aws:iam::{principal.account}:root" in self.aws:
            return delegate or resource_account is None or resource_account != principal.account
        return False


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: str  # "Allow" or "Deny"
    principals: Principals | None  # None in identity policies
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[ArnPattern, ...]
    not_resource: bool
    conditions: tuple[Condition, ...]
    _action_globs: tuple[Glob, ...] = field(repr=False, compare=False, default=())
    _variable_patterns: tuple[Pattern | ArnPattern, ...] = field(repr=False, compare=False, default=())

    def applies(self, ctx: RequestContext) -> bool:
        """Whether the statement's Effect applies to the request."""
        action = ctx.action.lower()
        if any(glob.match(action) for glob in self._action_globs) == self.not_action:
            return False
        if self.principals is not None:
            if self.not_principal:
                if self.principals.covers(ctx.principal):
                    return False
            elif not self.principals.covers(ctx.principal, delegate=self.effect == "Deny", resource_account=ctx.resource_account):
                return False
        lookup = ctx.variable
        # A variable the request cannot fill makes the whole statement not apply (AWS: "causes
        # the statement to be invalid"), whichever of its elements uses it, for Deny as for Allow.
        if not all(p.resolvable(lookup) for p in self._variable_patterns):
            return False
        try:
            if any(r.match(ctx.resource, lookup) for r in self.resources) == self.not_resource:
                return False
            return all(c.holds(ctx.values_of(c.key), lookup) for c in self.conditions)
        except Unresolved:
            return False


@dataclass(frozen=True)
class Policy:
    kind: PolicyKind
    version: str  # "2008-10-17" when the document has none (and variables are then plain text)
    id: str | None
    statements: tuple[Statement, ...]


def evaluate(policies: Iterable[Policy], ctx: RequestContext) -> Decision:
    """AWS's order: an explicit Deny in any policy wins, then an Allow, then the implicit deny."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if statement.applies(ctx):
                if statement.effect == "Deny":
                    return Decision.DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.NOT_APPLICABLE


def combine(identity: Decision, resource: Decision, *, same_account: bool) -> Decision:
    """One decision from the identity's policies and the resource's (the bucket policy), as AWS
    combines them: a Deny in either wins; within one account an Allow in either suffices; across
    accounts both must allow (the bucket policy lets the other account in, the other account's
    own policy lets its user use that)."""
    if Decision.DENY in (identity, resource):
        return Decision.DENY
    if same_account:
        allowed = Decision.ALLOW in (identity, resource)
    else:
        allowed = identity is Decision.ALLOW and resource is Decision.ALLOW
    return Decision.ALLOW if allowed else Decision.NOT_APPLICABLE


# -- parsing -----------------------------------------------------------------------------------------


def parse_policy(text: str | bytes, *, kind: PolicyKind, bucket: str | None = None) -> Policy:
    """Parse and check a policy document, raising ``PolicyError`` for anything S3 (a bucket
    policy, ``kind="bucket"``, for ``bucket``) or IAM (``kind="identity"``) would refuse."""
    if kind not in ("identity", "bucket"):
        raise ValueError(f"kind is 'identity' or 'bucket', not {kind!r}")
    if kind == "bucket" and not bucket:
        raise ValueError("a bucket policy is parsed for its bucket")
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if kind == "bucket" and len(raw) > BUCKET_POLICY_LIMIT:
        raise PolicyError("Policies must be less than 20 KB")
    document = _load(raw)
    unknown = set(document) - _TOP_LEVEL
    if unknown:
        raise PolicyError(f"Policy has an unknown field: {sorted(unknown)[0]}")
    version = document.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError(f"The policy must contain a valid version string: {version!r} is neither {' nor '.join(VERSIONS)}")
    policy_id = document.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyError("Id must be a string")
    if "Statement" not in document:
        raise PolicyError("Missing required field Statement")
    statements = document["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyError("Statement must be an object or a list of objects")
    if not statements:
        raise PolicyError("Could not parse the policy: Statement is empty!")
    parsed = tuple(_statement(s, kind=kind, bucket=bucket, variables=version == "2012-10-17") for s in statements)
    sids = [s.sid for s in parsed if s.sid]
    if len(sids) != len(set(sids)):
        raise PolicyError("Statement IDs (SID) in a single policy must be unique.")
    return Policy(kind, version, policy_id, parsed)


def _load(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("This policy contains invalid Json") from None
    if not text.lstrip().startswith("{"):
        raise PolicyError("Policies must be valid JSON and the first byte must be '{'")
    try:
        # Decimals keep a numeric condition value exact; a key written twice is refused (Python
        # would keep the last one silently, and a forgotten Condition widens an Allow).
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as exc:  # json.JSONDecodeError is one
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError("This policy contains invalid Json") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise PolicyError(f"Policy has a duplicate field: {key}")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise PolicyError("This policy contains invalid Json")


def _statement(raw: Any, *, kind: PolicyKind, bucket: str | None, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError("Each Statement must be an object")
    unknown = set(raw) - _STATEMENT
    if unknown:
        raise PolicyError(f"Policy has an unknown field: {sorted(unknown)[0]}")
    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise PolicyError("Sid must be a string")
        if kind == "identity" and not _SID.fullmatch(sid):
            raise PolicyError("Statement IDs (SID) must be alpha-numeric.")
    effect = raw.get("Effect")
    if effect is None:
        raise PolicyError("Missing required field Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"Invalid effect: {effect}")

    principals, not_principal = _principal_element(raw, kind)
    actions, not_action = _either(raw, "Action", "NotAction")
    resources, not_resource = _either(raw, "Resource", "NotResource")
    action_texts = _strings(actions, "Policy has invalid action")
    resource_texts = _strings(resources, "Policy has invalid resource")
    globs = tuple(_action(a, kind) for a in action_texts)
    arns = tuple(ArnPattern(r, variables=variables) for r in resource_texts)
    if kind == "bucket":
        assert bucket is not None  # parse_policy checked
        kinds = set().union(*(_bucket_resource_kinds(r, bucket) for r in resource_texts))
        if not not_action and not not_resource:
            _check_actions_reach_resources(action_texts, kinds)
    else:
        for resource in resource_texts:
            if resource != "*" and not (resource.startswith("arn:") and len(resource.split(":", 5)) == 6):
                raise PolicyError("Policy has invalid resource")
    conditions = parse_conditions(raw["Condition"], variables=variables) if "Condition" in raw else ()
    with_variables: list[Pattern | ArnPattern] = [r for r in arns if r.pattern.has_variables]
    for condition in conditions:
        with_variables.extend(v for v in condition.values if _has_variables(v))
    return Statement(
        sid,
        effect,
        principals,
        not_principal,
        tuple(action_texts),
        not_action,
        arns,
        not_resource,
        conditions,
        globs,
        tuple(with_variables),
    )


def _has_variables(value: Any) -> bool:
    if isinstance(value, ArnPattern):
        return value.pattern.has_variables
    return isinstance(value, Pattern) and value.has_variables


def _either(raw: dict[str, Any], name: str, negated: str) -> tuple[Any, bool]:
    if name in raw and negated in raw:
        raise PolicyError(f"A statement can not have both {name} and {negated}")
    if name in raw:
        return raw[name], False
    if negated in raw:
        return raw[negated], True
    raise PolicyError(f"Missing required field {name}")


def _strings(value: Any, error: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise PolicyError(error)
    return items


def _action(text: str, kind: PolicyKind) -> Glob:
    if text == "*":
        return Glob.of("*")
    found = _ACTION.fullmatch(text)
    if found is None:
        raise PolicyError("Policy has invalid action")
    lowered = text.lower()
    glob = Glob.of(lowered)
    service = found.group(1).lower()
    if kind == "identity" and service in _HOARD_SERVICES:
        return glob
    if kind == "identity" and service in _SIBLING_SERVICES:
        # AWS's managed S3 policies (AmazonS3FullAccess, ...) name these too; Hoard has none of
        # their operations, so they parse and never match.
        return glob
    if service != "s3":
        raise PolicyError("Policy has invalid action")
    if "*" in text or "?" in text:
        # A wildcard reaching no S3 action at all is a typo that would grant or deny nothing.
        if not any(glob.match(known) for known in _KNOWN_ACTIONS):
            raise PolicyError("Policy has invalid action")
    elif lowered not in _KNOWN_ACTIONS:
        raise PolicyError("Policy has invalid action")
    return glob


def _bucket_resource_kinds(resource: str, bucket: str) -> set[str]:
    """What a bucket policy's resource can name in its bucket: the bucket, its objects, or both
    (``arn:aws:s3:::buck*``); a resource naming neither, or another service, is refused."""
    if not resource.startswith(ARN_PREFIX):
        raise PolicyError("Policy has invalid resource")
    # A variable can stand for anything until a request fills it in.
    rest = _VARIABLE.sub("*", resource[len(ARN_PREFIX) :])
    kinds = set()
    if could_match(rest, bucket, more=False):
        kinds.add("bucket")
    if could_match(rest, bucket + "/", more=True):
        kinds.add("object")
    if not kinds:
        raise PolicyError("Policy has invalid resource")
    return kinds


def _check_actions_reach_resources(actions: list[str], kinds: set[str]) -> None:
    for action in actions:
        glob = Glob.of(action.lower())
        reached = {kind for known, kind in _KNOWN_ACTIONS.items() if glob.match(known)}
        if not reached & kinds:
            raise PolicyError("Action does not apply to any resource(s) in statement")


def _principal_element(raw: dict[str, Any], kind: PolicyKind) -> tuple[Principals | None, bool]:
    if kind == "identity":
        if "Principal" in raw or "NotPrincipal" in raw:
            raise PolicyError("Policy document should not specify a principal.")
        return None, False
    value, negated = _either(raw, "Principal", "NotPrincipal")
    return _principals(value), negated


def _principals(value: Any) -> Principals:
    if value == "*":
        return Principals(anyone=True)
    if not isinstance(value, dict) or not value:
        raise PolicyError("Invalid principal in policy")
    found: dict[str, set[str]] = {name: set() for name in _PRINCIPAL_TYPES}
    anyone = False
    for name, entries in value.items():
        if name not in _PRINCIPAL_TYPES:
            raise PolicyError("Invalid principal in policy")
        for entry in _strings(entries, "Invalid principal in policy"):
            if name == "AWS":
                if entry == "*":
                    anyone = True
                elif _ACCOUNT.fullmatch(entry):
                    found["AWS"].add(f"arn:aws:iam::{entry}:root")
                elif _PRINCIPAL_ARN.fullmatch(entry) and "*" not in entry and "?" not in entry:
                    found["AWS"].add(entry)
                else:
                    raise PolicyError("Invalid principal in policy")
            elif name == "CanonicalUser":
                if not _CANONICAL.fullmatch(entry):
                    raise PolicyError("Invalid principal in policy")
                found[name].add(entry.lower())
            else:
                if "*" in entry:
                    raise PolicyError("Invalid principal in policy")
                found[name].add(entry)
    return Principals(
        anyone=anyone,
        aws=frozenset(found["AWS"]),
        canonical_users=frozenset(found["CanonicalUser"]),
        services=frozenset(found["Service"]),
        federated=frozenset(found["Federated"]),
    )
