"""hoard.meta.batching: writes waiting together go to one commit, concurrent point reads to one
read; nothing waits when nothing else is under way, and each caller gets its own answer."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hoard.meta.batching import LookupBatcher, Write, WriteQueue


def test_writes_waiting_while_the_threads_are_busy_are_committed_together():
    batches: list[list[str]] = []
    first_running, release = threading.Event(), threading.Event()

    def commit(batch: list[Write]) -> None:
        batches.append([w.fn(None) for w in batch])
        if len(batches) == 1:
            first_running.set()
            release.wait(10)
        for w in batch:
            w.future.set_result(w.fn(None))

    queue = WriteQueue(commit, threads=1, max_batch=4, name="test-write")
    try:
        first = queue.submit(lambda _: "a", None, True)
        assert first_running.wait(10)
        later = [queue.submit(lambda _, n=n: f"w{n}", None, True) for n in range(6)]
        release.set()
        assert first.result(10) == "a"
        assert [f.result(10) for f in later] == [f"w{n}" for n in range(6)]
    finally:
        queue.close()
    # The first alone (nothing else waited), then what waited, at most four at a time, in order.
    assert batches == [["a"], ["w0", "w1", "w2", "w3"], ["w4", "w5"]]


def test_a_write_cancelled_before_it_runs_is_not_run_and_a_failing_commit_fails_its_writes():
    ran: list[str] = []
    busy, release = threading.Event(), threading.Event()

    def commit(batch: list[Write]) -> None:
        for w in batch:
            ran.append(w.fn(None))
        if ran == ["block"]:
            busy.set()
            release.wait(10)
            batch[0].future.set_result(None)
            return
        raise RuntimeError("the database went away")

    queue = WriteQueue(commit, threads=1, max_batch=8, name="test-write")
    try:
        queue.submit(lambda _: "block", None, True)
        assert busy.wait(10)
        cancelled = queue.submit(lambda _: "cancelled", None, True)
        kept = queue.submit(lambda _: "kept", None, True)
        assert cancelled.cancel()
        release.set()
        with pytest.raises(RuntimeError, match="went away"):
            kept.result(10)
    finally:
        queue.close()
    assert ran == ["block", "kept"]


def test_close_lets_the_queued_writes_finish():
    done: list[int] = []

    def commit(batch: list[Write]) -> None:
        time.sleep(0.01)
        for w in batch:
            done.append(w.fn(None))
            w.future.set_result(None)

    queue = WriteQueue(commit, threads=2, max_batch=3, name="test-write")
    futures = [queue.submit(lambda _, n=n: n, None, True) for n in range(20)]
    queue.close()
    assert all(f.done() for f in futures)
    assert sorted(done) == list(range(20))


class GatedRead:
    """A batcher's ``read``: keeps the items of each call, answers ``answer(item)`` for each,
    once ``gate`` is set (it starts set unless ``held``)."""

    def __init__(self, answer, held: bool = True) -> None:
        self.answer = answer
        self.calls: list[list] = []
        self.gate = threading.Event()
        if not held:
            self.gate.set()

    def __call__(self, items: list) -> list:
        self.calls.append(list(items))
        self.gate.wait(10)
        return [self.answer(i) for i in items]


def test_concurrent_lookups_go_together_and_each_gets_its_own_answer():
    read = GatedRead(lambda i: i * 10)
    batcher: LookupBatcher[int, int] = LookupBatcher(read, concurrency=1, max_batch=5)

    async def run() -> list[int]:
        tasks = [asyncio.ensure_future(batcher.get(i)) for i in range(12)]
        await asyncio.sleep(0.05)  # the first read is out, the rest wait for it
        read.gate.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(run()) == [i * 10 for i in range(12)]
    # All twelve were made before the read began (in one turn of the loop): one read out at a
    # time, each of at most five, in the order they were made.
    assert read.calls == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


def test_a_lookup_alone_is_read_at_once_and_a_failed_read_fails_only_its_callers():
    def answer(item: str) -> str:
        if item == "bad":
            raise OSError("connection lost")
        return item.upper()

    read = GatedRead(answer, held=False)
    batcher: LookupBatcher[str, str] = LookupBatcher(read, concurrency=2, max_batch=64)

    async def run() -> None:
        assert await batcher.get("a") == "A"
        with pytest.raises(OSError, match="connection lost"):
            await batcher.get("bad")
        assert await batcher.get("b") == "B"  # the batcher goes on after a failure

    asyncio.run(run())
    assert read.calls == [["a"], ["bad"], ["b"]]  # each alone: nothing else waited


def test_a_cancelled_lookup_is_left_out_of_the_next_read():
    read = GatedRead(lambda item: item)
    batcher: LookupBatcher[str, str] = LookupBatcher(read, concurrency=1, max_batch=64)

    async def run() -> None:
        first = asyncio.ensure_future(batcher.get("first"))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(batcher.get("gone"))
        kept = asyncio.ensure_future(batcher.get("kept"))
        await asyncio.sleep(0)
        gone.cancel()
        read.gate.set()
        assert await first == "first" and await kept == "kept"

    asyncio.run(run())
    assert read.calls == [["first"], ["kept"]]


def test_awaited_writes_get_their_outcomes_and_one_cancelled_before_it_runs_is_not_run():
    ran: list[str] = []
    busy, release = threading.Event(), threading.Event()

    def commit(batch: list[Write]) -> None:
        for w in batch:
            name = w.fn(None)
            ran.append(name)
            if name == "block":
                busy.set()
                release.wait(10)
            if name == "fails":
                w.future.set_exception(ValueError("refused"))
            else:
                w.future.set_result(name.upper())

    queue = WriteQueue(commit, threads=1, max_batch=8, name="test-write")

    async def run() -> None:
        block = asyncio.ensure_future(queue.submit_async(lambda _: "block", None, True))
        while not busy.is_set():
            await asyncio.sleep(0.01)
        ok = asyncio.ensure_future(queue.submit_async(lambda _: "ok", None, True))
        fails = asyncio.ensure_future(queue.submit_async(lambda _: "fails", None, True))
        gone = asyncio.ensure_future(queue.submit_async(lambda _: "gone", None, True))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0.01)  # the cancelled task takes its write back
        release.set()
        assert await block == "BLOCK" and await ok == "OK"
        with pytest.raises(ValueError, match="refused"):
            await fails
        with pytest.raises(asyncio.CancelledError):
            await gone

    try:
        asyncio.run(run())
    finally:
        queue.close()
    assert ran == ["block", "ok", "fails"]
