"""Console sessions: who is logged in, kept in the leader's memory only.

A session is found by a random token in an HttpOnly cookie; the user's secret key stays here (the
console signs the user's requests with it) and never reaches the browser. Logout and idle expiry
forget the session, so a cookie copied before a logout opens nothing afterwards. Sessions do not
survive a restart of the leader: the user logs in again.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

COOKIE = "hoard_console"
# Failed logins a client address may make in a window before it is told to wait.
MAX_FAILED_LOGINS = 10
FAILED_LOGIN_WINDOW = 300.0


@dataclass
class Session:
    token: str
    access_key: str
    secret_key: str
    user: str  # the ARN or name the server reports for the key, shown in the page header
    is_admin: bool
    csrf: str
    last_seen: float
    created: float
    # What the console made for this session (S3 and admin clients), made once when first needed.
    cache: dict[str, Any] = field(default_factory=dict)

    def csrf_ok(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.csrf.encode())


class SessionStore:
    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()  # pages' blocking work runs in threads

    def create(self, access_key: str, secret_key: str, user: str, is_admin: bool) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), access_key, secret_key, user, is_admin, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._expire(now)
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of ``token`` (its idle clock restarted), or None."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[token]
                return None
            session.last_seen = now
            return session

    def end(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def end_for_key(self, access_key: str) -> None:
        """A key was revoked or its user removed: its sessions end too."""
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.access_key == access_key]:
                del self._sessions[token]

    def login_allowed(self, client: str) -> bool:
        now = self._clock()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < FAILED_LOGIN_WINDOW]
            self._failures[client] = recent
            return len(recent) < MAX_FAILED_LOGINS

    def login_failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(self._clock())

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._sessions.items() if now - s.last_seen > self.idle_seconds]:
            del self._sessions[token]
