"""HTTP Range header parsing with S3's rules (single byte range; bad syntax means the whole object)."""

from __future__ import annotations

from hoard.http.errors import RangeNotSatisfiable


def _digits(text: str) -> bool:
    # str.isdigit() is also true of "²" (a latin-1 byte in a header), which int() refuses.
    return text.isascii() and text.isdigit()


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return (start, end_inclusive) for a Range header, None to serve the whole object.

    Raises RangeNotSatisfiable (S3's InvalidRange, 416) when the range is well-formed but unsatisfiable.
    """
    if not header:
        return None
    header = header.strip()
    if not header.startswith("bytes="):
        return None
    spec = header[len("bytes="):].strip()
    if "," in spec:
        # S3 does not serve multiple ranges; like S3, answer with the whole object.
        return None
    first, sep, last = spec.partition("-")
    if not sep:
        return None
    first, last = first.strip(), last.strip()
    if (first and not _digits(first)) or (last and not _digits(last)):
        return None
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(header, size)
        if size == 0:
            return None
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header, size)
    return start, min(end, size - 1)
