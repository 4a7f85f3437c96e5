"""The backup format, on a store (a folder or a bucket): docs/backup.md describes it for people.

```
hoard-backup.json            what this is: {"format": "hoard-backup", "version": 1, "bucket", "prefix", "created"}
data/<xx>/<sha256>           the bytes of a version, named by their SHA-256 (<xx>: its first two digits)
manifest/<seq>.jsonl         entries, CHUNK at most, one JSON object a line ({"seq", "entry"}), then
                             {"count", "sha256"}: the number of entries and the SHA-256 of the lines above
journal/<seq>.json           one entry written since the last chunk: {"seq", "entry", "sha256" of the entry}
config/<run>.json            the bucket's configuration as a run found it
```

A run writes a version's data file first, then its journal file: an entry never names bytes
that are not all there, and a run killed at any instant leaves at worst a data file no entry
names yet (copied again, to the same name, by the next run). Every CHUNK journal files, and at
the end of a run, they are gathered into one manifest chunk and removed; a kill between the two
leaves both, and an entry read twice counts once (see records.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hoard.backup import times
from hoard.backup.records import Catalog
from hoard.backup.store import Store

FORMAT_FILE = "hoard-backup.json"
FORMAT = "hoard-backup"
VERSION = 1
CHUNK = 1000


class NotABackup(Exception):
    """The place holds no backup (or one of a newer format)."""


class OtherSource(Exception):
    """The place holds the backup of another bucket or prefix."""


class Damaged(Exception):
    """Manifest files that cannot be read back as written; ``problems`` names each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def data_name(sha256: str) -> str:
    return f"data/{sha256[:2]}/{sha256}"


def _seq_name(folder: str, seq: int, suffix: str) -> str:
    return f"{folder}/{seq:012d}{suffix}"


class Archive:
    """One backup: its marker, manifest and data, on a store."""

    def __init__(self, store: Store, info: dict[str, Any]) -> None:
        self.store = store
        self.info = info
        self.next_seq = -1  # known once load() has read the manifest
        self._pending: list[tuple[int, dict[str, Any]]] = []  # journal entries not in a chunk yet
        self._stale: list[str] = []  # journal files a chunk already holds (a kill between the two)

    @property
    def bucket(self) -> str:
        return self.info["bucket"]

    @property
    def prefix(self) -> str:
        return self.info.get("prefix", "")

    @property
    def source(self) -> str:
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    @classmethod
    def open(cls, store: Store) -> Archive:
        """The backup in ``store``; raises NotABackup."""
        try:
            raw = store.read(FORMAT_FILE)
        except (FileNotFoundError, NotADirectoryError):
            raise NotABackup(f"{store.describe()} is not a Hoard backup (it has no {FORMAT_FILE})") from None
        try:
            info = json.loads(raw)
            ok = info.get("format") == FORMAT and isinstance(info.get("bucket"), str)
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            raise NotABackup(f"{store.describe()} is not a Hoard backup ({FORMAT_FILE} is not one)")
        if info.get("version") != VERSION:
            raise NotABackup(f"{store.describe()} is a Hoard backup of format {info.get('version')}: this Hoard reads format {VERSION}")
        return cls(store, info)

    @classmethod
    def check_place(cls, store: Store, bucket: str, prefix: str) -> Archive | None:
        """The backup of ``bucket``/``prefix`` already in ``store``, or None for an empty place.
        Raises OtherSource, or NotABackup for a place that holds something else."""
        if store.exists(FORMAT_FILE):
            archive = cls.open(store)
            if (archive.bucket, archive.prefix) != (bucket, prefix):
                ours = f"{bucket}/{prefix}" if prefix else bucket
                raise OtherSource(f"{store.describe()} holds the backup of {archive.source!r}, not of {ours!r}")
            return archive
        if not store.empty():
            raise NotABackup(f"{store.describe()} is neither empty nor a Hoard backup: give an empty or new place")
        return None

    @classmethod
    def create(cls, store: Store, bucket: str, prefix: str) -> Archive:
        """The backup of ``bucket``/``prefix`` in ``store``, begun if the store holds none yet.
        Raises as check_place."""
        archive = cls.check_place(store, bucket, prefix)
        if archive is not None:
            return archive
        info = {"format": FORMAT, "version": VERSION, "bucket": bucket, "prefix": prefix, "created": times.now()}
        store.write(FORMAT_FILE, json.dumps(info, indent=1).encode() + b"\n")
        return cls(store, info)

    # -- the manifest ---------------------------------------------------------------------
    def load(self, problems: list[str] | None = None) -> Catalog:
        """Every entry, as a Catalog. A manifest file that does not read back as written raises
        Damaged, or, given ``problems``, is named there and skipped (for verify)."""
        catalog = Catalog()
        found: list[str] = []
        covered: set[int] = set()
        top = -1
        for name in self.store.names("manifest"):
            entries, problem = self._read_chunk(name)
            if problem is not None:
                found.append(f"{name}: {problem}")
            for seq, entry in entries:
                catalog.add(entry)
                covered.add(seq)
                top = max(top, seq)
        pending = []
        for name in self.store.names("journal"):
            try:
                seq, entry = self._read_journal(name)
            except ValueError as e:
                found.append(f"{name}: {e}")
                continue
            top = max(top, seq)
            if seq in covered:
                self._stale.append(name)
                continue
            catalog.add(entry)
            pending.append((seq, entry))
        if found and problems is None:
            raise Damaged(found)
        if problems is not None:
            problems.extend(found)
        self._pending = sorted(pending, key=lambda p: p[0])
        self.next_seq = top + 1
        return catalog

    def _read_chunk(self, name: str) -> tuple[list[tuple[int, dict[str, Any]]], str | None]:
        """A chunk's entries, and what is wrong with it if anything: the entries of a damaged
        chunk that still read as entries are kept, so that verify checks their data too."""
        raw = self.store.read(name)
        body, _, trailer = raw.rstrip(b"\n").rpartition(b"\n")
        entries = []
        unreadable = 0
        for line in body.split(b"\n") if body else []:
            try:
                record = json.loads(line)
                entries.append((int(record["seq"]), record["entry"]))
            except (ValueError, KeyError, TypeError):
                unreadable += 1
        try:
            end = json.loads(trailer)
        except ValueError:
            end = None
        if not isinstance(end, dict):
            return entries, "its last line is not its checksum: damaged"
        if end.get("sha256") != hashlib.sha256(body + b"\n" if body else b"").hexdigest():
            return entries, f"its SHA-256 does not match: damaged{f', {unreadable} entries unreadable' if unreadable else ''}"
        if end.get("count") != len(entries) or unreadable:
            return entries, "its entry count does not match: damaged"
        return entries, None

    def _read_journal(self, name: str) -> tuple[int, dict[str, Any]]:
        try:
            record = json.loads(self.store.read(name))
            entry, seq = record["entry"], int(record["seq"])
        except (ValueError, KeyError, TypeError):
            raise ValueError("not a journal entry: damaged") from None
        if record.get("sha256") != hashlib.sha256(_canonical(entry)).hexdigest():
            raise ValueError("its SHA-256 does not match: damaged")
        return seq, entry

    def record(self, entry: dict[str, Any]) -> None:
        """Add ``entry`` to the manifest, durably, before returning."""
        if self.next_seq < 0:
            raise RuntimeError("the manifest must be loaded before it is written to")
        seq = self.next_seq
        self.next_seq += 1
        record = {"seq": seq, "entry": entry, "sha256": hashlib.sha256(_canonical(entry)).hexdigest()}
        self.store.write(_seq_name("journal", seq, ".json"), _canonical(record) + b"\n")
        self._pending.append((seq, entry))
        if len(self._pending) >= CHUNK:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Gather the journal into a manifest chunk: a folder of a few chunks reads faster than
        one of a file per version."""
        if self._pending:
            body = b"".join(_canonical({"seq": seq, "entry": entry}) + b"\n" for seq, entry in self._pending)
            trailer = _canonical({"count": len(self._pending), "sha256": hashlib.sha256(body).hexdigest()})
            self.store.write(_seq_name("manifest", self._pending[0][0], ".jsonl"), body + trailer + b"\n")
            for seq, _entry in self._pending:
                self.store.delete(_seq_name("journal", seq, ".json"))
            self._pending = []
        for name in self._stale:
            self.store.delete(name)
        self._stale = []

    # -- data -----------------------------------------------------------------------------
    def has_data(self, sha256: str) -> bool:
        return self.store.exists(data_name(sha256))

    def add_data(self, temp: Path, sha256: str) -> bool:
        """Keep the filled temp file as the data of ``sha256``; False if those bytes were
        already there (another version with the same content, or a run killed before its entry)."""
        if self.has_data(sha256):
            self.store.discard(temp)
            return False
        self.store.commit(temp, data_name(sha256))
        return True

    def data_names(self) -> list[str]:
        return self.store.names("data")

    # -- the bucket's configuration -------------------------------------------------------
    def save_config(self, run: str, started: str, config: dict[str, Any]) -> bool:
        """Keep the configuration a run found, unless it is the one the last run kept."""
        documents = self._configs()
        if documents and documents[-1].get("config") == config:
            return False
        document = {"run": run, "started": started, "bucket": self.bucket, "config": config}
        self.store.write(f"config/{run}.json", json.dumps(document, indent=1, sort_keys=True).encode() + b"\n")
        return True

    def config_problems(self) -> list[str]:
        """The configuration files that do not read back as JSON."""
        problems = []
        for name in self.store.names("config"):
            try:
                json.loads(self.store.read(name))
            except ValueError:
                problems.append(f"{name}: not JSON: damaged")
        return problems

    def _configs(self) -> list[dict[str, Any]]:
        documents = []
        for name in self.store.names("config"):
            try:
                documents.append(json.loads(self.store.read(name)))
            except ValueError:
                continue
        return sorted(documents, key=lambda d: d.get("started", ""))

    def config_as_of(self, moment: str | None) -> dict[str, Any]:
        """The configuration the last run at or before ``moment`` found (the last run's if
        none; the first's for a moment before every run)."""
        documents = self._configs()
        if not documents:
            return {}
        chosen = documents[-1] if moment is None else next((d for d in reversed(documents) if d.get("started", "") <= moment), documents[0])
        return chosen.get("config", {})
