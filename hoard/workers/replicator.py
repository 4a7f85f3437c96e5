"""Bucket replication's engine: takes queued versions (``MetaStore.replication_due``) and writes
them to the remote their bucket's replication configuration names, as any S3 client would.

Only the leader process runs it. A version is read from the drives (never buffered whole) and
sent with its metadata, tags, lock settings, storage class (or the rule's) and, to another
Hoard, its version id, seq and time (``hoard.objects.replicas``), so that the target holds the
same version; a multipart version is sent in the same parts, so that its ETag is the same. A
version already on the target (the same id and ETag) is not sent again: a resync or a retry
after a lost answer costs a HEAD. A delete marker is replicated where the rule says so; deleting
a version by id never is (as on S3). A change of tags or lock settings alone sends only those.

A failed attempt is tried again with growing delays (up to ``MAX_DELAY``), for as long as it
takes: a target down for an hour loses nothing. After ``FAILED_AFTER`` attempts the version
shows FAILED (and its error) until one succeeds.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from hoard.meta.store import MetaStore
from hoard.model import REPLICATION_STATUS_HEADER, ObjectRecord, ReplicationTask
from hoard.objects.data import ObjectData
from hoard.objects.encryption import SSE_C, SSE_KMS
from hoard.objects.replicas import ReplicaOf
from hoard.replication.remotes import Remote, Remotes
from hoard.replication.rules import REPLICATION_CONFIG, ReplicationConfig, Rule
from hoard.workers.periodic import Periodic

log = logging.getLogger("hoard.replication")
BATCH = 64
PARALLEL = 8
# A batch claimed (no other node takes it meanwhile) is due again after this long, should this
# node die before answering for it; an attempt still running then may be made twice (harmless).
CLAIM_SECONDS = 120.0
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
FAILED_AFTER = 3
REMOTES_TTL = 2.0
# What S3 calls a request's content headers, by botocore's parameter names.
_CONTENT = {
    "content-type": "ContentType",
    "content-encoding": "ContentEncoding",
    "content-disposition": "ContentDisposition",
    "content-language": "ContentLanguage",
    "cache-control": "CacheControl",
}


class Replicator(Periodic):
    what = "replication"

    def __init__(self, store: MetaStore, data: ObjectData, remotes: Remotes, interval: float = 0.5, claim: bool = False) -> None:
        super().__init__(interval)
        self.store = store
        # Claims keep several nodes off each other's batches. One server has no other taker, and
        # a claim would only hold its own batch back after a restart until it lapsed.
        self.claim = claim
        self.data = data
        self.remotes = remotes
        self._remotes: dict[str, Remote] = {}
        self._remotes_read = 0.0
        self._clients: dict[Remote, Any] = {}
        self._lock = threading.Lock()

    async def run_once(self) -> int:
        """Replicate what is due, batch after batch until the queue has no more due now (a
        backlog is worked off without pausing between batches); the pause is for an idle queue."""
        done = 0
        limit = asyncio.Semaphore(PARALLEL)

        async def one(task: ReplicationTask) -> None:
            async with limit:
                await self.replicate(task)

        while True:
            now = time.time()
            tasks = await (self.store.claim_replication_due(now, BATCH, CLAIM_SECONDS) if self.claim else self.store.replication_due(now, BATCH))
            if not tasks:
                return done
            await asyncio.gather(*(one(t) for t in tasks))
            done += len(tasks)
            if len(tasks) < BATCH:
                return done

    async def replicate(self, task: ReplicationTask) -> None:
        bucket = await self.store.get_bucket(task.bucket)
        record = await self.store.get_version(task.bucket, task.key, task.version_id)
        if bucket is None or REPLICATION_CONFIG not in bucket.config or record is None:
            # The bucket, its configuration or the version went away first: nothing to send.
            await self.store.replication_forget(task)
            return
        config = ReplicationConfig.from_json(bucket.config[REPLICATION_CONFIG])
        rule = config.rule_for(record.key, record.tags)
        if rule is None or (record.delete_marker and not rule.delete_markers):
            await self.store.replication_forget(task)  # no rule covers it: S3 shows no status then
            return
        try:
            remote = (await self._current_remotes()).get(config.remote)
            if remote is None:
                raise LookupError(f"the remote {config.remote!r} is not defined (hoard admin remote add)")
            await asyncio.to_thread(self._send, self._client(remote), record, rule, task.op)
        except Exception as e:  # noqa: BLE001 - every failure is one more attempt, reported on the version
            attempts = task.attempts + 1
            delay = min(FIRST_DELAY * 2 ** (attempts - 1), MAX_DELAY)
            reason = f"{type(e).__name__}: {e}"
            log.warning("replicating %s/%s (%s) failed, attempt %d: %s", task.bucket, task.key, task.version_id, attempts, reason)
            await self.store.replication_failed(task, reason, time.time() + delay, failed=attempts >= FAILED_AFTER)
            return
        await self.store.replication_done(task)

    async def _current_remotes(self) -> dict[str, Remote]:
        if time.monotonic() - self._remotes_read > REMOTES_TTL:
            self._remotes = await asyncio.to_thread(self.remotes.load)
            self._remotes_read = time.monotonic()
        return self._remotes

    def _client(self, remote: Remote) -> Any:
        with self._lock:
            client = self._clients.get(remote)
            if client is None:
                client = remote.s3_client()
                # Headers botocore has no parameter for (the replica's identity, raw metadata)
                # ride on each call through this thread's slot.
                client.meta.events.register("before-call.s3", _add_extra_headers)
                self._clients[remote] = client
            return client

    # -- in a worker thread -------------------------------------------------------------------
    def _send(self, client: Any, record: ObjectRecord, rule: Rule, op: str) -> None:
        dest = rule.destination_bucket
        if op == "meta" and not record.delete_marker:
            self._send_metadata(client, dest, record)
            return
        if record.delete_marker:
            with _extra(_identity(record)):
                client.delete_object(Bucket=dest, Key=record.key)
            return
        if record.encryption is not None and record.encryption.mode == SSE_C:
            # Its key is the customer's, never kept here: the bytes cannot be read to be sent.
            raise ValueError("a version encrypted with a customer-provided key (SSE-C) is not replicated")
        if record.encryption is not None and record.encryption.mode == SSE_KMS:
            # S3 replicates SSE-KMS versions only for rules selecting them (SseKmsEncryptedObjects,
            # with a replica key), which Hoard does not do yet (refused when configured).
            raise ValueError("a version encrypted with a KMS key (SSE-KMS) is not replicated")
        if _already_there(client, dest, record):
            return
        params = _object_params(record, rule)
        extra = {**_identity(record), **_raw_metadata(record)}
        # The version's own checksum goes with it: the target checks it and keeps the same one.
        algorithm = record.checksum_algorithm
        checksum = f"Checksum{algorithm}"
        if not record.multipart:
            with _extra(extra):
                client.put_object(
                    Bucket=dest, Key=record.key, Body=_Stream(lambda: self._pieces(record, 0, record.size - 1), record.size), ContentLength=record.size,
                    ContentMD5=_md5_of(record.etag), **params, **({checksum: record.checksum_value} if algorithm and record.checksum_value else {}),
                )  # fmt: skip
            return
        kind = {"ChecksumAlgorithm": algorithm, "ChecksumType": record.checksum_type or "COMPOSITE"} if algorithm else {}
        with _extra(extra):
            upload = client.create_multipart_upload(Bucket=dest, Key=record.key, **params, **kind)["UploadId"]
        try:
            parts, start = [], 0
            for number, segment in enumerate(record.segments, 1):
                end = start + segment.size - 1
                part_checksum = {checksum: segment.checksum} if algorithm and segment.checksum else {}
                answer = client.upload_part(
                    Bucket=dest, Key=record.key, UploadId=upload, PartNumber=number, ContentLength=segment.size,
                    Body=_Stream(lambda s=start, e=end: self._pieces(record, s, e), segment.size),
                    **({"ContentMD5": _md5_of(segment.etag)} if segment.etag else {}), **part_checksum,
                )  # fmt: skip
                parts.append({"ETag": answer["ETag"], "PartNumber": number, **part_checksum})
                start = end + 1
            client.complete_multipart_upload(Bucket=dest, Key=record.key, UploadId=upload, MultipartUpload={"Parts": parts})
        except BaseException:
            try:
                client.abort_multipart_upload(Bucket=dest, Key=record.key, UploadId=upload)
            except Exception:  # noqa: BLE001 - the first failure is the one to report
                pass
            raise

    def _send_metadata(self, client: Any, dest: str, record: ObjectRecord) -> None:
        """Tags, retention and legal hold of a version the target already has (by its id)."""
        version = {"VersionId": record.version_id}
        client.put_object_tagging(Bucket=dest, Key=record.key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in record.tags]}, **version)
        if record.retention_mode:
            retention = {"Mode": record.retention_mode, "RetainUntilDate": record.retain_until}
            client.put_object_retention(Bucket=dest, Key=record.key, Retention=retention, BypassGovernanceRetention=True, **version)
        if record.legal_hold or record.retention_mode:
            client.put_object_legal_hold(Bucket=dest, Key=record.key, LegalHold={"Status": "ON" if record.legal_hold else "OFF"}, **version)

    def _pieces(self, record: ObjectRecord, start: int, end: int) -> Iterator[bytes]:
        if end < start:
            return
        reader = self.data.open_sync(record, start, end)
        try:
            if reader.inline_data is not None:
                yield bytes(reader.inline_data[reader.start : reader.end + 1])
                return
            for piece in reader.pieces():
                yield bytes(reader.read_piece(piece))
        finally:
            if reader.segments:
                reader.close()


def _already_there(client: Any, dest: str, record: ObjectRecord) -> bool:
    """Whether the target holds this version already (the same id and ETag)."""
    if not record.seq:
        return False  # a version from before versioning has no id of its own to look for
    try:
        head = client.head_object(Bucket=dest, Key=record.key, VersionId=record.version_id)
    except Exception as e:  # noqa: BLE001 - not there (404), or a target that keeps other ids (400)
        status = getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in (400, 404):
            return False
        raise
    return head.get("ETag") == record.etag


def _identity(record: ObjectRecord) -> dict[str, str]:
    return ReplicaOf.of(record).headers() if record.seq else {}


def _raw_metadata(record: ObjectRecord) -> dict[str, str]:
    """User metadata as stored, sent as it came (botocore's Metadata would re-encode it)."""
    return {k: v for k, v in record.headers.items() if k.startswith("x-amz-meta-")}


def _object_params(record: ObjectRecord, rule: Rule) -> dict[str, Any]:
    params: dict[str, Any] = {_CONTENT[k]: v for k, v in record.headers.items() if k in _CONTENT}
    if "expires" in record.headers:
        params["Expires"] = record.headers["expires"]
    params["StorageClass"] = rule.storage_class or record.storage_class
    if record.tags:
        params["Tagging"] = urlencode(record.tags)
    if record.retention_mode:
        params["ObjectLockMode"] = record.retention_mode
        params["ObjectLockRetainUntilDate"] = record.retain_until
    if record.legal_hold:
        params["ObjectLockLegalHoldStatus"] = "ON"
    if record.encryption is not None:
        # Read decrypted, sent over the remote's TLS, kept encrypted there as here (S3 replicates
        # an SSE-S3 object as SSE-S3).
        params["ServerSideEncryption"] = record.encryption.mode
    return params


def _md5_of(etag: str) -> str:
    """Content-MD5 from a single part's ETag (its MD5): the target checks the bytes end to end."""
    return base64.b64encode(bytes.fromhex(etag.strip('"'))).decode()


class _Stream:
    """A file-like view of a range of a version's bytes, for botocore to send: read in whatever
    sizes it asks (a piece is sliced, never copied whole again), and seekable back to the start
    (the signer reads the body once to hash it, then again to send it: each pass reads the drives
    afresh, so memory does not grow with the size)."""

    def __init__(self, open_pieces: Callable[[], Iterator[bytes]], size: int) -> None:
        self._open = open_pieces
        self._size = size
        self._rewind()

    def _rewind(self) -> None:
        self._pieces: Iterator[bytes] | None = None
        self._piece = memoryview(b"")
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        if self._pieces is None:
            self._pieces = self._open()
        out: list[bytes] = []
        wanted = size if size is not None and size >= 0 else None
        while wanted is None or wanted > 0:
            if not self._piece:
                piece = next(self._pieces, None)
                if piece is None:
                    break
                self._piece = memoryview(piece)
            take = self._piece if wanted is None else self._piece[:wanted]
            out.append(bytes(take))
            self._piece = self._piece[len(take) :]
            if wanted is not None:
                wanted -= len(take)
        data = b"".join(out)
        self._position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        target = {0: offset, 1: self._position + offset, 2: self._size + offset}[whence]
        if target == self._position:
            return target
        if target == 0:
            self._rewind()
            return 0
        if target == self._size:
            self._pieces, self._piece, self._position = iter(()), memoryview(b""), self._size
            return target
        raise OSError("a replicated body is read from its start only")

    def tell(self) -> int:
        return self._position


_slot = threading.local()


class _extra:
    """Headers for the next calls this thread makes (``_add_extra_headers`` adds them)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def __enter__(self) -> None:
        _slot.headers = self.headers

    def __exit__(self, *exc: object) -> None:
        _slot.headers = {}


def _add_extra_headers(params: dict, **_: Any) -> None:
    params["headers"].update(getattr(_slot, "headers", {}))
    params["headers"].pop(REPLICATION_STATUS_HEADER, None)
