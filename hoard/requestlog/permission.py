"""Whether a target bucket lets S3's log delivery write a source bucket's logs into it, as AWS
asks: its bucket policy allows the service principal ``logging.s3.amazonaws.com`` s3:PutObject
on the key (with ``aws:SourceArn`` the source bucket's ARN and ``aws:SourceAccount`` its owner's
account), or, where ACLs are on, its ACL grants the LogDelivery group WRITE. A Deny naming the
service (or everyone) wins. Pure: the buckets' configurations are handed in.

Hoard's policy engine names no service principal for requests (services send it none), so the
statements naming the logging service are evaluated here with the engine's own matching.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hoard.iam import acl
from hoard.iam.authorize import ACLS_DISABLED, BUCKET_ACL_CONFIG, BUCKET_POLICY_CONFIG, OWNERSHIP_CONFIG, bucket_policy
from hoard.iam.context import RequestContext, resource_arn
from hoard.iam.policy import Principals

LOGGING_SERVICE = "logging.s3.amazonaws.com"
_ANYONE = Principals(anyone=True)


def delivery_allowed(
    target: str, target_config: dict[str, Any], key: str, source: str, source_accounts: tuple[str, ...], now_keys: dict[str, str] | None = None
) -> bool:
    """Whether log delivery may put ``key`` into bucket ``target`` for bucket ``source``.

    ``source_accounts``: the source owner's ids as a policy may name them in aws:SourceAccount
    (the 12-digit account id, and the canonical id S3 shows as owner)."""
    keys: dict[str, Any] = {"aws:SourceArn": resource_arn(source), "aws:SourceAccount": list(source_accounts), **(now_keys or {})}
    ctx = RequestContext("s3:PutObject", resource_arn(target, key), None, keys)
    text = target_config.get(BUCKET_POLICY_CONFIG)
    policy = bucket_policy(text, target) if text else None
    allowed = False
    if policy is not None:
        for statement in policy.statements:
            principals = statement.principals
            if principals is None or statement.not_principal:
                continue
            names_service = LOGGING_SERVICE in principals.services
            if statement.effect == "Deny" and (names_service or principals.anyone):
                if dataclasses.replace(statement, principals=_ANYONE).applies(ctx):
                    return False
            elif statement.effect == "Allow" and names_service:
                allowed = allowed or dataclasses.replace(statement, principals=_ANYONE).applies(ctx)
    if allowed:
        return True
    if target_config.get(OWNERSHIP_CONFIG) == ACLS_DISABLED:
        return False
    grants = tuple(tuple(g) for g in target_config.get(BUCKET_ACL_CONFIG) or ())
    return any(kind == acl.GROUP and who == acl.LOG_DELIVERY and perm in ("WRITE", "FULL_CONTROL") for kind, who, perm in grants)
