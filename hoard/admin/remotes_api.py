"""The admin API's remotes (``hoard admin remote``): the S3 endpoints bucket replication writes
to. The secret key travels in the signed request body, never in a URL (URLs end up in logs),
and is answered by no request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from hoard.admin.iam_api import _param, _signed_body, json_answer
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.meta.store import MetaStore
from hoard.replication.remotes import Remote, Remotes, StoredRemote, check_remote
from hoard.replication.rules import REPLICATION_CONFIG
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

Handler = Callable[[Request, AuthContext], Awaitable[Response]]
MAX_BODY = 16 * 1024


def _json(r: StoredRemote) -> dict:
    return {"name": r.name, "url": r.url, "access_key": r.access_key, "region": r.region, "ca_bundle": r.ca_bundle}


class RemotesAdmin:
    def __init__(self, remotes: Remotes, store: MetaStore) -> None:
        self.remotes = remotes
        self.store = store
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "remotes"): self.list_remotes,
            ("POST", "remotes"): self.add_remote,
            ("DELETE", "remote"): self.remove_remote,
            ("GET", "remote/check"): self.check_remote,
        }

    async def list_remotes(self, req: Request, auth: AuthContext) -> Response:
        return json_answer({"remotes": [_json(r) for r in await asyncio.to_thread(self.remotes.listed)]})

    async def add_remote(self, req: Request, auth: AuthContext) -> Response:
        name, url = _param(req, "name"), _param(req, "url").rstrip("/")
        try:
            check_remote(name, url)
            doc = json.loads(await _signed_body(req, auth, MAX_BODY))
            access_key, secret_key = doc["access_key"], doc["secret_key"]
            if not (isinstance(access_key, str) and isinstance(secret_key, str) and access_key and secret_key):
                raise ValueError("access_key and secret_key are needed")
        except (ValueError, KeyError, TypeError) as e:
            raise S3Error("InvalidArgument", f"Invalid remote: {e}", ArgumentName="remote") from None
        remote = Remote(name, url, access_key, secret_key, req.params.get("region") or "us-east-1", req.params.get("ca_bundle", ""))

        def add(stored: dict[str, StoredRemote]) -> dict[str, StoredRemote]:
            if name in stored:
                raise S3Error("EntityAlreadyExists", f"The remote {name} already exists.", status=409)
            return {**stored, name: self.remotes.seal(remote)}

        await asyncio.to_thread(self.remotes.change, add)
        return json_answer({"name": name, "url": url, "access_key": access_key, "region": remote.region, "ca_bundle": remote.ca_bundle}, 201)

    async def remove_remote(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        users = [b.name for b in await self.store.list_buckets("", "", 1_000_000) if (b.config.get(REPLICATION_CONFIG) or {}).get("remote") == name]
        if users:
            raise S3Error("DeleteConflict", f"The remote {name} is named by the replication configuration of: {', '.join(users[:10])}.", status=409)

        def remove(stored: dict[str, StoredRemote]) -> dict[str, StoredRemote]:
            if name not in stored:
                raise S3Error("NoSuchEntity", f"The remote {name} cannot be found.", status=404)
            return {k: v for k, v in stored.items() if k != name}

        await asyncio.to_thread(self.remotes.change, remove)
        return json_answer({"removed": name})

    async def check_remote(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        remote = (await asyncio.to_thread(self.remotes.load)).get(name)
        if remote is None:
            raise S3Error("NoSuchEntity", f"The remote {name} cannot be found.", status=404)

        def ask() -> dict:
            try:
                buckets = remote.s3_client(timeout=10).list_buckets().get("Buckets", [])
            except Exception as e:  # noqa: BLE001 - the answer is the check's result
                return {"name": name, "ok": False, "error": f"{type(e).__name__}: {e}"}
            return {"name": name, "ok": True, "buckets": len(buckets)}

        return json_answer(await asyncio.to_thread(ask))
