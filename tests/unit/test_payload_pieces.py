"""The received-chunk list a PutObject body is cut into blocks from (hoard.s3.handlers.payload)."""

from __future__ import annotations

import os

from hoard.s3.handlers.payload import _Pieces


def test_blocks_cut_from_chunks_hold_the_bytes_in_order() -> None:
    data = os.urandom(10_000)
    pieces = _Pieces()
    for start in range(0, len(data), 777):  # chunks that straddle every block boundary
        pieces.add(data[start : start + 777])
    assert len(pieces) == len(data)
    blocks = [pieces.take(3000) for _ in range(3)]
    assert len(pieces) == 1000
    assert b"".join(blocks) + pieces.take_all() == data
    assert len(pieces) == 0 and pieces.take_all() == b""


def test_a_chunk_that_is_a_whole_block_is_handed_on_as_it_is() -> None:
    chunk = os.urandom(4096)
    pieces = _Pieces()
    pieces.add(chunk)
    assert pieces.take(4096) is chunk  # no copy


def test_a_mutable_chunk_is_copied_when_kept() -> None:
    chunk = bytearray(b"abcdef")
    pieces = _Pieces()
    pieces.add(chunk)
    pieces.add(b"")
    chunk[:] = b"zzzzzz"  # the sender's buffer reused
    assert pieces.take(4) == b"abcd" and pieces.take_all() == b"ef"


def test_jobs_handed_to_threads_out_of_order_run_in_ticket_order() -> None:
    import threading

    from hoard.s3.handlers.payload import _InOrder

    order = _InOrder()
    tickets = [order.ticket() for _ in range(5)]
    ran: list[int] = []
    # Started last ticket first: each waits for the ones before it.
    threads = [threading.Thread(target=order.run, args=(t, lambda t=t: ran.append(t))) for t in reversed(tickets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert ran == tickets


def test_after_a_job_fails_the_ones_behind_it_fail_without_running() -> None:
    import pytest

    from hoard.s3.handlers.payload import _InOrder

    order = _InOrder()
    first, second = order.ticket(), order.ticket()
    ran: list[int] = []

    def broken() -> None:
        raise OSError("disk gone")

    with pytest.raises(OSError):
        order.run(first, broken)
    with pytest.raises(RuntimeError, match="earlier block"):
        order.run(second, lambda: ran.append(second))
    assert ran == []


class _RecordingWriter:
    """Stands in for a ShardSetWriter: records the blocks it is handed, in order."""

    inline = False

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.aborted = False

    def write(self, block: bytes) -> None:
        self.blocks.append(block)

    def abort(self) -> None:
        self.aborted = True


def cancelled_while_queued() -> None:
    """Run in a child interpreter: without the fix a worker thread waits for its turn for ever,
    and an interpreter with such a thread never exits."""
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hoard.s3.handlers.payload import WRITE_BUFFER, BlobSink

    async def scenario() -> _RecordingWriter:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(1)  # one thread, held below: the blocks queue behind it
        loop.set_default_executor(pool)
        hold = threading.Event()
        busy = loop.run_in_executor(pool, hold.wait)
        writer = _RecordingWriter()
        sink = BlobSink(None, None, [], 1 << 40, writer)  # type: ignore[arg-type]
        blocks = [bytes([n]) * WRITE_BUFFER for n in range(3)]
        await sink.write(blocks[0])
        await sink.write(blocks[1])  # two blocks queued for the held thread
        third = asyncio.ensure_future(sink.write(blocks[2]))  # waits for the first
        await asyncio.sleep(0.05)
        third.cancel()  # the request goes away while its first block has not started
        hold.set()
        await busy
        await asyncio.wait_for(sink.abort(), 10)
        return writer

    writer = asyncio.run(scenario())
    assert writer.blocks == [bytes([0]) * WRITE_BUFFER, bytes([1]) * WRITE_BUFFER]  # both ran, in order
    assert writer.aborted
    print("ok")


def test_a_request_cancelled_while_its_blocks_wait_for_a_thread_is_aborted_without_hanging() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = "from tests.unit.test_payload_pieces import cancelled_while_queued; cancelled_while_queued()"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
