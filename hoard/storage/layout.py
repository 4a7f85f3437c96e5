"""How drives form erasure sets and where an object version goes: pure functions, no I/O.

The parity rule and the placement by hash are the cluster's (``hoard.cluster.placement``): one
machine's drives follow the same rule as a cluster's pools.
"""

from __future__ import annotations

from hoard.cluster.placement import (
    MAX_SET,
    MIN_SET,
    LayoutError,
    check_parity,
    default_parity,
    parity_range,
    place,
    reduced_parity,
    set_sizes,
)

__all__ = [
    "INLINE_LIMIT",
    "MAX_SET",
    "MIN_SET",
    "LayoutError",
    "check_parity",
    "default_parity",
    "erasure_sets",
    "parity_range",
    "place",
    "reduced_parity",
    "write_quorum",
]

INLINE_LIMIT = 128 * 1024


def erasure_sets(drive_count: int) -> list[list[int]]:
    """Group drive positions into equal sets of 4 to 16 drives (the largest size that divides evenly).

    One to three drives form a single set: one drive stores plainly, two or three mirror.
    """
    if drive_count < 1:
        raise LayoutError("at least one drive is needed")
    if drive_count < MIN_SET:
        return [list(range(drive_count))]
    sizes = set_sizes(drive_count)
    if not sizes:
        raise LayoutError(
            f"{drive_count} drives cannot be split into equal erasure sets of {MIN_SET} to {MAX_SET} drives; "
            "give a number of drives that can (for example 4-16, or a multiple of such a size)"
        )
    size = sizes[0]
    return [list(range(i, i + size)) for i in range(0, drive_count, size)]


def write_quorum(data: int, parity: int, spread: bool = False) -> int:
    """Shards that must be durable before a write is acknowledged.

    One server takes k when k = m. A set ``spread`` over a cluster's nodes always needs k+1: a
    zone holds up to m drives of each set, and a write made with a zone down would keep no
    redundancy at all (docs/cluster.md, "What survives which failure").
    """
    if parity == 0 or (data == parity and not spread):
        return data
    return data + 1
