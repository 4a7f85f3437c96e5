"""The errors a tier raises. One base class, so a caller that moves objects to and from tiers can
catch anything a tier says with one ``except TierError`` and still tell the cases apart."""

from __future__ import annotations


class TierError(Exception):
    """Something a tier could not do; the subclasses are the cases a caller handles differently.
    Raised as is for a refusal that retrying will not cure (wrong keys, no such bucket)."""


class TierCorrupt(TierError):
    """A stored frame, index or trailer that does not verify: the blob's bytes are not the bytes
    that were written. Retrying reads the same bytes again; the data must come from elsewhere."""


class TierMissing(TierError):
    """No blob under that ref (the tier's FileNotFoundError)."""


class TierUnavailable(TierError):
    """The tier cannot be reached now (a remote down, slow or throttling): try again later."""
