"""The admin API of a cluster (``hoard admin pool``, ``hoard admin cluster``): pools of erasure
sets made of the nodes' drives, and what the catalog says of nodes, drives, leases and the
layout. A server that is not a cluster node answers these InvalidRequest."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from hoard.admin.iam_api import _signed_body, json_answer
from hoard.admin.key_rotation import RotationRefused
from hoard.cluster.ellipses import parse_drive_specs
from hoard.cluster.partitions import LEASE_PREFIX
from hoard.cluster.placement import LayoutError
from hoard.http.numbers import decimal
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.meta.cluster import ClusterCatalog, ClusterError, Pool
from hoard.meta.store import MetaStore
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

Handler = Callable[[Request, AuthContext], Awaitable[Response]]
MAX_BODY = 1024 * 1024  # a pool of thousands of drives, named one by one
LIVE_WITHIN = 10.0  # seconds since its last heartbeat for a node to count as live


def pool_json(pool: Pool) -> dict:
    return {
        "pool": pool.pool, "state": pool.state, "set_size": pool.geometry.set_size, "parity": pool.geometry.parity,
        "sets": [[str(ref) for ref in members] for members in pool.geometry.sets],
    }  # fmt: skip


def _number(req: Request, name: str) -> int | None:
    raw = req.params.get(name, "")
    if not raw:
        return None
    value = decimal(raw)
    if value is None:
        raise S3Error("InvalidArgument", f"{name} is a whole number.", ArgumentName=name)
    return value


class PoolsAdmin:
    def __init__(self, catalog: ClusterCatalog | None, store: MetaStore, rotate_key: Callable[[], dict] | None = None) -> None:
        self.catalog = catalog
        self.store = store
        self.rotate_key = rotate_key  # hoard.admin.key_rotation, bound to this node's keys
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", "pools"): self.add_pool,
            ("GET", "pools"): self.list_pools,
            ("POST", "pools/decommission"): self.decommission_pool,
            ("POST", "pools/rebalance"): self.rebalance_pools,
            ("GET", "cluster"): self.cluster_info,
            ("POST", "cluster/rotate-key"): self.rotate_cluster_key,
        }

    def _catalog(self) -> ClusterCatalog:
        if self.catalog is None:
            raise S3Error("InvalidRequest", "This server is not a cluster node (hoard server --node).")
        return self.catalog

    async def add_pool(self, req: Request, auth: AuthContext) -> Response:
        """Body: {"drives": [NODE:DIR, ...]} (ranges such as n{1...4}:/data{1...4} allowed);
        query: set_size and parity (optional)."""
        catalog = self._catalog()
        try:
            doc = json.loads(await _signed_body(req, auth, MAX_BODY))
            given = doc["drives"]
            if not isinstance(given, list) or not all(isinstance(d, str) for d in given):
                raise ValueError("drives is a list of NODE:DIR")
        except (ValueError, KeyError, TypeError) as e:
            raise S3Error("InvalidArgument", f"The body is {{\"drives\": [\"NODE:DIR\", ...]}}: {e}.") from None
        try:
            specs = parse_drive_specs(given)
        except ValueError as e:
            raise S3Error("InvalidArgument", f"{e}.", ArgumentName="drive") from None
        if not specs:
            raise S3Error("InvalidArgument", "Name the pool's drives as NODE:DIR.", ArgumentName="drive")
        drives = [(spec.node, spec.path) for spec in specs]
        try:
            pool = await asyncio.to_thread(catalog.add_pool, drives, _number(req, "set_size"), _number(req, "parity"))
        except (LayoutError, ClusterError) as e:
            raise S3Error("InvalidArgument", f"{e}.") from None
        return json_answer(pool_json(pool))

    async def rotate_cluster_key(self, req: Request, auth: AuthContext) -> Response:
        """Finish a cluster key rotation on every node (hoard.admin.key_rotation)."""
        self._catalog()
        if self.rotate_key is None:
            raise S3Error("InvalidRequest", "This node cannot rotate the cluster key.")
        try:
            return json_answer(await asyncio.to_thread(self.rotate_key))
        except RotationRefused as e:
            raise S3Error("ServiceUnavailable" if e.status == 503 else "InvalidRequest", f"{e}") from None

    async def decommission_pool(self, req: Request, auth: AuthContext) -> Response:
        """Query: pool. The pool takes no new writes from now, every node moves what it holds to
        the other pools, and it is marked decommissioned once it holds nothing (``GET pools``
        shows how much is left)."""
        catalog = self._catalog()
        number = _number(req, "pool")
        if number is None:
            raise S3Error("InvalidArgument", "Name the pool to decommission.", ArgumentName="pool")
        try:
            await asyncio.to_thread(catalog.drain_pool, number)
        except ClusterError as e:
            raise S3Error("InvalidArgument", f"{e}.") from None
        return await self.list_pools(req, auth)

    async def rebalance_pools(self, req: Request, auth: AuthContext) -> Response:
        """Plan the moves that leave every active pool equally full; every node carries them out
        (``GET pools`` shows each move's progress). A plan made again replaces the last."""
        catalog = self._catalog()
        try:
            await asyncio.to_thread(catalog.plan_rebalance)
        except (LayoutError, ClusterError) as e:
            raise S3Error("InvalidRequest", f"{e}.") from None
        return await self.list_pools(req, auth)

    async def list_pools(self, req: Request, auth: AuthContext) -> Response:
        """Every pool with its sets, and the versions and bytes it holds (a scan of the index);
        a rebalance under way, each move's bytes planned and taken on."""
        catalog = self._catalog()
        layout, contents, moves = await asyncio.gather(
            asyncio.to_thread(catalog.layout), asyncio.to_thread(catalog.pool_contents), asyncio.to_thread(catalog.pool_moves)
        )
        pools = [{**pool_json(p), "versions": contents.get(p.pool, (0, 0))[0], "bytes": contents.get(p.pool, (0, 0))[1]} for p in layout.pools]
        rebalance = [{"source": m.source, "target": m.target, "planned": m.planned, "moved": m.moved} for m in moves]
        return json_answer({"layout_version": layout.version, "pools": pools, "rebalance": rebalance})

    async def cluster_info(self, req: Request, auth: AuthContext) -> Response:
        """Every node, drive, pool, partition lease holder and work queue's length, as the
        database has them now."""
        catalog = self._catalog()

        def read() -> dict:
            info, layout = catalog.info(), catalog.layout()
            holders: dict[str, int] = {}
            for lease in catalog.leases(LEASE_PREFIX):
                if lease.expires_in > 0:
                    holders[lease.holder] = holders.get(lease.holder, 0) + 1
            return {
                "cluster_id": info.cluster_id,
                "layout_version": layout.version,
                "nodes": [
                    {"name": n.name, "advertise": n.advertise, "internal": n.internal_url, "zone": n.zone, "software": n.software,
                     "heartbeat_age": round(n.heartbeat_age, 3), "live": n.heartbeat_age < LIVE_WITHIN,
                     "partitions": holders.get(n.name, 0)}
                    for n in catalog.nodes()
                ],  # fmt: skip
                "drives": [
                    {"node": d.node, "path": d.path, "id": d.drive_id, "state": d.state, "total": d.total_bytes, "free": d.free_bytes}
                    for d in catalog.drives()
                ],
                "pools": [pool_json(p) for p in layout.pools],
                "queues": self.store.queue_sizes_sync(),
            }

        return json_answer(await asyncio.to_thread(read))
