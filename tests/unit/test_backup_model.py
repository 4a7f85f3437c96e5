"""The backup's pure parts and its format on a local folder: the catalog and its points in time,
the plans of a backup run and of a restore, --as-of parsing, and the manifest's journal and chunks
read back however a run ended."""

from __future__ import annotations

import hashlib

import pytest

from hoard.backup import archive as archive_module
from hoard.backup.archive import Archive, Damaged, NotABackup, OtherSource, data_name
from hoard.backup.plan import Listed, backup_plan, remaining, wanted
from hoard.backup.records import Catalog, Version, gone_entry, run_entry
from hoard.backup.store import FolderStore, check_name
from hoard.backup.times import parse_as_of


def t(seconds: int) -> str:
    return f"2026-01-01T00:00:{seconds:02d}.000000Z"


def version(key: str, vid: str, at: int, body: bytes = b"x", marker: bool = False, run: str = "r1") -> Version:
    if marker:
        return Version(key, vid, "", t(at), delete_marker=True, run=run)
    md5 = hashlib.md5(body).hexdigest()
    return Version(key, vid, md5, t(at), size=len(body), sha256=hashlib.sha256(body).hexdigest(), md5=md5, run=run)


def catalog_of(*versions: Version, gone: dict | None = None) -> Catalog:
    catalog = Catalog()
    for v in versions:
        catalog.add(v.to_json())
    for v, at in (gone or {}).items():
        catalog.add(gone_entry(v.identity, at, "r2"))
    return catalog


def test_as_of_takes_each_keys_newest_version_then():
    a1, a2, dm = version("a", "1", 1, b"one"), version("a", "2", 5, b"two"), version("a", "3", 9, marker=True)
    b1 = version("b", "1", 3)
    catalog = catalog_of(a1, a2, dm, b1)
    assert catalog.as_of(t(0)) == {}
    assert catalog.as_of(t(1)) == {"a": a1}  # at the very instant it was written
    assert catalog.as_of(t(4)) == {"a": a1, "b": b1}
    assert catalog.as_of(t(5))["a"] == a2
    assert catalog.as_of(t(9)) == {"b": b1}  # deleted by then


def test_as_of_in_a_bucket_without_versioning_uses_the_gone_times():
    # Three runs saw "k" as v1, then v2 (v1 gone), then nothing (v2 gone).
    v1, v2 = version("k", "null", 1, b"1"), version("k", "null", 20, b"2")
    catalog = catalog_of(v1, v2, gone={v1: t(30), v2: t(50)})
    assert catalog.as_of(t(10)) == {"k": v1}
    assert catalog.as_of(t(40)) == {"k": v2}
    assert catalog.as_of(t(55)) == {}
    assert catalog.present() == []


def test_entries_read_twice_count_once():
    v = version("a", "1", 1)
    catalog = catalog_of(v, v)
    catalog.add(gone_entry(v.identity, t(9), "r3"))
    catalog.add(gone_entry(v.identity, t(7), "r2"))  # the first run to miss it says when it went
    catalog.add(run_entry("r1", t(0), t(1), 1))
    catalog.add(run_entry("r1", t(0), t(1), 1))
    assert len(catalog.versions) == 1 and catalog.gone[v.identity] == t(7) and len(catalog.runs) == 1


def listed(v: Version, rank: int = 0) -> Listed:
    return Listed(v.key, v.version_id, v.etag, v.last_modified, v.size, v.delete_marker, "STANDARD", rank)


def test_backup_plan_copies_only_what_is_new_and_records_what_went():
    a1, a2, b1 = version("a", "1", 1, b"one"), version("a", "2", 2, b"two"), version("b", "1", 3)
    catalog = catalog_of(a1, b1)
    dm = version("b", "2", 4, marker=True)
    plan = backup_plan(catalog, [listed(a1), listed(a2, 1), listed(dm)])
    assert [p.version_id for p in plan.fetch] == ["2"] and plan.markers == [listed(dm)]
    assert plan.already == 1 and plan.gone == [b1.identity]
    # An overwritten key of a bucket without versioning: same version id, another ETag and time.
    n1, n2 = version("n", "null", 1, b"1"), version("n", "null", 2, b"2")
    plan = backup_plan(catalog_of(n1), [listed(n2)])
    assert plan.fetch == [listed(n2)] and plan.gone == [n1.identity]


def test_restore_plans_history_or_current_or_point_in_time():
    a1, a2, dm = version("a", "1", 1, b"one"), version("a", "2", 5, b"two"), version("a", "3", 9, marker=True)
    b1 = version("b", "1", 3)
    catalog = catalog_of(a1, a2, dm, b1)
    assert wanted(catalog, None, versioned_target=True) == {"a": [a1, a2, dm], "b": [b1]}
    assert wanted(catalog, None, versioned_target=False) == {"b": [b1]}
    assert wanted(catalog, t(6), versioned_target=True) == {"a": [a2], "b": [b1]}


def test_remaining_skips_what_the_target_already_ends_with():
    a1, a2, dm = version("a", "1", 1, b"one"), version("a", "2", 5, b"two"), version("a", "3", 9, marker=True)
    sig = {v: (v.delete_marker, v.restored_etag()) for v in (a1, a2, dm)}
    assert remaining([a1, a2, dm], []) == [a1, a2, dm]
    assert remaining([a1, a2, dm], [sig[a1]]) == [a2, dm]
    assert remaining([a1, a2, dm], [sig[a1], sig[a2], sig[dm]]) == []
    # Something else was there before: what the restore wrote comes after it.
    assert remaining([a1, a2], [(False, "other"), sig[a1]]) == [a2]
    # The same bytes twice in a row: one there, one to go.
    again = version("a", "4", 10, b"one")
    assert remaining([a1, again], [sig[a1]]) == [again]


def test_multipart_etag_of_a_restore_is_s3s():
    parts = ((5, hashlib.md5(b"aaaaa").hexdigest()), (1, hashlib.md5(b"b").hexdigest()))
    v = Version("m", "1", "", t(1), size=6, parts=parts, md5=hashlib.md5(b"aaaaab").hexdigest())
    expected = hashlib.md5(hashlib.md5(b"aaaaa").digest() + hashlib.md5(b"b").digest()).hexdigest() + "-2"
    assert v.restored_etag() == expected
    assert Version.from_json(v.to_json()) == v


@pytest.mark.parametrize(
    ("text", "stamp"),
    [
        ("1767225600", "2026-01-01T00:00:00.000000Z"),
        ("1767225600.5", "2026-01-01T00:00:00.500000Z"),
        ("2026-01-01", "2026-01-01T00:00:00.000000Z"),
        ("2026-01-01T12:00:00Z", "2026-01-01T12:00:00.000000Z"),
        ("2026-01-01T14:00:00+02:00", "2026-01-01T12:00:00.000000Z"),
        ("2026-01-01 12:00:00.25", "2026-01-01T12:00:00.250000Z"),
    ],
)
def test_as_of_accepts_iso_8601_and_unix_seconds(text, stamp):
    assert parse_as_of(text) == stamp


@pytest.mark.parametrize("text", ["yesterday", "", "2026-13-01", "-5", "1e9", "12:00"])
def test_as_of_refuses_what_is_not_a_time(text):
    with pytest.raises(ValueError, match="not a point in time"):
        parse_as_of(text)


@pytest.mark.parametrize("name", ["../x", "data/../../x", "/etc/passwd", "a//b", "A", "data/x y", "", "."])
def test_store_names_never_leave_the_folder(name):
    with pytest.raises(ValueError):
        check_name(name)


def test_manifest_survives_a_kill_between_chunk_and_journal_cleanup(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_module, "CHUNK", 3)
    store = FolderStore(tmp_path / "b")
    archive = Archive.create(store, "bkt", "pre")
    store.prepare()
    archive.load()
    versions = [version("k", str(i), i) for i in range(8)]
    for v in versions[:5]:
        archive.record(v.to_json())
    # One chunk of three, two entries still in the journal.
    assert len(store.names("manifest")) == 1 and len(store.names("journal")) == 2

    # Killed after the next chunk was written, before its journal files were removed.
    def killed(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "delete", killed)
    with pytest.raises(KeyboardInterrupt):
        archive.record(versions[5].to_json())
    monkeypatch.undo()
    monkeypatch.setattr(archive_module, "CHUNK", 3)
    assert len(store.names("manifest")) == 2 and len(store.names("journal")) == 3

    again = Archive.open(store)
    catalog = again.load()
    assert sorted(v.version_id for v in catalog.versions.values()) == [str(i) for i in range(6)]
    again.record(versions[6].to_json())
    again.record(versions[5].to_json())  # a version copied again by the next run counts once
    again.checkpoint()
    assert store.names("journal") == []
    catalog = Archive.open(store).load()
    assert sorted(v.version_id for v in catalog.versions.values()) == [str(i) for i in range(7)]
    with pytest.raises(RuntimeError):
        Archive.open(store).record(versions[7].to_json())  # a manifest written unread would be overwritten


def test_a_damaged_journal_entry_is_named(tmp_path):
    store = FolderStore(tmp_path / "b")
    archive = Archive.create(store, "bkt", "")
    archive.load()
    archive.record(version("k", "1", 1).to_json())
    name = store.names("journal")[0]
    path = tmp_path / "b" / name
    path.write_bytes(path.read_bytes().replace(b'"k"', b'"K"'))
    with pytest.raises(Damaged):
        Archive.open(store).load()


def test_a_chunk_changed_afterwards_is_damage(tmp_path):
    store = FolderStore(tmp_path / "b")
    archive = Archive.create(store, "bkt", "")
    archive.load()
    archive.record(version("k", "1", 1).to_json())
    archive.checkpoint()
    name = store.names("manifest")[0]
    path = tmp_path / "b" / name
    path.write_bytes(path.read_bytes().replace(b'"k"', b'"K"'))
    problems: list[str] = []
    Archive.open(store).load(problems)
    assert problems == [f"{name}: its SHA-256 does not match: damaged"]


def test_a_backup_of_one_bucket_is_not_reused_for_another(tmp_path):
    store = FolderStore(tmp_path / "b")
    Archive.create(store, "bkt", "photos/")
    assert Archive.create(store, "bkt", "photos/").prefix == "photos/"
    with pytest.raises(OtherSource, match="holds the backup of 'bkt/photos/'"):
        Archive.create(store, "other", "")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(NotABackup, match="neither empty nor a Hoard backup"):
        Archive.create(FolderStore(tmp_path / "c"), "bkt", "")
    with pytest.raises(NotABackup, match="is not a Hoard backup"):
        Archive.open(FolderStore(tmp_path / "c"))


def test_data_files_are_content_addressed_and_written_once(tmp_path):
    store = FolderStore(tmp_path / "b")
    archive = Archive.create(store, "bkt", "")
    store.prepare()
    sha = hashlib.sha256(b"hello").hexdigest()
    for expected in (True, False):
        temp, out = store.new_temp()
        with out:
            out.write(b"hello")
        assert archive.add_data(temp, sha) is expected
        assert not temp.exists()
    assert (tmp_path / "b" / data_name(sha)).read_bytes() == b"hello"
    assert list((tmp_path / "b" / "tmp").iterdir()) == []


def test_a_damaged_configuration_file_is_named(tmp_path):
    store = FolderStore(tmp_path / "b")
    archive = Archive.create(store, "bkt", "")
    assert archive.save_config("r1", t(1), {"versioning": {"Status": "Enabled"}})
    assert not archive.save_config("r2", t(2), {"versioning": {"Status": "Enabled"}})  # unchanged: not kept twice
    assert archive.save_config("r3", t(3), {})
    assert archive.config_as_of(t(2)) == {"versioning": {"Status": "Enabled"}} and archive.config_as_of(None) == {}
    (tmp_path / "b" / "config" / "r1.json").write_text("{ torn")
    assert archive.config_problems() == ["config/r1.json: not JSON: damaged"]


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def iter_chunks(self, size: int):
        for i in range(0, len(self.data), size):
            yield self.data[i : i + size]


class _Bucket:
    """A stand-in for an S3 client's GetObject over one multipart object, with or without
    partNumber reads."""

    def __init__(self, parts: list[bytes], part_numbers: bool = True) -> None:
        self.parts = parts
        self.part_numbers = part_numbers
        self.calls: list[dict] = []

    def get_object(self, **args):
        self.calls.append(args)
        whole = b"".join(self.parts)
        common = {"ResponseMetadata": {"HTTPHeaders": {"content-type": "video/mp4"}}, "Metadata": {"a": "b"}}
        if "PartNumber" in args and self.part_numbers:
            body = self.parts[args["PartNumber"] - 1]
            return {**common, "Body": _Body(body), "ContentLength": len(body), "PartsCount": len(self.parts)}
        return {**common, "Body": _Body(whole), "ContentLength": len(whole)}


def _multipart_etag(parts: list[bytes]) -> str:
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"


def test_an_object_in_parts_is_read_part_by_part(tmp_path):
    import io

    from hoard.backup import source

    parts = [b"a" * 10, b"b" * 3]
    listed = Listed("k", "v1", _multipart_etag(parts), t(1), size=13)
    bucket = _Bucket(parts)
    out = io.BytesIO()
    got = source.fetch(bucket, "bkt", listed, out)
    assert out.getvalue() == b"".join(parts) and [c["PartNumber"] for c in bucket.calls] == [1, 2]
    assert got.parts == tuple((len(p), hashlib.md5(p).hexdigest()) for p in parts)
    assert got.restored_etag() == listed.etag and got.headers == (("content-type", "video/mp4"),)
    # A server that ignores partNumber answers the whole object: read once, restored in one PUT.
    plain = _Bucket(parts, part_numbers=False)
    out = io.BytesIO()
    got = source.fetch(plain, "bkt", listed, out)
    assert out.getvalue() == b"".join(parts) and len(plain.calls) == 1 and got.parts == ()
    assert got.restored_etag() == hashlib.md5(b"".join(parts)).hexdigest()
    # Bytes that do not make the listed ETag are not taken.
    with pytest.raises(source.Changed):
        source.fetch(_Bucket([b"a" * 10, b"c" * 3]), "bkt", listed, io.BytesIO())
