"""The drill's clients: a write load at a steady rate that records every acknowledged PUT, and a
reader of the standby site.

Writers are threads taking numbered tickets: ticket i is due ``i / rate`` seconds after the start
and writes a new key (``GROUP/0000042``) with random bytes to the site its group is pointed at;
a group is a set of clients that fail over together (one group for a primary/secondary pair;
two for active/active, one per site). A writer that falls behind the schedule goes at once, so
the rate is a ceiling. Only a 200 answer is an acknowledgement; a failed write (refused, reset,
timed out) is recorded as a failure, never retried: it was not acknowledged, so nothing is owed
for it."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from hoard.dr.sites import Site


@dataclass(frozen=True)
class Ack:
    key: str
    md5: str  # of the bytes sent: the ETag a single-part PUT is answered with
    site: str  # the site that acknowledged it
    acked: float  # time.time() when the answer arrived


@dataclass(frozen=True)
class Failure:
    key: str
    site: str
    at: float
    error: str


class Load:
    def __init__(self, sites: dict[str, Site], bucket: str, rate: float, size: int, groups: dict[str, str], threads: int = 0) -> None:
        self.sites = sites
        self.bucket = bucket
        self.rate = rate
        self.size = size
        self.groups = list(groups)
        self.targets = dict(groups)  # group -> the site its clients write to
        self.threads = threads or max(4, min(32, int(rate // 8) + 2))
        self.acks: list[Ack] = []
        self.failures: list[Failure] = []
        self.bad_etags: list[str] = []  # answered 200 with an ETag that is not the bytes' MD5
        self._lock = threading.Lock()
        self._ticket = 0
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.started = 0.0
        self.stopped = 0.0

    def start(self) -> None:
        self.started = time.time()
        self._t0 = time.monotonic()
        for n in range(self.threads):
            t = threading.Thread(target=self._work, name=f"dr-load-{n}", daemon=True)
            t.start()
            self._workers.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=30)
        self.stopped = time.time()

    def switch(self, group: str, site: str) -> None:
        """Point a group's clients at another site (what changing an endpoint does)."""
        with self._lock:
            self.targets[group] = site

    def _next(self) -> tuple[int, float, str, str]:
        with self._lock:
            i = self._ticket
            self._ticket += 1
            group = self.groups[i % len(self.groups)]
            return i, self._t0 + i / self.rate, group, self.targets[group]

    def _work(self) -> None:
        clients: dict[str, Any] = {}
        while not self._stop.is_set():
            i, due, group, site = self._next()
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            key = f"{group}/{i:07d}"
            body = os.urandom(self.size)
            md5 = hashlib.md5(body).hexdigest()
            client = clients.get(site)
            if client is None:
                client = clients[site] = self.sites[site].s3()
            try:
                answer = client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentMD5=_b64(md5))
            except Exception as e:  # noqa: BLE001 - any failure is a write not acknowledged
                with self._lock:
                    self.failures.append(Failure(key, site, time.time(), f"{type(e).__name__}: {e}"[:200]))
                continue
            acked = time.time()
            with self._lock:
                self.acks.append(Ack(key, md5, site, acked))
                if answer.get("ETag", "").strip('"') != md5:
                    self.bad_etags.append(key)

    # -- what was measured --------------------------------------------------------------------
    def acknowledged(self, before: float | None = None) -> list[Ack]:
        with self._lock:
            acks = list(self.acks)
        return acks if before is None else [a for a in acks if a.acked <= before]

    def first_ack(self, site: str, after: float, group: str | None = None) -> float | None:
        """When the first write acknowledged by ``site`` after ``after`` was (of ``group``'s clients)."""
        with self._lock:
            times = [a.acked for a in self.acks if a.site == site and a.acked >= after and (group is None or a.key.startswith(group + "/"))]
        return min(times) if times else None

    def failed_count(self) -> int:
        with self._lock:
            return len(self.failures)


def _b64(md5_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(md5_hex)).decode()


class StandbyReader:
    """Reads from the standby what the primary acknowledged a moment ago (a warm standby serves
    reads): each read asks for a random key acknowledged at least ``age`` seconds before, and
    checks its bytes. Counts reads served whole, keys not there yet (replication lag), errors."""

    def __init__(self, site: Site, bucket: str, load: Load, interval: float = 0.1, age: float = 1.0) -> None:
        self.site = site
        self.bucket = bucket
        self.load = load
        self.interval = interval
        self.age = age
        self.reads = 0
        self.ok = 0
        self.not_yet = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dr-standby-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        client = self.site.s3()
        rng = random.Random()
        while not self._stop.wait(self.interval):
            ripe = self.load.acknowledged(before=time.time() - self.age)
            if not ripe:
                continue
            ack = rng.choice(ripe[-2000:])
            self.reads += 1
            try:
                body = client.get_object(Bucket=self.bucket, Key=ack.key)["Body"].read()
            except Exception as e:  # noqa: BLE001 - counted, by kind
                code = getattr(e, "response", {}).get("Error", {}).get("Code")
                if code in ("NoSuchKey", "404"):
                    self.not_yet += 1
                else:
                    self.errors.append(f"{type(e).__name__}: {e}"[:200])
                continue
            if hashlib.md5(body).hexdigest() == ack.md5:
                self.ok += 1
            else:
                self.errors.append(f"{ack.key}: other bytes than were written")
