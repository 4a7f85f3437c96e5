"""The stored format of encrypted bytes: one AES-256-GCM chunk per storage block.

A part's plaintext (a single-part object is part 0) is cut into chunks of PLAIN_CHUNK bytes, the
last one shorter. Each becomes one stored chunk::

    nonce (12 random bytes) || ciphertext (as long as the plaintext) || tag (16 bytes)

so a whole stored chunk is exactly BLOCK_SIZE bytes: stored chunk i is storage block i, the one
the bitrot checksum covers, and a ranged read fetches and opens only the blocks it needs.

The associated data of chunk i binds it to its place::

    b"hoard-sse-v1" || encryption id (16 bytes) || part (4 bytes, big-endian)
                    || i (8 bytes, big-endian) || 1 if it is the part's last chunk else 0

so chunks swapped within a part, moved from another part or object, replayed from an earlier
upload, or a part cut short at a chunk boundary all fail to open. Nonces are random rather than
counted: a part may be uploaded twice under one key, and a counter would then repeat.

An empty part is one stored chunk of empty plaintext (28 bytes), never zero chunks: reading it
still proves the key right and the part whole (an SSE-C object of 0 bytes refuses a wrong key).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hoard.crypto.keys import DATA_KEY_BYTES, ENCRYPTION_ID_BYTES, new_nonce

# Must equal hoard.storage.erasure.BLOCK_SIZE (tests/unit/test_crypto_chunks.py checks it): crypto
# does not import the drives' layer, yet a stored chunk must be exactly one bitrot-checked block.
BLOCK_SIZE = 1024 * 1024
NONCE_BYTES = 12
TAG_BYTES = 16
OVERHEAD = NONCE_BYTES + TAG_BYTES
PLAIN_CHUNK = BLOCK_SIZE - OVERHEAD
FORMAT_TAG = b"hoard-sse-v1"
MAX_PART = 0xFFFFFFFF


class ChunkTampered(Exception):
    """A stored chunk does not open: another key, another place, or bytes changed."""


# Every function takes the block size so that tests can use small blocks; the server uses BLOCK_SIZE.


def chunk_count(plain_size: int, *, block_size: int = BLOCK_SIZE) -> int:
    """How many chunks a part of ``plain_size`` bytes is stored as (at least one)."""
    _check_size(plain_size)
    return max(1, -(-plain_size // _plain_chunk(block_size)))


def stored_size(plain_size: int, *, block_size: int = BLOCK_SIZE) -> int:
    """The stored bytes of a part of ``plain_size`` plaintext bytes."""
    return plain_size + OVERHEAD * chunk_count(plain_size, block_size=block_size)


def stored_chunk_size(index: int, plain_size: int, *, block_size: int = BLOCK_SIZE) -> int:
    """The stored length of chunk ``index`` of a part of ``plain_size`` bytes."""
    count = chunk_count(plain_size, block_size=block_size)
    if not 0 <= index < count:
        raise ValueError(f"chunk {index} is not in a part of {count} chunks")
    return min(_plain_chunk(block_size), plain_size - index * _plain_chunk(block_size)) + OVERHEAD


@dataclass(frozen=True)
class ChunkSpan:
    """The stored chunks a plaintext range lies in, and where the range lies in their plaintext."""

    first: int  # index of the first chunk
    count: int  # chunks to read, from first
    stored_start: int  # stored byte range to read: [stored_start, stored_end)
    stored_end: int
    skip: int  # plaintext bytes to drop from the start of the first chunk
    length: int  # plaintext bytes to keep in all


def plain_range_to_chunks(start: int, end_exclusive: int, plain_size: int, *, block_size: int = BLOCK_SIZE) -> ChunkSpan:
    """The chunks holding plaintext bytes ``[start, end_exclusive)`` of a part of ``plain_size``.

    An empty range is only that of an empty part (its one chunk, so the read still checks it)."""
    _check_size(plain_size)
    if not (0 <= start <= end_exclusive <= plain_size) or (start == end_exclusive and plain_size):
        raise ValueError(f"range [{start}, {end_exclusive}) is not a non-empty range of {plain_size} bytes")
    if plain_size == 0:
        return ChunkSpan(0, 1, 0, OVERHEAD, 0, 0)
    plain_chunk = _plain_chunk(block_size)
    first = start // plain_chunk
    last = (end_exclusive - 1) // plain_chunk
    stored_end = last * block_size + stored_chunk_size(last, plain_size, block_size=block_size)
    return ChunkSpan(first, last - first + 1, first * block_size, stored_end, start - first * plain_chunk, end_exclusive - start)


def associated_data(encryption_id: bytes, part: int, index: int, last: bool) -> bytes:
    return FORMAT_TAG + encryption_id + struct.pack(">IQ?", part, index, last)


class Encryptor:
    """Plaintext of one part in, stored chunks out, in writes of any size.

    ``feed`` returns the chunks complete so far; it keeps back a full chunk until more data shows
    it is not the last. ``finish`` returns the last chunk (empty plaintext only for an empty part).
    """

    def __init__(self, key: bytes, encryption_id: bytes, part: int = 0, *, block_size: int = BLOCK_SIZE) -> None:
        _check_place(key, encryption_id, part)
        self._plain_chunk = _plain_chunk(block_size)
        self._aead = AESGCM(key)
        self._id = encryption_id
        self._part = part
        self._index = 0
        self._pending = bytearray()
        self._finished = False
        self.plain_size = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        if self._finished:
            raise ValueError("the part is finished")
        self._pending += data
        self.plain_size += len(data)
        out: list[bytes] = []
        done = 0
        # One slice pass, then one deletion: deleting chunk by chunk would move the rest of a
        # large write once per chunk.
        with memoryview(self._pending) as view:
            while len(view) - done > self._plain_chunk:
                out.append(self._seal(view[done : done + self._plain_chunk], last=False))
                done += self._plain_chunk
        del self._pending[:done]
        return out

    def finish(self) -> bytes:
        if self._finished:
            raise ValueError("the part is finished")
        self._finished = True
        chunk = self._seal(bytes(self._pending), last=True)
        self._pending.clear()
        return chunk

    def _seal(self, plain: bytes | memoryview, last: bool) -> bytes:
        nonce = new_nonce()
        sealed = self._aead.encrypt(nonce, plain, associated_data(self._id, self._part, self._index, last))
        self._index += 1
        return nonce + sealed


class Decryptor:
    """Opens the stored chunks of one part, given its plaintext size (from the version's record)."""

    def __init__(self, key: bytes, encryption_id: bytes, part: int, plain_size: int, *, block_size: int = BLOCK_SIZE) -> None:
        _check_place(key, encryption_id, part)
        self._aead = AESGCM(key)
        self._id = encryption_id
        self._part = part
        self._plain_size = plain_size
        self._block_size = block_size
        self._count = chunk_count(plain_size, block_size=block_size)

    def open(self, index: int, stored_chunk: bytes | bytearray | memoryview) -> bytes:
        """The plaintext of chunk ``index``; ChunkTampered if it does not open as that chunk."""
        if not 0 <= index < self._count:
            raise ValueError(f"chunk {index} is not in a part of {self._count} chunks")
        expected = stored_chunk_size(index, self._plain_size, block_size=self._block_size)
        if len(stored_chunk) != expected:
            raise ChunkTampered(f"chunk {index} is {len(stored_chunk)} bytes, not {expected}")
        view = memoryview(stored_chunk)
        try:
            return self._aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], associated_data(self._id, self._part, index, index == self._count - 1))
        except InvalidTag:
            raise ChunkTampered(f"chunk {index} of part {self._part} does not open (wrong key, moved, or changed)") from None

    def open_span(self, span: ChunkSpan, stored_chunks: Iterable[bytes | bytearray | memoryview]) -> Iterator[bytes]:
        """The plaintext of ``span``, trimmed to the range, from its stored chunks in order."""
        skip, left = span.skip, span.length
        index = span.first
        for chunk in stored_chunks:
            if index >= span.first + span.count:
                raise ValueError("more stored chunks than the span holds")
            plain = self.open(index, chunk)
            piece = plain[skip : skip + left]
            skip = 0
            left -= len(piece)
            index += 1
            if piece:
                yield piece
        if index != span.first + span.count:
            raise ChunkTampered(f"the span ended after {index - span.first} of its {span.count} chunks")


def _plain_chunk(block_size: int) -> int:
    if block_size <= OVERHEAD:
        raise ValueError(f"a block of {block_size} bytes holds no plaintext")
    return block_size - OVERHEAD


def _check_size(plain_size: int) -> None:
    if plain_size < 0:
        raise ValueError(f"a size of {plain_size} bytes")


def _check_place(key: bytes, encryption_id: bytes, part: int) -> None:
    if len(key) != DATA_KEY_BYTES:
        raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, not {len(key)}")
    if len(encryption_id) != ENCRYPTION_ID_BYTES:
        raise ValueError(f"an encryption id is {ENCRYPTION_ID_BYTES} bytes, not {len(encryption_id)}")
    if not 0 <= part <= MAX_PART:
        raise ValueError(f"part {part} is out of range")
