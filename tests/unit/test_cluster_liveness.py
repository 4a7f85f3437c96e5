"""``hoard.cluster.liveness.Liveness``: a node's silence after the database was away is not held
against it until it has had time to beat again."""

from __future__ import annotations

from hoard.cluster.liveness import Liveness
from hoard.cluster.view import ClusterView
from tests.unit.fake_clock import FakeClock

NODES = {"n1": "https://n1", "n2": "https://n2", "n3": "https://n3"}


def view(*live: str) -> ClusterView:
    return ClusterView(1, (), NODES, frozenset(live))


def test_reads_in_step_take_each_view_as_it_is():
    clock = FakeClock(0.0)
    liveness = Liveness(gap=6.0, grace=6.0, clock=clock)
    assert liveness.judge(view("n1", "n2", "n3")).live == {"n1", "n2", "n3"}
    clock.now = 2.0
    assert liveness.judge(view("n1", "n3")).live == {"n1", "n3"}  # n2 silent: it is


def test_after_reads_held_up_the_nodes_live_before_stay_live_for_the_grace_then_silence_counts():
    clock = FakeClock(0.0)
    liveness = Liveness(gap=6.0, grace=6.0, clock=clock)
    liveness.judge(view("n1", "n2", "n3"))
    clock.now = 20.0  # the database away for 18 s: nobody could beat
    assert liveness.judge(view("n1")).live == {"n1", "n2", "n3"}
    clock.now = 22.0
    assert liveness.judge(view("n1", "n2")).live == {"n1", "n2", "n3"}  # n3 not yet back: still in grace
    clock.now = 26.5
    assert liveness.judge(view("n1", "n2")).live == {"n1", "n2"}  # grace over: n3 is silent


def test_the_grace_keeps_no_node_the_layout_no_longer_has_nor_one_silent_before():
    clock = FakeClock(0.0)
    liveness = Liveness(gap=6.0, grace=6.0, clock=clock)
    liveness.judge(view("n1", "n2"))  # n3 already silent
    clock.now = 30.0
    judged = liveness.judge(ClusterView(2, (), {"n1": "https://n1", "n3": "https://n3"}, frozenset({"n1"})))
    assert judged.live == {"n1"}  # n2 left the layout, n3 was not live before
