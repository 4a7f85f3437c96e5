"""Internal TLS between a cluster's nodes (``--internal-tls CERT KEY CA --internal-address``):
real ``hoard server --node`` processes on a real PostgreSQL, certificates made by ``hoard cluster
ca`` and ``hoard cluster node-cert``. The nodes reach each other's drives over mutual TLS only:
the internal port completes no handshake without a certificate from the cluster's CA, the S3
port refuses internal calls, and a certificate that the other nodes would refuse stops a node
before it starts. The cluster key's signature is still required inside TLS, and a key rotation
runs over it."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from hoard.cluster.internal_auth import sign_request, signer_for
from hoard.cluster.keys import read_key_file
from hoard.meta.cluster import ClusterCatalog
from hoard.meta.postgres import PostgresMetaStore
from hoard.storage.remote import NodeConnections, RemoteDrive
from tests.conftest import HoardServer, free_port, wait_for
from tests.integration.test_cluster_nodes import MASTER_KEY, SECRETS_KEY, _copy_key, init_cluster, shard_files, wait_for_writes
from tests.integration.test_settings import clean_env

MiB = 1024 * 1024
HOST = "127.0.0.1"


def hoard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hoard", *args], env=clean_env(), capture_output=True, text=True, timeout=60)


def make_certs(folder: Path, nodes: list[str], host: str = HOST) -> None:
    made = hoard("cluster", "ca", str(folder / "ca"))
    assert made.returncode == 0, made.stderr
    for name in nodes:
        issued = hoard("cluster", "node-cert", "--ca", str(folder / "ca"), "--node", name, "--host", host, str(folder / name))
        assert issued.returncode == 0, issued.stderr
        assert (folder / name / "node.key").stat().st_mode & 0o777 == 0o600


def tls_files(folder: Path, name: str, ca: str = "ca") -> str:
    return f"{folder / name / 'node.crt'},{folder / name / 'node.key'},{folder / ca / 'ca.crt'}"


def tls_node(tmp_path: Path, meta: str, key_file: Path, name: str, zone: str, certs: Path, workers: int = 1) -> HoardServer:
    port, internal = free_port(), free_port()
    env = {
        "HOARD_META": meta, "HOARD_NODE": name, "HOARD_ADVERTISE": f"http://{HOST}:{port}", "HOARD_ZONE": zone,
        "HOARD_CLUSTER_KEY_FILE": str(key_file), "HOARD_SECRETS_KEY": SECRETS_KEY, "HOARD_MASTER_KEY": MASTER_KEY,
        "HOARD_RECLAIM_GRACE": "0", "HOARD_INTERNAL_ADDRESS": f"{HOST}:{internal}", "HOARD_INTERNAL_TLS": tls_files(certs, name),
    }  # fmt: skip
    dirs = [tmp_path / name / f"d{i}" for i in (1, 2)]
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    extra = ["--workers", str(workers)] if workers > 1 else []
    return HoardServer(tmp_path / name / "log", env_extra=env, port=port, drives=dirs, extra_args=extra).start()


def client_context(ca: Path, holder: Path | None) -> ssl.SSLContext:
    """What a caller of the internal port holds: the CA to check the node by (``ca``'s ca.crt),
    and perhaps a certificate (``holder``'s node.crt and node.key)."""
    context = ssl.create_default_context(cafile=str(ca / "ca.crt"))
    if holder is not None:
        context.load_cert_chain(str(holder / "node.crt"), str(holder / "node.key"))
    return context


def tls_request(port: int, context: ssl.SSLContext, request: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=10) as raw, context.wrap_socket(raw, server_hostname=HOST) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def no_answer(port: int, context: ssl.SSLContext, request: bytes) -> bool:
    """Whether the node ends the connection without an answer: over TLS 1.3 the client's side of
    the handshake ends first, and the node's refusal of its certificate comes as an alert (an
    error) or a close."""
    try:
        return tls_request(port, context, request) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def get_request(path: str, headers: dict[str, str]) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{lines}\r\n".encode()


@pytest.fixture
def cluster_db(postgres_db, tmp_path):
    done = init_cluster(postgres_db, tmp_path / "keys" / "cluster.key")
    assert done.returncode == 0, done.stderr
    return postgres_db, tmp_path / "keys" / "cluster.key"


@pytest.fixture
def tls_cluster(cluster_db, tmp_path):
    meta, key_file = cluster_db
    certs = tmp_path / "certs"
    make_certs(certs, ["n1", "n2", "n3"])
    keys = {name: tmp_path / "keys" / f"{name}.key" for name in ("n1", "n2")}
    for path in keys.values():
        _copy_key(key_file, path)
    nodes: list[HoardServer] = []
    store = None
    try:
        # n2 runs two workers: each serves the internal port's mutual TLS.
        for name, zone in (("n1", "z1"), ("n2", "z2")):
            nodes.append(tls_node(tmp_path, meta, keys[name], name, zone, certs, workers=1 + (name == "n2")))
        store = PostgresMetaStore(meta, pool_size=2)
        yield ClusterCatalog(store), key_file, keys, certs, nodes
    finally:
        if store is not None:
            store.close()
        for node in nodes:
            node.stop()


def internal_port(node: HoardServer) -> int:
    return int(node.env_extra["HOARD_INTERNAL_ADDRESS"].rsplit(":", 1)[1])


def test_nodes_share_their_drives_over_mutual_tls_only_and_rotate_the_key_over_it(tls_cluster, tmp_path):
    catalog, operator_key, keys, certs, nodes = tls_cluster
    rows = {n.name: n for n in catalog.nodes()}
    for node, name in zip(nodes, ("n1", "n2"), strict=True):
        assert rows[name].internal == f"https://{HOST}:{internal_port(node)}"
        assert rows[name].advertise == f"http://{HOST}:{node.port}"
        assert f"http://{HOST}:{node.port} (internal https://{HOST}:{internal_port(node)})" in nodes[0].admin("cluster").stdout
    a, b = nodes[0].client(), nodes[1].client()
    a.create_bucket(Bucket="data")
    n1, n2 = tmp_path / "n1", tmp_path / "n2"
    nodes[0].admin("pool", "add", f"n1:{n1}/d{{1...2}}", f"n2:{n2}/d{{1...2}}", "--set-size", "4")
    wait_for_writes(a, "data")
    wait_for_writes(b, "data")
    bodies = {f"k{i}": os.urandom(size) for i, size in enumerate((100, 70_000, 3 * MiB + 5))}
    for i, (key, body) in enumerate(bodies.items()):
        (a if i % 2 else b).put_object(Bucket="data", Key=key, Body=body)
    for client in (a, b):
        for key, body in bodies.items():
            assert client.get_object(Bucket="data", Key=key)["Body"].read() == body
    # The shards went to the other node's drives: through its TLS port, the only way in.
    assert shard_files(n1 / "d1") and shard_files(n2 / "d1")

    drive_id = [d.drive_id for d in catalog.drives() if d.node == "n2"][0]
    path = f"/.hoard/internal/v1/drives/{drive_id}"
    keyring = read_key_file(operator_key)
    port = internal_port(nodes[1])
    # Signed and over TLS with a certificate of the cluster's CA: answered.
    assert tls_request(port, client_context(certs / "ca", certs / "n1"), get_request(path, sign_request(keyring, "n1", "GET", path, [], 0, to="n2"))).startswith(b"HTTP/1.1 200")
    # Any certificate of the CA opens the connection; the cluster key's signature is still required.
    assert tls_request(port, client_context(certs / "ca", certs / "n3"), get_request(path, {})).startswith(b"HTTP/1.1 401")
    # No certificate, or one of another CA: no handshake.
    make_certs(tmp_path / "other", ["n1"])
    for context in (client_context(certs / "ca", None), client_context(certs / "ca", tmp_path / "other" / "n1")):
        assert no_answer(port, context, get_request(path, sign_request(keyring, "n1", "GET", path, [], 0, to="n2")))
    # The node's certificate is checked by callers too: a CA that did not issue it refuses it.
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_request(port, client_context(tmp_path / "other" / "ca", tmp_path / "other" / "n1"), get_request(path, {}))
    # In clear, the TLS port answers nothing that HTTP can read.
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(get_request(path, sign_request(keyring, "n1", "GET", path, [], 0, to="n2")))
        assert not s.recv(4096).startswith(b"HTTP/1.1 200")
    # The S3 port refuses internal calls, even signed ones; the TLS port refuses S3 requests.
    with socket.create_connection((HOST, nodes[1].port), timeout=10) as s:
        s.sendall(get_request(path, sign_request(keyring, "n1", "GET", path, [], 0, to="n2")))
        answer = b"".join(iter(lambda: s.recv(65536), b""))  # to the close
    assert answer.startswith(b"HTTP/1.1 403") and b"<Code>AccessDenied</Code>" in answer
    assert b"<Code>AccessDenied</Code>" in tls_request(port, client_context(certs / "ca", certs / "n1"), get_request("/data?list-type=2", {}))

    # Through the nodes' own connections (RemoteDrive) over TLS, as every node reads another's.
    tls_ctx = client_context(certs / "ca", certs / "n1")
    connections = NodeConnections(rows["n2"].internal_url, connect_timeout=2.0, tls=lambda: tls_ctx)
    remote = RemoteDrive(0, "n2", drive_id, connections, signer_for(keyring, "n1")("n2"))
    assert remote.probe() and sum(1 for _ in remote.shard_ids()) > 0
    # A node without internal TLS never reaches a node that requires it, nor sends in clear.
    plain = RemoteDrive(0, "n2", drive_id, NodeConnections(rows["n2"].internal_url, connect_timeout=2.0), signer_for(keyring, "n1")("n2"))
    assert not plain.probe()

    # The cluster key is rotated over the internal TLS (every step is a call to each node).
    made = hoard("cluster", "rotate-key", "--key-file", str(operator_key))
    assert made.returncode == 0, made.stderr
    new = read_key_file(operator_key).accepted
    assert new is not None
    for path_ in keys.values():
        _copy_key(operator_key, path_)
    assert wait_for(lambda: nodes[0].admin("cluster", "rotate-key", check=False).returncode == 0, timeout=20)
    assert catalog.info().key_ids == (new.key_id,)
    after = os.urandom(2 * MiB)
    b.put_object(Bucket="data", Key="after", Body=after)
    assert a.get_object(Bucket="data", Key="after")["Body"].read() == after
    for node in nodes:
        log = node.log()
        assert new.text() not in log and "Internal API (mutual TLS)" in log


def test_a_renewed_node_certificate_is_taken_up_without_a_restart(tls_cluster, tmp_path):
    catalog, _, _, certs, nodes = tls_cluster
    port = internal_port(nodes[0])

    def served_serial() -> int:
        with socket.create_connection((HOST, port), timeout=10) as raw, client_context(certs / "ca", certs / "n2").wrap_socket(raw, server_hostname=HOST) as s:
            der = s.getpeercert(binary_form=True)
        from cryptography import x509

        return x509.load_der_x509_certificate(der).serial_number

    before = served_serial()
    # A renewal that cannot be used (a key of another certificate) is refused, and the old pair stays.
    (certs / "n1" / "node.key").write_bytes((certs / "n3" / "node.key").read_bytes())
    assert wait_for(lambda: "internal TLS certificate changed, but cannot be used" in nodes[0].log(), timeout=20)
    assert served_serial() == before
    renewed = hoard("cluster", "node-cert", "--ca", str(certs / "ca"), "--node", "n1", "--host", HOST, "--force", str(certs / "n1"))
    assert renewed.returncode == 0, renewed.stderr
    assert wait_for(lambda: served_serial() != before, timeout=20)
    # The renewed certificate serves the cluster: the other node's calls and this node's own.
    a, b = nodes[0].client(), nodes[1].client()
    a.create_bucket(Bucket="renewed")
    n1, n2 = tmp_path / "n1", tmp_path / "n2"
    nodes[0].admin("pool", "add", f"n1:{n1}/d{{1...2}}", f"n2:{n2}/d{{1...2}}", "--set-size", "4")
    wait_for_writes(a, "renewed")
    wait_for_writes(b, "renewed")
    body = os.urandom(MiB)
    b.put_object(Bucket="renewed", Key="k", Body=body)
    assert a.get_object(Bucket="renewed", Key="k")["Body"].read() == body


def test_a_node_whose_certificate_the_others_would_refuse_does_not_start(cluster_db, tmp_path):
    meta, key_file = cluster_db
    certs = tmp_path / "certs"
    make_certs(certs, ["n1"])
    make_certs(tmp_path / "other", ["n1"])
    wrong_host = certs / "wrong"
    assert hoard("cluster", "node-cert", "--ca", str(certs / "ca"), "--node", "n1", "--host", "10.9.9.9", str(wrong_host)).returncode == 0

    def start(**env: str) -> subprocess.CompletedProcess:
        base = {
            "HOARD_META": meta, "HOARD_NODE": "n1", "HOARD_ADVERTISE": f"http://{HOST}:{free_port()}", "HOARD_ZONE": "z1",
            "HOARD_CLUSTER_KEY_FILE": str(key_file), "HOARD_SECRETS_KEY": SECRETS_KEY, "HOARD_MASTER_KEY": MASTER_KEY,
            "HOARD_INTERNAL_ADDRESS": f"{HOST}:{free_port()}", "HOARD_INTERNAL_TLS": tls_files(certs, "n1"),
        }  # fmt: skip
        command = [sys.executable, "-m", "hoard", "server", "--address", f"{HOST}:{free_port()}", str(tmp_path / "n1")]
        return subprocess.run(command, env=clean_env(**{k: v for k, v in {**base, **env}.items() if v}), capture_output=True, text=True, timeout=60)

    other_ca = start(HOARD_INTERNAL_TLS=f"{tmp_path / 'other/n1/node.crt'},{tmp_path / 'other/n1/node.key'},{certs / 'ca/ca.crt'}")
    assert other_ca.returncode == 2 and "would be refused" in other_ca.stderr and "issuer" in other_ca.stderr, other_ca.stderr
    not_named = start(HOARD_INTERNAL_TLS=f"{wrong_host / 'node.crt'},{wrong_host / 'node.key'},{certs / 'ca/ca.crt'}")
    assert not_named.returncode == 2 and "not valid for '127.0.0.1'" in not_named.stderr, not_named.stderr
    mismatched = start(HOARD_INTERNAL_TLS=f"{certs / 'n1/node.crt'},{wrong_host / 'node.key'},{certs / 'ca/ca.crt'}")
    assert mismatched.returncode == 2 and "is not the key of the certificate" in mismatched.stderr, mismatched.stderr
    half = start(HOARD_INTERNAL_ADDRESS="")
    assert half.returncode == 2 and "HOARD_INTERNAL_TLS is set but HOARD_INTERNAL_ADDRESS is not" in half.stderr, half.stderr
    # The server's own self-signed development certificate is not a node's: no client use.
    dev = tmp_path / "dev"
    assert hoard("admin", "certs", "self-signed", str(dev)).returncode == 0
    server_only = start(HOARD_INTERNAL_TLS=f"{dev / 'public.crt'},{dev / 'private.key'},{dev / 'public.crt'}")
    assert server_only.returncode == 2 and "unsuitable certificate purpose" in server_only.stderr, server_only.stderr
    # Nothing was registered by any of them.
    store = PostgresMetaStore(meta, pool_size=1)
    try:
        assert ClusterCatalog(store).nodes() == []
    finally:
        store.close()
