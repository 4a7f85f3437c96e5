"""Site replication's loop, on the leader: every few seconds, with each other site of the group,
settle on one IAM directory (the newer generation wins) and one set of buckets (a bucket missing
on one side is made there; of two configurations the one changed last wins: ``siteStamp``), then
give every versioned bucket a replication configuration toward the other site, so its versions
follow (existing versions too). A site that was down catches up on its next round.

A bucket deleted here is remembered (DeleteBucket notes when), so that the other site does not
bring it back; the other site is told, and deletes its copy when empty (its versions are its
own: permanent deletes are not replicated, as on S3).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from hoard.admin.client import AdminClient
from hoard.admin.sites_api import shared_config, site_client
from hoard.iam.directory import Directory
from hoard.iam.identities import Identities
from hoard.meta.errors import BucketNotEmpty, BucketNotFound
from hoard.meta.store import MetaStore
from hoard.model import Bucket
from hoard.objects.data import DELETED_BUCKET_PREFIX, SITE_STAMP, ObjectData
from hoard.objects.versions import ENABLED, VERSIONING_CONFIG
from hoard.replication.remotes import Remote, Remotes
from hoard.replication.rules import REPLICATION_CONFIG, ReplicationConfig, Rule
from hoard.workers.periodic import Periodic

log = logging.getLogger("hoard.sites")


class SiteSync(Periodic):
    what = "site replication"

    def __init__(self, identities: Identities, store: MetaStore, data: ObjectData, remotes: Remotes, interval: float = 3.0) -> None:
        super().__init__(interval)
        self.identities = identities
        self.store = store
        self.data = data
        self.remotes = remotes
        self.site_status: dict[str, dict[str, Any]] = {}  # per site: what the last sync found

    def deleted(self) -> dict[str, float]:
        """Buckets deleted here, and when (DeleteBucket notes each). Blocks."""
        return {name[len(DELETED_BUCKET_PREFIX) :]: float(value) for name, value in self.store.settings_with_prefix_sync(DELETED_BUCKET_PREFIX).items()}

    async def run_once(self) -> int:
        sites = [r for r in (await asyncio.to_thread(self.remotes.load)).values() if r.site]
        if not sites:
            return 0
        for site in sites:
            try:
                report = await self.sync(site)
            except Exception as e:  # noqa: BLE001 - one site's trouble is reported, the others go on
                log.warning("site replication with %s failed: %s", site.name, e)
                self.site_status[site.name] = {**self.site_status.get(site.name, {}), "ok": False, "error": str(e), "last_attempt": time.time()}
                continue
            self.site_status[site.name] = {"ok": True, "error": "", "last_sync": time.time(), "last_attempt": time.time(), **report}
        return len(sites)

    async def sync(self, site: Remote) -> dict[str, Any]:
        client = site_client(site)
        await self._sync_iam(client)
        report = await self._sync_buckets(client)
        report["replicating"] = await self._replicate_to(site)
        return report

    async def _sync_iam(self, client: AdminClient) -> None:
        theirs = Directory.from_json(json.dumps((await asyncio.to_thread(client.call, "GET", "site/iam", {}))["directory"]).encode())
        mine = self.identities.directory
        if (theirs.generation, theirs.to_json()) > (mine.generation, mine.to_json()):
            await asyncio.to_thread(self.identities.adopt, theirs)
        elif theirs.to_json() != mine.to_json():
            body = json.dumps({"directory": json.loads(mine.to_json())}).encode()
            await asyncio.to_thread(client.call, "POST", "site/iam", {}, body=body)

    async def _sync_buckets(self, client: AdminClient) -> dict[str, Any]:
        answer = await asyncio.to_thread(client.call, "GET", "site/buckets", {})
        theirs = {b["name"]: b for b in answer["buckets"]}
        their_deleted: dict[str, float] = answer.get("deleted", {})
        my_deleted = await asyncio.to_thread(self.deleted)
        waiting: list[str] = []
        mine = {b.name: b for b in await self.store.list_buckets("", "", 1_000_000)}
        for name, bucket in mine.items():
            if their_deleted.get(name, 0) > bucket.created:
                # Deleted there after it was made here: delete ours too, once empty.
                try:
                    await self.store.delete_bucket(name)
                    await asyncio.to_thread(self.data.remove_bucket, name)
                except BucketNotEmpty:
                    waiting.append(name)
                except BucketNotFound:
                    pass
                continue
            other = theirs.get(name)
            my_stamp = bucket.config.get(SITE_STAMP, 0.0)
            if other is None or my_stamp > other["config"].get(SITE_STAMP, 0.0):
                doc = {"created": bucket.created, "location": bucket.location, "owner": bucket.owner_id, "config": shared_config(bucket.config)}
                await asyncio.to_thread(client.call, "POST", "site/bucket", {"name": name}, body=json.dumps(doc).encode())
            elif other["config"].get(SITE_STAMP, 0.0) > my_stamp:
                await self.data.adopt_bucket(self.store, _bucket(other))
        for name, other in theirs.items():
            if name not in mine and my_deleted.get(name, 0) <= other["created"]:
                await self.data.adopt_bucket(self.store, _bucket(other))
        return {"buckets": len(theirs), "deleted_here_waiting_there": sorted(n for n in my_deleted if n in theirs), "waiting_to_delete": waiting}

    async def _replicate_to(self, site: Remote) -> int:
        """Every versioned bucket without a replication configuration gets one toward the site."""
        count = 0
        for bucket in await self.store.list_buckets("", "", 1_000_000):
            if bucket.config.get(VERSIONING_CONFIG) != ENABLED:
                continue
            count += 1
            if REPLICATION_CONFIG in bucket.config:
                continue
            rule = Rule(f"site-{site.name}", 1, True, "", (), True, True, bucket.name, "")
            config = ReplicationConfig(site.name, f"arn:hoard:iam:::remote/{site.name}", (rule,))
            await self.data.configure_bucket(self.store, bucket.name, REPLICATION_CONFIG, config.to_json())
            await self.store.replication_queue_bucket(bucket.name)
        return count


def _bucket(doc: dict) -> Bucket:
    return Bucket(doc["name"], float(doc["created"]), doc["location"], doc["owner"], shared_config(doc["config"]))
