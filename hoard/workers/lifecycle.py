"""The lifecycle worker: carries out buckets' lifecycle rules, moves archival classes' bytes to
their tier, and finishes and ends restores.

**The scan.** Every version of every bucket is walked in index order, a page of keys at a time,
with the place reached kept in the index (setting ``lifecycle-cursor``), so a restart goes on
where it stopped. For each version the bucket's rules say what is due (``hoard.lifecycle.rules.
action_for``): expire the current version (a delete marker where versioning is on, else the
object goes), remove a noncurrent version or an expired object delete marker, or move it to
another storage class. Independently of rules, a version whose class has a tier but whose bytes
are still on the drives is moved there (the tier worker does that soon after a write; the scan
catches what it has not, such as versions written before the tier was configured).
Incomplete multipart uploads a rule's AbortIncompleteMultipartUpload covers are aborted once a
pass. Then the scan rests (a quarter of a lifecycle day, between half a second and an hour).

**Safety.** Every action is conditional on the version being as the scan read it (the index
refuses otherwise, VersionChanged, and the action is skipped): a second worker, or a client's
write in between, never makes it act on what it did not judge. A version object lock retains is
never removed (adding a delete marker over it is allowed, as on S3). Actions are limited to
``HOARD_LIFECYCLE_RATE`` per second. Each is logged and counted (``stats``: kept in the index,
shown by ``hoard admin lifecycle``).

**Tier tasks** (``TierWorker``): the index's tier_tasks table says which version has something
due, when: bytes to move to their tier, a restore's copy to make ready (copied back from the tier
if the bytes left the drives) or one to remove.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from hoard.lifecycle.rules import Action, LifecycleConfig, VersionFacts, abort_due, action_for, configured, due_after
from hoard.meta.cluster import LeaseLost
from hoard.meta.errors import UploadNotFound, VersionChanged
from hoard.meta.store import MetaStore
from hoard.model import Bucket, ObjectRecord
from hoard.objects import tiering
from hoard.objects.data import ObjectData
from hoard.objects.lock import deletion_refused
from hoard.objects.versions import ENABLED, NULL_VERSION, SUSPENDED, VERSIONING_CONFIG, delete_marker
from hoard.tiers import TierError, TierUnavailable
from hoard.workers.periodic import Periodic
from hoard.workers.share import EVERYTHING, WorkShare, cursor_setting

log = logging.getLogger("hoard.lifecycle")
CURSOR_SETTING = "lifecycle-cursor"
STATS_SETTING = "lifecycle-stats"
PAGE = 200  # keys per index read


def rest_between_passes(day_seconds: float) -> float:
    return min(3600.0, max(0.5, day_seconds / 4))


class RateLimit:
    """At most ``rate`` actions per second, smoothed."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.gap = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self.next = 0.0

    async def wait(self) -> None:
        t = self.clock()
        if self.next > t:
            await self.sleep(self.next - t)
        self.next = max(self.next, t) + self.gap


class Locked(Exception):
    """The version's retention or legal hold forbids removing it."""


def _unchanged(expected: ObjectRecord, removing: bool = False) -> Callable[[ObjectRecord | None], None]:
    """A check, inside the index transaction, that the version acted on is the one judged (and,
    when it is to be removed, that no retention or legal hold came to protect it meanwhile)."""

    def check(found: ObjectRecord | None) -> None:
        if found is None or found.data_id != expected.data_id:
            raise VersionChanged(f"{expected.bucket}/{expected.key} changed since the lifecycle scan read it")
        if removing and deletion_refused(found, time.time(), bypass_governance=False):
            raise Locked(f"{expected.bucket}/{expected.key} version {expected.version_id} is locked")

    return check


def facts_of(versions: list[ObjectRecord], versioned: bool) -> list[VersionFacts]:
    """What the rules judge of each of one key's versions (newest first, the current one first);
    ``versioned``: the bucket's versioning is Enabled or Suspended (expiring then adds a delete marker)."""
    out = []
    for i, v in enumerate(versions):
        out.append(
            VersionFacts(
                key=v.key,
                size=v.size,
                tags=v.tags,
                last_modified=v.last_modified,
                storage_class=v.storage_class,
                is_latest=i == 0,
                delete_marker=v.delete_marker,
                noncurrent_since=None if i == 0 else versions[i - 1].last_modified,
                newer_noncurrent=max(0, i - 1),
                only_version=len(versions) == 1,
                versioned=versioned,
            )
        )
    return out


class LifecycleWorker(Periodic):
    what = "lifecycle"

    def __init__(self, store: MetaStore, data: ObjectData, day_seconds: float, rate: float, share: WorkShare = EVERYTHING) -> None:
        super().__init__(rest_between_passes(day_seconds))
        self.store = store
        self.data = data
        self.share = share
        self.cursor = cursor_setting(CURSOR_SETTING, share)
        self.day_seconds = day_seconds
        self.limit = RateLimit(rate)
        self.stats: Counter[str] = Counter()
        self.passes = 0
        self.last_pass = 0.0

    async def before_first(self) -> None:
        raw = await asyncio.to_thread(self.store.get_setting_sync, STATS_SETTING)
        if raw:
            saved = json.loads(raw)
            self.stats.update(saved.get("actions", {}))
            self.passes = saved.get("passes", 0)
            self.last_pass = saved.get("lastPass", 0.0)

    async def run_once(self) -> int:
        """One whole pass from the saved cursor to the end of the index; returns the actions taken."""
        before = sum(self.stats.values())
        buckets = await self._buckets()
        rules = {name: configured(b.config) for name, b in buckets.items()}  # each bucket's rules, read once a pass
        raw = await asyncio.to_thread(self.store.get_setting_sync, self.cursor)
        bucket, key = json.loads(raw) if raw else ("", "")
        while True:
            page = await self.store.objects_after(bucket, key, PAGE)
            if not page:
                break
            versions: list[ObjectRecord] = []
            for record in page:
                if not self.share.mine(record.bucket, record.key):
                    continue  # another node's partition
                if versions and (record.bucket, record.key) != (versions[0].bucket, versions[0].key):
                    await self._fenced_key(buckets, rules, versions)
                    versions = []
                versions.append(record)
            if versions:
                await self._fenced_key(buckets, rules, versions)
            bucket, key = page[-1].bucket, page[-1].key
            await asyncio.to_thread(self.store.set_setting_sync, self.cursor, json.dumps([bucket, key]))
        for name, config in rules.items():
            if config is not None:
                await self._abort_uploads(name, config)
        self.passes += 1
        self.last_pass = time.time()
        await asyncio.to_thread(self.store.set_setting_sync, self.cursor, json.dumps(["", ""]))
        await self._save_stats()
        return sum(self.stats.values()) - before

    async def _save_stats(self) -> None:
        doc = {"actions": dict(self.stats), "passes": self.passes, "lastPass": self.last_pass}
        await asyncio.to_thread(self.store.set_setting_sync, STATS_SETTING, json.dumps(doc))

    async def _buckets(self) -> dict[str, Bucket]:
        out: dict[str, Bucket] = {}
        after = ""
        while True:
            page = await self.store.list_buckets("", after, 1000)
            out.update((b.name, b) for b in page)
            if len(page) < 1000:
                return out
            after = page[-1].name

    def _count(self, what: str, record: ObjectRecord, detail: str = "") -> None:
        self.stats[what] += 1
        # A locked version is found again on every pass: said once at info would be said forever.
        level = logging.DEBUG if what == "kept-locked" else logging.INFO
        log.log(level, "lifecycle %s: %s/%s version %s%s", what, record.bucket, record.key, record.version_id, detail)

    async def _fenced_key(self, buckets: dict[str, Bucket], rules: dict[str, LifecycleConfig | None], versions: list[ObjectRecord]) -> None:
        """One key's versions judged and acted on under its partition's lease (a cluster node):
        a node paused past its lease finds its late actions refused, not done twice."""
        bucket, key = versions[0].bucket, versions[0].key
        try:
            with self.share.fence(bucket, key):
                await self._key(buckets.get(bucket), rules.get(bucket), versions)
        except LeaseLost as e:
            self.stats["fenced"] += 1
            log.warning("lifecycle: %s/%s left to the partition's new holder: %s", bucket, key, e)

    async def _key(self, bucket: Bucket | None, config: LifecycleConfig | None, versions: list[ObjectRecord]) -> None:
        if bucket is None:
            return
        now = time.time()
        for record, facts in zip(versions, facts_of(versions, bucket.config.get(VERSIONING_CONFIG) is not None), strict=True):
            action = action_for(config, facts, now, self.day_seconds) if config is not None else None
            try:
                if action is not None and await self._act(bucket, record, action, now):
                    continue
                tier = tiering.wants_archive(record, self.data.tiers)
                if tier is not None:
                    await self.limit.wait()
                    await tiering.archive(self.data, self.store, record, tier)
                    self._count("archived", record, f" to tier {tier.name}")
            except VersionChanged:
                self.stats["skipped-changed"] += 1
            except TierUnavailable as e:
                self.stats["tier-unavailable"] += 1
                log.warning("lifecycle: %s/%s not moved, its tier cannot be reached: %s", record.bucket, record.key, e)

    async def _act(self, bucket: Bucket, record: ObjectRecord, action: Action, now: float) -> bool:
        """Carry out one due action; returns whether the version was removed or replaced."""
        await self.limit.wait()
        detail = f" (rule {action.rule_id})"
        if action.kind == "transition":
            return await self._transition(record, action.storage_class, detail)
        if action.kind == "expire":
            return await self._expire(bucket, record, detail)
        # A noncurrent version, or an expired object delete marker: removed for good.
        try:
            removed = await self.store.delete_version(record.bucket, record.key, record.version_id, _unchanged(record, removing=True))
        except Locked:
            self._count("kept-locked", record, detail)
            return False
        if removed is not None:
            await self.data.drop_records([removed])
            self._count("removed-marker" if record.delete_marker else "removed-noncurrent", record, detail)
        return True

    async def _transition(self, record: ObjectRecord, storage_class: str, detail: str) -> bool:
        tier = tiering.tier_for(self.data.tiers, storage_class)
        here = record.archive.tier if record.archive is not None else None
        movable = not record.inline and record.size and record.restore is None
        if tier is not None and movable and tier.name != here:
            await tiering.archive(self.data, self.store, record, tier, storage_class)
        else:
            await self.data.replace_metadata(self.store, record, storage_class=storage_class)
        self._count("transitioned", record, f" to {storage_class}{detail}")
        return True

    async def _expire(self, bucket: Bucket, record: ObjectRecord, detail: str) -> bool:
        if record.delete_marker:
            return False
        state = bucket.config.get(VERSIONING_CONFIG)
        # A delete marker over a locked version is allowed; replacing a locked null version is not.
        replaces_locked = record.version_id == NULL_VERSION and deletion_refused(record, time.time(), bypass_governance=False)
        if state == ENABLED or (state == SUSPENDED and not replaces_locked):
            marker = delete_marker(bucket.name, record.key, self.data.placement(bucket.name, record.key, "STANDARD"), state)
            await self.data.commit_version(self.store, marker, None, _unchanged(record))
            self._count("expired", record, f": delete marker {marker.version_id}{detail}")
            return True
        if state is not None:
            self._count("kept-locked", record, detail)
            return False
        try:
            removed = await self.store.delete_version(record.bucket, record.key, NULL_VERSION, _unchanged(record, removing=True))
        except Locked:
            self._count("kept-locked", record, detail)
            return False
        if removed is not None:
            await self.data.drop_records([removed])
            self._count("expired", record, detail)
        return True

    async def _abort_uploads(self, bucket: str, config: LifecycleConfig) -> None:
        if not any(r.enabled and r.abort_days for r in config.rules):
            return
        key_marker = upload_marker = ""
        now = time.time()
        while True:
            page = await self.store.list_uploads(bucket, "", "", key_marker, upload_marker, 1000)
            for upload in page.entries:
                if not self.share.mine(bucket, upload.key):
                    continue
                rule = abort_due(config, upload.key, upload.initiated, now, self.day_seconds)
                if rule is None:
                    continue
                await self.limit.wait()
                try:
                    await self.store.abort_upload(upload.upload_id)
                except UploadNotFound:
                    continue
                self.stats["aborted-upload"] += 1
                log.info("lifecycle aborted-upload: %s/%s upload %s (rule %s)", bucket, upload.key, upload.upload_id, rule)
            if not page.truncated or not page.entries:
                return
            key_marker, upload_marker = page.entries[-1].key, page.entries[-1].upload_id


class TierWorker(Periodic):
    """Works the index's tier tasks as they fall due: moves the bytes of a tiered class to their
    tier (soon after the write, not on the next lifecycle pass), makes a restore's copy ready when
    its retrieval delay has passed, and removes it when it expires. A task that fails because a
    tier cannot be reached is tried again ``RETRY`` seconds later."""

    what = "tiers"
    RETRY = 30.0

    def __init__(self, store: MetaStore, data: ObjectData, day_seconds: float, interval: float = 0.5, share: WorkShare = EVERYTHING) -> None:
        super().__init__(interval)
        self.store = store
        self.data = data
        self.share = share
        self.day_seconds = day_seconds
        self.stats: Counter[str] = Counter()  # since this process started: archived, restored, restore-expired, retried

    async def run_once(self) -> int:
        done = 0
        for bucket, key, version_id, due in await self.store.tier_tasks_due(time.time(), 50):
            if not self.share.mine(bucket, key):
                continue  # another node's partition: that node's tier worker does it
            try:
                with self.share.fence(bucket, key):
                    done += await self._one_task(bucket, key, version_id, due)
            except LeaseLost as e:
                log.warning("tier work on %s/%s left to the partition's new holder: %s", bucket, key, e)
        return done

    async def _one_task(self, bucket: str, key: str, version_id: str, due: float) -> bool:
        """One due task; whether something was done."""
        record = await self.store.get_version(bucket, key, version_id)
        try:
            if record is not None and await self._work(record):
                return True
            await self.store.tier_task_reschedule(bucket, key, version_id, due, None)
        except VersionChanged:
            pass  # changed meanwhile: its task was written again with the change
        except TierError as e:
            self.stats["retried"] += 1
            log.warning("tier work on %s/%s version %s waits %.0f s: %s", bucket, key, version_id, self.RETRY, e)
            await self.store.tier_task_reschedule(bucket, key, version_id, due, time.time() + self.RETRY)
        return False

    async def _work(self, record: ObjectRecord) -> bool:
        """Do what is due to the version; False if nothing is (the task goes)."""
        restore, now = record.restore, time.time()
        if restore is not None and restore.ongoing and restore.ready_at <= now:
            expires = due_after(now, restore.days, self.day_seconds)
            await tiering.restore_copy(self.data, self.store, record, expires)
            self.stats["restored"] += 1
            log.info("restored %s/%s version %s until %s", record.bucket, record.key, record.version_id, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(expires)))
            return True
        if restore is not None and not restore.ongoing and restore.expires <= now:
            await tiering.drop_copy(self.data, self.store, record)
            self.stats["restore-expired"] += 1
            log.info("restored copy of %s/%s version %s expired", record.bucket, record.key, record.version_id)
            return True
        tier = tiering.wants_archive(record, self.data.tiers)
        if tier is not None:
            await tiering.archive(self.data, self.store, record, tier)
            self.stats["archived"] += 1
            log.info("moved %s/%s version %s (%s) to tier %s", record.bucket, record.key, record.version_id, record.storage_class, tier.name)
            return True
        return False
