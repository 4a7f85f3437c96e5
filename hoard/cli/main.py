"""The ``hoard`` command."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import re
from pathlib import Path

import click

from hoard import __version__
from hoard.cli.admin import admin

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


def _tune_malloc(arenas: int = 2) -> None:
    """Keep glibc's malloc from handing memory back and forth with the kernel on every block.

    Each 1 MiB block is encoded into fresh buffers of a few hundred KiB; above glibc's default
    mmap threshold each is a new mapping, faulted in page by page and unmapped again: measured,
    encoding ran at a tenth of its speed. Keeping such buffers on the heap (and a little freed
    heap untrimmed) stops that; capping the arenas keeps dozens of I/O threads from each
    holding their own freed memory, so resident memory stays flat with concurrency.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, 4 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 16 * 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


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
@click.option(
    "--parity",
    type=int,
    default=None,
    help="Parity shards per erasure set for STANDARD objects (default: 2 for sets of 4-5 drives, "
    "3 for 6-7, 4 for 8-16; or HOARD_PARITY). Any that many drives of a set may be lost.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Server processes sharing the port (default: HOARD_WORKERS or 1). Two on a two-core "
    "machine serve small requests about 1.3-1.6x faster; each holds its own caches and threads.",
)
@click.argument("dirs", nargs=-1, required=True)
def server(address: str, log_level: str | None, parity: int | None, workers: int | None, dirs: tuple[str, ...]) -> None:
    """Serve the S3 API from the data folders DIR (one per drive).

    One DIR keeps everything in that folder (created if missing). Several DIRs are drives:
    they are grouped into erasure sets of 4 to 16, and each object is split into data and
    parity shards across one set, so any parity-count drives of a set may be lost. Ranges
    such as /mnt/disk{1...8} are expanded. Give the drives in the same order every time.

    \b
    Environment:
      HOARD_ROOT_ACCESS_KEY, HOARD_ROOT_SECRET_KEY
                          root credentials; if unset, generated on first start, kept in
                          DIR/.hoard/root-credentials.json on every drive (mode 0600) and
                          printed once
      HOARD_REDUCED_PARITY
                          parity for REDUCED_REDUNDANCY objects (default 1 for sets of
                          4-5 drives, 2 for larger sets)
      HOARD_INLINE_LIMIT  objects smaller than this many bytes are kept inside their
                          version records (default 131072)
      HOARD_SCANNER_RATE  bytes per second the background scanner verifies (default
                          33554432; 0 turns it off)
      HOARD_PROBE_INTERVAL
                          seconds between probes of offline or replaced drives (default 5)
      HOARD_BODY_TIMEOUT  seconds a request body may stall before the request is answered
                          400 RequestTimeout (default 20)
      HOARD_REGION        region reported and signed for (default us-east-1)
      HOARD_REGION_STRICT=1
                          reject signatures scoped to any other region
      HOARD_DOMAIN        enables virtual-hosted-style requests, e.g. s3.localhost makes
                          bucket.s3.localhost address the bucket "bucket"
      HOARD_WORKERS       server processes sharing the port (default 1; --workers)
      HOARD_LOG_LEVEL     debug, info, warning or error
    """
    from hoard import server as composition
    from hoard.config import Settings
    from hoard.storage.errors import DriveInUse
    from hoard.storage.layout import LayoutError
    from hoard.supervisor import name_process

    settings = Settings()
    _tune_malloc()
    level = log_level or settings.log_level
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workers = workers if workers is not None else settings.workers
    if not 1 <= workers <= 64:
        raise click.UsageError(f"HOARD_WORKERS must be between 1 and 64, not {workers}")
    paths = expand_dirs(dirs)
    if len({p.resolve() for p in paths}) != len(paths):
        raise click.UsageError("a folder is given twice")
    host, port = parse_address(address)
    # The order matters: a second server on these folders or this address must stop before it
    # changes anything (the start-up sweeps would delete the running server's uploads in flight).
    try:
        storage = composition.claim(settings, paths, parity)
    except LayoutError as e:
        raise click.UsageError(str(e)) from None
    except DriveInUse as e:
        raise click.ClickException(str(e)) from None
    try:
        sockets = composition.bind(host, port, workers)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e}") from None
    # Named as soon as it takes connections: the processes' titles, after their role.
    title = f"{host}:{sockets[0].getsockname()[1]} {' '.join(dirs)}"
    name_process("server" if workers == 1 else "supervisor", title)
    try:
        deployment, store = composition.prepare(settings, storage)
    except LayoutError as e:
        raise click.UsageError(str(e)) from None
    except DriveInUse as e:  # a folder that appeared, or was emptied, since the claim
        raise click.ClickException(str(e)) from None
    except OSError as e:  # a new deployment's folder that cannot be made or locked
        raise click.ClickException(f"cannot prepare the drives: {e}") from None
    storage, root = deployment.storage, deployment.root

    def banner(port: int) -> None:
        data = paths[0]
        endpoint = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        if deployment.root_generated:
            click.echo(
                "Generated root credentials (kept in "
                f"{data / '.hoard' / 'root-credentials.json'}; shown only this once):\n"
                f"  AccessKey: {root.access_key}\n  SecretKey: {root.secret_key}\n"
                "Use them with the AWS CLI:\n"
                f"  AWS_ACCESS_KEY_ID={root.access_key} AWS_SECRET_ACCESS_KEY='{root.secret_key}' "
                f"aws --endpoint-url {endpoint} s3 ls"
            )
        where = str(data) if len(paths) == 1 else f"{len(paths)} drives ({len(storage.sets)} erasure set(s), parity {storage.parity})"
        processes = f" with {workers} worker processes" if workers > 1 else ""
        click.echo(f"Hoard {__version__} serving S3 on {endpoint} from {where}{processes}")

    if workers == 1:
        banner(sockets[0].getsockname()[1])
        composition.serve_one(deployment, store, level, sockets)
        return
    supervisor = composition.supervise(deployment, store, level, sockets, title)
    banner(supervisor.port)
    raise SystemExit(supervisor.serve())


main.add_command(admin)

if __name__ == "__main__":
    main()
