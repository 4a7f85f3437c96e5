"""The one place where what lower layers raise becomes an S3 error, and an S3 error an answer.

Handlers raise ``S3Error`` themselves; the metadata store, the storage layer and the HTTP layer
raise their own errors, which know nothing of S3. The application passes every exception a
request ends with through ``to_s3_error``.
"""

from __future__ import annotations

from hoard.crypto.customer import CustomerKeyError
from hoard.crypto.kms import KmsError
from hoard.http import errors as http
from hoard.http.response import Response
from hoard.iam.errors import AccessDenied
from hoard.meta import errors as meta
from hoard.objects.encryption import EncryptionUnavailable
from hoard.s3 import xml
from hoard.s3.errors import ERRORS, S3Error
from hoard.storage.errors import DocumentConflict, NotInLayout, ReadQuorumError, WriteQuorumError
from hoard.tiers import TierUnavailable


def to_s3_error(error: BaseException) -> S3Error | None:
    """The S3 error a lower layer's exception stands for; None for one that is a bug (InternalError)."""
    match error:
        case S3Error():
            return error
        case AccessDenied():
            return S3Error("AccessDenied", str(error) or None)
        case meta.BucketNotFound():
            return S3Error("NoSuchBucket", BucketName=error.bucket)
        case meta.BucketExists():
            return S3Error("BucketAlreadyOwnedByYou" if error.same_owner else "BucketAlreadyExists", BucketName=error.bucket)
        case meta.BucketNotEmpty():
            return S3Error("BucketNotEmpty", BucketName=error.bucket)
        case meta.UploadNotFound():
            return S3Error("NoSuchUpload", UploadId=error.upload_id)
        case meta.VersionChanged():
            # S3's answer to a change that lost a race with another write of the object.
            return S3Error("ConditionalRequestConflict", "The object was replaced while this request changed it; retry it.")
        case meta.CommitFailed():
            # The index could not be written (or read) within its retry window: a database
            # failover longer than the window, or none reachable. Nothing was acknowledged, and
            # the same request may succeed later: S3's answer for that is a 503 clients retry.
            return S3Error("ServiceUnavailable", "The metadata index is not available now; retry the request.")
        case WriteQuorumError():
            return S3Error("SlowDown", f"Not enough drives are online to store this: {error}")
        case ReadQuorumError():
            return S3Error("ServiceUnavailable", f"Not enough drives are online to read this: {error}")
        case DocumentConflict():
            return S3Error("ConditionalRequestConflict", f"{error}.")
        case NotInLayout():
            # A cluster node without a pool yet, or behind a layout change it reads within seconds.
            return S3Error("ServiceUnavailable", f"The cluster cannot place this now: {error}")
        case CustomerKeyError():
            fields = {"ArgumentName": error.argument_name, "ArgumentValue": error.argument_value or ""} if error.argument_name else {}
            return S3Error(error.code, error.message, **fields)
        case KmsError() if error.code in ERRORS:
            return S3Error(error.code, error.message, status=error.status)
        case EncryptionUnavailable():
            # A server without the master key (or with another) that the version was written
            # under: a fault of its configuration, said plainly for whoever reads its answers.
            return S3Error("InternalError", f"Server-side encryption is not available here: {error.reason}")
        case TierUnavailable():
            return S3Error("ServiceUnavailable", f"The storage tier holding this object cannot be reached now: {error}")
        case http.BadPercentEncoding():
            return S3Error("InvalidURI")
        case http.HeaderSectionTooLarge():
            return S3Error("RequestHeaderSectionTooLarge", MaxSizeAllowed=str(error.max_size))
        case http.BodyTooLarge():
            # Only request documents (XML) are read whole.
            return S3Error("MalformedXML", "The XML you provided was too large.")
        case http.RangeNotSatisfiable():
            return S3Error(
                "InvalidRange",
                headers={"content-range": f"bytes */{error.size}"},
                ActualObjectSize=str(error.size),
                RangeRequested=error.header,
            )
        case http.BodyTimeout():
            return S3Error("RequestTimeout")
    return None


# Characters XML 1.0 cannot carry, even escaped (C0 controls but tab, newline, carriage return):
# a path holding one (%00) is answered with it percent-encoded, so that the error parses.
_NOT_XML = {c: f"%{c:02X}" for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}


def error_response(error: S3Error, resource: str, request_id: str) -> Response:
    """S3's XML error answer (Code, Message, extra elements, Resource, RequestId)."""
    resource = resource.translate(_NOT_XML)
    children: list = [("Code", error.code), ("Message", error.message)]
    children += list(error.extra.items())
    children += [("Resource", resource), ("RequestId", request_id)]
    headers = {"content-type": "application/xml", **error.headers}
    if error.status == 304:
        return Response(status=304, headers=error.headers)
    return Response(status=error.status, headers=headers, body=xml.render("Error", children, namespace=None))


def head_too_large_document(request_id: str, max_size: int) -> bytes:
    """The error document for a request head refused before it reached the application
    (``hoard.http.protocol``): it has no resource yet."""
    error = S3Error("RequestHeaderSectionTooLarge", MaxSizeAllowed=str(max_size))
    children: list = [("Code", error.code), ("Message", error.message), *error.extra.items(), ("RequestId", request_id)]
    return xml.render("Error", children, namespace=None)
