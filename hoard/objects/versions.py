"""How a new object version is made and made current: the one place for every write.

PutObject, PostObject and CopyObject store one run of bytes and call ``single_part_version``;
CompleteMultipartUpload joins its parts with ``multipart_version``. Every one of them then
commits through ``ObjectData.commit_version`` (or ``commit_multipart``): version records on the
drives (beside the shard files' fsyncs), then the index commit that makes the version visible,
then the replaced version's records removed and its bytes queued for reclaim. Versioning,
object lock, encryption and replication change these functions, not the handlers.
"""

from __future__ import annotations

import hashlib
import time

from hoard.model import ObjectRecord, Part, Placement, Segment, Tags, Upload
from hoard.storage.erasure_set import new_id


def now() -> float:
    """A version's time: S3 reports times to the millisecond, and storing them so keeps
    If-Modified-Since comparisons exact."""
    return round(time.time(), 3)


def quote_etag(hex_digest: str) -> str:
    """An ETag as S3 sends it: the digest in double quotes."""
    return f'"{hex_digest}"'


def single_part_version(
    *,
    bucket: str,
    key: str,
    blob: str,
    size: int,
    md5_hex: str,
    placement: Placement,
    inline: bool,
    storage_class: str,
    headers: dict[str, str],
    tags: Tags = (),
    checksum_algorithm: str = "",
    checksum_value: str = "",
) -> ObjectRecord:
    """A version made of one stored run of bytes (``blob``, "" when inline)."""
    return ObjectRecord(
        bucket=bucket,
        key=key,
        size=size,
        etag=quote_etag(md5_hex),
        last_modified=now(),
        storage_class=storage_class,
        headers=headers,
        segments=(Segment(blob, size),),
        checksum_algorithm=checksum_algorithm,
        checksum_value=checksum_value,
        checksum_type="FULL_OBJECT" if checksum_algorithm else "",
        placement=placement,
        data_id=new_id(),
        inline=inline,
        tags=tags,
    )


def multipart_version(
    upload: Upload, parts: list[Part], placement: Placement, data_id: str, completed_at: float, checksum_value: str
) -> ObjectRecord:
    """The version an upload becomes: its parts, in order, as segments (no byte is copied).

    Its ETag is S3's: the MD5 of the parts' binary MD5s, then ``-`` and the number of parts.
    ``data_id`` and ``completed_at`` are given so that building it twice (before the records are
    written and inside the index transaction) gives the same version.
    """
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag.strip('"')) for p in parts)).hexdigest()
    return ObjectRecord(
        bucket=upload.bucket,
        key=upload.key,
        size=sum(p.size for p in parts),
        etag=quote_etag(f"{digest}-{len(parts)}"),
        last_modified=completed_at,
        storage_class=upload.storage_class,
        headers=upload.headers,
        segments=tuple(Segment(p.blob, p.size, p.etag, p.checksum) for p in parts),
        placement=placement,
        data_id=data_id,
        multipart=True,
        checksum_algorithm=upload.checksum_algorithm,
        checksum_value=checksum_value,
        checksum_type=upload.checksum_type,
        tags=upload.tags,
    )
