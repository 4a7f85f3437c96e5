"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from dataclasses import dataclass
from urllib.parse import quote

from hoard.http.numbers import decimal
from hoard.http.ranges import parse_range
from hoard.http.response import Response, xml_response
from hoard.model import Bucket, ObjectRecord
from hoard.objects.data import stream
from hoard.objects.tiering import restore_header
from hoard.objects.versions import ENABLED, SUSPENDED, delete_marker, is_version_id, single_part_version
from hoard.s3 import checksums, tags, xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers import sse
from hoard.s3.handlers.common import (
    MAX_PART_NUMBER,
    Context,
    check_key,
    etag_matches,
    http_date,
    now,
    object_headers,
    operation,
    parse_http_date,
    require_body_checksum,
    require_bucket,
    require_bucket_for_write,
    require_restored,
    storage_class,
)
from hoard.s3.handlers.grants import request_acl
from hoard.s3.handlers.lifecycle import expiration_header
from hoard.s3.handlers.owners import note_owner, version_owner
from hoard.s3.handlers.payload import receive_blob, receive_document
from hoard.s3.handlers.replicas import ReplicaOf, replica_write, replication_marks, show_replication_status
from hoard.s3.handlers.retention import deletion_guard, lock_for_write, lock_headers
from hoard.s3.handlers.versioning import read_version, readable, requested_version, version_headers, versioning_of

MAX_DELETE_KEYS = 1000
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def write_precondition(ctx: Context, started: float | None = None):
    """If-None-Match and If-Match on writes, checked against the current object at commit.

    ``started``: when the write began (a multipart upload's initiation). An object that
    appeared after it makes an If-None-Match complete a conflict (409), as in S3, so the
    client knows to start its upload again rather than that its condition was false.
    """
    if_none_match = ctx.req.headers.get("if-none-match")
    if_match = ctx.req.headers.get("if-match")

    def check(old: ObjectRecord | None) -> None:
        if if_none_match is not None and old is not None and etag_matches(if_none_match, old.etag):
            if started is not None and old.last_modified > started:
                raise S3Error("ConditionalRequestConflict")
            raise S3Error("PreconditionFailed", Condition="If-None-Match")
        if if_match is not None:
            if old is None:
                raise S3Error("NoSuchKey", Key=ctx.key)
            if not etag_matches(if_match, old.etag):
                raise S3Error("PreconditionFailed", Condition="If-Match")

    return check if (if_none_match is not None or if_match is not None) else None


def checksum_headers(record: ObjectRecord) -> dict[str, str]:
    if not record.checksum_algorithm:
        return {}
    return {
        checksums.header_name(record.checksum_algorithm): record.checksum_value,
        "x-amz-checksum-type": record.checksum_type or "FULL_OBJECT",
    }


@operation("PutObject")
async def put_object(ctx: Context) -> Response:
    check_key(ctx.key)
    sclass = storage_class(ctx)
    headers = object_headers(ctx)
    tag_set = tags.from_header(ctx.req.header_utf8("x-amz-tagging"))
    precondition = write_precondition(ctx)
    bucket = await require_bucket_for_write(ctx)
    lock = lock_for_write(ctx, bucket, now(), integrity=True)
    grants = request_acl(ctx, bucket) or ()
    owner = version_owner(ctx, bucket, grants)
    replica = await replica_write(ctx, bucket)
    placement = ctx.services.data.placement(ctx.bucket, ctx.key, sclass)
    encryption, key = sse.new_key(ctx, bucket)
    stored = await receive_blob(ctx, ctx.services.settings.max_object_size, placement, inline=True, defer_commit=True, key=key)
    record = single_part_version(
        bucket=ctx.bucket,
        key=ctx.key,
        blob=stored.blob,
        size=stored.size,
        md5_hex=sse.etag_digest(encryption, key, stored.md5_hex),
        placement=placement,
        inline=stored.inline is not None,
        storage_class=sclass,
        headers={**headers, **replication_marks(bucket)},
        tags=tag_set,
        checksum_algorithm=stored.checksum_algorithm or "",
        checksum_value=stored.checksum_value,
        versioning=versioning_of(bucket),
        lock=lock,
        acl=grants,
        owner_id=owner,
        encryption=encryption,
        stored=stored.stored,
    )
    if replica is not None:
        record = replica.apply(record)
    await note_owner(ctx, bucket, owner)
    await ctx.services.data.commit_version(ctx.store, record, stored.inline, precondition, stored.pending)
    return Response(
        headers={"etag": record.etag, **checksum_headers(record), **version_headers(record), **expiration_header(ctx, bucket, record), **sse.write_headers(record.encryption)}
    )


async def get_record(ctx: Context) -> ObjectRecord:
    """The version the request names (``versionId``), else the current one; S3's errors for none."""
    return await read_version(ctx)


def check_read_conditions(ctx: Context, record: ObjectRecord) -> None:
    """If-Match, If-Unmodified-Since (412) and If-None-Match, If-Modified-Since (304), S3's way."""
    not_modified = read_conditions(ctx.req.headers, record)
    if not_modified is not None:
        raise S3Error("NotModified", headers=not_modified)


def read_conditions(h: dict[str, str], record: ObjectRecord) -> dict[str, str] | None:
    """The conditional-read headers judged: PreconditionFailed (412) raised, the headers of a 304
    returned where the reader's copy is current, None to read on."""
    modified = int(record.last_modified)
    not_modified = {"etag": record.etag, "last-modified": http_date(record.last_modified)}
    if_match = h.get("if-match")
    if if_match is not None:
        if not etag_matches(if_match, record.etag):
            raise S3Error("PreconditionFailed", Condition="If-Match")
    elif "if-unmodified-since" in h:
        since = parse_http_date(h["if-unmodified-since"])
        if since is not None and modified > since:
            raise S3Error("PreconditionFailed", Condition="If-Unmodified-Since")
    if_none_match = h.get("if-none-match")
    if if_none_match is not None:
        if etag_matches(if_none_match, record.etag):
            return not_modified
    elif "if-modified-since" in h:
        since = parse_http_date(h["if-modified-since"])
        if since is not None and modified <= since:
            return not_modified
    return None


def _part_span(ctx: Context, record: ObjectRecord) -> tuple[int, int, int] | None:
    """(part number, first byte, last byte) for a ``partNumber`` read, None without one."""
    raw = ctx.req.params.get("partNumber")
    if raw is None:
        return None
    if "range" in ctx.req.headers:
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    number = decimal(raw, signed=True)
    if number is None or not 1 <= number <= MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", ArgumentName="partNumber", ArgumentValue=raw)
    if number > record.parts_count:
        # S3 answers a part the object does not have as it answers one missing from a complete.
        raise S3Error("InvalidPart", PartNumber=str(number))
    if not record.multipart:
        return number, 0, record.size - 1
    start = sum(s.size for s in record.segments[: number - 1])
    return number, start, start + record.segments[number - 1].size - 1


def mail_safe(value: str) -> str:
    """User metadata as S3 returns it: non-ASCII text as RFC 2047 encoded words, ASCII as it is."""
    if value.isascii():
        return value
    words: list[bytes] = [b""]
    for char in value:
        encoded = char.encode("utf-8")
        if len(words[-1]) + len(encoded) > 45:  # keeps each encoded word within RFC 2047's 75 characters
            words.append(b"")
        words[-1] += encoded
    return " ".join(f"=?UTF-8?B?{base64.b64encode(word).decode()}?=" for word in words)


def read_headers(ctx: Context, record: ObjectRecord) -> dict[str, str]:
    headers = {
        "etag": record.etag,
        "last-modified": http_date(record.last_modified),
        "accept-ranges": "bytes",
    }
    headers.update((name, mail_safe(value) if name.startswith("x-amz-meta-") else value) for name, value in record.headers.items())
    if record.storage_class != "STANDARD":
        headers["x-amz-storage-class"] = record.storage_class
    restore = restore_header(record)
    if restore is not None:
        headers["x-amz-restore"] = restore
    if record.tags:
        headers["x-amz-tagging-count"] = str(len(record.tags))
    headers.update(lock_headers(record))
    headers.update(sse.answer_headers(record.encryption))
    for param, header in RESPONSE_OVERRIDES.items():
        if param in ctx.req.params:
            headers[header] = header_safe(param, ctx.req.params[param])
    return headers


def header_safe(param: str, value: str) -> str:
    """A ``response-*`` override as a header value: printable ASCII only.

    A control character or line break would let a query parameter write raw bytes into the
    answer's head (the HTTP server refuses it and drops the connection without an answer);
    header values are ASCII, so non-ASCII text is refused the same way: 400, with S3's XML.
    """
    if not all(" " <= c <= "~" or c == "\t" for c in value):
        raise S3Error("InvalidArgument", f"{param} must be printable ASCII.", ArgumentName=param, ArgumentValue=value.encode("unicode_escape").decode("ascii"))
    return value


async def _read_object(ctx: Context, head: bool) -> Response:
    check_key(ctx.key)
    sse.refuse_on_read(ctx)
    version = requested_version(ctx)
    for _attempt in range(5):
        if version is None:
            looked_up, preread = await ctx.services.data.lookup(ctx.store, ctx.bucket, ctx.key, read_inline=not head)
        else:
            looked_up, preread = await ctx.store.get_version(ctx.bucket, ctx.key, version), None
        record = await readable(ctx, looked_up, version)
        customer_key = sse.read_key(ctx, record)  # SSE-C: the version's key, before anything is told of it
        if not head:
            require_restored(record)
        check_read_conditions(ctx, record)
        headers = read_headers(ctx, record)
        headers.update(version_headers(record, named=version is not None))
        if version is None:
            headers.update(expiration_header(ctx, ctx.looked_up_bucket, record))
        await show_replication_status(ctx, record, headers)
        status = 200
        part = _part_span(ctx, record)
        if part is not None:
            number, start, end = part
            # A part read is a range read, even of a single-part object's whole part 1.
            if record.size:
                status = 206
                headers["content-range"] = f"bytes {start}-{end}/{record.size}"
            if record.multipart:
                headers["x-amz-mp-parts-count"] = str(record.parts_count)
                segment = record.segments[number - 1]
                if record.checksum_algorithm and segment.checksum:
                    # A part read answers with the part's own checksum, as S3 does.
                    headers[checksums.header_name(record.checksum_algorithm)] = segment.checksum
                    headers["x-amz-checksum-type"] = record.checksum_type or "COMPOSITE"
        else:
            span = parse_range(ctx.req.headers.get("range"), record.size)
            if span is None:
                start, end = 0, record.size - 1
                if ctx.req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
                    headers.update(checksum_headers(record))
            else:
                start, end = span
                status = 206
                headers["content-range"] = f"bytes {start}-{end}/{record.size}"
        length = end - start + 1 if record.size else 0
        if head:
            return Response(status=status, headers=headers, content_length=length)
        if length == 0:
            return Response(status=status, headers=headers)
        try:
            if preread is not None:
                opened = dataclasses.replace(preread, start=start, end=end)
            else:
                opened = await ctx.services.data.open(record, start, end, customer_key)
        except FileNotFoundError:
            # Replaced between our lookup and our open: look again and serve the new version.
            continue
        return Response(status=status, headers=headers, stream=stream(opened), content_length=length)
    raise S3Error("SlowDown", "The object is being replaced too often to be read.")


@operation("GetObject")
async def get_object(ctx: Context) -> Response:
    return await _read_object(ctx, head=False)


@operation("HeadObject")
async def head_object(ctx: Context) -> Response:
    return await _read_object(ctx, head=True)


@dataclass(frozen=True)
class Deleted:
    """What a delete did, as DeleteObject's headers and DeleteObjects' entries tell it."""

    version_id: str | None  # the version removed or the delete marker added (None: no version named, none added)
    delete_marker: bool  # a delete marker was added, or the version removed was one
    removed: ObjectRecord | None = None  # the version that left the index: its records are the caller's to drop


async def delete(ctx: Context, bucket: Bucket, key: str, version: str | None, replica: ReplicaOf | None = None) -> Deleted:
    """Delete ``version`` of the key, or without one: add a delete marker where versioning is
    configured (a null one when Suspended, replacing the null version), else remove the object.
    The removed version's records are left to the caller (``ObjectData.drop_records``), so a
    batch drops them all in one go. ``replica``: the delete marker replicates a source's."""
    data, store = ctx.services.data, ctx.store
    if version is not None:
        removed = await store.delete_version(bucket.name, key, version, await deletion_guard(ctx, bucket, key, now()))
        return Deleted(version, removed is not None and removed.delete_marker, removed)
    state = versioning_of(bucket)
    if state in (ENABLED, SUSPENDED):
        marker = delete_marker(bucket.name, key, data.placement(bucket.name, key, "STANDARD"), state)
        marker = dataclasses.replace(marker, headers=replication_marks(bucket))
        if replica is not None:
            marker = replica.apply(marker)
        await data.commit_version(store, marker, None)
        return Deleted(marker.version_id, True)
    return Deleted(None, False, await store.delete_object(bucket.name, key))


@operation("DeleteObject")
async def delete_object(ctx: Context) -> Response:
    version = requested_version(ctx)
    bucket = await require_bucket(ctx)
    replica = await replica_write(ctx, bucket, delete=True)
    if replica is not None and version is not None:
        raise S3Error("InvalidArgument", "A replica delete adds a delete marker; it names no version.", ArgumentName="versionId")
    deleted = await delete(ctx, bucket, ctx.key, version, replica)
    await ctx.services.data.drop_records([deleted.removed])
    headers = {}
    if deleted.version_id is not None:
        headers["x-amz-version-id"] = deleted.version_id
    if deleted.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return Response(status=204, headers=headers)


@operation("DeleteObjects")
async def delete_objects(ctx: Context) -> Response:
    require_body_checksum(ctx)
    body = await receive_document(ctx)
    root = xml.parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML")
    quiet = (xml.child_text(root, "Quiet") or "").strip().lower() == "true"
    objects = root.findall("Object")
    if not objects or len(objects) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML")
    bucket = await require_bucket(ctx)
    encode = ctx.req.params.get("encoding-type") == "url"
    requests: list[tuple[str, str | None]] = []
    for obj in objects:
        key = xml.child_text(obj, "Key")
        if key is None:
            raise S3Error("MalformedXML")
        requests.append((key, xml.child_text(obj, "VersionId")))

    async def one(key: str, version: str | None) -> tuple[str, list] | None:
        entry = [("Key", quote(key, safe="/") if encode else key)] + ([("VersionId", version)] if version is not None else [])
        if len(key.encode()) > 1024:
            return "Error", entry + [("Code", "KeyTooLongError"), ("Message", "Your key is too long")]
        if version is not None and not is_version_id(version):
            return "Error", entry + [("Code", "NoSuchVersion"), ("Message", "The specified version does not exist.")]
        try:
            deleted = await delete(ctx, bucket, key, version)
            removed.append(deleted.removed)
        except S3Error as e:  # this key's failure (a locked version, say) is this entry's answer
            return "Error", entry + [("Code", e.code), ("Message", e.message)]
        if quiet:
            return None
        if deleted.delete_marker:
            # The marker added, or (a version named) the marker removed: S3 names it either way.
            entry += [("DeleteMarker", True), ("DeleteMarkerVersionId", deleted.version_id)]
        return "Deleted", entry

    # Side by side: each is its own index write, and the writer commits them together.
    removed: list[ObjectRecord | None] = []
    outcomes = await asyncio.gather(*(one(key, version) for key, version in requests))
    await ctx.services.data.drop_records(removed)  # one trip to a worker thread for the whole batch
    return xml_response(xml.render("DeleteResult", [o for o in outcomes if o is not None]))
