"""The nonces of accepted internal requests, shared by every worker process of a node.

A node with several workers (``hoard server --workers N``) takes each connection in whichever
worker the kernel hands it to, so a replayed request could reach a worker that never saw the
original: the replay check must span them all. This is the NonceCache of
hoard.cluster.internal_auth kept in memory every worker maps (a memfd made before the fork):

- a table of BUCKETS buckets of SLOTS slots; a slot is the nonce (16 bytes) and the time until
  which it is remembered (a double; 0 for a slot never used). A nonce may live in either of two
  buckets, named by its first and its second 8 bytes, and goes into the one with more room: with
  one bucket per nonce, a bucket filled up (eight of a few thousand nonces landing on one of 1,024
  buckets is likely) long before the table did; with two, no bucket fills below about 70 % of the
  table ("the power of two choices"). A slot whose time has passed is free again;
- a bucket is read and written under a lock of its stripe: an fcntl lock on a byte of the
  memfd (released by the kernel if its holder dies, so a worker killed mid-check cannot hang
  the others), with a thread lock in front (fcntl locks belong to the process, not the thread);
  a nonce's two stripes are taken in order, so two workers never wait on each other in a circle;
- a bucket full of live nonces refuses the request (InternalAuthError 503), as the NonceCache
  does when full, rather than forget a nonce that could then be replayed.

Nonces are random and only requests that carry a valid signature reach the cache, so no one
without the cluster key can aim at a bucket.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading

from hoard.cluster.internal_auth import NONCE_BYTES, InternalAuthError

BUCKETS = 1 << 16
SLOTS = 8  # 524,288 nonces (about 70 % of them usable: see above), in 12 MiB
STRIPES = 1024  # locks: enough that workers rarely wait on each other
_SLOT = struct.Struct(f"<{NONCE_BYTES}sd")
_BUCKET_BYTES = _SLOT.size * SLOTS


class SharedNonceCache:
    """NonceCache's ``remember``, over memory shared by the processes forked after it is made."""

    def __init__(self, buckets: int = BUCKETS) -> None:
        if buckets < 1:
            raise ValueError("a nonce cache has at least one bucket")
        self.buckets = buckets
        self.capacity = buckets * SLOTS
        self._fd = os.memfd_create("hoard-nonces", os.MFD_CLOEXEC)
        os.ftruncate(self._fd, buckets * _BUCKET_BYTES)
        self._table = mmap.mmap(self._fd, buckets * _BUCKET_BYTES)  # MAP_SHARED: the workers see one table
        self._thread_lock = threading.Lock()

    def remember(self, nonce: str, until: float, now: float) -> bool:
        """True if ``nonce`` is new, and remembered from now on until ``until``; False if it was
        seen before (a replay). InternalAuthError 503 if its bucket is full of live nonces."""
        raw = bytes.fromhex(nonce)
        if len(raw) != NONCE_BYTES:
            raise ValueError(f"a nonce is {NONCE_BYTES} bytes")
        buckets = sorted({int.from_bytes(raw[:8], "little") % self.buckets, int.from_bytes(raw[8:16], "little") % self.buckets})
        stripes = sorted({bucket % STRIPES for bucket in buckets})
        with self._thread_lock:
            for stripe in stripes:
                fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, stripe)
            try:
                best: tuple[int, int] | None = None  # (free slots, offset of the first) of the roomier bucket
                for bucket in buckets:
                    base, free = bucket * _BUCKET_BYTES, []
                    for slot in range(SLOTS):
                        seen, kept_until = _SLOT.unpack_from(self._table, base + slot * _SLOT.size)
                        if kept_until == 0.0 or kept_until < now:  # never used, or past its time
                            free.append(base + slot * _SLOT.size)
                        elif seen == raw:
                            return False
                    if free and (best is None or len(free) > best[0]):
                        best = (len(free), free[0])
                if best is None:
                    raise InternalAuthError(503, "too many internal requests in the window to tell a replay: try again")
                _SLOT.pack_into(self._table, best[1], raw, until)
                return True
            finally:
                for stripe in reversed(stripes):
                    fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, stripe)

    def __len__(self) -> int:
        """Slots holding a nonce, live or past (for tests and metrics: a full scan)."""
        return sum(1 for i in range(self.capacity) if _SLOT.unpack_from(self._table, i * _SLOT.size)[1] > 0)
