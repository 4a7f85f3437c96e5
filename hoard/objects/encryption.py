"""Encryption at rest of a version's bytes, in ``hoard.crypto``'s formats: the data key a version's
``Encryption`` names, a writer that encrypts what it is handed, and a reader that opens only the
stored chunks a read needs.

What the drives, the healer and the tiers see is the stored bytes (ciphertext): every stored
chunk is one erasure block, covered by its bitrot checksum, so healing never needs a key. The
sizes clients see (``ObjectRecord.size``, ``Segment.size``) are the plaintext's; ``stored_size``
is what the shard files hold.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoard.crypto import customer
from hoard.crypto.chunks import BLOCK_SIZE, ChunkSpan, ChunkTampered, Decryptor, Encryptor, plain_range_to_chunks, stored_chunk_size
from hoard.crypto.keyfile import KeyFileError
from hoard.crypto.keys import (
    KeyEnvelopeError,
    MasterKey,
    envelope_key_id,
    new_data_key,
    new_encryption_id,
    open_data_key,
    read_master_key_file,
    reseal,
    seal_data_key,
)
from hoard.crypto.kms import DEFAULT_ALIAS, KeyManager
from hoard.model import Encryption, ObjectRecord
from hoard.nowait import WouldBlock
from hoard.storage.erasure_set import ShardSetWriter, StoredData, hash_beside

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_C = "SSE-C"


class EncryptionUnavailable(Exception):
    """A version's data key cannot be had here: ``reason`` says why (no master key, a mode this
    server does not serve yet, a key that does not open)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DataKey:
    """A version's (or an upload's) data key in the clear, with what binds its chunks."""

    key: bytes
    encryption_id: bytes


def _context(mode: str, encryption_id: str) -> bytes:
    # The envelope is bound to the version it belongs to: a sealed key copied onto another
    # version's record does not open there.
    return f"hoard-sse:{mode}:{encryption_id}".encode()


class KeyService:
    """The keys the object engine encrypts with: the deployment's master key (SSE-S3), the KMS
    (SSE-KMS) and the customer's keys (SSE-C, never kept).

    With a key file, the master key follows it: a rotation (``hoard.objects.rotation``, in the
    leader) writes the new key first and the retired one after it, and every process sees the
    change at its next use of the key (one ``stat`` of the file), sealing with the new key and
    still opening what the old one sealed until the rotation has resealed it all.
    """

    def __init__(
        self,
        master: MasterKey | None,
        kms: KeyManager | None = None,
        *,
        key_file: Path | None = None,
        previous: Iterable[MasterKey] = (),
        refuse_writes: str = "",
    ) -> None:
        self.master = master
        self.kms = kms
        self.key_file = key_file
        self._known: dict[bytes, MasterKey] = {k.raw_id: k for k in previous}
        if master is not None:
            self._known[master.raw_id] = master
        self._file_state: tuple[int, int] | None = self._stat()
        # Set when the deployment's master key (as the drives record it) is none of this
        # server's: new versions would be sealed under a key the rest of the data does not use.
        self.refuse_writes = refuse_writes
        self._lock = threading.Lock()

    @property
    def previous(self) -> list[MasterKey]:
        """The retired keys still known (a rotation under way), not the current one."""
        return [k for k in self._known.values() if self.master is None or k.raw_id != self.master.raw_id]

    def use(self, master: MasterKey, previous: Iterable[MasterKey]) -> None:
        """Seal with ``master`` from now on, and open with it and ``previous``."""
        with self._lock:
            self.master = master
            self._known = {k.raw_id: k for k in previous}
            self._known[master.raw_id] = master
            self._file_state = self._stat()

    def master_for(self, key_id: bytes) -> MasterKey | None:
        """The master key whose id an envelope names, if this server has it (the key file read
        again first if it changed: another process may have rotated the key)."""
        self._follow_file()
        return self._known.get(key_id)

    def fresh(self, encryption: Encryption) -> Encryption:
        """``encryption`` with its data key sealed under the current master key (as it is if it
        already is, or if it is not sealed by a master key): what a rotation stores, and what a
        write that began before a rotation commits."""
        if encryption.mode != SSE_S3:
            return encryption
        current = self._master()
        sealed = base64.b64decode(encryption.sealed_key)
        try:
            sealed_by = envelope_key_id(sealed)
        except KeyEnvelopeError as e:
            raise EncryptionUnavailable(f"the data key does not open: {e}") from None
        if sealed_by == current.raw_id:
            return encryption
        old = self.master_for(sealed_by)
        if old is None:
            raise EncryptionUnavailable(f"the data key is sealed by master key {sealed_by.hex()}, which this server does not have")
        context = _context(SSE_S3, encryption.encryption_id)
        resealed = reseal(sealed, old, current, context)
        return dataclasses.replace(encryption, sealed_key=base64.b64encode(resealed).decode("ascii"))

    def _stat(self) -> tuple[int, int] | None:
        if self.key_file is None:
            return None
        try:
            st = os.stat(self.key_file)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino

    def _follow_file(self) -> None:
        """Read the key file again if it changed since it was read."""
        state = self._stat()
        if state is None or state == self._file_state:
            return
        assert self.key_file is not None
        try:
            keys = read_master_key_file(self.key_file)
        except KeyFileError:
            return  # a file being replaced, or damaged: keep serving with the keys in memory
        self.use(keys[0], keys[1:])

    def new_sse_s3(self) -> tuple[Encryption, DataKey]:
        """A fresh data key for a new version or upload, and the Encryption its record keeps."""
        master = self._sealing_master()
        key, encryption_id = new_data_key(), new_encryption_id()
        sealed = seal_data_key(master, key, _context(SSE_S3, encryption_id.hex()))
        encryption = Encryption(SSE_S3, encryption_id.hex(), base64.b64encode(sealed).decode("ascii"))
        return encryption, DataKey(key, encryption_id)

    @staticmethod
    def new_sse_c(customer_key: bytes) -> tuple[Encryption, DataKey]:
        """A fresh data key sealed with the customer's key, which is never kept: only its MD5 (S3
        echoes it) and a salted fingerprint (to tell a wrong key from a damaged envelope)."""
        key, encryption_id = new_data_key(), new_encryption_id()
        sealed = customer.seal_data_key(customer_key, key, _context(SSE_C, encryption_id.hex()))
        encryption = Encryption(
            SSE_C, encryption_id.hex(), base64.b64encode(sealed).decode("ascii"),
            customer_key_md5=customer.key_md5(customer_key), customer_fingerprint=customer.fingerprint(customer_key),
        )  # fmt: skip
        return encryption, DataKey(key, encryption_id)

    def new_sse_kms(self, kms_key: str | None, context: dict[str, str], bucket_key: bool = False) -> tuple[Encryption, DataKey]:
        """A fresh data key from the KMS, under ``kms_key`` (None: the default key, alias/aws/s3)
        for ``context`` (S3's encryption context: the client's pairs and the object's ARN), which
        the record keeps to ask for it again. hoard.crypto.kms.KmsError if the KMS refuses."""
        if self.refuse_writes:
            raise EncryptionUnavailable(self.refuse_writes)
        kms = self._kms()
        try:
            # S3's default key: the server makes it at its start (hoard.server), before any worker serves.
            key_ref = kms_key if kms_key is not None else DEFAULT_ALIAS
            arn = kms.resolve(key_ref).arn
            key, sealed = kms.generate_data_key(key_ref, context)
        except KeyEnvelopeError as e:  # the KMS's own keys do not open with this master key
            raise EncryptionUnavailable(f"the KMS's keys do not open: {e}") from None
        encryption = Encryption(
            SSE_KMS, new_encryption_id().hex(), base64.b64encode(sealed).decode("ascii"),
            kms_key_id=arn, kms_context=encode_context(context), bucket_key=bucket_key,
        )  # fmt: skip
        return encryption, DataKey(key, bytes.fromhex(encryption.encryption_id))

    def data_key(self, encryption: Encryption, customer_key: bytes | None = None) -> DataKey:
        """The data key of a version's encryption, unsealed; EncryptionUnavailable if it cannot be,
        customer.CustomerKeyError for an SSE-C version read without its key or with another,
        hoard.crypto.kms.KmsError (a key disabled or gone) as S3 answers it."""
        try:
            sealed = base64.b64decode(encryption.sealed_key, validate=True)
            if encryption.mode == SSE_C:
                check_customer_key(encryption, customer_key)
                assert customer_key is not None
                key = customer.open_data_key(customer_key, sealed, _context(SSE_C, encryption.encryption_id))
            elif encryption.mode == SSE_KMS:
                key = self._kms().decrypt(sealed, decode_context(encryption.kms_context))
            elif encryption.mode == SSE_S3:
                master = self.master_for(envelope_key_id(sealed)) or self._master()
                key = open_data_key(master, sealed, _context(SSE_S3, encryption.encryption_id))
            else:
                raise EncryptionUnavailable(f"{encryption.mode} is not served by this version of Hoard")
        except (KeyEnvelopeError, binascii.Error, ValueError) as e:
            # A master key (or the KMS's, sealed by it) that is not the one this data key needs.
            raise EncryptionUnavailable(f"the data key does not open: {e}") from None
        return DataKey(key, bytes.fromhex(encryption.encryption_id))

    def _kms(self) -> KeyManager:
        if self.kms is None:
            raise EncryptionUnavailable("no KMS is configured")
        return self.kms

    def _master(self) -> MasterKey:
        self._follow_file()
        if self.master is None:
            raise EncryptionUnavailable("no master key is configured")
        return self.master

    def _sealing_master(self) -> MasterKey:
        if self.refuse_writes:
            raise EncryptionUnavailable(self.refuse_writes)
        return self._master()


def encode_context(context: dict[str, str]) -> str:
    """An encryption context as S3 carries it (x-amz-server-side-encryption-context): base64 of its JSON."""
    return base64.b64encode(json.dumps(context, separators=(",", ":"), sort_keys=True).encode("utf-8")).decode("ascii")


def decode_context(value: str) -> dict[str, str]:
    """``encode_context``'s inverse; ValueError for anything but base64 of a JSON object of strings."""
    try:
        context = json.loads(base64.b64decode(value, validate=True)) if value else {}
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ValueError(str(e)) from None
    if not isinstance(context, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        raise ValueError("the encryption context is not a JSON object of strings")
    return context


def check_customer_key(encryption: Encryption | None, customer_key: bytes | None) -> None:
    """SSE-C's rule for a read: the key the version was written with, and none for another version."""
    if encryption is not None and encryption.mode == SSE_C:
        if customer_key is None:
            raise customer.key_required()
        if not customer.matches(customer_key, encryption.customer_fingerprint):
            raise customer.wrong_key()
    elif customer_key is not None:
        raise customer.CustomerKeyError("InvalidRequest", "The encryption parameters are not applicable to this object.")


class EncryptingWriter:
    """A ShardSetWriter's interface over one: the plaintext hashed (MD5, checksums) and
    encrypted, the stored chunks written. Called from one thread at a time, as the writer it wraps."""

    def __init__(self, inner: ShardSetWriter, key: DataKey, part: int, hashers: Iterable[Any]) -> None:
        self.inner = inner
        self.hashers = list(hashers)
        self._encryptor = Encryptor(key.key, key.encryption_id, part)
        self._finished: StoredData | None = None

    @property
    def inline(self) -> bool:
        return self.inner.inline

    @property
    def shard_id(self) -> str:
        return self.inner.shard_id

    @property
    def placement(self) -> Any:
        return self.inner.placement

    @property
    def size(self) -> int:
        return self._encryptor.plain_size

    def write(self, data: bytes | memoryview) -> None:
        # The plaintext hashed beside its encryption, as a plain PUT hashes beside its encoding.
        hash_beside(self.hashers, data, lambda: self._encrypt(data))

    def _encrypt(self, data: bytes | memoryview) -> None:
        for chunk in self._encryptor.feed(data):
            self.inner.write(chunk)

    def finish(self) -> StoredData:
        return self._done(self.inner.finish)

    def commit(self) -> StoredData:
        return self._done(self.inner.commit)

    def _done(self, step: Callable[[], StoredData]) -> StoredData:
        """The last chunk written (once), then the inner writer's step; sizes as clients see them."""
        if self._finished is None:
            self.inner.write(self._encryptor.finish())
        stored = step()
        self._finished = StoredData(stored.shard_id, self._encryptor.plain_size, stored.inline, stored=stored.size, missed=stored.missed)
        return self._finished

    def abort(self) -> None:
        self.inner.abort()


def decrypt_inline(record: ObjectRecord, key: DataKey, stored: bytes) -> bytes:
    """An inline version's plaintext, from its stored bytes (one part, a few chunks at most)."""
    decryptor = Decryptor(key.key, key.encryption_id, 0, record.size)
    span = plain_range_to_chunks(0, record.size, record.size)
    return b"".join(decryptor.open_span(span, _split(stored, span)))


def _split(stored: bytes, span: ChunkSpan) -> Iterator[bytes]:
    for i in range(span.count):
        yield stored[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE]


RawOpen = Callable[[int, int], Any]  # stored bytes [start, end] of the version: a reader of shards or of a tier


@dataclass
class _Part:
    number: int  # 0 for a single-part object, else the part's number: bound into its chunks
    stored_offset: int  # where the part's stored bytes begin in the version's
    plain_size: int  # the part's plaintext bytes (what its chunk lengths follow from)
    span: ChunkSpan
    decryptor: Decryptor


@dataclass
class DecryptingReader:
    """Plaintext bytes [start, end] of an encrypted version, as ``hoard.objects.data.stream``
    reads a reader: each piece is one stored chunk, read from the raw reader of its part (opened
    when the read reaches the part; the first by ``begin``) and opened; a chunk that does not open
    is ChunkTampered.

    With ``nowait`` a piece is read and opened in the event loop when its stored bytes are in the
    page cache (the raw reader's ``nowait``), as a plain read's are: the trip to a thread and back
    for every chunk cost more than the decryption (AES-GCM runs at several GB/s). Anything that
    would wait (the disk, opening the next part's files) raises WouldBlock before it changes the
    reader's state, so the same piece can be read again in a thread.
    """

    record: ObjectRecord
    start: int
    end: int
    parts: list[_Part]
    raw_open: RawOpen
    inline_data: bytes | None = None
    segments: list[Any] = field(default_factory=list)  # raw readers open now (closed by ``close``)
    _open_part: int = -1
    _raw: Any = None
    _raw_pieces: list[Any] = field(default_factory=list)
    _raw_at: int = 0  # the next raw piece to read
    _buffer: bytearray = field(default_factory=bytearray)  # raw bytes read but not yet a whole chunk
    _left: int = 0  # plaintext bytes of the open part still to be returned

    def begin(self) -> DecryptingReader:
        """Open the first part's stored bytes now (in the caller's thread), so that the first
        pieces can be read in the event loop, and a missing file fails before any byte is sent."""
        if self.parts and self._open_part < 0:
            self._switch_to(0)
        return self

    def pieces(self) -> Iterator[tuple[int, int]]:
        for n, part in enumerate(self.parts):
            for i in range(part.span.count):
                yield n, part.span.first + i

    def read_piece(self, piece: tuple[int, int], nowait: bool = False) -> bytes | memoryview:
        n, index = piece
        part = self.parts[n]
        if n != self._open_part:
            if nowait:
                raise WouldBlock()  # opening a part's files may wait on the disk
            self._switch_to(n)
        chunk = self._stored_chunk(part, index, nowait)
        plain: bytes | memoryview = part.decryptor.open(index, chunk)
        skip = part.span.skip if index == part.span.first else 0
        if skip or len(plain) - skip > self._left:
            # A ranged read's ends: a view, not a copy, of the chunk's plaintext.
            plain = memoryview(plain)[skip : skip + self._left]
        self._left -= len(plain)
        return plain

    def _stored_chunk(self, part: _Part, index: int, nowait: bool) -> bytes | memoryview:
        """Stored chunk ``index`` of the open part, from the raw reader's pieces. A raw piece is
        normally exactly one chunk (both are storage blocks), and is then used as it is."""
        length = stored_chunk_size(index, part.plain_size)
        while len(self._buffer) < length:
            if self._raw_at >= len(self._raw_pieces):
                raise ChunkTampered(f"part {part.number}: the stored bytes end before chunk {index}")
            data = self._raw.read_piece(self._raw_pieces[self._raw_at], nowait)  # WouldBlock: nothing consumed
            self._raw_at += 1
            if not self._buffer and len(data) == length:
                return data
            self._buffer += data
        with memoryview(self._buffer) as view:
            chunk = bytes(view[:length])
        del self._buffer[:length]
        return chunk

    def _switch_to(self, n: int) -> None:
        self.close()
        part = self.parts[n]
        self._raw = self.raw_open(part.stored_offset + part.span.stored_start, part.stored_offset + part.span.stored_end - 1)
        self.segments = [self._raw]
        self._raw_pieces = list(self._raw.pieces())
        self._raw_at = 0
        self._buffer.clear()
        self._left = part.span.length
        self._open_part = n

    def close(self) -> None:
        if self._raw is not None:
            close = getattr(self._raw, "close", None)
            if close is not None:
                close()
        self._raw = None
        self._raw_pieces = []
        self.segments = []


def plan(record: ObjectRecord, key: DataKey, start: int, end: int) -> list[_Part]:
    """The parts a plaintext read of bytes [start, end] touches, each with its chunks."""
    parts: list[_Part] = []
    plain_offset = stored_offset = 0
    for number, seg in enumerate(record.segments, start=1):
        lo, hi = max(start, plain_offset), min(end, plain_offset + seg.size - 1)
        if lo <= hi or (seg.size == 0 and record.size == 0):
            part_number = number if record.multipart else 0
            span = plain_range_to_chunks(lo - plain_offset, hi - plain_offset + 1, seg.size) if seg.size else plain_range_to_chunks(0, 0, 0)
            parts.append(_Part(part_number, stored_offset, seg.size, span, Decryptor(key.key, key.encryption_id, part_number, seg.size)))
        plain_offset += seg.size
        stored_offset += seg.stored_size
    return parts


ENCRYPTION_CONFIG = "encryption"  # a bucket's default encryption (PutBucketEncryption), in its configuration


def default_mode(bucket_config: dict) -> str | None:
    """The encryption a bucket applies to new versions that ask for none (None: none)."""
    value = bucket_config.get(ENCRYPTION_CONFIG)
    return value.get("algorithm") if isinstance(value, dict) else None
