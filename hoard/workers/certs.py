"""Serve a renewed certificate without a restart: every few seconds, each process looks at its
certificate files and, if a good new pair replaced them, serves it to new connections."""

from __future__ import annotations

import asyncio

from hoard.http.tls import RenewablePair
from hoard.workers.periodic import Periodic

CHECK_INTERVAL = 3.0  # seconds; two stat() calls each time


class CertificateWatcher(Periodic):
    what = "the certificate check"

    def __init__(self, certificate: RenewablePair, interval: float = CHECK_INTERVAL, what: str | None = None) -> None:
        if what is not None:
            self.what = what  # before the run status is made with it
        super().__init__(interval)
        self.certificate = certificate

    def start(self) -> None:
        # At once, before the first connection: a worker started again after a renewal was
        # forked with the supervisor's context, which still holds the pair read at start.
        pair = self.certificate.changed()
        if pair is not None:
            self.certificate.use(pair)
        super().start()

    async def run_once(self) -> None:
        pair = await asyncio.to_thread(self.certificate.changed)  # file reads, off the event loop
        if pair is not None:
            self.certificate.use(pair)  # here, in the thread that makes connections from the context
