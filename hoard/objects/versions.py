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
import secrets
import threading
import time

from hoard.model import Encryption, ObjectRecord, Part, Placement, Segment, Tags, Upload
from hoard.objects.lock import NO_LOCK, LockSettings
from hoard.storage.erasure_set import new_id

NULL_VERSION = "null"
# Versioning states, as PutBucketVersioning names them; a bucket never configured has none.
ENABLED, SUSPENDED = "Enabled", "Suspended"
VERSIONING_CONFIG = "versioning"  # the bucket configuration the state is kept under

_seq_lock = threading.Lock()
_last_micros = 0


def new_seq() -> str:
    """A version's place in its key's history: the time in microseconds (fixed-width hex, so
    that text order is time order) and 40 random bits; strictly increasing within a process.

    Versions of one key sort by it, newest last; an Enabled bucket's version ids are these, so
    ids are unique and time-ordered.
    """
    global _last_micros
    with _seq_lock:
        micros = max(time.time_ns() // 1000, _last_micros + 1)
        _last_micros = micros
    return f"{micros:014x}{secrets.token_hex(5)}"


def version_id_for(versioning: str | None, seq: str) -> str:
    """The id a new version gets: its seq where versioning is Enabled, else ``null`` (which
    replaces the key's null version, if it has one)."""
    return seq if versioning == ENABLED else NULL_VERSION


def is_version_id(value: str) -> bool:
    """Whether ``value`` can name a version: ``null`` or an id ``new_seq`` made."""
    return value == NULL_VERSION or (len(value) == 24 and all(c in "0123456789abcdef" for c in value))


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
    versioning: str | None = None,
    lock: LockSettings = NO_LOCK,
    acl: tuple[tuple[str, str, str], ...] = (),
    owner_id: str = "",
    encryption: Encryption | None = None,
    stored: int = 0,
) -> ObjectRecord:
    """A version made of one stored run of bytes (``blob``, "" when inline); ``versioning`` is
    the bucket's state, which decides its version id; ``lock`` its retention and legal hold;
    ``owner_id`` its owner where that is not the bucket's; ``encryption`` how its bytes are
    encrypted, ``stored`` what they take then (hoard.objects.encryption)."""
    seq = new_seq()
    return ObjectRecord(
        bucket=bucket,
        key=key,
        size=size,
        etag=quote_etag(md5_hex),
        last_modified=now(),
        storage_class=storage_class,
        headers=headers,
        segments=(Segment(blob, size, stored=stored if stored != size else 0),),
        checksum_algorithm=checksum_algorithm,
        checksum_value=checksum_value,
        checksum_type="FULL_OBJECT" if checksum_algorithm else "",
        placement=placement,
        data_id=new_id(),
        inline=inline,
        tags=tags,
        seq=seq,
        version_id=version_id_for(versioning, seq),
        acl=acl,
        owner_id=owner_id,
        encryption=encryption,
        **lock.fields(),
    )


def delete_marker(bucket: str, key: str, placement: Placement, versioning: str | None) -> ObjectRecord:
    """The version a DeleteObject without a version id adds to a versioned bucket: no bytes,
    only a record saying the key is deleted (``null`` where versioning is Suspended)."""
    seq = new_seq()
    return ObjectRecord(
        bucket=bucket,
        key=key,
        size=0,
        etag="",
        last_modified=now(),
        storage_class="STANDARD",
        headers={},
        segments=(),
        placement=placement,
        data_id=new_id(),
        seq=seq,
        version_id=version_id_for(versioning, seq),
        delete_marker=True,
    )


def multipart_version(
    upload: Upload,
    parts: list[Part],
    placement: Placement,
    data_id: str,
    completed_at: float,
    checksum_value: str,
    seq: str,
    version_id: str,
    lock: LockSettings = NO_LOCK,
    owner_id: str = "",
) -> ObjectRecord:
    """The version an upload becomes: its parts, in order, as segments (no byte is copied).

    Its ETag is S3's: the MD5 of the parts' binary MD5s, then ``-`` and the number of parts.
    ``data_id``, ``completed_at``, ``seq`` and ``version_id`` are given so that building it twice (before the records are
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
        segments=tuple(Segment(p.blob, p.size, p.etag, p.checksum, p.stored) for p in parts),
        placement=placement,
        data_id=data_id,
        multipart=True,
        checksum_algorithm=upload.checksum_algorithm,
        checksum_value=checksum_value,
        checksum_type=upload.checksum_type,
        tags=upload.tags,
        seq=seq,
        version_id=version_id,
        acl=upload.acl,
        owner_id=owner_id,
        encryption=upload.encryption,
        **lock.fields(),
    )
