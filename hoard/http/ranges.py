"""HTTP Range header parsing with S3's rules (single byte range; bad syntax means the whole object)."""

from __future__ import annotations

from hoard.http.errors import RangeNotSatisfiable
from hoard.http.numbers import decimal

# HTTP's optional whitespace; str.strip() would also take a latin-1 no-break space for it.
_OWS = " \t"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return (start, end_inclusive) for a Range header, None to serve the whole object.

    Raises RangeNotSatisfiable (S3's InvalidRange, 416) when the range is well-formed but unsatisfiable.
    """
    if not header:
        return None
    header = header.strip(_OWS)
    if not header.startswith("bytes="):
        return None
    spec = header[len("bytes="):].strip(_OWS)
    if "," in spec:
        # S3 does not serve multiple ranges; like S3, answer with the whole object.
        return None
    first, sep, last = spec.partition("-")
    if not sep:
        return None
    first, last = first.strip(_OWS), last.strip(_OWS)
    start, end = decimal(first), decimal(last)
    if (first and start is None) or (last and end is None) or (start is None and end is None):
        return None
    if start is None:  # bytes=-N: the last N bytes
        if end == 0:
            raise RangeNotSatisfiable(header, size)
        if size == 0:
            return None
        return max(0, size - end), size - 1
    if end is None:
        end = size - 1
    elif end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header, size)
    return start, min(end, size - 1)
