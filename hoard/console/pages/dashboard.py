"""The service health dashboard (administrators) and the status page (anyone, when turned on)."""

from __future__ import annotations

import time
from typing import Any

from hoard.console.web import Page, json_response, render
from hoard.dashboard.snapshot import snapshot
from hoard.dashboard.status import public_status
from hoard.http.response import Response


def register(console: Any) -> None:
    async def dashboard(page: Page) -> Response:
        sources = console.dashboard
        if sources is None:
            return render("error.html", page, 503, message="The dashboard is served by the leader process only.")
        doc = await snapshot(sources)
        return render("dashboard.html", page, d=doc, ago=_ago, when=_when, usage_rows=_usage_rows(doc.get("usage")))

    async def series(page: Page) -> Response:
        history = console.dashboard.history if console.dashboard is not None else None
        if history is None:
            return json_response({"series": {}, "operations": []})
        return json_response({"series": history.series(), "operations": history.operations()})

    async def status(page: Page) -> Response:
        if not console.status_page or console.dashboard is None:
            return render("error.html", page, 404, message="No such page.")
        d = console.dashboard
        doc = await public_status(d.storage, d.store, d.started_at, d.history)
        if page.req.path.endswith(".json"):
            return json_response(doc)
        return render("status.html", page, s=doc, ago=_ago)

    console.router.add("GET", "/dashboard", dashboard, admin=True)
    console.router.add("GET", "/dashboard/data.json", series, admin=True)
    console.router.add("GET", "/status", status, public=True)
    console.router.add("GET", "/status.json", status, public=True)


def _ago(seconds: float | None) -> str:
    """A duration as people say it: 3 s, 5 min, 2 h 10 min, 4 d 3 h."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "under 1 s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def _when(stamp: float | None) -> str:
    """A unix time as how long ago (or how soon) it is."""
    if not stamp:
        return "never"
    delta = time.time() - stamp
    return f"{_ago(delta)} ago" if delta >= 0 else f"in {_ago(-delta)}"


def _usage_rows(usage: Any) -> list[dict]:
    if not isinstance(usage, dict):
        return []
    return sorted(usage.get("classes", []), key=lambda r: (r["bucket"], r["storage_class"]))
