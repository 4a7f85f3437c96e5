"""``hoard admin kms``: the built-in KMS's named keys, which SSE-KMS (``aws:kms``) encrypts
under, through the admin API."""

from __future__ import annotations

import json
import time

import click

from hoard.admin.client import AdminClient
from hoard.cli.admin import _call, admin, server_command

JSON_FLAG = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")


@admin.group()
def kms() -> None:
    """The built-in KMS: the keys SSE-KMS encrypts under.

    \b
    Name a key in a request by its id, its ARN or an alias:
      aws s3 cp FILE s3://BUCKET/ --sse aws:kms --sse-kms-key-id alias/NAME
    A request that names none uses S3's default key, alias/aws/s3 (made at its first use).
    See docs/encryption.md.
    """


@kms.group("key")
def kms_key() -> None:
    """Create, list, disable and enable KMS keys."""


def _show(key: dict) -> str:
    aliases = ", ".join(key["aliases"]) or "-"
    return f"{key['key_id']}  {key['state']:8}  {aliases}  {key['description']}"


@kms_key.command("create")
@click.option("--alias", default=None, help="A name for the key: alias/ then letters, digits, '/', '_' or '-'.")
@click.option("--description", default="", help="What the key is for.")
@JSON_FLAG
@server_command
def key_create(client: AdminClient, alias: str | None, description: str, as_json: bool) -> None:
    """Create a key: 32 random bytes, kept sealed by the master key on every drive."""
    params = {"description": description}
    if alias is not None:
        params["alias"] = alias if alias.startswith("alias/") else f"alias/{alias}"
    key = _call(client, "POST", "kms/keys", **params)
    if as_json:
        click.echo(json.dumps(key, indent=1))
        return
    click.echo(f"Key {key['key_id']} created")
    click.echo(f"ARN: {key['arn']}")
    if key["aliases"]:
        click.echo(f"Alias: {', '.join(key['aliases'])}")


@kms_key.command("list")
@JSON_FLAG
@server_command
def key_list(client: AdminClient, as_json: bool) -> None:
    """Every key, oldest first (never its material)."""
    data = _call(client, "GET", "kms/keys")
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    if not data["keys"]:
        click.echo("No KMS keys (hoard admin kms key create --alias NAME)")
        return
    click.echo(f"{'key id':36}  {'state':8}  aliases  description")
    for key in data["keys"]:
        click.echo(_show(key) + f"  (created {time.strftime('%Y-%m-%d %H:%M', time.gmtime(key['created']))} UTC)")


def _set_state(client: AdminClient, key: str, state: str) -> None:
    click.echo(_show(_call(client, "POST", "kms/key/state", key=key, state=state)))


@kms_key.command("disable")
@click.argument("key")
@server_command
def key_disable(client: AdminClient, key: str) -> None:
    """Disable KEY (an id, ARN or alias): objects under it cannot be read or written until it is enabled again."""
    _set_state(client, key, "Disabled")


@kms_key.command("enable")
@click.argument("key")
@server_command
def key_enable(client: AdminClient, key: str) -> None:
    """Enable KEY (an id, ARN or alias) again."""
    _set_state(client, key, "Enabled")


@kms.command("rotate")
@click.option("--no-wait", is_flag=True, help="Start the rotation and return; `hoard admin kms rotate --status` follows it.")
@click.option("--status", "status_only", is_flag=True, help="Show the rotation under way (or the last one) and return.")
@JSON_FLAG
@server_command
def rotate(client: AdminClient, no_wait: bool, status_only: bool, as_json: bool) -> None:
    """Seal every data key again under a new master key, without rewriting any object's bytes.

    \b
    The server writes the new key to its master key file (HOARD_MASTER_KEY_FILE, or the one it
    made in ~/.config/hoard/secrets/), first line, the old key kept on the second line until every
    version, upload and KMS key is resealed; then the file holds the new key alone and the old key
    opens nothing. Objects are read and written meanwhile. Cut short (a restart), the rotation is
    finished at the server's next start, or by running this again. Keep a copy of the new key.
    """
    job = _call(client, "GET" if status_only else "POST", "kms/rotate")
    if not status_only and not no_wait and job.get("running"):
        with click.progressbar(length=max(job["total"], 1), label=f"Resealing under {job['new_key_id']}", show_pos=True) as bar:
            shown = 0
            while job.get("running"):
                time.sleep(0.5)
                job = _call(client, "GET", "kms/rotate")
                bar.length = max(job["total"], 1)
                scanned = min(job["scanned"], bar.length)
                bar.update(scanned - shown if scanned >= shown else scanned)
                shown = scanned
    if as_json:
        click.echo(json.dumps(job, indent=1))
    elif job["state"] == "none":
        click.echo("No master key rotation has run since the server started.")
    else:
        click.echo(f"Master key rotation to {job['new_key_id']}: {job['state']}, {job['resealed']} data keys resealed in {job['passes']} passes")
    if job["state"] == "failed":
        raise click.ClickException(f"the rotation failed: {job['error']} (run it again to carry on)")
