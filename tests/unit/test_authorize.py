"""The authorization step: which IAM action each operation is, and today's rule."""

from __future__ import annotations

import pytest

from hoard.iam.actions import action_for
from hoard.iam.authorize import AccessRequest, Authorizer
from hoard.iam.credentials import Identity
from hoard.iam.errors import AccessDenied
from hoard.s3.router import ROUTES

ROOT = Identity("AKROOT", "secret", "0" * 64, "root")
USER = Identity("AKUSER", "secret", "1" * 64, "someone", is_root=False)


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


def test_todays_rule_root_may_anonymous_may_not():
    authorizer = Authorizer()
    for route in ROUTES:
        authorizer.authorize(AccessRequest.for_operation(ROOT, route.name, "bucket", "key"))
        with pytest.raises(AccessDenied):
            authorizer.authorize(AccessRequest.for_operation(None, route.name, "bucket", "key"))
        with pytest.raises(AccessDenied):
            authorizer.authorize(AccessRequest.for_operation(USER, route.name, "bucket", "key"))
