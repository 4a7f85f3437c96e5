"""The plain records every layer shares: buckets, object versions, uploads, parts, listing pages.

No behaviour and no imports from Hoard: the metadata index stores these, the storage layer writes
version records from them, and the S3 layer renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Tags = tuple[tuple[str, str], ...]  # (key, value) pairs, sorted by key


@dataclass(frozen=True)
class Bucket:
    name: str
    created: float
    location: str
    owner_id: str
    # Sub-resource configurations by name ("tagging", "ownershipControls", ...), each a JSON value.
    config: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Placement:
    """Where a version's bytes live: an erasure set, its code, and which drive holds which fragment.

    ``distribution[i]`` is the position, within the set, of the drive holding fragment ``i``
    (fragments ``0 .. data-1`` are data, the rest parity). ``pool`` is a cluster's pool (numbered
    from 1, ``hoard.meta.cluster``); 0 is one server's own drives.
    """

    set: int
    data: int
    parity: int
    distribution: tuple[int, ...]
    pool: int = 0

    def to_json(self) -> list:
        # One server's records keep their four fields: the on-disk format does not change.
        fields = [self.set, self.data, self.parity, list(self.distribution)]
        return fields + [self.pool] if self.pool else fields

    @classmethod
    def from_json(cls, value: list) -> Placement:
        return cls(value[0], value[1], value[2], tuple(value[3]), value[4] if len(value) > 4 else 0)


SINGLE_DRIVE = Placement(0, 1, 0, (0,))


@dataclass(frozen=True)
class Segment:
    """One stored run of an object's bytes: a whole single-part object, or one part of a multipart one."""

    blob: str
    size: int  # the bytes a client reads (plaintext)
    etag: str = ""  # the part's ETag, for partNumber reads of multipart objects
    checksum: str = ""  # the part's checksum (base64), when the upload named an algorithm
    stored: int = 0  # the bytes kept when they differ from ``size`` (encrypted: hoard.crypto.chunks); 0: the same

    @property
    def stored_size(self) -> int:
        """What the shard files hold: the erasure geometry and every read of the drives go by this."""
        return self.stored or self.size

    def to_json(self) -> list:
        fields: list = [self.blob, self.size, self.etag, self.checksum]
        if self.stored:
            fields.append(self.stored)
        return fields


@dataclass(frozen=True)
class Encryption:
    """How a version's bytes are encrypted at rest (hoard.crypto): the mode S3 names, the id bound
    into every stored chunk, and its data key as sealed (by the master key, a KMS key or the
    customer's key). The data key itself is never kept."""

    mode: str  # "AES256" (SSE-S3), "aws:kms" (SSE-KMS) or "SSE-C"
    encryption_id: str  # hex of 16 random bytes
    sealed_key: str  # base64 of the data key's envelope
    kms_key_id: str = ""  # SSE-KMS: the key's ARN
    kms_context: str = ""  # SSE-KMS: the encryption context as the client gave it (base64 of its JSON)
    customer_key_md5: str = ""  # SSE-C: what S3 echoes in x-amz-server-side-encryption-customer-key-MD5
    customer_fingerprint: str = ""  # SSE-C: a salted HMAC of the customer's key, to refuse a wrong one
    bucket_key: bool = False  # SSE-KMS: x-amz-server-side-encryption-bucket-key-enabled, as given

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", False)}

    @classmethod
    def from_json(cls, value: dict | None) -> Encryption | None:
        return cls(**value) if value else None


# Storage classes whose bytes may live in a tier (hoard.objects.tiering says which tier, if any).
TIERED_CLASSES = frozenset({"GLACIER", "GLACIER_IR", "DEEP_ARCHIVE", "STANDARD_IA", "ONEZONE_IA"})
TIER_BLOB_PREFIX = "tier:"  # reclaim-queue names of tier blobs: tier:<tier>:<ref>


@dataclass(frozen=True)
class Archive:
    """Where an archived version's bytes are when they have left the drives: a blob in a tier
    (``hoard.tiers``: a folder or a bucket on another S3 endpoint)."""

    tier: str  # the tier's name ("cold", "ia")
    ref: str  # the blob's name in that tier
    stored: int = 0  # bytes the blob takes there (compressed)

    @property
    def blob_id(self) -> str:
        """The blob's name in the reclaim queue, beside shard ids (which never hold a ':')."""
        return f"{TIER_BLOB_PREFIX}{self.tier}:{self.ref}"

    def to_json(self) -> list:
        return [self.tier, self.ref, self.stored]

    @classmethod
    def from_json(cls, value: list | None) -> Archive | None:
        return None if not value else cls(value[0], value[1], value[2])


@dataclass(frozen=True)
class Restore:
    """A RestoreObject of an archival version: asked for, made ready at ``ready_at`` (the tier's
    delay), and once ready (``expires`` set) readable until ``expires``."""

    ready_at: float
    days: int
    expires: float = 0.0  # 0 while the restore is ongoing

    @property
    def ongoing(self) -> bool:
        return not self.expires

    def to_json(self) -> list:
        return [self.ready_at, self.days, self.expires]

    @classmethod
    def from_json(cls, value: list | None) -> Restore | None:
        return None if not value else cls(value[0], value[1], value[2])


@dataclass(frozen=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str  # quoted, as sent in the ETag header
    last_modified: float
    storage_class: str
    headers: dict[str, str]  # content-type, cache-control, ..., x-amz-meta-*
    segments: tuple[Segment, ...]
    multipart: bool = False
    checksum_algorithm: str = ""
    checksum_value: str = ""
    checksum_type: str = ""  # FULL_OBJECT or COMPOSITE
    version_id: str = "null"
    placement: Placement = SINGLE_DRIVE
    data_id: str = ""  # names this version's record file on each drive of its set
    inline: bool = False  # bytes kept inside the record files, not in shard files
    tags: Tags = ()
    # The data id of the record this one supersedes with the same bytes (a metadata-only change,
    # which keeps last_modified): what a rebuild from the drives must not take for current.
    replaces: str = ""
    # The version's place among its key's versions: larger is newer (``hoard.objects.versions.new_seq``);
    # "" for records written before versioning, older than any other.
    seq: str = ""
    delete_marker: bool = False  # a version that says "deleted": no bytes, never read
    # Object lock: GOVERNANCE or COMPLIANCE until retain_until (a Unix time), and a legal hold.
    retention_mode: str = ""
    retain_until: float = 0.0
    legal_hold: bool = False
    # The version's ACL: (CanonicalUser or Group, id or URI, permission) grants; () is the
    # default, the owner's FULL_CONTROL alone (hoard.iam.acl).
    acl: tuple[tuple[str, str, str], ...] = ()
    # The canonical id of the account that owns the version, where another account than the
    # bucket's owner wrote it (ObjectWriter ownership); "" for the bucket owner's.
    owner_id: str = ""
    # Archival storage: the tier blob holding the bytes (then segments name shard files only for
    # a restored copy), and the state of a restore.
    archive: Archive | None = None
    restore: Restore | None = None
    encryption: Encryption | None = None  # None: the bytes are kept as the client sent them

    @property
    def stored_size(self) -> int:
        """What the drives (or the tier) hold for the version: its size, or more when encrypted."""
        return sum(s.stored_size for s in self.segments) if self.segments else self.size

    @property
    def on_drives(self) -> bool:
        """Whether the bytes (or a restored copy of them) are in shard files or inline on the drives."""
        return self.inline or any(s.blob for s in self.segments) or not self.size

    @property
    def parts_count(self) -> int:
        return len(self.segments) if self.multipart else 1


# Not frozen: a listing page makes a thousand of these, and a frozen dataclass's __init__ (one
# object.__setattr__ per field) cost 5 us each against 1.2 us, most of a page's time.
@dataclass(slots=True)
class ListedObject:
    """What a listing shows of an object: read without parsing its headers, segments or placement."""

    key: str
    size: int
    etag: str
    last_modified: float
    storage_class: str
    checksum_algorithm: str = ""
    checksum_type: str = ""
    version_id: str = "null"
    is_latest: bool = True
    delete_marker: bool = False
    owner_id: str = ""  # as ObjectRecord.owner_id: "" for the bucket owner
    restore: Restore | None = None  # an archival version's restore (RestoreStatus, when asked for)


@dataclass(frozen=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    storage_class: str
    headers: dict[str, str]
    checksum_algorithm: str = ""
    checksum_type: str = ""
    owner_id: str = ""
    tags: Tags = ()  # given at creation (x-amz-tagging), the object's once completed
    # Object lock given at creation (x-amz-object-lock-*), the object's once completed.
    retention_mode: str = ""
    retain_until: float = 0.0
    legal_hold: bool = False
    acl: tuple[tuple[str, str, str], ...] = ()  # given at creation (x-amz-acl, x-amz-grant-*)
    encryption: Encryption | None = None  # given at creation: every part is encrypted with its key
    # A cluster's pool chosen at creation: every part goes to it, and so does the object (parts
    # placed one by one could land in different pools, and a version's record names one). 0: none.
    pool: int = 0


@dataclass(frozen=True)
class CompletedUpload:
    """An upload that became an object: enough to answer a retried complete the same way."""

    upload_id: str
    bucket: str
    key: str
    etag: str
    checksum_algorithm: str
    checksum_value: str
    checksum_type: str
    completed: float


@dataclass(frozen=True)
class Part:
    upload_id: str
    number: int
    size: int
    etag: str
    blob: str
    last_modified: float
    checksum: str = ""
    stored: int = 0  # as Segment.stored: the bytes kept, when they differ from ``size``
    degraded: bool = False  # its shard files missed a drive: the object it completes is queued for healing


@dataclass(frozen=True)
class ClassUsage:
    """What a bucket keeps in one storage class (every version, delete markers aside)."""

    bucket: str
    storage_class: str
    objects: int
    bytes: int
    billable: int  # bytes, objects under the class's minimum billable size counted as that size
    archived: int  # versions whose bytes are in a tier
    tier_bytes: int  # what those take in their tier (compressed)


@dataclass
class Listing:
    """One page of a listing: entries, common prefixes, and where the next page starts."""

    entries: list = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_marker: str = ""  # the last key or prefix returned, for the next page


# The header a replica carries on its target (x-amz-replication-status: REPLICA), kept with its
# other headers: what it is, shown on GET and HEAD, and what keeps it from being replicated again.
REPLICATION_STATUS_HEADER = "x-amz-replication-status"
REPLICA = "REPLICA"
PENDING, COMPLETED, FAILED = "PENDING", "COMPLETED", "FAILED"  # a source version's replication status


@dataclass(frozen=True)
class HealTask:
    """A version whose write (or metadata change) missed a drive, queued by its commit."""

    bucket: str
    key: str
    version_id: str
    attempts: int = 0  # heals tried while a drive of its set was still away
    claimed_until: float = 0.0  # the claim's mark: a row queued again meanwhile no longer carries it


@dataclass(frozen=True)
class ReplicationTask:
    """A version waiting to be replicated: its bytes and metadata ("object"), or, once they are
    there, only a change of its tags or lock settings ("meta")."""

    bucket: str
    key: str
    version_id: str
    op: str
    attempts: int = 0
    queued: float = 0.0
    error: str = ""
    gen: int = 0  # bumped each time the version is queued again: a result counts only for its own
