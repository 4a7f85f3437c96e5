"""The internal API nodes of a cluster call on each other's drives, under ``/.hoard/internal/v1/``.

Every request is signed with the cluster key (``authenticate``, given by the composition root,
refuses the rest before anything is read). A drive is named by its id (its ``format.json``), a
shard or record by its random id. What a write sends is stored as a local write is: a temp
file, fsync, rename, fsync of the folder, then the answer; a shard's blocks each carry their
BLAKE3 and are checked on arrival, so a damaged body is refused and nothing of it kept.

    GET    drives/{drive}                          state and usage
    PUT    drives/{drive}/shards/{id}              body: blocks, each [u32 fragment length][BLAKE3][fragment],
                                                   then the end mark [u32 0]
    GET    drives/{drive}/shards/{id}?offset=&length=   the stored bytes (file format: [BLAKE3][fragment]...)
    HEAD   drives/{drive}/shards/{id}              x-hoard-size
    DELETE drives/{drive}/shards/{id}
    GET    drives/{drive}/shards                   every id and mtime, one JSON array per line
    PUT    drives/{drive}/records/{id}             a record file, checked before it is stored
    GET    drives/{drive}/records/{id}             DELETE the same; GET drives/{drive}/records lists; ?count counts
    GET    drives/{drive}/records/{id}?with={drive},...   the same record from several of this node's drives
                                                   in one answer: per drive in that order, [u8 outcome][u32 length][bytes]
                                                   (outcome 0 the record, 1 none there, 2 the drive failed: a message)
    GET    key                                     the ids of the cluster keys this node signs with and accepts
    POST   key?step=promote|retire&key={key id}    a rotation's step on this node's key file (hoard.cluster.keys)
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from hoard.cluster.keys import KeyFileError, LiveKeyring
from hoard.http.errors import BodyTimeout, BodyTooLarge
from hoard.http.request import BodyStream, Request
from hoard.http.response import Response
from hoard.storage import record as record_file
from hoard.storage.bitrot import HASH_SIZE, block_hash
from hoard.storage.drive import DriveOffline
from hoard.storage.drive_api import Drive, ShardWriter
from hoard.storage.remote import RECORD_FAILED, RECORD_FOUND, RECORD_FRAME, RECORD_MISSING

log = logging.getLogger("hoard")

INTERNAL_PREFIX = "/.hoard/internal/v1/"
BLOCK_HEADER = struct.Struct(">I")  # a shard block's fragment length, before its BLAKE3
MAX_FRAGMENT = 64 * 1024 * 1024  # far above any fragment a block makes; a bigger length is garbage
# Ids as Hoard makes them (hoard.storage.erasure_set.new_id; drives' uuid4): nothing else, so no path tricks.
_ITEM_ID = re.compile(r"[0-9a-f]{32}")
_DRIVE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LIST_BATCH = 1000
MAX_RECORD = 8 * 1024 * 1024  # a record is its JSON and at most one inline fragment (128 KiB before coding)


class InternalError(Exception):
    """An internal request refused: its status and why (never a secret)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _answer(status: int, doc: dict[str, Any]) -> Response:
    return Response(status=status, headers={"content-type": "application/json"}, body=json.dumps(doc).encode())


def _valid_id(value: str, what: str) -> str:
    if not (_DRIVE_ID if what == "drive" else _ITEM_ID).fullmatch(value):
        raise InternalError(400, "InvalidId", f"not a valid {what} id")
    return value


class InternalApi:
    """Serves this node's drives to the other nodes.

    ``drives``: this node's drives by id. ``authenticate``: checks a request's signature and
    returns the calling node's name, or raises InternalError (401 or 403). ``keys``: the node's
    keyring, for a key rotation's steps."""

    def __init__(self, drives: dict[str, Drive], authenticate: Callable[[Request], str], keys: LiveKeyring | None = None) -> None:
        self.drives = drives
        self.authenticate = authenticate
        self.keys = keys

    async def handle(self, req: Request) -> Response:
        try:
            node = self.authenticate(req)
            return await self._route(req, node)
        except InternalError as e:
            if e.status in (401, 403):
                log.warning("internal request %s %s refused: %s", req.method, req.path, e)
            return _answer(e.status, {"error": e.code, "message": str(e)})
        except DriveOffline as e:
            return _answer(503, {"error": "DriveOffline", "message": str(e)})
        except FileNotFoundError:
            return _answer(404, {"error": "NotFound", "message": "no such file on this drive"})
        except record_file.CorruptRecord as e:
            return _answer(400, {"error": "BadRecord", "message": str(e)})
        except BodyTooLarge as e:
            return _answer(413, {"error": "TooLarge", "message": str(e)})
        except BodyTimeout:
            return _answer(408, {"error": "Timeout", "message": "the body stalled"})

    async def _route(self, req: Request, node: str) -> Response:
        parts = req.path[len(INTERNAL_PREFIX):].split("/")
        if parts == ["key"] and self.keys is not None:
            return await self._key(req, node, self.keys)
        if len(parts) < 2 or parts[0] != "drives":
            raise InternalError(404, "NoSuchRoute", "no such internal route")
        drive = self.drives.get(_valid_id(parts[1], "drive"))
        if drive is None:
            raise InternalError(404, "NoSuchDrive", "no such drive on this node")
        if len(parts) == 2 and req.method == "GET":
            total, free = await asyncio.to_thread(drive.usage)
            return _answer(200, {"state": drive.state.value, "total": total, "free": free})
        if len(parts) == 3 and req.method == "GET" and parts[2] in ("shards", "records"):
            return self._listing(req, drive, parts[2])
        if len(parts) != 4 or parts[2] not in ("shards", "records"):
            raise InternalError(404, "NoSuchRoute", "no such internal route")
        kind, item = parts[2], _valid_id(parts[3], parts[2][:-1])
        handler = _HANDLERS.get((kind, req.method))
        if handler is None:
            raise InternalError(405, "MethodNotAllowed", f"{req.method} is not allowed on {kind}")
        drive.check()
        return await handler(self, req, drive, item)

    # -- the cluster key ----------------------------------------------------------------------
    async def _key(self, req: Request, node: str, keys: LiveKeyring) -> Response:
        if req.method == "POST":
            step, key_id = req.params.get("step", ""), req.params.get("key", "")
            if step not in ("promote", "retire") or not key_id:
                raise InternalError(400, "InvalidStep", "step is promote or retire, and key names a key id")
            try:
                await asyncio.to_thread(keys.promote if step == "promote" else keys.retire, key_id)
            except KeyFileError as e:
                raise InternalError(409, "KeyStep", str(e)) from None
            log.info("cluster key rotation: %s key %s, asked by node %s", step, key_id, node)
        elif req.method != "GET":
            raise InternalError(405, "MethodNotAllowed", f"{req.method} is not allowed on key")
        current, accepted = keys.key_ids()
        return _answer(200, {"current": current, "accepted": accepted, "file": keys.file is not None})

    # -- shards ------------------------------------------------------------------------------
    async def _put_shard(self, req: Request, drive: Drive, shard_id: str) -> Response:
        writer = await asyncio.to_thread(drive.create_shard, shard_id)
        try:
            blocks = await _receive_blocks(BodyStream(req.receive, idle_timeout=30), writer)
            await asyncio.to_thread(writer.commit)
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        return _answer(200, {"size": writer.size, "blocks": blocks})

    async def _get_shard(self, req: Request, drive: Drive, shard_id: str) -> Response:
        args = req.params
        try:
            offset, length = int(args.get("offset", "0")), int(args["length"])
        except (KeyError, ValueError):
            raise InternalError(400, "InvalidRange", "offset and length are whole numbers") from None
        if offset < 0 or not 0 <= length <= MAX_FRAGMENT + HASH_SIZE:
            raise InternalError(400, "InvalidRange", "offset or length out of range")

        def read() -> bytes | bytearray:
            reader = drive.open_shard(shard_id)
            try:
                return reader.read(length, offset)
            finally:
                reader.close()

        data = await asyncio.to_thread(read)
        return Response(headers={"content-type": "application/octet-stream"}, body=bytes(data))

    async def _head_shard(self, req: Request, drive: Drive, shard_id: str) -> Response:
        size = await asyncio.to_thread(drive.shard_size, shard_id)
        return Response(headers={"x-hoard-size": str(size)})

    async def _delete_shard(self, req: Request, drive: Drive, shard_id: str) -> Response:
        await asyncio.to_thread(drive.remove_shard, shard_id)
        return Response(status=204)

    # -- records -----------------------------------------------------------------------------
    async def _put_record(self, req: Request, drive: Drive, data_id: str) -> Response:
        body = await BodyStream(req.receive, idle_timeout=30).read_all(MAX_RECORD)
        record_file.decode(body)  # its own BLAKE3: a damaged record is refused, not stored
        await asyncio.to_thread(drive.write_record, data_id, body)
        return _answer(200, {"size": len(body)})

    async def _get_record(self, req: Request, drive: Drive, data_id: str) -> Response:
        if "with" in req.params:
            return await self._get_records(req.params["with"], drive, data_id)
        data = await asyncio.to_thread(drive.read_record, data_id)
        return Response(headers={"content-type": "application/octet-stream"}, body=bytes(data))

    async def _get_records(self, beside: str, first: Drive, data_id: str) -> Response:
        # A small object's GET needs records from several drives of a set; those on one node come
        # in one round trip instead of one each.
        names = beside.split(",")
        if len(names) > 16:  # a set has at most 16 drives
            raise InternalError(400, "InvalidArgument", "too many drives")
        drives = [first, *(self.drives.get(_valid_id(name, "drive")) for name in names)]

        def read() -> bytes:
            out = bytearray()
            for drive in drives:
                outcome, data = RECORD_FAILED, b"no such drive on this node"
                if drive is not None:
                    try:
                        drive.check()
                        outcome, data = RECORD_FOUND, bytes(drive.read_record(data_id))
                    except OSError as e:
                        failed = drive.missing_or_failed(e)
                        outcome, data = (RECORD_FAILED, str(e).encode()[:1000]) if failed else (RECORD_MISSING, b"")
                out += RECORD_FRAME.pack(outcome, len(data)) + data
            return bytes(out)

        return Response(headers={"content-type": "application/octet-stream"}, body=await asyncio.to_thread(read))

    async def _delete_record(self, req: Request, drive: Drive, data_id: str) -> Response:
        await asyncio.to_thread(drive.remove_record, data_id)
        return Response(status=204)

    # -- listings ----------------------------------------------------------------------------
    def _listing(self, req: Request, drive: Drive, kind: str) -> Response:
        drive.check()
        if kind == "records" and "count" in req.params:
            return _answer(200, {"count": drive.record_count()})
        ids = drive.shard_ids() if kind == "shards" else drive.record_ids()
        return Response(headers={"content-type": "application/x-ndjson"}, stream=_lines(ids))


_HANDLERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("shards", "PUT"): InternalApi._put_shard,
    ("shards", "GET"): InternalApi._get_shard,
    ("shards", "HEAD"): InternalApi._head_shard,
    ("shards", "DELETE"): InternalApi._delete_shard,
    ("records", "PUT"): InternalApi._put_record,
    ("records", "GET"): InternalApi._get_record,
    ("records", "DELETE"): InternalApi._delete_record,
}


async def _lines(ids: Iterator[tuple[str, float]]) -> AsyncIterator[bytes]:
    """A drive's ids, a batch at a time read in a thread (a walk of the folders may wait on the disk)."""

    def batch() -> bytes:
        out = []
        for item in ids:
            out.append(json.dumps(list(item)))
            if len(out) == _LIST_BATCH:
                break
        return ("\n".join(out) + "\n").encode() if out else b""

    while chunk := await asyncio.to_thread(batch):
        yield chunk


def _write_verified(writer: ShardWriter, checksum: bytes, fragment: bytes) -> bool:
    """Write the block if the fragment matches its checksum; False (nothing written) if not."""
    if block_hash(fragment) != checksum:
        return False
    writer.write_block(checksum, fragment)
    return True


async def _receive_blocks(body: BodyStream, writer: ShardWriter) -> int:
    """Write the blocks of a shard body as they arrive, each checked against its BLAKE3, up to
    the end mark (a block header of length 0). Raises InternalError for a malformed or damaged
    body, or one that stops before its end mark (the caller drops the file).

    The end mark, not the end of the HTTP body, says the shard is whole: a connection closed
    mid-body may reach the application as a body that simply ended (hoard.http.protocol answers
    a half-close), and a shard cut short must never be committed."""
    buffer = bytearray()
    blocks = 0
    while True:
        need = BLOCK_HEADER.size
        length = BLOCK_HEADER.unpack_from(buffer)[0] if len(buffer) >= need else None
        if length == 0:
            if len(buffer) > need or await body.chunk():
                raise InternalError(400, "BadBlock", "bytes after the end of the shard")
            return blocks
        if length is not None:
            if length > MAX_FRAGMENT:
                raise InternalError(400, "BadBlock", f"block {blocks}: fragment length {length} out of range")
            need += HASH_SIZE + length
        if length is not None and len(buffer) >= need:
            checksum = bytes(buffer[BLOCK_HEADER.size : BLOCK_HEADER.size + HASH_SIZE])
            fragment = bytes(buffer[BLOCK_HEADER.size + HASH_SIZE : need])
            del buffer[:need]
            # Hashing a fragment takes as long as writing it: both in the thread, off the event loop.
            if not await asyncio.to_thread(_write_verified, writer, checksum, fragment):
                raise InternalError(400, "BadDigest", f"block {blocks}: the fragment does not match its BLAKE3")
            blocks += 1
            continue
        chunk = await body.chunk()
        if not chunk:
            raise InternalError(400, "IncompleteBody", f"the body ends before the shard's end mark (in block {blocks})")
        buffer += chunk
