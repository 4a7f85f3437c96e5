"""``--public``: the bucket policy statement that lets anyone read an index's objects, merged into
the bucket's policy (pure: JSON in, JSON out; pypi.py reads and writes the policy).

The statement allows ``s3:GetObject`` on ``arn:aws:s3:::BUCKET/PREFIX/*`` to every principal, and
nothing else: no listing, no other prefix. Every statement already in the policy is kept.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from typing import Any


class BadPolicy(ValueError):
    """A bucket policy that is not a JSON policy document."""


def resource(bucket: str, prefix: str) -> str:
    """The ARN of the objects under ``prefix`` (as clean_prefix makes it; ``""``: the whole bucket)."""
    return f"arn:aws:s3:::{bucket}/{prefix}/*" if prefix else f"arn:aws:s3:::{bucket}/*"


def statement_id(bucket: str, prefix: str) -> str:
    """The Sid of the statement for this index: letters and digits only, as IAM wants them, and
    the same on every run, so that a run replaces its own statement rather than adding another."""
    return "HoardPublicIndex" + hashlib.sha256(resource(bucket, prefix).encode()).hexdigest()[:12]


def public_read_statement(bucket: str, prefix: str) -> dict[str, Any]:
    return {
        "Sid": statement_id(bucket, prefix),
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": resource(bucket, prefix),
    }


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, text: str) -> bool:
    # IAM's wildcards: * and ? only; fnmatch's [ ] are literal here.
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


def _grants_public_read(statement: Any, bucket: str, prefix: str) -> bool:
    """Whether ``statement`` already lets anyone GET every object under the prefix, unconditionally."""
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
        return False
    if any(key in statement for key in ("Condition", "NotPrincipal", "NotAction", "NotResource")):
        return False
    principal = statement.get("Principal")
    anyone = principal == "*" or (isinstance(principal, dict) and set(principal) == {"AWS"} and "*" in _listed(principal["AWS"]))
    actions = [a.lower() for a in _listed(statement.get("Action")) if isinstance(a, str)]
    resources = [r for r in _listed(statement.get("Resource")) if isinstance(r, str)]
    wanted = resource(bucket, prefix)
    return (
        anyone
        and any(_wildcard(a, "s3:getobject") for a in actions)
        and any(_wildcard(r, wanted) for r in resources)
    )


def merge_public_read(existing: str | None, bucket: str, prefix: str) -> dict[str, Any] | None:
    """The bucket policy with the public-read statement for ``prefix`` merged in, or None when
    ``existing`` already grants that (nothing to write). ``existing``: the policy's JSON text, or
    None for a bucket with no policy. A statement of an earlier run (same Sid) is replaced;
    every other statement stays as it was. Raises BadPolicy."""
    ours = public_read_statement(bucket, prefix)
    if existing is None or not existing.strip():
        return {"Version": "2012-10-17", "Statement": [ours]}
    try:
        document = json.loads(existing)
    except ValueError as e:
        raise BadPolicy(f"the bucket's policy is not JSON ({e})") from None
    if not isinstance(document, dict):
        raise BadPolicy("the bucket's policy is not a JSON object")
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list):
        raise BadPolicy("the bucket's policy has a Statement that is neither a list nor an object")
    if any(_grants_public_read(s, bucket, prefix) for s in statements):
        return None
    kept = [s for s in statements if not (isinstance(s, dict) and s.get("Sid") == ours["Sid"])]
    merged = dict(document)
    merged.setdefault("Version", "2012-10-17")
    merged["Statement"] = [*kept, ours]
    return merged
