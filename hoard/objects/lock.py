"""Object lock (write once, read many): what a version's retention and legal hold forbid.

A version's retention (GOVERNANCE or COMPLIANCE until a date) and legal hold live in its own
record on the drives, so a rebuilt index, a restart or a heal keeps them. A bucket's lock
configuration (on, with or without a default retention) is one of its configurations.

The rules, as S3 has them:

- A version under legal hold cannot be deleted, whatever the retention and whoever asks.
- A version retained in COMPLIANCE mode cannot be deleted, nor its retention shortened or its
  mode changed, by anyone (the root account included) until the date passes.
- A version retained in GOVERNANCE mode can be, only by a request that sets
  ``x-amz-bypass-governance-retention: true`` from someone allowed
  ``s3:BypassGovernanceRetention``.
- Extending a retention in the same mode is always allowed. A delete marker can always be added:
  it deletes no version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hoard.model import Bucket, ObjectRecord

GOVERNANCE, COMPLIANCE = "GOVERNANCE", "COMPLIANCE"
MODES = (GOVERNANCE, COMPLIANCE)
LOCK_CONFIG = "objectLock"  # the bucket configuration: {"enabled": true, "mode": ..., "days" | "years": N}
DAY = 86400.0
YEAR = 365 * DAY  # S3 counts a year of default retention as 365 days


@dataclass(frozen=True)
class LockSettings:
    """What a new version is given: a retention (mode and date, or none) and a legal hold."""

    mode: str = ""
    until: float = 0.0
    legal_hold: bool = False

    def fields(self) -> dict[str, Any]:
        """As ``ObjectRecord`` (and ``Upload``) fields."""
        return {"retention_mode": self.mode, "retain_until": self.until, "legal_hold": self.legal_hold}


NO_LOCK = LockSettings()


def lock_enabled(bucket: Bucket) -> bool:
    return bool(bucket.config.get(LOCK_CONFIG))


def default_retention(bucket: Bucket, now: float) -> LockSettings:
    """The retention a bucket's default rule gives a version made at ``now`` (none without a rule)."""
    config = bucket.config.get(LOCK_CONFIG) or {}
    mode = config.get("mode")
    if not mode:
        return NO_LOCK
    period = config["days"] * DAY if config.get("days") else config.get("years", 0) * YEAR
    return LockSettings(mode, now + period)


def retained(record: ObjectRecord, now: float) -> bool:
    """Whether the version's retention still holds."""
    return bool(record.retention_mode) and record.retain_until > now


def deletion_refused(record: ObjectRecord, now: float, bypass_governance: bool) -> str | None:
    """Why the version may not be deleted (the AccessDenied message), or None if it may."""
    if record.legal_hold:
        return "The object is under a legal hold and cannot be deleted."
    if retained(record, now):
        if record.retention_mode == COMPLIANCE:
            return "The object is retained in COMPLIANCE mode and cannot be deleted until its retention ends."
        if not bypass_governance:
            return "The object is retained in GOVERNANCE mode: deleting it needs x-amz-bypass-governance-retention."
    return None


def retention_change_refused(record: ObjectRecord, mode: str, until: float, now: float, bypass_governance: bool) -> str | None:
    """Why the version's retention may not become (``mode``, ``until``) ("" mode: none), or None."""
    if not retained(record, now):
        return None
    weakened = mode != record.retention_mode or until < record.retain_until
    if not weakened:
        return None
    if record.retention_mode == COMPLIANCE:
        return "The object is retained in COMPLIANCE mode: its retention can only be extended."
    if not bypass_governance:
        return "The object is retained in GOVERNANCE mode: changing or shortening it needs x-amz-bypass-governance-retention."
    return None
