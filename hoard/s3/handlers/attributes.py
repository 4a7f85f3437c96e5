"""GetObjectAttributes: an object's ETag, checksum, parts, storage class and size, without its body."""

from __future__ import annotations

from hoard.http.numbers import field_decimal
from hoard.http.response import Response, xml_response
from hoard.model import ObjectRecord
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers import sse
from hoard.s3.handlers.common import Context, check_key, http_date, operation
from hoard.s3.handlers.objects import get_record
from hoard.s3.handlers.versioning import version_headers

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


def requested_attributes(raw: str | None) -> set[str]:
    """The names in ``x-amz-object-attributes``: at least one, each one S3 knows."""
    names = {name.strip() for name in (raw or "").split(",") if name.strip()}
    if not names:
        raise S3Error("InvalidArgument", "Invalid attribute name specified.", ArgumentName="x-amz-object-attributes", ArgumentValue=raw or "")
    unknown = names - set(ATTRIBUTES)
    if unknown:
        raise S3Error("InvalidArgument", "Invalid attribute name specified.", ArgumentName="x-amz-object-attributes", ArgumentValue=",".join(sorted(unknown)))
    return names


def _header_int(ctx: Context, name: str, default: int, low: int) -> int:
    raw = ctx.req.headers.get(name)
    if raw is None or raw == "":
        return default
    value = field_decimal(raw, signed=True)
    if value is None or value < low or value > 2147483647:
        raise S3Error("InvalidArgument", f"Argument {name} must be an integer between {low} and 2147483647", ArgumentName=name, ArgumentValue=raw)
    return value


def object_parts(record: ObjectRecord, marker: int, max_parts: int) -> list:
    """The ObjectParts element: the parts after ``marker``, at most ``max_parts`` of them."""
    numbered = list(enumerate(record.segments, start=1))
    page = [(n, s) for n, s in numbered if n > marker][:max_parts]
    truncated = bool(page) and page[-1][0] < len(numbered)
    children: list = [
        ("PartsCount", len(numbered)),
        ("PartNumberMarker", marker),
        ("NextPartNumberMarker", page[-1][0] if page else marker),
        ("MaxParts", max_parts),
        ("IsTruncated", truncated),
    ]
    for number, segment in page:
        entry: list = [("PartNumber", number), ("Size", segment.size)]
        if segment.checksum and record.checksum_algorithm:
            entry.append((f"Checksum{record.checksum_algorithm}", segment.checksum))
        children.append(("Part", entry))
    return children


@operation("GetObjectAttributes")
async def get_object_attributes(ctx: Context) -> Response:
    check_key(ctx.key)
    wanted = requested_attributes(ctx.req.headers.get("x-amz-object-attributes"))
    max_parts = min(_header_int(ctx, "x-amz-max-parts", MAX_PARTS, 0), MAX_PARTS)
    marker = _header_int(ctx, "x-amz-part-number-marker", 0, 0)
    record = await get_record(ctx)
    sse.read_key(ctx, record)  # an SSE-C version tells nothing of itself without its key, as S3
    children: list = []
    # In the order of botocore's output shape, which is S3's.
    if "ETag" in wanted:
        children.append(("ETag", record.etag.strip('"')))
    if "Checksum" in wanted and record.checksum_algorithm:
        children.append(
            ("Checksum", [(f"Checksum{record.checksum_algorithm}", record.checksum_value), ("ChecksumType", record.checksum_type or "FULL_OBJECT")])
        )
    if "ObjectParts" in wanted and record.multipart:
        children.append(("ObjectParts", object_parts(record, marker, max_parts)))
    if "StorageClass" in wanted:
        children.append(("StorageClass", record.storage_class))
    if "ObjectSize" in wanted:
        children.append(("ObjectSize", record.size))
    headers = {"last-modified": http_date(record.last_modified), **version_headers(record, named="versionId" in ctx.req.params)}
    return xml_response(xml.render("GetObjectAttributesResponse", children), headers=headers)
