"""All the drives of one server: their identities, erasure sets, placement, and what every drive
keeps a copy of (bucket configuration, root credentials, the index's identity).

Start-up (``open``) checks each drive's ``format.json`` against the others: a drive without one
in an existing deployment is a replacement and is formatted and queued for healing; a folder
that is missing is offline. Drives are probed periodically: an offline drive whose identity is
back returns, an empty folder where a drive was becomes a replacement.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from hoard.model import Bucket, Placement
from hoard.storage.drive import DriveState, LocalDrive, StateSlot
from hoard.storage.erasure_set import ErasureSet, on_drives
from hoard.storage.errors import DriveInUse, WriteQuorumError
from hoard.storage.layout import (
    INLINE_LIMIT,
    LayoutError,
    check_parity,
    default_parity,
    erasure_sets,
    place,
    reduced_parity,
    write_quorum,
)

log = logging.getLogger("hoard.storage")
# The version of everything on a drive (format.json, records, shard files, bucket files). Bumped
# only with a migration from the previous one and a new tests/fixtures/ondisk/v<N> (ARCHITECTURE.md).
FORMAT_VERSION = 1
INDEX_ID_FILE = "index-id"
CREDENTIALS_FILE = "root-credentials.json"


class Generational(Protocol):
    """A document kept whole on every drive whose every change has a higher ``generation``."""

    @property
    def generation(self) -> int: ...


G = TypeVar("G", bound=Generational)


class Storage:
    def __init__(self, dirs: list[Path], parity: int | None = None, reduced: int | None = None, inline_limit: int = INLINE_LIMIT) -> None:
        slots = StateSlot.shared(len(dirs))  # see StateSlot: one view of the drives for every worker process
        self.drives = [LocalDrive(d, i, slots[i]) for i, d in enumerate(dirs)]
        self.deployment = ""  # the deployment's id (format.json), once open
        groups = erasure_sets(len(dirs))
        self.groups = groups  # the drives' positions by set, as format.json records them
        self.sets = [ErasureSet(n, [self.drives[p] for p in group]) for n, group in enumerate(groups)]
        self.set_size = len(groups[0])
        self.parity = default_parity(self.set_size) if parity is None else parity
        check_parity(self.parity, self.set_size)
        self.reduced_parity = min(reduced_parity(self.set_size), self.parity) if reduced is None else reduced
        check_parity(self.reduced_parity, self.set_size)
        self.inline_limit = inline_limit
        self.replaced: list[LocalDrive] = []  # formatted as replacements since start; to heal

    # -- start-up -------------------------------------------------------------------------
    def lock(self) -> None:
        """Take every drive for this server (``LocalDrive.lock``), before anything on them is
        read or changed. A folder that is missing is locked when it is formatted or comes back.

        Raises ``DriveInUse`` (every lock taken is let go again) if another server holds one.
        """
        try:
            for drive in self.drives:
                if not drive.root.is_dir():
                    continue
                try:
                    drive.lock()
                except OSError as e:
                    drive.fail(e)
        except DriveInUse:
            self.unlock()
            raise

    def unlock(self) -> None:
        for drive in self.drives:
            drive.unlock()

    def open(self) -> int:
        """Check and format the drives, once ``lock`` has taken them; returns how many temp
        files a crash left behind. A drive that could not be locked is left alone, offline."""
        formats: dict[int, dict] = {}
        for drive in self.drives:
            if not drive.usable:
                continue
            try:
                fmt = drive.read_format()
            except (OSError, ValueError) as e:
                drive.fail(e)
                continue
            if fmt is not None:
                formats[drive.position] = fmt
        if not formats:
            self._format_new()
        else:
            self._check_formats(formats)
        removed = 0
        for drive in self.drives:
            if drive.usable:
                try:
                    removed += drive.prepare(create_root=False)
                except OSError as e:
                    drive.fail(e)
        if not any(d.usable for d in self.drives):
            raise LayoutError("no drive is usable")
        return removed

    def _format_new(self) -> None:
        deployment = str(uuid.uuid4())
        self.deployment = deployment
        ids = [str(uuid.uuid4()) for _ in self.drives]
        for drive in self.drives:
            drive.prepare(create_root=True)
            drive.write_format(self._format(deployment, ids, drive.position))

    def _format(self, deployment: str, ids: list[str], position: int) -> dict:
        return {
            "format": FORMAT_VERSION,
            "deployment": deployment,
            "drive": ids[position],
            "position": position,
            "drives": ids,
            "sets": self.groups,
        }

    def _check_formats(self, formats: dict[int, dict]) -> None:
        for position, fmt in formats.items():
            # Refused before anything is written: a newer Hoard's drives stay as it left them.
            if fmt.get("format") != FORMAT_VERSION:
                raise LayoutError(
                    f"{self.drives[position].root} has on-disk format {fmt.get('format')}; "
                    f"this Hoard reads format {FORMAT_VERSION} (see ARCHITECTURE.md, Format version)"
                )
        deployment, _ = Counter(f["deployment"] for f in formats.values()).most_common(1)[0]
        self.deployment = deployment
        reference = next(f for f in formats.values() if f["deployment"] == deployment)
        if len(reference["drives"]) != len(self.drives):
            raise LayoutError(
                f"these drives belong to a deployment of {len(reference['drives'])} drives; {len(self.drives)} were given"
            )
        for drive in self.drives:
            fmt = formats.get(drive.position)
            if fmt is None:
                if drive.root.is_dir() and drive.locked:
                    self._format_replacement(drive, reference)
                elif drive.usable:
                    drive.fail("the folder is missing")
                continue
            if fmt["deployment"] != deployment:
                raise LayoutError(f"{drive.root} belongs to another deployment ({fmt['deployment']})")
            if fmt["position"] != drive.position:
                raise LayoutError(
                    f"{drive.root} is drive {fmt['position'] + 1} of this deployment but was given as drive {drive.position + 1}; "
                    "give the folders in their original order"
                )
            drive.drive_id = fmt["drive"]

    def _format_replacement(self, drive: LocalDrive, reference: dict) -> None:
        """An empty folder where a drive was: give it the old identity and copy the shared files."""
        drive.prepare(create_root=False)  # locks it first
        log.warning("drive %s (%s) is empty: formatting it as a replacement; healing will refill it", drive.position, drive.root)
        drive.write_format(self._format(reference["deployment"], reference["drives"], drive.position))
        source = next((d for d in self.drives if d is not drive and d.usable and d.present()), None)
        if source is not None:
            for name in (CREDENTIALS_FILE, INDEX_ID_FILE):
                try:
                    drive.write_file(drive.system / name, source.read_file(source.system / name))
                except FileNotFoundError:
                    pass
            for path in source.buckets.iterdir():
                drive.write_file(drive.buckets / path.name, path.read_bytes())
        drive.state = DriveState.HEALING
        self.replaced.append(drive)

    # -- drive monitoring -----------------------------------------------------------------
    def probe(self) -> list[LocalDrive]:
        """Check every drive; returns drives that came back or were replaced (they need healing)."""
        back: list[LocalDrive] = []
        formats = {d.position: d.read_format() for d in self.drives if d.present()}
        reference = next(iter(f for f in formats.values() if f), None)
        for drive in self.drives:
            if drive.state is not DriveState.OFFLINE:
                if not drive.present():
                    drive.fail("its identity file (.hoard/format.json) is gone")
                elif not drive.locked:
                    # Locked by a leader process since restarted (its lock went with it), or
                    # its lock file replaced: take it again, or stop using the drive.
                    try:
                        drive.lock(wait=0)
                    except (OSError, DriveInUse) as e:
                        drive.fail(e)
                continue
            if drive.present():
                fmt = formats.get(drive.position)
                if fmt and reference and fmt.get("deployment") == reference["deployment"] and fmt.get("position") == drive.position:
                    try:
                        drive.prepare(create_root=False)
                    except (OSError, DriveInUse) as e:
                        drive.last_error = str(e)
                        continue
                    log.info("drive %s (%s) is back online", drive.position, drive.root)
                    drive.state = DriveState.ONLINE
                    back.append(drive)
            elif reference is not None and drive.root.is_dir():
                try:
                    self._format_replacement(drive, reference)
                except (OSError, DriveInUse) as e:
                    drive.last_error = str(e)
                    continue
                back.append(drive)
        return back

    # -- placement ------------------------------------------------------------------------
    def placement(self, bucket: str, key: str, storage_class: str, pool: int | None = None) -> Placement:
        """Where a new version's bytes go. ``pool``: a cluster's pool to place it in (one
        server has none)."""
        parity = self.reduced_parity if storage_class == "REDUCED_REDUNDANCY" else self.parity
        return place(bucket, key, len(self.sets), self.set_size, parity)

    def set_of(self, placement: Placement) -> ErasureSet:
        return self.sets[placement.set]

    def remove_shard(self, shard_id: str) -> None:
        """Remove a shard file wherever it is (reclaim knows the id, not the set)."""
        for eset in self.sets:
            eset.remove_shard(shard_id)

    # -- what every drive keeps a copy of -------------------------------------------------
    def _write_everywhere(self, path_on: Callable[[LocalDrive], Path], data: bytes) -> int:
        """Write a file to every usable drive (at ``path_on(drive)``); returns how many took it."""

        def write(drive: LocalDrive) -> None:
            drive.check()
            path = path_on(drive)
            try:
                drive.write_file(path, data)
            except OSError as e:
                drive.fail(e)
                raise

        results = on_drives(write, self.drives)
        return sum(not isinstance(r, Exception) for r in results)

    def _read_anywhere(self, name: str) -> bytes | None:
        for drive in self.drives:
            if drive.usable:
                try:
                    return drive.read_file(drive.system / name)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    drive.fail(e)
        return None

    def save_bucket(self, bucket: Bucket) -> None:
        data = json.dumps(
            {"name": bucket.name, "created": bucket.created, "location": bucket.location, "owner_id": bucket.owner_id, "config": bucket.config}
        )
        written = self._write_everywhere(lambda d: d.buckets / f"{bucket.name}.json", data.encode())
        if written < len(self.drives) // 2 + 1:
            raise WriteQuorumError(f"only {written} drives took the bucket; {len(self.drives) // 2 + 1} are needed")

    def remove_bucket(self, name: str) -> None:
        on_drives(lambda d: d.usable and d.remove_file(d.buckets / f"{name}.json"), self.drives)

    def load_buckets(self) -> list[Bucket]:
        """Every bucket any usable drive knows of."""
        found: dict[str, Bucket] = {}
        for drive in self.drives:
            if not drive.usable:
                continue
            try:
                paths = list(drive.buckets.iterdir())
            except OSError:
                continue
            for path in paths:
                try:
                    b = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                found.setdefault(b["name"], Bucket(b["name"], b["created"], b["location"], b["owner_id"], b.get("config", {})))
        return sorted(found.values(), key=lambda b: b.name)

    def read_newest(self, name: str) -> list[bytes]:
        """``name`` (under ``.hoard/``) from every usable drive that has it: the caller picks the
        newest (a drive away during a change holds an older copy)."""
        found = []
        for drive in self.drives:
            if drive.usable:
                try:
                    found.append(drive.read_file(drive.system / name))
                except OSError:
                    continue
        return found

    def read_newest_copy(self, name: str, parse: Callable[[bytes], G]) -> G | None:
        """``name`` (under ``.hoard/``) as its newest copy on the drives holds it, parsed: each change
        writes a copy with a higher ``generation`` to every drive (``write_shared``), so a drive
        that was away during a change cannot bring an older one back. A copy ``parse`` refuses
        (ValueError, KeyError, TypeError) is skipped, logged; None if no drive has a readable one."""
        newest: G | None = None
        for data in self.read_newest(name):
            try:
                copy = parse(data)
            except (ValueError, KeyError, TypeError) as e:
                log.warning("skipping an unreadable copy of %s: %s", name, e)
                continue
            if newest is None or copy.generation > newest.generation:
                newest = copy
        return newest

    def shared_generation(self, name: str) -> int | None:
        """The generation of ``name``'s newest copy where asking is cheap (a cluster's database);
        None here: one server's processes learn of changes by the index's change tokens."""
        return None

    def write_shared(self, name: str, data: bytes) -> None:
        """``name`` (under ``.hoard/``) written to every usable drive, as the bucket files are; a
        majority of the drives must take it."""
        written = self._write_everywhere(lambda d: d.system / name, data)
        if written < len(self.drives) // 2 + 1:
            raise WriteQuorumError(f"only {written} drives took {name}; {len(self.drives) // 2 + 1} are needed")

    def read_credentials(self) -> bytes | None:
        return self._read_anywhere(CREDENTIALS_FILE)

    def write_credentials(self, data: bytes) -> None:
        self._write_everywhere(lambda d: d.system / CREDENTIALS_FILE, data)

    def index_id(self) -> str | None:
        """The identity of the current index, as most drives record it."""
        values = []
        for drive in self.drives:
            if drive.usable:
                try:
                    values.append(drive.read_file(drive.system / INDEX_ID_FILE).decode())
                except OSError:
                    continue
        return Counter(values).most_common(1)[0][0] if values else None

    def set_index_id(self, value: str) -> None:
        self._write_everywhere(lambda d: d.system / INDEX_ID_FILE, value.encode())

    def index_candidates(self) -> list[Path]:
        """Where the index may live: on each usable drive, the first one preferred."""
        return [d.system / "meta.db" for d in self.drives if d.usable]

    # -- the state of things --------------------------------------------------------------
    def set_health(self) -> list[dict]:
        """Per erasure set: its drives, data and parity shards of a STANDARD write, how many of
        its drives are usable and whether that is a write quorum."""
        data = self.set_size - self.parity
        quorum = write_quorum(data, self.parity)
        out = []
        for eset in self.sets:
            usable = sum(d.usable for d in eset.drives)
            out.append(
                {
                    "index": eset.index,
                    "drives": [d.position for d in eset.drives],
                    "data": data,
                    "parity": self.parity,
                    "usable": usable,
                    "write_quorum": quorum,
                    "write_quorum_ok": usable >= quorum,
                }
            )
        return out

    def sets_without_write_quorum(self) -> list[str]:
        """Each erasure set with too few usable drives to take a STANDARD write, in words; empty
        when every set can (readiness: a server that cannot write should get no traffic)."""
        return [
            f"erasure set {s['index']}: {s['usable']} of {len(s['drives'])} drives online, {s['write_quorum']} needed to write"
            for s in self.set_health()
            if not s["write_quorum_ok"]
        ]

    def set_of_drive(self, drive: LocalDrive) -> int:
        """The number of the erasure set one of this server's drives is in."""
        return next(n for n, group in enumerate(self.groups) if drive.position in group)

    def info(self) -> dict:
        drives = []
        for drive in self.drives:
            total = free = 0
            if drive.usable:
                try:
                    total, free = drive.usage()
                except OSError:
                    pass
            drives.append(
                {
                    "position": drive.position,
                    "path": str(drive.root),
                    "id": drive.drive_id,
                    "state": drive.state.value,
                    "set": self.set_of_drive(drive),
                    "total_bytes": total,
                    "free_bytes": free,
                    "used_bytes": total - free,
                    "last_error": drive.last_error,
                }
            )
        return {
            "sets": self.groups,
            "set_size": self.set_size,
            "parity": self.parity,
            "reduced_redundancy_parity": self.reduced_parity,
            "data_shards": self.set_size - self.parity,
            "inline_limit": self.inline_limit,
            "drives": drives,
        }

    def orphans(self, before: float) -> list[Orphan]:
        """Shard files and records on this server's drives last written before ``before``: the
        orphan sweep's candidates, which it then asks the index about."""
        found = []
        for drive in self.drives:
            if not drive.usable:
                continue
            try:
                found += [Orphan(drive, "shard", i) for i, mtime in list(drive.shard_ids()) if mtime < before]
                found += [Orphan(drive, "record", i) for i, mtime in list(drive.record_ids()) if mtime < before]
            except OSError as e:
                drive.fail(e)
        return found

    def remove_orphans(self, orphans: list[Orphan]) -> int:
        removed = 0
        for orphan in orphans:
            drive = orphan.drive
            if not drive.usable:
                continue
            try:
                if orphan.kind == "shard":
                    drive.remove_shard(orphan.item)
                else:
                    drive.remove_record(orphan.item)
                removed += 1
            except OSError as e:
                drive.fail(e)
        return removed


@dataclass(frozen=True)
class Orphan:
    drive: LocalDrive
    kind: str  # "shard" or "record"
    item: str  # its id
