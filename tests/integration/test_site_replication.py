"""Site replication between two real Hoard servers: users, keys, policies and buckets (with their
configurations) the same on both, every versioned bucket's versions replicated both ways, a site
that was down catching up, a bucket deleted on one site deleted on the other; and a site that
does not share the group's keys refused."""

from __future__ import annotations

import base64
import json
import os

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, wait_for
from tests.integration.test_iam_admin import client, refused

WAIT = 60.0
SHARED = {"HOARD_SECRETS_KEY": base64.b64encode(os.urandom(32)).decode()}


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    base = tmp_path_factory.mktemp("sites")
    for name in ("east", "west", "stranger"):
        (base / name).mkdir()
    east = HoardServer(base / "east" / "data", env_extra=dict(SHARED)).start()
    west = HoardServer(base / "west" / "data", env_extra=dict(SHARED)).start()
    stranger = HoardServer(base / "stranger" / "data").start()  # its own secrets key
    try:  # the servers stop even when the setup fails
        east.admin("site", "add", "west", west.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
        west.admin("site", "add", "east", east.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
        yield east, west, stranger
    finally:
        for site in (east, west, stranger):
            site.stop()
    for site in (east, west, stranger):
        assert "Traceback" not in site.log(), site.log()[-5000:]


def has_bucket(site: HoardServer, name: str) -> bool:
    return name in [b["Name"] for b in site.client().list_buckets()["Buckets"]]


def test_a_site_that_does_not_share_the_groups_keys_is_refused(group):
    east, _, stranger = group
    assert "secrets key" in refused(east, "site", "add", "stranger", stranger.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)


def test_users_and_buckets_are_the_same_on_both_sites(group):
    east, west, _ = group
    east.admin("user", "add", "traveller")
    east.admin("policy", "attach", "readwrite", "--user", "traveller")
    key = json.loads(east.admin("key", "create", "--user", "traveller", "--json").stdout)
    s3 = east.client()
    s3.create_bucket(Bucket="shared-docs")
    s3.put_bucket_versioning(Bucket="shared-docs", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket="shared-docs", Tagging={"TagSet": [{"Key": "team", "Value": "blue"}]})
    s3.put_object(Bucket="shared-docs", Key="from-east", Body=b"written in the east")
    # The user's key works on the other site; the bucket is there, with its configuration and versions.
    on_west = client(west, key["access_key"], key["secret_key"])
    assert wait_for(lambda: _reads(on_west, "shared-docs", "from-east") == b"written in the east", WAIT)
    assert west.client().get_bucket_tagging(Bucket="shared-docs")["TagSet"] == [{"Key": "team", "Value": "blue"}]
    assert west.client().get_bucket_versioning(Bucket="shared-docs")["Status"] == "Enabled"
    # And back: a write on the west reaches the east, a configuration changed there too.
    on_west.put_object(Bucket="shared-docs", Key="from-west", Body=b"written in the west")
    west.client().put_bucket_tagging(Bucket="shared-docs", Tagging={"TagSet": [{"Key": "team", "Value": "green"}]})
    assert wait_for(lambda: _reads(s3, "shared-docs", "from-west") == b"written in the west", WAIT)
    assert wait_for(lambda: s3.get_bucket_tagging(Bucket="shared-docs")["TagSet"] == [{"Key": "team", "Value": "green"}], WAIT)
    listed = json.loads(east.admin("site", "list", "--json").stdout)["sites"]
    assert [(s["name"], s["ok"]) for s in listed] == [("west", True)]


def test_a_site_that_was_down_catches_up_and_deletions_follow(group):
    east, west, _ = group
    west.stop()
    east.admin("user", "add", "latecomer")
    east.client().create_bucket(Bucket="made-while-away")
    west.start()
    assert wait_for(lambda: has_bucket(west, "made-while-away"), WAIT)
    assert wait_for(lambda: west.admin("user", "info", "latecomer", check=False).returncode == 0, WAIT)
    # A bucket deleted on one site goes on the other too (it is empty there).
    east.client().delete_bucket(Bucket="made-while-away")
    assert wait_for(lambda: not has_bucket(west, "made-while-away"), WAIT)
    assert not has_bucket(east, "made-while-away")  # and is not brought back


def _reads(s3, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError:
        return None
