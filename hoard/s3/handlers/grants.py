"""ACLs on the wire: the ACL a request asks for (``x-amz-acl``, ``x-amz-grant-*``, or an
AccessControlPolicy document), checked against the bucket's public-access block, and the
AccessControlPolicy document GetBucketAcl and GetObjectAcl answer. (What grants allow:
``hoard.iam.acl``; the operations: ``acl``.)
"""

from __future__ import annotations

import re

from hoard.iam import acl
from hoard.iam.acl import Acl
from hoard.iam.authorize import ACLS_DISABLED, OWNERSHIP_CONFIG
from hoard.model import Bucket
from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.s3.handlers.common import Context, public_access_blocked
from hoard.s3.handlers.owners import display_name, writer

GRANT_HEADERS = {
    "x-amz-grant-read": "READ",
    "x-amz-grant-write": "WRITE",
    "x-amz-grant-read-acp": "READ_ACP",
    "x-amz-grant-write-acp": "WRITE_ACP",
    "x-amz-grant-full-control": "FULL_CONTROL",
}
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"?([^",]*)"?\s*(?:,|$)', re.IGNORECASE)


def known_ids(ctx: Context) -> set[str]:
    identities = ctx.services.identities
    return identities.canonical_ids() if identities is not None else {ctx.services.root.owner_id}


def resolve_grantee(ctx: Context, kind: str, value: str, permission: str, known: set[str]) -> acl.Grant:
    if kind == "emailaddress":
        # S3 keeps a grant by e-mail address as a grant to the account's canonical id.
        identities = ctx.services.identities
        found = identities.canonical_for_email(value) if identities is not None else None
        if found is None:
            raise S3Error("UnresolvableGrantByEmailAddress", "The e-mail address you provided does not match any account on record.", EmailAddress=value)
        return (acl.CANONICAL_USER, found, permission)
    if kind == "uri":
        if value not in acl.GROUPS:
            raise S3Error("InvalidArgument", "Invalid group uri", ArgumentName="uri", ArgumentValue=value)
        return (acl.GROUP, value, permission)
    if value not in known:
        raise S3Error("InvalidArgument", "Invalid id", ArgumentName="CanonicalUser/ID", ArgumentValue=value)
    return (acl.CANONICAL_USER, value, permission)


def request_acl(ctx: Context, bucket: Bucket | None, owner: str | None = None) -> Acl | None:
    """The ACL the request's headers give what it writes (owned by ``owner``; by default, the
    writer's account), or None if they give none. Canned and granted at once is refused, as are
    unknown names and grantees; a public ACL where the bucket's public-access block forbids one
    is 403."""
    h = ctx.req.headers
    name = h.get("x-amz-acl")
    granted = [(header, value) for header, value in h.items() if header in GRANT_HEADERS]
    if name is not None and granted:
        raise S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
    if acls_disabled(bucket):
        # The bucket owner owns everything and ACLs are off: only this one canned ACL, which
        # says exactly that, is taken (and changes nothing).
        if name == "bucket-owner-full-control" or (name is None and not granted):
            return None
        raise S3Error("AccessControlListNotSupported")
    if name is not None:
        try:
            grants = acl.canned(name, owner or writer(ctx, bucket), bucket.owner_id if bucket is not None else None)
        except ValueError:
            raise S3Error("InvalidArgument", None, ArgumentName="x-amz-acl", ArgumentValue=name) from None
    elif granted:
        known = known_ids(ctx)
        found: list[acl.Grant] = []
        for header, value in granted:
            matches = list(_GRANTEE.finditer(value))
            if not matches or "".join(m.group(0) for m in matches).strip() != value.strip():
                raise S3Error("InvalidArgument", f"Invalid {header} header value", ArgumentName=header, ArgumentValue=value)
            found += [resolve_grantee(ctx, m.group(1).lower(), m.group(2).strip(), GRANT_HEADERS[header], known) for m in matches]
        grants = tuple(found)
    else:
        return None
    check_public(ctx, bucket, grants)
    return grants


def acls_disabled(bucket: Bucket | None) -> bool:
    return bucket is not None and bucket.config.get(OWNERSHIP_CONFIG) == ACLS_DISABLED


def check_public(ctx: Context, bucket: Bucket | None, grants: Acl) -> None:
    if acl.is_public(grants) and public_access_blocked(ctx, bucket, "BlockPublicAcls"):
        raise S3Error("AccessDenied", "The bucket's public access block forbids public ACLs.")


def document_acl(ctx: Context, body: bytes, owner: str) -> Acl:
    """The grants of an AccessControlPolicy document for what ``owner`` owns."""
    root = xml.parse(body)
    if root.tag != "AccessControlPolicy":
        raise S3Error("MalformedACLError")
    named = root.findtext("Owner/ID")
    if named is not None and named.strip() != owner:
        raise S3Error("AccessDenied", "The ACL names another owner.")
    known = known_ids(ctx)
    grants: list[acl.Grant] = []
    for grant in root.findall("AccessControlList/Grant"):
        permission = (grant.findtext("Permission") or "").strip()
        grantee = grant.find("Grantee")
        if permission not in acl.PERMISSIONS or grantee is None:
            raise S3Error("MalformedACLError")
        kind = next((k for k in ("ID", "URI", "EmailAddress") if grantee.find(k) is not None), None)
        if kind is None:
            raise S3Error("MalformedACLError")
        grants.append(resolve_grantee(ctx, kind.lower(), (grantee.findtext(kind) or "").strip(), permission, known))
    return tuple(grants)


def render(ctx: Context, grants: Acl | None, owner: str) -> bytes:
    """The AccessControlPolicy document of an ACL on what ``owner`` owns; None (or, for objects,
    no grants) is the default, the owner's FULL_CONTROL alone."""
    entries = []
    # Group grants first, then users' (the order s3-tests reads them in; S3 gives none a meaning).
    ordered = sorted(acl.default_acl(owner) if grants is None else grants, key=lambda g: g[0] != acl.GROUP)
    for kind, who, permission in ordered:
        if kind == acl.GROUP:
            entries.append(("Grant", [("GRANTEE_GROUP", [("URI", who)]), ("Permission", permission)]))
        else:
            entries.append(("Grant", [("GRANTEE_USER", [("ID", who), ("DisplayName", display_name(ctx, who))]), ("Permission", permission)]))
    body = xml.render("AccessControlPolicy", [("Owner", [("ID", owner), ("DisplayName", display_name(ctx, owner))]), ("AccessControlList", entries)])
    # A Grantee names its type in an xsi:type attribute, which the small XML writer does not write.
    for placeholder, kind in ((b"GRANTEE_GROUP", "Group"), (b"GRANTEE_USER", "CanonicalUser")):
        body = body.replace(b"<" + placeholder + b">", f'<Grantee xmlns:xsi="{XSI}" xsi:type="{kind}">'.encode())
        body = body.replace(b"</" + placeholder + b">", b"</Grantee>")
    return body
