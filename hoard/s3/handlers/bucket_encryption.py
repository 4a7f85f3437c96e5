"""A bucket's default encryption: PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption.
New versions that ask for no encryption get the bucket's (``hoard.s3.handlers.sse``)."""

from __future__ import annotations

from hoard import xmldoc
from hoard.http.response import Response, xml_response
from hoard.objects.encryption import ENCRYPTION_CONFIG, SSE_KMS, SSE_S3
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, operation, require_body_checksum, require_bucket
from hoard.s3.handlers.payload import receive_document
from hoard.s3.handlers.sse import DSSE, KMS_MODES

ALGORITHMS = (SSE_S3, *KMS_MODES)


def parse(body: bytes) -> dict:
    """The configuration as kept: ``{"algorithm": "AES256" or "aws:kms", "bucketKey": bool}`` and
    for aws:kms the ``kmsKeyId`` given, if any (checked when a write uses it, as S3 does); S3's errors."""
    root = xml.parse(body)
    try:
        if xmldoc.tag(root) != "ServerSideEncryptionConfiguration":
            raise xmldoc.NotInSchema()
        rules = xmldoc.fields(root, ("Rule",), many=("Rule",)).get("Rule", [])
        if len(rules) != 1:
            raise xmldoc.NotInSchema()
        rule = xmldoc.fields(rules[0], ("ApplyServerSideEncryptionByDefault", "BucketKeyEnabled"))
        default = xmldoc.one(rule, "ApplyServerSideEncryptionByDefault")
        if default is None:
            raise xmldoc.NotInSchema()
        settings = xmldoc.fields(default, ("SSEAlgorithm", "KMSMasterKeyID"))
        algorithm_el, key_el = xmldoc.one(settings, "SSEAlgorithm"), xmldoc.one(settings, "KMSMasterKeyID")
        if algorithm_el is None:
            raise xmldoc.NotInSchema()
        algorithm = xmldoc.text(algorithm_el)
        bucket_key_el = xmldoc.one(rule, "BucketKeyEnabled")
        bucket_key = xmldoc.text(bucket_key_el).strip().lower() if bucket_key_el is not None else "false"
    except xmldoc.NotInSchema:
        raise S3Error("MalformedXML") from None
    if algorithm not in ALGORITHMS or bucket_key not in ("true", "false"):
        raise S3Error("MalformedXML")
    if key_el is not None and algorithm not in KMS_MODES:
        raise S3Error("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse")
    if algorithm == DSSE:
        raise S3Error("NotImplemented", "Dual-layer server-side encryption with KMS keys (DSSE-KMS) is not implemented yet.")
    config = {"algorithm": algorithm, "bucketKey": bucket_key == "true"}
    if key_el is not None:
        kms_key = xmldoc.text(key_el).strip()
        if not kms_key:
            raise S3Error("InvalidArgument", "The KMSMasterKeyID must not be empty.")
        config["kmsKeyId"] = kms_key
    return config


@operation("PutBucketEncryption")
async def put_bucket_encryption(ctx: Context) -> Response:
    await require_bucket(ctx)
    require_body_checksum(ctx)
    config = parse(await receive_document(ctx))
    await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, ENCRYPTION_CONFIG, config)
    return Response()


@operation("GetBucketEncryption")
async def get_bucket_encryption(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    config = bucket.config.get(ENCRYPTION_CONFIG)
    if not config:
        raise S3Error("ServerSideEncryptionConfigurationNotFoundError", BucketName=ctx.bucket)
    default = [("SSEAlgorithm", config["algorithm"])]
    if config["algorithm"] == SSE_KMS and config.get("kmsKeyId"):
        default.append(("KMSMasterKeyID", config["kmsKeyId"]))
    rule = [("ApplyServerSideEncryptionByDefault", default), ("BucketKeyEnabled", bool(config.get("bucketKey")))]
    return xml_response(xml.render("ServerSideEncryptionConfiguration", [("Rule", rule)]))


@operation("DeleteBucketEncryption")
async def delete_bucket_encryption(ctx: Context) -> Response:
    bucket = await require_bucket(ctx)
    if ENCRYPTION_CONFIG in bucket.config:
        await ctx.services.data.configure_bucket(ctx.store, ctx.bucket, ENCRYPTION_CONFIG, None)
    return Response(status=204)
