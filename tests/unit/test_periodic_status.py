"""A background loop's status record moves with its rounds, and keeps its failures."""

from __future__ import annotations

import asyncio

from hoard.dashboard.health import overall_state
from hoard.meta.errors import CommitFailed
from hoard.workers.periodic import Periodic


class Flaky(Periodic):
    what = "flaky"

    def __init__(self) -> None:
        super().__init__(0.001)
        self.calls = 0

    async def run_once(self) -> None:
        self.calls += 1
        if self.calls == 2:
            raise OSError("disk on fire")


def test_rounds_errors_and_times_are_recorded():
    async def scenario() -> dict:
        worker = Flaky()
        assert worker.status()["rounds"] == 0 and worker.status()["next_run"] is None
        worker.start()
        while worker.run_status.rounds < 3:
            await asyncio.sleep(0.001)
        await worker.stop()
        return worker.status()

    status = asyncio.run(scenario())
    assert status["name"] == "flaky" and status["interval"] == 0.001
    assert status["rounds"] >= 3 and status["errors"] == 1 and status["last_error"] == "OSError: disk on fire"
    assert 0 < status["last_error_at"] <= status["last_finished"]
    assert status["last_started"] <= status["last_finished"]
    assert not status["running"] and status["next_run"] == status["last_finished"] + 0.001


def test_overall_state():
    assert overall_state(["online", "online"], []) == "ok"
    assert overall_state(["online", "healing"], []) == "degraded"
    assert overall_state(["online", "offline"], []) == "degraded"
    assert overall_state(["online"], ["erasure set 0: 1 of 4 drives online, 3 needed to write"]) == "down"


class IndexDown(Periodic):
    what = "reclaim"

    def __init__(self) -> None:
        super().__init__(0.001)

    async def run_once(self) -> None:
        raise CommitFailed("the metadata transaction failed: couldn't get a connection")


def test_an_index_unavailable_is_one_line_each_round_and_still_counted(caplog):
    async def scenario() -> dict:
        worker = IndexDown()
        worker.start()
        while worker.run_status.rounds < 2:
            await asyncio.sleep(0.001)
        await worker.stop()
        return worker.status()

    with caplog.at_level("WARNING", logger="hoard"):
        status = asyncio.run(scenario())
    assert status["errors"] >= 2 and status["last_error"].startswith("CommitFailed")
    lines = [r for r in caplog.records if r.name == "hoard"]
    assert lines and all(r.levelname == "WARNING" and r.exc_info is None for r in lines)
    assert "reclaim: the metadata index is unavailable" in lines[0].getMessage()
