"""Console sessions: idle expiry, logout, a revoked key's sessions, the login throttle."""

from __future__ import annotations

from hoard.console.sessions import FAILED_LOGIN_WINDOW, MAX_FAILED_LOGINS, SessionStore
from tests.unit.fake_clock import FakeClock


def test_a_session_ends_after_its_idle_time_and_not_before() -> None:
    clock = FakeClock(1000.0)
    store = SessionStore(idle_seconds=600, clock=clock)
    session = store.create("AK", "SK", "AK", is_admin=False)
    clock.now += 599
    assert store.get(session.token) is session  # in use: the idle clock starts again
    clock.now += 599
    assert store.get(session.token) is session
    clock.now += 601
    assert store.get(session.token) is None
    assert store.get(session.token) is None  # and it does not come back


def test_logout_and_revoked_keys_end_sessions() -> None:
    store = SessionStore(idle_seconds=600, clock=FakeClock(1000.0))
    one, two, other = store.create("AK", "SK", "AK", False), store.create("AK", "SK", "AK", False), store.create("BK", "SK", "BK", False)
    store.end(one.token)
    assert store.get(one.token) is None and store.get(two.token) is two
    store.end_for_key("AK")
    assert store.get(two.token) is None and store.get(other.token) is other
    assert store.get("") is None and store.get(None) is None and store.get("forged") is None


def test_tokens_are_unguessable_and_csrf_is_checked_exactly() -> None:
    store = SessionStore(idle_seconds=600, clock=FakeClock(1000.0))
    a, b = store.create("AK", "SK", "AK", False), store.create("AK", "SK", "AK", False)
    assert a.token != b.token and a.csrf != b.csrf and len(a.token) >= 40
    assert a.csrf_ok(a.csrf) and not a.csrf_ok(b.csrf) and not a.csrf_ok(None) and not a.csrf_ok(a.csrf[:-1])


def test_failed_logins_are_throttled_per_address_for_a_window() -> None:
    clock = FakeClock(1000.0)
    store = SessionStore(idle_seconds=600, clock=clock)
    for _ in range(MAX_FAILED_LOGINS):
        assert store.login_allowed("10.0.0.1")
        store.login_failed("10.0.0.1")
    assert not store.login_allowed("10.0.0.1")
    assert store.login_allowed("10.0.0.2")  # another address is not held back
    clock.now += FAILED_LOGIN_WINDOW + 1
    assert store.login_allowed("10.0.0.1")
