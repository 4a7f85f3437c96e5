"""Would worker processes help on this machine? The same load against one Hoard server, then
split over two independent ones (each its own data folder): the most that several processes
sharing a port could give, before any cost of sharing one index between them.

    python -m benchmarks.processes get 4096 16 3      # OP SIZE CONCURRENCY ROUNDS (OP: get, put)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import client, servers


async def load(ports: list[int], seconds: float, conc: int, op: str, size: int) -> tuple[float, float]:
    """(op/s, MiB/s) of ``conc`` connections spread over ``ports`` for ``seconds``."""
    body = memoryview(os.urandom(size))
    done, t0 = [0], time.monotonic()

    async def worker(w: int) -> None:
        c = client.Connection("127.0.0.1", ports[w % len(ports)], servers.CREDS)
        n = 0
        while time.monotonic() - t0 < seconds:
            if op == "get":
                await c.request("GET", f"/bench/s{(w + n) % 16}")
            else:
                await c.request("PUT", f"/bench/p{w}-{n}", body=body, payload_hash="UNSIGNED-PAYLOAD")
            n += 1
            done[0] += 1
    await asyncio.gather(*(worker(w) for w in range(conc)))
    dt = time.monotonic() - t0
    return done[0] / dt, done[0] * size / dt / 2**20


async def seed(port: int, size: int) -> None:
    """The bucket and the 16 objects the GETs read."""
    conn = client.Connection("127.0.0.1", port, servers.CREDS)
    await conn.request("PUT", "/bench", expect=(200, 409))
    body = memoryview(os.urandom(size))
    for i in range(16):
        await conn.request("PUT", f"/bench/s{i}", body=body, payload_hash="UNSIGNED-PAYLOAD")
    conn.close()


def main() -> None:
    op, size, conc, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    top = Path(tempfile.mkdtemp(prefix="hoard-processes-"))
    srvs = []
    for i in range(2):
        wd = top / f"server{i}"
        wd.mkdir()
        srvs.append(servers.start_hoard(wd, env={"HOARD_SCANNER_RATE": "0"}))
    try:
        for s in srvs:
            asyncio.run(seed(s.port, size))
        for _ in range(rounds):
            one = asyncio.run(load([srvs[0].port], 3, conc, op, size))
            two = asyncio.run(load([s.port for s in srvs], 3, conc, op, size))
            print(f"{op} {size}B c{conc}: one process {one[0]:.0f} op/s {one[1]:.0f} MiB/s | two processes {two[0]:.0f} op/s {two[1]:.0f} MiB/s | {two[0]/one[0]:.2f}x", flush=True)
    finally:
        for s in srvs:
            s.stop()
        subprocess.run(["rm", "-rf", str(top)], check=False)


if __name__ == "__main__":
    main()
