"""``hoard admin``: talk to a running server through its admin API."""

from __future__ import annotations

import functools
import json
import time

import click

from hoard.admin.client import AdminClient, AdminError


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


ENDPOINT_HELP = "The server's URL (or HOARD_ENDPOINT; default http://127.0.0.1:9000)."


@click.group()
@click.option("--endpoint", envvar="HOARD_ENDPOINT", default="http://127.0.0.1:9000", show_default=True, help=ENDPOINT_HELP)
@click.pass_context
def admin(ctx: click.Context, endpoint: str) -> None:
    """Administer a running server.

    \b
    Authenticates with the root credentials from HOARD_ROOT_ACCESS_KEY and
    HOARD_ROOT_SECRET_KEY (the ones the server was started with, or the
    generated ones it printed on first start).
    """
    ctx.obj = endpoint


def server_command(fn):
    """A subcommand that talks to the server: takes ``--endpoint`` after its name too
    (``hoard admin heal --endpoint URL``, as people type it), and is handed the client."""

    @click.option("--endpoint", "endpoint", default=None, help=ENDPOINT_HELP)
    @click.pass_context
    @functools.wraps(fn)
    def command(ctx: click.Context, endpoint: str | None, **kwargs):
        return ctx.invoke(fn, _client(endpoint or ctx.obj), **kwargs)

    return command


def _client(endpoint: str) -> AdminClient:
    from hoard.config import Settings

    settings = Settings()
    if not settings.root_access_key or not settings.root_secret_key:
        raise click.UsageError("set HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY to the server's root credentials")
    return AdminClient(endpoint, settings.root_access_key, settings.root_secret_key, settings.region)


def _call(client: AdminClient, method: str, name: str, **params: str) -> dict:
    try:
        return client.call(method, name, params)
    except AdminError as e:
        raise click.ClickException(str(e)) from None


@admin.command()
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
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
@server_command
def rebuild_index(client: AdminClient) -> None:
    """Rebuild the metadata index from the version records on the drives."""
    data = _call(client, "POST", "rebuild-index")
    click.echo(f"Index rebuilt: {data['buckets']} buckets, {data['objects']} objects")
