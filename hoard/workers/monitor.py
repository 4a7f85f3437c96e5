"""The drive monitor: probes the drives, bringing back offline ones that return and formatting
empty folders where a drive was as replacements.

Only the leader process runs it: drive states live in memory every worker shares
(``StateSlot``), and the leader's healer refills the drives that come back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hoard.storage.drive import LocalDrive
from hoard.storage.pool import Storage

log = logging.getLogger("hoard.monitor")


class DriveMonitor:
    def __init__(self, storage: Storage, interval: float, on_back: Callable[[list[LocalDrive]], None] | None = None) -> None:
        self.storage = storage
        self.interval = interval
        self.on_back = on_back
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

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.probe()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("drive probe failed")

    async def probe(self) -> list[LocalDrive]:
        """Probe the drives now; returns those that came back or were replaced (they need healing)."""
        back = await asyncio.to_thread(self.storage.probe)
        if back and self.on_back is not None:
            self.on_back(back)
        return back
