"""How drives form erasure sets and where an object version goes: pure functions, no I/O."""

from __future__ import annotations

import hashlib

from hoard.model import Placement

MIN_SET = 4
MAX_SET = 16
INLINE_LIMIT = 128 * 1024


class LayoutError(ValueError):
    """The drives given cannot be arranged into erasure sets."""


def erasure_sets(drive_count: int) -> list[list[int]]:
    """Group drive positions into equal sets of 4 to 16 drives (the largest size that divides evenly).

    One to three drives form a single set: one drive stores plainly, two or three mirror.
    """
    if drive_count < 1:
        raise LayoutError("at least one drive is needed")
    if drive_count < MIN_SET:
        return [list(range(drive_count))]
    for size in range(MAX_SET, MIN_SET - 1, -1):
        if drive_count % size == 0:
            return [list(range(i, i + size)) for i in range(0, drive_count, size)]
    raise LayoutError(
        f"{drive_count} drives cannot be split into equal erasure sets of {MIN_SET} to {MAX_SET} drives; "
        "give a number of drives that can (for example 4-16, or a multiple of such a size)"
    )


def default_parity(set_size: int) -> int:
    if set_size == 1:
        return 0
    if set_size < MIN_SET:
        return set_size - 1  # mirrors: every drive holds a whole copy
    if set_size <= 5:
        return 2
    if set_size <= 7:
        return 3
    return 4


def reduced_parity(set_size: int) -> int:
    """Parity for REDUCED_REDUNDANCY: less than STANDARD where the set allows it."""
    if set_size < MIN_SET:
        return default_parity(set_size)
    return 1 if set_size <= 5 else 2


def parity_range(set_size: int) -> tuple[int, int]:
    """The least and the most parity a set of ``set_size`` drives may have."""
    if set_size == 1:
        return 0, 0
    # Two or three drives mirror by default (one data fragment, the others copies): parity there
    # is more than half the set, which larger sets never allow.
    return 1, set_size - 1 if set_size < MIN_SET else set_size // 2


def check_parity(parity: int, set_size: int) -> None:
    low, high = parity_range(set_size)
    if set_size == 1 and parity != 0:
        raise LayoutError("a single drive has no parity")
    if not low <= parity <= high:
        raise LayoutError(f"parity must be between {low} and {high} for erasure sets of {set_size} drives")


def write_quorum(data: int, parity: int) -> int:
    """Shards that must be durable before a write is acknowledged."""
    if parity == 0 or data == parity:
        return data
    return data + 1


def _key_hash(bucket: str, key: str) -> int:
    digest = hashlib.blake2b(f"{bucket}/{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def place(bucket: str, key: str, set_count: int, set_size: int, parity: int) -> Placement:
    """The set and fragment-to-drive order of a version, stable for a bucket and key.

    Rotating the order per key spreads data fragments (the ones reads prefer) over all drives.
    """
    h = _key_hash(bucket, key)
    set_index = h % set_count
    data = set_size - parity
    start = (h // set_count) % set_size
    distribution = tuple((start + i) % set_size for i in range(set_size))
    return Placement(set_index, data, parity, distribution)
