"""Every setting, declared once: its type, the values allowed, its default and what it means.

A setting comes from a ``hoard server`` option, else a ``HOARD_*`` environment variable, else the
TOML settings file (``--config`` / ``HOARD_CONFIG``), else its default. ``load_settings`` checks
them all before anything starts: a value outside its range stops the server with a line naming
the setting, the value and what is allowed (``SettingsError``), rather than a server that starts
and then fails every request. ``hoard server --help`` and the README's table are written from
these declarations (a test holds the README to them).
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

ENV_PREFIX = "HOARD_"
GiB = 1024**3
# An inline object is held whole in memory while it is received: keep that to one erasure block.
MAX_INLINE_LIMIT = 1024 * 1024
# S3's own limit on an object's size.
MAX_OBJECT_SIZE = 5 * 1024**4


def _setting(
    default: Any, meaning: str, *, option: str | None = None, allowed: str | None = None, unset: str | None = None, **constraints: Any
) -> Any:
    """A field with its meaning (help and README), the command-line option that also sets it,
    what is allowed where its constraints (a pattern, a cross-check) say nothing readable, and
    what leaving it unset means when that is more than nothing."""
    extra: dict[str, Any] = {}
    if option:
        extra["option"] = option
    if allowed:
        extra["allowed"] = allowed
    if unset:
        extra["unset"] = unset
    return Field(default, description=meaning, json_schema_extra=extra or None, **constraints)


DEFAULT_ZONE = "default"  # a cluster node started without --zone: zones are not declared


class Settings(BaseSettings):
    # Empty variables count as unset (``HOARD_DOMAIN= hoard server ...``); extra="ignore" because
    # other HOARD_* variables exist (HOARD_ENDPOINT, for ``hoard admin``).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True, validate_default=True)

    config: Path | None = _setting(
        None,
        "a TOML settings file: the settings below, named in lower case without HOARD_ "
        "(body_timeout = 20); options and HOARD_* variables override it",
        option="--config",
        allowed="the path of a TOML file",
    )
    address: str = _setting(
        "127.0.0.1:9000",
        "HOST:PORT to listen on; 0.0.0.0:9000 serves other machines",
        option="--address",
        allowed="HOST:PORT with a port from 1 to 65535",
    )
    certs_dir: Path | None = _setting(
        None,
        "serve HTTPS with the certificate DIR/public.crt and its key DIR/private.key (PEM), read again "
        "when they change; hoard admin certs self-signed DIR makes one for development",
        option="--certs-dir",
        allowed="a folder holding public.crt and private.key",
        unset="none: plain HTTP",
    )
    root_access_key: str | None = _setting(
        None,
        "root access key; with HOARD_ROOT_SECRET_KEY, or neither: then generated on first start, "
        "kept in DIR/.hoard/root-credentials.json on every drive (mode 0600) and printed once",
        allowed="3 to 128 letters, digits or . _ ~ + = @ -",
        unset="generated",
        pattern=r"^[A-Za-z0-9._~+=@-]{3,128}$",
    )
    root_secret_key: str | None = _setting(
        None,
        "root secret key (with HOARD_ROOT_ACCESS_KEY)",
        allowed="8 to 128 printable ASCII characters, no spaces",
        unset="generated",
        pattern=r"^[!-~]{8,128}$",
    )
    secrets_key: str | None = _setting(
        None,
        "the key that seals secret keys kept on the drives (base64 of 32 random bytes: head -c32 /dev/urandom | base64); "
        "keep it apart from the data folder",
        allowed="base64 of 32 bytes",
        unset="the key file's",
        pattern=r"^[A-Za-z0-9+/]{43}=$",
    )
    secrets_key_file: Path | None = _setting(
        None,
        "a file holding HOARD_SECRETS_KEY (e.g. /etc/hoard/secrets.key, mode 0600); unset, the file in the user's "
        "configuration folder named after the deployment, made on first start",
        allowed="the path of an existing file",
        unset="~/.config/hoard/secrets/DEPLOYMENT.key",
    )
    master_key: str | None = _setting(
        None,
        "the master key of server-side encryption (SSE-S3): it seals every encrypted version's data key (base64 of 32 "
        "random bytes, as openssl rand -base64 32 makes); keep it apart from the data folder",
        allowed="base64 of 32 bytes",
        unset="the key file's",
        pattern=r"^[A-Za-z0-9+/]{43}=$",
    )
    master_key_file: Path | None = _setting(
        None,
        "a file holding HOARD_MASTER_KEY (e.g. /etc/hoard/master.key, mode 0600); unset, the file in the user's "
        "configuration folder named after the deployment, made on first start",
        allowed="the path of an existing file",
        unset="~/.config/hoard/secrets/DEPLOYMENT.master.key",
    )
    sse_c_over_http: bool = _setting(
        False,
        "accept SSE-C requests (customer-provided keys) over plain HTTP: for development only, since the key "
        "travels in clear; S3 refuses them",
    )
    block_public_access: bool = _setting(
        False,
        "block public access on every bucket, whatever its own public-access block says: public ACLs and public "
        "bucket policies are refused and ignored, anonymous requests get nothing",
    )
    region: str = _setting(
        "us-east-1",
        "region reported and signed for",
        allowed="1 to 40 letters, digits or -",
        pattern=r"^[A-Za-z0-9-]{1,40}$",
    )
    region_strict: bool = _setting(False, "reject signatures scoped to another region (by default any region is accepted)")
    domain: str | None = _setting(
        None,
        "enables virtual-hosted-style requests: s3.localhost makes bucket.s3.localhost address the bucket \"bucket\"",
        allowed="a host name in lower case, such as s3.localhost",
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$",
    )
    website_address: str | None = _setting(
        None,
        "HOST:PORT of the static website endpoint: anonymous GET and HEAD of buckets with a website configuration, "
        "addressed as BUCKET.s3-website.DOMAIN or by a host name that is a bucket's name (a CNAME)",
        option="--website-address",
        allowed="HOST:PORT with a port from 1 to 65535, not the S3 address",
        unset="none: no website endpoint",
    )
    website_domain: str = _setting(
        "localhost",
        "the domain of website host names: BUCKET.s3-website.DOMAIN",
        option="--website-domain",
        allowed="a host name in lower case",
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$",
    )
    console_address: str | None = _setting(
        "127.0.0.1:9001",
        "HOST:PORT of the web console (buckets, objects, permissions, users, the service health dashboard); "
        "off turns it off",
        option="--console-address",
        allowed="HOST:PORT with a port from 1 to 65535, not the S3 or website address; or off",
    )
    console_idle_seconds: float = _setting(
        1800.0,
        "seconds a console session may stay idle before it must log in again",
        ge=60,
        le=7 * 86400,
        allow_inf_nan=False,
    )
    console_status_page: bool = _setting(
        False,
        "serve the console's read-only status page (overall state, drives online, request and error rates) at "
        "/status to anyone who reaches the console, without keys",
    )
    dashboard_sample_seconds: float = _setting(
        10.0,
        "seconds between the points of the dashboard's last-hour charts (requests, errors, latency, bytes)",
        ge=1,
        le=600,
        allow_inf_nan=False,
    )
    console_s3_url: str | None = _setting(
        None,
        "the S3 endpoint's URL as browsers reach it, for the console's share links and its own S3 requests "
        "(behind a proxy, say)",
        allowed="an http:// or https:// URL",
        unset="the S3 address, with 127.0.0.1 for a wildcard host",
        pattern=r"^https?://[^\s/]+(/.*)?$",
    )
    reclaim_grace: float = _setting(
        30.0,
        "seconds a replaced object's bytes are kept before they are deleted, so reads already under way finish",
        ge=0,
        allow_inf_nan=False,
    )
    orphan_grace: float = _setting(
        3600.0,
        "seconds a shard file or version record that no version names is kept before the orphan sweep "
        "removes it (an upload's files are on the drives a moment before its commit names them)",
        ge=0,
        allow_inf_nan=False,
    )
    orphan_sweep_interval: float = _setting(
        3600.0,
        "seconds between two sweeps of this server's drives for files no version names "
        "(a crash's or a lost reclaim's leftovers)",
        gt=0,
        allow_inf_nan=False,
    )
    max_object_size: int = _setting(
        5 * GiB,
        "bytes a single PutObject or PostObject may store (larger objects: multipart upload)",
        ge=1,
        le=MAX_OBJECT_SIZE,
    )
    body_timeout: float = _setting(
        20.0,
        "seconds a request body may stall before the request is answered 400 RequestTimeout",
        gt=0,
        allow_inf_nan=False,
    )
    parity: int | None = _setting(
        None,
        "parity shards per erasure set for STANDARD objects (default: 2 for sets of 4-5 drives, 3 for 6-7, "
        "4 for 8-16; 2-3 drives mirror); any that many drives of a set may be lost",
        option="--parity",
        allowed="0 with one drive, else 1 to half the drives of an erasure set (1 to 2 with three drives)",
        unset="by set size",
        ge=0,
        le=16,
    )
    reduced_parity: int | None = _setting(
        None,
        "parity for REDUCED_REDUNDANCY objects (default 1 for sets of 4-5 drives, 2 for larger sets)",
        allowed="as for HOARD_PARITY",
        unset="by set size",
        ge=0,
        le=16,
    )
    inline_limit: int = _setting(
        128 * 1024,
        "objects smaller than this many bytes are kept inside their version records",
        ge=0,
        le=MAX_INLINE_LIMIT,
    )
    scanner_rate: float = _setting(
        32 * 1024 * 1024,
        "bytes per second the background scanner reads to verify shards (0 turns it off)",
        ge=0,
        allow_inf_nan=False,
    )
    probe_interval: float = _setting(
        5.0,
        "seconds between probes of offline or replaced drives",
        gt=0,
        allow_inf_nan=False,
    )
    tier_cold: str | None = _setting(
        None,
        "where the bytes of GLACIER, GLACIER_IR and DEEP_ARCHIVE objects go: a folder (on a cheaper disk, "
        "say), or remote:NAME/BUCKET[/PREFIX], a bucket on a remote made with hoard admin remote add "
        "(another Hoard, or AWS); zstd-compressed where that helps",
        allowed="an absolute folder path, or remote:NAME/BUCKET[/PREFIX]",
        unset="the folder .hoard-tiers/cold beside .hoard in the first data folder",
        pattern=r"^(/.*|file:///.*|remote:[A-Za-z0-9._-]{1,64}/[a-z0-9.-]{3,63}(/.*)?)$",
    )
    tier_ia: str | None = _setting(
        None,
        "where the bytes of STANDARD_IA and ONEZONE_IA objects go, as for HOARD_TIER_COLD",
        allowed="as for HOARD_TIER_COLD",
        unset="kept on the drives with STANDARD's",
        pattern=r"^(/.*|file:///.*|remote:[A-Za-z0-9._-]{1,64}/[a-z0-9.-]{3,63}(/.*)?)$",
    )
    restore_expedited_seconds: float = _setting(
        1.0, "seconds an Expedited RestoreObject takes before the copy is readable", ge=0, le=30 * 86400, allow_inf_nan=False
    )
    restore_standard_seconds: float = _setting(
        60.0, "seconds a Standard RestoreObject (the default tier) takes", ge=0, le=30 * 86400, allow_inf_nan=False
    )
    restore_bulk_seconds: float = _setting(300.0, "seconds a Bulk RestoreObject takes", ge=0, le=30 * 86400, allow_inf_nan=False)
    lifecycle_day_seconds: float = _setting(
        86400.0,
        "how long a day is to lifecycle rules and restores (their Days, and midnight): shorten it to see rules "
        "act in tests and demos (like RGW's rgw_lc_debug_interval)",
        ge=0.01,
        le=86400,
        allow_inf_nan=False,
    )
    lifecycle_rate: float = _setting(
        200.0,
        "lifecycle actions (expirations, transitions, aborted uploads) per second at most",
        gt=0,
        allow_inf_nan=False,
    )
    metrics_token: str | None = _setting(
        None,
        "the bearer token GET /.hoard/metrics asks for (Authorization: Bearer TOKEN); unset, the metrics are open to anyone "
        "who reaches the port",
        allowed="16 to 256 letters, digits or . _ ~ + / = -",
        unset="none: no token asked",
        pattern=r"^[A-Za-z0-9._~+/=-]{16,256}$",
    )
    access_log: str | None = _setting(
        None,
        "where the JSON access log goes: one line per request answered on the S3 and website ports, "
        "appended to this file by every worker process (- for standard error)",
        allowed="a file path, or - for standard error",
        unset="none: no access log",
    )
    audit_log: str | None = _setting(
        None,
        "where the JSON audit log goes: one line per request that changes state or is refused (every "
        "S3 write, every admin API call, every 401 and 403), never a secret (- for standard error)",
        allowed="a file path, or - for standard error",
        unset="none: no audit log",
    )
    logging_delivery_seconds: float = _setting(
        60.0,
        "seconds between deliveries of S3 server access logs (PutBucketLogging) into their target buckets",
        gt=0,
        le=86400,
        allow_inf_nan=False,
    )
    meta: str | None = _setting(
        None,
        "where the metadata index lives: a PostgreSQL database, as a URL (postgresql://USER@HOST:PORT/DB) "
        "or a libpq connection string (host=pg1,pg2 dbname=hoard target_session_attrs=read-write follows a "
        "failover); its password in PGPASSWORD or ~/.pgpass rather than here",
        option="--meta",
        allowed="a postgresql:// or postgres:// URL, or a libpq connection string (key=value ...)",
        unset="SQLite in .hoard/ on the drives",
        pattern=r"^(postgres(ql)?://\S+|\S+=\S*( \S+=\S*)*)$",
    )
    meta_pool_size: int = _setting(
        8,
        "connections each server process may hold to the PostgreSQL index (HOARD_META): every node's "
        "workers times this must stay under the database's max_connections",
        ge=1,
        le=200,
    )
    meta_retry_seconds: float = _setting(
        30.0,
        "seconds a transaction on the PostgreSQL index (HOARD_META) is tried again through lost connections and "
        "a database failover before the request is answered 503: keep it longer than a failover takes",
        gt=0,
        le=3600,
        allow_inf_nan=False,
    )
    node: str | None = _setting(
        None,
        "this server's name in a cluster (with HOARD_META and HOARD_ADVERTISE): it registers itself and its drives "
        "in the cluster's database (made by hoard cluster init) and serves them to the other nodes",
        option="--node",
        allowed="a host-name-like name: lower-case letters, digits, . - (up to 63)",
        unset="no cluster: one server on its own drives",
        pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$",
    )
    advertise: str | None = _setting(
        None,
        "the address the other nodes of a cluster reach this node at (with HOARD_NODE)",
        option="--advertise",
        allowed="http://HOST:PORT",
        pattern=r"^http://[^/\s:]+:[0-9]{1,5}/?$",
    )
    zone: str = _setting(
        DEFAULT_ZONE,
        "the failure zone of this node in a cluster (a rack, a room, a site): a pool's erasure sets keep at most their "
        "parity count of drives in one zone",
        option="--zone",
        allowed="letters, digits, . _ - (up to 63)",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
    )
    internal_address: str | None = _setting(
        None,
        "where a cluster node serves the internal API to the other nodes over mutual TLS (with HOARD_INTERNAL_TLS): "
        "they reach it at this port of the host in HOARD_ADVERTISE, and the S3 port then refuses internal calls",
        option="--internal-address",
        allowed="HOST:PORT",
        unset="the internal API is served on the S3 port, signed but not encrypted",
    )
    internal_tls: str | None = _setting(
        None,
        "the node's certificate, its key and the cluster's CA (hoard cluster ca, hoard cluster node-cert) for the "
        "internal API's mutual TLS (with HOARD_INTERNAL_ADDRESS); the certificate must name the advertised host",
        option="--internal-tls",
        allowed="CERT,KEY,CA: three paths separated by commas (the option takes them as three arguments)",
        pattern=r"^[^,]+,[^,]+,[^,]+$",
    )
    cluster_key: str | None = _setting(
        None,
        "the cluster key nodes sign their calls to each other with (hoard cluster init makes it); two keys separated by "
        "a comma while one is rotated; never logged",
        allowed="base64 of 32 bytes, or two of them separated by a comma",
        unset="the key file's",
    )
    cluster_key_file: Path | None = _setting(
        None,
        "a file holding the cluster key (mode 0600, as hoard cluster init writes it); a node in a cluster needs it or "
        "HOARD_CLUSTER_KEY: there is no default; the node follows the file as a key rotation changes it",
        allowed="the path of an existing file, readable by its owner only",
    )
    log_level: Literal["debug", "info", "warning", "error"] = _setting("info", "how much to log", option="--log-level")
    workers: int = _setting(
        1,
        "server processes sharing the port; two on a two-core machine serve small requests about "
        "1.3-1.6x faster, each with its own caches and threads",
        option="--workers",
        ge=1,
        le=64,
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("address")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        parse_address(value)
        return value

    @field_validator("website_address")
    @classmethod
    def _website_host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value

    @field_validator("internal_address")
    @classmethod
    def _internal_host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value

    @property
    def internal_tls_files(self) -> tuple[Path, Path, Path] | None:
        """(certificate, key, CA) of internal TLS, or None."""
        if self.internal_tls is None:
            return None
        cert, key, ca = (Path(part.strip()).expanduser() for part in self.internal_tls.split(","))
        return cert, key, ca

    @field_validator("console_address", mode="before")
    @classmethod
    def _console_host_and_port(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "off":
            return None
        if isinstance(value, str):
            parse_address(value)
        return value

    @model_validator(mode="after")
    def _both_keys_or_neither(self) -> Settings:
        # One without the other would quietly serve with other keys than the ones configured.
        if (self.root_access_key is None) != (self.root_secret_key is None):
            given, missing = ("ACCESS", "SECRET") if self.root_secret_key is None else ("SECRET", "ACCESS")
            raise ValueError(f"HOARD_ROOT_{given}_KEY is set but HOARD_ROOT_{missing}_KEY is not: set both, or neither")
        if self.node is not None and (self.meta is None or self.advertise is None):
            raise ValueError("a cluster node (HOARD_NODE) needs the cluster's database (HOARD_META) and its own address (HOARD_ADVERTISE)")
        if self.advertise is not None and self.node is None:
            raise ValueError("HOARD_ADVERTISE is set but HOARD_NODE is not: a node's address needs its name")
        if (self.internal_tls is None) != (self.internal_address is None):
            given, missing = ("TLS", "ADDRESS") if self.internal_address is None else ("ADDRESS", "TLS")
            raise ValueError(f"HOARD_INTERNAL_{given} is set but HOARD_INTERNAL_{missing} is not: internal TLS needs both")
        if self.internal_address is not None:
            if self.node is None:
                raise ValueError("HOARD_INTERNAL_ADDRESS is set but HOARD_NODE is not: internal TLS is between a cluster's nodes")
            taken = {parse_address(a)[1] for a in (self.address, self.website_address, self.console_address) if a is not None}
            if parse_address(self.internal_address)[1] in taken:
                raise ValueError("the internal API needs a port of its own: HOARD_INTERNAL_ADDRESS has the S3, website or console address's port")
        if self.website_address is not None and parse_address(self.website_address)[1] == parse_address(self.address)[1]:
            raise ValueError("the website endpoint needs a port of its own: HOARD_WEBSITE_ADDRESS has HOARD_ADDRESS's port")
        if self.console_address is not None:
            taken = {parse_address(self.address)[1]} | ({parse_address(self.website_address)[1]} if self.website_address else set())
            if parse_address(self.console_address)[1] in taken:
                raise ValueError("the console needs a port of its own: HOARD_CONSOLE_ADDRESS has the S3 or website address's port")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Options (passed in as keyword arguments) win over the environment, which wins over the file.
        return init_settings, env_settings, SettingsFile(settings_cls)


class SettingsFile(PydanticBaseSettingsSource):
    """The TOML file named by ``--config`` or ``HOARD_CONFIG``: read last, so that the sources before
    it (options, environment) can name it."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the file is read whole, in __call__

    def __call__(self) -> dict[str, Any]:
        path = self.current_state.get("config")
        if path is None:
            return {}
        path = Path(path).expanduser()
        if not path.is_file():
            raise _FileError(path, "no such file")
        try:
            data = TomlConfigSettingsSource(self.settings_cls, toml_file=path)()
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise _FileError(path, f"not a readable TOML file: {e}") from None
        # A misspelt name must not be skipped quietly: the setting would keep its default.
        unknown = sorted(set(data) - (set(Settings.model_fields) - {"config"}))
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            raise _FileError(path, f"unknown setting {names} (the settings are those of `hoard server --help`, in lower case without HOARD_)")
        return data


class _FileError(Exception):
    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


class SettingsError(Exception):
    """Settings that cannot be used; ``lines`` says, one line each, which and why."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(**options: Any) -> Settings:
    """The settings from ``options`` (those given on the command line; None means not given), the
    environment and the settings file. Raises ``SettingsError`` naming every value not allowed."""
    given = {name: value for name, value in options.items() if value is not None}
    try:
        return Settings(**given)
    except _FileError as e:
        raise SettingsError([f"{where('config', given)}={_show(str(e.path))}: {e.problem}"]) from None
    except ValidationError as e:
        lines = []
        for error in e.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            if name in Settings.model_fields:
                lines.append(f"{where(name, given)}={_show(_raw(name, given, error['input']))}: expected {allowed(name)}")
            else:
                lines.append(str(error.get("ctx", {}).get("error", error["msg"])))
        raise SettingsError(lines) from None


# HOARD_* variables that are not server settings.
OTHER_VARIABLES = frozenset({"HOARD_ENDPOINT", "HOARD_CA_BUNDLE"})  # hoard admin's


def unknown_variables() -> list[str]:
    """HOARD_* variables in the environment that name no setting (a misspelling, most likely)."""
    names = {env_name(name) for name in Settings.model_fields} | OTHER_VARIABLES
    return sorted(key for key in os.environ if key.upper().startswith(ENV_PREFIX) and key.upper() not in names)


def where(name: str, options: dict[str, Any]) -> str:
    """How the user gave setting ``name``: its option, its variable or its key in the settings file,
    whichever comes first in the order they are read."""
    if name in options and option_of(name):
        return str(option_of(name))
    variable = env_name(name)
    value = _environ(variable)
    if value is not None or name == "config":
        return variable
    return f"{options.get('config') or _environ(env_name('config'))}: {name}"


def _raw(name: str, options: dict[str, Any], validated: Any) -> Any:
    """The value as the user wrote it (a validator may have changed the one pydantic reports)."""
    if name in options:
        return options[name]
    value = _environ(env_name(name))
    return validated if value is None else value


def _environ(variable: str) -> str | None:
    """A variable as the settings read it: any case, empty meaning unset."""
    return next((value for key, value in os.environ.items() if key.upper() == variable and value), None)


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT; an IPv6 host may be bracketed. Raises ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def option_of(name: str) -> str | None:
    return _extra(Settings.model_fields[name]).get("option")


def meaning(name: str) -> str:
    return Settings.model_fields[name].description or ""


def default_text(name: str) -> str:
    """The default as a user would write it."""
    field = Settings.model_fields[name]
    default = field.default
    if default is None:
        return str(_extra(field).get("unset", "none"))
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def allowed(name: str) -> str:
    """What setting ``name`` takes, in words, from its declaration."""
    field = Settings.model_fields[name]
    described = _extra(field).get("allowed")
    if described:
        return described
    kind = field.annotation
    if get_origin(kind) is not Literal and type(None) in get_args(kind):
        kind = next(a for a in get_args(kind) if a is not type(None))
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(get_args(kind))
    if kind is bool:
        return "true or false (also 1 or 0, yes or no, on or off)"
    noun = "an integer" if kind is int else "a number"
    # pydantic keeps each bound as one metadata object with the attribute of its name (Ge(ge=1)).
    bounds = {name: getattr(rule, name) for rule in field.metadata for name in ("gt", "ge", "lt", "le") if getattr(rule, name, None) is not None}
    if "ge" in bounds and "le" in bounds:
        return f"{noun} from {bounds['ge']} to {bounds['le']}"
    low = f">= {bounds['ge']}" if "ge" in bounds else f"> {bounds['gt']}" if "gt" in bounds else ""
    high = f"<= {bounds['le']}" if "le" in bounds else f"< {bounds['lt']}" if "lt" in bounds else ""
    return " ".join([noun, " and ".join(w for w in (low, high) if w)]).strip()


def _extra(field: FieldInfo) -> dict[str, Any]:
    return field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | Path):
        return repr(str(value))
    return repr(value) if not isinstance(value, dict) else "(several values)"

