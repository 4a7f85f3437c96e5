"""One backup run: list the bucket, copy what the backup lacks, record what went."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hoard.backup import source, times
from hoard.backup.archive import Archive
from hoard.backup.connect import explain
from hoard.backup.plan import Listed, backup_plan
from hoard.backup.progress import Progress, Silent
from hoard.backup.records import Version, gone_entry, run_entry

ATTEMPTS = 3  # a body cut off halfway is not retried by botocore, which retries whole requests only


@dataclass
class BackupSummary:
    source: str
    destination: str
    run: str = ""
    listed: int = 0  # versions (and delete markers) in the bucket
    copied: int = 0  # versions whose bytes were read this run
    copied_bytes: int = 0
    new_data: int = 0  # of those, bytes the backup did not hold yet (others had the same content)
    delete_markers: int = 0  # delete markers recorded this run
    already: int = 0  # versions the backup held
    gone: int = 0  # versions recorded as no longer in the bucket
    changed: int = 0  # versions overwritten or deleted while being read: the next run takes what is there then
    failed: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)  # the bucket's configurations kept
    config_unread: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


def _copy(client: Any, bucket: str, item: Listed, archive: Archive) -> tuple[Version, bool]:
    """Read one version into the backup's data; its record, and whether its bytes were new."""
    for attempt in range(1, ATTEMPTS + 1):
        temp, out = archive.store.new_temp()
        try:
            with out:
                version = source.fetch(client, bucket, item, out)
            return version, archive.add_data(temp, version.sha256)
        except (BotoCoreError, ConnectionError):
            archive.store.discard(temp)
            if attempt == ATTEMPTS:
                raise
        except BaseException:
            archive.store.discard(temp)
            raise
    raise AssertionError("unreachable")


def run_backup(client: Any, bucket: str, prefix: str, archive: Archive, jobs: int = 4, progress: Progress | None = None) -> BackupSummary:
    """Back up ``bucket``'s versions under ``prefix`` into ``archive``: one run. Raises
    ClientError / BotoCoreError when the bucket cannot be listed; a version that cannot be read
    is named in the summary's ``failed`` and left for the next run."""
    progress = progress or Silent()
    run, started = new_run_id(), times.now()
    summary = BackupSummary(source=f"{bucket}/{prefix}" if prefix else bucket, destination=archive.store.describe(), run=run)
    catalog = archive.load()
    config, summary.config_unread = source.read_config(client, bucket)
    summary.config = sorted(config)
    archive.save_config(run, started, config)
    listed = list(source.list_versions(client, bucket, prefix))
    # What the listing lacks went between the last run's listing and the end of this one: the
    # end is the latest it can have been, and a restore to a time before it keeps the version.
    listed_at = times.now()
    summary.listed = len(listed)
    plan = backup_plan(catalog, listed)
    summary.already = plan.already
    for marker in plan.markers:
        archive.record({**source.delete_marker(marker).to_json(), "run": run})
        summary.delete_markers += 1
    progress.start(f"Backing up {summary.source}", plan.fetch_bytes, len(plan.fetch))
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(_copy, client, bucket, item, archive): item for item in plan.fetch}
            try:
                # Only this thread writes the manifest: entries go in one at a time, each after
                # its data file is whole and durable.
                for future in as_completed(futures):
                    item = futures[future]
                    try:
                        version, new = future.result()
                    except source.Changed:
                        summary.changed += 1
                    except (ClientError, BotoCoreError, OSError) as e:
                        reason = explain(e) if isinstance(e, ClientError | BotoCoreError) else e
                        summary.failed.append(f"{item.key!r} version {item.version_id}: {reason}")
                    else:
                        archive.record({**version.to_json(), "run": run})
                        summary.copied += 1
                        summary.copied_bytes += version.size
                        summary.new_data += new
                    progress.advance(item.size)
            except BaseException:
                # Interrupted (Ctrl-C) or the manifest unwritable: stop after the copies under
                # way rather than after all of them; the next run goes on from here.
                for future in futures:
                    future.cancel()
                raise
    finally:
        progress.finish()
    # The listing was whole, so what it lacks is gone, whether or not every copy succeeded.
    for identity in plan.gone:
        archive.record(gone_entry(identity, listed_at, run))
    summary.gone = len(plan.gone)
    archive.record(run_entry(run, started, times.now(), len(listed)))
    archive.checkpoint()
    return summary
