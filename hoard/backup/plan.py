"""What a backup run must copy, and what a restore must write (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hoard.backup.records import Catalog, Identity, Version


@dataclass(frozen=True)
class Listed:
    """A version as the bucket's listing (ListObjectVersions) shows it."""

    key: str
    version_id: str
    etag: str
    last_modified: str
    size: int = 0
    delete_marker: bool = False
    storage_class: str = "STANDARD"
    rank: int = 0  # among the key's versions in this listing, oldest 0

    @property
    def identity(self) -> Identity:
        return (self.key, self.version_id, self.etag, self.last_modified)


@dataclass
class BackupPlan:
    fetch: list[Listed] = field(default_factory=list)  # versions with bytes, not in the backup yet
    markers: list[Listed] = field(default_factory=list)  # delete markers not in the backup yet: nothing to fetch
    already: int = 0  # listed versions the backup holds
    gone: list[Identity] = field(default_factory=list)  # held, still there at the last run, no longer listed

    @property
    def fetch_bytes(self) -> int:
        return sum(v.size for v in self.fetch)


def backup_plan(catalog: Catalog, listed: list[Listed]) -> BackupPlan:
    """Compare a complete listing with the backup: only what it lacks is copied (a version is
    known by id, ETag and time, which also tells apart the states of a key in a bucket without
    versioning), and what it holds that the bucket no longer has is recorded as gone."""
    plan = BackupPlan()
    seen: set[Identity] = set()
    for item in listed:
        seen.add(item.identity)
        if item.identity in catalog.versions:
            plan.already += 1
        elif item.delete_marker:
            plan.markers.append(item)
        else:
            plan.fetch.append(item)
    plan.gone = [identity for identity in catalog.versions if identity not in seen and identity not in catalog.gone]
    return plan


def rank_versions(versions_newest_first: list[Listed]) -> list[Listed]:
    """One key's listed versions (S3 lists them newest first) given their rank, oldest 0."""
    n = len(versions_newest_first)
    return [
        Listed(v.key, v.version_id, v.etag, v.last_modified, v.size, v.delete_marker, v.storage_class, n - 1 - i)
        for i, v in enumerate(versions_newest_first)
    ]


def wanted(catalog: Catalog, as_of: str | None, versioned_target: bool) -> dict[str, list[Version]]:
    """The versions a restore writes, each key's oldest first.

    Without ``as_of``: the bucket as the last run found it, its whole history (delete markers
    included) into a versioned bucket, else each key's current version. With ``as_of``: each
    key's version at that instant, one per key; keys deleted by then (or not yet written) are
    left out.
    """
    if as_of is not None:
        return {key: [version] for key, version in sorted(catalog.as_of(as_of).items())}
    histories = catalog.histories(catalog.present())
    out: dict[str, list[Version]] = {}
    for key in sorted(histories):
        history = histories[key]
        if versioned_target:
            out[key] = history
        elif not history[-1].delete_marker:
            out[key] = [history[-1]]
    return out


Signature = tuple[bool, str]  # (delete marker, ETag) of a version in the target bucket


def remaining(wanted_versions: list[Version], existing: list[Signature]) -> list[Version]:
    """What is left to write of one key's ``wanted_versions``, given the versions the target
    already has (oldest first): a restore killed halfway, or run twice, wrote a beginning of
    the list last, so the longest beginning that the target's newest versions end with is done."""
    signatures = [(v.delete_marker, v.restored_etag()) for v in wanted_versions]
    for done in range(min(len(signatures), len(existing)), 0, -1):
        if existing[len(existing) - done:] == signatures[:done]:
            return wanted_versions[done:]
    return wanted_versions
