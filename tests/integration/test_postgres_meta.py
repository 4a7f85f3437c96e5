"""``hoard server --meta postgresql://...``: a real server whose index is a real PostgreSQL
database (started by the session, tests/postgres_server.py), driven with boto3: objects,
versions, multipart uploads and listings served from it, across restarts and worker processes;
a deployment moving its index off SQLite gets every object back from the drives; a database
holding another deployment's index is refused, never overwritten."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

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
