"""What a backup remembers, as plain records, and the catalog they add up to.

The manifest is a log of entries, never rewritten: ``version`` (one version of one key, a
delete marker included, with everything needed to write it again), ``gone`` (a version a later
run no longer found in the bucket: deleted for good, or, in a bucket without versioning,
overwritten or deleted) and ``run`` (a run that listed the whole bucket to the end). Reading
them in any order, each any number of times, gives the same ``Catalog``: a run killed after
writing an entry and run again writes it again, and nothing is counted twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

# A version is the same version when all four agree. The version id alone would do in a
# versioned bucket; in one without versioning every state of a key is version "null", told
# apart by its ETag and time.
Identity = tuple[str, str, str, str]


@dataclass(frozen=True)
class Version:
    """One version of one key as backed up (a delete marker has no bytes)."""

    key: str
    version_id: str
    etag: str  # as S3 gave it, without the quotes; "" for a delete marker
    last_modified: str  # times.stamp
    delete_marker: bool = False
    size: int = 0
    sha256: str = ""  # of the bytes: names the data file
    md5: str = ""
    # (size, MD5 hex) of each part, for an object uploaded in parts: it is uploaded again in
    # the same parts, so that it gets the same multipart ETag and the same part boundaries.
    parts: tuple[tuple[int, str], ...] = ()
    storage_class: str = "STANDARD"
    headers: tuple[tuple[str, str], ...] = ()  # Content-Type, Cache-Control, Expires, ... as sent
    metadata: tuple[tuple[str, str], ...] = ()  # x-amz-meta-*, the names without the prefix
    tags: tuple[tuple[str, str], ...] = ()
    lock_mode: str = ""  # GOVERNANCE or COMPLIANCE, "" without retention
    retain_until: str = ""  # times.stamp
    legal_hold: bool = False
    checksum: tuple[str, str] = ("", "")  # (algorithm, base64 value) of a single-part object, if it had one
    # How the source kept it encrypted: ("AES256", "") or ("aws:kms", key id); restored the same way.
    encryption: tuple[str, str] = ("", "")
    run: str = ""  # the run that copied it
    rank: int = 0  # its place among the key's versions in that run's listing, oldest 0

    @property
    def identity(self) -> Identity:
        return (self.key, self.version_id, self.etag, self.last_modified)

    @property
    def order(self) -> tuple[str, str, int]:
        """Oldest first: by time, and within one millisecond as that run's listing put them."""
        return (self.last_modified, self.run, self.rank)

    @property
    def locked(self) -> bool:
        return bool(self.lock_mode or self.legal_hold)

    def restored_etag(self) -> str:
        """The ETag an S3 server gives this version's bytes uploaded as ``hoard restore``
        uploads them (one PUT, or the same parts): how a restore knows what it already wrote."""
        if self.delete_marker:
            return ""
        if not self.parts:
            return self.md5
        digests = b"".join(bytes.fromhex(md5) for _size, md5 in self.parts)
        return f"{hashlib.md5(digests).hexdigest()}-{len(self.parts)}"

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": "version",
            "key": self.key,
            "version_id": self.version_id,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "run": self.run,
            "rank": self.rank,
        }
        if self.delete_marker:
            entry["delete_marker"] = True
            return entry
        entry.update(
            size=self.size,
            sha256=self.sha256,
            md5=self.md5,
            storage_class=self.storage_class,
            headers=dict(self.headers),
            metadata=dict(self.metadata),
            tags=[list(t) for t in self.tags],
        )
        if self.parts:
            entry["parts"] = [list(p) for p in self.parts]
        if self.lock_mode:
            entry["retention"] = {"mode": self.lock_mode, "retain_until": self.retain_until}
        if self.legal_hold:
            entry["legal_hold"] = True
        if self.checksum[0]:
            entry["checksum"] = {"algorithm": self.checksum[0], "value": self.checksum[1]}
        if self.encryption[0]:
            entry["encryption"] = {"mode": self.encryption[0], "kms_key_id": self.encryption[1]}
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Version:
        retention = entry.get("retention") or {}
        checksum = entry.get("checksum") or {}
        encryption = entry.get("encryption") or {}
        return cls(
            key=entry["key"],
            version_id=entry["version_id"],
            etag=entry["etag"],
            last_modified=entry["last_modified"],
            delete_marker=bool(entry.get("delete_marker", False)),
            size=int(entry.get("size", 0)),
            sha256=entry.get("sha256", ""),
            md5=entry.get("md5", ""),
            parts=tuple((int(s), str(m)) for s, m in entry.get("parts", ())),
            storage_class=entry.get("storage_class", "STANDARD"),
            headers=tuple(sorted((entry.get("headers") or {}).items())),
            metadata=tuple(sorted((entry.get("metadata") or {}).items())),
            tags=tuple((str(k), str(v)) for k, v in entry.get("tags", ())),
            lock_mode=retention.get("mode", ""),
            retain_until=retention.get("retain_until", ""),
            legal_hold=bool(entry.get("legal_hold", False)),
            checksum=(checksum.get("algorithm", ""), checksum.get("value", "")),
            encryption=(encryption.get("mode", ""), encryption.get("kms_key_id", "")),
            run=entry.get("run", ""),
            rank=int(entry.get("rank", 0)),
        )


def gone_entry(identity: Identity, at: str, run: str) -> dict[str, Any]:
    key, version_id, etag, last_modified = identity
    return {"kind": "gone", "key": key, "version_id": version_id, "etag": etag, "last_modified": last_modified, "at": at, "run": run}


def run_entry(run: str, started: str, finished: str, listed: int) -> dict[str, Any]:
    return {"kind": "run", "run": run, "started": started, "finished": finished, "listed": listed}


@dataclass
class Catalog:
    """Every version a backup holds, and when each stopped being in the bucket."""

    versions: dict[Identity, Version] = field(default_factory=dict)
    gone: dict[Identity, str] = field(default_factory=dict)  # identity -> the run's time that found it gone
    runs: list[dict[str, Any]] = field(default_factory=list)  # the complete runs, oldest first

    def add(self, entry: dict[str, Any]) -> None:
        kind = entry.get("kind")
        if kind == "version":
            version = Version.from_json(entry)
            self.versions.setdefault(version.identity, version)
        elif kind == "gone":
            identity = (entry["key"], entry["version_id"], entry["etag"], entry["last_modified"])
            # The first run that missed it says when it went; a later one only repeats it.
            if identity not in self.gone or entry["at"] < self.gone[identity]:
                self.gone[identity] = entry["at"]
        elif kind == "run":
            if all(r["run"] != entry["run"] for r in self.runs):
                self.runs.append(entry)
                self.runs.sort(key=lambda r: r["started"])
        else:
            raise ValueError(f"unknown manifest entry kind {kind!r}")

    def present(self) -> list[Version]:
        """The versions the bucket held at the last run that finished."""
        return [v for identity, v in self.versions.items() if identity not in self.gone]

    def histories(self, versions: list[Version] | None = None) -> dict[str, list[Version]]:
        """Each key's versions, oldest first."""
        out: dict[str, list[Version]] = {}
        for version in self.versions.values() if versions is None else versions:
            out.setdefault(version.key, []).append(version)
        for history in out.values():
            history.sort(key=lambda v: v.order)
        return out

    def as_of(self, moment: str) -> dict[str, Version]:
        """Each key's version at ``moment`` (a times.stamp): the newest written at or before it
        and not found gone by then; keys whose newest is a delete marker, or that had none, are
        left out. Gone times are when a run noticed, the latest the deletion can have been."""
        newest: dict[str, Version] = {}
        for identity, version in self.versions.items():
            if version.last_modified > moment:
                continue
            gone_at = self.gone.get(identity)
            if gone_at is not None and gone_at <= moment:
                continue
            held = newest.get(version.key)
            if held is None or version.order > held.order:
                newest[version.key] = version
        return {key: v for key, v in newest.items() if not v.delete_marker}

    def last_run(self) -> dict[str, Any] | None:
        return self.runs[-1] if self.runs else None
