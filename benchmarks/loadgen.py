"""The load engine: N workers, each with its own keep-alive connection, pulling operations
from one shared iterator until it runs dry or the time limit passes.

An operation is an ``async (Connection) -> int`` returning the payload bytes it moved; it
raises on any failure. Pulling from a shared iterator (rather than pre-splitting the work)
keeps every worker busy to the end even when some requests are slower than others.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from benchmarks.client import Connection, Credentials

Op = Callable[[Connection], Awaitable[int]]
T = TypeVar("T")


@dataclass
class RunStats:
    elapsed: float = 0.0
    ops: int = 0
    errors: int = 0
    nbytes: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, successful operations only
    first_error: str = ""
    truncated: bool = False  # the time limit cut the run short

    def merge_op(self, latency: float, nbytes: int) -> None:
        self.ops += 1
        self.nbytes += nbytes
        self.latencies.append(latency)

    def fail(self, exc: BaseException) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = f"{type(exc).__name__}: {exc}"[:500]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: with few samples p99 is the worst one)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


class Target:
    """Where the operations go: one server's address and credentials."""

    def __init__(self, host: str, port: int, creds: Credentials) -> None:
        self.host, self.port, self.creds = host, port, creds

    def connection(self) -> Connection:
        return Connection(self.host, self.port, self.creds)


async def drive(target: Target, ops: Iterator[Op], concurrency: int, time_limit: float, stats: RunStats | None = None) -> RunStats:
    """Run ``ops`` with ``concurrency`` workers; stops taking new work after ``time_limit``."""
    stats = stats or RunStats()
    deadline = time.perf_counter() + time_limit

    async def worker() -> None:
        conn = target.connection()
        try:
            for op in ops:  # a plain iterator shared by all workers: next() never yields
                if time.perf_counter() > deadline:
                    stats.truncated = True
                    return
                t0 = time.perf_counter()
                try:
                    nbytes = await op(conn)
                except Exception as exc:  # every failure is counted, none stops the run
                    stats.fail(exc)
                    conn.close()  # the connection's state is unknown after a failure
                    continue
                stats.merge_op(time.perf_counter() - t0, nbytes)
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    stats.elapsed += time.perf_counter() - t0
    return stats


def run_async(coro: Awaitable[T]) -> T:
    """Run on uvloop when it is there (Hoard depends on it): the client's event loop then costs
    less of the CPU it shares with the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]
