"""Keeping every version whole: repairs queued by reads, heal jobs and the background scanner.

Only the leader process runs one (see ``hoard.process_role``).

- Writes that missed a drive (a quorum took them) are queued by their own index commit; the
  healer claims them from the index (every node's healer, each its own rows), refills the
  drives they missed, and tries again with backoff while a drive of the set is still away,
  at once when drives come back (``hurry``).
- Reads that meet a missing or corrupt fragment queue the object; it is repaired within seconds.
  Reads in other worker processes report it through the index, which the healer polls.
- A heal job (``hoard admin heal``, or a drive that came back or was replaced) walks the index,
  or one bucket and prefix of it, checking every block of every shard.
- The scanner walks every object forever at a bounded rate, with its cursor kept in the index so
  a restart resumes where it stopped.
- Drives that come back or are replaced (found by ``hoard.workers.monitor``) get a heal job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass

from hoard.meta.store import MetaStore
from hoard.metrics import instruments
from hoard.model import HealTask, ObjectRecord
from hoard.objects.data import ObjectData
from hoard.storage.drive import DriveState, LocalDrive
from hoard.storage.erasure_set import HealResult
from hoard.storage.pool import Storage
from hoard.workers.periodic import RunStatus, log_failure
from hoard.workers.share import EVERYTHING, WorkShare, cursor_setting

log = logging.getLogger("hoard.heal")
PAGE = 500
CURSOR = "scanner_cursor"
REPORT_POLL = 0.5  # seconds between looks at damage reported by other worker processes
HEAL_QUEUE_POLL = 1.0  # seconds between looks at the heal queue when it had nothing due
HEAL_QUEUE_BATCH = 50
HEAL_CLAIM_SECONDS = 300.0  # a claimer that dies leaves its rows to others after this
HEAL_BACKOFF_MAX = 30.0  # longest wait before trying again a version whose drive is still away


@dataclass
class HealJob:
    id: int = 0
    bucket: str = ""
    prefix: str = ""
    deep: bool = True
    reason: str = "requested"
    total: int = 0
    scanned: int = 0
    repaired_objects: int = 0
    repaired_shards: int = 0
    unrecoverable: int = 0
    failed: int = 0
    bytes_checked: int = 0
    started: float = 0.0
    finished: float = 0.0

    @property
    def running(self) -> bool:
        return not self.finished

    def covers(self, bucket: str, prefix: str, deep: bool) -> bool:
        return (not self.bucket or (self.bucket == bucket and prefix.startswith(self.prefix))) and (self.deep or not deep)

    def to_json(self) -> dict:
        return {**asdict(self), "running": self.running, "state": "queued" if not self.started else "running" if self.running else "finished"}


class Healer:
    def __init__(
        self,
        store: MetaStore,
        storage: Storage,
        data: ObjectData,
        scanner_rate: float,
        probe_interval: float,
        collect_reports: bool = False,
        share: WorkShare = EVERYTHING,
    ) -> None:
        self.store = store
        self.storage = storage
        self.data = data
        self.scanner_rate = scanner_rate  # bytes per second the scanner may verify
        self.probe_interval = probe_interval
        self.collect_reports = collect_reports  # other worker processes report damage via the index
        self.share = share  # the scanner's objects (heal jobs and repairs cover everything asked)
        self.job: HealJob | None = None  # the latest job started
        self.jobs: dict[int, HealJob] = {}
        self._next: HealJob | None = None  # queued behind the running job
        self.queued_repairs = 0
        self.repaired_on_read = 0
        self.scanner_passes = 0
        # The scanner is this worker's periodic loop: a round is a pass over the index.
        self.run_status = RunStatus("scanner", max(1.0, probe_interval))
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._pending: set[tuple[str, str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._job_task: asyncio.Task | None = None
        self.queued_heals_done = 0
        self._wake_heals = asyncio.Event()
        self._hurry = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        tasks = [self._repairs(), self._scanner(), self._queued_heals()] + ([self._collect_reports()] if self.collect_reports else [])
        self._tasks = [self._loop.create_task(c) for c in tasks]
        if self.storage.replaced:
            self.start_job(reason="replaced drives: " + ", ".join(str(d.root) for d in self.storage.replaced), deep=False)

    async def stop(self) -> None:
        tasks = self._tasks + ([self._job_task] if self._job_task else [])
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass

    # -- repairs queued by reads (called from worker threads) -----------------------------
    def damaged(self, record: ObjectRecord) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._enqueue, record.bucket, record.key)

    def _enqueue(self, bucket: str, key: str) -> None:
        if (bucket, key) not in self._pending:
            self._pending.add((bucket, key))
            self.queued_repairs += 1
            instruments().heal_event("repair-queued")
            self._queue.put_nowait((bucket, key))

    async def _collect_reports(self) -> None:
        while True:
            await asyncio.sleep(REPORT_POLL)
            try:
                for bucket, key in await self.store.take_damage_reports():
                    self._enqueue(bucket, key)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log_failure(log, "reading damage reports", e)

    async def _repairs(self) -> None:
        while True:
            bucket, key = await self._queue.get()
            self._pending.discard((bucket, key))
            try:
                # The report names the key: each of its versions is checked.
                for record in await self.store.get_versions(bucket, key):
                    result = await self.heal(record, deep=True)
                    self.repaired_on_read += bool(result.repaired)
                    if result.repaired:
                        instruments().heal_event("repaired")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log_failure(log, f"repair of {bucket}/{key}", e)

    # -- writes that missed a drive (queued by their commit) -------------------------------
    def hurry(self) -> None:
        """Drives came back: every queued version is due now, not at its backoff."""
        self._hurry = True
        self._wake_heals.set()

    async def _queued_heals(self) -> None:
        while True:
            tasks = []
            wait = HEAL_QUEUE_POLL
            try:
                if self._hurry:
                    self._hurry = False
                    await self.store.hurry_heals(time.time())
                tasks = await self.store.claim_heals(time.time(), HEAL_QUEUE_BATCH, HEAL_CLAIM_SECONDS)
                for task in tasks:
                    await self._heal_queued(task)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log_failure(log, "healing queued writes", e)
                wait = 5 * HEAL_QUEUE_POLL  # the index away (a failover): not a traceback a second
            if len(tasks) < HEAL_QUEUE_BATCH:
                self._wake_heals.clear()
                try:
                    await asyncio.wait_for(self._wake_heals.wait(), wait)
                except TimeoutError:
                    pass

    async def _heal_queued(self, task: HealTask) -> None:
        record = await self.store.get_version(task.bucket, task.key, task.version_id)
        if record is None:
            await self.store.heal_done(task)  # deleted meanwhile: its files go by reclaim
            return
        backoff = time.time() + min(HEAL_BACKOFF_MAX, 2.0**task.attempts)
        if self.storage.set_of(record.placement).drives_away(record.placement):
            # A drive of its set is away: a heal now would read the others only to put it back.
            # Drives coming back make it due at once (``hurry``).
            await self.store.heal_later(task, backoff)
            return
        result = await self.heal(record, deep=False)
        if result.offline or result.failed or result.unrecoverable:
            # A drive of its set is still away (or refused the refill, or went away while asked,
            # leaving too few fragments in sight): again later, sooner each time at first, and at
            # once if the drive monitor or the cluster sees drives come back. Never dropped on a
            # partial view: a node just reconnected may not reach the others yet.
            await self.store.heal_later(task, backoff)
            return
        await self.store.heal_done(task)
        self.queued_heals_done += 1
        if result.repaired:
            instruments().heal_event("repaired")

    # -- healing one version --------------------------------------------------------------
    async def heal(self, record: ObjectRecord, deep: bool) -> HealResult:
        result = await asyncio.to_thread(self.storage.set_of(record.placement).heal, record, deep)
        if result.repaired or result.unrecoverable:
            current = await self.store.get_version(record.bucket, record.key, record.version_id)
            if current is None or current.data_id != record.data_id:
                # Replaced or deleted under the heal: its files may have been reclaimed meanwhile
                # (nothing acknowledged is lost), and what we rewrote belongs to no one.
                result.unrecoverable = False
                if result.repaired:
                    await self.data.retract(record)
            elif result.repaired:
                log.info("healed %s/%s: %d shards, %d records rebuilt", record.bucket, record.key, result.repaired_shards, result.repaired_records)
        if result.unrecoverable and not result.offline:
            log.error("%s/%s cannot be healed: too few good shards remain", record.bucket, record.key)
        elif result.unrecoverable:
            # Drives out of sight (a node cut off, this one or another): not known lost, tried again.
            log.info("%s/%s cannot be healed now: %d fragments out of reach", record.bucket, record.key, result.offline)
        return result

    # -- heal jobs ------------------------------------------------------------------------
    def start_job(self, bucket: str = "", prefix: str = "", deep: bool = True, reason: str = "requested") -> HealJob:
        """Start a heal job, or queue one behind the running job (which may have begun before
        the drives it should refill were there). Queued requests merge into one job."""
        if self._next is not None:
            nxt = self._next
            if not nxt.covers(bucket, prefix, deep):
                if nxt.bucket != bucket or not prefix.startswith(nxt.prefix):
                    nxt.bucket, nxt.prefix = "", ""
                nxt.deep = nxt.deep or deep
                nxt.reason += f"; {reason}"
            return nxt
        job = HealJob(id=len(self.jobs) + 1, bucket=bucket, prefix=prefix, deep=deep, reason=reason)
        self.jobs[job.id] = job
        if self.job is not None and self.job.running:
            self._next = job
        else:
            self._launch(job)
        return job

    def _launch(self, job: HealJob) -> None:
        assert self._loop is not None
        job.started = time.time()
        self.job = job
        self._job_task = self._loop.create_task(self._run_job(job))

    async def _run_job(self, job: HealJob) -> None:
        log.info("heal started (%s): %s", job.reason, f"{job.bucket}/{job.prefix}" if job.bucket else "everything")
        try:
            job.total = await self.store.count_objects(job.bucket, job.prefix)
            # (bucket, "") sorts before every key of the bucket: no key is empty.
            cursor = (job.bucket, "")
            while True:
                page = await self.store.objects_after(cursor[0], cursor[1], PAGE, job.bucket, job.prefix)
                if not page:
                    break
                for record in page:
                    result = await self.heal(record, job.deep)
                    job.scanned += 1
                    job.bytes_checked += record.size
                    job.repaired_objects += bool(result.repaired)
                    job.repaired_shards += result.repaired
                    job.unrecoverable += result.unrecoverable
                    job.failed += result.failed
                cursor = (page[-1].bucket, page[-1].key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("heal job failed")
            job.failed += 1
        finally:
            job.finished = time.time()
            if not job.bucket and not job.unrecoverable and not job.failed:
                for drive in self.storage.drives:
                    if drive.state is DriveState.HEALING:
                        log.info("drive %s (%s) is refilled and online", drive.position, drive.root)
                        drive.state = DriveState.ONLINE
            log.info(
                "heal finished: %d objects checked, %d repaired, %d unrecoverable", job.scanned, job.repaired_objects, job.unrecoverable
            )
            if self._next is not None:
                nxt, self._next = self._next, None
                self._launch(nxt)

    def drives_back(self, drives: list[LocalDrive]) -> None:
        """Drives came back or were replaced (the drive monitor found them): refill them."""
        self.hurry()
        self.start_job(reason="drives back or replaced: " + ", ".join(str(d.root) for d in drives), deep=False)

    # -- background scanner ---------------------------------------------------------------
    async def _scanner(self) -> None:
        if self.scanner_rate <= 0:
            return
        cursor_name = cursor_setting(CURSOR, self.share)
        raw = await asyncio.to_thread(self.store.get_setting_sync, cursor_name)
        bucket, _, key = (raw or "").partition("/")
        last_saved = time.monotonic()
        failed: Exception | None = None
        while True:
            if not self.run_status.running:
                self.run_status.began(time.time())
            page = await self.store.objects_after(bucket, key, 100)
            if not page:
                self.scanner_passes += 1
                instruments().heal_event("scanner-pass")
                self.run_status.ended(time.time(), failed)
                failed = None
                bucket, key = "", ""
                await asyncio.sleep(self.run_status.interval)
                continue
            for record in page:
                bucket, key = record.bucket, record.key
                if not self.share.mine(bucket, key):
                    continue  # another node's partition: that node's scanner checks it
                started = time.monotonic()
                try:
                    await self.heal(record, deep=True)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    failed = e  # the pass goes on; its record shows the last failure
                    log.exception("scanner: healing %s/%s failed", record.bucket, record.key)
                # Verifying reads every shard: pace it so clients keep the drives.
                budget = (record.size * (record.placement.data + record.placement.parity) / record.placement.data) / self.scanner_rate
                await asyncio.sleep(max(0.01, budget - (time.monotonic() - started)))
            if time.monotonic() - last_saved > 10:
                await asyncio.to_thread(self.store.set_setting_sync, cursor_name, f"{bucket}/{key}")
                last_saved = time.monotonic()

    def status(self, job_id: int | None = None) -> dict:
        job = self.jobs.get(job_id) if job_id is not None else self.job
        return {
            "job": job.to_json() if job else None,
            "queued_job": self._next.to_json() if self._next else None,
            "queued_repairs": self.queued_repairs,
            "queued_writes_healed": self.queued_heals_done,
            "repaired_on_read": self.repaired_on_read,
            "scanner_passes": self.scanner_passes,
            "scanner_rate_bytes_per_second": self.scanner_rate,
        }
