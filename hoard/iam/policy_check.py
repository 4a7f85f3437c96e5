"""Checks an identity policy document before it is stored (``hoard admin policy create``)."""

from __future__ import annotations

import json


def check_identity_policy(document: str) -> None:
    """Raise ValueError (its message for the user) if ``document`` is not an IAM identity policy."""
    try:
        policy = json.loads(document)
    except ValueError as e:
        raise ValueError(f"The policy is not JSON: {e}") from None
    if not isinstance(policy, dict):
        raise ValueError("The policy must be a JSON object.")
    if policy.get("Version") not in ("2012-10-17", "2008-10-17"):
        raise ValueError("The policy's Version must be 2012-10-17 (or 2008-10-17).")
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise ValueError("The policy needs a Statement.")
    for statement in statements:
        if not isinstance(statement, dict):
            raise ValueError("Each Statement must be a JSON object.")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise ValueError("Each Statement's Effect must be Allow or Deny.")
        if "Principal" in statement or "NotPrincipal" in statement:
            raise ValueError("An identity policy names no Principal: it applies to whoever it is attached to.")
        if ("Action" in statement) == ("NotAction" in statement):
            raise ValueError("Each Statement needs Action or NotAction.")
        if ("Resource" in statement) == ("NotResource" in statement):
            raise ValueError("Each Statement needs Resource or NotResource.")
