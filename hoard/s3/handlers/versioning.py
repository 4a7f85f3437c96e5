"""Versioning: PutBucketVersioning, GetBucketVersioning, and the rules every object handler
follows to name a version (``versionId``) and to answer for one.

A bucket is unversioned until versioning is first Enabled; from then on it is Enabled or
Suspended, never unversioned again (S3's rule). The state lives in the bucket's configuration
(index and bucket files on the drives); what it does to writes is in ``hoard.objects.versions``
(which id a new version gets) and the metadata store (which version a write replaces).
"""

from __future__ import annotations

from hoard.http.response import Response, xml_response
from hoard.model import Bucket, ObjectRecord
from hoard.objects.lock import lock_enabled
from hoard.objects.versions import ENABLED, NULL_VERSION, SUSPENDED, VERSIONING_CONFIG, is_version_id
from hoard.replication.rules import REPLICATION_CONFIG
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, http_date, operation, require_bucket
from hoard.s3.handlers.payload import receive_document


def versioning_of(bucket: Bucket) -> str | None:
    """Enabled, Suspended, or None for a bucket whose versioning was never configured."""
    return bucket.config.get(VERSIONING_CONFIG)


def requested_version(ctx: Context, param: str = "versionId") -> str | None:
    """The version the request names (``versionId``), or None; a value that cannot be a version id is 400."""
    value = ctx.req.params.get(param)
    if value is None:
        return None
    if not is_version_id(value):
        raise S3Error("InvalidArgument", "Invalid version id specified", ArgumentName=param, ArgumentValue=value)
    return value


def version_headers(record: ObjectRecord, named: bool = False) -> dict[str, str]:
    """``x-amz-version-id`` as S3 sends it: for a version with an id, or when the request named one."""
    if record.version_id != NULL_VERSION or named:
        return {"x-amz-version-id": record.version_id}
    return {}


def marker_headers(record: ObjectRecord) -> dict[str, str]:
    """What an answer about a delete marker carries."""
    return {"x-amz-delete-marker": "true", "x-amz-version-id": record.version_id, "last-modified": http_date(record.last_modified)}


async def read_version(ctx: Context) -> ObjectRecord:
    """The version a request about an object names: ``versionId``'s, else the current one.

    No such version: NoSuchVersion (a version id) or NoSuchKey, NoSuchBucket if the bucket is
    gone. A delete marker is no object: NoSuchKey when it is the current version, 405
    MethodNotAllowed when named by id, both with ``x-amz-delete-marker``.
    """
    version = requested_version(ctx)
    if version is None:
        record = await ctx.store.get_object(ctx.bucket, ctx.key)
    else:
        record = await ctx.store.get_version(ctx.bucket, ctx.key, version)
    return await readable(ctx, record, version)


async def readable(ctx: Context, record: ObjectRecord | None, version: str | None) -> ObjectRecord:
    """``record`` if it is an object to read, else S3's error for what it is (see ``read_version``)."""
    if record is None:
        await require_bucket(ctx)
        if version is not None:
            raise S3Error("NoSuchVersion", Key=ctx.key, VersionId=version)
        raise S3Error("NoSuchKey", Key=ctx.key)
    if record.delete_marker:
        if version is not None:
            raise S3Error("MethodNotAllowed", headers={**marker_headers(record), "allow": "DELETE"}, Method=ctx.req.method, ResourceType="DeleteMarker")
        raise S3Error("NoSuchKey", headers=marker_headers(record), Key=ctx.key)
    return record


@operation("PutBucketVersioning")
async def put_bucket_versioning(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    root = xml.parse(await receive_document(ctx))
    if root.tag != "VersioningConfiguration":
        raise S3Error("MalformedXML")
    status = xml.child_text(root, "Status")
    mfa_delete = xml.child_text(root, "MfaDelete")
    if status not in (ENABLED, SUSPENDED) or mfa_delete not in (None, "Enabled", "Disabled"):
        raise S3Error("MalformedXML")
    if mfa_delete == "Enabled":
        raise S3Error("NotImplemented", "MFA delete is not implemented.")
    if status == SUSPENDED and lock_enabled(bucket):
        raise S3Error("InvalidBucketState", "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
    if status == SUSPENDED and REPLICATION_CONFIG in bucket.config:
        # Replication keeps versions apart by their ids: S3 refuses as for object lock.
        raise S3Error("InvalidBucketState", "A replication configuration is present on this bucket, so the versioning state cannot be changed.")
    if versioning_of(bucket) != status:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, VERSIONING_CONFIG, status)
    return Response()


@operation("GetBucketVersioning")
async def get_bucket_versioning(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    state = versioning_of(bucket)
    # Never configured: S3 answers an empty document.
    return xml_response(xml.render("VersioningConfiguration", [("Status", state)] if state else []))
