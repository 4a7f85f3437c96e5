"""``hoard admin remote``: the S3 endpoints bucket replication writes to (another Hoard, AWS, any
S3 service), each with the keys to write there, through the admin API."""

from __future__ import annotations

import json

import click

from hoard.admin.client import AdminClient
from hoard.cli.admin import _call, admin, server_command

JSON_FLAG = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")


@admin.group()
def remote() -> None:
    """Remote S3 endpoints bucket replication writes to.

    \b
    A bucket's replication configuration names one in its Role:
      arn:aws:iam::000000000000:role/NAME   (any 12-digit account id)
    and each rule's destination is a bucket there: arn:aws:s3:::BUCKET.
    See docs/replication.md.
    """


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--access-key", required=True, help="The access key to write to the remote with.")
@click.option(
    "--secret-key",
    prompt=True,
    hide_input=True,
    help="Its secret key, kept sealed on the drives and never shown again (asked for if not given, which keeps it out of the shell's history).",
)
@click.option("--region", default="us-east-1", show_default=True, help="The region the remote's signatures name.")
@click.option(
    "--remote-ca-bundle",
    default="",
    help="A PEM file on the server's machine (absolute path) holding the CA that signed an https:// remote's certificate, "
    "if not one the system trusts. (--ca-bundle is the CA of the server this command talks to.)",
)
@click.option("--replace", is_flag=True, help="Change an existing remote (its URL, keys, region): to rotate its keys.")
@JSON_FLAG
@server_command
def remote_add(
    client: AdminClient, name: str, url: str, access_key: str, secret_key: str, region: str, remote_ca_bundle: str, replace: bool, as_json: bool
) -> None:
    """Add a remote: NAME and the URL of its S3 endpoint, http(s)://host[:port].

    NAME is 1 to 64 letters, digits, '.', '_' or '-'. The server checks nothing on the remote
    here: `hoard admin remote check NAME` does, and PutBucketReplication asks it about the
    destination bucket.
    """
    body = json.dumps({"access_key": access_key, "secret_key": secret_key}).encode()
    params = {"name": name, "url": url, "region": region, "ca_bundle": remote_ca_bundle}
    if replace:
        params["replace"] = "true"
    r = _call(client, "POST", "remotes", body=body, **params)
    if as_json:
        click.echo(json.dumps(r, indent=1))
        return
    click.echo(f"Remote {r['name']} {'set' if replace else 'added'}: {r['url']}, keys {r['access_key']}, region {r['region']}")
    click.echo(f"Name it in a replication configuration's Role: {r['role']}")


@remote.command("list")
@JSON_FLAG
@server_command
def remote_list(client: AdminClient, as_json: bool) -> None:
    """Every remote (never its secret key)."""
    data = _call(client, "GET", "remotes")
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    if not data["remotes"]:
        click.echo("No remotes (hoard admin remote add NAME URL --access-key ...)")
        return
    click.echo(f"{'name':20} {'url':40} {'access key':24} {'region':14} CA bundle")
    for r in data["remotes"]:
        click.echo(f"{r['name']:20} {r['url']:40} {r['access_key']:24} {r['region']:14} {r['ca_bundle'] or '-'}")


@remote.command("remove")
@click.argument("name")
@server_command
def remote_remove(client: AdminClient, name: str) -> None:
    """Remove a remote that no bucket's replication configuration names."""
    _call(client, "DELETE", "remote", name=name)
    click.echo(f"Remote {name} removed")


@remote.command("check")
@click.argument("name")
@JSON_FLAG
@server_command
def remote_check(client: AdminClient, name: str, as_json: bool) -> None:
    """Connect from the server to the remote with its keys and list its buckets; exits with
    status 1, the error in one line, if that fails."""
    r = _call(client, "GET", "remote/check", name=name)
    if as_json:
        click.echo(json.dumps(r, indent=1))
    elif r["ok"]:
        count, shown = len(r["buckets"]), ", ".join(r["buckets"][:20]) + (", ..." if len(r["buckets"]) > 20 else "")
        click.echo(f"Remote {name} ({r['url']}) answers: {count} bucket{'' if count == 1 else 's'}{': ' if count else ''}{shown}")
    if not r["ok"]:
        raise click.ClickException(f"remote {name} ({r['url']}): {r['error']}")
