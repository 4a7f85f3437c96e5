"""The authorization step: which IAM action each operation is, and how policies decide."""

from __future__ import annotations

import asyncio
import json

import pytest

from hoard.iam.actions import action_for
from hoard.iam.authorize import AccessRequest, Authorizer, administers
from hoard.iam.credentials import Identity
from hoard.iam.errors import AccessDenied
from hoard.meta.errors import BucketNotFound
from hoard.model import Bucket, ObjectRecord
from hoard.s3.router import ROUTES

MAIN = "0" * 64  # the deployment's account's canonical id
OTHER = "2" * 64  # another account's
ROOT = Identity("AKROOT", "secret", MAIN, "root")
USER = Identity("AKUSER", "secret", MAIN, "someone", is_root=False)
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("GetObject", "s3:GetObject"),
        ("HeadObject", "s3:GetObject"),
        ("PutObject", "s3:PutObject"),
        ("CopyObject", "s3:PutObject"),
        ("UploadPart", "s3:PutObject"),
        ("CompleteMultipartUpload", "s3:PutObject"),
        ("PostObject", "s3:PutObject"),
        ("ListObjectsV2", "s3:ListBucket"),
        ("HeadBucket", "s3:ListBucket"),
        ("ListBuckets", "s3:ListAllMyBuckets"),
        ("DeleteObjects", "s3:DeleteObject"),
        ("ListParts", "s3:ListMultipartUploadParts"),
        ("AbortMultipartUpload", "s3:AbortMultipartUpload"),
        ("PutBucketVersioning", "s3:PutBucketVersioning"),
    ],
)
def test_operations_are_authorized_as_their_iam_actions(operation, action):
    assert action_for(operation) == action
    assert AccessRequest.for_operation(ROOT, operation, "b", "k").action == action


def test_every_routed_operation_has_an_s3_action():
    for route in ROUTES:
        assert action_for(route.name).startswith("s3:") and len(action_for(route.name)) > 3


def test_without_policies_root_may_anyone_else_may_not():
    authorizer = Authorizer(ACCOUNT)
    for route in ROUTES:
        asyncio.run(authorizer.authorize(AccessRequest.for_operation(ROOT, route.name, "bucket", "key")))
        with pytest.raises(AccessDenied):
            asyncio.run(authorizer.authorize(AccessRequest.for_operation(None, route.name, "bucket", "key")))
        with pytest.raises(AccessDenied):
            asyncio.run(authorizer.authorize(AccessRequest.for_operation(USER, route.name, "bucket", "key")))


def user_with(*statements: dict) -> Identity:
    doc = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return Identity("AKUSER", "secret", MAIN, "someone", is_root=False, user="someone", user_id="AIDAEXAMPLE",
                    arn=f"arn:aws:iam::{ACCOUNT}:user/someone", account=ACCOUNT, policies=(doc,))  # fmt: skip


def other_user_with(*statements: dict) -> Identity:
    """A user of another account than the one that owns the buckets below."""
    doc = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return Identity("AKOTHER", "secret", OTHER, "stranger", is_root=False, user="stranger", user_id="AIDAOTHER",
                    arn=f"arn:aws:iam::{OTHER_ACCOUNT}:user/stranger", account=OTHER_ACCOUNT, policies=(doc,),
                    account_name="other", owner_name="other")  # fmt: skip


def owned(config: dict, owner: str = MAIN):
    """A bucket lookup: bucket "b", owned by ``owner``, with these configurations."""

    async def lookup(name: str) -> Bucket | None:
        return Bucket("b", 0.0, "us-east-1", owner, config) if name == "b" else None

    return lookup


def allowed(authorizer: Authorizer, identity: Identity | None, operation: str, bucket: str = "b", key: str | None = "k", **keys: str) -> bool:
    try:
        asyncio.run(authorizer.authorize(AccessRequest.for_operation(identity, operation, bucket, key, keys)))
        return True
    except AccessDenied:
        return False


def test_identity_policies_allow_what_they_say_and_deny_wins():
    user = user_with(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/public/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b", "Condition": {"StringLike": {"s3:prefix": "public/*"}}},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/public/secret"},
    )
    authorizer = Authorizer(ACCOUNT)
    assert allowed(authorizer, user, "GetObject", key="public/a")
    assert allowed(authorizer, user, "HeadObject", key="public/a")
    assert not allowed(authorizer, user, "GetObject", key="private/a")
    assert not allowed(authorizer, user, "GetObject", key="public/secret")
    assert not allowed(authorizer, user, "PutObject", key="public/a")
    assert allowed(authorizer, user, "ListObjectsV2", key=None, **{"s3:prefix": "public/x"})
    assert not allowed(authorizer, user, "ListObjectsV2", key=None, **{"s3:prefix": "private/"})
    assert not allowed(authorizer, user, "ListObjectsV2", key=None)


def test_a_named_version_needs_the_version_action():
    user = user_with({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    authorizer = Authorizer(ACCOUNT)
    assert asyncio.run(_try(authorizer, AccessRequest.for_operation(user, "GetObject", "b", "k")))
    assert not asyncio.run(_try(authorizer, AccessRequest.for_operation(user, "GetObject", "b", "k", version="0" * 24)))
    assert AccessRequest.for_operation(user, "DeleteObject", "b", "k", version="null").action == "s3:DeleteObjectVersion"


async def _try(authorizer: Authorizer, request: AccessRequest) -> bool:
    try:
        await authorizer.authorize(request)
        return True
    except AccessDenied:
        return False


def bucket_with(policy: dict | None, block: dict | None = None):
    config = {}
    if policy is not None:
        config["policy"] = json.dumps(policy)
    if block is not None:
        config["publicAccessBlock"] = block

    return owned(config)


PUBLIC_READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}


def test_a_bucket_policy_lets_anonymous_requests_in_unless_public_buckets_are_restricted():
    open_bucket = Authorizer(ACCOUNT, bucket_with(PUBLIC_READ))
    assert allowed(open_bucket, None, "GetObject")
    assert not allowed(open_bucket, None, "PutObject")
    with pytest.raises(BucketNotFound):  # no such bucket: said to anyone, as S3 does
        allowed(open_bucket, None, "GetObject", bucket="other")
    restricted = Authorizer(ACCOUNT, bucket_with(PUBLIC_READ, {"RestrictPublicBuckets": True}))
    assert not allowed(restricted, None, "GetObject")
    # The account's own users still get in through a public policy (S3: only cross-account and anonymous access is cut).
    assert allowed(restricted, user_with(), "GetObject")


def test_a_bucket_policy_deny_beats_an_identity_allow():
    deny_user = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/someone"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}],
    }
    user = user_with({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    authorizer = Authorizer(ACCOUNT, bucket_with(deny_user))
    assert not allowed(authorizer, user, "GetObject")
    assert allowed(Authorizer(ACCOUNT, owned({}), None, MAIN), user, "GetObject")


def test_existing_object_tags_are_looked_up_only_when_a_policy_asks():
    looked: list[tuple] = []

    async def tags(bucket: str, key: str, version: str | None) -> ObjectRecord:
        looked.append((bucket, key, version))
        return ObjectRecord(bucket, key, 0, '""', 0.0, "STANDARD", {}, (), tags=(("class", "public"),) if key == "tagged" else ())

    user = user_with({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {"StringEquals": {"s3:ExistingObjectTag/class": "public"}}})
    authorizer = Authorizer(ACCOUNT, None, tags)
    assert allowed(authorizer, user, "GetObject", key="tagged")
    assert not allowed(authorizer, user, "GetObject", key="untagged")
    assert looked == [("b", "tagged", None), ("b", "untagged", None)]
    plain = user_with({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    assert allowed(authorizer, plain, "GetObject", key="tagged")
    assert len(looked) == 2


def test_the_admin_api_needs_admin_actions():
    assert administers(ROOT)
    assert administers(user_with({"Effect": "Allow", "Action": "admin:*", "Resource": "*"}))
    assert not administers(user_with({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::*"}))
    assert not administers(user_with({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    assert not administers(user_with({"Effect": "Allow", "Action": "admin:*", "Resource": "*"}, {"Effect": "Deny", "Action": "admin:*", "Resource": "*"}))


def test_acls_grant_what_no_policy_decides():
    owner = "0" * 64
    public_object = ObjectRecord("b", "k", 0, '""', 0.0, "STANDARD", {}, (), acl=((("CanonicalUser", owner, "FULL_CONTROL")), ("Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ")))

    async def lookup(bucket: str, key: str, version: str | None) -> ObjectRecord:
        return public_object if key == "k" else ObjectRecord("b", key, 0, '""', 0.0, "STANDARD", {}, ())

    config = owned({"acl": [["Group", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ"]]})
    authorizer = Authorizer(ACCOUNT, config, lookup, owner)
    assert allowed(authorizer, None, "GetObject", key="k")
    assert not allowed(authorizer, None, "GetObject", key="private")
    assert not allowed(authorizer, None, "PutObjectAcl", key="k")
    assert not allowed(authorizer, None, "ListObjectsV2", key=None)
    assert allowed(authorizer, user_with(), "ListObjectsV2", key=None)  # the bucket's READ to authenticated users
    deny = user_with({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"})
    assert not allowed(authorizer, deny, "GetObject", key="k")  # an explicit deny beats any grant

    ignoring = owned({"publicAccessBlock": {"IgnorePublicAcls": True}})
    assert not allowed(Authorizer(ACCOUNT, ignoring, lookup, owner), None, "GetObject", key="k")


def test_a_missing_key_is_told_to_whoever_may_list_the_bucket():
    async def lookup(bucket: str, key: str, version: str | None):
        return None  # no such key

    public_list = owned({"acl": [["Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ"]]})
    private = owned({})

    # May list: the read goes on, for the handler's 404; may not: 403.
    assert allowed(Authorizer(ACCOUNT, public_list, lookup, "0" * 64), None, "GetObject", key="missing")
    assert not allowed(Authorizer(ACCOUNT, private, lookup, "0" * 64), None, "GetObject", key="missing")
    assert not allowed(Authorizer(ACCOUNT, public_list, lookup, "0" * 64), None, "PutObject", key="missing")


def test_another_accounts_users_need_their_own_allow_and_the_owners_grant():
    anything = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    stranger = other_user_with(anything)
    private = Authorizer(ACCOUNT, owned({}), None, MAIN)
    # Their own policy allows everything, but the bucket's owner granted them nothing.
    assert not allowed(private, stranger, "GetObject")
    assert not allowed(private, stranger, "ListObjectsV2", key=None)
    # The owner's ACL grants their account WRITE: now they may write, and still not list.
    writable = Authorizer(ACCOUNT, owned({"acl": [["CanonicalUser", OTHER, "WRITE"]]}), None, MAIN)
    assert allowed(writable, stranger, "PutObject")
    assert not allowed(writable, stranger, "ListObjectsV2", key=None)
    # Without an allow of its own account, the owner's grant is not enough.
    assert not allowed(writable, other_user_with({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}), "PutObject")
    # A bucket policy letting the other account in works the same way.
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}]}
    listed = Authorizer(ACCOUNT, owned({"policy": json.dumps(policy)}), None, MAIN)
    assert allowed(listed, stranger, "ListObjectsV2", key=None)
    assert not allowed(listed, stranger, "GetObject")


def test_an_accounts_root_rules_only_what_its_account_owns():
    theirs = Authorizer(ACCOUNT, owned({}, owner=OTHER), None, MAIN)
    assert not allowed(theirs, ROOT, "GetObject")
    assert not allowed(theirs, ROOT, "PutBucketPolicy", key=None)
    assert allowed(Authorizer(ACCOUNT, owned({}), None, MAIN), ROOT, "PutBucketPolicy", key=None)


def test_an_acl_grant_to_an_account_does_not_stand_in_for_its_users_rights():
    # The owner's FULL_CONTROL (the default ACL) does not let the account's own users, whose
    # policies grant nothing, in; a grant to everyone does.
    bare = Identity("AKBARE", "secret", MAIN, "bare", is_root=False, user="bare", account=ACCOUNT)
    granted = Authorizer(ACCOUNT, owned({"acl": [["CanonicalUser", MAIN, "FULL_CONTROL"]]}), None, MAIN)
    assert not allowed(granted, bare, "ListObjectsV2", key=None)
    public = Authorizer(ACCOUNT, owned({"acl": [["Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ"]]}), None, MAIN)
    assert allowed(public, bare, "ListObjectsV2", key=None)


def test_an_object_another_account_wrote_is_read_by_its_own_acl():
    # ObjectWriter ownership: the other account owns what it wrote; the bucket owner reads it
    # only where that object's ACL grants it (bucket-owner-read), not by owning the bucket.
    def written(acl: tuple) -> ObjectRecord:
        return ObjectRecord("b", "k", 0, '""', 0.0, "STANDARD", {}, (), owner_id=OTHER, acl=acl)

    private, shared = written(()), written((("CanonicalUser", OTHER, "FULL_CONTROL"), ("CanonicalUser", MAIN, "READ")))

    def authorizer(record: ObjectRecord) -> Authorizer:
        async def lookup(bucket: str, key: str, version: str | None) -> ObjectRecord:
            return record

        return Authorizer(ACCOUNT, owned({"foreignObjects": True}), lookup, MAIN)

    assert not allowed(authorizer(private), ROOT, "GetObject")
    assert allowed(authorizer(shared), ROOT, "GetObject")
    assert allowed(authorizer(private), ROOT, "DeleteObject")  # deleting is the bucket's to allow
    assert allowed(authorizer(private), other_user_with({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), "GetObject")


def test_only_the_deployments_own_account_administers_it():
    admin = {"Effect": "Allow", "Action": "admin:*", "Resource": "*"}
    assert administers(user_with(admin))
    assert not administers(other_user_with(admin))
