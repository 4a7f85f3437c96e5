"""What a drill measures (hoard/dr/measure.py), from acknowledged writes and what a site holds."""

from __future__ import annotations

from hoard.dr.load import Ack
from hoard.dr.measure import differences, missing, rpo, rto
from hoard.dr.ops import remote_name


def ack(key: str, at: float, md5: str = "m", site: str = "primary") -> Ack:
    return Ack(key, md5, site, at)


def test_nothing_missing_is_an_rpo_of_zero():
    acks = [ack("a", 1.0), ack("b", 2.0)]
    assert rpo(acks, {"a": {"m"}, "b": {"m"}}, loss=3.0) == (0.0, 0)


def test_the_rpo_reaches_back_to_the_oldest_missing_write():
    acks = [ack("a", 1.0), ack("b", 2.0), ack("c", 2.5), ack("d", 2.9)]
    assert rpo(acks, {"a": {"m"}, "c": {"m"}}, loss=3.0) == (1.0, 2)  # b (2.0) and d (2.9) missing


def test_writes_acknowledged_after_the_loss_do_not_count():
    acks = [ack("a", 1.0), ack("late", 3.5, site="secondary")]
    assert rpo(acks, {"a": {"m"}}, loss=3.0) == (0.0, 0)


def test_other_bytes_under_the_key_are_missing():
    acks = [ack("a", 1.0, md5="new")]
    assert missing(acks, {"a": {"old"}}) == acks
    assert missing(acks, {"a": {"old", "new"}}) == []  # among the key's versions


def test_rto():
    assert rto(10.0, 12.5) == 2.5
    assert rto(10.0, None) is None


def test_differences():
    a = [("k", "v1", "e1"), ("k", "v2", "e2")]
    assert differences(a, list(a)) == (0, 0)
    assert differences(a, [("k", "v1", "e1"), ("x", "v3", "e3")]) == (1, 1)


def test_remote_names_from_urls():
    assert remote_name("http://127.0.0.1:9000") == "127.0.0.1-9000"
    assert remote_name("https://dr.example.com/") == "dr.example.com"
