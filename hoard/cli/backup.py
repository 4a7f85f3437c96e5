"""``hoard backup``, ``hoard backup verify`` and ``hoard restore``: the commands of hoard/backup/.

A place given as ``s3://bucket/prefix`` is a bucket of an S3 endpoint (``--backup-endpoint``,
by default the bucket's own); anything else is a folder. The backup package (and boto3 with it)
is imported only when a command runs, so that ``hoard server`` starts without it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

ENDPOINT_HELP = "The S3 endpoint of the bucket (or HOARD_ENDPOINT, AWS_ENDPOINT_URL; default: the profile's, else AWS)."
PROFILE_HELP = "Sign with this AWS CLI profile (default: HOARD_ROOT_* keys, else AWS_* keys, else the AWS profile)."
CA_BUNDLE_HELP = "Trust the endpoint's certificate if this PEM file holds it or its CA (or HOARD_CA_BUNDLE, AWS_CA_BUNDLE)."
BACKUP_ENDPOINT_HELP = "For an s3:// backup: its endpoint (default: the bucket's, --endpoint)."
BACKUP_PROFILE_HELP = "For an s3:// backup: sign with this AWS CLI profile (default: as for the bucket)."
BACKUP_CA_HELP = "For an s3:// backup over HTTPS: the CA bundle that trusts its endpoint (default: as for the bucket)."
JOBS_HELP = "Versions copied at once."


def _bucket_side(fn):
    fn = click.option("--ca-bundle", envvar=["HOARD_CA_BUNDLE", "AWS_CA_BUNDLE"], metavar="FILE", default=None, help=CA_BUNDLE_HELP)(fn)
    fn = click.option("--profile", metavar="NAME", default=None, help=PROFILE_HELP)(fn)
    return click.option("--endpoint", envvar=["HOARD_ENDPOINT", "AWS_ENDPOINT_URL"], metavar="URL", default=None, help=ENDPOINT_HELP)(fn)


def _backup_side(fn):
    fn = click.option("--backup-ca-bundle", metavar="FILE", default=None, help=BACKUP_CA_HELP)(fn)
    fn = click.option("--backup-profile", metavar="NAME", default=None, help=BACKUP_PROFILE_HELP)(fn)
    return click.option("--backup-endpoint", metavar="URL", default=None, help=BACKUP_ENDPOINT_HELP)(fn)


def _run_options(fn):
    fn = click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object (the last line).")(fn)
    return click.option("--jobs", type=click.IntRange(1, 64), default=4, show_default=True, help=JOBS_HELP)(fn)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


class _Bar:
    """A progress bar on a terminal (stderr, so that --json keeps stdout to itself); nothing
    otherwise, where the summary lines say it all."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.bar: Any = None

    def start(self, label: str, total_bytes: int, count: int) -> None:
        if self.enabled and count:
            self.bar = click.progressbar(length=max(total_bytes, 1), label=f"{label} ({count} versions)", file=sys.stderr, show_pos=False)
            self.bar.__enter__()

    def advance(self, nbytes: int) -> None:
        if self.bar is not None:
            self.bar.update(nbytes)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _endpoint(url: str | None, profile: str | None, ca_bundle: str | None):
    from hoard.backup.connect import Endpoint

    return Endpoint(url, profile, ca_bundle)


def _client(endpoint) -> Any:
    from hoard.backup.connect import BadEndpoint, client

    try:
        return client(endpoint)
    except BadEndpoint as e:
        raise click.UsageError(str(e)) from None


def _store(place: str, param: str, endpoint) -> Any:
    """The store a DEST or SRC names: ``s3://bucket/prefix``, or a folder."""
    from hoard.backup.store import BucketStore, FolderStore

    if place.startswith("s3://"):
        bucket, _, prefix = place[len("s3://"):].partition("/")
        if not bucket:
            raise click.BadParameter(f"{place!r}: expected s3://BUCKET or s3://BUCKET/PREFIX", param_hint=param)
        return BucketStore(_client(endpoint), bucket, prefix)
    return FolderStore(Path(place).expanduser())


def _where(store: Any, endpoint: Any) -> str:
    from hoard.backup.store import BucketStore

    return f"{store.describe()} at {endpoint.describe()}" if isinstance(store, BucketStore) else store.describe()


@contextlib.contextmanager
def _failures(endpoint: Any, where: str) -> Iterator[None]:
    """What goes wrong, as the other ``hoard`` commands say it: one ``Error:`` line, exit 1 for
    a refusal or failure, 2 for input that cannot be used. ``where`` says what the requests
    were about, after S3's refusal."""
    from botocore.exceptions import BotoCoreError, ClientError

    from hoard.backup.archive import Damaged, NotABackup, OtherSource
    from hoard.backup.connect import explain
    from hoard.backup.store import InUse

    try:
        yield
    except (ClientError, BotoCoreError) as e:
        raise click.ClickException(f"{explain(e, endpoint)} ({where})") from None
    except (NotABackup, OtherSource) as e:
        raise click.UsageError(str(e)) from None
    except Damaged as e:
        for problem in e.problems:
            click.echo(f"damaged: {problem}", err=True)
        raise click.ClickException("the backup's manifest is damaged (hoard backup verify names every damaged file)") from None
    except InUse as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}") from None


class _BackupGroup(click.Group):
    """``hoard backup BUCKET DEST`` runs a backup (the ``run`` subcommand, named or not);
    ``hoard backup verify DEST`` checks one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_BackupGroup)
def backup() -> None:
    """Back up a bucket to a folder or to another S3 endpoint, or verify a backup.

    \b
      hoard backup [OPTIONS] BUCKET[/PREFIX] DEST     (the same as: hoard backup run ...)
      hoard backup verify [OPTIONS] DEST

    DEST is a folder, or s3://BUCKET/PREFIX on --backup-endpoint. A bucket named run or
    verify: hoard backup run verify DEST.
    """


@backup.command("run")
@click.argument("source", metavar="BUCKET[/PREFIX]")
@click.argument("dest", metavar="DEST")
@_bucket_side
@_backup_side
@_run_options
def run(source: str, dest: str, endpoint, profile, ca_bundle, backup_endpoint, backup_profile, backup_ca_bundle, jobs: int, as_json: bool) -> None:
    """Back up BUCKET (or the keys under PREFIX) to DEST: every version, delete markers, metadata,
    tags and object lock settings, and the bucket's configuration.

    Incremental: a run copies only the versions DEST lacks, and records what has gone from the
    bucket since the last run (keeping its bytes, for restores to earlier times). A run stopped
    halfway, even killed, goes on from where it stopped when run again.
    """
    from hoard.backup import engine
    from hoard.backup import source as reading
    from hoard.backup.archive import Archive

    bucket, _, prefix = source.partition("/")
    if not bucket:
        raise click.BadParameter(f"{source!r}: expected BUCKET or BUCKET/PREFIX", param_hint="BUCKET[/PREFIX]")
    bucket_endpoint = _endpoint(endpoint, profile, ca_bundle)
    store_endpoint = _endpoint(backup_endpoint or endpoint, backup_profile or profile, backup_ca_bundle or ca_bundle)
    client = _client(bucket_endpoint)
    with _failures(bucket_endpoint, f"bucket {bucket!r} at {bucket_endpoint.describe()}"):
        reading.check_bucket(client, bucket)
    store = _store(dest, "DEST", store_endpoint)
    with _failures(store_endpoint, _where(store, store_endpoint)):
        store.make()
        # Checked before the lock is taken too: a place refused is left as it was found.
        Archive.check_place(store, bucket, prefix)
        with store.hold():
            archive = Archive.create(store, bucket, prefix)
            store.prepare()
            summary = engine.run_backup(client, bucket, prefix, archive, jobs=jobs, progress=_Bar())
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        click.echo(
            f"Backed up {summary.source} to {summary.destination}: {summary.copied} versions copied ({_human(summary.copied_bytes)}), "
            f"{summary.delete_markers} delete markers, {summary.already} already in the backup, {summary.gone} gone from the bucket"
        )
        if summary.config:
            click.echo(f"Bucket configuration kept: {', '.join(summary.config)}")
        if summary.config_unread:
            click.echo("Bucket configuration not readable: " + ", ".join(f"{k} ({v})" for k, v in sorted(summary.config_unread.items())))
        if summary.changed:
            click.echo(f"{summary.changed} versions changed while being read: the next run copies them as they are then")
    for failure in summary.failed:
        click.echo(f"failed: {failure}", err=True)
    if summary.failed:
        raise click.ClickException(f"{len(summary.failed)} versions could not be copied: run the backup again to retry them")


@backup.command("verify")
@click.argument("dest", metavar="DEST")
@click.option("--backup-endpoint", "--endpoint", "endpoint", envvar=["HOARD_ENDPOINT", "AWS_ENDPOINT_URL"], metavar="URL", default=None, help="For an s3:// DEST: its endpoint (or HOARD_ENDPOINT, AWS_ENDPOINT_URL).")
@click.option("--backup-profile", "--profile", "profile", metavar="NAME", default=None, help=BACKUP_PROFILE_HELP)
@click.option("--backup-ca-bundle", "--ca-bundle", "ca_bundle", envvar=["HOARD_CA_BUNDLE", "AWS_CA_BUNDLE"], metavar="FILE", default=None, help=BACKUP_CA_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object (the last line).")
def verify(dest: str, endpoint, profile, ca_bundle, as_json: bool) -> None:
    """Check the backup in DEST on its own: every manifest file, and every version's bytes
    against their SHA-256. Exits 1 naming each damaged or missing file."""
    from hoard.backup.verify import verify as check

    store_endpoint = _endpoint(endpoint, profile, ca_bundle)
    store = _store(dest, "DEST", store_endpoint)
    with _failures(store_endpoint, _where(store, store_endpoint)):
        archive = _open(store, "DEST")
        report = check(archive, progress=_Bar())
    for problem in report.problems:
        click.echo(f"damaged: {problem}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_json()))
    elif report.ok:
        extra = f"; {report.unreferenced} data files no entry names (left by an interrupted run)" if report.unreferenced else ""
        click.echo(f"Verified {report.backup}: {report.versions} versions in {report.files} data files ({_human(report.bytes)}), all intact{extra}")
    if not report.ok:
        raise click.ClickException(f"{len(report.problems)} damaged or missing files in {report.backup}")


def _open(store: Any, param: str) -> Any:
    from hoard.backup.archive import Archive, NotABackup

    try:
        return Archive.open(store)
    except NotABackup as e:
        raise click.BadParameter(str(e), param_hint=param) from None


def _as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from hoard.backup.times import parse_as_of

    if value is None:
        return None
    try:
        return parse_as_of(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command()
@click.argument("src", metavar="SRC")
@click.argument("bucket", metavar="BUCKET")
@click.option("--as-of", metavar="TIMESTAMP", callback=_as_of, default=None, help="Restore each key as it was then: ISO 8601 (UTC unless an offset is given) or Unix seconds.")
@click.option("--bucket-config", is_flag=True, help="Set the backed-up bucket configuration on a BUCKET that already exists too.")
@_bucket_side
@_backup_side
@_run_options
def restore(src: str, bucket: str, as_of: str | None, bucket_config: bool, endpoint, profile, ca_bundle, backup_endpoint, backup_profile, backup_ca_bundle, jobs: int, as_json: bool) -> None:
    """Restore the backup in SRC (a folder, or s3://BUCKET/PREFIX) into BUCKET, created if missing.

    Every version goes back in order, with its metadata, tags and (where BUCKET has object lock)
    retention and legal hold; a bucket the restore creates gets the backed-up configuration.
    With --as-of, each key as it was at that instant (keys deleted by then are left out). Run
    again, it writes only what BUCKET still lacks.
    """
    from hoard.backup.restore import run_restore

    bucket_endpoint = _endpoint(endpoint, profile, ca_bundle)
    store_endpoint = _endpoint(backup_endpoint or endpoint, backup_profile or profile, backup_ca_bundle or ca_bundle)
    store = _store(src, "SRC", store_endpoint)
    with _failures(store_endpoint, _where(store, store_endpoint)):
        archive = _open(store, "SRC")
        catalog = archive.load()
    client = _client(bucket_endpoint)
    with _failures(bucket_endpoint, f"bucket {bucket!r} at {bucket_endpoint.describe()}"):
        summary = run_restore(archive, catalog, client, bucket, as_of=as_of, jobs=jobs, progress=_Bar(), apply_config=bucket_config)
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        made = "created, " if summary.created else ""
        kind = ", ".join(filter(None, ["versioned" if summary.versioned else "not versioned", "object lock" if summary.object_lock else ""]))
        when = f" as of {summary.as_of}" if summary.as_of else ""
        click.echo(
            f"Restored {summary.source}{when} into {bucket} ({made}{kind}): {summary.restored} versions written "
            f"({_human(summary.restored_bytes)}, {summary.delete_markers} delete markers), {summary.already} already there"
        )
        if summary.config_applied:
            click.echo(f"Bucket configuration set: {', '.join(summary.config_applied)}")
        if summary.config_failed:
            click.echo(f"Bucket configuration not set: {', '.join(summary.config_failed)}")
        for note in summary.notes:
            click.echo(f"Note: {note}")
    for failure in summary.failed:
        click.echo(f"failed: {failure}", err=True)
    if summary.failed:
        raise click.ClickException(f"{len(summary.failed)} keys could not be restored: run the restore again to retry them")
