"""Server-side encryption as requests ask for it: ``x-amz-server-side-encryption`` on writes (or
the bucket's default encryption), the customer's key of SSE-C (``x-amz-server-side-encryption-
customer-*``, and ``x-amz-copy-source-...`` for a copy's source), and the headers answers carry.

SSE-S3 (AES256), SSE-KMS (aws:kms, through the KMS ``hoard.crypto.kms`` describes) and SSE-C are
served; dual-layer SSE-KMS (aws:kms:dsse) is answered 501 NotImplemented, never stored in clear.
"""

from __future__ import annotations

import hashlib
import hmac

from hoard.crypto import customer
from hoard.model import Bucket, Encryption, ObjectRecord, Upload
from hoard.objects.encryption import (
    ENCRYPTION_CONFIG,
    SSE_C,
    SSE_KMS,
    SSE_S3,
    DataKey,
    check_customer_key,
    decode_context,
    default_mode,
)
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context

SSE_HEADER = "x-amz-server-side-encryption"
KMS_KEY_HEADER = "x-amz-server-side-encryption-aws-kms-key-id"
CONTEXT_HEADER = "x-amz-server-side-encryption-context"
BUCKET_KEY_HEADER = "x-amz-server-side-encryption-bucket-key-enabled"
KMS_HEADERS = (KMS_KEY_HEADER, CONTEXT_HEADER, BUCKET_KEY_HEADER)
DSSE = "aws:kms:dsse"
MAX_CONTEXT = 8192  # bytes of the context header; KMS allows about as much
# As requests arrive (hoard.http lower-cases header names).
CUSTOMER_HEADERS = tuple(h.lower() for h in (customer.HEADER_ALGORITHM, customer.HEADER_KEY, customer.HEADER_KEY_MD5))
KMS_MODES = (SSE_KMS, DSSE)


def requested_mode(ctx: Context, bucket: Bucket) -> str | None:
    """The encryption a write asks for (its header, else the bucket's default), S3's errors for
    what it cannot have; None: the bytes are kept as sent."""
    h = ctx.req.headers
    if any(name in h for name in CUSTOMER_HEADERS):
        if SSE_HEADER in h or any(name in h for name in KMS_HEADERS):
            raise S3Error("InvalidArgument", "Server Side Encryption with Customer provided key is incompatible with the encryption method specified", ArgumentName=SSE_HEADER)
        return SSE_C
    mode = h.get(SSE_HEADER)
    if mode == DSSE:
        raise S3Error("NotImplemented", "Dual-layer server-side encryption with KMS keys (DSSE-KMS) is not implemented yet.")
    if mode not in (None, SSE_S3, SSE_KMS):
        raise S3Error("InvalidArgument", "The encryption method specified is not supported", ArgumentName=SSE_HEADER, ArgumentValue=mode)
    if mode != SSE_KMS and any(name in h for name in KMS_HEADERS):
        raise S3Error("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms", ArgumentName=SSE_HEADER)
    return mode if mode is not None else default_mode(bucket.config)


def new_key(ctx: Context, bucket: Bucket) -> tuple[Encryption | None, DataKey | None]:
    """A new version's encryption and data key, as the request and the bucket ask (None, None: none)."""
    mode = requested_mode(ctx, bucket)
    if mode is None:
        return None, None
    # EncryptionUnavailable (no master key, the wrong one) is answered where lower errors are (error_map).
    keys = ctx.services.data.keys
    if mode == SSE_C:
        return keys.new_sse_c(customer_key_of(ctx))
    if mode == SSE_KMS:
        kms_key, bucket_key = _kms_choice(ctx, bucket)
        return keys.new_sse_kms(kms_key, kms_context(ctx), bucket_key)
    return keys.new_sse_s3()


def _kms_choice(ctx: Context, bucket: Bucket) -> tuple[str | None, bool]:
    """The KMS key (None: S3's default, alias/aws/s3) and the bucket-key flag of a new SSE-KMS
    version: the request's headers, else the bucket's default encryption."""
    h = ctx.req.headers
    config = bucket.config.get(ENCRYPTION_CONFIG) or {}
    from_bucket = SSE_HEADER not in h and config.get("algorithm") == SSE_KMS
    kms_key = h.get(KMS_KEY_HEADER)
    if kms_key is None and from_bucket:
        kms_key = config.get("kmsKeyId")
    if kms_key is not None and not kms_key.strip():
        raise S3Error("InvalidArgument", "The KMS key id must not be empty.", ArgumentName=KMS_KEY_HEADER)
    flag = h.get(BUCKET_KEY_HEADER)
    if flag is None:
        return kms_key, bool(config.get("bucketKey")) if config.get("algorithm") == SSE_KMS else False
    if flag.lower() not in ("true", "false"):
        raise S3Error("InvalidArgument", "The bucket key setting must be true or false.", ArgumentName=BUCKET_KEY_HEADER, ArgumentValue=flag)
    return kms_key, flag.lower() == "true"


def kms_context(ctx: Context) -> dict[str, str]:
    """S3's encryption context for a new SSE-KMS version: the pairs the client sent (base64 of a
    JSON object, x-amz-server-side-encryption-context) and the object's ARN, as S3 adds it."""
    raw = ctx.req.headers.get(CONTEXT_HEADER)
    context: dict[str, str] = {}
    if raw is not None:
        try:
            if len(raw) > MAX_CONTEXT:
                raise ValueError("too long")
            context = decode_context(raw)
        except ValueError:
            raise S3Error("InvalidArgument", "The encryption context must be base64 of a JSON object of strings.", ArgumentName=CONTEXT_HEADER) from None
    context.setdefault("aws:s3:arn", f"arn:aws:s3:::{ctx.bucket}/{ctx.key}")
    return context


def upload_key(ctx: Context, upload: Upload) -> DataKey | None:
    """The data key an upload's parts are encrypted with (None: the upload is not encrypted)."""
    if upload.encryption is None:
        return None
    return ctx.services.data.keys.data_key(upload.encryption, _upload_customer_key(ctx, upload))


def check_complete_key(ctx: Context, upload: Upload) -> None:
    """CompleteMultipartUpload of an SSE-C upload: the customer's key is needed only when the
    upload was created with a checksum algorithm (S3's API reference); a key sent must be the upload's."""
    key = _upload_customer_key(ctx, upload)  # a wrong one is refused here
    if key is None and upload.checksum_algorithm and upload.encryption is not None and upload.encryption.mode == SSE_C:
        raise customer.key_required()


def _upload_customer_key(ctx: Context, upload: Upload) -> bytes | None:
    """The customer's key a request about an SSE-C upload carries, if any: the upload's, or a bad
    request (a read with another key is refused as AccessDenied instead: nothing is told of the object)."""
    if upload.encryption is None or upload.encryption.mode != SSE_C:
        return None
    key = customer_key_of(ctx)
    if key is not None and not customer.matches(key, upload.encryption.customer_fingerprint):
        raise S3Error("InvalidArgument", "The customer key does not match the one the multipart upload was created with.", ArgumentName=CUSTOMER_HEADERS[1])
    return key


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


def refuse_on_read(ctx: Context) -> None:
    """S3 refuses a read (GET, HEAD) that names an encryption mode or KMS key: how a version is
    encrypted was settled when it was written (SSE-C's key headers are another matter: ``read_key``)."""
    for name in (SSE_HEADER, *KMS_HEADERS):
        if name in ctx.req.headers:
            raise S3Error("InvalidArgument", f"The {name} header is not supported for this operation.", ArgumentName=name, ArgumentValue=ctx.req.headers[name])


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
    if encryption.mode == SSE_KMS:
        headers = {SSE_HEADER: SSE_KMS, KMS_KEY_HEADER: encryption.kms_key_id}
        if encryption.bucket_key:
            headers[BUCKET_KEY_HEADER] = "true"
        return headers
    return {SSE_HEADER: encryption.mode}


def write_headers(encryption: Encryption | None) -> dict[str, str]:
    """``answer_headers`` for the answer to a write (PutObject, CopyObject, CreateMultipartUpload),
    which S3 also gives the encryption context of an SSE-KMS version."""
    headers = answer_headers(encryption)
    if encryption is not None and encryption.mode == SSE_KMS:
        headers[CONTEXT_HEADER] = encryption.kms_context
    return headers


def etag_digest(encryption: Encryption | None, key: DataKey | None, md5_hex: str) -> str:
    """What an object's (or a part's) ETag is made of: the plaintext's MD5, except for SSE-C and
    SSE-KMS, whose ETags S3 makes something else (the MD5 of the plaintext would tell what an
    encrypted object holds to anyone who can guess it). Here that is the MD5 under an HMAC keyed
    by the data key: nothing without the key, and the same for the same bytes sent again under it
    (a part uploaded twice keeps its ETag, as clients that retry a part expect)."""
    if encryption is not None and encryption.mode in (SSE_C, SSE_KMS):
        assert key is not None
        return hmac.new(key.key, b"hoard-etag:" + bytes.fromhex(md5_hex), hashlib.sha256).hexdigest()[:32]
    return md5_hex

