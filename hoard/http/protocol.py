"""uvicorn's httptools protocol, with a bound on the request head and an answer after a half-close.

httptools keeps every header byte until the header section ends, and uvicorn sets no limit: one
client sending header lines without end grows the server's memory without bound (measured: 160
MB of header lines, +160 MB of RSS, and no answer). Past ``MAX_HEAD`` bytes of an unfinished
head, the request is answered 400 RequestHeaderSectionTooLarge and the connection closed.
Heads up to that size reach the application, which applies S3's own 8 KiB limit with the
request's details (``hoard.http.request``).

A client that shuts down its sending side (a half-close) while a request is in progress still
gets its answer: uvicorn would close the connection at once. Mid-body, the request goes on with
the bytes that came, so a body shorter than its Content-Length is answered 400 IncompleteBody,
as S3 does, rather than dropped without a word. Over TLS there is no half-close to answer after:
a close_notify ends the connection (uvloop's TLS transport), and the request is a disconnect.

Over TLS, the protocol sees the decrypted stream: the head bound counts the same bytes.

An answer given before the request's body came (an error found first: no such bucket, the index
unavailable, an ``Expect: 100-continue`` answered with no 100) ends the connection, and a
connection closed with unread bytes in its socket is reset: the client, still sending the body
(as it may after waiting a while for a 100), is told "connection reset" instead of being given
the answer. So such a close lingers (``_Lingering``): the answer is followed by the end of the
server's side (a half-close), the rest of the body is read and dropped, and the connection
closes when the client closes its side, or after ``LINGER_SECONDS``. (Over TLS there is no
half-close to send: it closes at once.)
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD = 64 * 1024
# Seconds a TLS connection closed while idle waits for the client's close_notify. uvloop waits
# for it (30 s), and an idle pooled client, reading nothing, never sends it: every stop of the
# server would wait that long for each SDK that had a connection open.
TLS_CLOSE_GRACE = 1.0
# Seconds a connection answered before its body was read goes on reading (and dropping) what
# the client still sends, so that the client, done sending, reads the answer.
LINGER_SECONDS = 10.0

# (request id, MAX_HEAD) -> the body of the 400 answer to a head too large. The protocol served
# over HTTP writes it (S3's XML error document): HTTP does not know its shape.
HeadRefusal = Callable[[str, int], bytes]


def _plain_refusal(request_id: str, max_head: int) -> bytes:
    return f"request head larger than {max_head} bytes (request {request_id})\n".encode()


class _Lingering:
    """The connection's transport as uvicorn's request cycle sees it: its ``close`` lingers when
    the request's body has not all come (see the module's note)."""

    def __init__(self, transport: asyncio.Transport, protocol: BoundedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        if not self._protocol.linger():
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    refusal_body: ClassVar[HeadRefusal] = staticmethod(_plain_refusal)
    refusal_type: ClassVar[str] = "text/plain"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_bytes = 0
        self._refused = False
        self._lost = False
        self._lingering: asyncio.TimerHandle | None = None
        self._raw: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw = transport
        super().connection_made(_Lingering(transport, self))  # type: ignore[arg-type]

    def linger(self) -> bool:
        """Instead of closing now, end the server's side and drop the rest of the body until the
        client ends its own (or LINGER_SECONDS): whether it does."""
        cycle, raw = self.cycle, self._raw
        if self._lingering is not None:
            return True
        if raw is None or raw.is_closing() or cycle is None or not cycle.more_body or not raw.can_write_eof():
            return False
        self._lingering = self.loop.call_later(LINGER_SECONDS, raw.abort)
        raw.write_eof()  # after the answer, already written
        raw.resume_reading()
        return True

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused or self._lingering is not None:
            return
        super().data_received(data)
        # Counted after parsing, so that a chunk ending the head and carrying body bytes is not
        # held against the head; memory stays within MAX_HEAD plus one read.
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse()

    def on_body(self, body: bytes) -> None:
        """A piece of body the application has not yet a piece waiting for is kept as it came:
        uvicorn's request cycle hands ``bytes(cycle.body)`` on, which is the same object for a
        bytes one, where it appended each piece to a bytearray and copied that out again (two
        copies of every byte of an upload, in the event loop)."""
        cycle = self.cycle
        if cycle.body or cycle.response_complete or (self.parser.should_upgrade() and self._should_upgrade()):
            super().on_body(body)  # appends to what waits (a bytes + bytes, or uvicorn's bytearray)
            return
        cycle.body = body  # type: ignore[assignment]
        if len(body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        super().shutdown()
        if self._lingering is not None and self._raw is not None:
            self._raw.abort()  # its answer is out: a server stopping does not wait for the rest of the body
        self._close_idle_tls()

    def timeout_keep_alive_handler(self) -> None:
        super().timeout_keep_alive_handler()
        self._close_idle_tls()

    def _close_idle_tls(self) -> None:
        """Over TLS, an idle connection just closed (its close_notify sent) is dropped if the
        client has not answered with its own within ``TLS_CLOSE_GRACE``: nothing is lost, no
        request being in progress, and TLS does not require waiting for it."""
        if self.scheme == "https" and self.transport.is_closing() and not self._lost:
            self.loop.call_later(TLS_CLOSE_GRACE, self._drop)

    def _drop(self) -> None:
        if not self._lost:
            self.transport.abort()

    def eof_received(self) -> bool | None:
        if self._lingering is not None:
            return None  # the client is done: close
        if self.scheme == "https":
            # Over TLS this is the client's close_notify, after which uvloop's TLS layer drops
            # whatever is written and closes (keeping the connection open is not its to grant):
            # the request in progress learns of it as a disconnect, as uvicorn has it.
            return None
        cycle = self.cycle
        if cycle is None or cycle.response_complete or self._in_head:
            return None  # nothing to answer: close, as uvicorn does
        cycle.keep_alive = False  # the answer is the connection's last
        if cycle.more_body:
            cycle.more_body = False  # what came is all that will come
            cycle.message_event.set()
        return True  # keep the transport open to write the answer

    def send_400_response(self, msg: str) -> None:
        """Bytes that are not HTTP followed a request (more body than its Content-Length said, say).

        uvicorn answers 400 and closes at once, before the request in progress has its answer:
        the client then reads a bare 400 instead of S3's error for what it sent. That answer is
        let through first; the connection closes after it and the stray bytes are dropped.
        """
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            super().send_400_response(msg)
            return
        self._refused = True  # the parser is broken: nothing more is read from this connection
        cycle.keep_alive = False
        if cycle.more_body:
            cycle.more_body = False  # what came before the garbage is all the body there is
            cycle.message_event.set()

    def _refuse(self) -> None:
        self._refused = True
        request_id = secrets.token_hex(8).upper()
        body = self.refusal_body(request_id, MAX_HEAD)
        head = (
            f"HTTP/1.1 400 Bad Request\r\ncontent-type: {self.refusal_type}\r\n"
            f"content-length: {len(body)}\r\nx-amz-request-id: {request_id}\r\nconnection: close\r\n\r\n"
        )
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(head.encode("ascii") + body)
            self.transport.close()


def refusing_with(body: HeadRefusal, content_type: str) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn, answering a head too large with ``body`` (of ``content_type``)."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"refusal_body": staticmethod(body), "refusal_type": content_type, "__module__": __name__},
    )
