"""Rows and records: how the SQL stores (``hoard.meta.sqlite``, ``hoard.meta.postgres``) lay a
bucket, an object version and an upload out in columns, and read them back.

Shared by both stores, which keep the same logical schema: JSON in text columns, flags as
integers, times as floating-point Unix times. Pure: no connection, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hoard.meta.listing import prefix_end
from hoard.model import Archive, Bucket, ClassUsage, Encryption, ListedObject, ObjectRecord, Placement, Restore, Segment, Tags, Upload


def prefix_range(column: str, prefix: str) -> tuple[str, list[Any]]:
    """SQL (to AND in) and arguments selecting values of ``column`` that start with ``prefix``:
    an index range, not a LIKE."""
    if not prefix:
        return "", []
    sql, args = f" AND {column} >= ?", [prefix]
    end = prefix_end(prefix)
    if end:
        sql += f" AND {column} < ?"
        args.append(end)
    return sql, args


def segments_json(segments: Iterable[Segment]) -> str:
    return json.dumps([s.to_json() for s in segments])


def encryption_json(encryption: Encryption | None) -> str:
    return json.dumps(encryption.to_json(), sort_keys=True) if encryption is not None else ""


def encryption_from_json(raw: str) -> Encryption | None:
    return Encryption.from_json(json.loads(raw)) if raw else None


def tags_json(tags: Tags) -> str:
    return json.dumps([list(t) for t in tags])


def tags_from_json(raw: str) -> Tags:
    return tuple((k, v) for k, v in json.loads(raw))


def tiering_json(r: ObjectRecord) -> str:
    if r.archive is None and r.restore is None:
        return ""
    return json.dumps([r.archive.to_json() if r.archive else None, r.restore.to_json() if r.restore else None])


def tiering_from_json(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    archive, restore = json.loads(raw)
    return {"archive": Archive.from_json(archive), "restore": Restore.from_json(restore)}


def object_row(r: ObjectRecord) -> tuple:
    return (
        r.bucket, r.key, r.size, r.etag, r.last_modified, r.storage_class, json.dumps(r.headers),
        segments_json(r.segments), int(r.multipart), r.checksum_algorithm, r.checksum_value,
        r.checksum_type, json.dumps(r.placement.to_json()), r.data_id, int(r.inline), tags_json(r.tags),
        r.version_id, r.seq, int(r.delete_marker), r.retention_mode, r.retain_until, int(r.legal_hold),
        json.dumps([list(g) for g in r.acl]), r.owner_id, tiering_json(r), encryption_json(r.encryption),
    )


# The same columns in objects (current versions) and versions (older ones).
OBJECT_COLUMNS = (
    "bucket, key, size, etag, last_modified, storage_class, headers, segments, multipart, "
    "checksum_algorithm, checksum_value, checksum_type, placement, data_id, inline, tags, "
    "version_id, seq, delete_marker, retention_mode, retain_until, legal_hold, acl, owner_id, tiering, encryption"
)
OBJECT_SLOTS = ",".join("?" * 26)
SEQ_AT = 17


def object_from_row(row: tuple) -> ObjectRecord:
    return ObjectRecord(
        bucket=row[0], key=row[1], size=row[2], etag=row[3], last_modified=row[4],
        storage_class=row[5], headers=json.loads(row[6]),
        segments=tuple(Segment(*s) for s in json.loads(row[7])), multipart=bool(row[8]),
        checksum_algorithm=row[9], checksum_value=row[10], checksum_type=row[11],
        placement=Placement.from_json(json.loads(row[12])), data_id=row[13], inline=bool(row[14]),
        tags=tags_from_json(row[15]), version_id=row[16], seq=row[17], delete_marker=bool(row[18]),
        retention_mode=row[19], retain_until=row[20], legal_hold=bool(row[21]),
        acl=tuple(tuple(g) for g in json.loads(row[22])), owner_id=row[23],
        **tiering_from_json(row[24]), encryption=encryption_from_json(row[25]),
    )


# A listing reads only what it shows (the key must be the second column, as in OBJECT_COLUMNS).
LISTED_COLUMNS = "bucket, key, size, etag, last_modified, storage_class, checksum_algorithm, checksum_type, owner_id, tiering"


def listed_restore(raw: str) -> Restore | None:
    """A listed version's restore, for ListObjects' RestoreStatus (parsed only where there is one)."""
    return tiering_from_json(raw).get("restore") if raw else None


def listed_from_row(row: tuple) -> ListedObject:
    return ListedObject(row[1], row[2], row[3], row[4], row[5], row[6], row[7], owner_id=row[8], restore=listed_restore(row[9]))


# A version listing's rows: the listed columns, then the version's id, seq and marker flag, and
# whether it is the current one (1 from objects, 0 from versions).
VERSION_LISTED_COLUMNS = LISTED_COLUMNS + ", version_id, seq, delete_marker"


def listed_version_from_row(row: tuple) -> ListedObject:
    return ListedObject(
        row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[10], bool(row[13]), bool(row[12]), owner_id=row[8], restore=listed_restore(row[9])
    )


UPLOAD_COLUMNS = (
    "upload_id, bucket, key, initiated, storage_class, headers, checksum_algorithm, checksum_type, owner_id, tags, "
    "retention_mode, retain_until, legal_hold, acl, encryption, pool"
)


def upload_from_row(row: tuple) -> Upload:
    return Upload(
        row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7], row[8], tags_from_json(row[9]), row[10], row[11], bool(row[12]),
        tuple(tuple(g) for g in json.loads(row[13])), encryption_from_json(row[14]), row[15],
    )


BUCKET_COLUMNS = "name, created, location, owner_id, config"


def bucket_from_row(row: tuple) -> Bucket:
    return Bucket(row[0], row[1], row[2], row[3], json.loads(row[4]))


def bucket_row(b: Bucket) -> tuple:
    return (b.name, b.created, b.location, b.owner_id, json.dumps(b.config, sort_keys=True))


def upload_row(upload: Upload) -> tuple:
    return (
        upload.upload_id, upload.bucket, upload.key, upload.initiated, upload.storage_class,
        json.dumps(upload.headers), upload.checksum_algorithm, upload.checksum_type, upload.owner_id,
        tags_json(upload.tags), upload.retention_mode, upload.retain_until, int(upload.legal_hold),
        json.dumps([list(g) for g in upload.acl]), encryption_json(upload.encryption), upload.pool,
    )


def check_text(*values: str) -> None:
    """Refuse a name, key, prefix or marker holding U+0000 (NUL), the same in every store:
    PostgreSQL's text cannot hold it, and the S3 layer answers such a key InvalidURI before it
    gets here (``hoard.s3.router``), so this only catches a caller's mistake."""
    for value in values:
        if "\x00" in value:
            raise ValueError(f"a bucket name, key, prefix or marker cannot hold U+0000 (NUL): {value!r}")


def add_usage(
    out: dict[tuple[str, str], list[int]], min_billable: dict[str, int],
    bucket: str, sclass: str, count: int, size: int | None, archived: int | None, stored: int | None, smalls: list[int],
) -> None:
    """Add one table's counts of a bucket and class to ``out``. Objects under the class's minimum
    (``smalls``: the sizes below 128 KiB) are billed as that minimum (S3's 128 KiB rule)."""
    acc = out.setdefault((bucket, sclass), [0, 0, 0, 0, 0])
    floor = min_billable.get(sclass, 0)
    acc[0] += count
    acc[1] += size or 0
    acc[2] += (size or 0) + (sum(max(0, floor - x) for x in smalls) if floor else 0)
    acc[3] += archived or 0
    acc[4] += stored or 0


def usage_list(out: dict[tuple[str, str], list[int]]) -> list[ClassUsage]:
    return [ClassUsage(b, c, *v) for (b, c), v in sorted(out.items())]
