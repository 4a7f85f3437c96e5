"""A background task that does one round of its work every few seconds until it is stopped."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hoard.meta.errors import CommitFailed

log = logging.getLogger("hoard")


def log_failure(logger: logging.Logger, what: str, error: Exception, again: float | None = None) -> None:
    """Background work that failed, from an ``except`` block: the index unreachable (a database
    failover, say) in one line, since every loop says so at each turn until it is back and no
    stack trace says more; anything else with its stack trace."""
    if isinstance(error, CommitFailed):
        later = "" if again is None else f", tried again in {again:.0f} s"
        logger.warning("%s: the metadata index is unavailable%s (%s)", what, later, error)
    else:
        logger.exception("%s failed", what)


@dataclass
class RunStatus:
    """How a background loop is doing: kept by the loop itself, read by whoever reports on it
    (the dashboard). Times are unix seconds; 0 for never."""

    name: str
    interval: float  # seconds rested after a round
    last_started: float = 0.0
    last_finished: float = 0.0
    last_error: str = ""
    last_error_at: float = 0.0
    errors: int = 0
    rounds: int = 0  # rounds finished, with or without an error
    # errors: rounds that failed (or, for a loop that goes on past a failure, rounds with one)
    running: bool = False  # a round is under way now

    def began(self, now: float) -> None:
        self.last_started, self.running = now, True

    def ended(self, now: float, error: BaseException | None = None) -> None:
        self.last_finished, self.running = now, False
        self.rounds += 1
        if error is not None:
            self.errors += 1
            self.last_error = f"{type(error).__name__}: {error}".rstrip(": ")
            self.last_error_at = now

    def to_json(self) -> dict:
        """The record, with when the next round is due (None while one runs or before the first)."""
        due = self.last_finished + self.interval if self.last_finished and not self.running else None
        return {
            "name": self.name,
            "interval": self.interval,
            "last_started": self.last_started,
            "last_finished": self.last_finished,
            "next_run": due,
            "running": self.running,
            "rounds": self.rounds,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


class Periodic:
    """Subclasses give ``run_once`` (a round; an exception is logged and the next round comes
    anyway) and may give ``before_first`` (once, at start)."""

    what = "background work"  # for the log and the status record

    def __init__(self, interval: float, clock: Callable[[], float] = time.time) -> None:
        self.interval = interval
        self.clock = clock
        self.run_status = RunStatus(self.what, interval)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def status(self) -> dict:
        """The loop's status record (see ``RunStatus.to_json``)."""
        return self.run_status.to_json()

    async def before_first(self) -> None:
        pass

    async def run_once(self) -> object:
        raise NotImplementedError

    async def _run(self) -> None:
        await self.before_first()
        while True:
            self.run_status.began(self.clock())
            try:
                await self.run_once()
            except asyncio.CancelledError:
                self.run_status.running = False
                raise
            except Exception as e:
                self.run_status.ended(self.clock(), e)
                log_failure(log, self.what, e, again=self.interval)
            else:
                self.run_status.ended(self.clock())
            await asyncio.sleep(self.interval)
