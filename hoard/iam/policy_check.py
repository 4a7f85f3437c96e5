"""Checks an identity policy document before it is stored (``hoard admin policy create``)."""

from __future__ import annotations

from hoard.iam.policy import parse_policy


def check_identity_policy(document: str) -> None:
    """Raise ``PolicyError`` (a ValueError; its message for the user, in IAM's words where IAM
    has some) if ``document`` is not an IAM identity policy Hoard would evaluate."""
    parse_policy(document, kind="identity")
