"""Timestamps as the backup format writes them, and ``--as-of`` as users type it.

Every time in a backup is UTC, written ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: fixed width, so that
comparing the strings compares the instants, and precise to the microsecond because listings
give milliseconds and a point in time must fall between two versions written in one second.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_SECONDS = re.compile(r"\d{1,12}(\.\d{1,9})?")


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already (S3's times are)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stamp(moment: datetime) -> str:
    """The format's text for ``moment``."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> str:
    return stamp(datetime.now(UTC))


def from_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_as_of(text: str) -> str:
    """``--as-of``: Unix seconds (``1767225600``, ``1767225600.5``) or ISO 8601
    (``2026-01-01``, ``2026-01-01T12:00:00Z``, ``2026-01-01 12:00+02:00``; UTC unless an offset
    is given), as the format's text. Raises ValueError saying what is accepted."""
    value = text.strip()
    if _SECONDS.fullmatch(value):
        return stamp(datetime.fromtimestamp(float(value), UTC))
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a point in time: give ISO 8601 (2026-01-31, 2026-01-31T12:00:00Z, "
            "2026-01-31T14:00:00+02:00; UTC unless an offset is given) or Unix seconds"
        ) from None
    return stamp(moment)
