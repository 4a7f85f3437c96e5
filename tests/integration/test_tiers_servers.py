"""Archival tiers as an operator sets them up: the cold tier in a bucket of another Hoard (a
remote), a server killed while the lifecycle worker moves bytes, and an index rebuilt from the
drives after archiving."""

from __future__ import annotations

import os
import sys
import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, free_port

BIG = 300 * 1024


def wait_until(predicate, timeout: float = 30.0, every: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {timeout} s")


def archived_count(s3, bucket: str, srv: HoardServer) -> int:
    import json

    doc = json.loads(srv.admin("usage", bucket, "--json").stdout)
    return sum(r["archived"] for r in doc["classes"])


def test_cold_tier_in_a_bucket_of_another_hoard(tmp_path):
    vault = HoardServer(tmp_path / "vault").start()
    site = HoardServer(tmp_path / "site", env_extra={"HOARD_RECLAIM_GRACE": "0"})
    try:
        vault.client().create_bucket(Bucket="cold-store")
        # The remote is kept on the site's drives; the tier that names it is set at start.
        site.start()
        site.admin("remote", "add", "vault", vault.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
        site.stop()
        site.env_extra["HOARD_TIER_COLD"] = "remote:vault/cold-store/tier"
        site.start()
        s3 = site.client()
        s3.create_bucket(Bucket="photos")
        bodies = {f"img-{i}": os.urandom(BIG) for i in range(3)}
        for key, body in bodies.items():
            s3.put_object(Bucket="photos", Key=key, Body=body, StorageClass="GLACIER_IR")
        wait_until(lambda: archived_count(s3, "photos", site) == 3)
        stored = vault.client().list_objects_v2(Bucket="cold-store", Prefix="tier/")["Contents"]
        assert len(stored) == 3 and all(o["Key"].endswith(".tb") for o in stored)
        for key, body in bodies.items():
            assert s3.get_object(Bucket="photos", Key=key)["Body"].read() == body
            assert s3.get_object(Bucket="photos", Key=key, Range="bytes=100-199")["Body"].read() == body[100:200]
        assert "remote:vault" in site.admin("usage").stdout or "cold-store" in site.admin("usage").stdout

        # The vault down: reads of archived bytes fail with a clean error, nothing else is hurt.
        vault.stop()
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket="photos", Key="img-0")["Body"].read()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        s3.put_object(Bucket="photos", Key="plain", Body=b"still works")
        assert s3.get_object(Bucket="photos", Key="plain")["Body"].read() == b"still works"
        vault.start()
        assert s3.get_object(Bucket="photos", Key="img-0")["Body"].read() == bodies["img-0"]

        # Deleting an archived object removes its blob from the vault (after the reclaim grace).
        s3.delete_object(Bucket="photos", Key="img-1")
        wait_until(lambda: len(vault.client().list_objects_v2(Bucket="cold-store", Prefix="tier/").get("Contents", [])) == 2, timeout=60)
    finally:
        site.stop()
        vault.stop()
    assert "Traceback" not in site.log()


def test_a_tier_naming_an_unknown_remote_stops_the_start(tmp_path):
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_TIER_COLD": "remote:nowhere/bucket"})
    with pytest.raises(RuntimeError) as e:
        srv.start(timeout=20)
    assert "no remote named 'nowhere'" in str(e.value)


def test_killed_while_archiving_loses_nothing_and_a_rebuilt_index_keeps_the_tier(tmp_path):
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_RECLAIM_GRACE": "0"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="logs")
        bodies = {f"day-{i:02d}": os.urandom(BIG // 2) + b"\n" * (BIG // 2) for i in range(24)}
        for key, body in bodies.items():
            s3.put_object(Bucket="logs", Key=key, Body=body, StorageClass="GLACIER_IR")
        # Kill it while the worker is moving them (some moved, some not).
        wait_until(lambda: 0 < archived_count(s3, "logs", srv), every=0.05)
        srv.kill()
        srv.start()
        s3 = srv.client()
        for key, body in bodies.items():
            assert s3.get_object(Bucket="logs", Key=key)["Body"].read() == body, key
        wait_until(lambda: archived_count(s3, "logs", srv) == len(bodies))
        for key, body in bodies.items():
            assert s3.get_object(Bucket="logs", Key=key)["Body"].read() == body, key

        # The index rebuilt from the drives' records knows where every archived version is.
        srv.admin("rebuild-index")
        for key, body in bodies.items():
            assert s3.get_object(Bucket="logs", Key=key)["Body"].read() == body, key
        assert archived_count(s3, "logs", srv) == len(bodies)
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_with_two_worker_processes_restores_and_rules_run_once(tmp_path):
    """Requests reach either worker; the leader alone moves bytes, makes restores ready and applies
    rules, and every worker sees the result."""
    srv = HoardServer(
        tmp_path / "data", extra_args=["--workers", "2"],
        env_extra={"HOARD_LIFECYCLE_DAY_SECONDS": "0.2", "HOARD_RESTORE_EXPEDITED_SECONDS": "0.2"},
    ).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="two")
        body = os.urandom(BIG)
        s3.put_object(Bucket="two", Key="frozen", Body=body, StorageClass="GLACIER")
        wait_until(lambda: archived_count(s3, "two", srv) == 1)
        assert s3.restore_object(Bucket="two", Key="frozen", RestoreRequest={"Days": 500, "Tier": "Expedited"})["ResponseMetadata"]["HTTPStatusCode"] == 202
        wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket="two", Key="frozen").get("Restore", ""))
        for _ in range(6):  # several requests: both workers serve the restored copy
            assert s3.get_object(Bucket="two", Key="frozen")["Body"].read() == body
        # In place: a copy onto itself changes the class (the bytes then move to the tier).
        s3.put_object(Bucket="two", Key="warm", Body=body)
        s3.copy_object(Bucket="two", Key="warm", CopySource={"Bucket": "two", "Key": "warm"}, StorageClass="GLACIER_IR")
        assert s3.head_object(Bucket="two", Key="warm")["StorageClass"] == "GLACIER_IR"
        wait_until(lambda: archived_count(s3, "two", srv) == 2)
        assert s3.get_object(Bucket="two", Key="warm")["Body"].read() == body
        s3.put_bucket_lifecycle_configuration(
            Bucket="two", LifecycleConfiguration={"Rules": [{"ID": "x", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]}
        )
        for i in range(10):
            s3.put_object(Bucket="two", Key=f"tmp/{i}", Body=b"t")
        wait_until(lambda: not s3.list_objects_v2(Bucket="two", Prefix="tmp/").get("Contents"))
        import json

        status = json.loads(srv.admin("lifecycle", "--json").stdout)
        assert status["actions"]["expired"] == 10  # each once, by the leader alone
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="two")["Contents"]) == ["frozen", "warm"]
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_a_data_folder_given_relative_has_its_cold_tier_beside_it(tmp_path):
    """The quick start's ``hoard server ./data``: the default cold tier is found from the relative
    folder (a tier path must be absolute), and archived bytes land beside ``.hoard``."""
    port = free_port()
    srv = HoardServer(tmp_path / "data", argv=[sys.executable, "-m", "hoard", "server", "--address", f"127.0.0.1:{port}", "./data"], cwd=tmp_path)
    srv.port = port
    srv.start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="rel")
        body = os.urandom(BIG)
        s3.put_object(Bucket="rel", Key="cold", Body=body, StorageClass="GLACIER_IR")
        wait_until(lambda: list((tmp_path / "data" / ".hoard-tiers" / "cold" / "rel").glob("*.tb")))
        assert s3.get_object(Bucket="rel", Key="cold")["Body"].read() == body
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()
