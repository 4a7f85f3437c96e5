"""``hoard cluster init``: make a cluster in an empty PostgreSQL database, and its key."""

from __future__ import annotations

import uuid
from pathlib import Path

import click

DEFAULT_KEY_FILE = "~/.config/hoard/cluster.key"


@click.group()
def cluster() -> None:
    """Several machines sharing one PostgreSQL database (docs/cluster.md).

    \b
      hoard cluster init --meta URL    make the cluster: its tables and its key file
    """


@cluster.command("init")
@click.option("--meta", metavar="URL", envvar="HOARD_META", required=True, help="the cluster's PostgreSQL database (or HOARD_META)")
@click.option(
    "--key-file", metavar="FILE", default=DEFAULT_KEY_FILE, show_default=True,
    help="where to write the cluster key (mode 0600); copy it to every node and name it in HOARD_CLUSTER_KEY_FILE",
)  # fmt: skip
def init(meta: str, key_file: str) -> None:
    """Create the metadata schema and the cluster catalog in the database, and the cluster key.

    The key is written first and refused if the file exists: an existing key is never
    overwritten. It is never stored in the database (only its id is) and never printed.
    """
    import psycopg
    import psycopg_pool

    from hoard.cluster.keys import ClusterKeyring, new_cluster_key, write_key_file
    from hoard.crypto.keyfile import KeyFileError
    from hoard.meta.cluster import ClusterCatalog, ClusterExists
    from hoard.meta.errors import MetaError
    from hoard.meta.postgres import PostgresMetaStore

    path = Path(key_file).expanduser()
    key = new_cluster_key()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_key_file(path, ClusterKeyring(key))
    except (KeyFileError, OSError) as e:
        raise click.ClickException(f"cannot write the cluster key to {path}: {e}") from None
    try:
        store = PostgresMetaStore(meta, pool_size=2, retry_for=10)
    except (psycopg.Error, psycopg_pool.PoolTimeout, MetaError) as e:
        path.unlink(missing_ok=True)
        raise click.ClickException(f"cannot use the database: {e}") from None
    try:
        made = ClusterCatalog(store).init(str(uuid.uuid4()), key.key_id)
    except ClusterExists as e:
        path.unlink(missing_ok=True)
        raise click.ClickException(f"{e}: nothing was changed, and no key was written") from None
    except MetaError as e:
        path.unlink(missing_ok=True)
        raise click.ClickException(f"cannot make the cluster: {e}") from None
    finally:
        store.close()
    click.echo(f"cluster {made.cluster_id} made in {store.location}")
    click.echo(f"its key (id {key.key_id}) is in {path}, mode 0600: copy it to every node, apart from the data,")
    click.echo("and start each node with HOARD_CLUSTER_KEY_FILE naming it:")
    click.echo(f"  HOARD_CLUSTER_KEY_FILE={path} hoard server --meta URL --node NAME --advertise http://HOST:PORT --zone ZONE DIR...")
