"""S3's server access log format: one line per request, fields separated by spaces, "-" for
what a request does not have (Amazon's "Amazon S3 server access log format"), and the keys log
objects are delivered under. Pure: no clock, no I/O."""

from __future__ import annotations

import secrets
import time
from urllib.parse import quote

from hoard.requestlog.record import RequestRecord

# Operations whose S3 log name is not REST.<METHOD>.<what the path names>.
_NAMES = {
    "ListBuckets": "REST.GET.SERVICE",
    "ListObjects": "REST.GET.BUCKET",
    "ListObjectsV2": "REST.GET.BUCKET",
    "ListObjectVersions": "REST.GET.BUCKETVERSIONS",
    "CreateBucket": "REST.PUT.BUCKET",
    "DeleteBucket": "REST.DELETE.BUCKET",
    "HeadBucket": "REST.HEAD.BUCKET",
    "GetBucketLocation": "REST.GET.LOCATION",
    "GetObject": "REST.GET.OBJECT",
    "HeadObject": "REST.HEAD.OBJECT",
    "PutObject": "REST.PUT.OBJECT",
    "DeleteObject": "REST.DELETE.OBJECT",
    "DeleteObjects": "REST.POST.MULTI_OBJECT_DELETE",
    "PostObject": "REST.POST.OBJECT",
    "CopyObject": "REST.COPY.OBJECT",
    "UploadPartCopy": "REST.COPY.PART",
    "CreateMultipartUpload": "REST.POST.UPLOADS",
    "UploadPart": "REST.PUT.PART",
    "CompleteMultipartUpload": "REST.POST.UPLOAD",
    "AbortMultipartUpload": "REST.DELETE.UPLOAD",
    "ListParts": "REST.GET.UPLOAD",
    "ListMultipartUploads": "REST.GET.UPLOADS",
    "GetBucketLogging": "REST.GET.LOGGING_STATUS",
    "PutBucketLogging": "REST.PUT.LOGGING_STATUS",
    "GetBucketAcl": "REST.GET.ACL",
    "PutBucketAcl": "REST.PUT.ACL",
    "GetObjectAcl": "REST.GET.ACL",
    "PutObjectAcl": "REST.PUT.ACL",
    "GetBucketPolicy": "REST.GET.BUCKETPOLICY",
    "PutBucketPolicy": "REST.PUT.BUCKETPOLICY",
    "DeleteBucketPolicy": "REST.DELETE.BUCKETPOLICY",
    "GetBucketVersioning": "REST.GET.VERSIONING",
    "PutBucketVersioning": "REST.PUT.VERSIONING",
    "GetBucketTagging": "REST.GET.TAGGING",
    "PutBucketTagging": "REST.PUT.TAGGING",
    "DeleteBucketTagging": "REST.DELETE.TAGGING",
    "GetObjectTagging": "REST.GET.OBJECT_TAGGING",
    "PutObjectTagging": "REST.PUT.OBJECT_TAGGING",
    "DeleteObjectTagging": "REST.DELETE.OBJECT_TAGGING",
    "GetBucketCors": "REST.GET.CORS",
    "PutBucketCors": "REST.PUT.CORS",
    "DeleteBucketCors": "REST.DELETE.CORS",
    "GetBucketWebsite": "REST.GET.WEBSITE",
    "PutBucketWebsite": "REST.PUT.WEBSITE",
    "DeleteBucketWebsite": "REST.DELETE.WEBSITE",
    "GetBucketLifecycleConfiguration": "REST.GET.LIFECYCLE",
    "PutBucketLifecycleConfiguration": "REST.PUT.LIFECYCLE",
    "DeleteBucketLifecycle": "REST.DELETE.LIFECYCLE",
    "RestoreObject": "REST.POST.RESTORE",
    "Preflight": "REST.OPTIONS.PREFLIGHT",
}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def operation_name(record: RequestRecord) -> str:
    """S3's name of the operation in its logs: REST.GET.OBJECT, WEBSITE.GET.OBJECT, ..."""
    if record.endpoint == "website":
        return f"WEBSITE.{record.method}.OBJECT"
    known = _NAMES.get(record.operation)
    if known is not None:
        return known
    # The rest name their sub-resource (REST.GET.REPLICATION, REST.PUT.OBJECT_LOCK_CONFIGURATION...).
    what = record.operation
    for verb in ("Get", "Put", "Delete", "Head", "List"):
        if what.startswith(verb):
            what = what[len(verb) :]
            break
    what = what.removeprefix("Bucket").removeprefix("Object") or ("OBJECT" if record.key else "BUCKET")
    snake = "".join("_" + c if c.isupper() and i else c for i, c in enumerate(what)).upper()
    return f"REST.{record.method}.{snake}"


def log_time(epoch: float) -> str:
    """[06/Feb/2019:00:00:38 +0000]"""
    t = time.gmtime(epoch)
    return f"[{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000]"


def _quoted(value: str | None) -> str:
    if not value:
        return '"-"'
    # A quote or backslash inside stays one field; control characters would split a line.
    cleaned = "".join(c if c.isprintable() else quote(c) for c in value)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(value: object) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    # An unquoted field holds no space, quote or bracket, whatever a client sent.
    return quote(text, safe="/:@=+,;~!$&'()*-._") if any(not c.isprintable() or c in ' "[]' for c in text) else text


def format_line(record: RequestRecord, bucket_owner: str) -> str:
    """The record as a line of S3's server access log (no newline)."""
    key = quote(record.key, safe="/") if record.key else None
    fields = [
        _plain(bucket_owner),
        _plain(record.bucket),
        log_time(record.time),
        _plain(record.remote),
        _plain(record.requester_id),
        _plain(record.request_id),
        operation_name(record),
        _plain(key),
        _quoted(record.request_uri),
        str(record.status),
        _plain(record.error_code),
        _plain(record.bytes_sent or None),
        _plain(record.object_size),
        str(round(record.duration_ms)),
        str(round(record.turnaround_ms)),
        _quoted(record.referer),
        _quoted(record.user_agent),
        _plain(record.version_id),
        _plain(f"{record.request_id}-{record.host_id}"),
        _plain(record.signature_version),
        "-",  # cipher suite: the TLS layer does not tell the application
        _plain(record.auth_type),
        _plain(record.host),
        "-",  # TLS version, likewise
        "-",  # access point ARN: Hoard has no access points
        "-",  # ACL required: no request is allowed by an ACL alone that is recorded as such
    ]
    return " ".join(fields)


def unique_string() -> str:
    return secrets.token_hex(8).upper()


def object_key(
    prefix: str,
    delivered_at: float,
    *,
    partitioned: bool = False,
    date_source_time: float | None = None,
    account: str = "",
    region: str = "",
    bucket: str = "",
    unique: str | None = None,
) -> str:
    """The key a log object is delivered under: ``prefix`` + ``YYYY-mm-DD-HH-MM-SS-UNIQUE``, or
    with a partitioned prefix ``prefix`` + ``account/region/bucket/YYYY/MM/DD/`` + that name,
    the date being ``date_source_time`` (EventTime) or the delivery's."""
    unique = unique or unique_string()
    t = time.gmtime(delivered_at)
    name = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}-{t.tm_hour:02d}-{t.tm_min:02d}-{t.tm_sec:02d}-{unique}"
    if not partitioned:
        return prefix + name
    d = time.gmtime(date_source_time if date_source_time is not None else delivered_at)
    return f"{prefix}{account}/{region}/{bucket}/{d.tm_year:04d}/{d.tm_mon:02d}/{d.tm_mday:02d}/{name}"
