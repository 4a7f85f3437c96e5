"""Server-side encryption as requests ask for it: ``x-amz-server-side-encryption`` on writes (or
the bucket's default encryption), and the headers answers carry for an encrypted version.

SSE-S3 (AES256) is served; SSE-KMS and SSE-C are answered 501 NotImplemented, never stored in clear.
"""

from __future__ import annotations

from hoard.model import Bucket, Encryption, ObjectRecord, Upload
from hoard.objects.encryption import SSE_S3, DataKey, EncryptionUnavailable, default_mode
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context

SSE_HEADER = "x-amz-server-side-encryption"
KMS_HEADERS = (
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
)
CUSTOMER_HEADERS = (
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key",
    "x-amz-server-side-encryption-customer-key-md5",
)
KMS_MODES = ("aws:kms", "aws:kms:dsse")


def requested_mode(ctx: Context, bucket: Bucket) -> str | None:
    """The encryption a write asks for (its header, else the bucket's default), S3's errors for
    what it cannot have; None: the bytes are kept as sent."""
    h = ctx.req.headers
    if any(name in h for name in CUSTOMER_HEADERS):
        raise S3Error("NotImplemented", "Server-side encryption with customer-provided keys (SSE-C) is not implemented yet.")
    mode = h.get(SSE_HEADER)
    if mode is None:
        if any(name in h for name in KMS_HEADERS):
            raise S3Error("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms", ArgumentName=SSE_HEADER)
        return default_mode(bucket.config)
    if mode in KMS_MODES:
        raise S3Error("NotImplemented", "Server-side encryption with KMS keys (SSE-KMS) is not implemented yet.")
    if mode != SSE_S3:
        raise S3Error("InvalidArgument", "The encryption method specified is not supported", ArgumentName=SSE_HEADER, ArgumentValue=mode)
    if any(name in h for name in KMS_HEADERS):
        raise S3Error("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms", ArgumentName=SSE_HEADER)
    return mode


def new_key(ctx: Context, bucket: Bucket) -> tuple[Encryption | None, DataKey | None]:
    """A new version's encryption and data key, as the request and the bucket ask (None, None: none)."""
    mode = requested_mode(ctx, bucket)
    if mode is None:
        return None, None
    try:
        return ctx.services.data.keys.new_sse_s3()
    except EncryptionUnavailable as e:
        raise S3Error("InternalError", f"Server-side encryption is not available: {e.reason}.") from None


def upload_key(ctx: Context, upload: Upload) -> DataKey | None:
    """The data key an upload's parts are encrypted with (None: the upload is not encrypted)."""
    if upload.encryption is None:
        return None
    try:
        return ctx.services.data.keys.data_key(upload.encryption)
    except EncryptionUnavailable as e:
        raise S3Error("InternalError", f"The upload's data key is not available: {e.reason}.") from None


def answer_headers(encryption: Encryption | None) -> dict[str, str]:
    """What S3 says of a version's (or an upload's) encryption in its answers."""
    if encryption is None:
        return {}
    return {SSE_HEADER: encryption.mode}


def record_headers(record: ObjectRecord) -> dict[str, str]:
    return answer_headers(record.encryption)
