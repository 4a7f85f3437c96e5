"""The SQLite store's one writer thread: a caller cancelled while its write waits does not end it."""

from __future__ import annotations

import asyncio
import threading

from hoard.meta.sqlite import SqliteMetaStore


def test_a_write_cancelled_while_it_waits_is_not_run_and_later_writes_still_commit(tmp_path):
    store = SqliteMetaStore(tmp_path / "meta.db")
    release = threading.Event()

    def slow(conn) -> None:
        release.wait(10)  # holds the writer, so the next write waits in its queue

    def remember(name: str):
        def op(conn) -> str:
            conn.execute("INSERT INTO settings(name, value) VALUES(?, 'x')", (name,))
            return name

        return op

    async def scenario() -> str:
        first = asyncio.ensure_future(store._write(slow))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(store._write(remember("cancelled")))
        await asyncio.sleep(0.05)
        waiting.cancel()
        await asyncio.sleep(0.05)
        release.set()
        await first
        # The writer is still alive: a later write commits and answers.
        return await asyncio.wait_for(store._write(remember("later")), 10)

    try:
        assert asyncio.run(scenario()) == "later"
        assert store.get_setting_sync("later") == "x"
        assert store.get_setting_sync("cancelled") is None
    finally:
        store.close()
