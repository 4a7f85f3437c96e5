"""Reading a bucket over S3: its versions, each version's bytes and metadata, its configuration."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from hoard.backup import times
from hoard.backup.connect import error_code
from hoard.backup.plan import Listed, rank_versions
from hoard.backup.records import Version

BLOCK = 1 << 20
_MULTIPART = re.compile(r"[0-9a-f]{32}-(\d+)")
_MD5 = re.compile(r"[0-9a-f]{32}")

# The content headers a PUT sets and a GET answers with, by boto3's names for them.
CONTENT_HEADERS = {
    "content-type": "ContentType",
    "content-encoding": "ContentEncoding",
    "content-disposition": "ContentDisposition",
    "content-language": "ContentLanguage",
    "cache-control": "CacheControl",
    "expires": "Expires",
    "x-amz-website-redirect-location": "WebsiteRedirectLocation",
}

# Answers that mean "this bucket has no such configuration" (or the server has no such
# feature): nothing to keep, not a failure.
ABSENT = {
    "NoSuchTagSet",
    "NoSuchBucketPolicy",
    "NoSuchCORSConfiguration",
    "NoSuchLifecycleConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "OwnershipControlsNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NotImplemented",
    "MethodNotAllowed",
    "404",
    "501",
}


class Changed(Exception):
    """The version changed or went while it was read (in a bucket without versioning, a key
    overwritten or deleted): the next run copies what is there then."""


def check_bucket(client: Any, bucket: str) -> None:
    """Raises ClientError (NoSuchBucket, AccessDenied, ...) for a bucket that cannot be read."""
    # ListObjectVersions rather than HeadBucket: a HEAD's error has no body, so no S3 code to show.
    client.list_object_versions(Bucket=bucket, MaxKeys=1)


def list_versions(client: Any, bucket: str, prefix: str) -> Iterator[Listed]:
    """Every version under ``prefix``, delete markers included, key by key, each key's oldest
    first: a bucket without versioning lists one "null" version a key."""
    pending: list[Listed] = []
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        items = [_listed(v, False) for v in page.get("Versions", [])]
        items += [_listed(m, True) for m in page.get("DeleteMarkers", [])]
        # One page lists objects and delete markers apart: put them back in S3's order, by key
        # and newest first (a key's versions may go on in the next page).
        items.sort(key=lambda v: v.last_modified, reverse=True)
        items.sort(key=lambda v: v.key)
        for item in items:
            if pending and pending[0].key != item.key:
                yield from reversed(rank_versions(pending))
                pending = []
            pending.append(item)
    if pending:
        yield from reversed(rank_versions(pending))


def _listed(item: dict[str, Any], delete_marker: bool) -> Listed:
    return Listed(
        key=item["Key"],
        version_id=item.get("VersionId") or "null",
        etag="" if delete_marker else item.get("ETag", "").strip('"'),
        last_modified=times.stamp(item["LastModified"]),
        size=0 if delete_marker else int(item.get("Size", 0)),
        delete_marker=delete_marker,
        storage_class=item.get("StorageClass") or "STANDARD",
    )


def fetch(client: Any, bucket: str, listed: Listed, out: BinaryIO) -> Version:
    """Read ``listed``'s bytes into ``out`` and its metadata, tags and lock from the bucket,
    checked against the listing: its size, and its ETag where it is an MD5 (of the object, or
    of its parts' MD5s). An object uploaded in parts is read part by part (partNumber), which
    gives each part's size: a restore uploads it again in the same parts. Raises Changed."""
    sha256 = hashlib.sha256()
    whole = hashlib.md5()
    match = _MULTIPART.fullmatch(listed.etag)
    count = int(match.group(1)) if match else 0
    parts: list[tuple[int, str]] = []
    first: dict[str, Any] | None = None
    number = 0
    while number < max(count, 1):
        number += 1
        args: dict[str, Any] = {"Bucket": bucket, "Key": listed.key, "VersionId": listed.version_id, "IfMatch": f'"{listed.etag}"'}
        if count:
            args["PartNumber"] = number
        try:
            answer = client.get_object(**args)
        except ClientError as e:
            if error_code(e) in ("PreconditionFailed", "NoSuchKey", "NoSuchVersion", "412", "404"):
                raise Changed(f"{listed.key!r} changed while it was read") from None
            raise
        if first is None:
            first = answer
            if count and answer.get("PartsCount") is None and int(answer.get("ContentLength", -1)) == listed.size:
                # A server that ignores partNumber answered with the whole object: read it
                # whole, and it is restored in one PUT (with an ETag of its own).
                count = 0
            elif count and int(answer["PartsCount"] or 0) != count:
                raise Changed(f"{listed.key!r} has {answer.get('PartsCount')} parts, its ETag says {count}")
        md5 = hashlib.md5()
        size = 0
        for block in answer["Body"].iter_chunks(BLOCK):
            out.write(block)
            sha256.update(block)
            md5.update(block)
            whole.update(block)
            size += len(block)
        parts.append((size, md5.hexdigest()))
    assert first is not None
    total = sum(size for size, _ in parts)
    if total != listed.size:
        raise Changed(f"{listed.key!r}: read {total} bytes, listed {listed.size}")
    encryption = _encryption_of(first)
    # The ETag of an SSE-KMS or SSE-C version is not made of its bytes' MD5s (on S3 as on Hoard):
    # only the size is left to check against.
    opaque_etag = encryption[0] == "aws:kms" or bool(first.get("SSECustomerAlgorithm"))
    if count and not opaque_etag:
        digests = b"".join(bytes.fromhex(m) for _s, m in parts)
        if f"{hashlib.md5(digests).hexdigest()}-{count}" != listed.etag:
            raise Changed(f"{listed.key!r}: the parts read do not make its ETag {listed.etag}")
    elif not count and not opaque_etag and not match and _MD5.fullmatch(listed.etag) and whole.hexdigest() != listed.etag:
        raise Changed(f"{listed.key!r}: the bytes read do not make its ETag {listed.etag}")
    tags: tuple[tuple[str, str], ...] = ()
    if first.get("TagCount"):
        tag_set = client.get_object_tagging(Bucket=bucket, Key=listed.key, VersionId=listed.version_id)["TagSet"]
        tags = tuple(sorted((t["Key"], t["Value"]) for t in tag_set))
    raw = first["ResponseMetadata"]["HTTPHeaders"]
    headers = tuple(sorted((name, raw[name]) for name in CONTENT_HEADERS if name in raw))
    retain = first.get("ObjectLockRetainUntilDate")
    checksum = ("", "")
    if not count:
        for algorithm in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
            value = first.get(f"Checksum{algorithm}")
            if value and first.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
                checksum = (algorithm, value)
                break
    return Version(
        key=listed.key,
        version_id=listed.version_id,
        etag=listed.etag,
        last_modified=listed.last_modified,
        size=total,
        sha256=sha256.hexdigest(),
        md5=whole.hexdigest(),
        parts=tuple(parts) if count else (),
        storage_class=listed.storage_class,
        headers=headers,
        metadata=tuple(sorted((first.get("Metadata") or {}).items())),
        tags=tags,
        lock_mode=first.get("ObjectLockMode") or "",
        retain_until=times.stamp(retain) if retain else "",
        legal_hold=first.get("ObjectLockLegalHoldStatus") == "ON",
        checksum=checksum,
        encryption=encryption,
        rank=listed.rank,
    )


def _encryption_of(answer: dict[str, Any]) -> tuple[str, str]:
    """How a GET's answer says the version is encrypted at rest: SSE-S3 or SSE-KMS (with its key)."""
    mode = answer.get("ServerSideEncryption") or ""
    if mode == "aws:kms":
        return mode, answer.get("SSEKMSKeyId") or ""
    return (mode, "") if mode == "AES256" else ("", "")


def delete_marker(listed: Listed) -> Version:
    return Version(listed.key, listed.version_id, "", listed.last_modified, delete_marker=True, rank=listed.rank)


# The configurations kept, each: (name, how to read it, what of the answer to keep).
_CONFIGS = (
    ("versioning", "get_bucket_versioning", lambda a: {k: a[k] for k in ("Status", "MFADelete") if k in a}),
    ("object_lock", "get_object_lock_configuration", lambda a: a.get("ObjectLockConfiguration")),
    ("tagging", "get_bucket_tagging", lambda a: a.get("TagSet")),
    ("policy", "get_bucket_policy", lambda a: json.loads(a["Policy"]) if a.get("Policy") else None),
    ("cors", "get_bucket_cors", lambda a: a.get("CORSRules")),
    ("lifecycle", "get_bucket_lifecycle_configuration", lambda a: a.get("Rules")),
    ("ownership", "get_bucket_ownership_controls", lambda a: a.get("OwnershipControls")),
    ("public_access_block", "get_public_access_block", lambda a: a.get("PublicAccessBlockConfiguration")),
    ("encryption", "get_bucket_encryption", lambda a: a.get("ServerSideEncryptionConfiguration")),
)


def read_config(client: Any, bucket: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The bucket's configurations worth keeping, and those that could not be read (name ->
    the error); one the bucket lacks, or the server does not implement, is simply absent."""
    config: dict[str, Any] = {}
    unread: dict[str, str] = {}
    for name, method, keep in _CONFIGS:
        try:
            answer = getattr(client, method)(Bucket=bucket)
        except ClientError as e:
            code = error_code(e)
            if code not in ABSENT:
                unread[name] = code or "error"
            continue
        value = keep(answer)
        if value:
            config[name] = value
    return config, unread
