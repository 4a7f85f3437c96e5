"""A background task that does one round of its work every few seconds until it is stopped."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("hoard")


class Periodic:
    """Subclasses give ``run_once`` (a round; an exception is logged and the next round comes
    anyway) and may give ``before_first`` (once, at start)."""

    what = "background work"  # for the log

    def __init__(self, interval: float) -> None:
        self.interval = interval
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

    async def before_first(self) -> None:
        pass

    async def run_once(self) -> object:
        raise NotImplementedError

    async def _run(self) -> None:
        await self.before_first()
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", self.what)
            await asyncio.sleep(self.interval)
