"""The metadata store: what handlers, workers and the index rebuild need of the index.

``SqliteMetaStore`` (``hoard.meta.sqlite``) is one implementation; a PostgreSQL store for several
nodes will be another. Both must pass ``tests/contract/test_metastore.py``.

The contract every implementation keeps:

- A write is durable when its coroutine returns, and visible to every read that starts after.
- Each write is atomic: when it raises, nothing of it happened.
- Failures are ``hoard.meta.errors`` (``BucketNotFound``, ``UploadNotFound``, ``CommitFailed``...).
  Callbacks the caller passes in (``precondition``, ``build``, ``before_commit``) run inside the
  write's transaction; whatever they raise aborts the write and reaches the caller unchanged.
- Keys are ordered by code point, i.e. UTF-8 byte order; listings follow ``hoard.meta.listing``.
- Bytes of replaced or deleted versions, dropped parts and aborted uploads are not deleted: their
  shard ids go to the reclaim queue, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol, runtime_checkable

from hoard.model import Bucket, ClassUsage, CompletedUpload, Encryption, HealTask, Listing, ObjectRecord, Part, ReplicationTask, Upload

Precondition = Callable[[ObjectRecord | None], None]
Guard = Callable[[ObjectRecord], None]
BuildObject = Callable[[Upload, dict[int, Part]], tuple[ObjectRecord, set[int]]]


@runtime_checkable
class MetaStore(Protocol):
    @property
    def location(self) -> str:
        """Where the index lives, for people to read (a file, a database without its password)."""
        ...

    def close(self) -> None:
        """Finish pending writes and release connections and threads; the store is unusable after."""
        ...

    # -- buckets ----------------------------------------------------------------------------
    async def create_bucket(self, bucket: Bucket) -> None:
        """Add a bucket; BucketExists if the name is taken (``same_owner`` when by ``bucket.owner_id``)."""
        ...

    async def get_bucket(self, name: str) -> Bucket | None:
        """The bucket, or None."""
        ...

    async def set_bucket_config(self, name: str, config_name: str, value: Any) -> Bucket:
        """Set one of a bucket's sub-resource configurations (a JSON value; None removes it) and
        return the bucket as it now is. BucketNotFound."""
        ...

    async def list_buckets(self, prefix: str, after: str, limit: int, owner: str | None = None) -> list[Bucket]:
        """Up to ``limit`` buckets named after ``after`` and starting with ``prefix``, by name;
        only those ``owner`` (a canonical id) owns, if given."""
        ...

    async def delete_bucket(self, name: str) -> None:
        """Remove a bucket holding no object, with its uploads; BucketNotFound, BucketNotEmpty."""
        ...

    # -- objects ----------------------------------------------------------------------------
    async def put_object(self, record: ObjectRecord, precondition: Precondition | None = None, heal: bool = False) -> ObjectRecord | None:
        """Add ``record`` as a version of its key after ``precondition(current)`` passes (current:
        None if absent or a delete marker). The version with the highest ``seq`` is the current
        one. A ``null`` version replaces the key's null version: returns the one removed (the
        older of the two, which may be ``record`` itself when a newer one raced ahead), else
        None. ``heal``: its files missed a drive; the same transaction queues it for healing
        (``claim_heals``). BucketNotFound."""
        ...

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """The current version (maybe a delete marker), or None (no error for a missing bucket)."""
        ...

    async def get_version(self, bucket: str, key: str, version_id: str) -> ObjectRecord | None:
        """The version with this id, current or not, or None."""
        ...

    async def get_versions(self, bucket: str, key: str) -> list[ObjectRecord]:
        """Every version of the key, newest first."""
        ...

    async def replace_version(self, old: ObjectRecord, new: ObjectRecord, reclaim: Iterable[str] = (), heal: bool = False) -> None:
        """Put ``new`` (the same bytes and version id with other metadata, e.g. tags, or the same
        bytes in another place: a tier, a restored copy) in place of ``old`` if ``old`` is still
        there; only the shard ids in ``reclaim`` are queued for reclaim. VersionChanged otherwise.
        The version's tier task follows ``new``: due at its restore's ``ready_at`` while ongoing, at
        ``expires`` once ready, at once for bytes of a tiered class still on the drives. ``heal``
        as put_object's."""
        ...

    def get_object_sync(self, bucket: str, key: str) -> ObjectRecord | None:
        """``get_object`` for a worker thread: blocks."""
        ...

    def get_object_nowait(self, bucket: str, key: str) -> ObjectRecord | None:
        """``get_object`` in the event loop, or ``hoard.nowait.WouldBlock`` if it would have to wait."""
        ...

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """Remove the key's null version (an unversioned bucket's only one); returns it (None if
        there was none). The newest remaining version, if any, becomes current. BucketNotFound."""
        ...

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[ObjectRecord | None]:
        """``delete_object`` of each key in one transaction; removed versions in the keys' order. BucketNotFound."""
        ...

    async def delete_version(self, bucket: str, key: str, version_id: str, guard: Guard | None = None) -> ObjectRecord | None:
        """Remove one version (its bytes to reclaim) once ``guard(version)`` passes (object lock:
        inside the transaction); returns it, or None. BucketNotFound."""
        ...

    async def delete_versions(self, bucket: str, versions: list[tuple[str, str]], guard: Guard | None = None) -> list[ObjectRecord | None]:
        """``delete_version`` of each (key, version id) in one transaction. BucketNotFound."""
        ...

    async def list_objects(self, bucket: str, prefix: str, delimiter: str, after: str, limit: int) -> Listing:
        """A page of ``ListedObject`` entries (current versions, delete markers left out) and
        common prefixes after ``after`` (see ``hoard.meta.listing``)."""
        ...

    async def list_versions(
        self, bucket: str, prefix: str, delimiter: str, key_marker: str, version_marker: str, limit: int
    ) -> Listing:
        """A page of every version and delete marker (``ListedObject`` with ``is_latest``), key
        ascending then newest first, after ``version_marker`` of ``key_marker`` (or after
        ``key_marker``); common prefixes as in ``list_objects``. An index range scan."""
        ...

    # -- multipart uploads ------------------------------------------------------------------
    async def create_upload(self, upload: Upload) -> None:
        """Record a new upload. BucketNotFound."""
        ...

    async def get_upload(self, upload_id: str) -> Upload | None:
        """The upload, or None."""
        ...

    async def put_part(self, part: Part) -> None:
        """Add or replace a part (a replaced part's shard goes to reclaim), keeping whether its
        files missed a drive (``Part.degraded``). UploadNotFound."""
        ...

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        """Up to ``limit`` parts numbered above ``after``, by number."""
        ...

    async def complete_upload(
        self,
        upload_id: str,
        build: BuildObject,
        precondition: Precondition | None = None,
        before_commit: Callable[[ObjectRecord], None] | None = None,
        heal: bool = False,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """In one transaction: ``build(upload, parts)`` gives the object and the part numbers it
        uses; ``precondition(current)`` and ``before_commit(object)`` run; the object replaces the
        current version, unused parts go to reclaim and the upload ends; it is queued for
        healing if ``heal`` or a part it uses is degraded. Returns (object, replaced).
        UploadNotFound, BucketNotFound."""
        ...

    async def get_completed_upload(self, upload_id: str) -> CompletedUpload | None:
        """What an upload completed within the last day became (bucket, key, ETag, checksum),
        so that a retried complete can be answered the same; None otherwise."""
        ...

    async def abort_upload(self, upload_id: str) -> None:
        """End an upload; its parts go to reclaim. UploadNotFound."""
        ...

    async def set_upload_encryption(self, upload_id: str, old: Encryption, new: Encryption) -> bool:
        """Give an upload ``new`` (its data key sealed anew: a master key rotation) if it still
        has ``old``; False if it is gone or changed."""
        ...

    async def list_uploads(
        self, bucket: str, prefix: str, delimiter: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> Listing:
        """A page of ``Upload`` entries (by key, then id) and common prefixes after the markers."""
        ...

    # -- writes that missed a drive --------------------------------------------------------
    async def claim_heals(self, now: float, limit: int, claim_seconds: float) -> list[HealTask]:
        """Up to ``limit`` queued versions due by ``now``, soonest first, each hidden from every
        other claimer for ``claim_seconds`` (it comes back after that unless ``heal_done``)."""
        ...

    async def heal_done(self, task: HealTask) -> None:
        """Take a version off the heal queue: every file of it is on every drive of its set. Not
        if it was queued again since ``task`` was claimed (its new files are still to check)."""
        ...

    async def heal_later(self, task: HealTask, not_before: float) -> None:
        """Try again at ``not_before`` (a drive of its set is still away); counts the attempt. Not
        if it was queued again since ``task`` was claimed (it is due at once then)."""
        ...

    async def hurry_heals(self, now: float) -> int:
        """Make every queued version due at ``now`` (drives came back); returns how many waited."""
        ...

    # -- reclaiming bytes -------------------------------------------------------------------
    async def reclaimable(self, older_than: float, limit: int) -> list[str]:
        """Up to ``limit`` shard ids queued for reclaim before ``older_than`` (a Unix time)."""
        ...

    async def claim_reclaimable(self, older_than: float, limit: int, claim_seconds: float) -> list[str]:
        """``reclaimable``, claimed: each id returned is hidden from every other claimer (another
        node's reclaimer) for ``claim_seconds``, and comes back after that unless ``reclaimed``."""
        ...

    async def reclaimed(self, blobs: list[str]) -> None:
        """Take shard ids off the reclaim queue (their files are gone)."""
        ...

    def named(self, shards: Collection[str], records: Collection[str]) -> tuple[set[str], set[str]]:
        """Which of these shard ids (by a version, an upload's part or the reclaim queue) and record
        ids (by a version) the index names, from one snapshot: for the orphan sweep, which asks
        about what it found on the drives rather than holding every id of the index. Blocks."""
        ...

    # -- archival restores and usage ---------------------------------------------------------
    async def tier_tasks_due(self, now: float, limit: int) -> list[tuple[str, str, str, float]]:
        """(bucket, key, version id, due) of up to ``limit`` versions the tier worker has something
        to do to by ``now``: bytes to move to their tier, a restore's copy to make ready or remove.
        The index keeps this list as it commits versions and changes them (``replace_version``)."""
        ...

    async def next_tier_task(self) -> float | None:
        """When the next tier task is due, None if there is none."""
        ...

    async def tier_task_reschedule(self, bucket: str, key: str, version_id: str, due: float, new_due: float | None) -> None:
        """Move a task still due at ``due`` to ``new_due`` (a retry), or with None drop it (nothing
        to do); one that changed since it was read is left as it is."""
        ...

    async def usage(self, min_billable: dict[str, int]) -> list[ClassUsage]:
        """Per bucket and storage class: versions, bytes, billable bytes (objects smaller than
        ``min_billable[class]`` counted as that), versions archived to a tier and their tier bytes."""
        ...

    # -- walking the index ------------------------------------------------------------------
    async def objects_after(
        self, bucket: str, key: str, limit: int, prefix_bucket: str = "", prefix: str = ""
    ) -> list[ObjectRecord]:
        """Every version of up to ``limit`` keys after (bucket, key) in (bucket, key) order, each
        key's newest first; with ``prefix_bucket``, only its keys under ``prefix``."""
        ...

    async def count_objects(self, bucket: str = "", prefix: str = "") -> int:
        """How many objects there are (in ``bucket``, under ``prefix``)."""
        ...

    # -- damage found by reads in other processes -------------------------------------------
    def report_damage(self, bucket: str, key: str) -> None:
        """Queue a repair; callable from any thread, returns at once (a lost report only delays the repair)."""
        ...

    async def take_damage_reports(self, limit: int = 100) -> list[tuple[str, str]]:
        """Remove and return up to ``limit`` reported (bucket, key) pairs."""
        ...

    # -- bucket replication -----------------------------------------------------------------
    # A version of a bucket with a replication configuration (its "replication" configuration)
    # is queued in the transaction that commits it ("object"), and again when its tags or lock
    # settings change ("meta"); replicas (x-amz-replication-status: REPLICA) never are.
    async def replication_due(self, now: float, limit: int) -> list[ReplicationTask]:
        """Up to ``limit`` queued versions whose time has come (PENDING or FAILED), soonest first."""
        ...

    async def claim_replication_due(self, now: float, limit: int, claim_seconds: float) -> list[ReplicationTask]:
        """``replication_due``, claimed: each task returned is not due again, to anyone, for
        ``claim_seconds`` (its attempt is answered by done, failed or forget before then)."""
        ...

    async def replication_done(self, task: ReplicationTask) -> None:
        """Mark a version replicated (COMPLETED), unless it was queued again since ``task`` was taken."""
        ...

    async def replication_failed(self, task: ReplicationTask, error: str, retry_at: float, failed: bool) -> None:
        """Count a failed attempt; try again at ``retry_at``; FAILED (shown as such) if ``failed``."""
        ...

    async def replication_forget(self, task: ReplicationTask) -> None:
        """Drop a task there is nothing to replicate for (the version is gone, or no rule covers it)."""
        ...

    async def replication_status(self, bucket: str, key: str, version_id: str) -> str | None:
        """PENDING, COMPLETED or FAILED; None for a version never queued."""
        ...

    async def replication_queue_bucket(self, bucket: str) -> int:
        """Queue every version of a bucket (but replicas) again: existing objects, a resync. Returns how many."""
        ...

    def queue_sizes_sync(self) -> dict[str, int]:
        """How many rows wait in each work queue, for metrics: ``reclaim``, ``tier_tasks``,
        ``replication_pending``, ``replication_failed`` (completed replication rows are not
        counted: they only grow). Blocks."""
        ...

    async def replication_backlog(self, bucket: str = "") -> dict[str, float]:
        """pending, failed and completed counts, and oldest_queued (a Unix time; 0 if nothing waits)."""
        ...

    # -- settings and rebuilding ------------------------------------------------------------
    def get_setting_sync(self, name: str) -> str | None:
        """A named value kept in the index (its id, the scanner's cursor), or None. Blocks."""
        ...

    def settings_with_prefix_sync(self, prefix: str) -> dict[str, str]:
        """Every named value whose name starts with ``prefix``. Blocks."""
        ...

    def set_setting_sync(self, name: str, value: str) -> None:
        """Keep a named value. Blocks."""
        ...

    def replace_contents(self, buckets: list[Bucket], records: list[ObjectRecord]) -> None:
        """Make the index hold exactly these buckets and object versions (each key's highest seq
        current), keeping uploads whose bucket stays. Blocks."""
        ...
