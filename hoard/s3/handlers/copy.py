"""Server-side copies: CopyObject and UploadPartCopy."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from hoard.http.numbers import decimal
from hoard.http.response import Response, xml_response
from hoard.model import REPLICATION_STATUS_HEADER, ObjectRecord, Placement
from hoard.objects.data import ObjectData, read_all
from hoard.objects.encryption import DataKey
from hoard.objects.versions import NULL_VERSION, is_version_id, single_part_version
from hoard.s3 import checksums, tags, xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers import sse
from hoard.s3.handlers.common import (
    Context,
    check_key,
    etag_matches,
    now,
    object_headers,
    operation,
    parse_http_date,
    require_bucket_for_write,
    require_restored,
    storage_class,
)
from hoard.s3.handlers.grants import request_acl
from hoard.s3.handlers.multipart import part_number, require_upload, store_part
from hoard.s3.handlers.objects import checksum_headers, write_precondition
from hoard.s3.handlers.owners import note_owner, version_owner
from hoard.s3.handlers.replicas import replication_marks
from hoard.s3.handlers.retention import lock_for_write
from hoard.s3.handlers.versioning import version_headers, versioning_of

MAX_COPY_SIZE = 5 * 1024**3


@dataclass(frozen=True)
class CopiedBlob:
    blob: str  # "" when inline
    size: int
    md5_hex: str
    checksum: str
    inline: list[bytes] | None = None
    stored: int = 0  # what the copy's shard files hold, when encrypted
    missed: int = 0  # drives the copy's shard files did not reach


def copy_source_headers(ctx: Context, source: ObjectRecord) -> dict[str, str]:
    """``x-amz-copy-source-version-id``: the source version's id, when it has one or was named."""
    named = parse_copy_source(ctx.req.headers["x-amz-copy-source"])[2] is not None
    return {"x-amz-copy-source-version-id": source.version_id} if source.version_id != NULL_VERSION or named else {}


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """``bucket/key`` (URL-encoded, optional leading slash, optional ``?versionId=``)."""
    version = None
    if "?versionId=" in value:
        value, version = value.split("?versionId=", 1)
    path = unquote(value)
    if path.startswith("/"):
        path = path[1:]
    bucket, _, key = path.partition("/")
    if not bucket or not key or "\x00" in path:  # U+0000 names no key (see the router)
        raise S3Error("InvalidArgument", "Invalid copy source object key", ArgumentName="x-amz-copy-source", ArgumentValue=value)
    return bucket, key, version


async def load_source(ctx: Context) -> ObjectRecord:
    bucket, key, version = parse_copy_source(ctx.req.headers["x-amz-copy-source"])
    # Reading the source is a permission of its own, on another resource than the request's.
    await ctx.authorize("GetObject", bucket, key, version)
    if version is not None and not is_version_id(version):
        raise S3Error("InvalidArgument", "Invalid version id specified", ArgumentName="x-amz-copy-source", ArgumentValue=version)
    record = await (ctx.store.get_object(bucket, key) if version is None else ctx.store.get_version(bucket, key, version))
    if record is None or (record.delete_marker and version is None):
        if await ctx.store.get_bucket(bucket) is None:
            raise S3Error("NoSuchBucket", BucketName=bucket)
        if version is not None:
            raise S3Error("NoSuchVersion", Key=key, VersionId=version)
        raise S3Error("NoSuchKey", Key=key)
    if record.delete_marker:
        raise S3Error("InvalidRequest", "The source of a copy request may not specifically refer to a delete marker by version id.")
    require_restored(record)
    h = ctx.req.headers
    modified = int(record.last_modified)
    if "x-amz-copy-source-if-match" in h and not etag_matches(h["x-amz-copy-source-if-match"], record.etag):
        raise S3Error("PreconditionFailed", Condition="x-amz-copy-source-If-Match")
    if "x-amz-copy-source-if-none-match" in h and etag_matches(h["x-amz-copy-source-if-none-match"], record.etag):
        raise S3Error("PreconditionFailed", Condition="x-amz-copy-source-If-None-Match")
    since = parse_http_date(h.get("x-amz-copy-source-if-unmodified-since", ""))
    if since is not None and "x-amz-copy-source-if-match" not in h and modified > since:
        raise S3Error("PreconditionFailed", Condition="x-amz-copy-source-If-Unmodified-Since")
    since = parse_http_date(h.get("x-amz-copy-source-if-modified-since", ""))
    if since is not None and "x-amz-copy-source-if-none-match" not in h and modified <= since:
        raise S3Error("PreconditionFailed", Condition="x-amz-copy-source-If-Modified-Since")
    return record


def _copy_bytes(
    data: ObjectData,
    source: ObjectRecord,
    start: int,
    end: int,
    algorithm: str,
    placement: Placement,
    inline: bool,
    key: DataKey | None,
    part: int,
    source_key: bytes | None,
) -> CopiedBlob:
    md5 = hashlib.md5()
    hashers: list = [md5]
    checksum = checksums.new_hasher(algorithm) if algorithm else None
    if checksum is not None:
        hashers.append(checksum)
    # The source is read as clients read it (decrypted), the copy encrypted with its own key, if any.
    writer = data.writer_sync(placement, hashers, inline, key, part)
    try:
        if end >= start:
            reader = data.open_sync(source, start, end, source_key)
            try:
                read_all(reader, writer.write)
            finally:
                reader.close()
        stored = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return CopiedBlob(stored.shard_id, stored.size, md5.hexdigest(), checksums.encode(checksum.digest()) if checksum else "", stored.inline, stored.stored, stored.missed)


async def copy_bytes(
    ctx: Context,
    source: ObjectRecord,
    span: Callable[[ObjectRecord], tuple[int, int]],
    algorithm: str,
    placement: Placement,
    inline: bool,
    key: DataKey | None = None,
    part: int = 0,
) -> tuple[CopiedBlob, ObjectRecord]:
    """Copy ``span(source)`` of the source; returns the copy and the source version it was made
    from. A source replaced while it was looked up is looked up again (its span too), so that the
    copy's bytes, headers and tags all come from one version. ``inline``: a small copy may be."""
    for _ in range(5):
        start, end = span(source)
        small = inline and ctx.services.data.inline(end - start + 1)
        source_key = sse.read_key(ctx, source, copy_source=True)  # an SSE-C source: its key, in x-amz-copy-source-...
        try:
            copied = await asyncio.to_thread(_copy_bytes, ctx.services.data, source, start, end, algorithm, placement, small, key, part, source_key)
            return copied, source
        except FileNotFoundError:
            source = await load_source(ctx)
    raise S3Error("SlowDown", "The copy source is being replaced too often to be copied.")


@operation("CopyObject")
async def copy_object(ctx: Context) -> Response:
    check_key(ctx.key)
    directive = ctx.req.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.", ArgumentName="x-amz-metadata-directive", ArgumentValue=directive)
    tag_directive = ctx.req.headers.get("x-amz-tagging-directive", "COPY").upper()
    if tag_directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown tagging directive.", ArgumentName="x-amz-tagging-directive", ArgumentValue=tag_directive)
    # REPLACE: the request's tags (none without x-amz-tagging); COPY: the source's, the header unused.
    replaced_tags = tags.from_header(ctx.req.header_utf8("x-amz-tagging")) if tag_directive == "REPLACE" else None
    sclass = storage_class(ctx)
    precondition = write_precondition(ctx)
    bucket = await require_bucket_for_write(ctx)
    lock = lock_for_write(ctx, bucket, now())
    grants = request_acl(ctx, bucket) or ()
    owner = version_owner(ctx, bucket, grants)
    source = await load_source(ctx)
    # Copying an older version over its key is how a version is restored: not a copy to itself.
    named_version = parse_copy_source(ctx.req.headers["x-amz-copy-source"])[2] is not None
    same = (source.bucket, source.key) == (ctx.bucket, ctx.key) and not named_version
    unchanged = directive == "COPY" and tag_directive == "COPY"
    changes = ("x-amz-storage-class", "x-amz-checksum-algorithm", sse.SSE_HEADER)
    if same and unchanged and not any(name in ctx.req.headers for name in changes):
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        )
    if source.size > MAX_COPY_SIZE:
        raise S3Error("InvalidRequest", f"The specified copy source is larger than the maximum allowable size for a copy source: {MAX_COPY_SIZE}")
    algorithm = ctx.req.headers.get("x-amz-checksum-algorithm", "").upper() or source.checksum_algorithm
    if algorithm and algorithm not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported.")
    placement = ctx.services.data.placement(ctx.bucket, ctx.key, sclass)
    # The copy's encryption is the request's or the bucket's default, never the source's as such.
    encryption, key = sse.new_key(ctx, bucket)
    copied, source = await copy_bytes(ctx, source, _whole, algorithm, placement, inline=True, key=key)
    headers = dict(source.headers) if directive == "COPY" else object_headers(ctx)
    # A copy is a new version of its own: not a replica, and replicated if its bucket is.
    headers.pop(REPLICATION_STATUS_HEADER, None)
    headers.update(replication_marks(bucket))
    record = single_part_version(
        bucket=ctx.bucket,
        key=ctx.key,
        blob=copied.blob,
        size=copied.size,
        md5_hex=sse.etag_digest(encryption, key, copied.md5_hex),
        placement=placement,
        inline=copied.inline is not None,
        storage_class=sclass,
        headers=headers,
        tags=source.tags if replaced_tags is None else replaced_tags,
        checksum_algorithm=algorithm,
        checksum_value=copied.checksum,
        versioning=versioning_of(bucket),
        lock=lock,
        acl=grants,
        owner_id=owner,
        encryption=encryption,
        stored=copied.stored,
    )
    await note_owner(ctx, bucket, owner)
    await ctx.services.data.commit_version(ctx.store, record, copied.inline, precondition, missed=copied.missed)
    children: list = [("ETag", record.etag), ("LastModified", xml.format_time(record.last_modified))]
    if algorithm:
        children += [("ChecksumType", "FULL_OBJECT"), (f"Checksum{algorithm}", copied.checksum)]
    headers = {**checksum_headers(record), **version_headers(record), **copy_source_headers(ctx, source), **sse.write_headers(record.encryption)}
    return xml_response(xml.render("CopyObjectResult", children), headers=headers)


def _whole(source: ObjectRecord) -> tuple[int, int]:
    return 0, source.size - 1


def _source_range(ctx: Context, size: int) -> tuple[int, int]:
    raw = ctx.req.headers.get("x-amz-copy-source-range")
    if raw is None:
        return 0, size - 1
    spec = raw.strip(" \t")
    invalid = S3Error("InvalidArgument", f"Range specified is not valid for source object of size: {size}", ArgumentName="x-amz-copy-source-range", ArgumentValue=raw)
    if not spec.startswith("bytes="):
        raise invalid
    first, sep, last = spec[len("bytes="):].partition("-")
    start, end = decimal(first.strip(" \t")), decimal(last.strip(" \t"))
    if not sep or start is None or end is None or start > end:
        raise invalid
    if end >= size:
        # Well formed, but past the source's end: S3 tells this apart from a malformed range.
        raise S3Error("InvalidRange", f"The requested range is not satisfiable: the source object is {size} bytes", RangeRequested=raw, ActualObjectSize=str(size))
    return start, end


@operation("UploadPartCopy")
async def upload_part_copy(ctx: Context) -> Response:
    number = part_number(ctx)
    upload = await require_upload(ctx)
    source = await load_source(ctx)
    start, end = _source_range(ctx, source.size)
    if end - start + 1 > MAX_COPY_SIZE:
        raise S3Error("InvalidRequest", "The specified copy range is larger than the maximum part size.")
    placement = ctx.services.data.upload_placement(upload)
    key = sse.upload_key(ctx, upload)
    copied, source = await copy_bytes(ctx, source, lambda s: _source_range(ctx, s.size), upload.checksum_algorithm, placement, inline=False, key=key, part=number)
    part = await store_part(
        ctx, upload, number, copied.blob, copied.size, sse.etag_digest(upload.encryption, key, copied.md5_hex), copied.checksum, copied.stored, copied.missed
    )
    children: list = [("ETag", part.etag), ("LastModified", xml.format_time(part.last_modified))]
    if upload.checksum_algorithm:
        children.append((f"Checksum{upload.checksum_algorithm}", copied.checksum))
    return xml_response(xml.render("CopyPartResult", children), headers={**copy_source_headers(ctx, source), **sse.answer_headers(upload.encryption)})
