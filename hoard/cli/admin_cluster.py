"""``hoard admin pool`` and ``hoard admin cluster``: a cluster's pools, nodes, drives and
partition leases, through any node's admin API; ``hoard admin cluster rotate-key`` finishes a
cluster key rotation on every node."""

from __future__ import annotations

import json

import click

from hoard.admin.client import AdminClient
from hoard.cli.admin import JSON_FLAG, _call, admin, server_command
from hoard.cluster.ellipses import parse_drive_specs


@admin.group()
def pool() -> None:
    """Pools of erasure sets over the cluster's drives (docs/cluster.md)."""


def _show_pool(p: dict) -> list[str]:
    lines = [f"pool {p['pool']} ({p['state']}): {len(p['sets'])} erasure sets of {p['set_size']} drives, parity {p['parity']}"]
    if "versions" in p:
        lines[0] += f"; holds {p['versions']} versions, {p['bytes']} bytes"
    lines += [f"  set {i}: {' '.join(members)}" for i, members in enumerate(p["sets"])]
    return lines


@pool.command("add")
@click.argument("drives", nargs=-1, required=True)
@click.option("--set-size", type=click.IntRange(4, 16), default=None, help="Drives per erasure set (default: the largest that fits).")
@click.option("--parity", type=click.IntRange(1, 8), default=None, help="Parity drives per set (default: by set size).")
@JSON_FLAG
@server_command
def pool_add(client: AdminClient, drives: tuple[str, ...], set_size: int | None, parity: int | None, as_json: bool) -> None:
    """Make a pool of the registered drives NODE:DIR (n{1...4}:/data{1...4} is sixteen of them).

    Sets keep at most their parity count of drives on one node and in one zone, so a whole
    node or zone can be lost; a layout that cannot is refused and nothing changes."""
    try:
        specs = [str(spec) for spec in parse_drive_specs(drives)]
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="DRIVES") from None
    params = {k: str(v) for k, v in (("set_size", set_size), ("parity", parity)) if v is not None}
    made = _call(client, "POST", "pools", body=json.dumps({"drives": specs}).encode(), **params)
    click.echo(json.dumps(made, indent=1) if as_json else "\n".join(_show_pool(made)))


@pool.command("list")
@JSON_FLAG
@server_command
def pool_list(client: AdminClient, as_json: bool) -> None:
    """Show every pool and its erasure sets."""
    layout = _call(client, "GET", "pools")
    if as_json:
        click.echo(json.dumps(layout, indent=1))
        return
    click.echo(f"layout version {layout['layout_version']}")
    for p in layout["pools"]:
        click.echo("\n".join(_show_pool(p)))
    for m in layout.get("rebalance", []):
        click.echo(f"rebalance: pool {m['source']} -> pool {m['target']}: {m['moved']} of {m['planned']} bytes")
    if not layout["pools"]:
        click.echo("no pools yet: hoard admin pool add NODE:DIR...")


@pool.command("decommission")
@click.argument("number", type=click.IntRange(1))
@JSON_FLAG
@server_command
def pool_decommission(client: AdminClient, number: int, as_json: bool) -> None:
    """Empty pool NUMBER so that its drives can be taken out.

    From now it takes no new writes; every node moves the versions it holds to the other pools
    (reads and writes go on meanwhile; a node restarted walks again and moves what is left).
    `hoard admin pool list` shows what it still holds; it turns decommissioned once it holds
    nothing and no multipart upload begun in it is open."""
    layout = _call(client, "POST", "pools/decommission", pool=str(number))
    if as_json:
        click.echo(json.dumps(layout, indent=1))
        return
    (p,) = [p for p in layout["pools"] if p["pool"] == number]
    click.echo(f"pool {number} draining: its {p['versions']} versions ({p['bytes']} bytes) move to the other pools")


@pool.command("rebalance")
@JSON_FLAG
@server_command
def pool_rebalance(client: AdminClient, as_json: bool) -> None:
    """Move objects from fuller pools to emptier ones until every active pool is equally full.

    Only the bytes that must move do (the fuller pools' surplus); reads and writes go on
    meanwhile, and a node restarted walks again and goes on. `hoard admin pool list` shows each
    move's progress."""
    layout = _call(client, "POST", "pools/rebalance")
    if as_json:
        click.echo(json.dumps(layout, indent=1))
        return
    moves = layout.get("rebalance", [])
    for m in moves:
        click.echo(f"pool {m['source']} -> pool {m['target']}: {m['planned']} bytes")
    if not moves:
        click.echo("the pools are equally full already: nothing to move")


@admin.group("cluster", invoke_without_command=True)
@JSON_FLAG
@server_command
def cluster(client: AdminClient, as_json: bool) -> None:
    """Show the cluster's nodes (live or not, partitions held), drives, pools and work queues.

    \b
      hoard admin cluster              this
      hoard admin cluster rotate-key   every node moved to the new cluster key
    """
    _show_cluster(client, as_json)  # only when no subcommand is named (server_command)


@cluster.command("rotate-key")
@JSON_FLAG
@server_command
def cluster_rotate_key(client: AdminClient, as_json: bool) -> None:
    """Finish a cluster key rotation begun with `hoard cluster rotate-key`.

    Once the key file it wrote is on every node: checks every node is live and holds the new
    key, makes every node sign with it, then every node forget the old one. Run it again if it
    stopped half way (a node unreachable): each step is done once per node."""
    done = _call(client, "POST", "cluster/rotate-key")
    if as_json:
        click.echo(json.dumps(done, indent=1))
        return
    click.echo(f"key {done['key_id']} signs on every node ({', '.join(done['nodes'])}); key {done['retired']} is retired")


def _show_cluster(client: AdminClient, as_json: bool) -> None:
    info = _call(client, "GET", "cluster")
    if as_json:
        click.echo(json.dumps(info, indent=1))
        return
    click.echo(f"cluster {info['cluster_id']}, layout version {info['layout_version']}")
    for n in info["nodes"]:
        state = "live" if n["live"] else f"silent for {n['heartbeat_age']:.0f}s"
        internal = f" (internal {n['internal']})" if n.get("internal", n["advertise"]) != n["advertise"] else ""
        click.echo(f"node {n['name']}  zone {n['zone']}  {n['advertise']}{internal}  {state}  partitions {n['partitions']}")
    for d in info["drives"]:
        click.echo(f"  drive {d['node']}:{d['path']}  {d['state']}  {d['free'] / 2**30:.1f} of {d['total'] / 2**30:.1f} GiB free")
    for p in info["pools"]:
        click.echo("\n".join(_show_pool(p)))
    click.echo("queues: " + ", ".join(f"{name} {length}" for name, length in sorted(info["queues"].items())))
