"""What a drill measures, from the acknowledged writes and what a site holds (pure: no I/O).

- RPO: of the writes acknowledged before the primary was lost, those the surviving site lacks at
  failover; the recovery point is the oldest of them, so the RPO is the loss's time minus its
  acknowledgement's (0 when none is missing): the span of acknowledged writes the failover lost
  sight of.
- RTO: from the loss until the first write acknowledged by the site that took over.
- Lost: acknowledged writes the site serving at the end lacks (or holds other bytes of).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hoard.dr.load import Ack

# What a site holds: key -> the ETags of its versions (quotes stripped).
Holding = Mapping[str, set[str]]


def missing(acks: Iterable[Ack], holding: Holding) -> list[Ack]:
    """The acknowledged writes whose version (the key with those bytes' ETag) is not held."""
    return [a for a in acks if a.md5 not in holding.get(a.key, ())]


def rpo(acks: Iterable[Ack], holding: Holding, loss: float) -> tuple[float, int]:
    """(RPO in seconds, how many writes acknowledged by ``loss`` are missing)."""
    gone = missing([a for a in acks if a.acked <= loss], holding)
    if not gone:
        return 0.0, 0
    return max(loss - min(a.acked for a in gone), 0.0), len(gone)


def rto(loss: float, first_write: float | None) -> float | None:
    """Seconds from the loss to the first write the surviving site acknowledged; None if none was."""
    return None if first_write is None else max(first_write - loss, 0.0)


Version = tuple[str, str, str]  # key, version id, ETag (or "delete-marker")


def differences(a: Iterable[Version], b: Iterable[Version]) -> tuple[int, int]:
    """How many versions only ``a`` holds, and how many only ``b`` does."""
    sa, sb = set(a), set(b)
    return len(sa - sb), len(sb - sa)
