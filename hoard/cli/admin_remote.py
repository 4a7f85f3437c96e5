"""``hoard admin remote``: the S3 endpoints bucket replication writes to (another Hoard, or any
S3 service), each with the keys to write there."""

from __future__ import annotations

import json

import click

from hoard.admin.client import AdminClient
from hoard.cli.admin import _call, admin, server_command


@admin.group()
def remote() -> None:
    """Remote S3 endpoints that bucket replication writes to (a replication configuration's Role names one)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--access-key", required=True, help="The access key to write to the remote with.")
@click.option("--secret-key", required=True, help="Its secret key (kept sealed on the drives, never shown again).")
@click.option("--region", default="us-east-1", show_default=True, help="The remote's region, as its signatures name it.")
@click.option("--remote-ca-bundle", "remote_ca_bundle", default="", help="A PEM file (on the server's machine) of the CA that signed the remote's certificate: https with a private CA.")
@server_command
def remote_add(client: AdminClient, name: str, url: str, access_key: str, secret_key: str, region: str, remote_ca_bundle: str) -> None:
    """Add a remote: NAME, and the URL of its S3 endpoint (http(s)://host[:port])."""
    body = json.dumps({"access_key": access_key, "secret_key": secret_key}).encode()
    r = _call(client, "POST", "remotes", body=body, name=name, url=url, region=region, ca_bundle=remote_ca_bundle)
    click.echo(f"Remote {r['name']} added ({r['url']}); name it in a replication configuration's Role: arn:aws:iam::000000000000:role/{r['name']}")


@remote.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@server_command
def remote_list(client: AdminClient, as_json: bool) -> None:
    """Every remote (never its secret key)."""
    data = _call(client, "GET", "remotes")
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    click.echo(f"{'name':20} {'url':40} {'access key':22} region")
    for r in data["remotes"]:
        click.echo(f"{r['name']:20} {r['url']:40} {r['access_key']:22} {r['region']}")


@remote.command("remove")
@click.argument("name")
@server_command
def remote_remove(client: AdminClient, name: str) -> None:
    """Remove a remote no replication configuration names."""
    _call(client, "DELETE", "remote", name=name)
    click.echo(f"Remote {name} removed")


@remote.command("check")
@click.argument("name")
@server_command
def remote_check(client: AdminClient, name: str) -> None:
    """Connect to a remote with its keys and list its buckets."""
    r = _call(client, "GET", "remote/check", name=name)
    if not r["ok"]:
        raise click.ClickException(f"remote {name}: {r['error']}")
    click.echo(f"Remote {name} answers: {r['buckets']} buckets")
