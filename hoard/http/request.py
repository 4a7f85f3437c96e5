"""The request as Hoard sees it: parsed once from the ASGI scope into a small immutable object."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_to_bytes

from hoard.http.errors import BadPercentEncoding, BodyTimeout, BodyTooLarge, ClientDisconnected, HeaderSectionTooLarge

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# S3 refuses a request whose header section exceeds 8 KiB (RequestHeaderSectionTooLarge); counted
# as on the wire, "name: value\r\n" per header.
MAX_HEADER_SECTION = 8192


def _decode(raw: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadPercentEncoding(raw) from None


def parse_query(raw: str) -> list[tuple[str, str]]:
    """Split a raw query string into decoded pairs, keeping order and empty values.

    ``+`` stays a plus: AWS clients encode spaces as %20, and S3 reads ``+`` literally in SigV4.
    """
    pairs: list[tuple[str, str]] = []
    if not raw:
        return pairs
    for item in raw.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_decode(name), _decode(value)))
    return pairs


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str  # percent-encoded, exactly as received
    path: str  # decoded
    raw_query: str
    query: list[tuple[str, str]]
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    client: str
    # Whether it came over TLS (the ASGI scheme "https"): what aws:SecureTransport in a policy tests.
    secure: bool
    receive: Receive = field(repr=False)

    @classmethod
    def from_scope(cls, scope: dict[str, Any], receive: Receive) -> Request:
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = parse_query(raw_query)
        params: dict[str, str] = {}
        for k, v in query:
            params.setdefault(k, v)
        section = sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if section > MAX_HEADER_SECTION:
            raise HeaderSectionTooLarge(MAX_HEADER_SECTION)
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            value = v.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        client = scope.get("client") or ("", 0)
        return cls(
            method=scope["method"].upper(),
            raw_path=raw_path,
            path=_decode(raw_path),
            raw_query=raw_query,
            query=query,
            params=params,
            headers=headers,
            client=f"{client[0]}:{client[1]}",
            secure=scope.get("scheme") in ("https", "wss"),
            receive=receive,
        )

    def with_headers(self, extra: dict[str, str]) -> Request:
        """This request with headers added (lower-case names); headers it has already stay."""
        return replace(self, headers={**extra, **self.headers})

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    @property
    def client_ip(self) -> str:
        """The peer's address without its port (an IPv6 address keeps its colons)."""
        return self.client.rsplit(":", 1)[0]

    def header_utf8(self, name: str) -> str | None:
        """A header value decoded as UTF-8 (HTTP hands us latin-1; S3 metadata travels as UTF-8)."""
        value = self.headers.get(name)
        if value is None:
            return None
        try:
            return value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            return value


class BodyStream:
    """Pulls the request body from ASGI in chunks; raises ClientDisconnected if the client leaves
    and BodyTimeout if it stalls (a client that declares more than it sends must not hold a
    handler and a temp file forever)."""

    def __init__(self, receive: Receive, idle_timeout: float | None = None) -> None:
        self._receive = receive
        self._done = False
        self._idle_timeout = idle_timeout

    async def chunk(self) -> bytes:
        """Next piece of body, or b"" at its end."""
        while not self._done:
            try:
                # A deadline on the running task, not wait_for's extra task per chunk.
                async with asyncio.timeout(self._idle_timeout):
                    message = await self._receive()
            except TimeoutError:
                self._done = True
                raise BodyTimeout() from None
            if message["type"] == "http.disconnect":
                self._done = True
                raise ClientDisconnected()
            if not message.get("more_body", False):
                self._done = True
            data = message.get("body", b"")
            if data:
                return data
        return b""

    async def read_all(self, limit: int) -> bytes:
        """The whole body, refusing more than ``limit`` bytes (for XML request documents)."""
        parts: list[bytes] = []
        size = 0
        while True:
            data = await self.chunk()
            if not data:
                return b"".join(parts)
            size += len(data)
            if size > limit:
                raise BodyTooLarge(limit)
            parts.append(data)
