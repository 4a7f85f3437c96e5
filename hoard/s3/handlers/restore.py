"""RestoreObject: a readable copy of a GLACIER or DEEP_ARCHIVE version for a number of days.

The request is recorded on the version (``ObjectRecord.restore``, and a row in the index's
restores table in the same transaction); the leader's lifecycle worker makes the copy ready once
the retrieval tier's delay has passed (``HOARD_RESTORE_*_SECONDS``: Expedited, Standard, Bulk),
copying the bytes back from their tier if they left the drives, and removes it when it expires.
As on S3: the first request answers 202; one while the restore is under way 409
RestoreAlreadyInProgress; one for a restored version 200, and the copy then expires ``Days`` from
now. HEAD shows ``x-amz-restore``. Restores of other classes are 403 InvalidObjectState; S3
Select restores (``Type=SELECT``, ``OutputLocation``) are 501 NotImplemented.
"""

from __future__ import annotations

from hoard.http.response import Response
from hoard.lifecycle.rules import due_after
from hoard.model import Restore
from hoard.objects.tiering import RESTORE_CLASSES
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, now, operation
from hoard.s3.handlers.objects import get_record
from hoard.s3.handlers.payload import receive_document
from hoard.s3.handlers.versioning import version_headers

TIERS = ("Expedited", "Standard", "Bulk")
MAX_DAYS = 2**31 - 1


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_request(body: bytes) -> tuple[int, str]:
    """(Days, retrieval tier) of a RestoreRequest document; S3's errors for anything else."""
    root = xml.parse(body)
    if _local(root.tag) != "RestoreRequest":
        raise S3Error("MalformedXML")
    days: int | None = None
    tier = ""
    for child in root:
        name = _local(child.tag)
        text = (child.text or "").strip()
        if name == "Days":
            if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
                raise S3Error("InvalidArgument", "Days must be a positive integer.", ArgumentName="Days", ArgumentValue=text)
            days = int(text)
        elif name == "GlacierJobParameters":
            for param in child:
                if _local(param.tag) != "Tier":
                    raise S3Error("MalformedXML")
                tier = (param.text or "").strip()
        elif name == "Tier":
            tier = text
        elif name == "Description":
            pass
        elif name in ("Type", "SelectParameters", "OutputLocation"):
            raise S3Error("NotImplemented", "S3 Select restores are not implemented.")
        else:
            raise S3Error("MalformedXML")
    if days is None:
        raise S3Error("MalformedXML")
    tier = tier or "Standard"
    if tier not in TIERS:
        raise S3Error("MalformedXML")
    return days, tier


@operation("RestoreObject")
async def restore_object(ctx: Context) -> Response:
    days, tier = parse_request(await receive_document(ctx))
    record = await get_record(ctx)
    if record.storage_class not in RESTORE_CLASSES:
        raise S3Error("InvalidObjectState", "Restore is not allowed for the object's current storage class.", StorageClass=record.storage_class)
    if record.storage_class == "DEEP_ARCHIVE" and tier == "Expedited":
        raise S3Error("InvalidArgument", "Expedited retrievals are not available for the DEEP_ARCHIVE storage class.", ArgumentName="Tier", ArgumentValue=tier)
    headers = version_headers(record, named="versionId" in ctx.req.params)
    current, t = record.restore, now()
    settings = ctx.services.settings
    if current is not None and current.ongoing:
        raise S3Error("RestoreAlreadyInProgress")
    if current is not None and current.expires > t:
        # Restored already: the copy stays ``days`` from now.
        extended = Restore(current.ready_at, days, due_after(t, days, settings.lifecycle_day_seconds))
        await ctx.services.data.replace_metadata(ctx.store, record, restore=extended)
        return Response(status=200, headers=headers)
    delay = {"Expedited": settings.restore_expedited_seconds, "Standard": settings.restore_standard_seconds, "Bulk": settings.restore_bulk_seconds}[tier]
    await ctx.services.data.replace_metadata(ctx.store, record, restore=Restore(t + delay, days))
    return Response(status=202, headers=headers)
