"""The authorization step every request passes after authentication and before its handler.

One function decides, for every S3 operation (and for the second resource some of them touch,
such as a copy's source): ``Authorizer.authorize(AccessRequest)``. The rules, AWS's:

- An account's root may do anything to what its account owns (``hoard.iam.directory``: accounts).
- Within one account, a user is allowed by a policy and not denied by one: its own IAM policies
  (attached to it or its groups) and the bucket's policy (an explicit Deny in either wins; else an
  Allow in either suffices; else the implicit deny); ACL grants to groups count too.
- Across accounts both sides must allow: the requester's own policies, and the owner's bucket
  policy or ACL grant to the requester's account or to a group.
- An anonymous request has only the bucket policy and ACLs; a public policy counts for it only
  where the bucket's public-access block does not restrict public buckets.

The request context (condition keys) is built by the S3 layer; what the bucket holds (its
policy, its public-access block) and an object's tags (``s3:ExistingObjectTag``) are looked up
here, through the callables the composition root hands over.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from hoard.iam import acl
from hoard.iam.actions import action_for
from hoard.iam.context import Principal, RequestContext, resource_arn
from hoard.iam.credentials import Identity
from hoard.iam.errors import AccessDenied, PolicyError
from hoard.iam.policy import Decision, Policy, evaluate, parse_policy
from hoard.iam.public import is_public
from hoard.meta.errors import BucketNotFound
from hoard.model import Bucket, ObjectRecord

BUCKET_POLICY_CONFIG = "policy"  # the bucket configuration the bucket policy's text is kept under
BUCKET_ACL_CONFIG = "acl"  # the bucket's ACL grants (absent: the owner's FULL_CONTROL alone)
OWNERSHIP_CONFIG = "ownership"  # ObjectOwnership: BucketOwnerEnforced turns ACLs off
ACLS_DISABLED = "BucketOwnerEnforced"
PUBLIC_ACCESS_BLOCK_CONFIG = "publicAccessBlock"
# Set on a bucket once it holds an object another account owns (ObjectWriter ownership): only
# then may an object's own ACL, rather than the bucket owner, decide who reads it.
FOREIGN_OBJECTS_CONFIG = "foreignObjects"
ADMIN_RESOURCE = "arn:hoard:admin:::"

# Operations whose IAM action names the version they act on when the request names one.
_VERSIONED_ACTIONS = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
}

_READS = {"s3:GetObject", "s3:GetObjectVersion"}
_OBJECT_ACL_ACTIONS = frozenset().union(*acl.OBJECT_PERMISSIONS.values())  # what an object's ACL may grant
BucketLookup = Callable[[str], Awaitable[Bucket | None]]  # a bucket by name, None if no such bucket
ObjectLookup = Callable[[str, str, str | None], Awaitable[ObjectRecord | None]]  # (bucket, key, version) -> the version


@dataclass(frozen=True)
class AccessRequest:
    """Who asks to do what to which resource, and the request's condition keys."""

    requester: Identity | None  # None: an anonymous request
    action: str  # the IAM action, e.g. "s3:GetObject" (see hoard.iam.actions)
    bucket: str | None = None
    key: str | None = None
    keys: Mapping[str, str | Iterable[str]] = field(default_factory=dict)
    version: str | None = None  # the version the request names (versionId)

    @classmethod
    def for_operation(
        cls,
        requester: Identity | None,
        operation: str,
        bucket: str | None,
        key: str | None,
        keys: Mapping[str, str | Iterable[str]] | None = None,
        version: str | None = None,
    ) -> AccessRequest:
        action = action_for(operation)
        if version is not None:
            action = _VERSIONED_ACTIONS.get(action, action)
        return cls(requester, action, bucket, key, dict(keys or {}), version)


@functools.lru_cache(maxsize=1024)
def identity_policy(document: str) -> Policy | None:
    """An identity policy, parsed once; None if it no longer parses (it then grants nothing)."""
    try:
        return parse_policy(document, kind="identity")
    except PolicyError:
        return None


@functools.lru_cache(maxsize=1024)
def bucket_policy(document: str, bucket: str) -> Policy | None:
    try:
        return parse_policy(document, kind="bucket", bucket=bucket)
    except PolicyError:
        return None


def principal_of(identity: Identity, account: str) -> Principal:
    if identity.is_root:
        return Principal(f"arn:aws:iam::{account}:root", account, canonical_id=identity.owner_id)
    return Principal(identity.arn, identity.account or account, username=identity.user, userid=identity.user_id, canonical_id=identity.owner_id)


def _mentions_existing_tags(documents: Iterable[str]) -> bool:
    """Whether a policy may look at the object's tags: only then are they looked up."""
    return any(_tests_tags(d) for d in documents)


@functools.lru_cache(maxsize=1024)
def _tests_tags(document: str) -> bool:
    # Once per policy text, not on every request that policy decides.
    return "existingobjecttag" in document.lower()


class Authorizer:
    def __init__(
        self, account: str = "", bucket_lookup: BucketLookup | None = None, object_lookup: ObjectLookup | None = None, owner: str = "", block_public: bool = False
    ) -> None:
        self.account = account
        self.block_public = block_public  # HOARD_BLOCK_PUBLIC_ACCESS: every bucket's block fully on
        self.owner = owner  # the deployment's own account's canonical id
        self._bucket_lookup = bucket_lookup
        self._object_lookup = object_lookup

    async def authorize(self, request: AccessRequest) -> Bucket | None:
        """Return the request's bucket as looked up (None where there is none to look up) if the
        request is allowed; raise AccessDenied otherwise (BucketNotFound for a bucket that does
        not exist)."""
        # Creating a bucket is asked of the requester's own account: whether another account
        # holds the name is the handler's to say (BucketAlreadyExists), not a refusal.
        creating = request.action == "s3:CreateBucket"
        bucket = await self._bucket_lookup(request.bucket) if (self._bucket_lookup and request.bucket and not creating) else None
        if bucket is None and request.bucket and self._bucket_lookup is not None and not creating:
            # S3 tells anyone that a bucket does not exist (its name is public, as DNS tells).
            raise BucketNotFound(request.bucket)
        await self._decide(request, bucket)
        return bucket

    async def _decide(self, request: AccessRequest, bucket: Bucket | None) -> None:
        identity = request.requester
        config = bucket.config if bucket is not None else {}
        looked_up: list[ObjectRecord | None] = []

        async def version() -> ObjectRecord | None:
            if not looked_up and request.key is not None and self._object_lookup is not None:
                looked_up.append(await self._object_lookup(request.bucket or "", request.key, request.version))
            return looked_up[0] if looked_up else None

        # Whose resource this is: the bucket owner's; the requester's own account's where there
        # is no bucket (yet); an object's own owner where another account wrote it and its ACL
        # decides (only buckets that ever took such an object need to look).
        owner = bucket.owner_id if bucket is not None else (identity.owner_id if identity is not None else self.owner)
        foreign = False
        if request.key is not None and config.get(FOREIGN_OBJECTS_CONFIG) and request.action in _OBJECT_ACL_ACTIONS:
            record = await version()
            if record is not None and record.owner_id and record.owner_id != owner:
                owner, foreign = record.owner_id, True
        same_account = identity is not None and identity.owner_id == owner
        if identity is not None and identity.is_root and same_account:
            return  # an account's root may do anything to what its account owns
        documents: list[str] = list(identity.policies) if identity is not None else []
        own = [p for p in (identity_policy(d) for d in documents) if p is not None]
        text = config.get(BUCKET_POLICY_CONFIG)
        resource_policy = bucket_policy(text, request.bucket) if text and request.bucket else None
        if resource_policy is not None and not same_account and (self.block_public or _restricted(config)) and is_public(resource_policy):
            # RestrictPublicBuckets: a public policy lets no one in from outside the account.
            resource_policy = None
        keys = dict(request.keys)
        if request.key is not None and _mentions_existing_tags([*documents, text or ""]):
            record = await version()
            for tag, value in (record.tags if record is not None else ()):
                keys[f"s3:ExistingObjectTag/{tag}"] = value
        ctx = RequestContext(
            action=request.action,
            resource=resource_arn(request.bucket, request.key),
            principal=principal_of(identity, self.account) if identity is not None else None,
            keys=keys,
            resource_account=self.account,
        )
        if identity is not None and identity.is_root:
            mine = Decision.ALLOW  # another account's root: its own account lets it do anything
        else:
            mine = evaluate(own, ctx) if own else Decision.NOT_APPLICABLE
        theirs = evaluate([resource_policy], ctx) if resource_policy is not None else Decision.NOT_APPLICABLE
        if foreign and theirs is Decision.ALLOW:
            theirs = Decision.NOT_APPLICABLE  # a bucket policy grants nothing on objects its owner does not own
        if Decision.DENY in (mine, theirs):
            raise self._denied(identity, ctx)
        if same_account:
            # Within one account an Allow in either policy suffices; an ACL's grant to the
            # account itself does not stand in for its users' own rights (groups' grants do).
            if Decision.ALLOW in (mine, theirs) or await self._acl_allows(request, config, owner, "", version):
                return
        else:
            # Across accounts both must agree: the requester's account (its identity policies;
            # anonymous requests have none) and the owner's (its bucket policy or an ACL).
            if (identity is None or mine is Decision.ALLOW) and (
                theirs is Decision.ALLOW or await self._acl_allows(request, config, owner, identity.owner_id if identity is not None else None, version)
            ):
                return
        missing = self._object_lookup is not None and request.key is not None and await version() is None
        if request.action in _READS and missing and await self._may_list(request):
            # S3 tells a reader who may list the bucket that the key is missing (404) rather
            # than that it may not read it (403): the listing would say so anyway.
            return
        raise self._denied(identity, ctx)

    @staticmethod
    def _denied(identity: Identity | None, ctx: RequestContext) -> AccessDenied:
        who = identity.display_name if identity is not None else "An anonymous request"
        return AccessDenied(f"{who} may not {ctx.action} on {ctx.resource}.")

    async def _may_list(self, request: AccessRequest) -> bool:
        # Listing this very name: a policy that lets them list only some prefixes counts for
        # the keys under those prefixes alone.
        listing = AccessRequest(request.requester, "s3:ListBucket", request.bucket, None, {**request.keys, "s3:prefix": request.key or ""})
        try:
            await self.authorize(listing)
        except AccessDenied:
            return False
        return True

    async def _acl_allows(
        self, request: AccessRequest, config: dict, owner: str, requester: str | None, version: Callable[[], Awaitable[ObjectRecord | None]]
    ) -> bool:
        """What no policy decided, an ACL may grant: the object version's for object actions, the
        bucket's for bucket actions (a bucket WRITE grant covers writing its objects).
        ``requester`` is the canonical id grants to an account match ("": none; None: anonymous)."""
        if config.get(OWNERSHIP_CONFIG) == ACLS_DISABLED:
            return False  # ACLs are off: only policies decide
        ignore_public = self.block_public or bool((config.get(PUBLIC_ACCESS_BLOCK_CONFIG) or {}).get("IgnorePublicAcls"))
        if request.key is not None and request.action in _OBJECT_ACL_ACTIONS:
            record = await version()
            if record is not None and acl.grants_action(acl.effective(record.acl, record.owner_id or owner), request.action, requester, on_object=True, ignore_public=ignore_public):
                return True
        bucket_acl = tuple(tuple(g) for g in config.get(BUCKET_ACL_CONFIG, ()))
        return bool(bucket_acl) and acl.grants_action(bucket_acl, request.action, requester, on_object=False, ignore_public=ignore_public)


def _restricted(config: dict) -> bool:
    return bool((config.get(PUBLIC_ACCESS_BLOCK_CONFIG) or {}).get("RestrictPublicBuckets"))


def administers(identity: Identity, operation: str = "*") -> bool:
    """Whether an identity's policies allow it the admin API's ``operation`` (``admin:*`` allows
    every one), and none denies it. Only the deployment's own account administers it."""
    if identity.is_root:
        return True
    if identity.account_name:
        return False
    policies = [p for p in (identity_policy(d) for d in identity.policies) if p is not None]
    ctx = RequestContext(action=f"admin:{operation}", resource=ADMIN_RESOURCE, principal=principal_of(identity, identity.account))
    return evaluate(policies, ctx) is Decision.ALLOW
