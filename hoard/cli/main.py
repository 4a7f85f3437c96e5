"""The ``hoard`` command."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import click

from hoard import __version__

_RANGE = re.compile(r"\{(\d+)\.\.\.(\d+)\}")


def expand_dirs(specs: tuple[str, ...]) -> list[Path]:
    """Expand ``/mnt/disk{1...8}`` into eight paths, as the erasure-coded layout will take them."""
    out: list[Path] = []
    for spec in specs:
        match = _RANGE.search(spec)
        if not match:
            out.append(Path(spec))
            continue
        lo, hi = int(match.group(1)), int(match.group(2))
        if lo > hi:
            raise click.BadParameter(f"empty range in {spec!r}")
        width = len(match.group(1)) if match.group(1).startswith("0") else 0
        for i in range(lo, hi + 1):
            expanded = spec[: match.start()] + str(i).zfill(width) + spec[match.end():]
            out.extend(expand_dirs((expanded,)))
    return out


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hoard")
def main() -> None:
    """Hoard: a self-hosted, S3-compatible object storage server."""


@main.command()
@click.option(
    "--address",
    default="127.0.0.1:9000",
    show_default=True,
    help="HOST:PORT to listen on. Use 0.0.0.0:9000 to serve other machines.",
)
@click.option(
    "--log-level",
    default=None,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="How much to log (default: HOARD_LOG_LEVEL or info).",
)
@click.argument("dirs", nargs=-1, required=True)
def server(address: str, log_level: str | None, dirs: tuple[str, ...]) -> None:
    """Serve the S3 API from the data folder DIR.

    DIR is created if missing; object bytes and the metadata index live under DIR/.hoard.
    Ranges such as /mnt/disk{1...8} are expanded; more than one folder (erasure coding across
    drives) is not supported yet.

    \b
    Environment:
      HOARD_ROOT_ACCESS_KEY, HOARD_ROOT_SECRET_KEY
                          root credentials; if unset, generated on first start, kept in
                          DIR/.hoard/root-credentials.json (mode 0600) and printed once
      HOARD_REGION        region reported and signed for (default us-east-1)
      HOARD_REGION_STRICT=1
                          reject signatures scoped to any other region
      HOARD_DOMAIN        enables virtual-hosted-style requests, e.g. s3.localhost makes
                          bucket.s3.localhost address the bucket "bucket"
      HOARD_LOG_LEVEL     debug, info, warning or error
    """
    import uvicorn

    from hoard.app import HoardApp
    from hoard.config import Settings
    from hoard.iam.credentials import load_root

    settings = Settings()
    level = log_level or settings.log_level
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    paths = expand_dirs(dirs)
    if len(paths) > 1:
        raise click.UsageError("several data folders (erasure coding across drives) are not supported yet; give one DIR")
    host, port = parse_address(address)
    data = paths[0]
    data.mkdir(parents=True, exist_ok=True)
    root, generated = load_root(data, settings.root_access_key, settings.root_secret_key)
    app = HoardApp(settings, paths, root)
    endpoint = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if generated:
        click.echo(
            "Generated root credentials (kept in "
            f"{data / '.hoard' / 'root-credentials.json'}; shown only this once):\n"
            f"  AccessKey: {root.access_key}\n  SecretKey: {root.secret_key}\n"
            "Use them with the AWS CLI:\n"
            f"  AWS_ACCESS_KEY_ID={root.access_key} AWS_SECRET_ACCESS_KEY='{root.secret_key}' "
            f"aws --endpoint-url {endpoint} s3 ls"
        )
    click.echo(f"Hoard {__version__} serving S3 on {endpoint} from {data}")
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level=level,
        access_log=level == "debug",
        server_header=False,
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()
