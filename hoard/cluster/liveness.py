"""Which nodes a node counts as live, from the views of the catalog it reads over time.

A node is live when its heartbeat (a row, written at the database's time) is recent. But when the
database was away (a failover), no node could beat: the first view read after it is back shows
every other node silent, and taking that at its word marks their drives offline and breaks the
calls under way to them, until they beat again a round later. So a node that could not read the
catalog for a while itself holds the silence that followed against nobody live before, for long
enough that they can beat again; a node that really died meanwhile is found silent then (or at
once, if it refuses connections: the data path marks it offline on the spot).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from hoard.cluster.view import ClusterView


class Liveness:
    """``judge`` each view as it is read: a read more than ``gap`` seconds after the one before
    (this node's own reads held up) starts ``grace`` seconds in which the nodes live in the view
    before stay live."""

    def __init__(self, gap: float, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.gap = gap
        self.grace = grace
        self._clock = clock
        self._read_at: float | None = None
        self._grace_until = float("-inf")
        self._live: frozenset[str] = frozenset()

    def judge(self, view: ClusterView) -> ClusterView:
        now = self._clock()
        if self._read_at is not None and now - self._read_at > self.gap:
            self._grace_until = now + self.grace
        self._read_at = now
        if now < self._grace_until and not self._live <= view.live:
            view = dataclasses.replace(view, live=view.live | (self._live & view.internal_urls.keys()))
        self._live = view.live
        return view
