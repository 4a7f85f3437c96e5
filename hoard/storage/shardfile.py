"""The geometry of a shard file: where block ``i``'s fragment and its checksum lie.

A shard file holds one drive's fragments of one stored run of bytes (a whole object or one
part), block after block: ``[32-byte BLAKE3 of the fragment][fragment]``. Every block but the
last holds ``BLOCK_SIZE`` bytes of object data, so the offset of any block is a product, and a
range read seeks straight to the blocks it needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from hoard.storage.bitrot import HASH_SIZE
from hoard.storage.erasure import BLOCK_SIZE, Codec


@dataclass(frozen=True)
class ShardGeometry:
    size: int  # object bytes in this run
    codec: Codec
    block_size: int = BLOCK_SIZE

    @property
    def blocks(self) -> int:
        return -(-self.size // self.block_size)

    def block_len(self, i: int) -> int:
        """Object bytes held by block ``i``."""
        return min(self.block_size, self.size - i * self.block_size)

    def fragment_size(self, i: int) -> int:
        return self.codec.fragment_size(self.block_len(i))

    def offset(self, i: int) -> int:
        return i * (HASH_SIZE + self.codec.fragment_size(self.block_size))

    def file_size(self) -> int:
        if self.size == 0:
            return 0
        last = self.blocks - 1
        return self.offset(last) + HASH_SIZE + self.fragment_size(last)

    def blocks_for(self, start: int, end: int) -> range:
        """Blocks holding object bytes [start, end] (inclusive)."""
        return range(start // self.block_size, end // self.block_size + 1)
