"""The admin API's remotes (``hoard admin remote``): the S3 endpoints bucket replication writes to.

A remote's secret key travels only in the signed request body (never in a URL, which logs keep)
and no answer holds it. Every change goes through ``Remotes.change``: the whole list written to
every drive. A remote a bucket's replication configuration names cannot be removed (409
DeleteConflict naming the buckets), as S3 would leave the rules pointing nowhere.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from hoard.admin.iam_api import _param, _signed_body, json_answer
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.meta.store import MetaStore
from hoard.replication.remotes import (
    Remote,
    RemoteError,
    Remotes,
    StoredRemote,
    check_ca_bundle,
    check_name,
    check_region,
    check_url,
    describe,
)
from hoard.replication.rules import REPLICATION_CONFIG, ROLE_FOR
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

Handler = Callable[[Request, AuthContext], Awaitable[Response]]
MAX_BODY = 16 * 1024
CHECK_TIMEOUT = 10.0  # seconds for the remote to answer ``remote check``
SHOWN_BUCKETS = 10  # buckets a refusal names before "and N more"


def remote_json(r: StoredRemote) -> dict:
    """A remote as answers show it: never its secret key, sealed or not."""
    return {"name": r.name, "url": r.url, "access_key": r.access_key, "region": r.region, "ca_bundle": r.ca_bundle, "role": ROLE_FOR.format(remote=r.name)}


def _invalid(message: str, argument: str) -> S3Error:
    return S3Error("InvalidArgument", message, ArgumentName=argument)


def _no_such_remote(name: str) -> S3Error:
    return S3Error("NoSuchEntity", f"The remote {name} cannot be found (hoard admin remote list).")


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
        return json_answer({"remotes": [remote_json(r) for r in await asyncio.to_thread(self.remotes.listed)]})

    async def add_remote(self, req: Request, auth: AuthContext) -> Response:
        """Add a remote (``replace=true``: or change one, as to rotate its keys). Query: name, url,
        region, ca_bundle; body (signed): {"access_key": ..., "secret_key": ...}."""
        try:
            name = check_name(req.params.get("name", ""))
            url = check_url(req.params.get("url", ""))
            region = check_region(req.params.get("region") or "us-east-1")
            ca_bundle = await asyncio.to_thread(check_ca_bundle, req.params.get("ca_bundle", ""), url)
        except RemoteError as e:
            raise _invalid(f"Invalid remote: {e}.", "remote") from None
        try:
            doc = json.loads(await _signed_body(req, auth, MAX_BODY))
            access_key, secret_key = doc["access_key"], doc["secret_key"]
        except (ValueError, KeyError, TypeError):
            raise _invalid('The body must be a JSON object {"access_key": ..., "secret_key": ...}.', "body") from None
        if not (isinstance(access_key, str) and isinstance(secret_key, str) and access_key.strip() and secret_key.strip()):
            raise _invalid("The remote's access key and secret key must be given.", "body")
        replace = req.params.get("replace") == "true"
        stored = self.remotes.seal(Remote(name, url, access_key, secret_key, region, ca_bundle))

        def add(current: dict[str, StoredRemote]) -> dict[str, StoredRemote]:
            if name in current and not replace:
                raise S3Error("EntityAlreadyExists", f"The remote {name} already exists (hoard admin remote add --replace changes it).")
            return {**current, name: stored}

        await asyncio.to_thread(self.remotes.change, add)
        return json_answer(remote_json(stored), 201)

    async def buckets_naming(self, name: str) -> list[str]:
        """The buckets whose replication configuration names the remote ``name``."""
        found: list[str] = []
        after = ""
        while True:
            page = await self.store.list_buckets("", after, 1000)
            found += [b.name for b in page if (b.config.get(REPLICATION_CONFIG) or {}).get("remote") == name]
            if len(page) < 1000:
                return found
            after = page[-1].name

    async def remove_remote(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        users = await self.buckets_naming(name)
        if users:
            shown = ", ".join(users[:SHOWN_BUCKETS]) + (f" and {len(users) - SHOWN_BUCKETS} more" if len(users) > SHOWN_BUCKETS else "")
            raise S3Error(
                "DeleteConflict",
                f"The remote {name} is named by the replication configuration of {'bucket' if len(users) == 1 else 'buckets'} "
                f"{shown}: delete {'it' if len(users) == 1 else 'them'} first (aws s3api delete-bucket-replication).",
            )

        def remove(current: dict[str, StoredRemote]) -> dict[str, StoredRemote]:
            if name not in current:
                raise _no_such_remote(name)
            return {k: v for k, v in current.items() if k != name}

        await asyncio.to_thread(self.remotes.change, remove)
        return json_answer({"removed": name})

    async def check_remote(self, req: Request, auth: AuthContext) -> Response:
        """Connect to the remote with its keys and list its buckets: {"ok": true, "buckets": [...]}
        or {"ok": false, "error": one line}. The answer is 200 either way: the check ran."""
        name = _param(req, "name")
        stored = next((r for r in await asyncio.to_thread(self.remotes.listed) if r.name == name), None)
        if stored is None:
            raise _no_such_remote(name)
        remote = self.remotes.open(stored)

        def ask() -> dict:
            try:
                answer = remote.s3_client(timeout=CHECK_TIMEOUT).list_buckets()
            except Exception as e:  # noqa: BLE001 - whatever it is, it is the check's result
                return {"ok": False, "error": describe(e)}
            return {"ok": True, "buckets": [b["Name"] for b in answer.get("Buckets", [])]}

        return json_answer({**remote_json(stored), **await asyncio.to_thread(ask)})
