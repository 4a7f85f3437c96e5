"""``hoard cluster rebuild-index``: a cluster's lost database made again from its nodes' drives.

The catalog comes back from the layout every node keeps on its drives (``cluster.layout_file``):
the same cluster id, nodes, drives, pools and sets at the same layout version, so the version
records' pool, set and positions name the same drives as before. The index comes back from
those records, read from every drive of every pool over the internal API (the nodes keep
running and serving their drives; each internal call is signed with the cluster key as one
registered node's), with the one server's rule: the newest version of each key whose shard files
are there to read it. Uploads in progress are lost, as on one server.

What only the database held is not on the drives and does not come back: users, groups,
policies and keys (the root's come from HOARD_ROOT_*), remotes, and bucket settings (buckets come
back with their objects, unversioned settings at their defaults).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import cast

from hoard.cluster.internal_auth import signer_for
from hoard.cluster.keys import ClusterKeyring
from hoard.cluster.layout_file import newest_layout
from hoard.http.mutual_tls import InternalTls
from hoard.http.tls import CertificateError
from hoard.meta.cluster import ClusterCatalog, ClusterExists, ClusterInfo
from hoard.meta.postgres import PostgresMetaStore
from hoard.model import Bucket, Placement
from hoard.objects.index import RebuildProgress, rebuild
from hoard.storage.erasure_set import ErasureSet
from hoard.storage.pool import Storage
from hoard.storage.remote import NodeConnections, RemoteDrive, TlsContext


class RebuildRefused(Exception):
    """Nothing was changed, for the reason given."""


class _EveryDrive:
    """Every drive of the cluster's pools as the scan of the records reads them (``Storage``'s
    ``drives``, ``set_of`` and ``load_buckets``), each reached over the internal API."""

    def __init__(self, snapshot: dict, keyring: ClusterKeyring, caller: str, connect_timeout: float = 2.0, tls: TlsContext | None = None) -> None:
        urls = {n["name"]: n.get("internal") or n["advertise"] for n in snapshot["nodes"]}
        drive_ids = {(d["node"], d["path"]): d["drive_id"] for d in snapshot["drives"]}
        connections = {name: NodeConnections(url, connect_timeout=connect_timeout, tls=tls) for name, url in urls.items()}
        sign_to = signer_for(keyring, caller)
        self.drives: list[RemoteDrive] = []
        self._sets: dict[tuple[int, int], ErasureSet] = {}
        members: dict[tuple[int, int], list[RemoteDrive]] = {}
        for pool, set_index, _, node, path in snapshot["members"]:
            drive = RemoteDrive(len(self.drives), node, drive_ids[(node, path)], connections[node], sign_to(node))
            self.drives.append(drive)
            members.setdefault((pool, set_index), []).append(drive)
        for (pool, set_index), drives in members.items():
            self._sets[(pool, set_index)] = ErasureSet(set_index, cast(list, drives), spread=True)

    def set_of(self, placement: Placement) -> ErasureSet:
        return self._sets[(placement.pool, placement.set)]

    def load_buckets(self) -> list[Bucket]:
        return []  # bucket documents were the database's: each bucket comes back from its objects


def rebuild_cluster_index(
    meta: str, keyring: ClusterKeyring, node: str, folders: list[Path], owner_id: str, region: str,
    progress: RebuildProgress | None = None, tls_files: tuple[Path, Path, Path] | None = None,
) -> tuple[ClusterInfo, int]:  # fmt: skip
    """Make the empty database ``meta`` the cluster's again: its catalog from the newest layout
    kept in ``folders`` (this machine's drives), its index from every node's drives, read as
    ``node`` (with ``tls_files``, its certificate, key and the cluster's CA, where the nodes
    serve the internal API over mutual TLS). Returns the cluster and how many object versions
    came back. Raises RebuildRefused."""
    snapshot = newest_layout(folders)
    if snapshot is None:
        raise RebuildRefused(f"no cluster layout in {', '.join(map(str, folders))}: give the drive folders of a node of the cluster")
    if keyring.current.key_id not in snapshot["key_ids"]:
        raise RebuildRefused(f"the cluster key (id {keyring.current.key_id}) is not cluster {snapshot['cluster_id']}'s")
    if node not in {n["name"] for n in snapshot["nodes"]}:
        raise RebuildRefused(f"{node} is not a node of cluster {snapshot['cluster_id']}")
    tls = _tls(snapshot, node, tls_files)
    store = PostgresMetaStore(meta, pool_size=2, retry_for=10)
    try:
        try:
            info = ClusterCatalog(store).restore(snapshot)
        except ClusterExists as e:
            raise RebuildRefused(f"{e}: the database is not empty, and nothing was changed") from None
        count = rebuild(cast(Storage, _EveryDrive(snapshot, keyring, node, tls=tls)), store, owner_id, region, progress)
        return info, count
    finally:
        store.close()


def _tls(snapshot: dict, node: str, files: tuple[Path, Path, Path] | None) -> TlsContext | None:
    """The context to call the nodes with: refused at once if the nodes serve the internal API
    over TLS and no certificate was given, or if the one given would be refused."""
    tls_nodes = sorted(n["name"] for n in snapshot["nodes"] if n.get("internal"))
    if files is None:
        if tls_nodes:
            raise RebuildRefused(f"node(s) {', '.join(tls_nodes)} take internal calls over TLS only: give --internal-tls CERT KEY CA")
        return None
    advertise = next(n["advertise"] for n in snapshot["nodes"] if n["name"] == node)
    try:
        return InternalTls(*files, host=urllib.parse.urlsplit(advertise).hostname or "").connect_context
    except CertificateError as e:
        raise RebuildRefused(f"--internal-tls: {e}") from None
