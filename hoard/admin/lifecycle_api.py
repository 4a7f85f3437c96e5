"""The admin API's storage-class requests: ``hoard admin usage`` (what each bucket keeps in each
storage class, as S3 bills it, and what the tiers hold) and ``hoard admin lifecycle`` (the
lifecycle worker's counts of what it did, its passes, and the restores waiting)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from hoard.admin.iam_api import json_answer
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.meta.store import MetaStore
from hoard.objects.tiering import MIN_BILLABLE
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error
from hoard.tiers import TierError, TierStore
from hoard.workers.lifecycle import LifecycleWorker, TierWorker

Handler = Callable[[Request, AuthContext], Awaitable[Response]]


async def usage_report(store: MetaStore, tiers: dict[str, TierStore], bucket: str = "") -> dict:
    """``hoard admin usage``'s document: per bucket and storage class (of one bucket, or of all:
    ""), versions and bytes, billable bytes; and what each tier holds (or why it could not say)."""
    rows = [asdict(r) for r in await store.usage(MIN_BILLABLE) if not bucket or r.bucket == bucket]
    held = []
    for tier_name, tier in sorted(tiers.items()):
        entry: dict = {"name": tier_name, "where": tier.describe()}
        try:
            used = await asyncio.to_thread(tier.usage)
            entry.update(blobs=used.objects, bytes=used.stored)
        except TierError as e:
            entry["error"] = str(e)
        held.append(entry)
    return {"classes": rows, "minimumBillable": MIN_BILLABLE, "tiers": held}


class LifecycleAdmin:
    def __init__(self, store: MetaStore, tiers: dict[str, TierStore], worker: LifecycleWorker | None, tier_worker: TierWorker | None = None) -> None:
        self.store = store
        self.tiers = tiers
        self.worker = worker
        self.tier_worker = tier_worker
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "usage"): self.usage,
            ("GET", "lifecycle"): self.status,
        }

    async def usage(self, req: Request, auth: AuthContext) -> Response:
        name = req.params.get("bucket", "")
        if name and await self.store.get_bucket(name) is None:
            raise S3Error("NoSuchBucket", BucketName=name)
        return json_answer(await usage_report(self.store, self.tiers, name), 200)

    async def status(self, req: Request, auth: AuthContext) -> Response:
        w = self.worker
        due = await self.store.next_tier_task()
        doc = {
            "actions": dict(w.stats) if w is not None else {},
            "passes": w.passes if w is not None else 0,
            "lastPass": w.last_pass if w is not None else 0.0,
            "daySeconds": w.day_seconds if w is not None else 0,
            "tiers": dict(self.tier_worker.stats) if self.tier_worker is not None else {},
            "nextTierTaskIn": round(max(0.0, due - time.time()), 3) if due is not None else None,
        }
        return json_answer(doc, 200)
