"""Requests to a database over the network, taken together: what lets many small PUTs and GETs
share round trips and commits instead of each paying for its own.

- ``WriteQueue``: writes wait in a queue; a few threads each take every write waiting (up to a
  batch's size) and hand them to ``commit`` together (the PostgreSQL store runs them in one
  transaction, each in its own savepoint: ``hoard.meta.postgres``). An idle store adds no wait: a
  write alone is taken at once.
- ``LookupBatcher``: point reads made in an event loop wait there while the reads already sent
  are out; the next read sends every one waiting as one call in a worker thread. Each waiting
  read was made before that call starts, so it sees every write acknowledged before it was made.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger("hoard.meta")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class Write:
    """One write waiting: ``fn`` runs on a connection inside the batch's transaction."""

    fn: Callable[[Any], Any]
    # Reads back, in a new transaction, whether the write committed (see SqlMetaStore._write_sync).
    settle: Callable[[Any], bool] | None
    idempotent: bool
    # Run first in the same transaction: a cluster node's lease check (hoard.meta.postgres.WRITE_FENCE).
    fence: Callable[[Any], None] | None = None
    # Where a caller in an event loop waits (``WriteQueue.submit_async``), told once per batch.
    waiter: asyncio.Future | None = None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    submitted: float = field(default_factory=time.monotonic)  # its retries are counted from here


class WriteQueue:
    """``threads`` threads, each handing the writes waiting (at most ``max_batch``) to ``commit``,
    which must settle every write's future."""

    def __init__(self, commit: Callable[[list[Write]], None], threads: int, max_batch: int, name: str) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for t in self._threads:
            t.start()

    def submit(
        self, fn: Callable[[Any], Any], settle: Callable[[Any], bool] | None, idempotent: bool, fence: Callable[[Any], None] | None = None
    ) -> concurrent.futures.Future:
        write = Write(fn, settle, idempotent, fence)
        self._queue.put(write)
        return write.future

    async def submit_async(
        self, fn: Callable[[Any], Any], settle: Callable[[Any], bool] | None, idempotent: bool, fence: Callable[[Any], None] | None = None
    ) -> Any:
        """``submit``, awaited: the writes of a batch wake their event loop once, not once each."""
        write = Write(fn, settle, idempotent, fence, asyncio.get_running_loop().create_future())
        self._queue.put(write)
        try:
            return await write.waiter
        except asyncio.CancelledError:
            write.future.cancel()  # not run if it has not begun; a write under way completes
            raise

    def close(self) -> None:
        """Let every write already queued finish, then stop the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch, stop = [item], False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            # A write whose caller was cancelled before it ran (asyncio.wrap_future passes a task's
            # cancellation on) is not run; one that runs can no longer be cancelled.
            batch = [w for w in batch if w.future.set_running_or_notify_cancel()]
            if batch:
                try:
                    self._commit(batch)
                except BaseException as e:  # noqa: BLE001 - commit's own failure: every write in it fails
                    log.exception("metadata batch failed")
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(e)
                _wake(batch)
            if stop:
                return


def _wake(batch: list[Write]) -> None:
    """Pass each write's outcome to its waiter: one call into each event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Write]] = {}
    for w in batch:
        if w.waiter is not None:
            by_loop.setdefault(w.waiter.get_loop(), []).append(w)
    for loop, writes in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_waiters, writes)
        except RuntimeError:  # the loop was closed: nobody waits any more
            pass


def _settle_waiters(writes: list[Write]) -> None:
    for w in writes:
        if w.waiter is not None and not w.waiter.done():
            error = w.future.exception()
            if error is not None:
                w.waiter.set_exception(error)
            else:
                w.waiter.set_result(w.future.result())


@dataclass
class _Waiting(Generic[K, V]):
    items: collections.deque = field(default_factory=collections.deque)
    running: int = 0
    tasks: set = field(default_factory=set)


class LookupBatcher(Generic[K, V]):
    """``await get(item)``: ``read(items)`` answers many items at once (in a worker thread, in
    their order); at most ``concurrency`` calls are out at a time, each of at most ``max_batch``
    items."""

    def __init__(self, read: Callable[[list[K]], list[V]], concurrency: int, max_batch: int) -> None:
        self._read = read
        self._concurrency = concurrency
        self._max_batch = max_batch
        # Per event loop: a store may be used from several in turn (asyncio.run, tests).
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waiting] = weakref.WeakKeyDictionary()

    async def get(self, item: K) -> V:
        loop = asyncio.get_running_loop()
        waiting = self._loops.get(loop)
        if waiting is None:
            waiting = self._loops[loop] = _Waiting()
        future: asyncio.Future = loop.create_future()
        waiting.items.append((item, future))
        if waiting.running < self._concurrency:
            waiting.running += 1
            task = loop.create_task(self._send(loop, waiting))
            waiting.tasks.add(task)
            task.add_done_callback(waiting.tasks.discard)
        return await future

    async def _send(self, loop: asyncio.AbstractEventLoop, waiting: _Waiting) -> None:
        try:
            while waiting.items:
                batch = []
                while waiting.items and len(batch) < self._max_batch:
                    item, future = waiting.items.popleft()
                    if not future.done():  # its caller was cancelled
                        batch.append((item, future))
                if not batch:
                    continue
                try:
                    values = await loop.run_in_executor(None, self._read, [item for item, _ in batch])
                except Exception as e:  # noqa: BLE001 - every read of the call fails with it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(e)
                else:
                    for (_, future), value in zip(batch, values, strict=True):
                        if not future.done():
                            future.set_result(value)
        finally:
            waiting.running -= 1
