"""Decoding ``aws-chunked`` bodies: per-chunk signatures and trailing checksum headers.

Payload bytes are handed on as they arrive; a chunk's signature is checked when the chunk
ends. Nothing is committed before the whole body has been verified, so handing bytes on
early cannot make an unverified object visible.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from hoard.crypto import sigv4
from hoard.http.numbers import hexadecimal
from hoard.http.request import MAX_HEADER_SECTION, BodyStream
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.auth.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    chunk_string_to_sign,
    trailer_string_to_sign,
)
from hoard.s3.errors import S3Error

MAX_LINE = 4096
# The trailer is a header section sent after the body, so it gets the head's bound: S3's 8 KiB
# (hoard.http.request.MAX_HEADER_SECTION). Clients send one checksum and a signature; without a
# bound, a client could send trailer lines for as long as its declared length lets it, each kept.
MAX_TRAILER_SECTION = MAX_HEADER_SECTION
MAX_TRAILER_LINES = 16


class ChunkedDecoder:
    def __init__(self, body: BodyStream, auth: AuthContext) -> None:
        self._body = body
        self._auth = auth
        self._signed = auth.payload_hash in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
        self._with_trailer = auth.payload_hash in (
            STREAMING_SIGNED_TRAILER,
            STREAMING_UNSIGNED_TRAILER,
        )
        self._buf = bytearray()
        self._previous = auth.seed_signature
        self.trailers: dict[str, str] = {}

    async def _fill(self) -> None:
        data = await self._body.chunk()
        if not data:
            raise S3Error("IncompleteBody", "The request body ended in the middle of an aws-chunked chunk.")
        self._buf += data

    async def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                return line
            if len(self._buf) > MAX_LINE:
                raise S3Error("InvalidRequest", "Malformed aws-chunked chunk header.")
            await self._fill()

    def _verify_chunk(self, claimed: str | None, digest: str) -> None:
        if not self._signed:
            return
        if claimed is None:
            raise S3Error("SignatureDoesNotMatch", "A chunk of the aws-chunked body carries no chunk-signature.")
        text = chunk_string_to_sign(self._auth.amz_date, self._auth.scope, self._previous, digest)
        expected = sigv4.sign(self._auth.signing_key, text)
        if not sigv4.signatures_equal(expected, claimed):
            raise S3Error("SignatureDoesNotMatch", "The chunk signature does not match.")
        self._previous = claimed

    async def payload(self) -> AsyncIterator[bytes]:
        """Yield the decoded payload; raise an S3Error on a malformed or tampered body."""
        while True:
            line = await self._line()
            size_text, _, extension = line.partition(b";")
            size = hexadecimal(size_text)
            if size is None:
                raise S3Error("IncompleteBody", "The aws-chunked chunk size is not a hexadecimal number of at most 16 digits.")
            claimed = None
            ext = extension.decode("latin-1").strip()
            if ext.startswith("chunk-signature="):
                claimed = ext[len("chunk-signature="):]
            hasher = hashlib.sha256() if self._signed else None
            remaining = size
            while remaining:
                if not self._buf:
                    await self._fill()
                piece = bytes(self._buf[:remaining])
                del self._buf[: len(piece)]
                remaining -= len(piece)
                if hasher is not None:
                    hasher.update(piece)
                yield piece
            self._verify_chunk(claimed, hasher.hexdigest() if hasher else "")
            if size == 0:
                break
            while len(self._buf) < 2:
                await self._fill()
            if self._buf[:2] != b"\r\n":
                raise S3Error("IncompleteBody", "aws-chunked chunk data is longer than its declared size.")
            del self._buf[:2]
        await self._read_trailers()

    async def _read_trailers(self) -> None:
        lines: list[tuple[str, str]] = []
        signature = None
        count = size = 0
        while True:
            try:
                line = await self._line()
            except S3Error:
                if not self._with_trailer and not self._buf:
                    return  # some clients end the body right after the final 0-size chunk
                raise
            if not line:
                break
            count, size = count + 1, size + len(line) + 2
            if count > MAX_TRAILER_LINES or size > MAX_TRAILER_SECTION:
                raise S3Error(
                    "MalformedTrailerError",
                    f"The aws-chunked trailer has more than {MAX_TRAILER_LINES} lines or {MAX_TRAILER_SECTION} bytes.",
                )
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise S3Error("MalformedTrailerError", "An aws-chunked trailer line has no colon.")
            name, value = name.strip().lower(), value.strip()
            if name == "x-amz-trailer-signature":
                signature = value
            else:
                lines.append((name, value))
        if self._signed and self._with_trailer:
            if signature is None:
                raise S3Error("SignatureDoesNotMatch", "The trailer signature is missing.")
            canonical = "".join(f"{n}:{v}\n" for n, v in lines).encode()
            text = trailer_string_to_sign(self._auth.amz_date, self._auth.scope, self._previous, canonical)
            if not sigv4.signatures_equal(sigv4.sign(self._auth.signing_key, text), signature):
                raise S3Error("SignatureDoesNotMatch", "The trailer signature does not match.")
        self.trailers = dict(lines)
