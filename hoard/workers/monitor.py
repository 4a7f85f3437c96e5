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
from hoard.workers.periodic import Periodic

log = logging.getLogger("hoard.monitor")


class DriveMonitor(Periodic):
    what = "drive probe"

    def __init__(self, storage: Storage, interval: float, on_back: Callable[[list[LocalDrive]], None]) -> None:
        super().__init__(interval)
        self.storage = storage
        self.on_back = on_back

    async def run_once(self) -> list[LocalDrive]:
        return await self.probe()

    async def probe(self) -> list[LocalDrive]:
        """Probe the drives now; returns those that came back or were replaced (they need healing)."""
        back = await asyncio.to_thread(self.storage.probe)
        if back:
            self.on_back(back)
        return back
