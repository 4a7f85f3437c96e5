"""Internal TLS's certificates and settings: what a node checks before it starts (a handshake of
its certificate with itself, as the other nodes will check it), a renewal taken up or refused,
and the settings that go together."""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from hoard.cli.certs import cluster_ca, node_certificate, self_signed
from hoard.config import Settings
from hoard.http.mutual_tls import InternalTls
from hoard.http.tls import CertificateError
from hoard.membership import internal_url
from hoard.storage.remote import NodeConnections


def write(folder: Path, pair: tuple[bytes, bytes], names: tuple[str, str] = ("node.crt", "node.key")) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / names[0], folder / names[1]
    cert.write_bytes(pair[0])
    key.write_bytes(pair[1])
    return cert, key


@pytest.fixture
def ca(tmp_path) -> tuple[bytes, bytes, Path]:
    pair = cluster_ca("test CA")
    cert, _ = write(tmp_path / "ca", pair, ("ca.crt", "ca.key"))
    return pair[0], pair[1], cert


def test_a_node_certificate_of_the_ca_naming_the_host_is_taken(ca, tmp_path):
    ca_cert, ca_key, ca_file = ca
    cert, key = write(tmp_path / "n1", node_certificate(ca_cert, ca_key, "n1", ["10.0.0.11", "n1.example"]))
    tls = InternalTls(cert, key, ca_file, host="10.0.0.11")
    assert "10.0.0.11" in tls.describe() and "n1.example" in tls.describe()
    assert InternalTls(cert, key, ca_file, host="n1.example").server_context.verify_mode == ssl.CERT_REQUIRED
    client = tls.connect_context()
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    "case, message",
    [
        ("other host", "not valid for '10.0.0.11'"),
        ("other CA", "unable to get local issuer certificate"),
        ("key of another", "is not the key of the certificate"),
        ("server only", "unsuitable certificate purpose"),
        ("not a certificate", "holds no PEM certificate"),
        ("no CA file", "cannot read the CA file"),
    ],
)
def test_a_certificate_the_other_nodes_would_refuse_is_refused_saying_why(ca, tmp_path, case, message):
    ca_cert, ca_key, ca_file = ca
    good = node_certificate(ca_cert, ca_key, "n1", ["10.0.0.11"])
    other_ca = cluster_ca("other")
    pair = {
        "other host": node_certificate(ca_cert, ca_key, "n1", ["10.0.0.12"]),
        "other CA": node_certificate(*other_ca, "n1", ["10.0.0.11"]),
        "key of another": (good[0], node_certificate(ca_cert, ca_key, "n2", ["10.0.0.11"])[1]),
        "server only": self_signed(["10.0.0.11"]),  # serverAuth alone: no use as a client
        "not a certificate": (b"nonsense", good[1]),
        "no CA file": good,
    }[case]
    cert, key = write(tmp_path / "n1", pair)
    if case == "server only":
        ca_file = cert  # its own CA: only its purpose is wrong
    if case == "no CA file":
        ca_file = tmp_path / "missing.crt"
    with pytest.raises(CertificateError, match=message):
        InternalTls(cert, key, ca_file, host="10.0.0.11")


def test_a_renewed_pair_is_taken_up_and_a_broken_one_left_alone(ca, tmp_path):
    ca_cert, ca_key, ca_file = ca
    cert, key = write(tmp_path / "n1", node_certificate(ca_cert, ca_key, "n1", ["10.0.0.11"]))
    tls = InternalTls(cert, key, ca_file, host="10.0.0.11")
    assert tls.changed() is None  # nothing changed
    first_client, serial = tls.connect_context(), tls.pair.leaf.serial_number

    key.write_bytes(node_certificate(ca_cert, ca_key, "n2", ["10.0.0.11"])[1])  # a key of another certificate
    old = time.time() - 10
    for path in (cert, key):
        os.utime(path, (old, old))  # settled: refused at once, not waited for
    assert tls.changed() is None and tls.pair.leaf.serial_number == serial

    write(tmp_path / "n1", node_certificate(ca_cert, ca_key, "n1", ["10.0.0.11"]))
    renewed = tls.changed()
    assert renewed is not None and renewed.leaf.serial_number != serial
    tls.use(renewed)
    assert tls.pair.leaf.serial_number == renewed.leaf.serial_number
    assert tls.connect_context() is not first_client  # connections made from now on present the new pair


def test_internal_tls_settings_go_together(tmp_path):
    node = {"node": "n1", "meta": "postgresql://x@127.0.0.1/x", "advertise": "http://10.0.0.11:9000"}
    files = "a.crt,a.key,ca.crt"
    settings = Settings(**node, internal_address="0.0.0.0:9100", internal_tls=files)
    assert settings.internal_tls_files == (Path("a.crt"), Path("a.key"), Path("ca.crt"))
    assert internal_url(settings) == "https://10.0.0.11:9100"
    assert internal_url(Settings(**node)) == ""
    for wrong, message in (
        ({**node, "internal_tls": files}, "HOARD_INTERNAL_TLS is set but HOARD_INTERNAL_ADDRESS is not"),
        ({**node, "internal_address": "0.0.0.0:9100"}, "HOARD_INTERNAL_ADDRESS is set but HOARD_INTERNAL_TLS is not"),
        ({"internal_address": "0.0.0.0:9100", "internal_tls": files}, "HOARD_NODE is not"),
        ({**node, "internal_address": "0.0.0.0:9000", "address": "0.0.0.0:9000", "internal_tls": files}, "a port of its own"),
        ({**node, "internal_address": "0.0.0.0:9100", "internal_tls": "a.crt,a.key"}, "internal_tls"),
    ):
        with pytest.raises(ValidationError, match=message):
            Settings(**wrong)


def test_a_node_with_internal_tls_sends_nothing_in_clear_and_one_without_cannot_call_it(ca, tmp_path):
    ca_cert, ca_key, ca_file = ca
    cert, key = write(tmp_path / "n1", node_certificate(ca_cert, ca_key, "n1", ["127.0.0.1"]))
    tls = InternalTls(cert, key, ca_file, host="127.0.0.1")
    for connections, says in (
        (NodeConnections("http://127.0.0.1:1", tls=tls.connect_context), "sends nothing in clear"),
        (NodeConnections("https://127.0.0.1:1"), "has no --internal-tls"),
    ):
        with pytest.raises(ConnectionRefusedError, match=says):
            connections.take()


def test_rebuild_index_calls_tls_nodes_with_a_certificate_only(ca, tmp_path):
    from hoard.admin.cluster_rebuild import RebuildRefused, _tls

    ca_cert, ca_key, ca_file = ca
    cert, key = write(tmp_path / "n1", node_certificate(ca_cert, ca_key, "n1", ["10.0.0.11"]))
    plain = {"nodes": [{"name": "n1", "advertise": "http://10.0.0.11:9000", "zone": "z1"}]}  # a layout kept before schema 4
    tls = {"nodes": [{"name": "n1", "advertise": "http://10.0.0.11:9000", "zone": "z1", "internal": "https://10.0.0.11:9100"}]}
    assert _tls(plain, "n1", None) is None
    with pytest.raises(RebuildRefused, match="n1 take internal calls over TLS only: give --internal-tls"):
        _tls(tls, "n1", None)
    context = _tls(tls, "n1", (cert, key, ca_file))
    assert context is not None and context().check_hostname
    with pytest.raises(RebuildRefused, match="--internal-tls: .* not valid for '10.0.0.12'"):
        _tls({"nodes": [dict(tls["nodes"][0], advertise="http://10.0.0.12:9000")]}, "n1", (cert, key, ca_file))
