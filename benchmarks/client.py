"""A small HTTP/1.1 keep-alive client over asyncio streams that signs S3 requests (SigV4, header auth).

Hand-written rather than aiohttp/httpx: on a 2-core machine the client shares the CPU with the
server it measures, and a few hundred lines of straight-line code cost far less per request
than a general HTTP stack. One ``Connection`` is one TCP connection used by one worker at a
time; bodies are sent from memoryviews (no copies) and responses are drained into a counter
unless the caller wants the bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks import signer

_CHUNK = 1 << 20  # send and receive granularity; matches Hoard's 1 MiB buffers
_SMALL_BODY = 64 << 10  # bodies up to this go out in the same write as the head (one syscall)


class HTTPError(Exception):
    """The server answered with an unexpected status (the body's start is kept for the report)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    nbytes: int  # body bytes received
    body: bytes = b""  # only when the caller asked to keep it


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    region: str = "us-east-1"


@dataclass
class _Clock:
    """x-amz-date for the current second; formatting a timestamp per request is measurable."""

    second: int = -1
    value: str = ""

    def now(self) -> str:
        t = int(time.time())
        if t != self.second:
            self.second, self.value = t, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
        return self.value


_clock = _Clock()


@dataclass
class Connection:
    host: str
    port: int
    creds: Credentials
    _reader: asyncio.StreamReader | None = field(default=None, repr=False)
    _writer: asyncio.StreamWriter | None = field(default=None, repr=False)

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    async def _connect(self) -> None:
        # A 2 MiB stream limit lets the transport read big slices before pausing.
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=2 * _CHUNK)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | memoryview = b"",
        payload_hash: str | None = None,
        headers: dict[str, str] | None = None,
        keep_body: bool = False,
        expect: tuple[int, ...] = (200,),
    ) -> Response:
        """Send one signed request and read the whole answer.

        ``path`` is the raw /bucket/key; ``payload_hash`` defaults to the body's SHA-256 (pass
        the precomputed digest or UNSIGNED_PAYLOAD to spare the CPU). A status outside
        ``expect`` raises HTTPError.
        """
        encoded_path = signer.uri_encode(path, keep_slash=True)
        qs = signer.encode_query(query)
        if payload_hash is None:
            payload_hash = hashlib.sha256(body).hexdigest()
        signed = {"host": self.authority, "x-amz-content-sha256": payload_hash, "x-amz-date": _clock.now()}
        if headers:
            signed.update(headers)
        signed["authorization"] = signer.authorization(
            method=method,
            encoded_path=encoded_path,
            query=qs,
            headers=signed,
            payload_hash=payload_hash,
            access_key=self.creds.access_key,
            secret_key=self.creds.secret_key,
            region=self.creds.region,
            amz_date=signed["x-amz-date"],
        )
        target = f"{encoded_path}?{qs}" if qs else encoded_path
        lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in signed.items()]
        if body or method in ("PUT", "POST"):
            lines.append(f"content-length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        fresh = self._writer is None
        try:
            return await self._exchange(method, head, body, keep_body, expect)
        except (ConnectionError, asyncio.IncompleteReadError):
            # A kept-alive connection the server closed while idle fails on first use; one
            # retry on a fresh connection is what every HTTP client does. A fresh one failing
            # is a real error.
            self.close()
            if fresh:
                raise
            return await self._exchange(method, head, body, keep_body, expect)

    async def _exchange(self, method: str, head: bytes, body: bytes | memoryview, keep_body: bool, expect: tuple[int, ...]) -> Response:
        if self._writer is None:
            await self._connect()
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        if len(body) <= _SMALL_BODY:
            writer.write(head + bytes(body) if body else head)
        else:
            writer.write(head)
            view = memoryview(body)
            for start in range(0, len(view), _CHUNK):
                writer.write(view[start : start + _CHUNK])
                await writer.drain()
        await writer.drain()

        raw = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = raw[:-4].decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()

        keep = keep_body or status not in expect
        parts: list[bytes] = []
        nbytes = 0
        until_eof = False
        if method == "HEAD" or status in (204, 304) or status < 200:
            pass
        elif "content-length" in headers:
            remaining = int(headers["content-length"])
            while remaining:
                chunk = await reader.read(min(remaining, _CHUNK))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", remaining)
                remaining -= len(chunk)
                nbytes += len(chunk)
                if keep:
                    parts.append(chunk)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await _skip_trailers(reader)
                    break
                chunk = await reader.readexactly(size + 2)
                nbytes += size
                if keep:
                    parts.append(chunk[:-2])
        else:
            # No framing: the body runs to the end of the connection.
            until_eof = True
            while chunk := await reader.read(_CHUNK):
                nbytes += len(chunk)
                if keep:
                    parts.append(chunk)
        if until_eof or headers.get("connection", "").lower() == "close":
            self.close()
        body_bytes = b"".join(parts)
        if status not in expect:
            raise HTTPError(status, body_bytes)
        return Response(status, headers, nbytes, body_bytes if keep_body else b"")


async def _skip_trailers(reader: asyncio.StreamReader) -> None:
    while (await reader.readuntil(b"\r\n")) != b"\r\n":
        pass
