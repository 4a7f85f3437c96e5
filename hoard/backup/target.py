"""Writing a bucket over S3, for a restore: the bucket, its versions and its configuration.

Restored versions get new version ids and times (S3 lets no client choose them); everything
else a client can set is set as it was: content headers, user metadata, tags, storage class,
retention and legal hold. Each body goes with its MD5 (the whole object's, or each part's),
so the server checks the bytes, and the ETag it answers is the one the plan expects.
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from hoard.backup import times
from hoard.backup.connect import error_code
from hoard.backup.records import Version
from hoard.backup.source import CONTENT_HEADERS


def create_bucket(client: Any, bucket: str, lock: bool = False, ownership: str | None = None) -> None:
    """Create ``bucket`` in the client's region; one the caller already owns is fine."""
    args: dict[str, Any] = {"Bucket": bucket}
    region = client.meta.region_name
    if region and region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if lock:
        args["ObjectLockEnabledForBucket"] = True
    if ownership:
        args["ObjectOwnership"] = ownership
    try:
        client.create_bucket(**args)
    except ClientError as e:
        if error_code(e) != "BucketAlreadyOwnedByYou":
            raise


@dataclass(frozen=True)
class BucketState:
    created: bool
    versioned: bool  # versioning Enabled now (a restore of a history needs it)
    locked: bool  # object lock enabled: retention and legal holds can be restored


def prepare_bucket(client: Any, bucket: str, config: dict[str, Any]) -> BucketState:
    """The target bucket, created as the backed-up one was made (object lock, ownership,
    versioning) if it does not exist; an existing one is left as it is."""
    created = False
    try:
        client.list_object_versions(Bucket=bucket, MaxKeys=1)
    except ClientError as e:
        if error_code(e) != "NoSuchBucket":
            raise
        lock = (config.get("object_lock") or {}).get("ObjectLockEnabled") == "Enabled"
        rules = (config.get("ownership") or {}).get("Rules") or [{}]
        create_bucket(client, bucket, lock=lock, ownership=rules[0].get("ObjectOwnership"))
        if (config.get("versioning") or {}).get("Status") in ("Enabled", "Suspended") and not lock:
            # Enabled even if it was Suspended: the history goes back in as versions, and the
            # bucket is suspended again once they are there (apply_config).
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        created = True
    versioned = client.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    try:
        lock_config = client.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration") or {}
    except ClientError as e:
        if error_code(e) not in ("ObjectLockConfigurationNotFoundError", "NotImplemented", "404", "501"):
            raise
        lock_config = {}
    return BucketState(created, versioned, lock_config.get("ObjectLockEnabled") == "Enabled")


class FileSlice(io.RawIOBase):
    """``length`` bytes of a file from ``offset``, as a body botocore can read, rewind and retry."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed with the slice
        self._offset = offset
        self._length = length
        self._pos = 0
        self._file.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        room = self._length - self._pos
        if room <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), room)]
        n = self._file.readinto(view)
        self._pos += n
        return n

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        self._file.seek(self._offset + self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._file.close()
        super().close()


def _b64(md5_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(md5_hex)).decode()


def _write_args(version: Version, lock: bool) -> dict[str, Any]:
    """The headers of a PUT (or of the CreateMultipartUpload) that give ``version`` back its
    metadata, tags and, where ``lock``, its retention and legal hold."""
    args: dict[str, Any] = {"Metadata": dict(version.metadata)}
    for name, value in version.headers:
        param = CONTENT_HEADERS[name]
        if param == "Expires":
            try:
                args[param] = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue  # a date S3 kept as given but no one can read back
        else:
            args[param] = value
    if version.tags:
        # %20, never "+", for a space: the header is decoded as a URL's query, and not every
        # server reads "+" as a space.
        args["Tagging"] = urllib.parse.urlencode(version.tags, quote_via=urllib.parse.quote)
    if version.storage_class and version.storage_class != "STANDARD":
        args["StorageClass"] = version.storage_class
    mode, kms_key = version.encryption
    if mode:
        # Encrypted at rest again as it was (an SSE-KMS key must exist where it is restored).
        args["ServerSideEncryption"] = mode
        if kms_key:
            args["SSEKMSKeyId"] = kms_key
    if lock:
        # A retention that has run out is no retention: S3 refuses a retain-until in the past.
        if version.lock_mode and version.retain_until > times.now():
            args["ObjectLockMode"] = version.lock_mode
            args["ObjectLockRetainUntilDate"] = times.from_stamp(version.retain_until)
        if version.legal_hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
    return args


def put_version(client: Any, bucket: str, version: Version, path: Path, lock: bool) -> str:
    """Write ``version`` (its bytes in ``path``) as the newest version of its key; its ETag."""
    args = _write_args(version, lock)
    if not version.parts:
        if version.checksum[0]:
            args[f"Checksum{version.checksum[0]}"] = version.checksum[1]
        with open(path, "rb") as body:
            answer = client.put_object(
                Bucket=bucket, Key=version.key, Body=body, ContentLength=version.size, ContentMD5=_b64(version.md5), **args
            )
        return answer["ETag"].strip('"')
    upload = client.create_multipart_upload(Bucket=bucket, Key=version.key, **args)["UploadId"]
    try:
        done = []
        offset = 0
        for number, (size, md5) in enumerate(version.parts, start=1):
            with FileSlice(path, offset, size) as body:
                answer = client.upload_part(
                    Bucket=bucket, Key=version.key, UploadId=upload, PartNumber=number, Body=body, ContentLength=size, ContentMD5=_b64(md5)
                )
            done.append({"PartNumber": number, "ETag": answer["ETag"]})
            offset += size
        answer = client.complete_multipart_upload(Bucket=bucket, Key=version.key, UploadId=upload, MultipartUpload={"Parts": done})
    except BaseException:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=version.key, UploadId=upload)
        except ClientError:
            pass  # the upload is left for the bucket's owner (or a lifecycle rule) to clear
        raise
    return answer["ETag"].strip('"')


def put_delete_marker(client: Any, bucket: str, key: str) -> None:
    client.delete_object(Bucket=bucket, Key=key)


def _rename_arns(value: Any, old: str, new: str) -> Any:
    """A policy made for bucket ``old`` made for ``new``: its ARNs, in every statement."""
    if isinstance(value, str):
        arn = f"arn:aws:s3:::{old}"
        if value == arn or value.startswith(arn + "/"):
            return f"arn:aws:s3:::{new}" + value[len(arn):]
        return value
    if isinstance(value, list):
        return [_rename_arns(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _rename_arns(v, old, new) for k, v in value.items()}
    return value


def apply_config(client: Any, bucket: str, config: dict[str, Any], source_bucket: str) -> tuple[list[str], list[str]]:
    """Set the backed-up configuration on ``bucket``, once its versions are back: a default
    retention or a policy set before would apply to the restore's own writes. Returns what was
    set and what could not be (each with S3's error code)."""
    steps: list[tuple[str, str, dict[str, Any]]] = []
    if config.get("encryption"):
        steps.append(("encryption", "put_bucket_encryption", {"ServerSideEncryptionConfiguration": config["encryption"]}))
    if config.get("lifecycle"):
        steps.append(("lifecycle", "put_bucket_lifecycle_configuration", {"LifecycleConfiguration": {"Rules": config["lifecycle"]}}))
    if config.get("cors"):
        steps.append(("cors", "put_bucket_cors", {"CORSConfiguration": {"CORSRules": config["cors"]}}))
    if config.get("tagging"):
        steps.append(("tagging", "put_bucket_tagging", {"Tagging": {"TagSet": config["tagging"]}}))
    lock = config.get("object_lock") or {}
    if lock.get("Rule"):
        steps.append(("object_lock", "put_object_lock_configuration", {"ObjectLockConfiguration": lock}))
    if config.get("policy"):
        policy = _rename_arns(config["policy"], source_bucket, bucket)
        steps.append(("policy", "put_bucket_policy", {"Policy": json.dumps(policy)}))
    # After the policy: a block of public policies would refuse a public one put after it.
    if config.get("public_access_block"):
        steps.append(("public_access_block", "put_public_access_block", {"PublicAccessBlockConfiguration": config["public_access_block"]}))
    if (config.get("versioning") or {}).get("Status") == "Suspended":
        steps.append(("versioning", "put_bucket_versioning", {"VersioningConfiguration": {"Status": "Suspended"}}))
    applied, failed = [], []
    for name, method, args in steps:
        try:
            getattr(client, method)(Bucket=bucket, **args)
            applied.append(name)
        except ClientError as e:
            failed.append(f"{name} ({error_code(e) or 'error'})")
    return applied, failed
