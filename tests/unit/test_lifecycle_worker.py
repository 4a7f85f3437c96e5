"""The lifecycle worker's pass over a real index and real drives (no server): it starts where the
saved cursor says, so a restart goes on where the last pass stopped, and it keeps its counts."""

from __future__ import annotations

import asyncio
import json
import time

from hoard.lifecycle.rules import LIFECYCLE_CONFIG, Filter, LifecycleConfig, Rule
from hoard.meta.sqlite import SqliteMetaStore
from hoard.model import Bucket, ObjectRecord, Placement, Segment
from hoard.objects.data import ObjectData
from hoard.storage.pool import Storage
from hoard.workers.lifecycle import CURSOR_SETTING, STATS_SETTING, LifecycleWorker


def test_a_pass_starts_at_the_saved_cursor_and_the_next_one_from_the_start(tmp_path):
    storage = Storage([tmp_path / "disk"])
    storage.lock()
    storage.open()
    store = SqliteMetaStore(tmp_path / "meta.db")
    data = ObjectData(storage, lambda record: None)
    rule = Rule(id="tmp", enabled=True, filter=Filter(prefix="x/"), expiration_days=1)
    config = LifecycleConfig((rule,)).to_json()
    old = time.time() - 3600

    def version(key: str) -> ObjectRecord:
        return ObjectRecord(
            bucket="bkt", key=key, size=0, etag='"e"', last_modified=old, storage_class="STANDARD", headers={},
            segments=(Segment("", 0),), placement=Placement(0, 1, 0, (0,)), data_id=f"rec-{key.replace('/', '-')}",
        )  # fmt: skip

    async def scenario() -> tuple[list[str], list[str], dict]:
        await store.create_bucket(Bucket("bkt", old, "us-east-1", "owner", {LIFECYCLE_CONFIG: config}))
        for i in range(10):
            await store.put_object(version(f"x/{i}"))
        await store.put_object(version("kept"))
        worker = LifecycleWorker(store, data, day_seconds=1.0, rate=10_000)
        # As a pass stopped by a crash after x/4 leaves it.
        store.set_setting_sync(CURSOR_SETTING, json.dumps(["bkt", "x/4"]))
        await worker.run_once()
        after_first = [e.key for e in (await store.list_objects("bkt", "", "", "", 100)).entries]
        assert json.loads(store.get_setting_sync(CURSOR_SETTING)) == ["", ""]  # a whole pass done
        await worker.run_once()
        after_second = [e.key for e in (await store.list_objects("bkt", "", "", "", 100)).entries]
        return after_first, after_second, json.loads(store.get_setting_sync(STATS_SETTING))

    try:
        first, second, stats = asyncio.run(scenario())
    finally:
        store.close()
    assert first == ["kept", "x/0", "x/1", "x/2", "x/3", "x/4"]  # only what lies after the cursor went
    assert second == ["kept"]
    assert stats["actions"]["expired"] == 10 and stats["passes"] == 2
