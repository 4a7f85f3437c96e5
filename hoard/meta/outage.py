"""How long a call on a database over the network may wait for it.

A call made while the database answers is tried again for a retry window (a failover under way
becomes a slower answer, not an error). But once the database has been unreachable for a whole
window, a call made then would only wait out a window of its own before failing, and a request
making several calls would wait several: a node with no primary to write to answered its
first 503 after 20 to 50 s. ``Outage`` keeps when the calls of this process first found the
database unreachable, and counts every call's window from then at the latest, so that past it
a call is tried once, briefly, and fails at once until the database answers again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# How long one try of a call waits for a connection once its window is spent: long enough for
# a connection the pool has just opened to reach it, short enough that a request making a few
# calls during an outage is answered in seconds.
PROBE_SECONDS = 1.0


class Outage:
    """When the database stopped answering this process, if it has (``None`` while it answers)."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self.since: float | None = None
        self._answered_at = float("-inf")

    def unreachable(self, since: float | None = None) -> None:
        """A call found no database to talk to (its connection lost, or none to be had since
        ``since``). An outage already under way keeps its start."""
        at = self._clock() if since is None else since
        with self._lock:
            if self.since is None or at < self.since:
                self.since = at

    def no_connection(self, asked: float) -> None:
        """A try waited from ``asked`` for a connection and got none: the database is unreachable
        if no call was answered meanwhile (a pool whose every connection is busy answers others)."""
        if self._answered_at < asked:
            self.unreachable(since=asked)

    def answered(self) -> None:
        """A call was answered: the database is back (or was never gone)."""
        self._answered_at = self._clock()
        if self.since is not None:
            with self._lock:
                self.since = None

    def deadline(self, started: float) -> float:
        """Until when a call made at ``started`` is tried again: its window, counted from the
        outage's start if that came first."""
        since = self.since
        return (started if since is None else min(started, since)) + self.window

    def wait(self, deadline: float) -> float:
        """How long one try (made now, with the call's ``deadline``) waits for a connection."""
        return max(PROBE_SECONDS, deadline - self._clock())
