"""The console's pages, one module per area; each adds its routes to the console's router."""

from __future__ import annotations

from typing import Any

from hoard.console.pages import auth, buckets, dashboard, iam, lifecycle, objects, permissions


def register(console: Any) -> None:
    for area in (auth, buckets, objects, permissions, lifecycle, iam, dashboard):
        area.register(console)
