"""Master key rotation (``hoard admin kms rotate``): every data key the master key seals is sealed
again under a new master key, without rewriting any object's bytes.

The steps, each safe to repeat, so that a rotation cut short (a crash, a restart) is finished by
running it again, or by the leader on its next start:

1. A new key is made and the key file rewritten with it first and the old one after it
   (``write_master_key_file``: temporary file, fsync, rename, fsync of the folder). From then on
   every process seals with the new key and opens with either (``KeyService`` follows the file).
2. The built-in KMS's own keys are resealed (one document).
3. Every version and every multipart upload whose data key the old key sealed is resealed:
   versions through ``ObjectData.replace_metadata`` (new records on the drives, then the index),
   uploads in the index. A version changed meanwhile is left to the next pass.
4. Passes repeat until one finds nothing under the old key, a few seconds after the switch (a
   write that took its key just before it commits under the new one: see ``KeyService.fresh``).
5. The key file is rewritten with the new key alone and the drives record it as the deployment's
   (``MASTER_KEY_RECORD``): a server started with the old key afterwards refuses to encrypt and
   cannot open anything, and says why.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hoard.crypto.keys import KeyEnvelopeError, MasterKey, envelope_key_id
from hoard.crypto.kms import BuiltinKms
from hoard.durable import replace_file
from hoard.meta.errors import VersionChanged
from hoard.meta.store import MetaStore
from hoard.model import ObjectRecord
from hoard.objects.data import ObjectData
from hoard.objects.encryption import SSE_S3, KeyService
from hoard.storage.pool import Storage

log = logging.getLogger("hoard.rotation")

MASTER_KEY_RECORD = "master-key.json"  # on every drive: the id of the deployment's master key
SETTLE_SECONDS = 3.0  # after the switch, how long writes that took the old key may take to commit
PAGE = 500
MAX_PASSES = 20


class RotationRefused(Exception):
    """A rotation that cannot be run here (the message says why)."""


def write_master_key_file(path: Path, keys: list[MasterKey]) -> None:
    """``keys`` (the current one first) as the key file's whole content, replaced at once."""
    replace_file(path, "".join(base64.b64encode(k.material).decode("ascii") + "\n" for k in keys).encode("ascii"))


@dataclass
class MasterKeyRecord:
    """What the drives say the deployment's master key is (its id, never the key)."""

    generation: int
    key_id: str

    @classmethod
    def parse(cls, raw: bytes) -> MasterKeyRecord:
        doc = json.loads(raw)
        return cls(int(doc["generation"]), str(doc["key_id"]))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()


def check_recorded_master_key(storage: Storage, master: MasterKey, retired: list[MasterKey]) -> str:
    """Compare the master key with the one the drives record (recording it if none is yet):
    "" if it is the deployment's (or one being rotated out), else why encrypted writes are refused."""
    record = storage.read_newest_copy(MASTER_KEY_RECORD, MasterKeyRecord.parse)
    if record is None:
        record_master_key(storage, master.key_id)
        return ""
    if record.key_id in {master.key_id, *(k.key_id for k in retired)}:
        return ""
    return (
        f"this server's master key ({master.key_id}) is not the deployment's ({record.key_id}, as its drives record it; "
        "an older key after a rotation, or another deployment's): set HOARD_MASTER_KEY_FILE to the deployment's key file"
    )


def record_master_key(storage: Storage, key_id: str) -> None:
    """Record ``key_id`` on every drive as the deployment's master key (a newer generation)."""
    current = storage.read_newest_copy(MASTER_KEY_RECORD, MasterKeyRecord.parse)
    storage.write_shared(MASTER_KEY_RECORD, MasterKeyRecord((current.generation if current else 0) + 1, key_id).to_json())


@dataclass
class RotationJob:
    """A rotation's progress, as ``hoard admin kms rotate`` shows it."""

    new_key_id: str
    old_key_ids: list[str]
    state: str = "resealing"  # then "finished" or "failed"
    passes: int = 0
    scanned: int = 0  # versions and uploads looked at in the current pass
    total: int = 0  # versions and uploads to look at in a pass (counted as the pass starts)
    resealed: int = 0  # over every pass
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    @property
    def running(self) -> bool:
        return not self.finished

    def to_json(self) -> dict:
        return {**asdict(self), "running": self.running}


class MasterKeyRotation:
    """Runs in the leader, which alone changes the key file, the KMS document and the records."""

    def __init__(self, keys: KeyService, store: MetaStore, data: ObjectData, kms: BuiltinKms | None) -> None:
        self.keys = keys
        self.store = store
        self.data = data
        self.kms = kms
        self.job: RotationJob | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """At the leader's start: a rotation cut short (the key file still holds a retired key) is finished."""
        if self.keys.previous and self.keys.key_file is not None:
            log.warning("the master key file %s still holds a retired key: finishing the rotation that was cut short", self.keys.key_file)
            self.begin()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def begin(self) -> RotationJob:
        """A new rotation, or the one under way (or cut short: the key file still names a retired
        key) carried on. RotationRefused if the master key is not in a file the server may write."""
        if self.job is not None and self.job.running:
            return self.job
        if self.keys.master is None or self.keys.key_file is None:
            raise RotationRefused("the master key is given in HOARD_MASTER_KEY: rotation writes the new key to the key file, so keep the key in one (HOARD_MASTER_KEY_FILE)")
        current, previous = self.keys.master, self.keys.previous
        if not previous:
            new = MasterKey.generate()
            write_master_key_file(self.keys.key_file, [new, current])
            self.keys.use(new, [current])
            current, previous = new, [current]
            log.warning("master key rotation: new master key %s written to %s; resealing the data keys of %s", new.key_id, self.keys.key_file, current.key_id)
        self.job = RotationJob(current.key_id, [k.key_id for k in previous])
        self._task = asyncio.get_running_loop().create_task(self._run(self.job, current, previous))
        return self.job

    async def _run(self, job: RotationJob, new: MasterKey, old: list[MasterKey]) -> None:
        switched = time.monotonic()
        try:
            if self.kms is not None:
                for retired in old:
                    await asyncio.to_thread(self.kms.reseal_keys, retired, new)
            old_ids = {k.raw_id for k in old}
            while True:
                job.passes += 1
                found = await self._pass(job, old_ids)
                if found == 0 and time.monotonic() - switched >= SETTLE_SECONDS:
                    break
                if job.passes >= MAX_PASSES:
                    raise RuntimeError(f"data keys under the old key are still being written after {job.passes} passes")
                await asyncio.sleep(max(0.0, SETTLE_SECONDS - (time.monotonic() - switched)))
            assert self.keys.key_file is not None
            await asyncio.to_thread(write_master_key_file, self.keys.key_file, [new])
            self.keys.use(new, [])
            await asyncio.to_thread(record_master_key, self.data.storage, new.key_id)
            job.state = "finished"
            log.warning("master key rotation finished: %d data keys resealed under %s; the old key is no longer used", job.resealed, new.key_id)
        except asyncio.CancelledError:
            job.state, job.error = "failed", "stopped with the server (it carries on at the next start)"
            raise
        except Exception as e:  # noqa: BLE001 - reported to whoever polls; the rotation can be run again
            job.state, job.error = "failed", f"{type(e).__name__}: {e}"
            log.exception("master key rotation failed (run it again to carry on)")
        finally:
            job.finished = time.time()

    async def _pass(self, job: RotationJob, old_ids: set[bytes]) -> int:
        """One walk over every version and upload; returns how many were under an old key."""
        job.scanned, job.total = 0, await self.store.count_objects()
        found = 0
        bucket, key = "", ""
        while True:
            records = await self.store.objects_after(bucket, key, PAGE)
            if not records:
                break
            for record in records:
                job.scanned += 1
                if _sealed_by(record.encryption, old_ids):
                    found += 1
                    if await self._reseal_version(record):
                        job.resealed += 1
            bucket, key = records[-1].bucket, records[-1].key
        for upload in await self._uploads():
            job.scanned += 1
            if _sealed_by(upload.encryption, old_ids):
                found += 1
                assert upload.encryption is not None
                if await self.store.set_upload_encryption(upload.upload_id, upload.encryption, self.keys.fresh(upload.encryption)):
                    job.resealed += 1
        return found

    async def _reseal_version(self, record: ObjectRecord) -> bool:
        assert record.encryption is not None
        try:
            await self.data.replace_metadata(self.store, record, encryption=self.keys.fresh(record.encryption))
        except (VersionChanged, FileNotFoundError):
            return False  # replaced or deleted meanwhile: the next pass sees what is there now
        return True

    async def _uploads(self) -> list:
        uploads = []
        for bucket in await self._buckets():
            key_marker = upload_marker = ""
            while True:
                page = await self.store.list_uploads(bucket, "", "", key_marker, upload_marker, 1000)
                uploads.extend(page.entries)
                if not page.truncated or not page.entries:
                    break
                key_marker, upload_marker = page.entries[-1].key, page.entries[-1].upload_id
        return uploads

    async def _buckets(self) -> list[str]:
        names, after = [], ""
        while True:
            page = await self.store.list_buckets("", after, 1000)
            names.extend(b.name for b in page)
            if len(page) < 1000:
                return names
            after = page[-1].name


def _sealed_by(encryption, old_ids: set[bytes]) -> bool:  # noqa: ANN001 - Encryption | None
    if encryption is None or encryption.mode != SSE_S3:
        return False
    try:
        return envelope_key_id(base64.b64decode(encryption.sealed_key)) in old_ids
    except (KeyEnvelopeError, ValueError):
        return False
