"""The admin API's site replication (``hoard admin site``): the sites of a site group keep the
same users, keys, policies and buckets (with their configurations), and replicate every
bucket's versions to each other.

A site group shares its root keys and its secrets key (so that a user's sealed secret, and the
account that owns buckets, mean the same on every site): ``site add`` checks both with the other
site before anything is kept. What each site serves the others: its identity, its IAM directory
(sealed secrets, as on its drives), its buckets; and it takes theirs where newer
(``hoard.admin.site_sync`` does the comparing, on the leader).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from hoard.admin.client import AdminClient, AdminError
from hoard.admin.iam_api import _param, _signed_body, json_answer
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.iam.directory import Directory
from hoard.iam.identities import Identities
from hoard.meta.store import MetaStore
from hoard.model import Bucket
from hoard.objects.data import SITE_LOCAL_CONFIGS, SITE_STAMP, ObjectData
from hoard.replication.remotes import Remote, RemoteError, Remotes, StoredRemote, check_name, check_url
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

Handler = Callable[[Request, AuthContext], Awaitable[Response]]
MAX_BODY = 4 * 1024 * 1024


def shared_config(config: dict) -> dict:
    """A bucket's configurations as the other sites get them: all but this site's own."""
    return {k: v for k, v in config.items() if k not in SITE_LOCAL_CONFIGS or k == SITE_STAMP}


def site_client(remote: Remote) -> AdminClient:
    return AdminClient(remote.url, remote.access_key, remote.secret_key, remote.region, source=f"site {remote.name}", ca_bundle=None)


class SitesAdmin:
    def __init__(
        self, identities: Identities, store: MetaStore, data: ObjectData, remotes: Remotes, status: Callable[[], dict], deleted: Callable[[], dict]
    ) -> None:
        self.identities = identities
        self.store = store
        self.data = data
        self.remotes = remotes
        self.status = status
        self.deleted = deleted
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "site/identity"): self.identity,
            ("GET", "site/iam"): self.get_iam,
            ("POST", "site/iam"): self.put_iam,
            ("GET", "site/buckets"): self.get_buckets,
            ("POST", "site/bucket"): self.put_bucket,
            ("GET", "sites"): self.list_sites,
            ("POST", "sites"): self.add_site,
        }

    def identity_of_this_site(self) -> dict:
        return {"root_owner": self.identities.root.owner_id, "account": self.identities.account, "secrets": self.identities.box.fingerprint}

    async def identity(self, req: Request, auth: AuthContext) -> Response:
        return json_answer(self.identity_of_this_site())

    async def get_iam(self, req: Request, auth: AuthContext) -> Response:
        return json_answer({"directory": json.loads(self.identities.directory.to_json())})

    async def put_iam(self, req: Request, auth: AuthContext) -> Response:
        try:
            directory = Directory.from_json(json.dumps(json.loads(await _signed_body(req, auth, MAX_BODY))["directory"]).encode())
        except (ValueError, KeyError, TypeError) as e:
            raise S3Error("InvalidArgument", f"Not an IAM directory: {e}") from None
        adopted = await asyncio.to_thread(self.identities.adopt, directory)
        return json_answer({"adopted": adopted, "generation": self.identities.directory.generation})

    async def get_buckets(self, req: Request, auth: AuthContext) -> Response:
        buckets = await self.store.list_buckets("", "", 1_000_000)
        listed = [{"name": b.name, "created": b.created, "location": b.location, "owner": b.owner_id, "config": shared_config(b.config)} for b in buckets]
        return json_answer({"buckets": listed, "deleted": await asyncio.to_thread(self.deleted)})

    async def put_bucket(self, req: Request, auth: AuthContext) -> Response:
        name = _param(req, "name")
        try:
            doc = json.loads(await _signed_body(req, auth, MAX_BODY))
            bucket = Bucket(name, float(doc["created"]), str(doc["location"]), str(doc["owner"]), shared_config(dict(doc["config"])))
        except (ValueError, KeyError, TypeError) as e:
            raise S3Error("InvalidArgument", f"Not a bucket: {e}") from None
        adopted = await self.data.adopt_bucket(self.store, bucket)
        return json_answer({"name": adopted.name, "stamp": adopted.config.get(SITE_STAMP)})

    async def list_sites(self, req: Request, auth: AuthContext) -> Response:
        sites = [r for r in await asyncio.to_thread(self.remotes.listed) if r.site]
        status = self.status()
        return json_answer({"this": self.identity_of_this_site(), "sites": [{"name": r.name, "url": r.url, **status.get(r.name, {})} for r in sites]})

    async def add_site(self, req: Request, auth: AuthContext) -> Response:
        try:
            name, url = check_name(_param(req, "name")), check_url(_param(req, "url"))
            doc = json.loads(await _signed_body(req, auth, 16 * 1024))
            remote = Remote(name, url, str(doc["access_key"]), str(doc["secret_key"]), req.params.get("region") or "us-east-1", site=True)
        except (RemoteError, ValueError, KeyError, TypeError) as e:
            raise S3Error("InvalidArgument", f"Invalid site: {e}", ArgumentName="site") from None
        try:
            theirs = await asyncio.to_thread(site_client(remote).call, "GET", "site/identity", {})
        except (AdminError, OSError) as e:
            raise S3Error("InvalidRequest", f"The site at {url} could not be asked who it is: {e}") from None
        mine = self.identity_of_this_site()
        if theirs.get("root_owner") != mine["root_owner"]:
            raise S3Error("InvalidRequest", "The sites of a site group share their root keys: start the other site with this one's root keys.")
        if theirs.get("secrets") != mine["secrets"]:
            raise S3Error("InvalidRequest", "The sites of a site group share their secrets key: start the other site with this one's HOARD_SECRETS_KEY.")

        def add(stored: dict[str, StoredRemote]) -> dict[str, StoredRemote]:
            if name in stored:
                raise S3Error("EntityAlreadyExists", f"The remote {name} already exists.", status=409)
            return {**stored, name: self.remotes.seal(remote)}

        await asyncio.to_thread(self.remotes.change, add)
        return json_answer({"name": name, "url": url}, 201)
