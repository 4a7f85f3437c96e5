"""``hoard server --meta postgresql://...``: a real server whose index is a real PostgreSQL
database (started by the session, tests/postgres_server.py), driven with boto3: objects,
versions, multipart uploads and listings served from it, across restarts and worker processes;
a deployment moving its index off SQLite gets every object back from the drives; a database
holding another deployment's index is refused, never overwritten."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.conftest import HoardServer, free_port
from tests.integration.test_settings import clean_env

MiB = 1024 * 1024


def pg_url(conninfo: str) -> str:
    """The URL form of a libpq connection string, as users write HOARD_META."""
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    return f"postgresql://{info['user']}@{info['host']}:{info['port']}/{info['dbname']}"


def test_a_server_on_postgresql_serves_and_keeps_everything(tmp_path, postgres_db):
    env = {"HOARD_META": pg_url(postgres_db)}
    server = HoardServer(tmp_path / "data", env_extra=env, extra_args=["--workers", "2"]).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="pg-bucket")
        s3.put_bucket_versioning(Bucket="pg-bucket", VersioningConfiguration={"Status": "Enabled"})
        first = s3.put_object(Bucket="pg-bucket", Key="dir/a", Body=b"one")["VersionId"]
        s3.put_object(Bucket="pg-bucket", Key="dir/a", Body=b"two")
        for i in range(30):
            s3.put_object(Bucket="pg-bucket", Key=f"many/{i:03d}", Body=b"x")
        upload = s3.create_multipart_upload(Bucket="pg-bucket", Key="big")
        parts = [os.urandom(5 * MiB), b"end"]
        done = [
            {"ETag": s3.upload_part(Bucket="pg-bucket", Key="big", UploadId=upload["UploadId"], PartNumber=n, Body=b)["ETag"], "PartNumber": n}
            for n, b in enumerate(parts, 1)
        ]
        s3.complete_multipart_upload(Bucket="pg-bucket", Key="big", UploadId=upload["UploadId"], MultipartUpload={"Parts": done})
        page = s3.list_objects_v2(Bucket="pg-bucket", Prefix="many/", MaxKeys=10)
        assert [o["Key"] for o in page["Contents"]] == [f"many/{i:03d}" for i in range(10)] and page["IsTruncated"]
        assert s3.list_objects_v2(Bucket="pg-bucket", Delimiter="/")["CommonPrefixes"] == [{"Prefix": "dir/"}, {"Prefix": "many/"}]
        # The index is the database's: the rows are there.
        with psycopg.connect(postgres_db) as conn:
            assert conn.execute("SELECT count(*) FROM objects WHERE bucket = 'pg-bucket'").fetchone()[0] == 32
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]
    again = HoardServer(server.data_dir, port=server.port, env_extra=env).start()
    try:
        s3 = again.client()
        assert s3.get_object(Bucket="pg-bucket", Key="dir/a")["Body"].read() == b"two"
        assert s3.get_object(Bucket="pg-bucket", Key="dir/a", VersionId=first)["Body"].read() == b"one"
        assert s3.get_object(Bucket="pg-bucket", Key="big")["Body"].read() == b"".join(parts)
        assert s3.list_objects_v2(Bucket="pg-bucket")["KeyCount"] == 32
    finally:
        again.stop()


def test_moving_the_index_off_sqlite_brings_every_object_back(tmp_path, postgres_db):
    server = HoardServer(tmp_path / "data").start()
    s3 = server.client()
    s3.create_bucket(Bucket="moving")
    for i in range(12):
        s3.put_object(Bucket="moving", Key=f"k{i}", Body=f"v{i}".encode())
    server.stop()
    moved = HoardServer(server.data_dir, port=server.port, env_extra={"HOARD_META": postgres_db}).start()
    try:
        s3 = moved.client()
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="moving")["Contents"]) == sorted(f"k{i}" for i in range(12))
        assert s3.get_object(Bucket="moving", Key="k7")["Body"].read() == b"v7"
    finally:
        moved.stop()
    assert "rebuilt" in moved.log()


def test_a_database_holding_another_deployments_index_is_refused(tmp_path, postgres_db):
    first = HoardServer(tmp_path / "one", env_extra={"HOARD_META": postgres_db}).start()
    first.client().create_bucket(Bucket="theirs")
    first.stop()
    env = {**clean_env(), "HOARD_META": postgres_db, "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    refused = subprocess.run(
        [sys.executable, "-m", "hoard", "server", "--address", f"127.0.0.1:{free_port()}", "--console-address", "off", str(tmp_path / "two")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "holds index" in refused.stderr and "another deployment" in refused.stderr, refused.stderr
    with psycopg.connect(postgres_db) as conn:  # nothing of the first deployment's was touched
        assert conn.execute("SELECT name FROM buckets").fetchall() == [("theirs",)]


@pytest.mark.parametrize("value", ["mysql://db/hoard", "not a url"])
def test_a_meta_setting_that_is_no_postgresql_database_is_refused(tmp_path, value):
    env = {**clean_env(), "HOARD_META": value, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    refused = subprocess.run([sys.executable, "-m", "hoard", "server", str(tmp_path / "data")], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "HOARD_META" in refused.stderr, refused.stderr


def test_an_unreachable_database_is_said_in_one_line(tmp_path):
    env = {**clean_env(), "HOARD_META": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    refused = subprocess.run(
        [sys.executable, "-m", "hoard", "server", "--address", f"127.0.0.1:{free_port()}", "--console-address", "off", str(tmp_path / "data")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0 and "cannot use the metadata database" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def _timed_put(s3, key: str) -> tuple[int, str, float]:
    """(status, error code, seconds) of one PUT, not retried."""
    started = time.monotonic()
    try:
        s3.put_object(Bucket="outage", Key=key, Body=b"x" * 1000)
        return 200, "", time.monotonic() - started
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], time.monotonic() - started


def test_a_database_outage_is_waited_out_for_one_window_then_answered_503_at_once_until_it_is_back(tmp_path):
    """The index's database dies under a server (its own PostgreSQL here, not the session's).
    A request made then waits for it through the retry window (a failover would end within it)
    and is answered 503; once the outage has outlasted the window, every request is answered
    503 in a second or two, not after a window of its own per call; and the database back, the
    server uses it again within seconds, however long the outage lasted."""
    from tests.postgres_server import PostgresServer

    window = 6.0
    database = PostgresServer()
    database.start()
    try:
        env = {"HOARD_META": pg_url(database.create_database()), "HOARD_META_RETRY_SECONDS": str(window)}
        server = HoardServer(tmp_path / "data", env_extra=env).start()
        try:
            s3 = server.client(read_timeout=120)
            s3.create_bucket(Bucket="outage")
            s3.put_object(Bucket="outage", Key="kept", Body=b"acknowledged")
            database.halt()
            down = time.monotonic()
            first = _timed_put(s3, "first")
            assert first[:2] == (503, "ServiceUnavailable"), first
            # Its calls share one window (before: each waited out the pool's timeout, 10 s).
            assert first[2] <= window + 4, first
            time.sleep(max(0.0, down + window + 1 - time.monotonic()))
            later = [_timed_put(s3, f"later{i}") for i in range(3)]
            assert all(a[:2] == (503, "ServiceUnavailable") and a[2] <= 3.5 for a in later), later
            # Long enough that the pool's own reconnection backoff (1, 2, 4, 8, 16 s ...) would
            # next try at about 31 s: the store gives it up after RECONNECT_SECONDS.
            time.sleep(max(0.0, down + 18 - time.monotonic()))
            database.resume()
            back = time.monotonic()
            while (answer := _timed_put(s3, "after"))[0] != 200:
                assert answer[:2] == (503, "ServiceUnavailable"), answer
                assert time.monotonic() - back < 10, "the database back, writes did not resume within 10 s"
                time.sleep(0.2)
            assert s3.get_object(Bucket="outage", Key="kept")["Body"].read() == b"acknowledged"
            keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="outage")["Contents"])
            assert keys == ["after", "kept"], keys  # nothing refused was kept
        finally:
            server.stop()
        assert "Traceback" not in server.log(), server.log()[-3000:]
    finally:
        database.stop()
