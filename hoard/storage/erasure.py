"""Erasure coding of one block: k data + m parity fragments, by ISA-L through pyeclib.

Pure computation, no I/O. Measured on the 2-core machine (ARCHITECTURE.md has the table):
ISA-L Reed-Solomon (Vandermonde) encodes about 1 GiB/s and decodes several GiB/s on one
core; liberasurecode's own RS and zfec manage 350-575 MiB/s. One data fragment (a single
drive, or mirrors) needs no code at all: every fragment is the block itself.
"""

from __future__ import annotations

from functools import lru_cache

from pyeclib.ec_iface import ECDriver

BLOCK_SIZE = 1024 * 1024
EC_TYPE = "isa_l_rs_vand"


class NotEnoughShards(Exception):
    """Fewer good fragments than data fragments: the block cannot be rebuilt."""


@lru_cache(maxsize=64)
def _driver(data: int, parity: int) -> ECDriver:
    return ECDriver(k=data, m=parity, ec_type=EC_TYPE)


@lru_cache(maxsize=64)
def codec(data: int, parity: int) -> Codec:
    return Codec(data, parity)


class Codec:
    def __init__(self, data: int, parity: int) -> None:
        if data < 1 or parity < 0:
            raise ValueError("an erasure code needs at least one data fragment")
        self.data = data
        self.parity = parity
        self.total = data + parity
        self._driver = _driver(data, parity) if data > 1 else None
        self._sizes: dict[int, int] = {}

    def encode(self, block: bytes) -> list[bytes]:
        """The k + m fragments of a block (with pyeclib, each carries the library's small header)."""
        if self._driver is None or not block:
            return [bytes(block)] * self.total
        return self._driver.encode(bytes(block))

    def decode(self, fragments: dict[int, bytes | memoryview]) -> bytes | memoryview:
        """The block, from at least ``data`` verified fragments (index -> fragment)."""
        if len(fragments) < self.data:
            raise NotEnoughShards(f"{len(fragments)} good fragments, {self.data} needed")
        first = next(iter(fragments.values()))
        if self._driver is None or not first:
            return first
        return self._driver.decode([bytes(fragments[i]) for i in sorted(fragments)][: self.data])

    def fragment_size(self, block_len: int) -> int:
        size = self._sizes.get(block_len)
        if size is None:
            size = len(self.encode(bytes(block_len))[0]) if block_len else 0
            self._sizes[block_len] = size
        return size
