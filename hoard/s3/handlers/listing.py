"""Listing: ListObjects (v1), ListObjectsV2 and ListObjectVersions."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote_plus

from hoard.http.response import Response, xml_response
from hoard.model import ListedObject, Listing
from hoard.objects.versions import is_version_id
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, check_no_nul, int_param, operation, require_bucket
from hoard.s3.handlers.owners import owner_xml

MAX_KEYS = 1000


def url_encoder(ctx: Context):
    encoding = ctx.req.params.get("encoding-type")
    if encoding is None:
        return lambda s: s
    if encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", ArgumentName="encoding-type", ArgumentValue=encoding)
    # botocore decodes with unquote_plus: spaces as "+", a literal "+" as %2B.
    return lambda s: quote_plus(s, safe="/")


def _common(ctx: Context) -> tuple[str, str, int]:
    params = ctx.req.params
    check_no_nul(params)
    return params.get("prefix", ""), params.get("delimiter", ""), int_param(ctx, "max-keys", MAX_KEYS, 0, 2147483647)


OPTIONAL_ATTRIBUTES = ("RestoreStatus",)


def restore_status_wanted(ctx: Context) -> bool:
    """Whether ``x-amz-optional-object-attributes`` asks for RestoreStatus (the one S3 has)."""
    raw = ctx.req.headers.get("x-amz-optional-object-attributes")
    if raw is None:
        return False
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in OPTIONAL_ATTRIBUTES:
            raise S3Error("InvalidArgument", "Invalid attribute name specified.", ArgumentName="x-amz-optional-object-attributes", ArgumentValue=name)
    return "RestoreStatus" in names


def _restore_status(record: ListedObject) -> tuple | None:
    r = record.restore
    if r is None:
        return None
    if r.ongoing:
        return ("RestoreStatus", [("IsRestoreInProgress", True)])
    return ("RestoreStatus", [("IsRestoreInProgress", False), ("RestoreExpiryDate", xml.format_time(r.expires))])


def _contents(
    ctx: Context, record: ListedObject, enc, bucket_owner: str | None, tag: str = "Contents", versions: bool = False, restore: bool = False
):
    """One listed version; its Owner shown where ``bucket_owner`` is given (None: not asked for),
    its RestoreStatus where ``restore`` asks and it has one."""
    children: list = [("Key", enc(record.key))]
    if versions:
        children += [("VersionId", record.version_id), ("IsLatest", record.is_latest)]
    children += [
        ("LastModified", xml.format_time(record.last_modified)),
        ("ETag", record.etag),
    ]
    if record.checksum_algorithm:
        children += [("ChecksumAlgorithm", record.checksum_algorithm), ("ChecksumType", record.checksum_type)]
    children += [("Size", record.size), ("StorageClass", record.storage_class)]
    if bucket_owner is not None:
        children.append(("Owner", owner_xml(ctx, record.owner_id or bucket_owner)))
    status = _restore_status(record) if restore else None
    if status is not None:
        children.append(status)
    return (tag, children)


def _prefixes(listing: Listing, enc) -> list:
    return [("CommonPrefixes", [("Prefix", enc(p))]) for p in listing.prefixes]


@operation("ListObjects")
async def list_objects(ctx: Context) -> Response:
    enc = url_encoder(ctx)
    prefix, delimiter, max_keys = _common(ctx)
    marker = ctx.req.params.get("marker", "")
    restore = restore_status_wanted(ctx)
    bucket = await require_bucket(ctx)
    listing = await ctx.store.list_objects(ctx.bucket, prefix, delimiter, marker, min(max_keys, MAX_KEYS))
    children: list = [
        ("Name", ctx.bucket),
        # Version 1 leaves its Prefix as sent, encoded or not (botocore decodes only Marker,
        # NextMarker, Delimiter, keys and common prefixes of a v1 answer).
        ("Prefix", prefix),
        ("Marker", enc(marker)),
        ("MaxKeys", max_keys),
        ("Delimiter", enc(delimiter) if delimiter else None),
        ("EncodingType", "url" if "encoding-type" in ctx.req.params else None),
        ("IsTruncated", listing.truncated),
    ]
    if listing.truncated and delimiter:
        children.append(("NextMarker", enc(listing.next_marker)))
    children += [_contents(ctx, r, enc, bucket.owner_id, restore=restore) for r in listing.entries]
    children += _prefixes(listing, enc)
    return xml_response(xml.render("ListBucketResult", children))


def _decode_token(token: str) -> str:
    try:
        after = base64.urlsafe_b64decode(token.encode()).decode()
        if "\x00" not in after:
            return after
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise S3Error("InvalidArgument", "The continuation token provided is incorrect", ArgumentName="continuation-token")


@operation("ListObjectsV2")
async def list_objects_v2(ctx: Context) -> Response:
    enc = url_encoder(ctx)
    params = ctx.req.params
    prefix, delimiter, max_keys = _common(ctx)
    token = params.get("continuation-token")
    start_after = params.get("start-after", "")
    # An empty token is no token: the listing starts at start-after (and the answer echoes it).
    after = _decode_token(token) if token else start_after
    fetch_owner = params.get("fetch-owner", "").lower() == "true"
    restore = restore_status_wanted(ctx)
    bucket = await require_bucket(ctx)
    listing = await ctx.store.list_objects(ctx.bucket, prefix, delimiter, after, min(max_keys, MAX_KEYS))
    children: list = [
        ("Name", ctx.bucket),
        ("Prefix", enc(prefix)),
        ("Delimiter", enc(delimiter) if delimiter else None),
        ("MaxKeys", max_keys),
        ("EncodingType", "url" if "encoding-type" in params else None),
        ("KeyCount", len(listing.entries) + len(listing.prefixes)),
        ("IsTruncated", listing.truncated),
        ("ContinuationToken", token),
        ("StartAfter", enc(start_after) if "start-after" in params else None),
    ]
    if listing.truncated:
        children.append(("NextContinuationToken", base64.urlsafe_b64encode(listing.next_marker.encode()).decode()))
    children += [_contents(ctx, r, enc, bucket.owner_id if fetch_owner else None, restore=restore) for r in listing.entries]
    children += _prefixes(listing, enc)
    return xml_response(xml.render("ListBucketResult", children))


def _delete_marker(ctx: Context, record: ListedObject, enc, bucket_owner: str):
    return (
        "DeleteMarker",
        [
            ("Key", enc(record.key)),
            ("VersionId", record.version_id),
            ("IsLatest", record.is_latest),
            ("LastModified", xml.format_time(record.last_modified)),
            ("Owner", owner_xml(ctx, record.owner_id or bucket_owner)),
        ],
    )


@operation("ListObjectVersions")
async def list_object_versions(ctx: Context) -> Response:
    enc = url_encoder(ctx)
    params = ctx.req.params
    prefix, delimiter, max_keys = _common(ctx)
    key_marker = params.get("key-marker", "")
    version_marker = params.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise S3Error("InvalidArgument", "A version-id marker cannot be specified without a key marker.", ArgumentName="version-id-marker", ArgumentValue=version_marker)
    if version_marker and not is_version_id(version_marker):
        raise S3Error("InvalidArgument", "Invalid version id specified", ArgumentName="version-id-marker", ArgumentValue=version_marker)
    restore = restore_status_wanted(ctx)
    bucket = await require_bucket(ctx)
    listing = await ctx.store.list_versions(ctx.bucket, prefix, delimiter, key_marker, version_marker, min(max_keys, MAX_KEYS))
    children: list = [
        ("Name", ctx.bucket),
        ("Prefix", enc(prefix)),
        ("KeyMarker", enc(key_marker)),
        ("VersionIdMarker", version_marker),
        ("MaxKeys", max_keys),
        ("Delimiter", enc(delimiter) if delimiter else None),
        ("EncodingType", "url" if "encoding-type" in params else None),
        ("IsTruncated", listing.truncated),
    ]
    if listing.truncated:
        children.append(("NextKeyMarker", enc(listing.next_marker)))
        if listing.entries and listing.entries[-1].key == listing.next_marker:
            children.append(("NextVersionIdMarker", listing.entries[-1].version_id))
    children += [
        _delete_marker(ctx, r, enc, bucket.owner_id) if r.delete_marker else _contents(ctx, r, enc, bucket.owner_id, tag="Version", versions=True, restore=restore)
        for r in listing.entries
    ]
    children += _prefixes(listing, enc)
    return xml_response(xml.render("ListVersionsResult", children))
