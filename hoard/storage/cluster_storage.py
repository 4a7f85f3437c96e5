"""The storage of a cluster node: the cluster's pools of erasure sets, reached through this node's
own drives (``LocalDrive``) and the other nodes' (``RemoteDrive``, over the internal API).

A node is still a ``Storage`` of its own folders: it locks, formats and probes them as one server
does. What changes is where objects go and where shared documents live:

- ``placement`` picks a pool in proportion to its free space, then a set by the key's hash within
  it; the pool is stored in the version's ``Placement``, so a read never searches pools.
- Documents every drive of one server keeps a copy of (root credentials, IAM, remotes, the KMS,
  bucket files) are the cluster's: they live in the database (``Documents``), one copy that every
  node reads, so a change on one node is what every other node sees.

The layout (pools, their sets, which node holds which drive) comes from the database, never from
command lines: ``apply`` takes a ``ClusterView`` read from it and rebuilds the pools when its
version moves.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hoard.cluster.internal_auth import Signer
from hoard.cluster.placement import NoPoolForWrite, choose_pool, place
from hoard.cluster.view import ClusterView, PoolView
from hoard.model import Bucket, Placement
from hoard.storage.drive import DriveState, LocalDrive
from hoard.storage.drive_api import Drive
from hoard.storage.erasure_set import ErasureSet, on_drives
from hoard.storage.errors import DocumentConflict, NotInLayout
from hoard.storage.layout import INLINE_LIMIT, LayoutError, reduced_parity, write_quorum
from hoard.storage.pool import CREDENTIALS_FILE, Storage
from hoard.storage.remote import NodeConnections, RemoteDrive, TlsContext

log = logging.getLogger("hoard.storage")

BUCKET_DOCUMENT = "buckets/"  # a bucket's document: its name after this prefix


class Documents(Protocol):
    """The cluster's shared documents by name (``hoard.meta.cluster.ClusterCatalog``)."""

    def get_document(self, name: str) -> bytes | None: ...

    def put_document(self, name: str, data: bytes) -> None: ...

    def put_newer_document(self, name: str, data: bytes, generation: int) -> bool:
        """Store ``data`` only over a lower generation; whether it was stored."""
        ...

    def put_new_document(self, name: str, data: bytes) -> bytes:
        """Store ``data`` unless the name has a document already; returns what is stored."""
        ...

    def document_generation(self, name: str) -> int | None: ...

    def delete_document(self, name: str) -> None: ...

    def documents(self, prefix: str) -> dict[str, bytes]: ...


@dataclass
class _Pool:
    view: PoolView
    sets: list[ErasureSet]


class ClusterStorage(Storage):
    """This node's folders, and the cluster's pools as this node reaches them."""

    def __init__(self, dirs: list[Path], node: str, inline_limit: int = INLINE_LIMIT, connect_timeout: float = 2.0) -> None:
        super().__init__(dirs, inline_limit=inline_limit)
        self.node = node
        self.connect_timeout = connect_timeout
        self.layout_version = 0
        self._documents: Documents | None = None
        self._signer_for: Callable[[str], Signer] | None = None
        self._tls: TlsContext | None = None
        self._pools: dict[int, _Pool] = {}
        self._free: dict[int, int] = {}
        self._connections: dict[str, NodeConnections] = {}
        self._remote: dict[tuple[str, str], RemoteDrive] = {}
        self.sets = []  # the pools' sets, once ``apply`` has read the layout
        self._lock = threading.Lock()
        self._random = random.Random()

    def connect(self, documents: Documents, signer_for: Callable[[str], Signer], tls: TlsContext | None = None) -> None:
        """Once the node has joined: where shared documents live, how to sign a call to a node, and
        the context of the internal API's mutual TLS (None without it)."""
        self._documents = documents
        self._signer_for = signer_for
        self._tls = tls

    def _connections_to(self, url: str) -> NodeConnections:
        return NodeConnections(url, connect_timeout=self.connect_timeout, tls=self._tls)

    def forget_connections(self) -> None:
        """In a worker process just forked: idle connections to other nodes made before the fork
        are closed here (the other processes hold them too; one connection serves one process)."""
        with self._lock:
            pools = list(self._connections.values())
        for connections in pools:
            connections.close()

    @property
    def documents(self) -> Documents:
        if self._documents is None:
            raise NotInLayout("this node has not joined its cluster yet")
        return self._documents

    # -- the layout ---------------------------------------------------------------------------
    def apply(self, view: ClusterView) -> list[RemoteDrive]:
        """Take the catalog's view: pools rebuilt when the layout's version moved, remote drives
        of silent nodes marked offline and tried again once their heartbeat is back. Returns the
        drives that came back (writes made meanwhile missed them: they need healing). Blocks (a
        probe is a round trip to the node), but placement never waits on a probe."""
        with self._lock:
            self._free = dict(view.free_bytes)
            self._follow_addresses(view)
            if view.version != self.layout_version:
                self._rebuild(view)
            remote = list(self._remote.items())
        back = []
        unreached: set[str] = set()  # one connect timeout per silent node, not one per drive
        gone_silent: dict[str, NodeConnections] = {}
        for (node, _), drive in remote:
            if node not in view.live:
                if drive.usable:
                    drive.fail_one(f"node {node} has not beaten its heart recently")
                    gone_silent[node] = drive.connections
            elif drive.state is DriveState.OFFLINE and node not in unreached:
                if drive.probe():
                    log.info("drive %s of node %s is back online", drive.drive_id, node)
                    back.append(drive)
                elif drive.connections.silent:
                    unreached.add(node)
        for connections in gone_silent.values():
            # Calls already waiting on it (a paused node still acknowledges, so they would wait
            # for their I/O timeout) fail now: writes go on without its drives, reads from parity.
            connections.interrupt()
        return back

    def _follow_addresses(self, view: ClusterView) -> None:
        for node, connections in list(self._connections.items()):
            if view.internal_urls.get(node, connections.base_url) != connections.base_url:
                # The node moved (it registered another address): its drives follow it.
                moved = self._connections[node] = self._connections_to(view.internal_urls[node])
                for (owner, _), drive in self._remote.items():
                    if owner == node:
                        drive.use(moved)
                connections.close()

    def _rebuild(self, view: ClusterView) -> None:
        local = {d.drive_id: d for d in self.drives if d.drive_id}
        pools: dict[int, _Pool] = {}
        count = 0
        for pool in view.pools:
            sets = []
            for members in pool.sets:
                sets.append(ErasureSet(count, [self._drive(node, drive_id, local, view) for node, drive_id in members], spread=True))
                count += 1
            pools[pool.pool] = _Pool(pool, sets)
        self._pools = pools
        self.sets = [s for number in sorted(pools) for s in pools[number].sets]
        self.layout_version = view.version
        log.info("cluster layout %d: %d pool(s), %d erasure set(s)", view.version, len(pools), len(self.sets))

    def _drive(self, node: str, drive_id: str, local: Mapping[str, LocalDrive], view: ClusterView) -> Drive:
        if node == self.node and drive_id in local:
            return local[drive_id]
        # Another node's drive, or one of this node's that did not open (offline at start): asked
        # through the internal API, where a drive the node does not serve answers as missing.
        drive = self._remote.get((node, drive_id))
        if drive is None:
            connections = self._connections.get(node)
            if connections is None:
                connections = self._connections[node] = self._connections_to(view.internal_urls[node])
            drive = self._remote[(node, drive_id)] = RemoteDrive(len(self._remote), node, drive_id, connections, self._signer(node))
            if node not in view.live:
                drive.fail(f"node {node} has not beaten its heart recently")
        return drive

    def _signer(self, node: str) -> Signer:
        if self._signer_for is None:
            raise NotInLayout("this node has not joined its cluster yet")
        return self._signer_for(node)

    # -- placement ----------------------------------------------------------------------------
    def placement(self, bucket: str, key: str, storage_class: str, pool: int | None = None) -> Placement:
        """A pool chosen by free space, or ``pool`` if given (a multipart upload's, kept while the
        pool drains: its parts are there). A pool given that this node's layout does not hold (a
        pool added a moment ago, which this node has not read yet) is NotInLayout: placing the
        bytes elsewhere would split an upload over two pools."""
        with self._lock:
            if pool:
                given = self._pools.get(pool)
                if given is None or given.view.state == "decommissioned":
                    raise NotInLayout(f"pool {pool} is not in this node's layout ({self.layout_version}) yet: try again")
                number = pool
            else:
                active = {n: self._free.get(n, 0) for n, p in self._pools.items() if p.view.state == "active"}
                try:
                    number = choose_pool(active, self._random.random())
                except NoPoolForWrite as e:
                    raise NotInLayout(str(e) if active else "the cluster has no pool yet: add one with hoard admin pool add") from None
            pool_view = self._pools[number].view
        parity = min(reduced_parity(pool_view.set_size), pool_view.parity) if storage_class == "REDUCED_REDUNDANCY" else pool_view.parity
        chosen = place(bucket, key, len(pool_view.sets), pool_view.set_size, parity)
        return Placement(chosen.set, chosen.data, chosen.parity, chosen.distribution, number)

    def draining(self) -> set[int]:
        """The pools being emptied (``hoard admin pool decommission``), as of the layout read last."""
        with self._lock:
            return {n for n, p in self._pools.items() if p.view.state == "draining"}

    def set_of(self, placement: Placement) -> ErasureSet:
        try:
            return self._pools[placement.pool].sets[placement.set]
        except (KeyError, IndexError):
            raise NotInLayout(f"pool {placement.pool} set {placement.set} is not in this node's layout ({self.layout_version})") from None

    def remove_shard(self, shard_id: str) -> None:
        # Reclaim knows the id, not the set, and whichever node takes the queue's entry is the
        # only one to see it: every drive of the cluster is asked (one that is away keeps the
        # file until its node's orphan sweep).
        drives = {id(d): d for d in [*self.drives, *(d for s in self.sets for d in s.drives)]}
        on_drives(lambda d: d.usable and d.remove_shard(shard_id), list(drives.values()))

    # -- shared documents: the database's one copy --------------------------------------------
    def read_newest(self, name: str) -> list[bytes]:
        data = self.documents.get_document(name)
        return [] if data is None else [data]

    def write_shared(self, name: str, data: bytes) -> None:
        # A generational document (every change one generation up) is written only over an older
        # one: of two nodes changing it from the same copy, the second learns it lost.
        generation = _generation(data)
        if generation is None:
            self.documents.put_document(name, data)
        elif not self.documents.put_newer_document(name, data, generation):
            raise DocumentConflict(f"{name} was changed by another node meanwhile; make the change again")

    def shared_generation(self, name: str) -> int | None:
        # Change tokens alone can mislead across nodes: the last token written may be that of the
        # older of two changes. The document's own generation cannot.
        return self.documents.document_generation(name)

    def read_credentials(self) -> bytes | None:
        return self.documents.get_document(CREDENTIALS_FILE)

    def write_credentials(self, data: bytes) -> None:
        # Two nodes starting at once each make a root identity: the first one stored is everyone's.
        stored = self.documents.put_new_document(CREDENTIALS_FILE, data)
        if stored != data and json.loads(stored).get("access_key") != json.loads(data).get("access_key"):
            raise LayoutError("another node stored the cluster's root credentials first: start this node again")

    def save_bucket(self, bucket: Bucket) -> None:
        doc = {"name": bucket.name, "created": bucket.created, "location": bucket.location, "owner_id": bucket.owner_id, "config": bucket.config}
        self.documents.put_document(BUCKET_DOCUMENT + bucket.name, json.dumps(doc).encode())

    def remove_bucket(self, name: str) -> None:
        self.documents.delete_document(BUCKET_DOCUMENT + name)

    def load_buckets(self) -> list[Bucket]:
        found = []
        for data in self.documents.documents(BUCKET_DOCUMENT).values():
            b = json.loads(data)
            found.append(Bucket(b["name"], b["created"], b["location"], b["owner_id"], b.get("config", {})))
        return sorted(found, key=lambda b: b.name)

    def index_id(self) -> str | None:
        return None  # the index is the database itself, never a file to pick among drives

    def set_index_id(self, value: str) -> None:
        raise LayoutError("a cluster's index is its database: it is not chosen among drives")

    def index_candidates(self) -> list[Path]:
        return []

    # -- the state of things ------------------------------------------------------------------
    def set_health(self) -> list[dict]:
        out = []
        for number in sorted(self._pools):
            pool = self._pools[number]
            data = pool.view.set_size - pool.view.parity
            quorum = write_quorum(data, pool.view.parity, spread=True)
            for eset in pool.sets:
                usable = sum(d.usable for d in eset.drives)
                out.append(
                    {
                        "index": eset.index,
                        "pool": number,
                        "drives": [_name(d) for d in eset.drives],
                        "data": data,
                        "parity": pool.view.parity,
                        "usable": usable,
                        "write_quorum": quorum,
                        "write_quorum_ok": usable >= quorum,
                    }
                )
        return out

    def sets_without_write_quorum(self) -> list[str]:
        if not self._pools:
            return ["the cluster has no pool yet (hoard admin pool add)"]
        return super().sets_without_write_quorum()

    def set_of_drive(self, drive: LocalDrive) -> int:
        return next((s.index for s in self.sets if drive in s.drives), -1)  # -1: in no pool yet

    def info(self) -> dict:
        doc = super().info()
        doc.update({"node": self.node, "layout_version": self.layout_version, "pools": self.set_health()})
        return doc


def _generation(data: bytes) -> int | None:
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    value = doc.get("generation") if isinstance(doc, dict) else None
    return value if isinstance(value, int) else None


def _name(drive: Drive) -> str:
    if isinstance(drive, RemoteDrive):
        return f"{drive.node}:{drive.drive_id}"
    assert isinstance(drive, LocalDrive)
    return f"local:{drive.drive_id}"


__all__ = ["ClusterStorage", "ClusterView", "Documents", "PoolView"]
