"""The versioned-bucket page workloads: counting a page's entries, the middle markers, the
PutBucketVersioning document, and the 20 % target between the small and the big bucket.
Pure helpers only: nothing starts."""

from __future__ import annotations

import base64
import hashlib

from benchmarks import targets
from benchmarks.workloads import count_versions, plan_for, version_key, version_marker_of, versioning_body, workloads

PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult><Name>b</Name><KeyMarker>v0000005</KeyMarker>'
    b"<VersionIdMarker>m1</VersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
    b"<NextKeyMarker>v0000007</NextKeyMarker><NextVersionIdMarker>id4</NextVersionIdMarker>"
    b"<Version><Key>v0000006</Key><VersionId>id1</VersionId><IsLatest>true</IsLatest></Version>"
    b"<Version><Key>v0000006</Key><VersionId>id2</VersionId><IsLatest>false</IsLatest></Version>"
    b"<DeleteMarker><Key>v0000007</Key><VersionId>id3</VersionId><IsLatest>true</IsLatest></DeleteMarker>"
    b"<Version><Key>v0000007</Key><VersionId>id4</VersionId><IsLatest>false</IsLatest></Version>"
    b"</ListVersionsResult>"
)


def test_a_page_counts_versions_and_delete_markers_not_the_marker_elements() -> None:
    assert count_versions(PAGE) == 4
    assert count_versions(b"<ListVersionsResult><IsTruncated>false</IsTruncated></ListVersionsResult>") == 0


def test_the_version_marker_is_in_the_middle_of_the_key_listing() -> None:
    assert version_marker_of(PAGE) == "id3"


def test_versioning_document_carries_its_content_md5() -> None:
    doc, headers = versioning_body()
    assert b"<Status>Enabled</Status>" in doc
    assert base64.b64decode(headers["content-md5"]) == hashlib.md5(doc).digest()


def test_keys_sort_in_number_order() -> None:
    # Fixed width: the prefix of one key matches no other, and the middle key is in the middle.
    assert sorted(version_key(i) for i in (10, 9, 100)) == [version_key(9), version_key(10), version_key(100)]


def test_quick_mode_has_both_versioned_buckets_named_by_size() -> None:
    plan = plan_for(True)
    by_key = {w.key: w for w in workloads(plan)}
    assert by_key["versions-small"].peer and "1,000-version bucket" in by_key["versions-small"].title
    big = by_key["versions-big"]
    assert not big.peer and big.note and f"{plan.big_versions:,}-version bucket" in big.title
    assert plan.big_versions % plan.versions_per_key == 0 and plan.versions % plan.versions_per_key == 0
    assert plan_for(False).big_versions == 1_000_000


def _rows(small: float | None, big: float | None, errors: int = 0) -> list[dict]:
    def row(key: str, p50: float | None) -> dict:
        hoard = {"p50_ms": p50, "errors": errors, "peak_rss_mib": 1.0, "peak_pss_mib": 1.0} if p50 is not None else None
        return {"workload": key, "title": key, "peer": None, "note": "n", "hoard": hoard, "throughput_ratio": None, "cpu_ratio": None}

    return [row("versions-small", small), row("versions-big", big)]


def _target(rows: list[dict], big: int = 100_000) -> dict:
    plan = {"versions": 1000, "big_versions": big}
    (row,) = [t for t in targets.evaluate(rows, {}, None, plan) if t["key"] == "versions:versions-big"]
    return row


def test_versions_target_within_20_percent() -> None:
    t = _target(_rows(20.0, 23.0))
    assert t["met"] is True and "+15%" in t["measured"] and "100,000-version" in t["target"]
    assert _target(_rows(20.0, 25.0))["met"] is False
    assert _target(_rows(20.0, 15.0))["met"] is False  # -25 %: not "as fast" either way


def test_versions_target_with_errors_or_unmeasured() -> None:
    assert _target(_rows(20.0, 21.0, errors=3))["met"] is False
    t = _target(_rows(20.0, None), big=0)
    assert t["met"] is None and "not measured" in t["measured"]
    # Reports evaluated again without a plan (bounds.py) still get the row.
    assert any(t["key"] == "versions:versions-big" for t in targets.evaluate(_rows(1.0, 1.0), {}, None))
