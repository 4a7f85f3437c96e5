"""``hoard.meta.outage.Outage``: how long a call on the index's database is tried, on a clock the
test moves."""

from __future__ import annotations

from hoard.meta.outage import PROBE_SECONDS, Outage
from tests.unit.fake_clock import FakeClock


def test_while_the_database_answers_each_call_has_its_own_window():
    clock = FakeClock(100.0)
    outage = Outage(8.0, clock)
    assert outage.deadline(100.0) == 108.0 and outage.deadline(105.0) == 113.0
    assert outage.wait(108.0) == 8.0


def test_an_outage_counts_every_later_calls_window_from_its_start():
    clock = FakeClock(100.0)
    outage = Outage(8.0, clock)
    outage.unreachable()  # at 100
    clock.now = 103.0
    assert outage.deadline(103.0) == 108.0  # not 111: the outage began at 100
    assert outage.deadline(95.0) == 103.0  # a call older than the outage keeps its own
    clock.now = 120.0
    assert outage.deadline(120.0) == 108.0  # spent: tried once ...
    assert outage.wait(outage.deadline(120.0)) == PROBE_SECONDS  # ... briefly


def test_a_later_failure_does_not_move_the_outages_start_and_an_answer_ends_it():
    clock = FakeClock(100.0)
    outage = Outage(8.0, clock)
    outage.unreachable()
    clock.now = 104.0
    outage.unreachable()
    assert outage.since == 100.0
    outage.answered()
    assert outage.since is None and outage.deadline(104.0) == 112.0


def test_no_connection_is_an_outage_only_if_nothing_was_answered_while_waiting_for_one():
    clock = FakeClock(100.0)
    outage = Outage(8.0, clock)
    outage.answered()  # at 100
    outage.no_connection(asked=99.0)  # others were answered meanwhile: the pool was busy, not gone
    assert outage.since is None
    clock.now = 110.0
    outage.no_connection(asked=101.0)  # nothing answered since it asked: the outage began then
    assert outage.since == 101.0
