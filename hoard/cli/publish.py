"""``hoard publish pypi``: the command of hoard/publish/.

The publish package (and boto3 with it) is imported only when a command runs, so that ``hoard
server`` starts without it. Credentials and endpoint as ``hoard backup`` takes them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from hoard.cli.backup import CA_BUNDLE_HELP, PROFILE_HELP

ENDPOINT_HELP = "The S3 endpoint of the bucket (or HOARD_ENDPOINT, AWS_ENDPOINT_URL; default: the profile's, else AWS)."


@click.group()
def publish() -> None:
    """Publish packages to an index kept in a bucket.

    \b
      hoard publish pypi [OPTIONS] DIST_DIR s3://BUCKET[/PREFIX]
    """


def _split(dest: str) -> tuple[str, str]:
    from hoard.publish.simple import BadPrefix, clean_prefix

    if not dest.startswith("s3://"):
        raise click.BadParameter(f"{dest!r}: expected s3://BUCKET or s3://BUCKET/PREFIX", param_hint="s3://BUCKET[/PREFIX]")
    bucket, _, prefix = dest[len("s3://"):].partition("/")
    if not bucket:
        raise click.BadParameter(f"{dest!r}: expected s3://BUCKET or s3://BUCKET/PREFIX", param_hint="s3://BUCKET[/PREFIX]")
    try:
        return bucket, clean_prefix(prefix)
    except BadPrefix as e:
        raise click.BadParameter(str(e), param_hint="s3://BUCKET[/PREFIX]") from None


@contextlib.contextmanager
def _failures(endpoint: Any, where: str) -> Iterator[None]:
    """One ``Error:`` line and exit 1 for what stops a run (S3's refusals said as S3 says them,
    followed by what the requests were about)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from hoard.backup.connect import explain
    from hoard.publish.pypi import PublishError

    try:
        yield
    except (ClientError, BotoCoreError) as e:
        raise click.ClickException(f"{explain(e, endpoint)} ({where})") from None
    except PublishError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}") from None


@publish.command("pypi", short_help="Publish wheels and sdists to a Python package index (PEP 503) in a bucket.")
@click.argument("dist_dir", metavar="DIST_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dest", metavar="s3://BUCKET[/PREFIX]")
@click.option(
    "--endpoint-url", "--endpoint", "endpoint", envvar=["HOARD_ENDPOINT", "AWS_ENDPOINT_URL"], metavar="URL", default=None, help=ENDPOINT_HELP
)
@click.option("--profile", metavar="NAME", default=None, help=PROFILE_HELP)
@click.option("--ca-bundle", envvar=["HOARD_CA_BUNDLE", "AWS_CA_BUNDLE"], metavar="FILE", default=None, help=CA_BUNDLE_HELP)
@click.option("--public", is_flag=True, help="Let anyone read (s3:GetObject) the keys under PREFIX: a statement merged into the bucket policy.")
@click.option("--overwrite", is_flag=True, help="Replace a published file by a different one of the same name (PyPI never does).")
@click.option("--dry-run", is_flag=True, help="Say what would be uploaded and which pages would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object (the last line).")
def pypi(dist_dir: Path, dest: str, endpoint, profile, ca_bundle, public: bool, overwrite: bool, dry_run: bool, as_json: bool) -> None:
    """Publish the wheels and sdists in DIST_DIR to a Python package index
    (PEP 503) kept in a bucket, under PREFIX.

    Each file goes to PREFIX/packages/<project>/<file> (a wheel's METADATA beside
    it as <file>.metadata). Then the index is made again from everything under
    PREFIX/packages/, whoever published it: PREFIX/simple/index.html and
    PREFIX/simple/<project>/index.html, each also at the key ending in "/".

    A file already published with the same bytes is skipped; a different file of
    the same name is refused, as on PyPI, unless --overwrite. Names and versions
    are read from the files (METADATA, PKG-INFO); nothing in them is run.

    \b
    Install from it (with --public, or a bucket policy of your own):
      pip install --index-url http://HOST:PORT/BUCKET/PREFIX/simple/ NAME
    """
    from hoard.backup.connect import BadEndpoint, Endpoint, client
    from hoard.publish.pypi import Publisher, find_dists, read_dists

    bucket, prefix = _split(dest)
    target = Endpoint(endpoint, profile, ca_bundle)
    try:
        s3 = client(target)
    except BadEndpoint as e:
        raise click.UsageError(str(e)) from None
    where = f"bucket {bucket!r} at {target.describe()}"
    with _failures(target, where):
        dists = read_dists(find_dists(dist_dir))
        publisher = Publisher(s3, bucket, prefix, say=None if as_json else click.echo)
        summary = publisher.run(dists, overwrite=overwrite, dry_run=dry_run, public=public)
    if as_json:
        click.echo(json.dumps(summary.to_json()))
        return
    place = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    for name in summary.already:
        click.echo(f"already there: {name}")
    verb = "Would publish" if dry_run else "Published"
    projects = len(summary.projects)
    click.echo(
        f"{verb} {len(summary.uploaded) + len(summary.overwritten)} files to {place} ({len(summary.already)} already there"
        f"{f', {len(summary.overwritten)} replaced' if summary.overwritten else ''}); the index lists {summary.files_indexed} files of "
        f"{projects} project{'s' if projects != 1 else ''} ({len(summary.pages_written)} pages {'to write' if dry_run else 'written'}, "
        f"{summary.pages_unchanged} unchanged)"
    )
    if summary.public == "set":
        click.echo(f"{'Would make' if dry_run else 'Made'} {place}/* readable by anyone (a statement in the bucket policy)")
    elif summary.public == "already":
        click.echo(f"{place}/* was already readable by anyone")
    click.echo(f"Install with: pip install --index-url {summary.index_url} NAME")
