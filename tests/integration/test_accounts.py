"""Accounts: separate owners of buckets and objects, made with ``hoard admin account``, and what one
account's users may do to another's buckets (nothing, until that account's bucket policy or ACLs
let them in), driven through real boto3 clients against a real server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import HoardServer
from tests.integration.test_iam_admin import admin, admin_json, client, code_of, refused

PARTNER_EMAIL = "ops@partner.example"


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> HoardServer:
    base = tmp_path_factory.mktemp("accounts")
    server = HoardServer(base / "data", extra_args=["--workers", "2"]).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-5000:]


def make_user(srv: HoardServer, name: str, account: str = "", policy: str = "readwrite"):
    admin(srv, "user", "add", name, *(["--account", account] if account else []))
    admin(srv, "policy", "attach", policy, "--user", name)
    key = admin_json(srv, "key", "create", "--user", name)
    return client(srv, key["access_key"], key["secret_key"])


@pytest.fixture(scope="module")
def parties(srv):
    """The deployment's root, a user of its own account, and a user of a second account."""
    made = admin_json(srv, "account", "add", "partner", "--email", PARTNER_EMAIL)
    assert len(made["account_id"]) == 12 and len(made["canonical_id"]) == 64
    return {
        "root": srv.client(),
        "main": make_user(srv, "main-user"),
        "partner": make_user(srv, "partner-user", "partner"),
        "partner_id": made["canonical_id"],
    }


def owner_of(s3, **where) -> str:
    return s3.get_object_acl(**where)["Owner"]["ID"]


def test_accounts_are_managed_with_the_admin_cli(srv, parties):
    listed = admin_json(srv, "account", "list")
    assert [a["name"] for a in listed["accounts"]] == ["partner"]
    assert listed["deployment"]["canonical_id"] != parties["partner_id"]
    info = admin_json(srv, "account", "info", "partner")
    assert info["users"] == ["partner-user"] and info["email"] == PARTNER_EMAIL
    assert admin_json(srv, "user", "info", "partner-user")["arn"] == f"arn:aws:iam::{info['account_id']}:user/partner-user"
    assert "EntityAlreadyExists" in refused(srv, "account", "add", "partner")
    assert "NoSuchEntity" in refused(srv, "user", "add", "ghost", "--account", "nowhere")
    assert "DeleteConflict" in refused(srv, "account", "remove", "partner")  # it has a user
    # An account that owns a bucket cannot go either; one with neither can.
    admin(srv, "account", "add", "shortlived")
    temp = make_user(srv, "shortlived-user", "shortlived")
    temp.create_bucket(Bucket="shortlived-bucket")
    admin(srv, "user", "remove", "shortlived-user")
    assert "DeleteConflict" in refused(srv, "account", "remove", "shortlived")
    assert "shortlived-bucket" not in [b["Name"] for b in parties["root"].list_buckets()["Buckets"]]
    # Removing the bucket takes its owner: nobody else may, so the operator re-adds a user.
    admin(srv, "user", "add", "shortlived-user2", "--account", "shortlived")
    admin(srv, "policy", "attach", "readwrite", "--user", "shortlived-user2")
    key = admin_json(srv, "key", "create", "--user", "shortlived-user2")
    client(srv, key["access_key"], key["secret_key"]).delete_bucket(Bucket="shortlived-bucket")
    admin(srv, "user", "remove", "shortlived-user2")
    admin(srv, "account", "remove", "shortlived")
    assert "NoSuchEntity" in refused(srv, "account", "info", "shortlived")


def test_each_account_lists_and_rules_its_own_buckets(srv, parties):
    root, main, partner = parties["root"], parties["main"], parties["partner"]
    main.create_bucket(Bucket="main-own")
    partner.create_bucket(Bucket="partner-own")
    main.put_object(Bucket="main-own", Key="k", Body=b"main data")
    partner.put_object(Bucket="partner-own", Key="k", Body=b"partner data")
    root_names = [b["Name"] for b in root.list_buckets()["Buckets"]]
    partner_listing = partner.list_buckets()
    assert "main-own" in root_names and "partner-own" not in root_names
    assert [b["Name"] for b in partner_listing["Buckets"]] == ["partner-own"]
    assert partner_listing["Owner"]["ID"] == parties["partner_id"] and partner_listing["Owner"]["DisplayName"] == "partner"
    # The deployment's users share its buckets; the partner's users do not.
    assert main.get_object(Bucket="main-own", Key="k")["Body"].read() == b"main data"
    for s3 in (root, main):
        assert code_of(lambda s3=s3: s3.get_object(Bucket="partner-own", Key="k")) == "AccessDenied"
        assert code_of(lambda s3=s3: s3.list_objects_v2(Bucket="partner-own")) == "AccessDenied"
        assert code_of(lambda s3=s3: s3.put_object(Bucket="partner-own", Key="k", Body=b"overwritten")) == "AccessDenied"
        assert code_of(lambda s3=s3: s3.delete_bucket(Bucket="partner-own")) == "AccessDenied"
    assert code_of(lambda: partner.get_object(Bucket="main-own", Key="k")) == "AccessDenied"
    assert partner.get_object(Bucket="partner-own", Key="k")["Body"].read() == b"partner data"
    # Bucket names are one namespace: another account's name is taken.
    assert code_of(lambda: partner.create_bucket(Bucket="main-own")) == "BucketAlreadyExists"


def test_an_acl_grant_or_a_bucket_policy_lets_another_account_in(srv, parties):
    root, partner = parties["root"], parties["partner"]
    root.create_bucket(Bucket="shared-by-acl")
    root.put_object(Bucket="shared-by-acl", Key="report", Body=b"q4")
    assert code_of(lambda: partner.list_objects_v2(Bucket="shared-by-acl")) == "AccessDenied"
    # A grant by e-mail address is kept as a grant to the account's canonical id.
    root.put_bucket_acl(Bucket="shared-by-acl", GrantRead=f"emailAddress={PARTNER_EMAIL}", GrantFullControl=f"id={owner_of_bucket(root, 'shared-by-acl')}")
    grantees = [g["Grantee"].get("ID") for g in root.get_bucket_acl(Bucket="shared-by-acl")["Grants"]]
    assert parties["partner_id"] in grantees
    assert [o["Key"] for o in partner.list_objects_v2(Bucket="shared-by-acl")["Contents"]] == ["report"]
    assert code_of(lambda: partner.get_object(Bucket="shared-by-acl", Key="report")) == "AccessDenied"  # READ on the bucket lists, no more
    root.put_object_acl(Bucket="shared-by-acl", Key="report", GrantRead=f"id={parties['partner_id']}")
    assert partner.get_object(Bucket="shared-by-acl", Key="report")["Body"].read() == b"q4"
    # The same through a bucket policy naming the other account.
    root.create_bucket(Bucket="shared-by-policy")
    root.put_object(Bucket="shared-by-policy", Key="report", Body=b"q1")
    account_id = admin_json(srv, "account", "info", "partner")["account_id"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-by-policy/*"}],
    }
    root.put_bucket_policy(Bucket="shared-by-policy", Policy=json.dumps(policy))
    assert partner.get_object(Bucket="shared-by-policy", Key="report")["Body"].read() == b"q1"
    assert code_of(lambda: partner.put_object(Bucket="shared-by-policy", Key="report", Body=b"x")) == "AccessDenied"
    # Both sides must agree: a partner user whose own policy allows only listing gets nothing.
    reader = make_user(srv, "partner-lister", "partner", policy="readonly")
    assert reader.get_object(Bucket="shared-by-policy", Key="report")["Body"].read() == b"q1"
    lister_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}
    policy_file = srv.data_dir.parent / "lister.json"
    policy_file.write_text(json.dumps(lister_policy))
    admin(srv, "policy", "create", "list-only", str(policy_file))
    lister = make_user(srv, "partner-nothing", "partner", policy="list-only")
    assert code_of(lambda: lister.get_object(Bucket="shared-by-policy", Key="report")) == "AccessDenied"


def owner_of_bucket(s3, bucket: str) -> str:
    return s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]


def test_an_object_another_account_writes_is_its_own_unless_the_bucket_owner_enforces(srv, parties):
    root, partner, partner_id = parties["root"], parties["partner"], parties["partner_id"]
    root.create_bucket(Bucket="dropbox", ACL="public-read-write")
    main_id = owner_of_bucket(root, "dropbox")
    partner.put_object(Bucket="dropbox", Key="theirs", Body=b"private to partner")
    partner.put_object(Bucket="dropbox", Key="shared", Body=b"readable by owner", ACL="bucket-owner-read")
    assert owner_of(partner, Bucket="dropbox", Key="theirs") == partner_id
    grants = {(g["Grantee"]["ID"], g["Permission"]) for g in partner.get_object_acl(Bucket="dropbox", Key="shared")["Grants"]}
    assert grants == {(partner_id, "FULL_CONTROL"), (main_id, "READ")}
    # The bucket's owner owns the bucket, not what another account wrote into it.
    assert code_of(lambda: root.get_object(Bucket="dropbox", Key="theirs")) == "AccessDenied"
    assert root.get_object(Bucket="dropbox", Key="shared")["Body"].read() == b"readable by owner"
    listed = {o["Key"]: o["Owner"]["ID"] for o in root.list_objects_v2(Bucket="dropbox", FetchOwner=True)["Contents"]}
    assert listed == {"theirs": partner_id, "shared": partner_id}
    root.delete_object(Bucket="dropbox", Key="theirs")  # deleting is the bucket's WRITE: the owner may
    # Anonymous requests write too, and what they write is the bucket owner's.
    assert requests.put(f"{srv.endpoint}/dropbox/anon", data=b"from anyone", timeout=10).status_code == 200
    assert owner_of(root, Bucket="dropbox", Key="anon") == main_id
    # BucketOwnerEnforced: everything written is the bucket owner's, and ACLs are off.
    root.create_bucket(Bucket="enforced", ObjectOwnership="BucketOwnerEnforced")
    root.put_bucket_policy(
        Bucket="enforced",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::enforced/*"}]}),
    )
    partner.put_object(Bucket="enforced", Key="k", Body=b"now the owner's")
    assert owner_of(root, Bucket="enforced", Key="k") == main_id
    assert root.get_object(Bucket="enforced", Key="k")["Body"].read() == b"now the owner's"


def test_only_the_deployments_own_account_may_administer_it(srv, parties):
    admin(srv, "user", "add", "partner-admin", "--account", "partner")
    admin(srv, "policy", "attach", "admin", "--user", "partner-admin")
    key = admin_json(srv, "key", "create", "--user", "partner-admin")
    env = dict(srv.env(), HOARD_ENDPOINT=srv.endpoint, HOARD_ROOT_ACCESS_KEY="", HOARD_ROOT_SECRET_KEY="")
    env.update(AWS_ACCESS_KEY_ID=key["access_key"], AWS_SECRET_ACCESS_KEY=key["secret_key"])
    done = subprocess.run([sys.executable, "-m", "hoard", "admin", "user", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "AccessDenied" in done.stderr
    with pytest.raises(ClientError):
        parties["partner"].get_bucket_acl(Bucket="main-own")
