"""The ``hoard`` command."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import textwrap
from pathlib import Path
from typing import Any

import click

from hoard import __version__
from hoard.cli import (
    admin_cluster,  # noqa: F401 - registers pool and cluster on the admin group
    admin_iam,  # noqa: F401 - registers the identity commands on the admin group
    admin_kms,  # noqa: F401 - registers the KMS commands on the admin group
    admin_lifecycle,  # noqa: F401 - registers usage and lifecycle on the admin group
    admin_remote,  # noqa: F401 - registers the remote commands on the admin group
    admin_replicate,  # noqa: F401 - registers the replication commands on the admin group
    admin_site,  # noqa: F401 - registers the site replication commands on the admin group
)
from hoard.cli.admin import admin
from hoard.cli.backup import backup, restore
from hoard.cli.cluster import cluster
from hoard.cli.dr import dr
from hoard.cli.publish import publish
from hoard.cluster.ellipses import expand
from hoard.config import (
    Settings,
    SettingsError,
    allowed,
    default_text,
    env_name,
    load_settings,
    meaning,
    option_of,
    parse_address,
    unknown_variables,
    where,
)
from hoard.storage.layout import LayoutError, erasure_sets, parity_range


def expand_dirs(specs: tuple[str, ...]) -> list[Path]:
    """Expand ``/mnt/disk{1...8}`` into eight paths, as the erasure-coded layout will take them."""
    try:
        return [Path(one) for spec in specs for one in expand(spec)]
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _tune_malloc(arenas: int = 2) -> None:
    """Keep glibc's malloc from handing memory back and forth with the kernel on every block.

    Each 1 MiB block is encoded into fresh buffers of a few hundred KiB; above glibc's default
    mmap threshold each is a new mapping, faulted in page by page and unmapped again: measured,
    encoding ran at a tenth of its speed. Keeping such buffers on the heap (and a little freed
    heap untrimmed) stops that; capping the arenas keeps dozens of I/O threads from each
    holding their own freed memory, so resident memory stays flat with concurrency.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, 4 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 16 * 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hoard")
def main() -> None:
    """Hoard: a self-hosted, S3-compatible object storage server."""


class SettingsRefused(click.ClickException):
    """Settings the server will not start with: one ``Error:`` line for each."""

    exit_code = 2

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

    def show(self, file: Any = None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", err=True)


def _settings_help() -> str:
    """Every setting, for ``hoard server --help``: written from the settings' declarations."""
    lines = [
        "Settings: an option wins over its HOARD_* variable, which wins over the settings file",
        "(--config FILE or HOARD_CONFIG: TOML, the names below in lower case without HOARD_).",
        "",
    ]
    for name in Settings.model_fields:
        option = option_of(name)
        head = env_name(name) + (f", {option}" if option else "")
        lines.append("\b")
        lines.append(f"{head}  (default: {default_text(name)})")
        lines.extend(textwrap.wrap(meaning(name), 74, initial_indent="    ", subsequent_indent="    "))
        lines.extend(textwrap.wrap(f"allowed: {allowed(name)}", 74, initial_indent="    ", subsequent_indent="      "))
        lines.append("")
    return "\n".join(lines)


def _option_help(name: str) -> str:
    return f"{meaning(name)} (or {env_name(name)}; default: {default_text(name)})."


@main.command(epilog=_settings_help())
@click.option("--config", "config", metavar="FILE", default=None, help=_option_help("config"))
@click.option("--address", metavar="HOST:PORT", default=None, help=_option_help("address"))
@click.option("--certs-dir", "certs_dir", metavar="DIR", default=None, help=_option_help("certs_dir"))
@click.option("--log-level", metavar="[debug|info|warning|error]", default=None, help=_option_help("log_level"))
@click.option("--parity", metavar="N", default=None, help=_option_help("parity"))
@click.option("--workers", metavar="N", default=None, help=_option_help("workers"))
@click.option("--website-address", "website_address", metavar="HOST:PORT", default=None, help=_option_help("website_address"))
@click.option("--website-domain", "website_domain", metavar="DOMAIN", default=None, help=_option_help("website_domain"))
@click.option("--console-address", "console_address", metavar="HOST:PORT|off", default=None, help=_option_help("console_address"))
@click.option("--meta", "meta", metavar="URL", default=None, help=_option_help("meta"))
@click.option("--node", "node", metavar="NAME", default=None, help=_option_help("node"))
@click.option("--advertise", "advertise", metavar="http://HOST:PORT", default=None, help=_option_help("advertise"))
@click.option("--zone", "zone", metavar="ZONE", default=None, help=_option_help("zone"))
@click.option("--internal-address", "internal_address", metavar="HOST:PORT", default=None, help=_option_help("internal_address"))
@click.option("--internal-tls", "internal_tls", metavar="CERT KEY CA", nargs=3, default=None, help=_option_help("internal_tls"))
@click.argument("dirs", nargs=-1, required=True)
def server(
    config: str | None,
    address: str | None,
    certs_dir: str | None,
    log_level: str | None,
    parity: str | None,
    workers: str | None,
    website_address: str | None,
    website_domain: str | None,
    console_address: str | None,
    meta: str | None,
    node: str | None,
    advertise: str | None,
    zone: str | None,
    internal_address: str | None,
    internal_tls: tuple[str, str, str] | None,
    dirs: tuple[str, ...],
) -> None:
    """Serve the S3 API from the data folders DIR (one per drive).

    One DIR keeps everything in that folder (created if missing). Several DIRs are drives:
    they are grouped into erasure sets of 4 to 16, and each object is split into data and
    parity shards across one set, so any parity-count drives of a set may be lost. Ranges
    such as /mnt/disk{1...8} are expanded. Give the drives in the same order every time.
    """
    from hoard import server as composition
    from hoard.http.tls import CertificateError
    from hoard.iam.secrets import SecretsKeyError
    from hoard.membership import ClusterRefused
    from hoard.objects.index import SharedIndexRefused
    from hoard.storage.errors import DriveInUse
    from hoard.supervisor import name_process

    options = {
        "config": config, "address": address, "certs_dir": certs_dir, "log_level": log_level, "parity": parity, "workers": workers,
        "website_address": website_address, "website_domain": website_domain, "console_address": console_address, "meta": meta,
        "node": node, "advertise": advertise, "zone": zone, "internal_address": internal_address,
        "internal_tls": ",".join(internal_tls) if internal_tls else None,
    }  # fmt: skip
    given = {k: v for k, v in options.items() if v is not None}
    try:
        settings = load_settings(**options)
        paths = _drive_folders(dirs)
        _check_parity(settings, given, len(paths))
    except SettingsError as e:
        raise SettingsRefused(e.lines) from None
    try:
        certificate = composition.certificate(settings)
    except CertificateError as e:
        raise SettingsRefused([f"{where('certs_dir', given)}={str(settings.certs_dir)!r}: {e}"]) from None
    try:
        internal = composition.internal_tls(settings)
    except CertificateError as e:
        raise SettingsRefused([f"{where('internal_tls', given)}: {e}"]) from None
    _tune_malloc()
    level = settings.log_level
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for variable in unknown_variables():
        logging.getLogger("hoard").warning("%s is not a Hoard setting: ignored (see hoard server --help)", variable)
    if certificate is not None:
        logging.getLogger("hoard.tls").info("serving HTTPS with the certificate for %s", certificate.pair.describe())
        if warning := certificate.expiry_warning():
            logging.getLogger("hoard.tls").warning("%s", warning)
    workers_count = settings.workers
    host, port = parse_address(settings.address)
    if len({p.resolve() for p in paths}) != len(paths):
        raise SettingsRefused(["a data folder is given twice"])
    # The order matters: a second server on these folders or this address must stop before it
    # changes anything (the start-up sweeps would delete the running server's uploads in flight).
    try:
        storage = composition.claim(settings, paths)
    except LayoutError as e:
        raise SettingsRefused([str(e)]) from None
    except DriveInUse as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:  # a new deployment's folder that cannot be made or locked
        raise click.ClickException(f"cannot use {e.filename or 'a data folder'}: {e.strerror or e}") from None
    try:
        sockets = composition.bind(host, port, workers_count)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e}") from None
    website_sockets: list = []
    if settings.website_address is not None:
        whost, wport = parse_address(settings.website_address)
        try:
            website_sockets = composition.bind(whost, wport, workers_count)
        except OSError as e:
            raise click.ClickException(f"cannot listen on {whost}:{wport} for the website endpoint: {e}") from None
    console_socket = None
    if settings.console_address is not None:
        chost, cport = parse_address(settings.console_address)
        try:
            console_socket = composition.bind(chost, cport, 1)[0]
        except OSError as e:
            raise click.ClickException(
                f"cannot listen on {chost}:{cport} for the web console: {e} (choose another with --console-address HOST:PORT, or turn it off with --console-address off)"
            ) from None
    internal_sockets: list = []
    if settings.internal_address is not None:
        ihost, iport = parse_address(settings.internal_address)
        try:
            internal_sockets = composition.bind(ihost, iport, workers_count)
        except OSError as e:
            raise click.ClickException(f"cannot listen on {ihost}:{iport} for the internal API: {e}") from None
    # Named as soon as it takes connections: the processes' titles, after their role.
    title = f"{host}:{sockets[0].getsockname()[1]} {' '.join(dirs)}"
    name_process("server" if workers_count == 1 else "supervisor", title)
    try:
        deployment, store = composition.prepare(settings, storage, certificate, internal)
    except (LayoutError, SecretsKeyError, composition.TierSettingError, SharedIndexRefused, ClusterRefused) as e:
        raise SettingsRefused([str(e)]) from None
    except DriveInUse as e:  # a folder that appeared, or was emptied, since the claim
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot use {e.filename or 'a data folder'}: {e.strerror or e}") from None
    storage, root = deployment.storage, deployment.root

    scheme = "https" if certificate is not None else "http"

    def banner(port: int) -> None:
        data = paths[0]
        endpoint = f"{scheme}://{_url_host(host)}:{port}"
        drives = str(data) if len(paths) == 1 else f"{len(paths)} drives ({len(storage.sets)} erasure set(s), parity {storage.parity})"
        processes = f" with {workers_count} worker processes" if workers_count > 1 else ""
        click.echo(f"Hoard {__version__} serving S3 on {endpoint} from {drives}{processes}")
        if deployment.root_generated:
            click.echo(
                "Generated root credentials (kept in "
                f"{data / '.hoard' / 'root-credentials.json'}; shown only this once):\n"
                f"  AccessKey: {root.access_key}\n  SecretKey: {root.secret_key}"
            )
        # The AWS CLI and the SDKs (boto3 and others) take the endpoint from AWS_ENDPOINT_URL, so
        # scripts written for AWS run here unchanged.
        click.echo("Use it with the AWS CLI, boto3 and other SDKs, unchanged:")
        click.echo(f"  export AWS_ENDPOINT_URL={_client_url(scheme, host, port)}")
        if certificate is not None and certificate.pair.self_signed:
            # Clients trust it only when told to: the certificate is its own CA.
            click.echo(f"  export AWS_CA_BUNDLE={certificate.paths[0]}")
        if deployment.root_generated:
            click.echo(f"  export AWS_ACCESS_KEY_ID={root.access_key} AWS_SECRET_ACCESS_KEY='{root.secret_key}'")
        click.echo("  aws s3 ls")
        if website_sockets:
            wport = website_sockets[0].getsockname()[1]
            click.echo(f"Static websites on {scheme}://BUCKET.s3-website.{settings.website_domain}:{wport}/ (buckets with a website configuration)")
        if internal is not None:
            click.echo(f"Internal API (mutual TLS) on {settings.internal_address}, certificate for {internal.describe()}")
        if console_socket is not None:
            click.echo(f"Web console on {scheme}://{_url_host(chost)}:{console_socket.getsockname()[1]}/ (log in with an access key and its secret key)")

    if workers_count == 1:
        banner(sockets[0].getsockname()[1])
        composition.serve_one(deployment, store, level, sockets, website_sockets, console_socket, internal_sockets)
        return
    supervisor = composition.supervise(deployment, store, level, sockets, title, website_sockets, console_socket, internal_sockets)
    banner(supervisor.port)
    raise SystemExit(supervisor.serve())


def _drive_folders(dirs: tuple[str, ...]) -> list[Path]:
    """The DIR arguments, ranges expanded; each a folder or not there yet."""
    try:
        paths = expand_dirs(dirs)
    except click.BadParameter as e:
        raise SettingsError([f"DIR: {e.message}"]) from None
    if len({p.resolve() for p in paths}) != len(paths):
        raise SettingsError(["DIR: a folder is given twice"])
    for path in paths:
        if path.exists() and not path.is_dir():
            raise SettingsError([f"DIR {str(path)!r}: expected a folder (or none yet, to be created), not a file"])
    return paths


def _check_parity(settings: Settings, given: dict[str, str], drive_count: int) -> None:
    """Parity against the erasure sets the drives make: known only once the drives are."""
    try:
        set_size = len(erasure_sets(drive_count)[0])
    except LayoutError:
        return  # the drive count itself is refused when the drives are opened, and said so
    low, high = parity_range(set_size)
    lines = []
    for name in ("parity", "reduced_parity"):
        value = getattr(settings, name)
        if value is not None and not low <= value <= high:
            what = "0: a single drive has no parity" if set_size == 1 else f"{low} to {high} for erasure sets of {set_size} drives"
            lines.append(f"{where(name, given)}={value!r}: expected {what}")
    if lines:
        raise SettingsError(lines)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _client_url(scheme: str, host: str, port: int) -> str:
    """Where a client on this machine reaches a server listening on ``host``: a wildcard address
    is not one to connect to."""
    loopback = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"{scheme}://{_url_host(loopback)}:{port}"


main.add_command(admin)
main.add_command(cluster)
main.add_command(backup)
main.add_command(restore)
main.add_command(dr)
main.add_command(publish)

if __name__ == "__main__":
    main()
