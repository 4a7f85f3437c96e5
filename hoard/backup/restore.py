"""One restore: the versions a backup holds written into a bucket, then its configuration.

Run twice, or again after a kill, it writes only what the bucket lacks: each key's versions go
in oldest first, and what the bucket already ends with is known by ETag (plan.remaining).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hoard.backup import plan, source, target
from hoard.backup.archive import Archive, data_name
from hoard.backup.connect import explain
from hoard.backup.plan import Signature
from hoard.backup.progress import Progress, Silent
from hoard.backup.records import Catalog, Version


@dataclass
class RestoreSummary:
    source: str
    bucket: str
    as_of: str | None = None
    created: bool = False  # the bucket was made by this restore
    versioned: bool = False
    object_lock: bool = False
    wanted: int = 0  # versions (and delete markers) the restore is to leave in the bucket
    restored: int = 0  # versions written now
    restored_bytes: int = 0
    delete_markers: int = 0  # of those, delete markers
    already: int = 0  # already in the bucket (an earlier run of the same restore)
    lock_dropped: int = 0  # with retention or legal hold, into a bucket without object lock
    failed: list[str] = field(default_factory=list)
    config_applied: list[str] = field(default_factory=list)
    config_failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _existing(client: Any, bucket: str, prefix: str) -> dict[str, list[Signature]]:
    out: dict[str, list[Signature]] = {}
    for item in source.list_versions(client, bucket, prefix):
        out.setdefault(item.key, []).append((item.delete_marker, item.etag))
    return out


def _restore_key(
    client: Any, bucket: str, archive: Archive, versions: list[Version], lock: bool
) -> tuple[list[tuple[Version, str]], str | None]:
    """Write one key's versions, oldest first; stops at the first failure, since the ones after
    it would go in out of order. Returns each version written with the ETag it got, and why it
    stopped early, if it did."""
    written: list[tuple[Version, str]] = []
    try:
        for version in versions:
            if version.delete_marker:
                target.put_delete_marker(client, bucket, version.key)
                written.append((version, ""))
                continue
            with archive.store.local(data_name(version.sha256)) as path:
                written.append((version, target.put_version(client, bucket, version, path, lock)))
    except (ClientError, BotoCoreError) as e:
        return written, str(explain(e))
    except FileNotFoundError:
        return written, f"its bytes ({data_name(version.sha256)}) are missing from the backup"
    except OSError as e:
        return written, str(e)
    return written, None


def run_restore(
    archive: Archive,
    catalog: Catalog,
    client: Any,
    bucket: str,
    as_of: str | None = None,
    jobs: int = 4,
    progress: Progress | None = None,
    apply_config: bool = False,
) -> RestoreSummary:
    """Restore ``archive`` into ``bucket`` (made if missing), as the last run found the
    backed-up bucket or as it was at ``as_of``. The bucket's configuration is set when the
    restore made the bucket, or when ``apply_config``."""
    progress = progress or Silent()
    summary = RestoreSummary(source=archive.store.describe(), bucket=bucket, as_of=as_of)
    config = archive.config_as_of(as_of)
    state = target.prepare_bucket(client, bucket, config)
    summary.created, summary.versioned, summary.object_lock = state.created, state.versioned, state.locked
    wanted = plan.wanted(catalog, as_of, state.versioned)
    summary.wanted = sum(len(v) for v in wanted.values())
    if not state.versioned and as_of is None:
        histories = plan.wanted(catalog, None, True)
        older = sum(len(h) for h in histories.values()) - summary.wanted
        if older:
            summary.notes.append(f"{bucket} is not versioned: each key's newest version restored, not the {older} older versions and delete markers")
    existing = _existing(client, bucket, archive.prefix)
    todo = {}
    for key, versions in wanted.items():
        left = plan.remaining(versions, existing.get(key, []))
        summary.already += len(versions) - len(left)
        if left:
            todo[key] = left
    if not state.locked:
        summary.lock_dropped = sum(v.locked for versions in todo.values() for v in versions)
        if summary.lock_dropped:
            summary.notes.append(
                f"{bucket} has no object lock: {summary.lock_dropped} versions restored without their retention or legal hold"
            )
    progress.start(f"Restoring into {bucket}", sum(v.size for vs in todo.values() for v in vs), sum(len(vs) for vs in todo.values()))
    mismatched = 0
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(_restore_key, client, bucket, archive, versions, state.locked): key for key, versions in todo.items()}
            try:
                for future in as_completed(futures):
                    written, error = future.result()
                    if error is not None:
                        summary.failed.append(f"{futures[future]!r}: {error}")
                    for version, etag in written:
                        summary.restored += 1
                        summary.restored_bytes += version.size
                        summary.delete_markers += version.delete_marker
                        mismatched += etag != version.restored_etag()
                        progress.advance(version.size)
            except BaseException:
                for future in futures:  # interrupted: stop after the keys under way
                    future.cancel()
                raise
    finally:
        progress.finish()
    if mismatched:
        # The bytes were checked by their MD5 all the same; only a run again cannot tell them
        # apart from versions it has yet to write.
        summary.notes.append(f"{bucket} gave {mismatched} versions ETags that are not their MD5 (encryption?): running this restore again would write them again")
    if state.created or apply_config:
        summary.config_applied, summary.config_failed = target.apply_config(client, bucket, config, archive.bucket)
    elif config:
        summary.notes.append(f"{bucket} already existed: its configuration was left as it is (--bucket-config sets the backed-up one)")
    return summary
