"""ConsoleApp: the console listener's ASGI entry: session, CSRF and admin checks, then a page."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from hoard.console import pages
from hoard.console.clients import Endpoint, call, session_admin
from hoard.console.sessions import COOKIE, Session, SessionStore
from hoard.console.web import SECURITY_HEADERS, Page, Refused, Router, cookies, json_response, redirect, render, static_files
from hoard.dashboard.snapshot import DashboardSources
from hoard.http.errors import BodyTimeout, BodyTooLarge, ClientDisconnected, HttpError
from hoard.http.request import Receive, Request, Send
from hoard.http.response import Response, send_response
from hoard.observe import Observer

log = logging.getLogger("hoard.console")
LOGIN_CSRF_COOKIE = "hoard_login_csrf"
SAFE_METHODS = ("GET", "HEAD")
OBSERVED = ("/metrics", "/health/live", "/health/ready")
ADMIN_RECHECK = 60.0  # seconds between checks that an administrator's keys are still one


class ConsoleApp:
    def __init__(
        self,
        endpoint: Endpoint,
        idle_seconds: float,
        status_page: bool = False,
        dashboard: DashboardSources | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.sessions = SessionStore(idle_seconds)
        self.status_page = status_page
        self.dashboard = dashboard  # what the dashboard and status pages read (None: not served here)
        # /metrics, /health/live and /health/ready: on this port no bucket name is in the way, so
        # they are where scrapers and probes look by default (the S3 port has them under /.hoard/).
        self.observer = observer
        self.static = static_files()
        self.router = Router()
        pages.register(self)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            req = Request.from_scope(scope, receive)
        except HttpError:
            await send_response(send, Response(400, {"content-type": "text/plain"}, b"Bad request"))
            return
        try:
            response = await self.answer(req)
        except asyncio.CancelledError:
            raise
        except ClientDisconnected:
            return
        except Exception:  # a bug in a page: an error page, never a dropped connection
            log.exception("console %s %s failed", req.method, req.path)
            response = Response(500, {"content-type": "text/plain; charset=utf-8", **SECURITY_HEADERS}, b"The console failed; see the server log.")
        try:
            await send_response(send, response, head_only=req.method == "HEAD")
        except OSError:
            pass

    async def answer(self, req: Request) -> Response:
        if req.path.startswith("/static/"):
            return self._static(req.path[len("/static/") :])
        if self.observer is not None and req.path in OBSERVED:
            return await self.observer.handle(dataclasses.replace(req, path="/.hoard" + req.path))
        route, match, other_method = self.router.find(req.method, req.path)
        if route is None:
            page = Page(req, {})
            return render("error.html", page, 405 if other_method else 404, message="Method not allowed." if other_method else "No such page.")
        page = Page(req, match)
        session = self.sessions.get(cookies(req).get(COOKIE))
        page.session = session
        if session is not None:
            page.flash = session.cache.pop("flash", [])
        if not route.public and session is None:
            if req.method in SAFE_METHODS:
                return redirect("/login?" + _next(req), 303)
            return render("error.html", page, 401, message="Your session has ended: log in again.")
        if req.method not in SAFE_METHODS:
            refusal = await self._forgery(page, route.public)
            if refusal is not None:
                return refusal
        if route.admin and not (session is not None and await self._still_admin(session)):
            return render("error.html", page, 403, message="This page is for administrators: your keys are not allowed admin actions.")
        try:
            return await route.handler(page)
        except Refused as refused:
            if req.path.startswith("/api/"):
                return json_response({"error": refused.message}, refused.status)
            if req.method in SAFE_METHODS or session is None:
                return render("error.html", page, refused.status, message=refused.message)
            # A form that failed: back to where it was sent from, the reason shown there.
            session.cache.setdefault("flash", []).append(("error", refused.message))
            return redirect(_back(page), 303)
        except (BodyTooLarge, BodyTimeout) as e:
            return render("error.html", page, 413 if isinstance(e, BodyTooLarge) else 408, message=str(e) or "The request body was refused.")

    async def _still_admin(self, session: Session) -> bool:
        """Whether the admin API still answers this session's keys: asked again each minute, so an
        administrator's rights taken away reach the console's admin pages within a minute."""
        if not session.is_admin:
            return False
        now = time.monotonic()
        if now - session.cache.get("admin_checked", 0.0) > ADMIN_RECHECK:
            admin = session_admin(session, self.endpoint)
            try:
                await call(lambda: admin.call("GET", "info"))
            except Refused as refused:
                if refused.status in (401, 403):
                    session.is_admin = False
                    return False
                raise
            session.cache["admin_checked"] = now
        return True

    async def _forgery(self, page: Page, public: bool) -> Response | None:
        """None if a state-changing request carries its session's CSRF token (or, for the login
        form, the token of its cookie) and comes from this console's own pages; else the refusal."""
        req = page.req
        origin = req.headers.get("origin")
        if origin is not None and origin != "null" and urlsplit(origin).netloc != req.host:
            return render("error.html", page, 403, message="Refused: the request came from another site.")
        offered = req.headers.get("x-csrf-token")
        if offered is None:
            kind = req.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind == "application/x-www-form-urlencoded":
                try:
                    offered = (await page.read_form()).get("csrf")
                except Refused as refused:
                    return render("error.html", page, refused.status, message=refused.message)
        if public:
            expected = cookies(req).get(LOGIN_CSRF_COOKIE)
            ok = expected is not None and offered is not None and secrets.compare_digest(expected.encode(), offered.encode())
        else:
            ok = page.session.csrf_ok(offered)
        if not ok:
            return render("error.html", page, 403, message="Refused: the form's security token is missing or stale. Reload the page and try again.")
        return None

    def _static(self, name: str) -> Response:
        found = self.static.get(name)
        if found is None:
            return Response(404, {"content-type": "text/plain"}, b"Not found")
        body, kind = found
        return Response(200, {"content-type": kind, "cache-control": "max-age=3600", "x-content-type-options": "nosniff"}, body)

    def flash(self, page: Page, message: str, kind: str = "ok") -> None:
        if page.session is not None:
            page.session.cache.setdefault("flash", []).append((kind, message))

    def cookie(self, page: Page, name: str, value: str, max_age: int | None = None) -> str:
        """A Set-Cookie value: HttpOnly and SameSite=Strict always, Secure over HTTPS."""
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if page.req.secure:
            parts.append("Secure")
        return "; ".join(parts)


def _next(req: Request) -> str:
    from urllib.parse import urlencode

    target = req.path + (f"?{req.raw_query}" if req.raw_query else "")
    return urlencode({"next": target})


def _back(page: Page) -> str:
    """Where a failed form returns to: its ``back`` field when it is a path of this console, else
    the page it was sent from when that is one, else the bucket list."""
    for candidate in (page.form.get("back", ""), page.req.headers.get("referer", "")):
        parts = urlsplit(candidate)
        if candidate and (not parts.netloc or parts.netloc == page.req.host) and parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/buckets"
