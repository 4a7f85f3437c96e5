"""``hoard backup verify``: a backup checked on its own, with no bucket to compare it with.

Every manifest file is read back and checked against the SHA-256 it carries, every
configuration file read as JSON, and every data file an entry names is read whole and hashed:
its name is the SHA-256 its bytes must have.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from hoard.backup.archive import Archive, data_name
from hoard.backup.progress import Progress, Silent
from hoard.backup.records import Version


@dataclass
class VerifyReport:
    backup: str
    versions: int = 0  # versions with bytes that the manifest names
    files: int = 0  # data files checked (versions with the same bytes share one)
    bytes: int = 0
    problems: list[str] = field(default_factory=list)  # one line per damaged or missing file
    unreferenced: int = 0  # data files no entry names: left by an interrupted run, harmless

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _whose(versions: list[Version]) -> str:
    first = versions[0]
    more = f" and {len(versions) - 1} more" if len(versions) > 1 else ""
    return f"{first.key!r} version {first.version_id}{more}"


def verify(archive: Archive, progress: Progress | None = None) -> VerifyReport:
    progress = progress or Silent()
    report = VerifyReport(backup=archive.store.describe())
    catalog = archive.load(report.problems)
    report.problems.extend(archive.config_problems())
    by_data: dict[str, list[Version]] = {}
    for version in catalog.versions.values():
        if not version.delete_marker:
            by_data.setdefault(version.sha256, []).append(version)
            report.versions += 1
    sizes = {sha: versions[0].size for sha, versions in by_data.items()}
    progress.start(f"Verifying {report.backup}", sum(sizes.values()), len(by_data))
    try:
        for sha, versions in sorted(by_data.items()):
            name = data_name(sha)
            digest = hashlib.sha256()
            size = 0
            try:
                for block in archive.store.chunks(name):
                    digest.update(block)
                    size += len(block)
            except FileNotFoundError:
                report.problems.append(f"{name}: missing (the bytes of {_whose(versions)})")
            else:
                report.files += 1
                report.bytes += size
                if digest.hexdigest() != sha or size != sizes[sha]:
                    report.problems.append(f"{name}: damaged, its SHA-256 does not match (the bytes of {_whose(versions)})")
            progress.advance(sizes[sha])
    finally:
        progress.finish()
    named = {data_name(sha) for sha in by_data}
    report.unreferenced = sum(name not in named for name in archive.data_names())
    return report
