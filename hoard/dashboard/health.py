"""One word for the service's state, shared by the dashboard and the public status page."""

from __future__ import annotations

from collections.abc import Iterable

OK, DEGRADED, DOWN = "ok", "degraded", "down"


def overall_state(drive_states: Iterable[str], problems: Iterable[str]) -> str:
    """``down`` when the server is not ready (the index does not answer, or an erasure set lacks
    a write quorum: ``hoard.observe.readiness_problems``), ``degraded`` when it serves with a
    drive offline or healing, else ``ok``."""
    if any(True for _ in problems):
        return DOWN
    if any(state != "online" for state in drive_states):
        return DEGRADED
    return OK
