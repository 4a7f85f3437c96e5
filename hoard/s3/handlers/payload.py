"""Receiving request bodies: object data streamed into a blob, and small XML documents.

Every claim the client makes about the body (its length, Content-MD5, x-amz-content-sha256,
chunk signatures, x-amz-checksum-*) is checked before the blob is committed; a body that fails
any of them is thrown away and never becomes visible.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hoard.http.request import BodyStream
from hoard.model import Placement
from hoard.objects.data import ObjectData
from hoard.s3 import checksums
from hoard.s3.auth.chunked import ChunkedDecoder
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, content_md5
from hoard.s3.xml import MAX_XML_BODY
from hoard.storage.erasure import BLOCK_SIZE
from hoard.storage.erasure_set import ShardSetWriter, StoredData

WRITE_BUFFER = BLOCK_SIZE


@dataclass(frozen=True)
class StoredBlob:
    blob: str  # the shard id; "" when the bytes are inline
    size: int
    md5_hex: str
    checksum_algorithm: str | None
    checksum_value: str  # base64, "" when no algorithm
    checksum_raw: bytes
    inline: list[bytes] | None = None  # one fragment per drive of the placement, for the records
    pending: ShardSetWriter | None = None  # shard files written, not yet committed (defer_commit)


class BlobSink:
    """A stream of bytes into a ShardSetWriter in 1 MiB blocks, each handed to a worker thread
    while the next arrives; one copy per block, which the writer encodes where it lies.

    With its size known up front (``size``), the writer is made at once (inline for a small
    object). A stream of unknown length (a PostObject file, a chunked body) holds its first bytes
    until they are too many to be inline, or the stream ends: small uploads stay inline anyway.
    More than ``limit`` bytes is EntityTooLarge, as they stream.
    """

    def __init__(self, data: ObjectData, placement: Placement, hashers: list, limit: int, writer: ShardSetWriter | None = None) -> None:
        self._data = data
        self._placement = placement
        self._hashers = hashers
        self._limit = limit
        self.writer = writer
        self._buffer = bytearray()
        self._pending: asyncio.Future | None = None
        self.size = 0

    @classmethod
    async def start(cls, data: ObjectData, placement: Placement, hashers: list, limit: int, size: int | None, inline: bool = True) -> BlobSink:
        """A sink for ``size`` bytes (None: unknown); ``inline=False`` never keeps them inline."""
        writer = None
        if size is not None or not inline:
            writer = await data.writer(placement, hashers, inline and size is not None and data.inline(size))
        return cls(data, placement, hashers, limit, writer)

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._limit:
            # Refused while it streams: no need to store what is already too large.
            raise S3Error("EntityTooLarge", ProposedSize=str(self.size), MaxSizeAllowed=str(self._limit))
        self._buffer += chunk
        if self.writer is None:
            if len(self._buffer) < WRITE_BUFFER or self._data.inline(len(self._buffer)):
                return
            self.writer = await self._data.writer(self._placement, self._hashers, inline=False)
        while len(self._buffer) >= WRITE_BUFFER:
            if self._pending is not None:
                await self._pending
            with memoryview(self._buffer) as view:
                block = bytes(view[:WRITE_BUFFER])
            del self._buffer[:WRITE_BUFFER]
            # Write this block while the next one is being received.
            self._pending = asyncio.ensure_future(asyncio.to_thread(self.writer.write, block))

    async def end_of_data(self) -> int:
        """Every byte handed to the writer (and so hashed); the size of the stream."""
        if self._pending is not None:
            await self._pending
            self._pending = None
        if self.writer is None:
            self.writer = await self._data.writer(self._placement, self._hashers, inline=self._data.inline(self.size))
        if self._buffer:
            if self.writer.inline:  # small: hashing it costs less than a trip to a thread
                self.writer.write(bytes(self._buffer))
            else:
                await asyncio.to_thread(self.writer.write, bytes(self._buffer))
            self._buffer.clear()
        return self.size

    async def finish(self) -> StoredData:
        """The bytes all written; shard files still to be made durable (``ObjectData.commit_version``
        does it beside the version's records)."""
        assert self.writer is not None
        if self.writer.inline:
            return self.writer.commit()  # encodes a small buffer; no file to make durable
        return await asyncio.to_thread(self.writer.finish)

    async def commit(self) -> StoredData:
        """The bytes all written and their shard files durable (a part: no record follows)."""
        assert self.writer is not None
        if self.writer.inline:
            return self.writer.commit()
        return await asyncio.to_thread(self.writer.commit)

    async def abort(self) -> None:
        if self._pending is not None:
            try:
                await self._pending
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
        if self.writer is not None:
            await asyncio.to_thread(self.writer.abort)


def declared_length(ctx: Context) -> int | None:
    """The payload length the client announced (x-amz-decoded-content-length for aws-chunked);
    None for a body sent with ``Transfer-Encoding: chunked``, whose length shows at its end."""
    headers = ctx.req.headers
    if ctx.auth.streaming:
        raw = headers.get("x-amz-decoded-content-length")
    else:
        raw = headers.get("content-length")
        if raw is None and "chunked" in headers.get("transfer-encoding", "").lower():
            return None
    if raw is None:
        raise S3Error("MissingContentLength")
    try:
        value = int(raw)
    except ValueError:
        raise S3Error("InvalidArgument", "Content-Length is not a number") from None
    if value < 0:
        raise S3Error("InvalidArgument", "Content-Length is negative")
    return value


def _source(ctx: Context) -> tuple[AsyncIterator[bytes], ChunkedDecoder | None]:
    body = BodyStream(ctx.req.receive, ctx.services.settings.body_timeout)
    if ctx.auth.streaming:
        decoder = ChunkedDecoder(body, ctx.auth)
        return decoder.payload(), decoder

    async def plain() -> AsyncIterator[bytes]:
        while True:
            data = await body.chunk()
            if not data:
                return
            yield data

    return plain(), None


async def receive_blob(
    ctx: Context, max_size: int, placement: Placement, default_algorithm: str = "", inline: bool = False, defer_commit: bool = False
) -> StoredBlob:
    """Stream the request body into new durable shard files (or inline fragments), verifying it on the way.

    With ``defer_commit`` the shard files are written but not yet made durable: the caller
    passes ``pending`` on to ``ObjectData.commit_version``, which makes them durable beside the records.

    ``default_algorithm`` is computed when the client names none (parts of an upload that
    declared a checksum algorithm); naming a different one is an error.
    """
    expected = declared_length(ctx)
    if expected is not None and expected > max_size:
        raise S3Error("EntityTooLarge", ProposedSize=str(expected), MaxSizeAllowed=str(max_size))
    md5_claim = content_md5(ctx)
    algorithm, header_value = checksums.requested_algorithm(ctx.req.headers)
    claimed_checksum = checksums.decode(header_value, algorithm) if algorithm and header_value else None
    if default_algorithm:
        if algorithm and algorithm != default_algorithm:
            raise S3Error(
                "InvalidRequest",
                f"Checksum Type mismatch occurred, expected checksum Type: {default_algorithm.lower()}, actual checksum Type: {algorithm.lower()}",
            )
        algorithm = default_algorithm

    md5 = hashlib.md5()
    hashers: list = [md5]
    sha256 = None
    if ctx.auth.signed_payload_sha256:
        sha256 = hashlib.sha256()
        hashers.append(sha256)
    checksum = checksums.new_hasher(algorithm) if algorithm else None
    if checksum is not None:
        hashers.append(checksum)

    source, decoder = _source(ctx)
    sink = await BlobSink.start(ctx.services.data, placement, hashers, max_size, expected, inline)
    try:
        received = 0
        async for data in source:
            received += len(data)
            if expected is not None and received > expected:
                raise S3Error("IncompleteBody", "The body is longer than its declared length.")
            await sink.write(data)
        await sink.end_of_data()
        if expected is not None and received != expected:
            raise S3Error("IncompleteBody")

        if md5_claim is not None and md5.digest() != md5_claim:
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
        if sha256 is not None and sha256.hexdigest() != ctx.auth.payload_hash:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                ClientComputedContentSHA256=ctx.auth.payload_hash,
                S3ComputedContentSHA256=sha256.hexdigest(),
            )
        checksum_raw = b""
        if checksum is not None and algorithm is not None:
            checksum_raw = checksum.digest()
            if claimed_checksum is None and decoder is not None:
                trailer_value = decoder.trailers.get(checksums.header_name(algorithm))
                if trailer_value is None:
                    raise S3Error("InvalidRequest", f"The trailer {checksums.header_name(algorithm)} was announced but not sent.")
                claimed_checksum = checksums.decode(trailer_value, algorithm)
            if claimed_checksum is not None and claimed_checksum != checksum_raw:
                raise S3Error("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")
        stored = await (sink.finish() if defer_commit else sink.commit())
    except BaseException:
        await sink.abort()
        raise
    return StoredBlob(
        blob=stored.shard_id,
        size=stored.size,
        inline=stored.inline,
        md5_hex=md5.hexdigest(),
        checksum_algorithm=algorithm,
        checksum_value=checksums.encode(checksum_raw) if checksum_raw else "",
        checksum_raw=checksum_raw,
        pending=sink.writer if defer_commit and not stored.inline else None,
    )


async def receive_document(ctx: Context, limit: int = MAX_XML_BODY, body_checksum: bool = True) -> bytes:
    """A small request document (XML), verified against Content-MD5, x-amz-content-sha256 and checksums.

    ``body_checksum=False`` where x-amz-checksum-* headers describe something else than the body
    (CompleteMultipartUpload: the whole object's checksum).
    """
    if ctx.auth.streaming:
        source, decoder = _source(ctx)
        parts = []
        size = 0
        async for data in source:
            size += len(data)
            if size > limit:
                raise S3Error("MalformedXML", "The XML you provided was too large.")
            parts.append(data)
        body = b"".join(parts)
        trailers = decoder.trailers if decoder else {}
    else:
        body = await BodyStream(ctx.req.receive, ctx.services.settings.body_timeout).read_all(limit)
        trailers = {}
    md5_claim = content_md5(ctx)
    if md5_claim is not None and hashlib.md5(body).digest() != md5_claim:
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
    signed = ctx.auth.signed_payload_sha256
    if signed is not None and hashlib.sha256(body).hexdigest() != signed:
        raise S3Error("XAmzContentSHA256Mismatch")
    algorithm, value = checksums.requested_algorithm(ctx.req.headers) if body_checksum else (None, None)
    if algorithm:
        value = value or trailers.get(checksums.header_name(algorithm))
        if value is not None:
            hasher = checksums.new_hasher(algorithm)
            hasher.update(body)
            if hasher.digest() != checksums.decode(value, algorithm):
                raise S3Error("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")
    return body
