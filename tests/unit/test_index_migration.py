"""An index made by an older Hoard is upgraded in place when a newer one opens it."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from hoard.meta.errors import IndexVersionMismatch
from hoard.meta.sqlite import SCHEMA_VERSION, SqliteMetaStore

# The tables of schema version 2, as Hoard 0.1 made them.
V2 = """
CREATE TABLE buckets(name TEXT PRIMARY KEY, created REAL NOT NULL, location TEXT NOT NULL, owner_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE objects(
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    last_modified REAL NOT NULL, storage_class TEXT NOT NULL, headers TEXT NOT NULL,
    segments TEXT NOT NULL, multipart INTEGER NOT NULL,
    checksum_algorithm TEXT NOT NULL, checksum_value TEXT NOT NULL, checksum_type TEXT NOT NULL,
    placement TEXT NOT NULL, data_id TEXT NOT NULL, inline INTEGER NOT NULL,
    PRIMARY KEY(bucket, key)
) WITHOUT ROWID;
CREATE TABLE uploads(
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
    storage_class TEXT NOT NULL, headers TEXT NOT NULL, checksum_algorithm TEXT NOT NULL,
    checksum_type TEXT NOT NULL, owner_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE schema_version(version INTEGER NOT NULL);
INSERT INTO schema_version VALUES(2);
INSERT INTO buckets VALUES('old', 1.0, 'us-east-1', 'owner');
INSERT INTO objects VALUES('old', 'k', 1, '"e"', 2.0, 'STANDARD', '{}', '[["b", 1, "", ""]]', 0, '', '', '',
                           '[0, 1, 0, [0]]', 'rec', 1);
INSERT INTO uploads VALUES('u1', 'old', 'k', 3.0, 'STANDARD', '{}', '', '', 'owner');
"""


def test_a_version_2_index_is_upgraded_and_keeps_its_contents(tmp_path):
    path = tmp_path / "meta.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V2)
    store = SqliteMetaStore(path)
    try:
        loop = asyncio.new_event_loop()
        bucket = loop.run_until_complete(store.get_bucket("old"))
        assert bucket.config == {} and bucket.owner_id == "owner"
        obj = loop.run_until_complete(store.get_object("old", "k"))
        assert obj.tags == () and obj.data_id == "rec" and obj.inline
        assert obj.encryption is None and obj.stored_size == obj.size == 1  # schema 8: kept as sent
        assert loop.run_until_complete(store.get_upload("u1")).tags == ()
        assert loop.run_until_complete(store.get_upload("u1")).encryption is None
        loop.run_until_complete(store.set_bucket_config("old", "tagging", [["a", "b"]]))
        loop.close()
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_an_index_from_a_newer_hoard_is_refused(tmp_path):
    path = tmp_path / "meta.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V2)
        conn.execute("UPDATE schema_version SET version=?", (SCHEMA_VERSION + 1,))
    with pytest.raises(IndexVersionMismatch):
        SqliteMetaStore(path)
