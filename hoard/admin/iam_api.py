"""The admin API's identity requests: accounts, users, access keys, policies and groups (``hoard
admin account | user | key | policy | group``). JSON in, JSON out; a refusal is an S3-style error document with IAM's
code (NoSuchEntity, EntityAlreadyExists, DeleteConflict, ...).

Every change goes through ``Identities.change``: the whole directory written to every drive,
then the other worker processes told. A secret key is answered once, when the key is made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import time
from collections.abc import Awaitable, Callable

from hoard.http.request import BodyStream, Request
from hoard.http.response import Response
from hoard.iam.directory import AccessKey, Directory, IamError
from hoard.iam.errors import PolicyError
from hoard.iam.identities import Identities
from hoard.iam.policy import parse_policy
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

MAX_POLICY_BODY = 64 * 1024
Handler = Callable[[Request, AuthContext], Awaitable[Response]]


def json_answer(value: object, status: int = 200) -> Response:
    return Response(status=status, headers={"content-type": "application/json"}, body=json.dumps(value, indent=1).encode())


def _refused(e: IamError) -> S3Error:
    return S3Error(e.code, e.message, status=e.status)


def _param(req: Request, name: str) -> str:
    value = req.params.get(name, "")
    if not value:
        raise S3Error("InvalidArgument", f"The {name} parameter is required.", ArgumentName=name)
    return value


def _expiry(raw: str, now: float) -> float | None:
    """``--expires``: seconds from now (``3600``), or an ISO 8601 date-time."""
    if not raw:
        return None
    if raw.isascii() and raw.isdigit():
        return now + int(raw)
    try:
        at = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise S3Error("InvalidArgument", "expires must be seconds from now or an ISO 8601 date-time.", ArgumentName="expires") from None
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    if at.timestamp() <= now:
        raise S3Error("InvalidArgument", "expires must be in the future.", ArgumentName="expires")
    return at.timestamp()


def _key_json(key: AccessKey) -> dict:
    return {"access_key": key.access_key, "user": key.user, "created": key.created, "expires": key.expires}


BucketsOwned = Callable[[str], Awaitable[list[str]]]  # a canonical id -> the buckets it owns


class IamAdmin:
    def __init__(self, identities: Identities, buckets_owned: BucketsOwned | None = None) -> None:
        self.identities = identities
        self.buckets_owned = buckets_owned
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "iam/accounts"): self.list_accounts,
            ("POST", "iam/accounts"): self.add_account,
            ("GET", "iam/account"): self.account_info,
            ("DELETE", "iam/account"): self.remove_account,
            ("GET", "iam/users"): self.list_users,
            ("POST", "iam/users"): self.add_user,
            ("GET", "iam/user"): self.user_info,
            ("DELETE", "iam/user"): self.remove_user,
            ("POST", "iam/user/enable"): self.enable_user,
            ("POST", "iam/user/disable"): self.disable_user,
            ("GET", "iam/keys"): self.list_keys,
            ("POST", "iam/keys"): self.create_key,
            ("DELETE", "iam/key"): self.revoke_key,
            ("GET", "iam/policies"): self.list_policies,
            ("POST", "iam/policies"): self.create_policy,
            ("GET", "iam/policy"): self.show_policy,
            ("DELETE", "iam/policy"): self.remove_policy,
            ("POST", "iam/attach"): self.attach,
            ("POST", "iam/detach"): self.detach,
            ("GET", "iam/groups"): self.list_groups,
            ("POST", "iam/groups"): self.add_group,
            ("DELETE", "iam/group"): self.remove_group,
            ("GET", "iam/group"): self.group_info,
            ("POST", "iam/group/members"): self.change_members,
        }

    async def _change(self, mutate: Callable[[Directory], Directory]) -> Directory:
        try:
            return await asyncio.to_thread(self.identities.change, mutate)
        except IamError as e:
            raise _refused(e) from None

    @property
    def _dir(self) -> Directory:
        self.identities.refresh()  # another process's or node's change shows at once
        return self.identities.directory

    # -- accounts -----------------------------------------------------------------------------
    def _account_json(self, d: Directory, name: str) -> dict:
        a = d.account(name)
        return {
            "name": a.name,
            "account_id": a.account_id,
            "canonical_id": a.canonical_id,
            "email": a.email,
            "created": a.created,
            "users": sorted(u.name for u in d.users.values() if u.account == a.name),
        }

    async def list_accounts(self, req: Request, auth: AuthContext) -> Response:
        d = self._dir
        root = self.identities.root
        main = {"name": "", "account_id": self.identities.account, "canonical_id": root.owner_id, "display_name": root.display_name}
        return json_answer({"deployment": main, "accounts": [self._account_json(d, n) for n in sorted(d.accounts)]})

    async def add_account(self, req: Request, auth: AuthContext) -> Response:
        name, email = _param(req, "name"), req.params.get("email", "")
        d = await self._change(lambda d: d.add_account(name, email, _now(), self.identities.account))
        return json_answer(self._account_json(d, name), 201)

    async def account_info(self, req: Request, auth: AuthContext) -> Response:
        try:
            return json_answer(self._account_json(self._dir, _param(req, "name")))
        except IamError as e:
            raise _refused(e) from None

    async def remove_account(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        try:
            account = self._dir.account(name)
        except IamError as e:
            raise _refused(e) from None
        owned = await self.buckets_owned(account.canonical_id) if self.buckets_owned is not None else []
        if owned:
            # Its buckets would be left with an owner nobody can act as.
            raise S3Error("DeleteConflict", f"The account {name} still owns buckets: {', '.join(owned[:10])}. Delete them first.", status=409)
        await self._change(lambda d: d.remove_account(name))
        return json_answer({"removed": name})

    # -- users --------------------------------------------------------------------------------
    async def list_users(self, req: Request, auth: AuthContext) -> Response:
        d = self._dir
        return json_answer({"users": [self._user_json(d, name) for name in sorted(d.users)]})

    def _user_json(self, d: Directory, name: str) -> dict:
        u = d.user(name)
        account = d.accounts[u.account].account_id if u.account in d.accounts else None
        return {
            "name": u.name,
            "account": u.account,
            "user_id": u.user_id,
            "arn": self.identities.user_arn(u.name, account),
            "created": u.created,
            "enabled": u.enabled,
            "policies": list(u.policies),
            "groups": list(u.groups),
            "keys": [_key_json(k) for k in d.keys_of(u.name)],
        }

    async def add_user(self, req: Request, auth: AuthContext) -> Response:
        name, account = _param(req, "name"), req.params.get("account", "")
        d = await self._change(lambda d: d.add_user(name, _now(), account))
        return json_answer(self._user_json(d, name), 201)

    async def user_info(self, req: Request, auth: AuthContext) -> Response:
        try:
            return json_answer(self._user_json(self._dir, _param(req, "name")))
        except IamError as e:
            raise _refused(e) from None

    async def remove_user(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        await self._change(lambda d: d.remove_user(name))
        return json_answer({"removed": name})

    async def enable_user(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        d = await self._change(lambda d: d.set_enabled(name, True))
        return json_answer(self._user_json(d, name))

    async def disable_user(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        d = await self._change(lambda d: d.set_enabled(name, False))
        return json_answer(self._user_json(d, name))

    # -- access keys -----------------------------------------------------------------------------
    async def list_keys(self, req: Request, auth: AuthContext) -> Response:
        d = self._dir
        user = req.params.get("user", "")
        try:
            keys = d.keys_of(d.user(user).name) if user else sorted(d.keys.values(), key=lambda k: (k.user, k.created))
        except IamError as e:
            raise _refused(e) from None
        return json_answer({"keys": [_key_json(k) for k in keys]})

    async def create_key(self, req: Request, auth: AuthContext) -> Response:
        user = _param(req, "user")
        now = _now()
        expires = _expiry(req.params.get("expires", ""), now)
        try:
            key, secret = await asyncio.to_thread(self.identities.new_key, user, expires, now)
        except IamError as e:
            raise _refused(e) from None
        # The only time the secret leaves the server: it is kept sealed from now on.
        return json_answer({**_key_json(key), "secret_key": secret}, 201)

    async def revoke_key(self, req: Request, auth: AuthContext) -> Response:
        access_key = _param(req, "access_key")
        await self._change(lambda d: d.remove_key(access_key))
        return json_answer({"revoked": access_key})

    # -- policies --------------------------------------------------------------------------------
    async def list_policies(self, req: Request, auth: AuthContext) -> Response:
        d = self._dir
        return json_answer({"policies": [{"name": n, "builtin": n not in d.policies} for n in d.policy_names()]})

    async def create_policy(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        body = await _signed_body(req, auth, MAX_POLICY_BODY)
        try:
            document = body.decode("utf-8")
        except UnicodeDecodeError:
            raise S3Error("MalformedPolicyDocument", "The policy is not UTF-8 text.") from None
        try:
            parse_policy(document, kind="identity")
        except PolicyError as e:
            raise S3Error("MalformedPolicyDocument", e.message) from None
        await self._change(lambda d: d.add_policy(name, document, _now()))
        return json_answer({"name": name, "document": json.loads(document)}, 201)

    async def show_policy(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        try:
            document = self._dir.policy_document(name)
        except IamError as e:
            raise _refused(e) from None
        d = self._dir
        attached = {
            "users": sorted(u.name for u in d.users.values() if name in u.policies),
            "groups": sorted(g.name for g in d.groups.values() if name in g.policies),
        }
        return json_answer({"name": name, "builtin": name not in d.policies, "document": json.loads(document), "attached": attached})

    async def remove_policy(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        await self._change(lambda d: d.remove_policy(name))
        return json_answer({"removed": name})

    def _holder(self, req: Request) -> tuple[str | None, str | None]:
        user, group = req.params.get("user") or None, req.params.get("group") or None
        if (user is None) == (group is None):
            raise S3Error("InvalidArgument", "Name one user or one group.", ArgumentName="user")
        return user, group

    async def attach(self, req: Request, auth: AuthContext) -> Response:
        policy = _param(req, "policy")
        user, group = self._holder(req)
        await self._change(lambda d: d.attach(policy, user=user, group=group))
        return json_answer({"attached": policy, "user": user, "group": group})

    async def detach(self, req: Request, auth: AuthContext) -> Response:
        policy = _param(req, "policy")
        user, group = self._holder(req)
        await self._change(lambda d: d.detach(policy, user=user, group=group))
        return json_answer({"detached": policy, "user": user, "group": group})

    # -- groups ----------------------------------------------------------------------------------
    def _group_json(self, d: Directory, name: str) -> dict:
        g = d.group(name)
        return {"name": g.name, "created": g.created, "policies": list(g.policies), "members": d.members(g.name)}

    async def list_groups(self, req: Request, auth: AuthContext) -> Response:
        d = self._dir
        return json_answer({"groups": [self._group_json(d, n) for n in sorted(d.groups)]})

    async def add_group(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        d = await self._change(lambda d: d.add_group(name, _now()))
        return json_answer(self._group_json(d, name), 201)

    async def remove_group(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        await self._change(lambda d: d.remove_group(name))
        return json_answer({"removed": name})

    async def group_info(self, req: Request, auth: AuthContext) -> Response:
        try:
            return json_answer(self._group_json(self._dir, _param(req, "name")))
        except IamError as e:
            raise _refused(e) from None

    async def change_members(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        add, remove = req.params.get("add", ""), req.params.get("remove", "")
        if not add and not remove:
            raise S3Error("InvalidArgument", "Name a user to add or to remove.", ArgumentName="add")

        def change(d: Directory) -> Directory:
            for user in filter(None, add.split(",")):
                d = d.add_member(name, user)
            for user in filter(None, remove.split(",")):
                d = d.remove_member(name, user)
            return d

        d = await self._change(change)
        return json_answer(self._group_json(d, name))


async def _signed_body(req: Request, auth: AuthContext, limit: int) -> bytes:
    """The request's body, whole, checked against the SHA-256 its signature covers."""
    try:
        body = await BodyStream(req.receive, 20.0).read_all(limit)
    except Exception as e:  # noqa: BLE001 - too large, stalled or cut off: one answer
        raise S3Error("InvalidRequest", f"The request body could not be read: {type(e).__name__}.") from None
    claimed = auth.signed_payload_sha256
    if claimed is None or hashlib.sha256(body).hexdigest() != claimed:
        raise S3Error("XAmzContentSHA256Mismatch", "Admin requests sign their body's SHA-256.")
    return body


def _now() -> float:
    return round(time.time(), 3)
