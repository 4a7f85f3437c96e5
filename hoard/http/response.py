"""Responses: a status, headers and a body that is either bytes or an async stream of chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from hoard.http.request import Send


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    # A body length announced without sending a body (HEAD answers).
    content_length: int | None = None


def xml_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    h = {"content-type": "application/xml"}
    if headers:
        h.update(headers)
    return Response(status=status, headers=h, body=body)


def _encode_header(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        # Metadata values may carry UTF-8; S3 sends the bytes as they were received.
        return value.encode("utf-8")


async def send_response(send: Send, response: Response, head_only: bool = False) -> None:
    headers = [(k.encode("latin-1"), _encode_header(v)) for k, v in response.headers.items()]
    if response.stream is None:
        length = response.content_length if response.content_length is not None else len(response.body)
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        body = b"" if head_only else response.body
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    if response.content_length is not None:
        headers.append((b"content-length", str(response.content_length).encode()))
    stream = response.stream
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
