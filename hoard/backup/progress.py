"""How a long run (backup, restore, verify) tells its caller how far it has got."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, label: str, total_bytes: int, count: int) -> None:
        """The work ahead: ``count`` versions of ``total_bytes`` bytes in all."""

    def advance(self, nbytes: int) -> None:
        """One more version done, of ``nbytes`` bytes."""

    def finish(self) -> None: ...


class Silent:
    """No report: for callers that only want the summary."""

    def start(self, label: str, total_bytes: int, count: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass
