"""This server as a node of a cluster (``hoard server --meta URL --node NAME --advertise URL``):
it joins the cluster ``hoard cluster init`` made in the database, registers itself and its
drives, beats while it runs, serves its drives to the other nodes over the internal API (to
callers signed with the cluster key only), and serves S3 over the cluster's pools
(``hoard.storage.cluster_storage``), whose layout it reads from the database every few seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hoard import __version__
from hoard.cluster.internal_auth import InternalAuthError, InternalVerifier, signer_for
from hoard.cluster.keys import ClusterKeyring, LiveKeyring, live_keyring
from hoard.cluster.layout_file import keep_layout
from hoard.cluster.liveness import Liveness
from hoard.cluster.shared_nonces import SharedNonceCache
from hoard.config import Settings, parse_address
from hoard.crypto.keyfile import KeyFileError
from hoard.http.mutual_tls import InternalTls
from hoard.http.request import Request
from hoard.internal_api import InternalApi, InternalError
from hoard.meta.cluster import ClusterCatalog, ClusterError, DriveRow, NotACluster
from hoard.meta.postgres import PostgresMetaStore
from hoard.meta.store import MetaStore
from hoard.storage.cluster_storage import ClusterStorage
from hoard.storage.drive import LocalDrive
from hoard.storage.pool import Storage
from hoard.workers.partitions import PartitionKeeper
from hoard.workers.periodic import Periodic

log = logging.getLogger("hoard")

HEARTBEAT_SECONDS = 2.0
LEASE_TTL = 10.0  # a node silent this long loses its partitions to the others
LAYOUT_SECONDS = 2.0  # how often a node reads the layout (pools, addresses, who is alive)
KEY_FILE_SECONDS = 2.0  # how often a node looks whether its key file changed (a rotation copied in)
KEEP_LAYOUT_SECONDS = 30.0  # how often the layout kept on the drives is compared with the catalog's
LIVE_WITHIN = 3 * HEARTBEAT_SECONDS  # a node silent longer is skipped until its heartbeat is back
REGISTRY_CACHE_SECONDS = 10.0


class ClusterRefused(Exception):
    """This server cannot join the cluster its settings name: why, in one line."""


@dataclass(frozen=True)
class Membership:
    """What joining found: this node's name and keys, and its drives by their ids."""

    node: str
    keyring: LiveKeyring  # follows its key file through a rotation (KeyFileWatcher)
    cluster_id: str
    drives: dict[str, LocalDrive]
    # With several worker processes, the replay check's memory they all share (made before the fork).
    nonces: SharedNonceCache | None = None
    tls: InternalTls | None = None  # the internal API's mutual TLS (--internal-tls), served and used to connect

    @property
    def connect_tls(self) -> Callable[[], ssl.SSLContext] | None:
        """What calls to the other nodes take their TLS context from, or None without internal TLS."""
        return self.tls.connect_context if self.tls is not None else None


def advertised_host(settings: Settings) -> str:
    """The host in HOARD_ADVERTISE: the other nodes reach this one there, by any of its ports."""
    return urllib.parse.urlsplit(settings.advertise or "").hostname or ""


def internal_url(settings: Settings) -> str:
    """Where the other nodes reach this node's internal API: its own TLS port on the advertised
    host, or '' when it is served on the S3 port (the advertised address)."""
    if settings.internal_address is None or settings.advertise is None:
        return ""
    host = advertised_host(settings)
    return f"https://{host if ':' not in host else f'[{host}]'}:{parse_address(settings.internal_address)[1]}"


def join(settings: Settings, storage: Storage, store: MetaStore, tls: InternalTls | None = None) -> Membership:
    """Check the cluster key against the cluster's, then register this node and its drives.
    Raises ClusterRefused."""
    assert settings.node is not None and settings.advertise is not None
    if not isinstance(store, PostgresMetaStore):
        raise ClusterRefused("a cluster node needs the cluster's PostgreSQL database (HOARD_META)")
    try:
        keyring = live_keyring(settings.cluster_key, settings.cluster_key_file)
    except KeyFileError as e:
        raise ClusterRefused(str(e)) from None
    catalog = ClusterCatalog(store)
    try:
        info = catalog.info()
    except NotACluster as e:
        raise ClusterRefused(str(e)) from None
    if keyring.current.key_id not in info.key_ids:
        raise ClusterRefused(
            f"this node's cluster key (id {keyring.current.key_id}) is not one of cluster {info.cluster_id}'s "
            f"({', '.join(info.key_ids)}): copy the key file hoard cluster init made"
        )
    drives = _drives_by_id(storage)
    _stamp(drives.values(), info.cluster_id, settings.node)
    try:
        catalog.upgrade()
        catalog.register_node(settings.node, settings.advertise.rstrip("/"), settings.zone, __version__, internal_url(settings))
        catalog.report_drives(settings.node, drive_rows(settings.node, drives))
    except ClusterError as e:
        raise ClusterRefused(str(e)) from None
    membership = Membership(settings.node, keyring, info.cluster_id, drives, SharedNonceCache() if settings.workers > 1 else None, tls)
    if isinstance(storage, ClusterStorage):
        connect_storage(storage, catalog, membership)
        storage.apply(catalog.view(LIVE_WITHIN))
    log.info("node %s joined cluster %s (zone %s, %d drives)", settings.node, info.cluster_id, settings.zone, len(drives))
    return membership


def connect_storage(storage: ClusterStorage, catalog: ClusterCatalog, membership: Membership) -> None:
    """The pools' storage reaches the other nodes as this node: signed with its key, over the
    internal TLS if it has it; shared documents through ``catalog``."""
    storage.connect(catalog, signer_for(membership.keyring, membership.node), membership.connect_tls)


STAMP = "cluster.json"  # in a drive's .hoard/: the cluster and node the drive belongs to


def _stamp(drives: Iterable[LocalDrive], cluster_id: str, node: str) -> None:
    """Mark each drive as this node's in this cluster, or refuse a drive another cluster or node
    has: two nodes must never take the same folder, nor a cluster another's drives."""
    mine = {"cluster": cluster_id, "node": node}
    for drive in drives:
        path = drive.system / STAMP
        try:
            found = json.loads(drive.read_file(path))
        except FileNotFoundError:
            drive.write_file(path, json.dumps(mine).encode())
            continue
        except (OSError, ValueError) as e:
            raise ClusterRefused(f"cannot read {path}: {e}") from None
        if found != mine:
            raise ClusterRefused(
                f"{drive.root} belongs to node {found.get('node')} of cluster {found.get('cluster')}, "
                f"not to node {node} of cluster {cluster_id}"
            )


def _drives_by_id(storage: Storage) -> dict[str, LocalDrive]:
    drives: dict[str, LocalDrive] = {}
    for drive in storage.drives:
        fmt = drive.read_format() if drive.usable else None
        if fmt is not None:
            drives[fmt["drive"]] = drive
    return drives


def drive_rows(node: str, drives: dict[str, LocalDrive]) -> list[DriveRow]:
    """How this node's drives are now, as the catalog keeps them."""
    rows = []
    for drive_id, drive in drives.items():
        try:
            total, free = drive.usage()
        except OSError:
            total = free = 0
        rows.append(DriveRow(node, str(drive.root.absolute()), drive_id, drive.state.value, total, free))
    return rows


OnBack = Callable[[str], None]  # told why this node's drives may have missed writes (the healer refills them)


class Heartbeat(Periodic):
    """Tells the catalog this node is alive and how its drives are, every few seconds.

    The first beat after the node started, or after beats failed for longer than the others
    wait before counting it silent, calls ``on_back``: writes made meanwhile skipped its drives.
    """

    what = "cluster heartbeat"

    def __init__(self, catalog: ClusterCatalog, membership: Membership, on_back: OnBack | None = None, interval: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(interval)
        self.catalog = catalog
        self.membership = membership
        self.on_back = on_back
        self._last_beat: float | None = None

    async def run_once(self) -> None:
        node = self.membership.node
        # statvfs of each drive may wait on a disk: in the thread, with the database's round trip.
        await asyncio.to_thread(lambda: self.catalog.heartbeat(node, drive_rows(node, self.membership.drives)))
        now = time.monotonic()
        last, self._last_beat = self._last_beat, now
        if self.on_back is None:
            return
        if last is None:
            self.on_back(f"node {node} started")
        elif now - last > LIVE_WITHIN:
            self.on_back(f"node {node} could not beat for {now - last:.0f} s")


class LayoutWatcher(Periodic):
    """Reads the layout, the nodes' addresses and who is alive every few seconds: a pool added
    on any node is written to here within one round, with no restart."""

    what = "cluster layout"

    def __init__(
        self, catalog: ClusterCatalog, storage: ClusterStorage, on_back: OnBack | None = None, interval: float = LAYOUT_SECONDS, keep: bool = True
    ) -> None:
        super().__init__(interval)
        self.catalog = catalog
        self.storage = storage
        self.on_back = on_back
        self.keep = keep  # the layout kept on the drives: by the leader alone
        self._kept: dict | None = None  # the snapshot last kept on the drives
        self._keep_again = 0.0
        # Reads two rounds apart: this node could not read the catalog either (see Liveness).
        # The grace is two LIVE_WITHINs: another node's pool may find the new primary a few
        # seconds after this one's did (a connect timeout on the dead host), then beat.
        self._liveness = Liveness(gap=2 * interval, grace=2 * LIVE_WITHIN)

    def _keep_layout(self) -> None:
        """The layout onto this node's drives when it changed (a new version; or a node's address
        or zone, which move no version: looked at every ``KEEP_LAYOUT_SECONDS``)."""
        snapshot = self.catalog.snapshot()
        if snapshot != self._kept:
            keep_layout(self.storage.drives, snapshot)
            self._kept = snapshot
        self._keep_again = time.monotonic() + KEEP_LAYOUT_SECONDS

    async def run_once(self) -> None:
        back = await asyncio.to_thread(lambda: self.storage.apply(self._liveness.judge(self.catalog.view(LIVE_WITHIN))))
        kept_version = self._kept["layout_version"] if self._kept is not None else None
        if self.keep and (self.storage.layout_version != kept_version or time.monotonic() > self._keep_again):
            await asyncio.to_thread(self._keep_layout)
        if back and self.on_back is not None:
            self.on_back("drives back online: " + ", ".join(f"{d.node}:{d.drive_id}" for d in back))


class KeyFileWatcher(Periodic):
    """Takes up the node's key file when it changes: the operator copied in a rotation's file
    (hoard cluster rotate-key), the new key accepted beside the one signed with. A file whose
    signing key is not one the cluster lists is not taken (the node would lock itself out):
    logged, the keys in use kept."""

    what = "cluster key file"

    def __init__(self, catalog: ClusterCatalog, keyring: LiveKeyring, interval: float = KEY_FILE_SECONDS) -> None:
        super().__init__(interval)
        self.catalog = catalog
        self.keyring = keyring

    def _allowed(self, ring: ClusterKeyring) -> str:
        listed = self.catalog.info().key_ids
        if ring.current.key_id in listed:
            return ""
        return f"its signing key {ring.current.key_id} is not one of the cluster's ({', '.join(listed)})"

    async def run_once(self) -> None:
        try:
            ring = await asyncio.to_thread(self.keyring.reload, self._allowed)
        except KeyFileError as e:
            log.error("%s", e)
            return
        if ring is not None:
            accepted = ring.accepted.key_id if ring.accepted is not None else "none"
            log.info("cluster key file taken up: signing with key %s, also accepting %s", ring.current.key_id, accepted)


class _Registry:
    """Whether a node name is registered, remembered for a few seconds: asking the database on
    every internal request would put it on the data path."""

    def __init__(self, catalog: ClusterCatalog, ttl: float = REGISTRY_CACHE_SECONDS) -> None:
        self.catalog = catalog
        self.ttl = ttl
        self._known: dict[str, float] = {}

    def __call__(self, node: str) -> bool:
        now = time.monotonic()
        if self._known.get(node, 0.0) > now:
            return True
        if not self.catalog.is_registered(node):
            return False
        self._known[node] = now + self.ttl
        return True


def internal_api(membership: Membership, catalog: ClusterCatalog) -> InternalApi:
    """The internal API of this node's drives, refusing what the cluster key did not sign."""
    verifier = InternalVerifier(membership.keyring, _Registry(catalog), node=membership.node, nonce_cache=membership.nonces)

    def authenticate(req: Request) -> str:
        try:
            return verifier.verify(req.method, req.path, req.query, req.headers)
        except InternalAuthError as e:
            raise InternalError(e.status, "AccessDenied" if e.status == 403 else "Unauthorized", e.reason) from None

    return InternalApi(dict(membership.drives), authenticate, membership.keyring)


def partition_keeper(membership: Membership, catalog: ClusterCatalog) -> PartitionKeeper:
    """This node's share of the partitions: the background walkers' ``WorkShare``."""
    return PartitionKeeper(catalog, membership.node, LEASE_TTL)


def background(
    membership: Membership, catalog: ClusterCatalog, storage: Storage, keeper: PartitionKeeper, on_back: OnBack | None = None
) -> list[Periodic]:
    """The leader's cluster loops: the heartbeat, the layout, and ``keeper`` (this node's share of
    the partition leases). ``on_back`` hears of drives that may have missed writes."""
    loops: list[Periodic] = [Heartbeat(catalog, membership, on_back), keeper, KeyFileWatcher(catalog, membership.keyring)]
    if isinstance(storage, ClusterStorage):
        loops.append(LayoutWatcher(catalog, storage, on_back))
    return loops


def follower_background(membership: Membership, catalog: ClusterCatalog, storage: Storage) -> list[Periodic]:
    """A worker process but the leader: it follows the layout (pools added, nodes silent) and
    the key file as the leader does, and leaves the heartbeat, the leases and the layout's copy
    on the drives to the leader."""
    loops: list[Periodic] = [KeyFileWatcher(catalog, membership.keyring)]
    if isinstance(storage, ClusterStorage):
        loops.append(LayoutWatcher(catalog, storage, keep=False))
    return loops

