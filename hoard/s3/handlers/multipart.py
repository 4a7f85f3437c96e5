"""Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads. (UploadPartCopy lives with the copies.)

Completing an upload copies no bytes: the object's segments are the parts' blobs, in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time

from hoard.http.numbers import decimal
from hoard.http.response import Response, xml_response
from hoard.model import Bucket, ObjectRecord, Part, Upload
from hoard.objects.lock import LockSettings
from hoard.objects.versions import multipart_version, new_seq, version_id_for
from hoard.s3 import checksums, tags, xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers import sse
from hoard.s3.handlers.common import (
    MAX_PART_NUMBER,
    MIN_PART_SIZE,
    Context,
    check_key,
    check_no_nul,
    int_param,
    now,
    object_headers,
    operation,
    quote_etag,
    require_bucket,
    require_bucket_for_write,
    storage_class,
)
from hoard.s3.handlers.grants import request_acl
from hoard.s3.handlers.listing import url_encoder
from hoard.s3.handlers.objects import write_precondition
from hoard.s3.handlers.owners import note_owner, owner_of_upload, owner_xml, writer
from hoard.s3.handlers.payload import receive_blob, receive_document
from hoard.s3.handlers.replicas import parse_replica, replica_write, replication_marks
from hoard.s3.handlers.retention import lock_for_write, require_body_integrity
from hoard.s3.handlers.versioning import version_headers, versioning_of

MAX_PART_SIZE = 5 * 1024**3


def part_number(ctx: Context) -> int:
    raw = ctx.req.params.get("partNumber", "")
    number = decimal(raw, signed=True)
    if number is None or not 1 <= number <= MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", ArgumentName="partNumber", ArgumentValue=raw)
    return number


async def require_upload(ctx: Context) -> Upload:
    upload_id = ctx.req.params.get("uploadId", "")
    upload = await ctx.store.get_upload(upload_id)
    if upload is None or upload.bucket != ctx.bucket or upload.key != ctx.key:
        if upload is None:
            await require_bucket(ctx)
        raise S3Error("NoSuchUpload", UploadId=upload_id)
    return upload


def _checksum_choice(ctx: Context) -> tuple[str, str]:
    algorithm = ctx.req.headers.get("x-amz-checksum-algorithm", "").upper()
    kind = ctx.req.headers.get("x-amz-checksum-type", "").upper()
    if not algorithm:
        if kind:
            raise S3Error("InvalidRequest", "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
        return "", ""
    if algorithm not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
    if not kind:
        kind = "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
    if kind not in ("COMPOSITE", "FULL_OBJECT"):
        raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
    if kind == "FULL_OBJECT" and algorithm not in checksums.CRC_WIDTH:
        raise S3Error("InvalidRequest", f"The {algorithm} algorithm is not supported for the FULL_OBJECT checksum type.")
    if kind == "COMPOSITE" and algorithm == "CRC64NVME":
        raise S3Error("InvalidRequest", "The CRC64NVME algorithm is not supported for the COMPOSITE checksum type.")
    return algorithm, kind


@operation("CreateMultipartUpload")
async def create_multipart_upload(ctx: Context) -> Response:
    check_key(ctx.key)
    sclass = storage_class(ctx)
    headers = object_headers(ctx)
    algorithm, kind = _checksum_choice(ctx)
    tag_set = tags.from_header(ctx.req.header_utf8("x-amz-tagging"))
    bucket = await require_bucket_for_write(ctx)
    lock = lock_for_write(ctx, bucket, now())
    grants = request_acl(ctx, bucket) or ()
    # A replica's source version rides with the upload to its completion.
    replica = await replica_write(ctx, bucket)
    headers = {**headers, **replication_marks(bucket), **(replica.headers() if replica is not None else {})}
    encryption, _key = sse.new_key(ctx, bucket)  # the parts unseal it when they come
    upload = Upload(
        # Time first: one key's uploads list in the order they were initiated (ListMultipartUploads
        # sorts them so), and upload-id-marker compares ids lexicographically.
        upload_id=f"{time.time_ns():016x}{secrets.token_urlsafe(24)}",
        bucket=ctx.bucket,
        key=ctx.key,
        initiated=now(),
        storage_class=sclass,
        headers=headers,
        checksum_algorithm=algorithm,
        checksum_type=kind,
        owner_id=writer(ctx, bucket),
        tags=tag_set,
        acl=grants,
        encryption=encryption,
        # The pool every part goes to (a cluster's; 0 on one server).
        pool=ctx.services.data.placement(ctx.bucket, ctx.key, sclass).pool,
        **lock.fields(),
    )
    await ctx.store.create_upload(upload)
    extra = sse.write_headers(encryption)
    if algorithm:
        extra.update({"x-amz-checksum-algorithm": algorithm, "x-amz-checksum-type": kind})
    body = xml.render(
        "InitiateMultipartUploadResult",
        [("Bucket", ctx.bucket), ("Key", ctx.key), ("UploadId", upload.upload_id)],
    )
    return xml_response(body, headers=extra)


async def store_part(
    ctx: Context, upload: Upload, number: int, blob: str, size: int, md5_hex: str, checksum: str, stored: int = 0, missed: int = 0
) -> Part:
    # A part that missed a drive marks itself: its completed object is queued for healing.
    part = Part(upload.upload_id, number, size, quote_etag(md5_hex), blob, now(), checksum, stored if stored != size else 0, missed > 0)
    try:
        await ctx.store.put_part(part)
    except BaseException:
        await asyncio.to_thread(ctx.services.data.remove_shard, blob)
        raise
    return part


@operation("UploadPart")
async def upload_part(ctx: Context) -> Response:
    number = part_number(ctx)
    upload = await require_upload(ctx)
    if upload.retention_mode or upload.legal_hold:
        # The parts of a locked object come with a Content-MD5 or checksum, as its PUT would.
        require_body_integrity(ctx)
    placement = ctx.services.data.upload_placement(upload)
    key = sse.upload_key(ctx, upload)
    stored = await receive_blob(ctx, MAX_PART_SIZE, placement, upload.checksum_algorithm, key=key, part=number)
    checksum = stored.checksum_value if upload.checksum_algorithm else ""
    part = await store_part(
        ctx, upload, number, stored.blob, stored.size, sse.etag_digest(upload.encryption, key, stored.md5_hex), checksum, stored.stored, stored.missed
    )
    headers = {"etag": part.etag, **sse.answer_headers(upload.encryption)}
    if stored.checksum_algorithm:
        headers[checksums.header_name(stored.checksum_algorithm)] = stored.checksum_value
    return Response(headers=headers)


def _requested_parts(body: bytes, algorithm: str) -> list[tuple[int, str, str | None]]:
    root = xml.parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    requested: list[tuple[int, str, str | None]] = []
    for el in root.findall("Part"):
        number_text = xml.child_text(el, "PartNumber")
        etag = xml.child_text(el, "ETag")
        if number_text is None or etag is None:
            raise S3Error("MalformedXML")
        # XML's own whitespace around an integer element is not part of it (xs:int collapses it).
        number = decimal(number_text.strip(" \t\r\n"), signed=True)
        if number is None:
            raise S3Error("MalformedXML")
        claimed = xml.child_text(el, f"Checksum{algorithm}") if algorithm else None
        requested.append((number, etag.strip(), claimed))
    if not requested:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
    return requested


def _combine_checksum(upload: Upload, parts: list[Part]) -> str:
    algorithm = upload.checksum_algorithm
    raws = [checksums.decode(p.checksum, algorithm) for p in parts]
    if upload.checksum_type == "FULL_OBJECT":
        value = int.from_bytes(raws[0], "big")
        for raw, part in zip(raws[1:], parts[1:], strict=True):
            value = checksums.combine_crc(algorithm, value, int.from_bytes(raw, "big"), part.size)
        return checksums.encode(value.to_bytes(checksums.CRC_WIDTH[algorithm], "big"))
    hasher = checksums.new_hasher(algorithm)
    hasher.update(b"".join(raws))
    return f"{checksums.encode(hasher.digest())}-{len(parts)}"


def _by_number(requested: list[tuple[int, str, str | None]], upload_id: str) -> list[tuple[int, list[tuple[str, str | None]]]]:
    """The client's part list grouped by part number, which must not decrease."""
    grouped: list[tuple[int, list[tuple[str, str | None]]]] = []
    for number, etag, claimed in requested:
        if grouped and number < grouped[-1][0]:
            raise S3Error("InvalidPartOrder", UploadId=upload_id)
        if grouped and number == grouped[-1][0]:
            grouped[-1][1].append((etag, claimed))
        else:
            grouped.append((number, [(etag, claimed)]))
    return grouped


def _same_checksum(claimed: str, computed: str) -> bool:
    """A composite checksum may be given with or without its ``-N`` part count."""
    value, _, count = computed.partition("-")
    return claimed == computed or (bool(count) and claimed == value)


def _completed_answer(ctx: Context, etag: str, algorithm: str, checksum: str, kind: str, version: dict[str, str] | None = None) -> Response:
    children: list = [
        ("Location", f"/{ctx.bucket}/{ctx.key}"),
        ("Bucket", ctx.bucket),
        ("Key", ctx.key),
        ("ETag", etag),
    ]
    headers = dict(version or {})
    if algorithm:
        children += [(f"Checksum{algorithm}", checksum), ("ChecksumType", kind)]
        headers.update({checksums.header_name(algorithm): checksum, "x-amz-checksum-type": kind})
    return xml_response(xml.render("CompleteMultipartUploadResult", children), headers=headers)


async def _retried_complete(ctx: Context) -> Response | None:
    """The answer to a complete sent again after it succeeded (a client whose answer was lost):
    the same answer, as long as the object it made is still the key's current version."""
    done = await ctx.store.get_completed_upload(ctx.req.params.get("uploadId", ""))
    if done is None or (done.bucket, done.key) != (ctx.bucket, ctx.key):
        return None
    current = await ctx.store.get_object(ctx.bucket, ctx.key)
    if current is None or current.etag != done.etag or current.last_modified != done.completed:
        return None
    await receive_document(ctx, body_checksum=False)
    return _completed_answer(ctx, done.etag, done.checksum_algorithm, done.checksum_value, done.checksum_type, {**version_headers(current), **sse.answer_headers(current.encryption)})


@operation("CompleteMultipartUpload")
async def complete_multipart_upload(ctx: Context) -> Response:
    try:
        upload = await require_upload(ctx)
    except S3Error as e:
        if e.code == "NoSuchUpload" and (retried := await _retried_complete(ctx)) is not None:
            return retried
        raise
    precondition = write_precondition(ctx, started=upload.initiated)
    sse.check_complete_key(ctx, upload)
    requested = _requested_parts(await receive_document(ctx, body_checksum=False), upload.checksum_algorithm)
    claimed_object_checksum = None
    data = ctx.services.data
    placement = data.upload_placement(upload)
    data_id = data.new_data_id()
    completed_at = now()
    seq = new_seq()
    bucket = await require_bucket(ctx)
    version_id = version_id_for(versioning_of(bucket), seq)
    owner = owner_of_upload(bucket, upload.owner_id or bucket.owner_id, upload.acl)
    replica = parse_replica(upload.headers)
    await note_owner(ctx, bucket, owner)
    if upload.checksum_algorithm:
        claimed_object_checksum = ctx.req.headers.get(checksums.header_name(upload.checksum_algorithm))

    def build(current: Upload, stored: dict[int, Part]) -> tuple[ObjectRecord, set[int]]:
        chosen: list[Part] = []
        for number, entries in _by_number(requested, current.upload_id):
            part = stored.get(number)
            # A part sent twice is listed twice when both sends were answered: the send that
            # completed last is the stored part, and any of the listed entries may name it.
            entry = next((e for e in entries if part is not None and part.etag.strip('"') == e[0].strip('"')), None)
            if part is None or entry is None:
                raise S3Error("InvalidPart", UploadId=current.upload_id, PartNumber=str(number), ETag=entries[-1][0])
            claimed = entry[1]
            if claimed is not None and claimed != part.checksum:
                raise S3Error("InvalidPart", f"The {current.checksum_algorithm} you specified for part {number} does not match the uploaded part.", UploadId=current.upload_id, PartNumber=str(number))
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise S3Error("EntityTooSmall", ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART_SIZE), PartNumber=str(part.number), ETag=part.etag)
        checksum = ""
        if current.checksum_algorithm:
            if any(not p.checksum for p in chosen):
                raise S3Error("InvalidRequest", "A part of this upload carries no checksum for the upload's checksum algorithm.")
            checksum = _combine_checksum(current, chosen)
            if claimed_object_checksum is not None and not _same_checksum(claimed_object_checksum, checksum):
                raise S3Error("BadDigest", f"The {current.checksum_algorithm} you specified did not match the calculated checksum.")
        lock = LockSettings(current.retention_mode, current.retain_until, current.legal_hold)
        record = multipart_version(current, chosen, placement, data_id, completed_at, checksum, seq, version_id, lock, owner)
        if replica is not None:
            record = replica.apply(record)
        return record, {p.number for p in chosen}

    # The version's records must be on the drives before the index commit makes it visible,
    # so the object is built from the parts as they are now, published, and built again inside
    # the transaction: if a part changed in between, the complete fails instead of lying.
    snapshot = {p.number: p for p in await ctx.store.list_parts(upload.upload_id, 0, MAX_PART_NUMBER + 1)}
    if upload.encryption is not None:
        # Sealed under the master key in use now, should a rotation have begun since the upload did.
        upload = dataclasses.replace(upload, encryption=data.keys.fresh(upload.encryption))
    record, _ = build(upload, snapshot)

    def build_again(current: Upload, stored: dict[int, Part]) -> tuple[ObjectRecord, set[int]]:
        rebuilt, used = build(current, stored)
        if rebuilt.encryption is not None and record.encryption is not None and rebuilt.encryption.encryption_id == record.encryption.encryption_id:
            # A master key rotation may have resealed the upload's data key meanwhile: the same
            # key, sealed anew; the version keeps the envelope its records on the drives have.
            rebuilt = dataclasses.replace(rebuilt, encryption=record.encryption)
        if rebuilt != record:
            raise S3Error("InvalidPart", "A part of this upload was replaced while it was being completed.", UploadId=current.upload_id)
        return rebuilt, used

    record = await data.commit_multipart(ctx.store, upload.upload_id, record, build_again, precondition)
    return _completed_answer(ctx, record.etag, record.checksum_algorithm, record.checksum_value, record.checksum_type, {**version_headers(record), **sse.answer_headers(record.encryption)})


@operation("AbortMultipartUpload")
async def abort_multipart_upload(ctx: Context) -> Response:
    upload = await require_upload(ctx)
    await ctx.store.abort_upload(upload.upload_id)
    return Response(status=204)


def _initiator(ctx: Context, upload: Upload, bucket: Bucket) -> list:
    """Who started the upload (its account; uploads from before accounts: the deployment's), and
    who will own the object it becomes (the bucket's owner, where ownership rules say so)."""
    initiator = upload.owner_id or ctx.services.root.owner_id
    owner = owner_of_upload(bucket, initiator, upload.acl) or bucket.owner_id
    return [("Initiator", owner_xml(ctx, initiator)), ("Owner", owner_xml(ctx, owner))]


@operation("ListParts")
async def list_parts(ctx: Context) -> Response:
    upload = await require_upload(ctx)
    bucket = await require_bucket(ctx)
    max_parts = int_param(ctx, "max-parts", 1000, 0, 2147483647)
    marker = int_param(ctx, "part-number-marker", 0, 0, 2147483647)
    parts = await ctx.store.list_parts(upload.upload_id, marker, min(max_parts, 1000) + 1)
    truncated = len(parts) > min(max_parts, 1000)
    parts = parts[: min(max_parts, 1000)]
    children: list = [
        ("Bucket", ctx.bucket),
        ("Key", ctx.key),
        ("UploadId", upload.upload_id),
        ("PartNumberMarker", marker),
        ("NextPartNumberMarker", parts[-1].number if parts else marker),
        ("MaxParts", max_parts),
        ("IsTruncated", truncated),
    ]
    for p in parts:
        entry: list = [
            ("PartNumber", p.number),
            ("LastModified", xml.format_time(p.last_modified)),
            ("ETag", p.etag),
            ("Size", p.size),
        ]
        if upload.checksum_algorithm and p.checksum:
            entry.append((f"Checksum{upload.checksum_algorithm}", p.checksum))
        children.append(("Part", entry))
    children += _initiator(ctx, upload, bucket)
    children.append(("StorageClass", upload.storage_class))
    if upload.checksum_algorithm:
        children += [("ChecksumAlgorithm", upload.checksum_algorithm), ("ChecksumType", upload.checksum_type)]
    return xml_response(xml.render("ListPartsResult", children))


@operation("ListMultipartUploads")
async def list_multipart_uploads(ctx: Context) -> Response:
    params = ctx.req.params
    check_no_nul(params)
    prefix = params.get("prefix", "")
    delimiter = params.get("delimiter", "")
    key_marker = params.get("key-marker", "")
    upload_id_marker = params.get("upload-id-marker", "")
    max_uploads = int_param(ctx, "max-uploads", 1000, 0, 2147483647)
    encoding = params.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", ArgumentName="encoding-type")

    enc = url_encoder(ctx)
    bucket = await require_bucket(ctx)
    listing = await ctx.store.list_uploads(ctx.bucket, prefix, delimiter, key_marker, upload_id_marker, min(max_uploads, 1000))
    children: list = [
        ("Bucket", ctx.bucket),
        ("KeyMarker", enc(key_marker)),
        ("UploadIdMarker", upload_id_marker),
    ]
    if listing.truncated:
        # The last thing returned: an upload (key and id), or a common prefix (key only).
        children.append(("NextKeyMarker", enc(listing.next_marker)))
        if listing.entries and listing.entries[-1].key == listing.next_marker:
            children.append(("NextUploadIdMarker", listing.entries[-1].upload_id))
    children += [
        ("Prefix", enc(prefix)),
        ("Delimiter", enc(delimiter) if delimiter else None),
        ("MaxUploads", max_uploads),
        ("EncodingType", "url" if encoding else None),
        ("IsTruncated", listing.truncated),
    ]
    for u in listing.entries:
        entry: list = [("Key", enc(u.key)), ("UploadId", u.upload_id)]
        entry += _initiator(ctx, u, bucket)
        entry += [("StorageClass", u.storage_class), ("Initiated", xml.format_time(u.initiated))]
        if u.checksum_algorithm:
            entry += [("ChecksumAlgorithm", u.checksum_algorithm), ("ChecksumType", u.checksum_type)]
        children.append(("Upload", entry))
    children += [("CommonPrefixes", [("Prefix", enc(p))]) for p in listing.prefixes]
    return xml_response(xml.render("ListMultipartUploadsResult", children))
