"""S3 listing as pure logic: which keys a page holds, which roll up into common prefixes, and
where a scan in key order must go next. No I/O: a store feeds keys in order and follows the
seeks this asks for (see ``SqliteMetaStore.list_objects``).

Keys are compared in code point order, which is UTF-8 byte order (and SQLite's BINARY collation
on UTF-8 text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hoard.model import Listing


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``; None if none is."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not characters: skip them
                nxt = 0xE000
            return prefix[:-1] + chr(nxt)
        prefix = prefix[:-1]
    return None


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into (up to and including the first delimiter after
    ``prefix``), or None if it is listed on its own."""
    if not delimiter:
        return None
    pos = key.find(delimiter, len(prefix))
    return key[: pos + len(delimiter)] if pos >= 0 else None


def rolled_up_marker(marker: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix a marker lies in (or is), if any.

    A marker inside a common prefix (or the prefix itself, as a NextMarker) means that prefix
    was already returned: the listing resumes after everything under it.
    """
    if not delimiter or not marker.startswith(prefix):
        return None
    return common_prefix(marker, prefix, delimiter)


@dataclass(frozen=True)
class Bound:
    """Where a scan in key order starts: at ``key`` itself (inclusive) or just after it."""

    key: str
    inclusive: bool = False


def first_bound(prefix: str, delimiter: str, after: str) -> Bound | None:
    """Where the scan for keys after ``after`` starts; None if nothing can follow."""
    if prefix and (not after or after < prefix):
        return Bound(prefix, inclusive=True)
    common = rolled_up_marker(after, prefix, delimiter)
    if common is not None:
        nxt = prefix_end(common)
        return Bound(nxt, inclusive=True) if nxt is not None else None
    return Bound(after)


class Page:
    """One page of a listing, built from rows taken in key order.

    ``take`` reads rows until the page is full (``done``), a common prefix was just returned
    (it then returns the Bound to seek to: a page costs the same however many keys lie under
    each prefix), or the rows run out. A store that cannot seek takes with ``seek=False``: keys
    under the prefix just returned are then skipped.
    """

    def __init__(self, prefix: str, delimiter: str, limit: int, entry: Callable[[Any], Any]) -> None:
        self.prefix = prefix
        self.delimiter = delimiter
        self.limit = limit
        self.listing = Listing()
        self.done = limit <= 0
        self.last_key = ""  # the last key taken: a scan that ran out of rows goes on after it
        self._entry = entry  # row -> the entry shown (made only for keys listed)
        self._count = 0

    def take(self, rows: Iterable[Sequence[Any]], key_at: int = 1, seek: bool = True) -> tuple[Bound | None, int]:
        """Take rows (their key in column ``key_at``) in key order; returns where to seek (or
        None) and how many rows were read."""
        # The loop of every listing page: kept to local variables, it costs about what the
        # scan does per row.
        listing, entries, prefixes, entry = self.listing, self.listing.entries, self.listing.prefixes, self._entry
        delimiter, start, limit, count = self.delimiter, len(self.prefix), self.limit, self._count
        marker, key, read, bound = listing.next_marker, self.last_key, 0, None
        for row in rows:
            read += 1
            key = row[key_at]
            if delimiter:
                pos = key.find(delimiter, start)
                if pos >= 0:
                    common = key[: pos + len(delimiter)]
                    if prefixes and prefixes[-1] == common:
                        continue
                    if count == limit:
                        listing.truncated = self.done = True
                        break
                    prefixes.append(common)
                    marker = common
                    count += 1
                    if seek:
                        nxt = prefix_end(common)
                        if nxt is None:  # nothing sorts after this prefix
                            self.done = True
                        else:
                            bound = Bound(nxt, inclusive=True)
                        break
                    continue
            if count == limit:
                listing.truncated = self.done = True
                break
            entries.append(entry(row))
            marker = key
            count += 1
        self._count, self.last_key, listing.next_marker = count, key, marker
        return bound, read
