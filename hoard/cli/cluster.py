"""``hoard cluster init``: make a cluster in an empty PostgreSQL database, and its key;
``hoard cluster rebuild-index``: make it again there from the drives when it was lost;
``hoard cluster rotate-key``: a new cluster key beside the old one in the key file;
``hoard cluster ca`` and ``hoard cluster node-cert``: the certificates of internal TLS."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click

DEFAULT_KEY_FILE = "~/.config/hoard/cluster.key"


@click.group()
def cluster() -> None:
    """Several machines sharing one PostgreSQL database (docs/cluster.md).

    \b
      hoard cluster init --meta URL    make the cluster: its tables and its key file
      hoard cluster rebuild-index --meta URL --node NAME DIR...
                                       make a lost database again from the drives
      hoard cluster rotate-key         a new key in the key file, to copy to every node
                                       (then: hoard admin cluster rotate-key)
      hoard cluster ca DIR             a CA for the nodes' internal TLS
      hoard cluster node-cert --ca DIR --node NAME --host HOST OUT
                                       a node's certificate from that CA
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


def rebuild_options(fn):
    """The options of a rebuild from a cluster's drives, shared by ``hoard cluster rebuild-index``
    and ``hoard admin rebuild-index --meta URL`` (which names them as the issue and S3 admins do)."""
    options = [
        click.option("--node", metavar="NAME", envvar="HOARD_NODE", default=None, help="the node whose drives these are, which signs the calls (or HOARD_NODE)"),
        click.option("--key-file", metavar="FILE", envvar="HOARD_CLUSTER_KEY_FILE", default=None, help="the cluster key file (or HOARD_CLUSTER_KEY_FILE)"),
        click.option("--root-access-key", envvar="HOARD_ROOT_ACCESS_KEY", default=None, help="the root's access key: it owns the buckets that come back (or HOARD_ROOT_ACCESS_KEY)"),
        click.option("--region", envvar="HOARD_REGION", default="us-east-1", show_default=True, help="the buckets' region (or HOARD_REGION)"),
        click.option(
            "--internal-tls", "internal_tls", metavar="CERT KEY CA", nargs=3, type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
            help="the node's certificate, key and the cluster's CA, where the nodes serve the internal API over mutual TLS",
        ),
        click.argument("folders", nargs=-1, type=click.Path(file_okay=False, exists=True, path_type=Path)),
    ]  # fmt: skip
    for option in reversed(options):
        fn = option(fn)
    return fn


def rebuild_from_drives(
    meta: str,
    node: str | None,
    key_file: str | None,
    root_access_key: str | None,
    region: str,
    internal_tls: tuple[Path, Path, Path] | None,
    folders: tuple[Path, ...],
) -> None:
    """Make a lost cluster database again from the drives (see ``rebuild_index``); the
    arguments are ``rebuild_options``'."""
    from hoard.admin.cluster_rebuild import RebuildRefused, rebuild_cluster_index
    from hoard.cluster.keys import read_key_file
    from hoard.crypto.keyfile import KeyFileError
    from hoard.iam.credentials import canonical_id
    from hoard.meta.errors import MetaError

    missing = [name for name, value in (("--node", node), ("--key-file", key_file), ("--root-access-key", root_access_key)) if not value]
    if missing or not folders:
        raise click.UsageError(f"a rebuild from the drives needs {', '.join([*missing, *([] if folders else ['DIR...'])])}")
    assert node is not None and key_file is not None and root_access_key is not None
    try:
        keyring = read_key_file(Path(key_file).expanduser())
    except (KeyFileError, OSError) as e:
        raise click.ClickException(f"cannot read the cluster key: {e}") from None
    shown = {"reading": -1}

    def progress(step: str, done: int, total: int) -> None:
        if step == "reading" and done * 10 // max(total, 1) > shown["reading"]:
            shown["reading"] = done * 10 // max(total, 1)
            click.echo(f"records read: {done} of {total}")

    try:
        info, count = rebuild_cluster_index(meta, keyring, node, list(folders), canonical_id(root_access_key), region, progress, internal_tls or None)
    except RebuildRefused as e:
        raise click.ClickException(str(e)) from None
    except MetaError as e:
        raise click.ClickException(f"cannot rebuild: {e}") from None
    click.echo(f"cluster {info.cluster_id} (layout version {info.layout_version}) made again; {count} object versions back from the drives")


@cluster.command("rebuild-index")
@click.option("--meta", metavar="URL", envvar="HOARD_META", required=True, help="the new, empty database (or HOARD_META)")
@rebuild_options
def rebuild_index(meta: str, **options: Any) -> None:
    """Make a lost database again from the drives: the cluster's layout from the copy FOLDERS
    (this node's drives) keep, every object version from the records on every node's drives.
    Needs --node, --key-file and --root-access-key (or their variables). The same as
    ``hoard admin rebuild-index --meta URL``.

    The database must be empty (a new one at the same URL), and every node running, serving its
    drives. Uploads in progress, users, remotes and bucket settings do not come back: they were
    only in the database (docs/cluster.md).
    """
    rebuild_from_drives(meta, **options)


@cluster.command("rotate-key")
@click.option(
    "--key-file", metavar="FILE", default=DEFAULT_KEY_FILE, show_default=True,
    help="the cluster's key file (as hoard cluster init wrote it)",
)  # fmt: skip
def rotate_key(key_file: str) -> None:
    """Begin a rotation of the cluster key: a new key is written into the key file beside the
    old one, which still signs.

    Copy the file to every node, where HOARD_CLUSTER_KEY_FILE names it (each node takes it up
    within seconds, no restart), then run `hoard admin cluster rotate-key`: every node signs
    with the new key, then forgets the old one. The key is never printed or sent over the
    network by Hoard."""
    from hoard.cluster.keys import new_cluster_key, read_key_file, write_key_file
    from hoard.crypto.keyfile import KeyFileError

    path = Path(key_file).expanduser()
    try:
        keyring = read_key_file(path)
        rotating = keyring.accepting(new_cluster_key())
    except KeyFileError as e:
        raise click.ClickException(str(e)) from None
    except ValueError as e:
        raise click.ClickException(f"{path}: {e}") from None
    try:
        write_key_file(path, rotating, replace=True)
    except KeyFileError as e:
        raise click.ClickException(str(e)) from None
    assert rotating.accepted is not None
    click.echo(f"{path} now holds key {rotating.current.key_id} (signing) and the new key {rotating.accepted.key_id} (accepted).")
    click.echo("Copy it to every node (where HOARD_CLUSTER_KEY_FILE names it), then run: hoard admin cluster rotate-key")


@cluster.command("ca")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="Hoard cluster CA", show_default=True, help="the CA's common name")
@click.option("--force", is_flag=True, help="Replace a CA already in DIR (every node's certificate must then be issued again).")
def ca(folder: Path, name: str, force: bool) -> None:
    """Make a CA for the nodes' internal TLS: DIR/ca.crt and DIR/ca.key (0600).

    Keep ca.key off the nodes; copy ca.crt to every node, the CA of
    `hoard server --internal-tls CERT KEY CA`. Any certificate this CA issues is accepted as
    a node's: nodes still prove which node they are with the cluster key.
    """
    from hoard.cli.certs import CA_CERT, CA_KEY, cluster_ca, write_pair

    write_pair(folder, (CA_CERT, CA_KEY), cluster_ca(name), force)
    click.echo(f"Wrote {folder / CA_CERT} and {folder / CA_KEY}.")
    click.echo(f"Issue each node's:  hoard cluster node-cert --ca {folder} --node NAME --host HOST OUT_DIR")


@cluster.command("node-cert")
@click.argument("folder", metavar="OUT_DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ca", "ca_folder", metavar="DIR", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path), help="the folder hoard cluster ca made")
@click.option("--node", metavar="NAME", required=True, help="the node's name (the certificate's common name)")
@click.option("--host", "hosts", metavar="HOST", multiple=True, required=True, help="the host the node advertises (name or IP address; repeatable)")
@click.option("--force", is_flag=True, help="Replace a certificate already in OUT_DIR.")
def node_cert(folder: Path, ca_folder: Path, node: str, hosts: tuple[str, ...], force: bool) -> None:
    """Issue a node's certificate for internal TLS: OUT_DIR/node.crt and OUT_DIR/node.key (0600).

    It names each --host (the host in the node's --advertise), and serves both to accept the
    other nodes' calls and to make its own. Start the node with
    `--internal-tls OUT_DIR/node.crt OUT_DIR/node.key CA_DIR/ca.crt --internal-address HOST:PORT`.
    """
    from hoard.cli.certs import CA_CERT, CA_KEY, NODE_CERT, NODE_KEY, check_hosts, node_certificate, write_pair

    check_hosts(None, None, hosts)
    try:
        pair = node_certificate((ca_folder / CA_CERT).read_bytes(), (ca_folder / CA_KEY).read_bytes(), node, list(hosts))
    except OSError as e:
        raise click.ClickException(f"cannot read the CA in {ca_folder}: {e.strerror or e}") from None
    except ValueError as e:
        raise click.ClickException(f"cannot use the CA in {ca_folder}: {e}") from None
    write_pair(folder, (NODE_CERT, NODE_KEY), pair, force)
    click.echo(f"Wrote {folder / NODE_CERT} and {folder / NODE_KEY} for node {node} ({', '.join(hosts)}).")
