"""The public status page's data: whether the service works, for anyone, with no keys.

Only counts, times and words of our own: no bucket, key, path, address, drive id or error
message (an index error can name a file), since whoever asks is not known.
"""

from __future__ import annotations

import time
from typing import Any

from hoard import __version__
from hoard.dashboard.health import overall_state
from hoard.dashboard.history import History
from hoard.meta.store import MetaStore
from hoard.observe import readiness_problems
from hoard.storage.pool import Storage


async def public_status(storage: Storage, store: MetaStore, started_at: float, history: History | None = None) -> dict[str, Any]:
    """``{"state": ok|degraded|down, "version", "uptime_seconds", "drives": {"online", "total"},
    "last_hour": {"seconds", "requests_per_second", "errors_per_second", "error_ratio"} | None}``.

    A drive counts as online while it is online or healing (it serves). ``last_hour`` covers
    the history's points (``seconds`` of them: less than an hour soon after a start); errors
    are 5xx answers only, since a 4xx is the client's doing (a missing key, a refused request).
    """
    problems = await readiness_problems(storage, store)
    states = [d.state.value for d in storage.drives]
    last_hour = None
    if history is not None:
        s = history.summary()
        last_hour = {
            "seconds": s["seconds"],
            "requests_per_second": s["requests_per_second"],
            "errors_per_second": s["errors_5xx_per_second"],
            "error_ratio": round(s["errors_5xx"] / s["requests"], 4) if s["requests"] else 0.0,
        }
    return {
        "state": overall_state(states, problems),
        "version": __version__,
        "uptime_seconds": round(time.time() - started_at),
        "drives": {"online": sum(1 for s in states if s != "offline"), "total": len(states)},
        "last_hour": last_hour,
    }
