"""``hoard admin replicate``: bucket replication's backlog, and a resync of a bucket's existing
versions (with a progress bar until the queue drains)."""

from __future__ import annotations

import json
import time

import click

from hoard.admin.client import AdminClient
from hoard.cli.admin import _call, admin, server_command


@admin.group()
def replicate() -> None:
    """Bucket replication: its backlog, and replicating existing versions again."""


def _status_line(s: dict) -> str:
    where = f"bucket {s['bucket']}" if s["bucket"] else "all buckets"
    return f"{where}: {s['pending']} pending, {s['failed']} failed, {s['completed']} completed; lag {s['lag_seconds']:.1f} s"


@replicate.command("status")
@click.argument("bucket", default="")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@server_command
def replicate_status(client: AdminClient, bucket: str, as_json: bool) -> None:
    """How many versions wait to be replicated, failed (and are retried) or are done, and the lag."""
    s = _call(client, "GET", "replication/status", bucket=bucket)
    click.echo(json.dumps(s, indent=1) if as_json else _status_line(s))


@replicate.command("resync")
@click.argument("bucket")
@click.option("--wait/--no-wait", default=True, help="Follow the queue until it drains (default), or return at once.")
@click.option("--timeout", type=click.FloatRange(min=0), default=0, help="With --wait: give up after this many seconds (0: never).")
@server_command
def replicate_resync(client: AdminClient, bucket: str, wait: bool, timeout: float) -> None:
    """Replicate every version of BUCKET again (those the target already has cost a HEAD)."""
    queued = _call(client, "POST", "replication/resync", bucket=bucket)["queued"]
    click.echo(f"{queued} versions of {bucket} queued for replication")
    if not wait or not queued:
        return
    started = time.monotonic()
    with click.progressbar(length=queued, label="replicating", show_pos=True) as bar:
        done = 0
        while True:
            s = _call(client, "GET", "replication/status", bucket=bucket)
            left = s["pending"] + s["failed"]
            now_done = max(queued - left, 0)
            bar.update(now_done - done)
            done = now_done
            if left == 0:
                break
            if timeout and time.monotonic() - started > timeout:
                raise click.ClickException(f"still {left} versions to replicate after {timeout:g} s: {_status_line(s)}")
            time.sleep(0.5)
    click.echo(_status_line(s))
