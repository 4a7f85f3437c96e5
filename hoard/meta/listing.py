"""S3 listing as pure logic: which keys a page holds, which roll up into common prefixes, and
where a scan in key order must go next. No I/O: a store feeds keys in order and follows the
seeks this asks for (see ``SqliteMetaStore.list_objects``).

Keys are compared in code point order, which is UTF-8 byte order (and SQLite's BINARY collation
on UTF-8 text).
"""

from __future__ import annotations

from collections.abc import Callable
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
    """One page of a listing, built from keys offered in order.

    ``offer`` takes the next key and its row; it returns None to go on with the next key, or a
    Bound to seek to (past a common prefix just returned: a page then costs the same however
    many keys lie under each prefix). Once ``done``, the listing is complete. A store that does
    not seek may go on offering keys: those under the prefix just returned are skipped.
    """

    def __init__(self, prefix: str, delimiter: str, limit: int, entry: Callable[[Any], Any]) -> None:
        self.prefix = prefix
        self.delimiter = delimiter
        self.limit = limit
        self.listing = Listing()
        self.done = limit <= 0
        self._entry = entry  # row -> the entry shown (made only for keys listed)
        self._count = 0

    def offer(self, key: str, row: Any) -> Bound | None:
        common = common_prefix(key, self.prefix, self.delimiter) if self.delimiter else None
        if common is not None:
            if self.listing.prefixes and self.listing.prefixes[-1] == common:
                return None
            if self._full():
                return None
            self.listing.prefixes.append(common)
            self.listing.next_marker = common
            self._count += 1
            nxt = prefix_end(common)
            if nxt is None:
                self.done = True
                return None
            return Bound(nxt, inclusive=True)
        if self._full():
            return None
        self.listing.entries.append(self._entry(row))
        self.listing.next_marker = key
        self._count += 1
        return None

    def _full(self) -> bool:
        """At the limit with another entry to show: the page is truncated and done."""
        if self._count == self.limit:
            self.listing.truncated = True
            self.done = True
            return True
        return False
