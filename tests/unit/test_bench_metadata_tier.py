"""The metadata tier benchmark's pure parts (benchmarks/metadata_tier.py): the rows it writes are
the store's own, and each floor is judged on its figure, with the ratio to PostgreSQL alone."""

from __future__ import annotations

from benchmarks import metadata_tier
from hoard.meta.rows import object_from_row, object_row

FIGURES = {
    "raw_upserts_per_s": 1600.0, "writes_per_s": 2600.0, "raw_lookups_per_s": 5000.0, "lookups_per_s": 1000.0,
    "list_keys": 1_000_000, "list_p50_ms": 4.0, "list_p95_ms": 9.0, "raw_list_p50_ms": 2.0,
    "failover_promoted_s": 11.0, "failover_first_write_s": 31.0,
}  # fmt: skip


def test_a_record_is_a_row_the_store_reads_back():
    record = metadata_tier.record("k/1")
    assert object_from_row(object_row(record)) == record
    assert record.placement.pool == 0 and record.seq and record.data_id != metadata_tier.record("k/1").data_id


def test_each_floor_is_judged_on_its_own_figure():
    verdicts = {name.split(" ")[0]: (met, measured) for name, met, measured in metadata_tier.verdicts(FIGURES)}
    assert verdicts["committed"] == (True, "2,600/s (162% of PostgreSQL alone, 1,600/s)")
    assert verdicts["lookups/s"][0] is False and "20% of PostgreSQL alone" in verdicts["lookups/s"][1]
    assert verdicts["1,000-key"][0] is True and "p50 4.0 ms" in verdicts["1,000-key"][1]
    assert verdicts["failover:"][0] is False  # 31 s from the death to the first committed write
