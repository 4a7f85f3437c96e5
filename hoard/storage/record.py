"""A version record: everything needed to find and read one object version, kept on each drive
that holds one of its fragments, so that the drives alone can rebuild the index.

File format (``.hoard/records/<xx>/<data-id>`` on a drive)::

    b"HOARDREC1\\n" | u32 big-endian JSON length | JSON | inline fragment | 32-byte BLAKE3 of all before

The JSON holds the object's fields (bucket, key, version id and seq, size, ETag, headers,
segments = the shard ids of its parts, placement, delete marker, retention and legal hold) and ``fragment``, the index of the fragment this drive holds. Objects
small enough to be inline carry that drive's fragment of their bytes after the JSON.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from hoard.model import Archive, Encryption, ObjectRecord, Placement, Restore, Segment
from hoard.storage.bitrot import HASH_SIZE, block_hash

MAGIC = b"HOARDREC1\n"
_LEN = struct.Struct(">I")


class CorruptRecord(ValueError):
    """A record file that fails its checksum or cannot be parsed."""


@dataclass(frozen=True)
class StoredRecord:
    record: ObjectRecord
    fragment: int  # which fragment of the placement this drive holds
    inline: bytes  # this drive's fragment of an inline object's bytes


def encode(record: ObjectRecord, fragment: int, inline: bytes = b"") -> bytes:
    fields = {
        "bucket": record.bucket,
        "key": record.key,
        "version_id": record.version_id,
        "data_id": record.data_id,
        "size": record.size,
        "etag": record.etag,
        "last_modified": record.last_modified,
        "storage_class": record.storage_class,
        "headers": record.headers,
        "segments": [s.to_json() for s in record.segments],
        "multipart": record.multipart,
        "checksum_algorithm": record.checksum_algorithm,
        "checksum_value": record.checksum_value,
        "checksum_type": record.checksum_type,
        "placement": record.placement.to_json(),
        "inline": record.inline,
        "tags": [list(t) for t in record.tags],
        "replaces": record.replaces,
        "seq": record.seq,
        "delete_marker": record.delete_marker,
        "retention_mode": record.retention_mode,
        "retain_until": record.retain_until,
        "legal_hold": record.legal_hold,
        "acl": [list(g) for g in record.acl],
        "owner_id": record.owner_id,
        "fragment": fragment,
    }
    # Written only when set, so a version that was never archived has the record it always had.
    if record.archive is not None:
        fields["archive"] = record.archive.to_json()
    if record.restore is not None:
        fields["restore"] = record.restore.to_json()
    if record.encryption is not None:
        fields["encryption"] = record.encryption.to_json()
    doc = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    body = MAGIC + _LEN.pack(len(doc)) + doc + inline
    return body + block_hash(body)


def decode(data: bytes | bytearray) -> StoredRecord:
    if len(data) < len(MAGIC) + _LEN.size + HASH_SIZE or not data.startswith(MAGIC):
        raise CorruptRecord("not a version record")
    body, stored_hash = data[:-HASH_SIZE], data[-HASH_SIZE:]
    if block_hash(body) != stored_hash:
        raise CorruptRecord("version record fails its checksum")
    start = len(MAGIC) + _LEN.size
    (length,) = _LEN.unpack_from(body, len(MAGIC))
    try:
        f = json.loads(body[start : start + length].decode("utf-8", "surrogatepass"))
        record = ObjectRecord(
            bucket=f["bucket"],
            key=f["key"],
            size=f["size"],
            etag=f["etag"],
            last_modified=f["last_modified"],
            storage_class=f["storage_class"],
            headers=f["headers"],
            segments=tuple(Segment(*s) for s in f["segments"]),
            multipart=f["multipart"],
            checksum_algorithm=f["checksum_algorithm"],
            checksum_value=f["checksum_value"],
            checksum_type=f["checksum_type"],
            version_id=f["version_id"],
            placement=Placement.from_json(f["placement"]),
            data_id=f["data_id"],
            inline=f["inline"],
            tags=tuple((k, v) for k, v in f.get("tags", ())),
            replaces=f.get("replaces", ""),
            # Records written before versioning have none of these: an unversioned, unlocked version.
            seq=f.get("seq", ""),
            delete_marker=f.get("delete_marker", False),
            retention_mode=f.get("retention_mode", ""),
            retain_until=f.get("retain_until", 0.0),
            legal_hold=f.get("legal_hold", False),
            acl=tuple(tuple(g) for g in f.get("acl", ())),
            owner_id=f.get("owner_id", ""),
            archive=Archive.from_json(f.get("archive")),
            restore=Restore.from_json(f.get("restore")),
            encryption=Encryption.from_json(f.get("encryption")),
        )
        return StoredRecord(record, f["fragment"], bytes(body[start + length :]))
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptRecord(f"version record cannot be parsed: {e}") from e
