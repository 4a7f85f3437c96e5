"""Server-side encryption as requests ask for it: ``x-amz-server-side-encryption`` on writes (or
the bucket's default encryption), the customer's key of SSE-C (``x-amz-server-side-encryption-
customer-*``, and ``x-amz-copy-source-...`` for a copy's source), and the headers answers carry.

SSE-S3 (AES256) and SSE-C are served; SSE-KMS is answered 501 NotImplemented, never stored in clear.
"""

from __future__ import annotations

import secrets

from hoard.crypto import customer
from hoard.model import Bucket, Encryption, ObjectRecord, Upload
from hoard.objects.encryption import SSE_C, SSE_S3, DataKey, EncryptionUnavailable, check_customer_key, default_mode
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context

SSE_HEADER = "x-amz-server-side-encryption"
KMS_HEADERS = (
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
)
# As requests arrive (hoard.http lower-cases header names).
CUSTOMER_HEADERS = tuple(h.lower() for h in (customer.HEADER_ALGORITHM, customer.HEADER_KEY, customer.HEADER_KEY_MD5))
KMS_MODES = ("aws:kms", "aws:kms:dsse")


def requested_mode(ctx: Context, bucket: Bucket) -> str | None:
    """The encryption a write asks for (its header, else the bucket's default), S3's errors for
    what it cannot have; None: the bytes are kept as sent."""
    h = ctx.req.headers
    if any(name in h for name in CUSTOMER_HEADERS):
        if SSE_HEADER in h or any(name in h for name in KMS_HEADERS):
            raise S3Error("InvalidArgument", "Server Side Encryption with Customer provided key is incompatible with the encryption method specified", ArgumentName=SSE_HEADER)
        return SSE_C
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
    if mode == SSE_C:
        return ctx.services.data.keys.new_sse_c(customer_key_of(ctx))
    try:
        return ctx.services.data.keys.new_sse_s3()
    except EncryptionUnavailable as e:
        raise S3Error("InternalError", f"Server-side encryption is not available: {e.reason}.") from None


def upload_key(ctx: Context, upload: Upload) -> DataKey | None:
    """The data key an upload's parts are encrypted with (None: the upload is not encrypted)."""
    if upload.encryption is None:
        return None
    key = customer_key_of(ctx) if upload.encryption.mode == SSE_C else None
    try:
        return ctx.services.data.keys.data_key(upload.encryption, key)
    except EncryptionUnavailable as e:
        raise S3Error("InternalError", f"The upload's data key is not available: {e.reason}.") from None


def customer_key_of(ctx: Context, copy_source: bool = False) -> bytes | None:
    """The customer's key the request carries (for the object written or read, or with
    ``copy_source`` for a copy's source), checked as S3 checks it; None when it carries none.
    Only over TLS, unless HOARD_SSE_C_OVER_HTTP allows it (a development switch): a key sent in
    clear is a key given away."""
    h = ctx.req.headers
    prefix = "x-amz-copy-source-" if copy_source else "x-amz-"
    names = [name.replace("x-amz-", prefix, 1) for name in CUSTOMER_HEADERS]
    # CustomerKeyError: answered as the S3 error it names (error_map).
    key = customer.parse_customer_key(h.get(names[0]), h.get(names[1]), h.get(names[2]), copy_source=copy_source)
    if key is not None and not ctx.req.secure and not ctx.services.settings.sse_c_over_http:
        raise S3Error("InvalidRequest", "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.")
    return key


def read_key(ctx: Context, record: ObjectRecord, copy_source: bool = False) -> bytes | None:
    """The customer's key a read of ``record`` needs (an SSE-C version's, checked against it
    before any byte or header goes out), None for any other version; S3's errors otherwise."""
    key = customer_key_of(ctx, copy_source)
    check_customer_key(record.encryption, key)
    return key


def answer_headers(encryption: Encryption | None) -> dict[str, str]:
    """What S3 says of a version's (or an upload's) encryption in its answers."""
    if encryption is None:
        return {}
    if encryption.mode == SSE_C:
        return {CUSTOMER_HEADERS[0]: customer.ALGORITHM, CUSTOMER_HEADERS[2]: encryption.customer_key_md5}
    return {SSE_HEADER: encryption.mode}


def etag_digest(encryption: Encryption | None, md5_hex: str) -> str:
    """What an object's ETag is made of: the plaintext's MD5, except for SSE-C, whose ETag S3
    makes something else (the MD5 of the plaintext would tell what an encrypted object holds)."""
    if encryption is not None and encryption.mode == SSE_C:
        return secrets.token_hex(16)
    return md5_hex


def record_headers(record: ObjectRecord) -> dict[str, str]:
    return answer_headers(record.encryption)
