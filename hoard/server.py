"""The composition root: builds the drives, the metadata store, the object engine, the background
workers and the ASGI application from the settings, and serves them in one process or several.

``hoard.cli.main`` calls it; each worker process the supervisor forks runs what it hands over.
Nothing else builds these objects, so no module reaches into another's internals to wire them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import uvicorn

from hoard import metrics
from hoard.admin.api import AdminApi, Cluster
from hoard.admin.forward import AdminForwarder
from hoard.admin.key_rotation import rotate_cluster_key
from hoard.admin.site_sync import SiteSync
from hoard.app import AdminHandler, Background, HoardApp
from hoard.config import Settings, parse_address
from hoard.console.app import ConsoleApp
from hoard.console.clients import Endpoint
from hoard.crypto.keyfile import KeyFileError
from hoard.crypto.keys import KeyEnvelopeError, MasterKey, load_master_key
from hoard.crypto.kms import BuiltinKms, KmsError, document_generation
from hoard.dashboard.history import History
from hoard.dashboard.snapshot import DashboardSources
from hoard.http.mutual_tls import InternalTls
from hoard.http.protocol import refusing_with
from hoard.http.tls import ServerCertificate
from hoard.iam.authorize import Authorizer
from hoard.iam.credentials import Identity, load_root
from hoard.iam.identities import Identities, account_id
from hoard.iam.secrets import SecretBox, SecretsKeyError, load_key
from hoard.membership import (
    KEY_FILE_SECONDS,
    LIVE_WITHIN,
    Membership,
    advertised_host,
    connect_storage,
    follower_background,
    internal_api,
    partition_keeper,
)
from hoard.membership import background as cluster_background
from hoard.membership import join as membership_of
from hoard.meta.cluster import ClusterCatalog
from hoard.meta.postgres import PostgresMetaStore
from hoard.meta.sqlite import SqliteMetaStore
from hoard.meta.store import MetaStore
from hoard.model import Bucket, ObjectRecord
from hoard.objects.data import ObjectData
from hoard.objects.encryption import KeyService
from hoard.objects.index import SharedIndexRefused, open_index, open_shared_index
from hoard.objects.rotation import MasterKeyRotation, check_recorded_master_key
from hoard.objects.tiering import COLD_TIER, IA_TIER
from hoard.observe import Observer
from hoard.process_role import ProcessRole
from hoard.replication.remotes import Remotes
from hoard.requestlog.sink import RequestLog, spool_folder
from hoard.s3.auth.authenticate import Authenticator
from hoard.s3.error_map import head_too_large_document
from hoard.s3.handlers import registry
from hoard.s3.handlers.common import Services
from hoard.s3.website import WebsiteEndpoint
from hoard.storage.cluster_storage import ClusterStorage
from hoard.storage.erasure_set import renew_drive_pool
from hoard.storage.pool import Storage
from hoard.supervisor import Supervisor, listen
from hoard.tiers import TierStore, open_tier
from hoard.workers.certs import CertificateWatcher
from hoard.workers.healer import Healer
from hoard.workers.lifecycle import LifecycleWorker, TierWorker
from hoard.workers.log_delivery import LogDelivery
from hoard.workers.monitor import DriveMonitor
from hoard.workers.orphan_sweep import OrphanSweeper
from hoard.workers.pool_mover import PoolMover
from hoard.workers.reclaim import Reclaimer
from hoard.workers.replicator import Replicator
from hoard.workers.share import EVERYTHING, WorkShare

log = logging.getLogger("hoard")


@dataclass(frozen=True)
class Deployment:
    """What is done once, before any process serves (a worker's repeat of it would, for one,
    sweep away another worker's upload in flight)."""

    settings: Settings
    storage: Storage  # drives locked for this server, checked, a crash's temp files removed
    root: Identity
    root_generated: bool  # the root keys were made just now: show them once
    secrets: SecretBox  # seals and opens the secret keys kept on the drives
    index: Path | None  # the index file the drives name (opened or rebuilt); None for a PostgreSQL index
    started_at: float  # the orphan sweep spares files younger than this
    certificate: ServerCertificate | None = None  # HTTPS, read before the fork: every worker serves it
    master_keys: MasterKeys | None = None  # the master key, where it came from, and what the drives say of it
    membership: Membership | None = None  # this server as a node of a cluster (hoard.membership)


def open_store(settings: Settings, index: Path | None) -> MetaStore:
    """The metadata store the settings ask for: PostgreSQL (HOARD_META: an index several nodes
    can share), else SQLite in the index file on a drive."""
    if settings.meta:
        return PostgresMetaStore(settings.meta, pool_size=settings.meta_pool_size, retry_for=settings.meta_retry_seconds)
    assert index is not None
    return SqliteMetaStore(index)


def open_metadata(settings: Settings, storage: Storage, owner_id: str) -> tuple[MetaStore, int | None]:
    """The index these drives use, opened (or filled from the drives); its store and, when it was
    rebuilt, how many objects that gave. Raises SharedIndexRefused for a database that cannot be used."""
    if not settings.meta:
        return open_index(storage, owner_id, settings.region, lambda path: open_store(settings, path))
    return open_shared_index(storage, open_database(settings), owner_id, settings.region)


def open_database(settings: Settings) -> MetaStore:
    """The PostgreSQL database HOARD_META names, opened. Raises SharedIndexRefused."""
    try:
        return open_store(settings, None)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as e:
        raise SharedIndexRefused(f"cannot use the metadata database given in HOARD_META: {e}") from None


def certificate(settings: Settings) -> ServerCertificate | None:
    """The certificate to serve HTTPS with, if the settings name one: read and checked before
    anything else starts. Raises ``hoard.http.tls.CertificateError``."""
    if settings.certs_dir is None:
        return None
    # Not resolved: a folder that is a symlink re-pointed by a renewal is followed to its new place.
    return ServerCertificate(settings.certs_dir.expanduser().absolute())


def internal_tls(settings: Settings) -> InternalTls | None:
    """The certificates of the internal API's mutual TLS, if the settings name them: read and
    checked (a handshake of the pair with itself, as the other nodes will check it) before
    anything starts. Raises ``hoard.http.tls.CertificateError``."""
    files = settings.internal_tls_files
    if files is None or settings.advertise is None:
        return None
    return InternalTls(*(path.absolute() for path in files), host=advertised_host(settings))


KMS_FILE = "kms.json"  # the built-in KMS's keys, sealed by the master key, on every drive


@dataclass(frozen=True)
class MasterKeys:
    """The master key as ``prepare`` found it: the key that seals the data keys of encrypted
    versions, its file (None for a key in the settings), the retired keys the file still holds
    (a rotation cut short), and why new encrypted versions must be refused ("" if they need not be)."""

    current: MasterKey
    key_file: Path | None
    retired: tuple[MasterKey, ...]
    refuse_writes: str


def open_keys(deployment: Deployment) -> KeyService:
    """The keys the object engine encrypts with, the built-in KMS among them."""
    found = deployment.master_keys
    if found is None:
        return KeyService(None)
    keys = KeyService(found.current, key_file=found.key_file, previous=found.retired, refuse_writes=found.refuse_writes)
    keys.kms = builtin_kms(deployment.storage, deployment.settings, deployment.root, found.current, keys.master_for)
    return keys


def builtin_kms(
    storage: Storage, settings: Settings, root: Identity, master: MasterKey, master_for: Callable[[bytes], MasterKey | None]
) -> BuiltinKms:
    def load() -> bytes | None:
        newest = storage.read_newest_copy(KMS_FILE, _KmsCopy.parse)
        return newest.raw if newest is not None else None

    return BuiltinKms(
        master, load, lambda raw: storage.write_shared(KMS_FILE, raw),
        region=settings.region, account=account_id(root.owner_id), master_for=master_for,
    )  # fmt: skip


def make_default_kms_key(storage: Storage, settings: Settings, root: Identity, master: MasterKey, previous: list[MasterKey]) -> None:
    """S3's default SSE-KMS key (alias/aws/s3), made before any process serves: only one process
    may write the KMS document, and any worker may need the key."""
    known = {k.raw_id: k for k in (master, *previous)}
    try:
        builtin_kms(storage, settings, root, master, known.get).default_key()
    except (KmsError, KeyEnvelopeError) as e:
        log.error("the built-in KMS cannot be opened with this master key: %s", e)


@dataclass(frozen=True)
class _KmsCopy:
    generation: int
    raw: bytes

    @classmethod
    def parse(cls, raw: bytes) -> _KmsCopy:
        return cls(document_generation(raw), raw)


def claim(settings: Settings, dirs: list[Path]) -> Storage:
    """The drives, locked for this server before anything on them is read or changed.

    Raises ``hoard.storage.errors.DriveInUse`` if another server holds one (nothing was
    touched), ``hoard.storage.layout.LayoutError`` for a parity the drives cannot have.
    """
    if settings.node:
        storage: Storage = ClusterStorage(dirs, settings.node, settings.inline_limit)
    else:
        storage = Storage(dirs, settings.parity, settings.reduced_parity, settings.inline_limit)
    storage.lock()
    return storage


def bind(host: str, port: int, workers: int) -> list[socket.socket]:
    """The listening sockets, bound before ``prepare`` sweeps anything: a server that cannot
    have its address then stops having changed nothing. Raises OSError."""
    return listen(host, port, workers)


def prepare(
    settings: Settings, storage: Storage, certificate: ServerCertificate | None = None, internal: InternalTls | None = None
) -> tuple[Deployment, MetaStore]:
    """Open the claimed drives (removing a crash's temp files), the root identity and the index
    (rebuilt from the drives if need be).

    Raises ``hoard.storage.layout.LayoutError`` when the folders do not make a deployment,
    ``hoard.iam.secrets.SecretsKeyError`` when the secrets key cannot be had or does not open
    the secrets the drives keep.
    """
    started_at = time.time()
    removed = storage.open()
    if removed:
        log.info("removed %d temp files left by an earlier crash", removed)
    membership = None
    if settings.node:
        # A node's index is the cluster's, shared by every node: neither filled from nor
        # checked against this node's own drives, which the cluster stamps as its own instead.
        # Joining comes first: the documents read below (root, IAM, KMS) are the cluster's.
        missing = [name for name, given in (("HOARD_SECRETS_KEY", settings.secrets_key or settings.secrets_key_file), ("HOARD_MASTER_KEY", settings.master_key or settings.master_key_file)) if not given]
        if missing:
            # Made per node by default, they would differ between nodes that share one set of sealed secrets.
            raise SecretsKeyError(f"a cluster node needs the cluster's {' and '.join(missing)} (or _FILE), the same on every node; there is no default")
        store, rebuilt = open_database(settings), None
        membership = membership_of(settings, storage, store, internal)
    key, key_file, made = load_key(settings.secrets_key, settings.secrets_key_file, storage.deployment)
    if made:
        log.warning("made the secrets key %s: keep it, and a copy apart from the data; without it the keys kept on the drives cannot be opened", key_file)
    box = SecretBox(key)
    try:
        master, retired, master_file, master_made = load_master_key(settings.master_key, settings.master_key_file, storage.deployment)
    except KeyFileError as e:
        raise SecretsKeyError(str(e)) from None
    if master_made:
        log.warning("made the master key %s: keep it, and a copy apart from the data; without it encrypted objects cannot be read", master_file)
    refusal = check_recorded_master_key(storage, master, retired)
    if refusal:
        log.error("encrypted objects will not be served or written: %s", refusal)
    master_keys = MasterKeys(master, master_file, tuple(retired), refusal)
    root, generated = load_root(storage, settings.root_access_key, settings.root_secret_key, box)
    if not refusal:
        make_default_kms_key(storage, settings, root, master, retired)
    if membership is None:
        store, rebuilt = open_metadata(settings, storage, root.owner_id)
    if rebuilt:
        log.info("index rebuilt from the drives: %d objects", rebuilt)
    # Every key's secret must open now, not at its first request; so must the remotes' (replication).
    Identities(storage, store, box, root).load()
    remotes = Remotes(storage, box)
    remotes.load()
    try:
        open_tiers(settings, storage, remotes)  # refused here, before any process serves
    except ValueError as e:
        raise TierSettingError(str(e)) from None
    return Deployment(settings, storage, root, generated, box, store.path if isinstance(store, SqliteMetaStore) else None, started_at, certificate, master_keys, membership), store


def build_app(
    deployment: Deployment, store: MetaStore, role: ProcessRole, website_port: int | None = None, console_port: int | None = None,
    internal_port: int | None = None,
) -> HoardApp:
    """One process's application, with the background work its role runs (see ``ProcessRole``)."""
    settings, storage = deployment.settings, deployment.storage
    metrics.set_worker(role.index)

    def report(record: ObjectRecord) -> None:
        # Damage a read finds in a worker other than the leader goes to the leader's healer
        # through the index.
        store.report_damage(record.bucket, record.key)

    background: list[Background] = []
    admin: AdminHandler
    dashboard: DashboardSources | None = None
    catalog = internal = None
    if deployment.membership is not None:
        assert isinstance(store, PostgresMetaStore)
        catalog = ClusterCatalog(store)
        if role.count > 1 and isinstance(storage, ClusterStorage):
            storage.forget_connections()  # any made before the fork are the other workers' too
            # The documents the drives' shared files live in, through this worker's own
            # connections (the ones the node joined with were closed before the fork).
            connect_storage(storage, catalog, deployment.membership)
        internal = internal_api(deployment.membership, catalog)
    # Every process knows every key (and notices changes the leader makes: see Identities).
    identities = Identities(storage, store, deployment.secrets, deployment.root)
    identities.load()
    remotes = Remotes(storage, deployment.secrets)  # read from the drives when needed, in any process
    keys = open_keys(deployment)
    data = ObjectData(storage, report, open_tiers(settings, storage, remotes), keys)
    if role.leader:
        clustered = deployment.membership is not None  # queues shared with other nodes: claimed
        reclaimer = Reclaimer(store, storage, settings.reclaim_grace, tiers=data.tiers, claim=clustered)
        sweeper = OrphanSweeper(store, storage, role.started_at, settings.orphan_grace, settings.orphan_sweep_interval, clustered)
        # A cluster node's walkers act on its partitions alone; one server's, on everything.
        keeper = partition_keeper(deployment.membership, catalog) if deployment.membership is not None and catalog is not None else None
        share: WorkShare = keeper if keeper is not None else EVERYTHING
        healer = Healer(store, storage, data, settings.scanner_rate, settings.probe_interval, collect_reports=role.count > 1, share=share)
        data.on_damage = healer.damaged  # repaired here, within seconds
        # Drive states are shared by every process (StateSlot): one probe serves them all.
        monitor = DriveMonitor(storage, settings.probe_interval, healer.drives_back)
        replicator = Replicator(store, data, remotes, claim=clustered)
        sites = SiteSync(identities, store, data, remotes)
        lifecycle = LifecycleWorker(store, data, settings.lifecycle_day_seconds, settings.lifecycle_rate, share=share)
        tier_worker = TierWorker(store, data, settings.lifecycle_day_seconds, share=share)
        kms = keys.kms if isinstance(keys.kms, BuiltinKms) else None
        rotation = MasterKeyRotation(keys, store, data, kms)
        background = [monitor, healer, reclaimer, sweeper, replicator, sites, lifecycle, tier_worker, rotation]
        if keeper is not None and catalog is not None and isinstance(storage, ClusterStorage):
            background.append(PoolMover(store, data, storage, catalog, share))  # what decommissioned pools hold
        history = History(settings.dashboard_sample_seconds)  # the dashboard's last hour of traffic, summed over every worker
        background.append(history)
        # The same list: a certificate watcher appended below is reported too.
        dashboard = DashboardSources(storage, store, role, deployment.started_at, background, healer, history, data.tiers, settings)
        admin = AdminApi(
            Cluster(
                storage, store, healer, monitor, role.count, deployment.root.owner_id, settings.region, identities, remotes, data,
                sites, lifecycle, tier_worker, rotation, catalog, _key_rotation(deployment.membership, catalog),
            )
        )
    else:
        assert role.leader_address is not None
        # The leader's unix socket is served by the same uvicorn as its port, so with TLS too.
        admin = AdminForwarder(role.leader_address, tls=deployment.certificate is not None)
    if deployment.certificate is not None:
        background.append(CertificateWatcher(deployment.certificate))  # each process reloads its own copy
    if deployment.membership is not None and deployment.membership.tls is not None:
        background.append(CertificateWatcher(deployment.membership.tls, what="the internal TLS certificate check"))
    spool_dir = spool_folder(storage.drives[0].root.absolute())
    request_log = RequestLog(settings.access_log, settings.audit_log, spool_dir, f"w{role.index}", settings.logging_delivery_seconds, store.get_bucket)
    background.append(request_log)
    if deployment.membership is not None and catalog is not None:
        if not role.leader:
            background.extend(follower_background(deployment.membership, catalog, storage))
        else:
            assert keeper is not None
            # What a node's drives missed while it was away (or another node's, while it was
            # unreachable) was queued for healing by each write's commit: due at once now. No
            # walk over every object: a restart of one node would cost the whole cluster one.
            def on_back(reason: str) -> None:
                log.info("%s: queued heals are due now", reason)
                healer.hurry()

            background.extend(cluster_background(deployment.membership, catalog, storage, keeper, on_back))
    if role.leader:
        names = {f"w{i}" for i in range(role.count)}
        background.append(LogDelivery(store, data, spool_dir, settings.logging_delivery_seconds, settings.region, identities.account_id, names))
    services = Services(settings=settings, store=store, data=data, root=deployment.root, authorizer=authorizer(store, identities.account, deployment.root.owner_id, settings.block_public_access), identities=identities, remotes=remotes)
    authenticator = Authenticator(identities, settings.region, settings.region_strict, settings.domain)
    website = WebsiteEndpoint(services, settings.website_domain, identities.get) if website_port is not None else None
    observer = Observer(storage, store, settings.metrics_token, deployment.started_at)
    console = None
    if console_port is not None and role.leader:
        console = ConsoleApp(console_endpoint(settings, deployment.certificate is not None), settings.console_idle_seconds, settings.console_status_page, dashboard, observer)
    return HoardApp(settings, services, authenticator, admin, background, role.host_id, website, website_port, observer, console, console_port, request_log, internal, internal_port)


def console_endpoint(settings: Settings, tls: bool) -> Endpoint:
    """Where the console sends its users' S3 requests (this server's own port, over loopback when
    it listens on every address) and what its links name."""
    host, port = parse_address(settings.address)
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    own = f"{'https' if tls else 'http'}://{_url_host(host)}:{port}"
    return Endpoint(settings.console_s3_url or own, settings.console_s3_url or own, settings.region)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class TierSettingError(Exception):
    """HOARD_TIER_COLD or HOARD_TIER_IA names a tier that cannot be used."""


def default_cold_tier(storage: Storage) -> Path:
    """Where the cold tier is when no HOARD_TIER_COLD says: beside ``.hoard`` in the first data folder."""
    # Absolute: the data folder may be given relative (hoard server ./data), a tier path may not.
    return storage.drives[0].root.absolute() / ".hoard-tiers" / COLD_TIER


def open_tiers(settings: Settings, storage: Storage, remotes: Remotes) -> dict[str, TierStore]:
    """The tiers the settings name (the cold one always on one server; the IA one if configured). Raises
    ValueError for a tier that names a remote that is not configured."""

    def client_for_remote(name: str) -> Callable[[], Any]:
        clients: list[Any] = []

        def client() -> Any:
            if not clients:  # made once, when first needed: the remote's keys are read then
                clients.append(remotes.load()[name].s3_client())
            return clients[0]

        if name not in {r.name for r in remotes.listed()}:
            raise KeyError(name)
        return client

    tiers: dict[str, TierStore] = {}
    if settings.tier_cold:
        tiers[COLD_TIER] = open_tier(COLD_TIER, settings.tier_cold, client_for_remote)
    elif not isinstance(storage, ClusterStorage):
        tiers[COLD_TIER] = open_tier(COLD_TIER, str(default_cold_tier(storage)), client_for_remote)
    # A cluster node's default would be a folder of its own that no other node could read back:
    # without HOARD_TIER_COLD (an S3 remote, or a folder every node mounts), cold classes keep
    # their bytes in the pools, as IA classes do without HOARD_TIER_IA.
    if settings.tier_ia:
        tiers[IA_TIER] = open_tier(IA_TIER, settings.tier_ia, client_for_remote)
    return tiers


def authorizer(store: MetaStore, account: str, owner: str, block_public: bool = False) -> Authorizer:
    """The authorization step, reading the bucket policies and object tags it needs from the index."""

    async def bucket(name: str) -> Bucket | None:
        return await store.get_bucket(name)

    async def object_version(bucket: str, key: str, version: str | None) -> ObjectRecord | None:
        return await (store.get_object(bucket, key) if version is None else store.get_version(bucket, key, version))

    return Authorizer(account, bucket, object_version, owner, block_public)


class _Server(uvicorn.Server):
    """uvicorn, with listeners of their own TLS context beside those its config serves: the
    internal API's (mutual TLS, the cluster's CA) next to the S3 port's (HTTP, or HTTPS with the
    public certificate). One event loop and one application for both."""

    def __init__(self, config: uvicorn.Config, own_tls: list[tuple[socket.socket, ssl.SSLContext]]) -> None:
        super().__init__(config)
        self.own_tls = own_tls

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.own_tls:
            return
        config, loop = self.config, asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop)  # type: ignore[call-arg]

        for sock, context in self.own_tls:
            # Closed with the others at shutdown (uvicorn closes every server in self.servers).
            self.servers.append(await loop.create_server(protocol, sock=sock, ssl=context, backlog=config.backlog))


def uvicorn_server(
    app: Any, level: str, tls: ssl.SSLContext | None = None, own_tls: list[tuple[socket.socket, ssl.SSLContext]] = ()
) -> uvicorn.Server:
    """uvicorn serving ``app``; over TLS on every socket when given a context (kept, not copied:
    the certificate watcher loads a renewed pair into it), and on each of ``own_tls``'s sockets
    with its own context."""
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=refusing_with(head_too_large_document, "application/xml"),
        lifespan="on",
        log_level=level,
        access_log=level == "debug",
        server_header=False,
        timeout_keep_alive=30,
        ssl_context_factory=(lambda config, default: tls) if tls is not None else None,
    )
    return _Server(config, list(own_tls))


def _internal_listeners(deployment: Deployment, sockets: list[socket.socket]) -> list[tuple[socket.socket, ssl.SSLContext]]:
    tls = deployment.membership.tls if deployment.membership is not None else None
    return [(sock, tls.server_context) for sock in sockets] if tls is not None else []


def serve_one(
    deployment: Deployment,
    store: MetaStore,
    level: str,
    sockets: list[socket.socket],
    website_sockets: list[socket.socket] = (),
    console_socket: socket.socket | None = None,
    internal_sockets: list[socket.socket] = (),
) -> None:
    """Serve from this process alone until stopped, on the sockets ``bind`` gave (the S3 API's,
    and the website endpoint's, the console's and the internal API's if there are)."""
    website_port = website_sockets[0].getsockname()[1] if website_sockets else None
    console_port = console_socket.getsockname()[1] if console_socket is not None else None
    internal_port = internal_sockets[0].getsockname()[1] if internal_sockets else None
    app = build_app(deployment, store, ProcessRole(started_at=deployment.started_at), website_port, console_port, internal_port)
    extra = [console_socket] if console_socket is not None else []
    server = uvicorn_server(app, level, _context(deployment), _internal_listeners(deployment, list(internal_sockets)))
    server.run(sockets=[*sockets, *website_sockets, *extra])


def supervise(
    deployment: Deployment,
    store: MetaStore,
    level: str,
    sockets: list[socket.socket],
    title: str = "",
    website_sockets: list[socket.socket] = (),
    console_socket: socket.socket | None = None,
    internal_sockets: list[socket.socket] = (),
) -> Supervisor:
    """A supervisor ready to fork a process per socket (see ``hoard.supervisor``); ``title`` is
    what the workers' process titles say after ``hoard: worker N`` (the address and folders)."""
    store.close()  # each worker opens its own connections and writer
    renew_drive_pool()
    # Each worker counts into files of its own there, which any worker reads when scraped; named
    # before the fork and before any metric exists (prometheus_client picks its mode then).
    metrics_dir = metrics.make_directory()
    metrics.use_directory(metrics_dir)
    _preload(level)

    website_port = website_sockets[0].getsockname()[1] if website_sockets else None

    # The console is the leader's alone (its sessions live there): worker 0 gets its socket.
    console_port = console_socket.getsockname()[1] if console_socket is not None else None
    internal_port = internal_sockets[0].getsockname()[1] if internal_sockets else None

    def run_worker(role: ProcessRole, sockets: list) -> None:
        app = build_app(deployment, open_store(deployment.settings, deployment.index), role, website_port, console_port, internal_port)
        # The worker's internal socket is served with the cluster's mutual TLS, the rest as the S3 port is.
        internal = [sock for sock in sockets if sock.family != socket.AF_UNIX and sock.getsockname()[1] == internal_port]
        others = [sock for sock in sockets if sock not in internal]
        uvicorn_server(app, level, _context(deployment), _internal_listeners(deployment, internal)).run(sockets=others)

    return Supervisor(sockets, run_worker, deployment.started_at, title, list(website_sockets), metrics_dir, console_socket, list(internal_sockets))


def _context(deployment: Deployment) -> ssl.SSLContext | None:
    return deployment.certificate.context if deployment.certificate is not None else None


def _preload(level: str) -> None:
    """Import here what every worker would import when it starts serving (uvicorn's protocol
    and loop modules, the handlers): done before the fork, those pages are shared by the
    workers instead of each holding its own copy (~10 MiB each)."""
    registry()
    uvicorn_server(None, level).config.load()


def _key_rotation(membership: Membership | None, catalog: ClusterCatalog | None) -> Callable[[], dict] | None:
    """``hoard admin cluster rotate-key`` as this node runs it, or None off a cluster."""
    if membership is None or catalog is None:
        return None
    # Each step waits two rounds of every worker's key file watcher and a second more.
    return functools.partial(
        rotate_cluster_key, catalog, membership.keyring, membership.node, LIVE_WITHIN, 2 * KEY_FILE_SECONDS + 1, membership.connect_tls
    )
