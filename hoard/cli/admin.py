"""``hoard admin``: talk to a running server through its admin API."""

from __future__ import annotations

import functools
import json
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from hoard.admin.client import AdminClient, AdminError
from hoard.cli.certs import certs
from hoard.cli.cluster import rebuild_from_drives, rebuild_options


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


ENDPOINT_HELP = "The server's URL (or HOARD_ENDPOINT; default http://127.0.0.1:9000)."
DATA_HELP = "The server's data folder (any of its drives): sign with the root keys the server generated there."
PROFILE_HELP = "Sign with the keys of this AWS CLI profile (~/.aws/credentials or ~/.aws/config)."
CA_BUNDLE_HELP = (
    "Trust the server's certificate if this file (PEM) holds it or the CA that signed it: for an https:// "
    "endpoint with a self-signed certificate (or HOARD_CA_BUNDLE, AWS_CA_BUNDLE; default: the system's CAs)."
)
# Refusals that mean the keys are not the server's root keys: worth saying which keys were used.
_WRONG_KEYS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}


@dataclass
class Target:
    """The server and the credentials the group's options name; a subcommand's own options win."""

    endpoint: str
    data: Path | None
    profile: str | None
    ca_bundle: Path | None = None


@click.group()
@click.option("--endpoint", envvar="HOARD_ENDPOINT", default="http://127.0.0.1:9000", show_default=True, help=ENDPOINT_HELP)
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None, help=DATA_HELP)
@click.option("--profile", default=None, help=PROFILE_HELP)
@click.option("--ca-bundle", envvar=["HOARD_CA_BUNDLE", "AWS_CA_BUNDLE"], type=click.Path(dir_okay=False, path_type=Path), default=None, help=CA_BUNDLE_HELP)
@click.pass_context
def admin(ctx: click.Context, endpoint: str, data: Path | None, profile: str | None, ca_bundle: Path | None) -> None:
    """Administer a running server.

    \b
    Signs with the first credentials found of:
      --data DIR          the root keys the server generated, kept in
                          DIR/.hoard/root-credentials.json (on the server's machine,
                          as the user it runs as)
      --profile NAME      that AWS CLI profile
      HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY
      AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
      the AWS CLI's profile: AWS_PROFILE, else default, in ~/.aws/credentials or
                          ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE)
    """
    ctx.obj = Target(endpoint, data, profile, ca_bundle)


def server_command(fn):
    """A subcommand that talks to the server: takes ``--endpoint``, ``--data``, ``--profile`` and
    ``--ca-bundle`` after its name too (``hoard admin heal --endpoint URL``, as people type it), and is handed
    the client. Nothing is looked up before the command runs, so ``--help`` needs no credentials."""

    @click.option("--endpoint", "endpoint", default=None, help=ENDPOINT_HELP)
    @click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None, help=DATA_HELP)
    @click.option("--profile", default=None, help=PROFILE_HELP)
    @click.option("--ca-bundle", type=click.Path(dir_okay=False, path_type=Path), default=None, help=CA_BUNDLE_HELP)
    @click.pass_context
    @functools.wraps(fn)
    def command(ctx: click.Context, endpoint: str | None, data: Path | None, profile: str | None, ca_bundle: Path | None, **kwargs):
        if ctx.invoked_subcommand is not None:
            return None  # a group passing through to its subcommand (hoard admin cluster rotate-key)
        if kwargs.get("meta"):
            return ctx.invoke(fn, None, **kwargs)  # works on a cluster's database, not through a server
        target: Target = ctx.obj
        if data is not None or profile is not None:  # the subcommand's choice of keys replaces the group's
            target = Target(target.endpoint, data, profile, target.ca_bundle)
        if ca_bundle is not None:
            target = Target(target.endpoint, target.data, target.profile, ca_bundle)
        return ctx.invoke(fn, _client(endpoint or target.endpoint, target), **kwargs)

    return command


def _client(endpoint: str, target: Target) -> AdminClient:
    from hoard.cli.credentials import NoCredentials, find_credentials
    from hoard.config import SettingsError, load_settings

    if urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
        raise click.UsageError(f"the endpoint must be an http:// or https:// URL, not {endpoint!r}")
    if target.ca_bundle is not None and not target.ca_bundle.is_file():
        raise click.UsageError(f"the CA bundle {str(target.ca_bundle)!r} is not a file")
    if target.data is not None and target.profile is not None:
        raise click.UsageError("give --data or --profile, not both")
    try:
        settings = load_settings()
    except SettingsError as e:  # one line per value, as the server says them
        raise click.UsageError("; ".join(e.lines)) from None
    try:
        found = find_credentials(
            target.data, target.profile, (settings.root_access_key, settings.root_secret_key), (settings.secrets_key, settings.secrets_key_file)
        )
    except NoCredentials as e:
        raise click.UsageError(str(e)) from None
    try:
        return AdminClient(endpoint, found.access_key, found.secret_key, settings.region, source=found.source, ca_bundle=target.ca_bundle)
    except AdminError as e:  # a CA bundle that holds no certificate
        raise click.UsageError(str(e)) from None


JSON_FLAG = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")


def _call(client: AdminClient, method: str, request: str, /, body: bytes = b"", **params: str) -> dict:
    try:
        return client.call(method, request, params, body=body)
    except AdminError as e:
        message = str(e)
        if e.code in _WRONG_KEYS:
            message += f" (signed with the keys from {client.source})"
        raise click.ClickException(message) from None


@admin.command()
@JSON_FLAG
@server_command
def info(client: AdminClient, as_json: bool) -> None:
    """Show each drive (online, offline, healing; used and free space), the erasure layout and healing progress."""
    data = _call(client, "GET", "info")
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    click.echo(f"Hoard {data['version']}: {len(data['drives'])} drives in {len(data['sets'])} erasure set(s) of {data['set_size']}")
    click.echo(
        f"Erasure code: {data['data_shards']} data + {data['parity']} parity shards (STANDARD), "
        f"{data['set_size'] - data['reduced_redundancy_parity']} + {data['reduced_redundancy_parity']} (REDUCED_REDUNDANCY); "
        f"objects under {_human(data['inline_limit'])} inline"
    )
    click.echo(f"Index: {data['index']} ({data['objects']} objects)")
    click.echo("")
    click.echo(f"{'#':>3}  {'set':>3}  {'state':8}  {'used':>10}  {'free':>10}  path")
    for d in data["drives"]:
        line = f"{d['position'] + 1:>3}  {d['set'] + 1:>3}  {d['state']:8}  {_human(d['used_bytes']):>10}  {_human(d['free_bytes']):>10}  {d['path']}"
        if d["state"] == "offline" and d["last_error"]:
            line += f"  ({d['last_error']})"
        click.echo(line)
    heal = data["healing"]
    job = heal["job"]
    click.echo("")
    if job:
        state = "running" if job["running"] else "finished"
        click.echo(
            f"Heal ({job['reason']}): {state}, {job['scanned']}/{job['total']} objects checked, "
            f"{job['repaired_objects']} repaired, {job['unrecoverable']} unrecoverable"
        )
    else:
        click.echo("Heal: none run since start")
    click.echo(f"Repairs queued by reads: {heal['queued_repairs']}; background scanner passes: {heal['scanner_passes']}")
    r = data["replication"]
    click.echo(f"Replication: {r['pending']} versions pending, {r['failed']} failed (retried), {r['completed']} completed; lag {r['lag_seconds']:.1f} s")


@admin.command()
@click.argument("target", required=False, default="")
@click.option("--shallow", is_flag=True, help="Check only that every shard is present and whole-sized, not every block's checksum.")
@server_command
def heal(client: AdminClient, target: str, shallow: bool) -> None:
    """Heal everything, or BUCKET, or BUCKET/PREFIX, now, with a progress bar.

    Every shard of every object is checked (each block's checksum too, unless --shallow) and
    missing or damaged shards are rebuilt from the others. Exits with status 1 if an object
    could not be healed.
    """
    job = _call(client, "POST", "heal", target=target, deep="false" if shallow else "true")
    with click.progressbar(length=max(job["total"], 1), label="Healing", show_pos=True) as bar:
        done = 0
        while True:
            status = _call(client, "GET", "heal", id=str(job["id"]))["job"]
            bar.length = max(status["total"], 1)
            bar.update(status["scanned"] - done)
            done = status["scanned"]
            if not status["running"]:
                break
            time.sleep(0.3)
    click.echo(
        f"{status['scanned']} objects checked, {status['repaired_objects']} repaired "
        f"({status['repaired_shards']} shards and records rebuilt), {status['unrecoverable']} unrecoverable"
    )
    if status["unrecoverable"] or status["failed"]:
        raise SystemExit(1)


@admin.command("rebuild-index")
@click.option("--meta", metavar="URL", default=None, help="a cluster's new, empty database: make it again from every node's drives")
@rebuild_options
@server_command
def rebuild_index(client: AdminClient | None, meta: str | None, **options: Any) -> None:
    """Rebuild the metadata index from the version records on the drives, with a progress bar.

    The server reads every version record on every drive, then writes the index anew; this
    follows its progress however long that takes.

    With --meta URL, a cluster's lost database is made again instead, from every node's drives
    (the nodes running): --node NAME, --key-file FILE, --root-access-key KEY and this node's
    drive folders DIR... are needed, as for ``hoard cluster rebuild-index`` (docs/cluster.md).
    """
    if meta:
        rebuild_from_drives(meta, **options)
        return
    if options["folders"] or options["internal_tls"]:
        raise click.UsageError("drive folders and --internal-tls go with --meta URL (a cluster's database)")
    assert client is not None
    job = _call(client, "POST", "rebuild-index")
    with click.progressbar(length=max(job["records_total"], 1), label="Reading the drives' records", show_pos=True) as bar:
        done = 0
        while True:
            job = _call(client, "GET", "rebuild-index", id=str(job["id"]))["job"]
            bar.length = max(job["records_total"], 1)
            bar.update(job["records_read"] - done)
            done = job["records_read"]
            if job["state"] != "reading":
                break
            time.sleep(0.3)
    if job["running"]:
        click.echo(f"Writing the index: {job['objects']} objects")
    while job["running"]:
        time.sleep(0.3)
        job = _call(client, "GET", "rebuild-index", id=str(job["id"]))["job"]
    if job["state"] == "failed":
        raise click.ClickException(f"the index rebuild failed: {job['error']}")
    click.echo(f"Index rebuilt: {job['buckets']} buckets, {job['objects']} objects")


admin.add_command(certs)
