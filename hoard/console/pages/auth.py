"""Login and logout: a session from an access key and its secret, checked by the S3 port itself."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from hoard.console.clients import admin_client, call, s3_client
from hoard.console.sessions import COOKIE
from hoard.console.web import Page, Refused, redirect, render
from hoard.http.response import Response

# Codes that say the keys themselves are wrong; any other answer (AccessDenied included) means
# the server knew the key and checked its signature.
BAD_KEYS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId")


def register(console: Any) -> None:
    async def home(page: Page) -> Response:
        return redirect("/buckets")

    async def login_form(page: Page) -> Response:
        if page.session is not None:
            return redirect(_safe_next(page.arg("next")))
        token = secrets.token_urlsafe(24)
        response = render("login.html", page, login_csrf=token, next=_safe_next(page.arg("next")), error="")
        response.headers["set-cookie"] = console.cookie(page, "hoard_login_csrf", token)
        return response

    async def login(page: Page) -> Response:
        client_ip = page.req.client_ip
        if not console.sessions.login_allowed(client_ip):
            return _again(page, "Too many failed logins from your address: wait a few minutes.", 429)
        access_key = page.field("access_key").strip()
        secret_key = page.field("secret_key")
        if not access_key or not secret_key:
            return _again(page, "Enter an access key and its secret key.", 400)
        s3 = s3_client(console.endpoint, access_key, secret_key)
        try:
            await call(s3.list_buckets)
        except Refused as refused:
            if any(code in refused.message for code in BAD_KEYS):
                console.sessions.login_failed(client_ip)
                return _again(page, "The access key or the secret key is wrong.", 401)
            if refused.status >= 500:
                return _again(page, refused.message, 502)
            # AccessDenied: a valid key whose policies do not allow listing buckets.
        admin = admin_client(console.endpoint, access_key, secret_key)
        try:
            await call(lambda: admin.call("GET", "info"))
            is_admin = True
        except Refused:
            is_admin = False
        session = console.sessions.create(access_key, secret_key, access_key, is_admin)
        session.cache.update(s3=s3, admin=admin, admin_checked=time.monotonic())
        response = redirect(_safe_next(page.field("next")))
        response.headers["set-cookie"] = console.cookie(page, COOKIE, session.token)
        return response

    async def logout(page: Page) -> Response:
        console.sessions.end(page.session.token)
        response = redirect("/login")
        response.headers["set-cookie"] = console.cookie(page, COOKIE, "", max_age=0)
        return response

    def _again(page: Page, message: str, status: int) -> Response:
        token = secrets.token_urlsafe(24)
        response = render("login.html", page, status, login_csrf=token, next=_safe_next(page.field("next")), error=message)
        response.headers["set-cookie"] = console.cookie(page, "hoard_login_csrf", token)
        return response

    console.router.add("GET", "/", home)
    console.router.add("GET", "/login", login_form, public=True)
    console.router.add("POST", "/login", login, public=True)
    console.router.add("POST", "/logout", logout)


def _safe_next(target: str) -> str:
    """Only a path of this console: a login link must not send the user to another site."""
    parts = urlsplit(target)
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/buckets"
    return target
