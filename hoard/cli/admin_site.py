"""``hoard admin site``: the other sites of this one's site group. Sites of a group keep the same
users, keys, policies and buckets, and replicate every versioned bucket to each other."""

from __future__ import annotations

import datetime as dt
import json

import click

from hoard.admin.client import AdminClient
from hoard.cli.admin import _call, admin, server_command


@admin.group()
def site() -> None:
    """Site replication: other sites that keep the same users, buckets and versions as this one."""


@site.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--access-key", required=True, help="The other site's root access key (a site group shares one).")
@click.option("--secret-key", required=True, help="Its secret key (kept sealed on the drives).")
@click.option("--region", default="us-east-1", show_default=True)
@server_command
def site_add(client: AdminClient, name: str, url: str, access_key: str, secret_key: str, region: str) -> None:
    """Join the site at URL to this one's group, as NAME (run it on that site too, naming this one)."""
    body = json.dumps({"access_key": access_key, "secret_key": secret_key}).encode()
    _call(client, "POST", "sites", body=body, name=name, url=url, region=region)
    click.echo(f"Site {name} ({url}) added: users, buckets and versions follow within seconds")


@site.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@server_command
def site_list(client: AdminClient, as_json: bool) -> None:
    """The other sites, and how the last round of replication with each went."""
    data = _call(client, "GET", "sites")
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    for s in data["sites"]:
        when = dt.datetime.fromtimestamp(s["last_sync"], dt.UTC).strftime("%H:%M:%SZ") if s.get("last_sync") else "never"
        state = "ok" if s.get("ok") else (f"failing: {s['error']}" if s.get("error") else "not yet")
        click.echo(f"{s['name']:16} {s['url']:36} last sync {when}; {state}")
