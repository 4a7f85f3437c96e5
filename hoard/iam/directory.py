"""The deployment's IAM directory: accounts, users, their access keys, groups and the policies
attached to them, as plain data with the rules every change must keep (names, limits, references).

An account is what owns buckets and objects and what ACLs grant to, as on AWS: the deployment's
own account (its root key's, named by no entry here), and every further account made with
``hoard admin account add``, each a separate owner whose users reach another account's buckets
only where that account's bucket policy or ACLs let them. A user belongs to one account.

It is kept whole in one file on every drive (``hoard.iam.identities``); secret keys in it are
sealed (``hoard.iam.secrets``). Each change makes a new directory with a higher generation.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from dataclasses import asdict, dataclass, field, replace

NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
POLICY_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,128}")
MAX_KEYS_PER_USER = 10
MAX_POLICIES_PER_ENTITY = 20

# The built-in policies every deployment has, by name (IAM policy documents).
BUILTIN_POLICIES: dict[str, dict] = {
    "readonly": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
                           "s3:GetObjectAttributes", "s3:GetObjectAcl", "s3:GetObjectVersionAcl", "s3:GetObjectRetention",
                           "s3:GetObjectLegalHold", "s3:ListBucket", "s3:ListBucketVersions", "s3:ListAllMyBuckets",
                           "s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:GetBucketTagging", "s3:GetBucketAcl",
                           "s3:ListBucketMultipartUploads", "s3:ListMultipartUploadParts"],
                "Resource": ["arn:aws:s3:::*"],
            }
        ],
    },  # fmt: skip
    "writeonly": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads"],
                "Resource": ["arn:aws:s3:::*"],
            }
        ],
    },
    "readwrite": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}]},
    "admin": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "admin:*"], "Resource": ["*"]}]},
}


class IamError(Exception):
    """A change the directory refuses; ``code`` as AWS IAM names it, ``status`` its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _no_such(kind: str, name: str) -> IamError:
    return IamError("NoSuchEntity", f"The {kind} with name {name} cannot be found.", 404)


def _exists(kind: str, name: str) -> IamError:
    return IamError("EntityAlreadyExists", f"The {kind} with name {name} already exists.", 409)


def _check_name(kind: str, name: str, pattern: re.Pattern = NAME) -> None:
    if not pattern.fullmatch(name):
        raise IamError("ValidationError", f"The {kind} name {name!r} is not valid: letters, digits and +=,.@_- only, at most {64 if pattern is NAME else 128}.")


@dataclass(frozen=True)
class AccessKey:
    access_key: str
    sealed_secret: str  # hoard.iam.secrets: never the secret in clear text
    user: str
    created: float
    expires: float | None = None  # a Unix time after which the key no longer works


@dataclass(frozen=True)
class Account:
    name: str
    account_id: str  # 12 digits, as ARNs name an account
    canonical_id: str  # 64 hex characters: the account's canonical user id, which ACLs name
    created: float
    email: str = ""  # for ACL grants by e-mail address (emailAddress=...)


@dataclass(frozen=True)
class User:
    name: str
    user_id: str  # AWS's unique id of an IAM user (AIDA...): what aws:userid is
    created: float
    enabled: bool = True
    policies: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    account: str = ""  # the name of the account it belongs to; "" for the deployment's own


@dataclass(frozen=True)
class Group:
    name: str
    created: float
    policies: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    document: str  # the policy's JSON, as given (validated when created)
    created: float


def new_access_key() -> str:
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def new_secret_key() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))


def _new_account(name: str, email: str, now: float, taken: set[str]) -> Account:
    account_id = next(a for a in iter(lambda: f"{secrets.randbelow(10**12):012d}", None) if a not in taken)
    return Account(name, account_id, secrets.token_hex(32), now, email)


def _new_user_id() -> str:
    return "AIDA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(17))


@dataclass(frozen=True)
class Directory:
    generation: int = 0
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, AccessKey] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)

    # -- reading -------------------------------------------------------------------------------
    def user(self, name: str) -> User:
        if name not in self.users:
            raise _no_such("user", name)
        return self.users[name]

    def account(self, name: str) -> Account:
        if name not in self.accounts:
            raise _no_such("account", name)
        return self.accounts[name]

    def group(self, name: str) -> Group:
        if name not in self.groups:
            raise _no_such("group", name)
        return self.groups[name]

    def policy_document(self, name: str) -> str:
        if name in BUILTIN_POLICIES:
            return json.dumps(BUILTIN_POLICIES[name])
        if name not in self.policies:
            raise _no_such("policy", name)
        return self.policies[name].document

    def policy_names(self) -> list[str]:
        return sorted(set(BUILTIN_POLICIES) | set(self.policies))

    def keys_of(self, user: str) -> list[AccessKey]:
        return sorted((k for k in self.keys.values() if k.user == user), key=lambda k: k.created)

    def members(self, group: str) -> list[str]:
        return sorted(u.name for u in self.users.values() if group in u.groups)

    def effective_policies(self, user: str) -> list[str]:
        """The names of every policy that applies to the user: its own, then its groups'."""
        u = self.user(user)
        names = list(u.policies)
        for g in u.groups:
            names += [p for p in self.groups[g].policies if p not in names] if g in self.groups else []
        return names

    # -- changing: each returns the next directory ---------------------------------------------
    def _next(self, **changes: dict) -> Directory:
        return replace(self, generation=self.generation + 1, **changes)

    def add_account(self, name: str, email: str, now: float, main_account_id: str) -> Directory:
        _check_name("account", name)
        if name in self.accounts:
            raise _exists("account", name)
        if email and any(a.email.lower() == email.lower() for a in self.accounts.values()):
            raise IamError("EntityAlreadyExists", f"An account with the e-mail address {email} already exists.", 409)
        taken = {main_account_id} | {a.account_id for a in self.accounts.values()}
        return self._next(accounts={**self.accounts, name: _new_account(name, email, now, taken)})

    def remove_account(self, name: str) -> Directory:
        """Refused while users belong to it (the admin API also refuses while it owns buckets)."""
        self.account(name)
        users = sorted(u.name for u in self.users.values() if u.account == name)
        if users:
            raise IamError("DeleteConflict", f"The account {name} still has users: {', '.join(users)}. Remove them first.", 409)
        return self._next(accounts={k: v for k, v in self.accounts.items() if k != name})

    def add_user(self, name: str, now: float, account: str = "") -> Directory:
        _check_name("user", name)
        if name in self.users:
            raise _exists("user", name)
        if account:
            self.account(account)
        return self._next(users={**self.users, name: User(name, _new_user_id(), now, account=account)})

    def set_enabled(self, name: str, enabled: bool) -> Directory:
        return self._next(users={**self.users, name: replace(self.user(name), enabled=enabled)})

    def remove_user(self, name: str) -> Directory:
        self.user(name)
        users = {k: v for k, v in self.users.items() if k != name}
        # Removing a user revokes its keys with it: nothing it had may keep working.
        return self._next(users=users, keys={k: v for k, v in self.keys.items() if v.user != name})

    def add_key(self, key: AccessKey) -> Directory:
        self.user(key.user)
        if len(self.keys_of(key.user)) >= MAX_KEYS_PER_USER:
            raise IamError("LimitExceeded", f"User {key.user} already has {MAX_KEYS_PER_USER} access keys.", 409)
        return self._next(keys={**self.keys, key.access_key: key})

    def remove_key(self, access_key: str) -> Directory:
        if access_key not in self.keys:
            raise IamError("NoSuchEntity", f"The access key {access_key} cannot be found.", 404)
        return self._next(keys={k: v for k, v in self.keys.items() if k != access_key})

    def add_policy(self, name: str, document: str, now: float) -> Directory:
        _check_name("policy", name, POLICY_NAME)
        if name in self.policies or name in BUILTIN_POLICIES:
            raise _exists("policy", name)
        return self._next(policies={**self.policies, name: ManagedPolicy(name, document, now)})

    def remove_policy(self, name: str) -> Directory:
        if name in BUILTIN_POLICIES:
            raise IamError("DeleteConflict", f"The policy {name} is built in and cannot be removed.", 409)
        if name not in self.policies:
            raise _no_such("policy", name)
        holders = [u.name for u in self.users.values() if name in u.policies] + [g.name for g in self.groups.values() if name in g.policies]
        if holders:
            raise IamError("DeleteConflict", f"The policy {name} is attached to {', '.join(sorted(holders))}: detach it first.", 409)
        return self._next(policies={k: v for k, v in self.policies.items() if k != name})

    def attach(self, policy: str, user: str | None = None, group: str | None = None) -> Directory:
        self.policy_document(policy)
        if user is not None:
            u = self.user(user)
            if policy in u.policies:
                return self
            if len(u.policies) >= MAX_POLICIES_PER_ENTITY:
                raise IamError("LimitExceeded", f"User {user} already has {MAX_POLICIES_PER_ENTITY} policies attached.", 409)
            return self._next(users={**self.users, user: replace(u, policies=(*u.policies, policy))})
        assert group is not None
        g = self.group(group)
        if policy in g.policies:
            return self
        if len(g.policies) >= MAX_POLICIES_PER_ENTITY:
            raise IamError("LimitExceeded", f"Group {group} already has {MAX_POLICIES_PER_ENTITY} policies attached.", 409)
        return self._next(groups={**self.groups, group: replace(g, policies=(*g.policies, policy))})

    def detach(self, policy: str, user: str | None = None, group: str | None = None) -> Directory:
        if user is not None:
            u = self.user(user)
            if policy not in u.policies:
                raise IamError("NoSuchEntity", f"The policy {policy} is not attached to user {user}.", 404)
            return self._next(users={**self.users, user: replace(u, policies=tuple(p for p in u.policies if p != policy))})
        assert group is not None
        g = self.group(group)
        if policy not in g.policies:
            raise IamError("NoSuchEntity", f"The policy {policy} is not attached to group {group}.", 404)
        return self._next(groups={**self.groups, group: replace(g, policies=tuple(p for p in g.policies if p != policy))})

    def add_group(self, name: str, now: float) -> Directory:
        _check_name("group", name, POLICY_NAME)
        if name in self.groups:
            raise _exists("group", name)
        return self._next(groups={**self.groups, name: Group(name, now)})

    def remove_group(self, name: str) -> Directory:
        self.group(name)
        users = {k: replace(v, groups=tuple(g for g in v.groups if g != name)) for k, v in self.users.items()}
        return self._next(groups={k: v for k, v in self.groups.items() if k != name}, users=users)

    def add_member(self, group: str, user: str) -> Directory:
        self.group(group)
        u = self.user(user)
        if group in u.groups:
            return self
        return self._next(users={**self.users, user: replace(u, groups=(*u.groups, group))})

    def remove_member(self, group: str, user: str) -> Directory:
        self.group(group)
        u = self.user(user)
        if group not in u.groups:
            raise IamError("NoSuchEntity", f"User {user} is not a member of group {group}.", 404)
        return self._next(users={**self.users, user: replace(u, groups=tuple(g for g in u.groups if g != group))})

    # -- the file ---------------------------------------------------------------------------------
    def to_json(self) -> bytes:
        doc = {
            "generation": self.generation,
            "users": [asdict(u) for u in self.users.values()],
            "keys": [asdict(k) for k in self.keys.values()],
            "groups": [asdict(g) for g in self.groups.values()],
            "policies": [asdict(p) for p in self.policies.values()],
            "accounts": [asdict(a) for a in self.accounts.values()],
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Directory:
        doc = json.loads(data)
        return cls(
            generation=doc["generation"],
            users={u["name"]: User(**{**u, "policies": tuple(u["policies"]), "groups": tuple(u["groups"])}) for u in doc["users"]},
            keys={k["access_key"]: AccessKey(**k) for k in doc["keys"]},
            groups={g["name"]: Group(**{**g, "policies": tuple(g["policies"])}) for g in doc["groups"]},
            policies={p["name"]: ManagedPolicy(**p) for p in doc["policies"]},
            # Directories written before accounts have none: every user is the deployment's.
            accounts={a["name"]: Account(**a) for a in doc.get("accounts", ())},
        )
