"""Access control lists, S3's older way of granting: who (a canonical user, or a group such as
everyone) may do what (READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL) to one bucket or object
version. Pure: the grants, the canned ACLs, and what a grant lets a request do.

An empty ACL is the default: the owner has FULL_CONTROL and nobody else anything.
"""

from __future__ import annotations

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
CANONICAL_USER, GROUP = "CanonicalUser", "Group"

Grant = tuple[str, str, str]  # (CanonicalUser or Group, the user's canonical id or the group's URI, permission)
Acl = tuple[Grant, ...]

CANNED = ("private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write", "aws-exec-read")

# What each permission lets a request do, by IAM action: on an object version, and on a bucket.
OBJECT_PERMISSIONS = {
    "READ": {"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"},
    "READ_ACP": {"s3:GetObjectAcl", "s3:GetObjectVersionAcl"},
    "WRITE_ACP": {"s3:PutObjectAcl", "s3:PutObjectVersionAcl"},
}
BUCKET_PERMISSIONS = {
    "READ": {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"},
    "WRITE": {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
    "READ_ACP": {"s3:GetBucketAcl"},
    "WRITE_ACP": {"s3:PutBucketAcl"},
}


def default_acl(owner: str) -> Acl:
    return ((CANONICAL_USER, owner, "FULL_CONTROL"),)


def canned(name: str, owner: str, bucket_owner: str | None = None) -> Acl:
    """The grants of a canned ACL (``x-amz-acl``) on what ``owner`` owns; ValueError for a name S3
    does not have. bucket-owner-* grant the bucket's owner, where that is another account."""
    grants = list(default_acl(owner))
    other = bucket_owner is not None and bucket_owner != owner
    if name in ("private", "aws-exec-read"):
        pass
    elif name in ("bucket-owner-read", "bucket-owner-full-control"):
        if other:
            grants.append((CANONICAL_USER, bucket_owner, "READ" if name == "bucket-owner-read" else "FULL_CONTROL"))
    elif name == "public-read":
        grants.append((GROUP, ALL_USERS, "READ"))
    elif name == "public-read-write":
        grants += [(GROUP, ALL_USERS, "READ"), (GROUP, ALL_USERS, "WRITE")]
    elif name == "authenticated-read":
        grants.append((GROUP, AUTHENTICATED_USERS, "READ"))
    elif name == "log-delivery-write":
        grants += [(GROUP, LOG_DELIVERY, "WRITE"), (GROUP, LOG_DELIVERY, "READ_ACP")]
    else:
        raise ValueError(name)
    return tuple(grants)


def effective(acl: Acl, owner: str) -> Acl:
    return acl or default_acl(owner)


def is_public(acl: Acl) -> bool:
    """Whether the ACL grants anything to everyone or to every authenticated AWS user."""
    return any(kind == GROUP and who in PUBLIC_GROUPS for kind, who, _ in acl)


def grants_action(acl: Acl, action: str, requester: str | None, *, on_object: bool, ignore_public: bool = False) -> bool:
    """Whether the ACL lets ``requester`` (a canonical id; None for an anonymous request) do
    ``action``; ``ignore_public`` leaves out grants to everyone (IgnorePublicAcls)."""
    table = OBJECT_PERMISSIONS if on_object else BUCKET_PERMISSIONS
    for kind, who, permission in acl:
        if permission != "FULL_CONTROL" and action not in table.get(permission, ()):
            continue
        if permission == "FULL_CONTROL" and not any(action in actions for actions in table.values()):
            continue
        if kind == CANONICAL_USER and requester is not None and who == requester:
            return True
        if kind == GROUP and not ignore_public:
            if who == ALL_USERS or (who == AUTHENTICATED_USERS and requester is not None):
                return True
    return False
