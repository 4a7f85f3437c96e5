"""The console's HTTP plumbing: routes, forms, cookies, templates, and the answers pages give."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2

from hoard.http.request import BodyStream, Request
from hoard.http.response import Response

FORM_LIMIT = 1024 * 1024  # a policy document or a lifecycle rule set, at most
BODY_TIMEOUT = 60.0

# Set on every page: no framing (clickjacking), no inline script or style from anywhere (so a key
# or a metadata value that slipped past escaping still could not run), nothing fetched from other sites.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class Refused(Exception):
    """A page's request that cannot be answered as asked (a bad form, a missing bucket): shown to
    the user as ``message`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Page:
    """One console request as the pages see it."""

    req: Request
    match: dict[str, str]
    session: Any = None  # sessions.Session once logged in
    form: dict[str, str] = field(default_factory=dict)
    flash: list[tuple[str, str]] = field(default_factory=list)

    def arg(self, name: str, default: str = "") -> str:
        return self.args.get(name, default)

    @property
    def args(self) -> dict[str, str]:
        """The query string read as browsers write forms (``+`` is a space), unlike S3's reading."""
        parsed = self.__dict__.get("_args")
        if parsed is None:
            try:
                parsed = dict(parse_qsl(self.req.raw_query, keep_blank_values=True, errors="strict"))
            except UnicodeDecodeError:
                raise Refused("The query string is not UTF-8.") from None
            self.__dict__["_args"] = parsed
        return parsed

    def field(self, name: str, default: str = "") -> str:
        return self.form.get(name, default)

    def required(self, name: str, what: str) -> str:
        value = self.form.get(name, "").strip() or self.arg(name).strip()
        if not value:
            raise Refused(f"{what} is required.")
        return value

    async def body(self, limit: int) -> bytes:
        return await BodyStream(self.req.receive, BODY_TIMEOUT).read_all(limit)

    async def read_form(self) -> dict[str, str]:
        kind = self.req.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise Refused("Forms are sent as application/x-www-form-urlencoded.", 415)
        raw = await self.body(FORM_LIMIT)
        try:
            self.form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise Refused("The form is not UTF-8.") from None
        return self.form


def cookies(req: Request) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(req.headers.get("cookie", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


Handler = Callable[[Page], Awaitable[Response]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    public: bool = False  # reachable without a session (login, static files, the status page)
    admin: bool = False  # only for users the admin API answers (root, or a policy allowing admin:*)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str, handler: Handler, public: bool = False, admin: bool = False) -> None:
        # {name} matches one path segment; the segment is a bucket name or a user name, never a key
        # (keys travel in the query string, where no path normalisation can touch them).
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
        self.routes.append(Route(method, pattern, handler, public, admin))

    def find(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route, its path parameters, and whether the path exists under another method."""
        other_method = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, m.groupdict(), False
            other_method = True
        return None, {}, other_method


_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("hoard.console", "templates"),
    autoescape=True,  # every value is HTML-escaped unless a template says otherwise (none does)
    trim_blocks=True,
    lstrip_blocks=True,
)


def url(path: str, **params: Any) -> str:
    """A console URL: ``path`` with its segments percent-encoded, and query parameters."""
    cleaned = {k: v for k, v in params.items() if v not in (None, "")}
    target = quote(path, safe="/")
    return f"{target}?{urlencode(cleaned)}" if cleaned else target


_templates.globals["url"] = url


def _size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


_templates.filters["size"] = _size


def render(name: str, page: Page, status: int = 200, **values: Any) -> Response:
    session = page.session
    html = _templates.get_template(name).render(
        session=session,
        csrf=session.csrf if session is not None else "",
        flash=page.flash,
        path=page.req.path,
        **values,
    )
    headers = {"content-type": "text/html; charset=utf-8", **SECURITY_HEADERS}
    return Response(status=status, headers=headers, body=html.encode("utf-8"))


def redirect(location: str, status: int = 303) -> Response:
    return Response(status=status, headers={"location": location, **SECURITY_HEADERS})


def json_response(value: Any, status: int = 200) -> Response:
    headers = {"content-type": "application/json", **SECURITY_HEADERS}
    return Response(status=status, headers=headers, body=json.dumps(value).encode())


_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".txt": "text/plain; charset=utf-8"}


def static_files() -> dict[str, tuple[bytes, str]]:
    """The console's assets, read once: a fixed set of names, so no request path reaches the disk."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("hoard.console").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), _STATIC_TYPES[suffix])
    return files
