"""``hoard admin usage`` (storage by bucket and class, as S3 bills it, and what each tier holds)
and ``hoard admin lifecycle`` (what the lifecycle worker did)."""

from __future__ import annotations

import json
import time

import click

from hoard.admin.client import AdminClient
from hoard.cli.admin import _call, admin, server_command


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@admin.command("usage")
@click.argument("bucket", default="")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@server_command
def usage(client: AdminClient, bucket: str, as_json: bool) -> None:
    """What each bucket keeps in each storage class (every version), the size S3 would bill (IA and
    archival classes have a minimum size per object), and what each tier holds."""
    doc = _call(client, "GET", "usage", bucket=bucket)
    if as_json:
        click.echo(json.dumps(doc, indent=1))
        return
    rows = [("BUCKET", "CLASS", "VERSIONS", "BYTES", "BILLABLE", "ARCHIVED", "IN TIER")]
    for r in doc["classes"]:
        rows.append((r["bucket"], r["storage_class"], str(r["objects"]), _size(r["bytes"]), _size(r["billable"]), str(r["archived"]), _size(r["tier_bytes"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for t in doc["tiers"]:
        held = f"{t['blobs']} blobs, {_size(t['bytes'])}" if "error" not in t else f"unreachable: {t['error']}"
        click.echo(f"tier {t['name']} ({t['where']}): {held}")


@admin.command("lifecycle")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@server_command
def lifecycle(client: AdminClient, as_json: bool) -> None:
    """What the lifecycle worker did: expirations, transitions, removed versions and delete markers,
    aborted uploads, versions moved to a tier; its passes; the next tier task due."""
    doc = _call(client, "GET", "lifecycle")
    if as_json:
        click.echo(json.dumps(doc, indent=1))
        return
    last = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(doc["lastPass"])) if doc["lastPass"] else "never"
    click.echo(f"passes: {doc['passes']} (last finished {last}); a day is {doc['daySeconds']} s")
    for what, n in sorted(doc["actions"].items()):
        click.echo(f"  {what}: {n}")
    for what, n in sorted(doc["tiers"].items()):
        click.echo(f"  tiers {what}: {n} (since the server started)")
    if doc["nextTierTaskIn"] is not None:
        click.echo(f"next tier task (a move to a tier, a restore made ready or expired) due in {doc['nextTierTaskIn']:.1f} s")
