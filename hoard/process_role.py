"""Which part a server process plays: the only process, or one of several workers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProcessRole:
    """What a process serving requests must know about the others.

    With one process (the default) it is the leader and there are no others. With several
    worker processes (``hoard server --workers N``) worker 0 is the leader: it alone runs the
    background work that must happen once (heal jobs, the scanner, reclaim, the orphan sweep)
    and answers the admin API; the other workers forward admin requests to it and report
    damaged objects through the index.
    """

    index: int = 0
    count: int = 1
    # When the drives were opened and their temp files swept: the orphan sweep removes only
    # unreferenced files older than this, so it never takes a file another worker is writing.
    started_at: float = field(default_factory=time.time)
    # Abstract unix socket on which the leader answers admin requests forwarded to it.
    leader_address: str | None = None

    @property
    def leader(self) -> bool:
        return self.index == 0

    @property
    def host_id(self) -> str:
        """Which process answered, for x-amz-id-2 (S3's id of the host that served a request)."""
        return f"w{self.index}"
