"""Policy documents: what S3 and IAM refuse to store, and how a stored one decides a request
(Deny over Allow over the implicit deny; Action, Resource, Principal and their Not forms;
variables), ending with the bucket policies AWS documents as examples."""

from __future__ import annotations

import json

import pytest

from hoard.iam.actions import ALL_ACTIONS, BUCKET_ACTIONS, OBJECT_ACTIONS, OTHER_ACTIONS, action_for
from hoard.iam.context import Principal, RequestContext, resource_arn
from hoard.iam.errors import PolicyError
from hoard.iam.policy import BUCKET_POLICY_LIMIT, Decision, Policy, combine, evaluate, parse_policy
from hoard.s3.router import ROUTES

BUCKET = "amzn-s3-demo-bucket"
ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ROOT = Principal(f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, canonical_id="a" * 64)
ALICE = Principal(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, username="alice", userid="AIDAALICE")
BOB = Principal(f"arn:aws:iam::{ACCOUNT}:user/bob", ACCOUNT, username="bob", userid="AIDABOB")
CAROL = Principal(f"arn:aws:iam::{OTHER_ACCOUNT}:user/carol", OTHER_ACCOUNT, username="carol", userid="AIDACAROL")


def bucket_policy(*statements: dict, version: str | None = "2012-10-17", bucket: str = BUCKET) -> Policy:
    document: dict = {"Statement": list(statements)}
    if version is not None:
        document["Version"] = version
    return parse_policy(json.dumps(document), kind="bucket", bucket=bucket)


def identity_policy(*statements: dict, version: str = "2012-10-17") -> Policy:
    return parse_policy(json.dumps({"Version": version, "Statement": list(statements)}), kind="identity")


def decide(
    policies: Policy | list[Policy],
    action: str,
    key: str | None = None,
    *,
    principal: Principal | None = None,
    bucket: str | None = BUCKET,
    resource_account: str | None = None,
    **keys: str | list[str],
) -> Decision:
    """The decision for a request; condition keys are given with '_' for ':' and '__' for '/'
    (``s3_prefix="a/"``), or through ``keys={...}``."""
    explicit = keys.pop("keys", {})
    names = {name.replace("__", "/").replace("_", ":", 1): value for name, value in keys.items()}
    ctx = RequestContext(action, resource_arn(bucket, key), principal, {**names, **explicit}, resource_account)
    return evaluate(policies if isinstance(policies, list) else [policies], ctx)


def refused(document: dict | str | bytes, *, kind: str = "bucket", bucket: str = BUCKET) -> str:
    text = document if isinstance(document, str | bytes) else json.dumps(document)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, kind=kind, bucket=bucket if kind == "bucket" else None)
    return caught.value.message


def statement(**elements) -> dict:
    """A bucket policy statement, Allow to anyone on the bucket's objects unless told otherwise."""
    return {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*", **elements}


def without(element: dict, *names: str) -> dict:
    return {k: v for k, v in element.items() if k not in names}


ALLOW, DENY, NOT_APPLICABLE = Decision.ALLOW, Decision.DENY, Decision.NOT_APPLICABLE


# -- the action table ------------------------------------------------------------------------------


def test_every_routed_operation_is_authorized_as_a_real_iam_action():
    # CreateSession and RenameObject exist only for directory buckets (S3 Express, whose actions
    # are in the s3express namespace).
    for route in ROUTES:
        if route.name not in ("CreateSession", "RenameObject"):
            assert action_for(route.name) in ALL_ACTIONS, route.name


def test_actions_are_sorted_by_what_they_act_on():
    assert not OBJECT_ACTIONS & BUCKET_ACTIONS and not OBJECT_ACTIONS & OTHER_ACTIONS and not BUCKET_ACTIONS & OTHER_ACTIONS
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObjectVersion", "s3:ListMultipartUploadParts"} <= OBJECT_ACTIONS
    assert {"s3:ListBucket", "s3:PutBucketPolicy", "s3:GetBucketLocation", "s3:CreateBucket"} <= BUCKET_ACTIONS
    assert {"s3:ListAllMyBuckets", "s3:CreateJob", "s3:GetAccountPublicAccessBlock"} <= OTHER_ACTIONS


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("GetBucketAccelerateConfiguration", "s3:GetAccelerateConfiguration"),
        ("ListBucketMetricsConfigurations", "s3:GetMetricsConfiguration"),
        ("DeleteBucketInventoryConfiguration", "s3:PutInventoryConfiguration"),
        ("PutBucketNotificationConfiguration", "s3:PutBucketNotification"),
        ("SelectObjectContent", "s3:GetObject"),
    ],
)
def test_operations_aws_authorizes_under_another_name(operation, action):
    assert action_for(operation) == action


# -- documents that parse ----------------------------------------------------------------------------


def test_elements_may_be_strings_or_lists_and_statement_an_object():
    single = parse_policy(
        json.dumps({"Version": "2012-10-17", "Statement": statement(Sid="One")}),
        kind="bucket",
        bucket=BUCKET,
    )
    listed = bucket_policy(statement(Action=["s3:GetObject"], Resource=[f"arn:aws:s3:::{BUCKET}/*"], Principal={"AWS": ["*"]}))
    for policy in (single, listed):
        assert decide(policy, "s3:GetObject", "k") is ALLOW
    assert single.statements[0].sid == "One" and listed.statements[0].sid is None
    assert single.kind == "bucket" and single.version == "2012-10-17" and single.id is None


def test_version_may_be_either_date_or_absent():
    assert bucket_policy(statement(), version="2008-10-17").version == "2008-10-17"
    assert bucket_policy(statement(), version=None).version == "2008-10-17"
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Id": "P1", "Statement": statement()}), kind="bucket", bucket=BUCKET)
    assert policy.id == "P1"


def test_text_and_bytes_leading_whitespace_and_unicode():
    document = json.dumps({"Version": "2012-10-17", "Statement": statement(Resource=f"arn:aws:s3:::{BUCKET}/données/*")})
    for text in (document, document.encode(), "\n  " + document):
        policy = parse_policy(text, kind="bucket", bucket=BUCKET)
        assert decide(policy, "s3:GetObject", "données/é") is ALLOW


def test_bucket_policies_up_to_20_kib():
    head = '{"Statement": [' + json.dumps(statement()) + "]"
    text = head + " " * (BUCKET_POLICY_LIMIT - len(head) - 1) + "}"
    assert len(text.encode()) == BUCKET_POLICY_LIMIT
    parse_policy(text, kind="bucket", bucket=BUCKET)
    assert refused(head + " " * (BUCKET_POLICY_LIMIT - len(head)) + "}") == "Policies must be less than 20 KB"
    # Identity policies are not held to it here (IAM's own quotas are the admin API's).
    big = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::b{i}/*"} for i in range(800)],
    }
    assert len(json.dumps(big)) > BUCKET_POLICY_LIMIT
    parse_policy(json.dumps(big), kind="identity")


def test_principal_forms():
    forms = [
        "*",
        {"AWS": "*"},
        {"AWS": ACCOUNT},
        {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{OTHER_ACCOUNT}:role/path/reader"]},
        {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/session"},
        {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
        {"Service": "logging.s3.amazonaws.com"},
        {"Federated": "cognito-identity.amazonaws.com"},
        {"AWS": ACCOUNT, "CanonicalUser": "79A59DF900B949E55D96A1E698FBACEDFD6E09D98EACF8F8D5218E7CD47EF2BE"},
    ]
    for principal in forms:
        bucket_policy(statement(Principal=principal))
        bucket_policy(statement(Principal=principal, Effect="Deny"))
        if principal != "*":
            bucket_policy(without(statement(NotPrincipal=principal, Effect="Deny"), "Principal"))


# -- documents that do not -------------------------------------------------------------------------------


GOOD = statement()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the first byte must be '{'"),
        ("[]", "the first byte must be '{'"),
        ("null", "the first byte must be '{'"),
        ('"{}"', "the first byte must be '{'"),
        ("{", "This policy contains invalid Json"),
        ('{"Statement": [}', "This policy contains invalid Json"),
        ('{"Statement": [{"Effect": "Allow"}]} trailing', "This policy contains invalid Json"),
        ('{"Version": NaN, "Statement": []}', "This policy contains invalid Json"),
        (b'{"Statement": "\xff"}', "This policy contains invalid Json"),
    ],
)
def test_not_a_json_object(text, message):
    assert message in refused(text)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"Version": "2012-10-17"}, "Missing required field Statement"),
        ({"Version": "2012-10-17", "Statement": []}, "Statement is empty"),
        ({"Version": "2012-10-17", "Statement": "allow"}, "Statement must be an object or a list"),
        ({"Version": "2012-10-17", "Statement": [GOOD, 1]}, "Each Statement must be an object"),
        ({"Version": "2012-10-16", "Statement": [GOOD]}, "valid version string"),
        ({"Version": 2012, "Statement": [GOOD]}, "valid version string"),
        ({"Version": "2012-10-17", "Id": 5, "Statement": [GOOD]}, "Id must be a string"),
        ({"Version": "2012-10-17", "Statement": [GOOD], "Condition": {}}, "unknown field: Condition"),
        ({"Statement": [{**GOOD, "Conditions": {}}]}, "unknown field: Conditions"),
        ({"Statement": [{**GOOD, "Sid": "a"}, {**GOOD, "Sid": "a"}]}, "Statement IDs (SID) in a single policy must be unique."),
        ({"Statement": [{**GOOD, "Sid": 1}]}, "Sid must be a string"),
        ({"Statement": [without(GOOD, "Effect")]}, "Missing required field Effect"),
        ({"Statement": [{**GOOD, "Effect": "allow"}]}, "Invalid effect: allow"),
        ({"Statement": [{**GOOD, "Effect": "Permit"}]}, "Invalid effect: Permit"),
        ({"Statement": [without(GOOD, "Action")]}, "Missing required field Action"),
        ({"Statement": [{**GOOD, "NotAction": "s3:PutObject"}]}, "both Action and NotAction"),
        ({"Statement": [without(GOOD, "Resource")]}, "Missing required field Resource"),
        ({"Statement": [{**GOOD, "NotResource": f"arn:aws:s3:::{BUCKET}"}]}, "both Resource and NotResource"),
        ({"Statement": [without(GOOD, "Principal")]}, "Missing required field Principal"),
        ({"Statement": [{**GOOD, "NotPrincipal": {"AWS": ACCOUNT}}]}, "both Principal and NotPrincipal"),
    ],
)
def test_malformed_documents(document, message):
    assert message in refused(document)


@pytest.mark.parametrize(
    "action",
    [
        "iam:CreateUser",
        "sqs:*",
        "s3:GetObjekt",
        "s3:Foo*",
        "GetObject",
        "s3:",
        "s3 :GetObject",
        "*:GetObject",
        "s3*:GetObject",
        "",
        [],
        5,
        ["s3:GetObject", None],
    ],
)
def test_invalid_actions(action):
    assert refused({"Statement": [statement(Action=action)]}) == "Policy has invalid action"
    assert refused({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}, kind="identity") == (
        "Policy has invalid action"
    )


def test_identity_policies_may_name_the_other_s3_namespaces_which_match_nothing_here():
    # AWS's managed AmazonS3ReadOnlyAccess, as users paste it.
    policy = identity_policy(
        {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*", "s3-object-lambda:Get*", "s3-object-lambda:List*"], "Resource": "*"}
    )
    assert decide(policy, "s3:GetObject", "k", principal=ALICE) is ALLOW
    assert decide(policy, "s3-object-lambda:GetObject", "k", principal=ALICE) is ALLOW
    assert decide(policy, "s3:PutObject", "k", principal=ALICE) is NOT_APPLICABLE
    identity_policy({"Effect": "Allow", "Action": "s3express:CreateSession", "Resource": "*"})
    assert refused({"Statement": [statement(Action="s3-object-lambda:GetObject")]}) == "Policy has invalid action"


@pytest.mark.parametrize("action", ["*", "s3:*", "s3:Get*", "s3:getobject", "S3:GetObject", "s3:?etObject", "s3:*Object*"])
def test_valid_actions(action):
    bucket_policy(statement(Action=action))


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        "arn:aws:s3:::other-bucket/*",
        f"arn:aws:s3:::{BUCKET}x/*",
        f"arn:aws:s3:::{BUCKET}/",
        f"arn:aws:s3::{BUCKET}/*",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:queue",
        f"{BUCKET}/*",
        "arn:aws:s3:::",
        "arn:aws:s3:::/*",
        "arn:aws:s3:::b?/*",
        "",
        [],
        {"arn": "x"},
    ],
)
def test_bucket_policy_resources_must_name_the_bucket_or_its_objects(resource):
    assert refused({"Statement": [statement(Action="s3:*", Resource=resource)]}) == "Policy has invalid resource"


@pytest.mark.parametrize(
    "resource",
    [
        f"arn:aws:s3:::{BUCKET}",
        f"arn:aws:s3:::{BUCKET}/*",
        f"arn:aws:s3:::{BUCKET}/photos/2024/*.jpg",
        "arn:aws:s3:::amzn-s3-*",
        "arn:aws:s3:::*",
        "arn:aws:s3:::*/*",
        f"arn:aws:s3:::{BUCKET[:-1]}?",
        f"arn:aws:s3:::{BUCKET}/home/${{aws:username}}/*",
    ],
)
def test_bucket_policy_resources_that_name_the_bucket(resource):
    bucket_policy(statement(Action="s3:*", Resource=resource))


def test_identity_policy_resources_are_arns_or_star():
    for good in ("*", "arn:aws:s3:::any-bucket/*", "arn:aws:s3:::*", f"arn:aws:sqs:us-east-1:{ACCOUNT}:queue"):
        identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": good})
    for bad in ("bucket/*", "arn:aws:s3", "arn:aws:s3::bucket", ""):
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": bad}]}
        assert refused(document, kind="identity") == "Policy has invalid resource"


@pytest.mark.parametrize(
    ("actions", "resources"),
    [
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}"),
        ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}/*"),
        (["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket"], f"arn:aws:s3:::{BUCKET}/*"),
        ("s3:GetBucketAcl", f"arn:aws:s3:::{BUCKET}/*"),
        ("s3:ListAllMyBuckets", [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]),
        ("s3:GetObject*", f"arn:aws:s3:::{BUCKET}"),
    ],
)
def test_a_statement_whose_actions_reach_none_of_its_resources(actions, resources):
    message = refused({"Statement": [statement(Action=actions, Resource=resources)]})
    assert message == "Action does not apply to any resource(s) in statement"


@pytest.mark.parametrize(
    ("actions", "resources"),
    [
        ("s3:*", f"arn:aws:s3:::{BUCKET}/*"),
        ("s3:*", f"arn:aws:s3:::{BUCKET}"),
        ("s3:Get*", f"arn:aws:s3:::{BUCKET}"),
        (["s3:GetObject", "s3:ListBucket"], [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]),
        (["s3:GetObject", "s3:ListBucket"], f"arn:aws:s3:::{BUCKET}*"),
    ],
)
def test_actions_that_reach_a_resource(actions, resources):
    bucket_policy(statement(Action=actions, Resource=resources))


def test_the_not_forms_skip_the_reach_check():
    bucket_policy(without(statement(Effect="Deny", NotAction="s3:GetObject", Resource=f"arn:aws:s3:::{BUCKET}"), "Action"))
    bucket_policy(without(statement(Effect="Deny", Action="s3:ListBucket", NotResource=f"arn:aws:s3:::{BUCKET}"), "Resource"))


@pytest.mark.parametrize(
    "principal",
    [
        "someone",
        f"arn:aws:iam::{ACCOUNT}:root",
        {},
        {"AWS": []},
        {"AWS": ""},
        {"AWS": "arn:aws:iam::*:root"},
        {"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"},
        {"AWS": "12345"},
        {"AWS": "alice"},
        {"AWS": f"arn:aws:s3:::{BUCKET}"},
        {"CanonicalUser": "abc"},
        {"CanonicalUser": "*"},
        {"Service": "*"},
        {"Users": ACCOUNT},
        ["*"],
    ],
)
def test_invalid_principals(principal):
    assert refused({"Statement": [statement(Principal=principal)]}) == "Invalid principal in policy"


def test_identity_policies_have_no_principal_and_alphanumeric_sids():
    for element in ("Principal", "NotPrincipal"):
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", element: "*", "Action": "s3:*", "Resource": "*"}]}
        assert refused(document, kind="identity") == "Policy document should not specify a principal."
    document = {"Version": "2012-10-17", "Statement": [{"Sid": "Allow-Read", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert "alpha-numeric" in refused(document, kind="identity")
    bucket_policy(statement(Sid="Allow-Read public objects"))  # S3 lets a bucket policy's Sid be any text


def test_a_key_written_twice_is_refused_rather_than_one_of_them_dropped():
    text = (
        '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", '
        f'"Resource": "arn:aws:s3:::{BUCKET}/*", "Condition": {{"StringEquals": {{"s3:x-amz-acl": "private"}}, '
        '"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}'
    )
    assert refused(text) == "Policy has a duplicate field: StringEquals"


def test_parse_policy_needs_a_kind_and_a_bucket():
    with pytest.raises(ValueError):
        parse_policy(json.dumps({"Statement": [GOOD]}), kind="user")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_policy(json.dumps({"Statement": [GOOD]}), kind="bucket")


# -- evaluation: Deny, Allow, nothing ------------------------------------------------------------------


def test_nothing_applies_is_the_implicit_deny():
    policy = bucket_policy(statement())
    assert decide(policy, "s3:PutObject", "k") is NOT_APPLICABLE
    assert decide([], "s3:GetObject", "k") is NOT_APPLICABLE


def test_deny_beats_allow_in_one_policy_whatever_the_order():
    allow = statement(Action="s3:*", Resource=f"arn:aws:s3:::{BUCKET}/*")
    deny = statement(Effect="Deny", Action="s3:DeleteObject")
    for order in ((allow, deny), (deny, allow)):
        policy = bucket_policy(*order)
        assert decide(policy, "s3:DeleteObject", "k") is DENY
        assert decide(policy, "s3:GetObject", "k") is ALLOW


def test_deny_in_any_policy_beats_allow_in_another():
    grants = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    denies = bucket_policy(statement(Effect="Deny", Action="s3:PutObject", Resource=f"arn:aws:s3:::{BUCKET}/locked/*"))
    assert decide([grants, denies], "s3:PutObject", "locked/x", principal=ALICE) is DENY
    assert decide([denies, grants], "s3:PutObject", "locked/x", principal=ALICE) is DENY
    assert decide([grants, denies], "s3:PutObject", "open/x", principal=ALICE) is ALLOW
    assert decide([denies], "s3:PutObject", "open/x", principal=ALICE) is NOT_APPLICABLE


@pytest.mark.parametrize(
    ("identity", "resource", "same", "cross"),
    [
        (ALLOW, NOT_APPLICABLE, ALLOW, NOT_APPLICABLE),
        (NOT_APPLICABLE, ALLOW, ALLOW, NOT_APPLICABLE),
        (ALLOW, ALLOW, ALLOW, ALLOW),
        (NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE),
        (DENY, ALLOW, DENY, DENY),
        (ALLOW, DENY, DENY, DENY),
        (DENY, NOT_APPLICABLE, DENY, DENY),
    ],
)
def test_combining_identity_and_bucket_decisions(identity, resource, same, cross):
    assert combine(identity, resource, same_account=True) is same
    assert combine(identity, resource, same_account=False) is cross


def test_a_user_of_another_account_needs_both_policies():
    bucket = bucket_policy(statement(Principal={"AWS": OTHER_ACCOUNT}))
    carols_own = identity_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"})
    as_bucket = decide(bucket, "s3:GetObject", "k", principal=CAROL, resource_account=ACCOUNT)
    as_identity = decide(carols_own, "s3:GetObject", "k", principal=CAROL)
    assert combine(as_identity, as_bucket, same_account=False) is ALLOW
    assert combine(NOT_APPLICABLE, as_bucket, same_account=False) is NOT_APPLICABLE
    # Within the bucket owner's account, naming the account lets no user in by itself...
    alice_via_account = decide(
        bucket_policy(statement(Principal={"AWS": ACCOUNT})), "s3:GetObject", "k", principal=ALICE, resource_account=ACCOUNT
    )
    assert combine(NOT_APPLICABLE, alice_via_account, same_account=True) is NOT_APPLICABLE
    # ... while naming the user does.
    alice_by_name = decide(
        bucket_policy(statement(Principal={"AWS": ALICE.arn})), "s3:GetObject", "k", principal=ALICE, resource_account=ACCOUNT
    )
    assert combine(NOT_APPLICABLE, alice_by_name, same_account=True) is ALLOW


# -- Action and NotAction ----------------------------------------------------------------------------


def test_action_wildcards_and_case():
    policy = identity_policy({"Effect": "Allow", "Action": ["s3:Get*", "s3:?istBucket"], "Resource": "*"})
    for action in ("s3:GetObject", "s3:GetBucketAcl", "s3:GetObjectVersion", "S3:GETOBJECT", "s3:ListBucket"):
        assert decide(policy, action, "k", principal=ALICE) is ALLOW, action
    for action in ("s3:PutObject", "s3:ListBucketVersions", "s3:DeleteObject"):
        assert decide(policy, action, "k", principal=ALICE) is NOT_APPLICABLE, action
    everything = identity_policy({"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert decide(everything, "s3:PutBucketPolicy", principal=ALICE) is ALLOW


def test_not_action_applies_to_every_other_action():
    policy = identity_policy({"Effect": "Allow", "NotAction": ["s3:Delete*", "s3:PutBucketPolicy"], "Resource": "*"})
    assert decide(policy, "s3:GetObject", "k", principal=ALICE) is ALLOW
    assert decide(policy, "s3:PutObject", "k", principal=ALICE) is ALLOW
    assert decide(policy, "s3:DeleteObject", "k", principal=ALICE) is NOT_APPLICABLE
    assert decide(policy, "s3:PutBucketPolicy", principal=ALICE) is NOT_APPLICABLE
    deny = identity_policy({"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"})
    assert decide([policy, deny], "s3:PutObject", "k", principal=ALICE) is DENY
    assert decide([policy, deny], "s3:GetObject", "k", principal=ALICE) is ALLOW


# -- Resource and NotResource --------------------------------------------------------------------------


def test_resources_name_buckets_and_keys_with_wildcards():
    policy = identity_policy(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/2024/*", "arn:aws:s3:::logs/day-??.txt"],
        }
    )
    yes = [("photos", None), ("photos", "2024/a.jpg"), ("photos", "2024/deep/er/b.jpg"), ("photos", "2024/"), ("logs", "day-01.txt")]
    no = [("photos", "2023/a.jpg"), ("photos", "x"), ("photosx", None), ("Photos", None), ("logs", "day-1.txt"), ("logs", "day-001.txt")]
    for bucket, key in yes:
        assert decide(policy, "s3:GetObject", key, bucket=bucket, principal=ALICE) is ALLOW, (bucket, key)
    for bucket, key in no:
        assert decide(policy, "s3:GetObject", key, bucket=bucket, principal=ALICE) is NOT_APPLICABLE, (bucket, key)


def test_a_bucket_resource_is_not_its_objects_and_back():
    objects = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"})
    assert decide(objects, "s3:ListBucket", bucket="b", principal=ALICE) is NOT_APPLICABLE
    bucket = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"})
    assert decide(bucket, "s3:GetObject", "k", bucket="b", principal=ALICE) is NOT_APPLICABLE


def test_keys_with_wildcard_characters_colons_and_newlines_are_plain_text():
    policy = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/a*"})
    for key in ("a*", "a?", "a:b:c", "a\nb", "a/../../etc"):
        assert decide(policy, "s3:GetObject", key, bucket="b", principal=ALICE) is ALLOW
    literal = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/x${*}"})
    assert decide(literal, "s3:GetObject", "x*", bucket="b", principal=ALICE) is ALLOW
    assert decide(literal, "s3:GetObject", "xy", bucket="b", principal=ALICE) is NOT_APPLICABLE


def test_resource_wildcards_in_each_arn_component():
    for resource in ("arn:*:s3:::b/*", "arn:aws:s3:*:*:b/*", "arn:aws:*:::b/*", "arn:aws:s3:::b*"):
        policy = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": resource})
        assert decide(policy, "s3:GetObject", "k", bucket="b", principal=ALICE) is ALLOW, resource
    # S3's ARNs have an empty region: a pattern that wants one matches none of them.
    region = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:us-*:::b/*"})
    assert decide(region, "s3:GetObject", "k", bucket="b", principal=ALICE) is NOT_APPLICABLE


def test_list_all_my_buckets_is_matched_by_star_and_any_s3_bucket_pattern():
    for resource in ("*", "arn:aws:s3:::*"):
        policy = identity_policy({"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": resource})
        assert decide(policy, "s3:ListAllMyBuckets", bucket=None, principal=ALICE) is ALLOW
    one = identity_policy({"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "arn:aws:s3:::b"})
    assert decide(one, "s3:ListAllMyBuckets", bucket=None, principal=ALICE) is NOT_APPLICABLE


def test_not_resource():
    policy = bucket_policy(
        statement(Action="s3:*", Resource=[f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]),
        without(statement(Effect="Deny", Action="s3:GetObject", NotResource=f"arn:aws:s3:::{BUCKET}/public/*"), "Resource"),
    )
    assert decide(policy, "s3:GetObject", "public/a") is ALLOW
    assert decide(policy, "s3:GetObject", "private/a") is DENY
    assert decide(policy, "s3:ListBucket") is ALLOW  # the Deny names GetObject only


# -- Principal and NotPrincipal ---------------------------------------------------------------------------


def test_star_and_aws_star_are_everyone_including_anonymous():
    for principal in ("*", {"AWS": "*"}):
        policy = bucket_policy(statement(Principal=principal))
        for who in (None, ALICE, CAROL, ROOT):
            assert decide(policy, "s3:GetObject", "k", principal=who) is ALLOW


def test_a_user_arn_is_that_user_only():
    policy = bucket_policy(statement(Principal={"AWS": ALICE.arn}))
    assert decide(policy, "s3:GetObject", "k", principal=ALICE) is ALLOW
    for who in (BOB, ROOT, CAROL, None):
        assert decide(policy, "s3:GetObject", "k", principal=who) is NOT_APPLICABLE
    upper = Principal(f"arn:aws:iam::{ACCOUNT}:user/Alice", ACCOUNT, username="Alice")
    assert decide(policy, "s3:GetObject", "k", principal=upper) is NOT_APPLICABLE  # names are case-sensitive


def test_an_account_delegates_to_everyone_in_it():
    for written in (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"):
        policy = bucket_policy(statement(Principal={"AWS": written}))
        for who in (ROOT, ALICE, BOB):
            assert decide(policy, "s3:GetObject", "k", principal=who) is ALLOW
            assert decide(policy, "s3:GetObject", "k", principal=who, resource_account=OTHER_ACCOUNT) is ALLOW
        assert decide(policy, "s3:GetObject", "k", principal=CAROL) is NOT_APPLICABLE
        assert decide(policy, "s3:GetObject", "k", principal=None) is NOT_APPLICABLE


def test_an_allow_to_the_bucket_owners_own_account_grants_only_its_root():
    # Within one account, naming the account grants nothing to its users beyond their own policies.
    policy = bucket_policy(statement(Principal={"AWS": ACCOUNT}))
    assert decide(policy, "s3:GetObject", "k", principal=ROOT, resource_account=ACCOUNT) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=ALICE, resource_account=ACCOUNT) is NOT_APPLICABLE
    # A Deny to the account reaches every one of them.
    deny = bucket_policy(statement(Effect="Deny", Principal={"AWS": ACCOUNT}))
    for who in (ROOT, ALICE):
        assert decide(deny, "s3:GetObject", "k", principal=who, resource_account=ACCOUNT) is DENY
    # A named user is granted directly.
    direct = bucket_policy(statement(Principal={"AWS": ALICE.arn}))
    assert decide(direct, "s3:GetObject", "k", principal=ALICE, resource_account=ACCOUNT) is ALLOW


def test_canonical_user_and_service_principals():
    policy = bucket_policy(statement(Principal={"CanonicalUser": "A" * 64}))
    assert decide(policy, "s3:GetObject", "k", principal=ROOT) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=ALICE) is NOT_APPLICABLE
    service = bucket_policy(statement(Principal={"Service": "logging.s3.amazonaws.com"}))
    for who in (None, ROOT, ALICE):
        assert decide(service, "s3:GetObject", "k", principal=who) is NOT_APPLICABLE


def test_not_principal_with_deny_spares_only_those_named():
    deny_others = without(statement(Effect="Deny", Action="s3:*", NotPrincipal={"AWS": [ALICE.arn, ACCOUNT]}), "Principal")
    policy = bucket_policy(statement(Action="s3:*", Resource=f"arn:aws:s3:::{BUCKET}/*"), deny_others)
    assert decide(policy, "s3:GetObject", "k", principal=ALICE) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=BOB) is ALLOW  # in the named account
    assert decide(policy, "s3:GetObject", "k", principal=CAROL) is DENY
    assert decide(policy, "s3:GetObject", "k", principal=None) is DENY


def test_not_principal_with_allow_grants_everyone_else():
    policy = bucket_policy(without(statement(NotPrincipal={"AWS": CAROL.arn}), "Principal"))
    assert decide(policy, "s3:GetObject", "k", principal=None) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=ALICE) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=CAROL) is NOT_APPLICABLE


def test_identity_statements_apply_to_whoever_holds_them():
    policy = identity_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    for who in (ALICE, CAROL, None):
        assert decide(policy, "s3:GetObject", "k", principal=who) is ALLOW


# -- policy variables ------------------------------------------------------------------------------


HOME = {
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:PutObject"],
    "Resource": "arn:aws:s3:::home-bucket/home/${aws:username}/*",
}


def test_username_in_a_resource():
    policy = identity_policy(HOME)
    assert decide(policy, "s3:PutObject", "home/alice/notes.txt", bucket="home-bucket", principal=ALICE) is ALLOW
    assert decide(policy, "s3:PutObject", "home/bob/notes.txt", bucket="home-bucket", principal=ALICE) is NOT_APPLICABLE
    assert decide(policy, "s3:PutObject", "home/bob/notes.txt", bucket="home-bucket", principal=BOB) is ALLOW


def test_variables_need_version_2012_10_17():
    policy = identity_policy(HOME, version="2008-10-17")
    assert decide(policy, "s3:PutObject", "home/alice/x", bucket="home-bucket", principal=ALICE) is NOT_APPLICABLE
    assert decide(policy, "s3:PutObject", "home/${aws:username}/x", bucket="home-bucket", principal=ALICE) is ALLOW


def test_a_request_without_the_variables_key_is_not_matched_by_the_statement():
    policy = identity_policy(HOME)
    assert decide(policy, "s3:PutObject", "home//x", bucket="home-bucket", principal=None) is NOT_APPLICABLE
    assert decide(policy, "s3:PutObject", "home//x", bucket="home-bucket", principal=ROOT) is NOT_APPLICABLE  # root: no username
    # A Deny whose variable cannot be filled does not deny either (AWS drops the statement).
    deny = identity_policy({"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::home-bucket/home/${aws:username}/*"})
    grant = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert decide([grant, deny], "s3:GetObject", "other", bucket="home-bucket", principal=ALICE) is DENY
    assert decide([grant, deny], "s3:GetObject", "home/alice/x", bucket="home-bucket", principal=ALICE) is ALLOW
    assert decide([grant, deny], "s3:GetObject", "other", bucket="home-bucket", principal=None) is ALLOW


def test_one_unfillable_variable_drops_the_whole_statement_even_if_another_resource_matched():
    policy = identity_policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::pub/*", "arn:aws:s3:::home/${aws:username}/*"]}
    )
    assert decide(policy, "s3:GetObject", "x", bucket="pub", principal=ALICE) is ALLOW
    assert decide(policy, "s3:GetObject", "x", bucket="pub", principal=None) is NOT_APPLICABLE


def test_default_values_and_other_keys_as_variables():
    policy = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username, 'guest'}/*"})
    assert decide(policy, "s3:GetObject", "guest/x", bucket="b", principal=None) is ALLOW
    assert decide(policy, "s3:GetObject", "alice/x", bucket="b", principal=ALICE) is ALLOW
    assert decide(policy, "s3:GetObject", "guest/x", bucket="b", principal=ALICE) is NOT_APPLICABLE
    by_id = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:userid}/*"})
    assert decide(by_id, "s3:GetObject", "AIDAALICE/x", bucket="b", principal=ALICE) is ALLOW
    assert decide(by_id, "s3:GetObject", f"{ACCOUNT}/x", bucket="b", principal=ROOT) is ALLOW  # the root's userid: its account
    by_prefix = identity_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${s3:prefix}"})
    assert decide(by_prefix, "s3:GetObject", "p/", bucket="b", principal=ALICE, s3_prefix="p/") is ALLOW


def test_a_variables_value_never_acts_as_a_wildcard_in_a_resource():
    sneaky = Principal(f"arn:aws:iam::{ACCOUNT}:user/x", ACCOUNT, username="*")
    policy = identity_policy(HOME)
    assert decide(policy, "s3:GetObject", "home/alice/x", bucket="home-bucket", principal=sneaky) is NOT_APPLICABLE
    assert decide(policy, "s3:GetObject", "home/*/x", bucket="home-bucket", principal=sneaky) is ALLOW


def test_principal_keys_come_from_the_principal_unless_given():
    ctx = RequestContext("s3:GetObject", resource_arn("b", "k"), ALICE)
    assert ctx.values_of("aws:username") == ("alice",)
    assert ctx.values_of("aws:userid") == ("AIDAALICE",)
    assert ctx.values_of("aws:PrincipalArn") == (ALICE.arn,)
    assert ctx.values_of("aws:PrincipalAccount") == (ACCOUNT,)
    assert ctx.values_of("aws:PrincipalType") == ("User",)
    root = RequestContext("s3:GetObject", resource_arn("b", "k"), ROOT)
    assert root.values_of("aws:username") == () and root.values_of("aws:userid") == (ACCOUNT,)
    assert root.values_of("aws:PrincipalType") == ("Account",)
    anonymous = RequestContext("s3:GetObject", resource_arn("b", "k"), None)
    assert anonymous.values_of("aws:userid") == () and anonymous.values_of("aws:PrincipalType") == ("Anonymous",)
    told = RequestContext("s3:GetObject", resource_arn("b", "k"), ALICE, {"aws:username": "someone"})
    assert told.values_of("aws:username") == ("someone",)


def test_resource_arns():
    assert resource_arn() == "arn:aws:s3:::"
    assert resource_arn("b") == "arn:aws:s3:::b"
    assert resource_arn("b", "k/e/y") == "arn:aws:s3:::b/k/e/y"
    assert resource_arn("b", "") == "arn:aws:s3:::b/"


# -- AWS's documented example policies ---------------------------------------------------------------


def test_read_only_access_for_anonymous_users():
    policy = bucket_policy(
        {
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [f"arn:aws:s3:::{BUCKET}/*"],
        }
    )
    assert decide(policy, "s3:GetObject", "index.html") is ALLOW
    assert decide(policy, "s3:GetObjectVersion", "index.html", s3_versionid="3HL4kqtJlcpXroDTDmJ") is ALLOW
    assert decide(policy, "s3:ListBucket") is NOT_APPLICABLE
    assert decide(policy, "s3:PutObject", "index.html") is NOT_APPLICABLE
    assert decide(policy, "s3:GetObject", "index.html", bucket="other") is NOT_APPLICABLE


def test_deny_requests_from_outside_an_ip_range():
    policy = bucket_policy(
        statement(Action="s3:*", Resource=[f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]),
        {
            "Sid": "IPAllow",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
        },
    )
    assert decide(policy, "s3:GetObject", "k", aws_SourceIp="192.0.2.17") is ALLOW
    assert decide(policy, "s3:GetObject", "k", aws_SourceIp="198.51.100.4") is DENY
    assert decide(policy, "s3:ListBucket", aws_SourceIp="2001:db8::1") is DENY


def test_allow_an_ip_range_except_an_address_in_ipv4_and_ipv6():
    policy = bucket_policy(
        {
            "Sid": "IPAllow",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
            "Condition": {
                "IpAddress": {"aws:SourceIp": ["54.240.143.0/24", "2001:DB8:1234:5678::/64"]},
                "NotIpAddress": {"aws:SourceIp": ["54.240.143.128/30", "2001:DB8:1234:5678:ABCD::/80"]},
            },
        }
    )
    assert decide(policy, "s3:GetObject", "k", aws_SourceIp="54.240.143.1") is ALLOW
    assert decide(policy, "s3:GetObject", "k", aws_SourceIp="54.240.143.129") is NOT_APPLICABLE
    assert decide(policy, "s3:GetObject", "k", aws_SourceIp="2001:db8:1234:5678::1") is ALLOW
    assert decide(policy, "s3:GetObject", "k", aws_SourceIp="2001:db8:1234:5678:abcd::1") is NOT_APPLICABLE
    assert decide(policy, "s3:GetObject", "k", aws_SourceIp="54.240.144.1") is NOT_APPLICABLE
    assert decide(policy, "s3:GetObject", "k") is NOT_APPLICABLE


def test_deny_requests_not_over_tls():
    policy = bucket_policy(
        statement(Action="s3:GetObject"),
        {
            "Sid": "AllowSSLRequestsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    assert decide(policy, "s3:GetObject", "k", aws_SecureTransport="true") is ALLOW
    assert decide(policy, "s3:GetObject", "k", aws_SecureTransport="false") is DENY
    assert decide(policy, "s3:PutObject", "k", principal=ALICE, aws_SecureTransport="false") is DENY


def test_user_home_folders_with_the_username_variable():
    # IAM's example of one group policy giving each user a home folder in a shared bucket.
    policy = identity_policy(
        {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Resource": "arn:aws:s3:::*"},
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{BUCKET}",
            "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}},
        },
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}/home/${{aws:username}}", f"arn:aws:s3:::{BUCKET}/home/${{aws:username}}/*"],
        },
    )
    assert decide(policy, "s3:ListAllMyBuckets", bucket=None, principal=ALICE) is ALLOW
    assert decide(policy, "s3:GetBucketLocation", principal=ALICE) is ALLOW
    for prefix in ("", "home/", "home/alice/"):
        assert decide(policy, "s3:ListBucket", principal=ALICE, s3_prefix=prefix) is ALLOW
    for prefix in ("home/bob/", "home/alice/deeper/", "other/"):
        assert decide(policy, "s3:ListBucket", principal=ALICE, s3_prefix=prefix) is NOT_APPLICABLE
    assert decide(policy, "s3:ListBucket", principal=ALICE) is NOT_APPLICABLE  # no prefix given: the key is absent
    assert decide(policy, "s3:PutObject", "home/alice/cv.pdf", principal=ALICE) is ALLOW
    assert decide(policy, "s3:DeleteObject", "home/alice", principal=ALICE) is ALLOW
    assert decide(policy, "s3:GetObject", "home/bob/cv.pdf", principal=ALICE) is NOT_APPLICABLE
    assert decide(policy, "s3:GetObject", "home/alicexyz/cv.pdf", principal=ALICE) is NOT_APPLICABLE


def test_require_tags_on_uploads():
    policy = bucket_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ALICE.arn},
            "Action": ["s3:PutObject", "s3:PutObjectTagging"],
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
            "Condition": {
                "StringEquals": {"s3:RequestObjectTag/Project": "Pickles"},
                "ForAllValues:StringLike": {"s3:RequestObjectTagKeys": ["Project", "Owner"]},
            },
        }
    )
    ok = {"s3:RequestObjectTag/Project": "Pickles", "s3:RequestObjectTagKeys": ["Project", "Owner"], "s3:RequestObjectTag/Owner": "alice"}
    assert decide(policy, "s3:PutObject", "k", principal=ALICE, keys=ok) is ALLOW
    assert decide(policy, "s3:PutObject", "k", principal=ALICE, keys={**ok, "s3:RequestObjectTag/Project": "Gherkins"}) is NOT_APPLICABLE
    assert (
        decide(policy, "s3:PutObject", "k", principal=ALICE, keys={**ok, "s3:RequestObjectTagKeys": ["Project", "Secret"]})
        is NOT_APPLICABLE
    )
    assert decide(policy, "s3:PutObject", "k", principal=ALICE) is NOT_APPLICABLE


def test_read_only_objects_tagged_for_production():
    policy = bucket_policy(
        statement(Principal={"AWS": ALICE.arn}, Condition={"StringEquals": {"s3:ExistingObjectTag/environment": "production"}})
    )
    assert decide(policy, "s3:GetObject", "k", principal=ALICE, keys={"s3:ExistingObjectTag/environment": "production"}) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=ALICE, keys={"s3:ExistingObjectTag/environment": "staging"}) is NOT_APPLICABLE
    assert decide(policy, "s3:GetObject", "k", principal=ALICE) is NOT_APPLICABLE


def test_restrict_to_a_referer():
    policy = bucket_policy(statement(Condition={"StringLike": {"aws:Referer": ["http://www.example.com/*", "http://example.com/*"]}}))
    assert decide(policy, "s3:GetObject", "img.png", aws_Referer="http://www.example.com/page.html") is ALLOW
    assert decide(policy, "s3:GetObject", "img.png", aws_Referer="http://evil.example.net/") is NOT_APPLICABLE
    assert decide(policy, "s3:GetObject", "img.png") is NOT_APPLICABLE


def test_require_mfa_for_a_prefix():
    policy = bucket_policy(
        statement(Action="s3:*"),
        statement(
            Effect="Deny",
            Action="s3:*",
            Resource=f"arn:aws:s3:::{BUCKET}/taxdocuments/*",
            Condition={"Null": {"aws:MultiFactorAuthAge": "true"}},
        ),
        statement(
            Effect="Deny",
            Action="s3:*",
            Resource=f"arn:aws:s3:::{BUCKET}/taxdocuments/*",
            Condition={"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}},
        ),
    )
    assert decide(policy, "s3:GetObject", "taxdocuments/2024.pdf") is DENY
    assert decide(policy, "s3:GetObject", "taxdocuments/2024.pdf", aws_MultiFactorAuthAge="7200") is DENY
    assert decide(policy, "s3:GetObject", "taxdocuments/2024.pdf", aws_MultiFactorAuthAge="60") is ALLOW
    assert decide(policy, "s3:GetObject", "photos/cat.jpg") is ALLOW


def test_uploads_must_give_the_bucket_owner_full_control():
    policy = bucket_policy(
        statement(
            Principal={"AWS": CAROL.arn}, Action="s3:PutObject", Condition={"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}
        )
    )
    assert decide(policy, "s3:PutObject", "k", principal=CAROL, keys={"s3:x-amz-acl": "bucket-owner-full-control"}) is ALLOW
    assert decide(policy, "s3:PutObject", "k", principal=CAROL, keys={"s3:x-amz-acl": "private"}) is NOT_APPLICABLE
    assert decide(policy, "s3:PutObject", "k", principal=CAROL) is NOT_APPLICABLE


def test_deny_signature_version_2_and_presigned_urls():
    policy = bucket_policy(
        statement(Action="s3:*"),
        statement(Effect="Deny", Action="s3:*", Condition={"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}}),
        statement(Effect="Deny", Action="s3:*", Condition={"StringNotEquals": {"s3:authType": "REST-HEADER"}}),
    )
    v4 = {"s3:signatureversion": "AWS4-HMAC-SHA256", "s3:authType": "REST-HEADER"}
    assert decide(policy, "s3:GetObject", "k", principal=ALICE, keys=v4) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=ALICE, keys={**v4, "s3:signatureversion": "AWS"}) is DENY
    assert decide(policy, "s3:GetObject", "k", principal=ALICE, keys={**v4, "s3:authType": "REST-QUERY-STRING"}) is DENY
    assert decide(policy, "s3:GetObject", "k", principal=None) is DENY  # anonymous: neither key, and NotEquals holds


def test_listings_limited_to_ten_keys_and_a_delimiter():
    policy = identity_policy(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{BUCKET}",
            "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}, "StringEquals": {"s3:delimiter": "/"}},
        }
    )
    assert decide(policy, "s3:ListBucket", principal=ALICE, keys={"s3:max-keys": "10", "s3:delimiter": "/"}) is ALLOW
    assert decide(policy, "s3:ListBucket", principal=ALICE, keys={"s3:max-keys": "1000", "s3:delimiter": "/"}) is NOT_APPLICABLE
    assert decide(policy, "s3:ListBucket", principal=ALICE, keys={"s3:max-keys": "5"}) is NOT_APPLICABLE


def test_only_one_version_may_be_read():
    policy = bucket_policy(
        statement(Principal={"AWS": ALICE.arn}, Action="s3:GetObjectVersion"),
        statement(
            Effect="Deny",
            Principal={"AWS": ALICE.arn},
            Action="s3:GetObjectVersion",
            Condition={"StringNotEquals": {"s3:versionid": "AaaHbAQitwiL_h47_44lRO2DDfLlBO5e"}},
        ),
    )
    assert decide(policy, "s3:GetObjectVersion", "k", principal=ALICE, s3_versionid="AaaHbAQitwiL_h47_44lRO2DDfLlBO5e") is ALLOW
    assert decide(policy, "s3:GetObjectVersion", "k", principal=ALICE, s3_versionid="other") is DENY


def test_access_only_in_a_time_window():
    policy = bucket_policy(
        statement(
            Condition={
                "DateGreaterThan": {"aws:CurrentTime": "2024-07-01T00:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2024-07-31T23:59:59Z"},
            }
        )
    )
    assert decide(policy, "s3:GetObject", "k", aws_CurrentTime="2024-07-15T08:00:00Z") is ALLOW
    assert decide(policy, "s3:GetObject", "k", aws_CurrentTime="2024-08-01T00:00:00Z") is NOT_APPLICABLE


def test_deny_everyone_but_named_users_and_roles_by_userid():
    policy = bucket_policy(
        statement(Principal={"AWS": ACCOUNT}, Action="s3:*"),
        statement(Effect="Deny", Action="s3:*", Condition={"StringNotLike": {"aws:userid": ["AROAEXAMPLEID:*", "AIDAALICE", ACCOUNT]}}),
    )
    assert decide(policy, "s3:GetObject", "k", principal=ALICE) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=ROOT) is ALLOW
    assert decide(policy, "s3:GetObject", "k", principal=BOB) is DENY
    role = Principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s", ACCOUNT, userid="AROAEXAMPLEID:s")
    assert decide(policy, "s3:GetObject", "k", principal=role) is ALLOW


def test_deny_a_user_agent():
    policy = bucket_policy(
        statement(Action="s3:*"),
        statement(Effect="Deny", Action="s3:*", Condition={"StringLike": {"aws:UserAgent": "*curl*"}}),
    )
    assert decide(policy, "s3:GetObject", "k", aws_UserAgent="curl/8.5.0") is DENY
    assert decide(policy, "s3:GetObject", "k", aws_UserAgent="aws-cli/2.15") is ALLOW
    assert decide(policy, "s3:GetObject", "k") is ALLOW
