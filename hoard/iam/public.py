"""Whether a bucket policy is "public", by S3's definition (the S3 User Guide, "The meaning of
'public'"): what BlockPublicPolicy refuses to store, RestrictPublicBuckets restricts and
GetBucketPolicyStatus reports.

S3 starts from "public" and looks for a reason to think otherwise: every Allow statement must
grant only to fixed principals (an account, a user ARN, a canonical user, a service), or be
limited by a condition pinning one of a few keys to fixed values (no wildcard, no variable):
``aws:SourceIp`` to ranges no wider than /8 (IPv4) or /32 (IPv6), ``aws:SourceArn``,
``aws:SourceVpc``, ``aws:SourceVpce``, ``aws:SourceOwner``, ``aws:SourceAccount``,
``aws:PrincipalOrgID``, ``aws:userid`` (where ``ROLEID:*`` counts as fixed), the KMS key id of
server-side encryption, and the access point keys. Deny statements never make a policy public.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hoard.iam.conditions import Condition, Family, Qualifier, fixed_values, narrow_network
from hoard.iam.patterns import ArnPattern, Pattern
from hoard.iam.policy import Policy, Statement

# Keys whose fixed values restrict a statement to a known set of callers. aws:PrincipalArn and
# aws:PrincipalAccount are not on S3's list, but pin the principal as surely as a Principal
# element does (IAM Access Analyzer treats them so), so they count here too.
_RESTRICTING_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceOwner",
        "aws:SourceAccount",
        "aws:PrincipalOrgID",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "s3:DataAccessPointAccount",
    )
)
_ROLE_SESSIONS = re.compile(r"[A-Za-z0-9]+:\*")
_ACCESS_POINTS = re.compile(r"arn:aws:s3:[a-z0-9-]+:\d{12}:accesspoint/.*")


def is_public(policy: Policy) -> bool:
    """Whether the bucket policy grants access to the public (an identity policy never does)."""
    if policy.kind != "bucket":
        return False
    return any(_public_statement(s) for s in policy.statements if s.effect == "Allow")


def _public_statement(statement: Statement) -> bool:
    principals = statement.principals
    if principals is None:
        return False
    # NotPrincipal grants to everyone it does not name; a web identity provider's users are
    # anyone who signs in there.
    open_to_anyone = statement.not_principal or principals.anyone or bool(principals.federated)
    if not open_to_anyone:
        return False
    return not any(_restricts(condition) for condition in statement.conditions)


def _restricts(condition: Condition) -> bool:
    key = condition.key
    if key == "aws:sourceip":
        if condition.family is not Family.IP:
            return False
        ranges = fixed_values(condition)
        return ranges is not None and all(narrow_network(r) for r in ranges)
    if key == "aws:userid":
        return _pinned(condition, lambda text: _ROLE_SESSIONS.fullmatch(text) is not None)
    if key == "s3:dataaccesspointarn":
        return _pinned(condition, lambda text: _ACCESS_POINTS.fullmatch(text) is not None and "*" not in text.split("/", 1)[0])
    if key in _RESTRICTING_KEYS:
        return condition.family is not Family.IP and fixed_values(condition) is not None
    return False


def _pinned(condition: Condition, wildcard_allowed: Callable[[str], bool]) -> bool:
    """Fixed values, or wildcards only where the key's rule allows them."""
    if condition.family not in (Family.STRING, Family.ARN):
        return False
    if fixed_values(condition) is not None:
        return True
    if condition.negated or condition.if_exists or condition.qualifier is Qualifier.ALL:
        return False
    patterns = [v.pattern if isinstance(v, ArnPattern) else v for v in condition.values]
    return all(isinstance(p, Pattern) and not p.has_variables and wildcard_allowed(p.text) for p in patterns)
