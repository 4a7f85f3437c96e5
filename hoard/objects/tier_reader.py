"""Reading an archived version's bytes straight from its tier (GLACIER_IR, the IA classes, or a
copy of the tier being made): the reader ``hoard.objects.data.stream`` and ``read_all`` take,
like ``ShardSetReader``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from hoard.model import ObjectRecord
from hoard.nowait import WouldBlock
from hoard.tiers import TierStore

PIECE = 1024 * 1024  # bytes a tier read hands the sender at a time


@dataclasses.dataclass
class TierReader:
    """Bytes [start, end] of an archived version, read from its tier. Every read waits on the
    tier, so none is tried in the event loop."""

    tier: TierStore
    record: ObjectRecord
    start: int
    end: int
    inline_data: bytes | None = None
    _source: Iterator[bytes] | None = None
    _held: bytes = b""

    @property
    def segments(self) -> list[str]:
        # What ``close`` releases (``stream`` closes a reader that has any).
        return [self.record.archive.ref] if self._source is not None and self.record.archive else []

    def pieces(self) -> Iterator[tuple[int, int]]:
        for lo in range(self.start, self.end + 1, PIECE):
            yield lo, min(self.end, lo + PIECE - 1)

    def begin(self) -> TierReader:
        """Start the read: the tier's trailer and index are read now, so that a tier that cannot
        be reached (TierUnavailable) or a blob that is gone is an error before any byte is sent."""
        assert self.record.archive is not None
        if self._source is None:
            self._source = self.tier.read(self.record.archive.ref, self.start, self.end)
        return self

    def read_piece(self, piece: tuple[int, int], nowait: bool = False) -> bytes:
        if nowait:
            raise WouldBlock()
        assert self._source is not None, "begin() first"
        want = piece[1] - piece[0] + 1
        held = bytearray(self._held)
        while len(held) < want:
            held += next(self._source)
        self._held = bytes(held[want:])
        return bytes(held[:want])

    def close(self) -> None:
        source, self._source = self._source, None
        if source is not None and hasattr(source, "close"):
            source.close()
