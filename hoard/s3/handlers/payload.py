"""Receiving request bodies: object data streamed into a blob, and small XML documents.

Every claim the client makes about the body (its length, Content-MD5, x-amz-content-sha256,
chunk signatures, x-amz-checksum-*) is checked before the blob is committed; a body that fails
any of them is thrown away and never becomes visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

from hoard.http.numbers import field_decimal
from hoard.http.request import BodyStream
from hoard.model import Placement
from hoard.objects.data import ObjectData
from hoard.objects.encryption import DataKey
from hoard.s3 import checksums
from hoard.s3.auth.chunked import ChunkedDecoder
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, content_md5
from hoard.s3.xml import MAX_XML_BODY
from hoard.storage.erasure import BLOCK_SIZE
from hoard.storage.erasure_set import ShardSetWriter, StoredData

WRITE_BUFFER = BLOCK_SIZE
# Blocks of one upload handed to worker threads and not yet written. Two: the next block's MD5
# starts the moment the one before is done, in its thread, not after a trip through the busy
# event loop (MD5, one thread per upload, is what bounds a large PUT).
IN_FLIGHT = 2


@dataclass(frozen=True)
class StoredBlob:
    blob: str  # the shard id; "" when the bytes are inline
    size: int
    md5_hex: str
    checksum_algorithm: str | None
    checksum_value: str  # base64, "" when no algorithm
    checksum_raw: bytes
    inline: list[bytes] | None = None  # one fragment per drive of the placement, for the records
    stored: int = 0  # what the shard files (or inline fragments) hold, when encrypted
    pending: ShardSetWriter | None = None  # shard files written, not yet committed (defer_commit)
    missed: int = 0  # drives the committed shard files did not reach (a part then asks for healing)


class BodyDigests:
    """The digests a body is checked against, computed as it streams (``hashers``): MD5 (the
    ETag, and Content-MD5), SHA-256 for a signed payload, and the checksum the client names
    (x-amz-checksum-* in a header or a trailer). ``verify`` compares each with its claim.

    ``default_algorithm`` is computed when the client names none (parts of an upload that
    declared one); naming another one is an error. ``body_checksum=False``: the checksum headers
    describe something else than this body (CompleteMultipartUpload: the whole object).
    """

    def __init__(self, ctx: Context, default_algorithm: str = "", body_checksum: bool = True) -> None:
        self._md5_claim = content_md5(ctx)
        self._sha256_claim = ctx.auth.signed_payload_sha256
        algorithm, value = checksums.requested_algorithm(ctx.req.headers) if body_checksum else (None, None)
        self._checksum_claim = checksums.decode(value, algorithm) if algorithm and value else None
        if default_algorithm:
            if algorithm and algorithm != default_algorithm:
                raise S3Error(
                    "InvalidRequest",
                    f"Checksum Type mismatch occurred, expected checksum Type: {default_algorithm.lower()}, actual checksum Type: {algorithm.lower()}",
                )
            algorithm = default_algorithm
        self.algorithm = algorithm or ""
        self.md5 = hashlib.md5()
        self._sha256 = hashlib.sha256() if self._sha256_claim is not None else None
        self._checksum = checksums.new_hasher(self.algorithm) if self.algorithm else None
        self.hashers: list = [h for h in (self.md5, self._sha256, self._checksum) if h is not None]
        self.checksum_raw = b""

    def update(self, data: bytes) -> None:
        """Feed a whole (small) body at once."""
        for h in self.hashers:
            h.update(data)

    def verify(self, trailers: dict[str, str] | None, trailer_required: bool = False) -> None:
        """Every digest against its claim (the checksum's in ``trailers`` when no header gave
        it; ``trailer_required``: it was announced there). BadDigest, XAmzContentSHA256Mismatch."""
        if self._md5_claim is not None and self.md5.digest() != self._md5_claim:
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
        if self._sha256 is not None and self._sha256.hexdigest() != self._sha256_claim:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                ClientComputedContentSHA256=self._sha256_claim or "",
                S3ComputedContentSHA256=self._sha256.hexdigest(),
            )
        if self._checksum is None:
            return
        self.checksum_raw = self._checksum.digest()
        claim = self._checksum_claim
        if claim is None and trailers is not None:
            value = trailers.get(checksums.header_name(self.algorithm))
            if value is None and trailer_required:
                raise S3Error("InvalidRequest", f"The trailer {checksums.header_name(self.algorithm)} was announced but not sent.")
            claim = checksums.decode(value, self.algorithm) if value is not None else None
        if claim is not None and claim != self.checksum_raw:
            raise S3Error("BadDigest", f"The {self.algorithm} you specified did not match the calculated checksum.")

    @property
    def checksum_value(self) -> str:
        """The computed checksum, base64 ("" without an algorithm); after ``verify``."""
        return checksums.encode(self.checksum_raw) if self.checksum_raw else ""


class _Pieces:
    """Received chunks kept as they came until a block's worth is there, then joined once: the
    block is the only copy made of them (a growing bytearray, then a block cut from it, was two)."""

    def __init__(self) -> None:
        self._parts: list[bytes | memoryview] = []
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, chunk: bytes) -> None:
        if chunk:
            # Kept, not copied: only an immutable bytes object cannot change under it.
            self._parts.append(chunk if isinstance(chunk, bytes) else bytes(chunk))
            self.size += len(chunk)

    def take(self, n: int) -> bytes:
        """The first ``n`` bytes (``n`` <= len) as one bytes object; the rest stays, uncopied."""
        taken: list[bytes | memoryview] = []
        need = n
        while need:
            part = self._parts[0]
            if len(part) <= need:
                taken.append(self._parts.pop(0))
                need -= len(part)
            else:
                view = memoryview(part)
                taken.append(view[:need])
                self._parts[0] = view[need:]
                need = 0
        self.size -= n
        return taken[0] if len(taken) == 1 and isinstance(taken[0], bytes) else b"".join(taken)

    def take_all(self) -> bytes:
        return self.take(self.size)


class _InOrder:
    """Jobs handed to different worker threads run one after another, in the order their
    tickets were taken; after one fails, those behind it fail without running."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._issued = 0
        self._next = 0
        self._failed: BaseException | None = None

    def ticket(self) -> int:
        self._issued += 1
        return self._issued - 1

    def run(self, ticket: int, job: Callable[[], None]) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self._next == ticket)
        try:
            if self._failed is not None:
                raise RuntimeError("an earlier block of this upload failed") from self._failed
            job()
        except BaseException as e:
            self._failed = self._failed or e
            raise
        finally:
            with self._turn:
                self._next += 1
                self._turn.notify_all()


class BlobSink:
    """A stream of bytes into a ShardSetWriter in 1 MiB blocks, each handed to a worker thread
    while the next arrives; one copy per block, which the writer encodes where it lies.

    With its size known up front (``size``), the writer is made at once (inline for a small
    object). A stream of unknown length (a PostObject file, a chunked body) holds its first bytes
    until they are too many to be inline, or the stream ends: small uploads stay inline anyway.
    More than ``limit`` bytes is EntityTooLarge, as they stream.
    """

    def __init__(
        self, data: ObjectData, placement: Placement, hashers: list, limit: int, writer: ShardSetWriter | None = None, key: DataKey | None = None, part: int = 0
    ) -> None:
        self._data = data
        self._placement = placement
        self._hashers = hashers
        self._limit = limit
        self.writer = writer
        self._key = key  # encrypt with it (as ``part`` of its version); None: kept as sent
        self._part = part
        self._buffer = _Pieces()
        self._pending: deque[asyncio.Future] = deque()
        self._order = _InOrder()
        self.size = 0

    @classmethod
    async def start(
        cls, data: ObjectData, placement: Placement, hashers: list, limit: int, size: int | None, inline: bool = True, key: DataKey | None = None, part: int = 0
    ) -> BlobSink:
        """A sink for ``size`` bytes (None: unknown); ``inline=False`` never keeps them inline."""
        writer = None
        if size is not None or not inline:
            writer = await data.writer(placement, hashers, inline and size is not None and data.inline(size), key, part)
        return cls(data, placement, hashers, limit, writer, key, part)

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._limit:
            # Refused while it streams: no need to store what is already too large.
            raise S3Error("EntityTooLarge", ProposedSize=str(self.size), MaxSizeAllowed=str(self._limit))
        self._buffer.add(chunk)
        if self.writer is None:
            if len(self._buffer) < WRITE_BUFFER or self._data.inline(len(self._buffer)):
                return
            self.writer = await self._data.writer(self._placement, self._hashers, False, self._key, self._part)
        while len(self._buffer) >= WRITE_BUFFER:
            if len(self._pending) >= IN_FLIGHT:
                await self._oldest_done()
            block = self._buffer.take(WRITE_BUFFER)
            # Written while the next ones are being received.
            job = partial(self.writer.write, block)
            self._pending.append(asyncio.ensure_future(asyncio.to_thread(self._order.run, self._order.ticket(), job)))

    async def _oldest_done(self) -> None:
        """Wait for the oldest block in a thread. Shielded: a request cancelled while it waits
        must not cancel a block not yet started, or the blocks behind it would wait for their
        turn (``_InOrder``) for ever; it stays queued for ``abort`` to wait out."""
        await asyncio.shield(self._pending[0])
        self._pending.popleft()

    async def end_of_data(self) -> int:
        """Every byte handed to the writer (and so hashed); the size of the stream."""
        while self._pending:
            await self._oldest_done()
        if self.writer is None:
            self.writer = await self._data.writer(self._placement, self._hashers, self._data.inline(self.size), self._key, self._part)
        if self._buffer:
            if self.writer.inline:  # small: hashing it costs less than a trip to a thread
                self.writer.write(self._buffer.take_all())
            else:
                await asyncio.to_thread(self.writer.write, self._buffer.take_all())
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
        # Every block in a thread is done (written or failed) before the writer is aborted.
        while self._pending:
            try:
                await asyncio.shield(self._pending.popleft())
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
    value = field_decimal(raw)
    if value is None:
        name = "x-amz-decoded-content-length" if ctx.auth.streaming else "Content-Length"
        raise S3Error("InvalidArgument", f"{name} is not a decimal number of bytes.", ArgumentName=name, ArgumentValue=raw)
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
    ctx: Context,
    max_size: int,
    placement: Placement,
    default_algorithm: str = "",
    inline: bool = False,
    defer_commit: bool = False,
    key: DataKey | None = None,
    part: int = 0,
) -> StoredBlob:
    """Stream the request body into new durable shard files (or inline fragments), verifying it on the way.

    With ``defer_commit`` the shard files are written but not yet made durable: the caller
    passes ``pending`` on to ``ObjectData.commit_version``, which makes them durable beside the records.

    ``default_algorithm`` is computed when the client names none (parts of an upload that
    declared a checksum algorithm); naming a different one is an error. With ``key`` the bytes
    are encrypted (as ``part`` of their version), the digests taken of the plaintext.
    """
    expected = declared_length(ctx)
    if expected is not None and expected > max_size:
        raise S3Error("EntityTooLarge", ProposedSize=str(expected), MaxSizeAllowed=str(max_size))
    digests = BodyDigests(ctx, default_algorithm)
    source, decoder = _source(ctx)
    sink = await BlobSink.start(ctx.services.data, placement, digests.hashers, max_size, expected, inline, key, part)
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
        digests.verify(decoder.trailers if decoder is not None else None, trailer_required=True)
        stored = await (sink.finish() if defer_commit else sink.commit())
    except BaseException:
        await sink.abort()
        raise
    return StoredBlob(
        blob=stored.shard_id,
        size=stored.size,
        inline=stored.inline,
        md5_hex=digests.md5.hexdigest(),
        checksum_algorithm=digests.algorithm or None,
        checksum_value=digests.checksum_value,
        checksum_raw=digests.checksum_raw,
        pending=sink.writer if defer_commit and not stored.inline else None,
        stored=stored.stored,
        missed=stored.missed,
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
    digests = BodyDigests(ctx, body_checksum=body_checksum)
    digests.update(body)
    digests.verify(trailers)
    return body
