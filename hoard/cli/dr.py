"""``hoard dr``: disaster-recovery drills (``hoard dr drill STRATEGY``) and the two commands of a
disaster, ``hoard dr promote`` and ``hoard dr failback`` (hoard/dr/, docs/dr.md). The dr package
(and boto3 with it) is imported only when a command runs."""

from __future__ import annotations

import json
import secrets
import sys

import click

STRATEGIES = ("backup-restore", "pilot-light", "warm-standby", "active-active")


@click.group()
def dr() -> None:
    """Disaster recovery: drills between two sites, and the commands to fail over and back.

    \b
      hoard dr drill STRATEGY            run a disaster end to end and measure RPO, RTO, losses
      hoard dr promote BUCKET --site URL make the site that is left the primary (failover)
      hoard dr failback BUCKET --site URL --from URL
                                         bring the old primary up to date, to return to it

    See docs/dr.md for each strategy's set-up and commands.
    """


def _keys(required: bool = True):
    from hoard.dr.sites import keys_from_env

    keys = keys_from_env()
    if keys is None and required:
        raise click.UsageError("no keys: set HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    return keys


def _say(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()


@dr.command()
@click.argument("strategy", type=click.Choice(STRATEGIES))
@click.option("--duration", type=click.FloatRange(min=1), default=20.0, show_default=True, help="Seconds of load before the primary is lost.")
@click.option("--rate", type=click.FloatRange(min=1, max=5000), default=100.0, show_default=True, help="PUTs per second of the load.")
@click.option("--outage", type=click.FloatRange(min=0), default=10.0, show_default=True, help="Seconds the secondary serves alone before the primary is started again.")
@click.option("--size", type=click.IntRange(0, 1 << 24), default=1024, show_default=True, help="Bytes per object written.")
@click.option("--backup-interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="backup-restore: seconds between the starts of two backups.")
@click.option("--primary", metavar="URL", default=None, help="Drill between these two running servers instead of two of its own.")
@click.option("--secondary", metavar="URL", default=None, help="The other site, with --primary.")
@click.option("--kill-command", metavar="CMD", default=None, help="With --primary: the shell command that stops the primary (else you are asked to).")
@click.option("--restart-command", metavar="CMD", default=None, help="With --primary: the shell command that starts it again (else you are asked to).")
@click.option("--rpo-target", type=click.FloatRange(min=0), default=15.0, show_default=True, help="Seconds: the RPO the drill must stay under.")
@click.option("--rto-target", type=click.FloatRange(min=0), default=30.0, show_default=True, help="Seconds: the RTO the drill must stay under.")
@click.option("--keep", is_flag=True, help="Keep the temporary folder (the sites' data and logs, the backups); with --primary, the drill's bucket.")
@click.option("--json", "as_json", is_flag=True, help="Print what was measured as one JSON object, the last line.")
def drill(strategy: str, duration: float, rate: float, outage: float, size: int, backup_interval: float, primary: str | None, secondary: str | None,
          kill_command: str | None, restart_command: str | None, rpo_target: float, rto_target: float, keep: bool, as_json: bool) -> None:  # fmt: skip
    """Run a disaster-recovery drill of STRATEGY end to end and measure it.

    STRATEGY is backup-restore, pilot-light, warm-standby or active-active. Two sites (two
    hoard server processes in a temporary folder, or --primary URL --secondary URL), a write
    load, the primary killed (SIGKILL), the failover the strategy makes, the primary started
    again and the failback. Prints the RPO (seconds of acknowledged writes the surviving site
    lacked at failover), the RTO (seconds from the loss to the first write the other site
    acknowledged) and the acknowledged writes lost after failback. Exit status 1 if a target
    is missed (RPO, RTO, nothing lost; active-active: both sites converged).
    """
    from hoard.dr.drill import Drill, DrillError, Options
    from hoard.dr.sites import Keys, SiteError

    if (primary is None) != (secondary is None):
        raise click.UsageError("give both --primary and --secondary, or neither (the drill then runs two sites of its own)")
    if primary is None and (kill_command or restart_command):
        raise click.UsageError("--kill-command and --restart-command go with --primary and --secondary")
    for name, url in (("--primary", primary), ("--secondary", secondary)):
        if url is not None and not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{url!r}: expected an http:// or https:// URL", param_hint=name)
    if primary is not None and primary.rstrip("/") == (secondary or "").rstrip("/"):
        raise click.UsageError("--primary and --secondary are the same site")
    # Sites of its own get keys of their own; given sites, the caller's.
    keys = _keys() if primary is not None else Keys("DR" + secrets.token_hex(9).upper(), secrets.token_urlsafe(24))
    options = Options(
        strategy, duration=duration, rate=rate, outage=outage, size=size, backup_interval=backup_interval, primary=primary, secondary=secondary,
        kill_command=kill_command, restart_command=restart_command, keep=keep, rpo_target=rpo_target, rto_target=rto_target,
    )  # fmt: skip
    try:
        result = Drill(options, keys, _say).run()
    except (DrillError, SiteError) as e:
        raise click.ClickException(str(e)) from None
    _report(result)
    if as_json:
        click.echo(json.dumps(result))
    if not result["met"]:
        missed = _missed(result)
        click.echo(f"Error: the drill missed its targets: {missed}", err=True)
        sys.exit(1)


def _report(r: dict) -> None:
    t = r["targets"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    rto = f"{r['rto_s']:.1f} s" if r.get("rto_s") is not None else "never (no write acknowledged)"
    click.echo(f"Drill {r['strategy']}: {r['written']} writes acknowledged ({r['achieved_rate']:g} PUT/s before the loss), {r['failed_writes']} failed")
    click.echo(f"  RPO  {r['rpo_s']:.1f} s ({r['missing_at_failover']} acknowledged writes missing at failover; target < {t['rpo_s']:g} s): {verdict(r['rpo_s'] < t['rpo_s'])}")
    click.echo(f"  RTO  {rto} (target < {t['rto_s']:g} s): {verdict(r.get('rto_s') is not None and r['rto_s'] < t['rto_s'])}")
    click.echo(f"  lost {r['lost']} acknowledged writes after failback: {verdict(r['lost'] == 0)}")
    if r.get("converged") is not None:
        click.echo(f"  converged: {'yes, the same versions on both sites' if r['converged'] else 'NO'}")


def _missed(r: dict) -> str:
    t = r["targets"]
    out = []
    if r.get("rpo_s") is None or r["rpo_s"] >= t["rpo_s"]:
        out.append(f"RPO {r.get('rpo_s')} s (target < {t['rpo_s']:g} s)")
    if r.get("rto_s") is None or r["rto_s"] >= t["rto_s"]:
        out.append(f"RTO {r.get('rto_s')} s (target < {t['rto_s']:g} s)")
    if r.get("lost"):
        out.append(f"{r['lost']} acknowledged writes lost")
    if r.get("converged") is False:
        out.append("the sites did not converge")
    return "; ".join(out)


@dr.command()
@click.argument("bucket")
@click.option("--site", "site_url", metavar="URL", required=True, help="The site to make the primary.")
@click.option("--peer", metavar="URL", default=None, help="The old primary: replication back toward it is prepared.")
@click.option("--remote", metavar="NAME", default=None, help="The name of the remote toward --peer (default: from its URL, e.g. 127.0.0.1-9000).")
@click.option("--from-backup", metavar="DIR", default=None, help="Backup and restore: restore this backup (hoard backup's DEST) into BUCKET first.")
@click.option("--jobs", type=click.IntRange(1, 64), default=16, show_default=True, help="With --from-backup: keys restored at once.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object, the last line.")
def promote(bucket: str, site_url: str, peer: str | None, remote: str | None, from_backup: str | None, jobs: int, as_json: bool) -> None:
    """Fail over: make the site at URL the primary of BUCKET.

    With --from-backup DIR, restores the backup into BUCKET there (created if missing). Else
    the bucket must already be there (replicated) with versioning Enabled; if it does not
    replicate anywhere yet, a remote toward --peer is added and, if the peer answers, a
    replication configuration toward it (else hoard dr failback makes it). Then point the
    clients at URL.

    Signed with HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY, else AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY.
    """
    from hoard.dr.ops import promote as run
    from hoard.dr.sites import Site, SiteError

    if from_backup is not None and peer is not None:
        raise click.UsageError("--from-backup restores a backup; --peer prepares replication: give one or the other")
    keys = _keys()
    try:
        done = run(Site(site_url, site_url, keys), bucket, _say, peer=peer, remote=remote, from_backup=from_backup, jobs=jobs)
    except SiteError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(done))


@dr.command()
@click.argument("bucket")
@click.option("--site", "site_url", metavar="URL", required=True, help="The old primary, started again: the site to fail back to.")
@click.option("--from", "from_url", metavar="URL", required=True, help="The site serving BUCKET meanwhile.")
@click.option("--remote", metavar="NAME", default=None, help="The name of the remote toward --site, if one must be added (default: from its URL).")
@click.option("--via-backup", metavar="DIR", default=None, help="Backup and restore: copy through this backup folder instead of replication.")
@click.option("--resync", is_flag=True, help="Queue every version of BUCKET again at once (a HEAD each) instead of waiting for the queue's own retries.")
@click.option("--jobs", type=click.IntRange(1, 64), default=16, show_default=True, help="With --via-backup: versions copied at once.")
@click.option("--timeout", type=click.FloatRange(min=1), default=600.0, show_default=True, help="Seconds to wait for replication to catch up.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object, the last line.")
def failback(bucket: str, site_url: str, from_url: str, remote: str | None, via_backup: str | None, resync: bool, jobs: int, timeout: float, as_json: bool) -> None:
    """Fail back: bring the old primary (--site) up to date from the site serving meanwhile (--from).

    By replication: --from's bucket replicates to --site (configured now if it was not, its
    versions queued), and the command returns when both sites have sent what they had queued
    before it started (versions that failed while --site was down are retried at most 30 s
    apart; --resync queues every version again at once instead). With --via-backup DIR: a backup of
    --from's bucket into DIR, restored into --site's (only what it lacks); run it once more
    after the clients are back on --site.

    Signed with HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY, else AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY.
    """
    from hoard.dr.ops import failback as run
    from hoard.dr.sites import Site, SiteError

    keys = _keys()
    try:
        done = run(Site(site_url, site_url, keys), Site(from_url, from_url, keys), bucket, _say, remote=remote, via_backup=via_backup, resync=resync, jobs=jobs, timeout=timeout)
    except SiteError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(done))
