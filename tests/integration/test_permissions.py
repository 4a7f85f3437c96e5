"""The permission matrix: six identities (root, readonly, readwrite, a user confined to its home
prefix by ``${aws:username}``, a user with an explicit Deny, anonymous) against sixteen operations,
in buckets without and with a bucket policy, a public ACL and a public-access block. Each cell is
allowed (the operation succeeds) or denied (AccessDenied, and nothing changed)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import HoardServer

ALLOW, DENY = "allow", "deny"
HOME = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::*/home/${aws:username}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::*", "Condition": {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}},
    ],
}
NO_DELETES = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": "*"}]}


def admin_json(srv: HoardServer, *args: str) -> dict:
    return json.loads(srv.admin(*args, "--json").stdout)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("matrix")
    srv = HoardServer(base / "data").start()
    users = {}
    for name, policies in (("reader", ["readonly"]), ("writer", ["readwrite"]), ("homer", []), ("careful", ["readwrite"])):
        srv.admin("user", "add", name)
        for policy in policies:
            srv.admin("policy", "attach", policy, "--user", name)
        users[name] = admin_json(srv, "key", "create", "--user", name)
    for name, document in (("home", HOME), ("no-deletes", NO_DELETES)):
        path = base / f"{name}.json"
        path.write_text(json.dumps(document))
        srv.admin("policy", "create", name, str(path))
    srv.admin("policy", "attach", "home", "--user", "homer")
    srv.admin("policy", "attach", "no-deletes", "--user", "careful")
    time.sleep(0.7)

    def client(keys: dict | None):
        if keys is None:
            return boto3.client("s3", endpoint_url=srv.endpoint, region_name="us-east-1", config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
        return boto3.client(
            "s3", endpoint_url=srv.endpoint, aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"],
            region_name="us-east-1", config=Config(retries={"max_attempts": 1}),
        )  # fmt: skip

    clients = {"root": srv.client(), **{n: client(k) for n, k in users.items()}, "anonymous": client(None)}
    yield srv, clients
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def seeded_bucket(root, kind: str) -> str:
    """A bucket with a shared object, a home object for homer and a "pub/" object, set up as ``kind`` says."""
    name = f"m-{kind}-{uuid.uuid4().hex[:8]}"
    root.create_bucket(Bucket=name)
    for key in ("shared", "home/homer/own", "pub/page"):
        root.put_object(Bucket=name, Key=key, Body=key.encode())
    if kind in ("policy", "blocked"):
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/pub/*"}]}
        root.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    if kind in ("acl", "blocked"):
        root.put_object_acl(Bucket=name, Key="shared", ACL="public-read")
    if kind == "blocked":
        root.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={"IgnorePublicAcls": True, "RestrictPublicBuckets": True})
    return name


# Each operation: what it does, given a client and a bucket, and how to tell that a denied one
# changed nothing (reading with the root client), or None for reads.
Op = tuple[Callable, Callable | None]


def _tagging(c, b):
    return c.put_object_tagging(Bucket=b, Key="shared", Tagging={"TagSet": [{"Key": "t", "Value": "v"}]})


OPERATIONS: dict[str, Op] = {
    "ListBuckets": (lambda c, b: c.list_buckets(), None),
    "ListObjectsV2": (lambda c, b: c.list_objects_v2(Bucket=b), None),
    "ListObjectsV2 home/": (lambda c, b: c.list_objects_v2(Bucket=b, Prefix="home/homer/"), None),
    "HeadBucket": (lambda c, b: c.head_bucket(Bucket=b), None),
    "GetObject shared": (lambda c, b: c.get_object(Bucket=b, Key="shared")["Body"].read(), None),
    "GetObject pub/": (lambda c, b: c.get_object(Bucket=b, Key="pub/page")["Body"].read(), None),
    "GetObject home": (lambda c, b: c.get_object(Bucket=b, Key="home/homer/own")["Body"].read(), None),
    "HeadObject shared": (lambda c, b: c.head_object(Bucket=b, Key="shared"), None),
    "PutObject new": (lambda c, b: c.put_object(Bucket=b, Key="new", Body=b"n"), lambda r, b: _absent(r, b, "new")),
    "PutObject home": (lambda c, b: c.put_object(Bucket=b, Key="home/homer/new", Body=b"n"), lambda r, b: _absent(r, b, "home/homer/new")),
    "DeleteObject shared": (lambda c, b: c.delete_object(Bucket=b, Key="shared"), lambda r, b: _present(r, b, "shared")),
    "DeleteObject home": (lambda c, b: c.delete_object(Bucket=b, Key="home/homer/own"), lambda r, b: _present(r, b, "home/homer/own")),
    "CopyObject": (lambda c, b: c.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "shared"}), lambda r, b: _absent(r, b, "copy")),
    "GetObjectTagging": (lambda c, b: c.get_object_tagging(Bucket=b, Key="shared"), None),
    "PutObjectTagging": (_tagging, lambda r, b: r.get_object_tagging(Bucket=b, Key="shared")["TagSet"] == []),
    "GetObjectAcl": (lambda c, b: c.get_object_acl(Bucket=b, Key="shared"), None),
    "PutBucketVersioning": (
        lambda c, b: c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"}),
        lambda r, b: "Status" not in r.get_bucket_versioning(Bucket=b),
    ),
    "CreateMultipartUpload": (lambda c, b: c.create_multipart_upload(Bucket=b, Key="mp"), lambda r, b: r.list_multipart_uploads(Bucket=b).get("Uploads") is None),
}


def _absent(root, bucket: str, key: str) -> bool:
    try:
        root.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError:
        return True


def _present(root, bucket: str, key: str) -> bool:
    return not _absent(root, bucket, key)


READS = {"ListObjectsV2", "ListObjectsV2 home/", "HeadBucket", "GetObject shared", "GetObject pub/", "GetObject home", "HeadObject shared", "GetObjectTagging", "GetObjectAcl", "ListBuckets"}
WRITES = set(OPERATIONS) - READS
HOME_OPS = {"ListObjectsV2 home/", "GetObject home", "PutObject home", "DeleteObject home"}
DELETES = {"DeleteObject shared", "DeleteObject home"}


def expected(identity: str, op: str, kind: str) -> str:
    if identity == "root":
        return ALLOW
    if identity == "reader":
        return ALLOW if op in READS else DENY
    if identity == "writer":
        return ALLOW
    if identity == "careful":
        return DENY if op in DELETES else ALLOW
    public_read = {"policy": {"GetObject pub/"}, "acl": {"GetObject shared", "HeadObject shared"}, "blocked": set(), "plain": set()}[kind]
    if identity == "homer":
        # Its home prefix, plus what the bucket gives everyone (a public policy lets this
        # account's users in even where RestrictPublicBuckets shuts anonymous requests out).
        extra = {"GetObject pub/"} if kind in ("policy", "blocked") else public_read
        return ALLOW if op in HOME_OPS or op in extra else DENY
    assert identity == "anonymous"
    return ALLOW if op in public_read else DENY


@pytest.mark.parametrize("kind", ["plain", "policy", "acl", "blocked"])
def test_permission_matrix(world, kind):
    srv, clients = world
    root = clients["root"]
    failures = []
    for op, (call, unchanged) in OPERATIONS.items():
        for identity, c in clients.items():
            bucket = seeded_bucket(root, kind)  # a fresh bucket per cell: a write in one cell cannot decide another
            want = expected(identity, op, kind)
            try:
                call(c, bucket)
                got = ALLOW
            except ClientError as e:
                code = e.response["Error"]["Code"]
                got = DENY if code in ("AccessDenied", "403") else f"error {code}"
            if got != want:
                failures.append(f"{kind}: {identity} {op}: expected {want}, got {got}")
            elif got == DENY and unchanged is not None and not unchanged(root, bucket):
                failures.append(f"{kind}: {identity} {op}: denied, but something changed")
    assert not failures, "\n".join(failures)
