"""The authorization step every request passes after authentication and before its handler.

One function decides, for every S3 operation (and for the second resource some of them touch,
such as a copy's source): ``Authorizer.authorize(AccessRequest)``. Today's rule is the whole
policy: the root identity may do anything, an anonymous request nothing. Bucket policies, IAM
users and policies, ACLs and public-access blocks are decided here too, once they exist,
without any handler changing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hoard.iam.actions import action_for
from hoard.iam.credentials import Identity
from hoard.iam.errors import AccessDenied


@dataclass(frozen=True)
class AccessRequest:
    """Who asks to do what to which resource."""

    requester: Identity | None  # None: an anonymous request
    action: str  # the IAM action, e.g. "s3:GetObject" (see hoard.iam.actions)
    bucket: str | None = None
    key: str | None = None

    @classmethod
    def for_operation(cls, requester: Identity | None, operation: str, bucket: str | None, key: str | None) -> AccessRequest:
        return cls(requester, action_for(operation), bucket, key)


class Authorizer:
    def authorize(self, request: AccessRequest) -> None:
        """Return if the request is allowed; raise AccessDenied otherwise."""
        if request.requester is None:
            raise AccessDenied("Anonymous access is not allowed: no bucket can be made public yet.")
        if not request.requester.is_root:
            raise AccessDenied(f"{request.requester.display_name} may not {request.action}.")


def administers(identity: Identity) -> bool:
    """Whether an identity's policies allow it the admin API (``admin:*``), and none denies it."""
    allowed = False
    for document in identity.policies:
        try:
            statements = json.loads(document).get("Statement", [])
        except (ValueError, AttributeError):
            continue
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if any(a in ("*", "admin:*") for a in actions):
                if statement.get("Effect") == "Deny":
                    return False
                allowed = allowed or statement.get("Effect") == "Allow"
    return allowed
