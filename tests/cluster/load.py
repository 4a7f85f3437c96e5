"""Client load for the cluster tests: threads making requests through a ``with`` block."""

from __future__ import annotations

import threading


class LoadThreads:
    """``count`` threads, each running ``work(n)`` from the ``with`` block's start until
    ``stopping`` says the block ended; ``_lock`` guards what they record."""

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self.work, args=(n,), daemon=True) for n in range(count)]

    def work(self, n: int) -> None:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> LoadThreads:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
