"""``hoard admin certs``: certificates for HTTPS (``hoard server --certs-dir DIR``)."""

from __future__ import annotations

import datetime
import ipaddress
import re
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hoard.durable import replace_file
from hoard.http.tls import CERT_FILE, KEY_FILE

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
_HOST_NAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
VALID_DAYS = 365  # Apple's clients refuse server certificates valid for more than 825 days


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host.lower())


def check_hosts(ctx: click.Context | None, param: click.Parameter | None, hosts: tuple[str, ...]) -> tuple[str, ...]:
    for host in hosts:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            if not _HOST_NAME.match(host.lower()):
                raise click.BadParameter(f"{host!r}: expected a host name (letters, digits, - and ., as in s3.example.com) or an IP address") from None
    return hosts


def self_signed(hosts: list[str], days: int = VALID_DAYS) -> tuple[bytes, bytes]:
    """A certificate for ``hosts`` (names or IP addresses) signed by its own key: (certificate,
    key), both PEM. A new key and a random serial number every time."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hoard development")])
    now = datetime.datetime.now(datetime.UTC)
    names = list(dict.fromkeys(_general_name(h) for h in hosts))
    public = key.public_key()
    # A leaf that is its own trust anchor: not a CA (browsers refuse a CA's certificate for a
    # site), with both key identifiers, which strict verifiers (Python 3.13's default) require.
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks a little behind still accept it
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


CA_DAYS = 3650  # a cluster's own CA, trusted by its nodes alone
NODE_DAYS = 825
CA_CERT, CA_KEY = "ca.crt", "ca.key"
NODE_CERT, NODE_KEY = "node.crt", "node.key"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def cluster_ca(name: str, days: int = CA_DAYS) -> tuple[bytes, bytes]:
    """A CA for one cluster's internal TLS (``hoard server --internal-tls``): (certificate, key), PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hoard cluster")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def node_certificate(ca_cert: bytes, ca_key: bytes, node: str, hosts: list[str], days: int = NODE_DAYS) -> tuple[bytes, bytes]:
    """A node's certificate issued by the cluster's CA, naming ``hosts`` (the host it advertises),
    usable to serve and to connect: (certificate, key), PEM."""
    issuer = x509.load_pem_x509_certificate(ca_cert)
    signer = serialization.load_pem_private_key(ca_key, password=None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key made by hoard cluster ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node)]))
        .issuer_name(issuer.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=days), issuer.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(_general_name(h) for h in hosts))), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def write_pair(folder: Path, names: tuple[str, str], pair: tuple[bytes, bytes], force: bool) -> None:
    """The certificate and key into ``folder`` (the key 0600, written first); raises
    ClickException for a pair already there without ``force``, or a folder that cannot be written."""
    cert_name, key_name = names
    existing = [folder / name for name in names if (folder / name).exists()]
    if existing and not force:
        raise click.ClickException(f"{existing[0]} already exists: give --force to replace it")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_file(folder / key_name, pair[1], 0o600)
        replace_file(folder / cert_name, pair[0], 0o644)
    except OSError as e:
        raise click.ClickException(f"cannot write in {folder}: {e.strerror or e}") from None


@click.group()
def certs() -> None:
    """Certificates for HTTPS (hoard server --certs-dir DIR)."""


@certs.command("self-signed")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", "hosts", multiple=True, metavar="NAME", callback=check_hosts, help="Another name or IP address clients use for the server (repeatable).")
@click.option("--force", is_flag=True, help="Replace a certificate and key already in DIR.")
def self_signed_command(folder: Path, hosts: tuple[str, ...], force: bool) -> None:
    """Make a self-signed certificate for development: DIR/public.crt and DIR/private.key.

    The certificate names localhost, 127.0.0.1 and ::1, and each --host. Serve it with
    `hoard server --certs-dir DIR`, and give clients DIR/public.crt as their CA bundle:
    `aws --ca-bundle DIR/public.crt`, AWS_CA_BUNDLE, boto3's verify=.
    """
    # The key first: a server watching the folder then finds the new certificate with its key.
    write_pair(folder, (CERT_FILE, KEY_FILE), self_signed([*dict.fromkeys([*DEFAULT_HOSTS, *hosts])]), force)
    click.echo(f"Wrote {folder / CERT_FILE} and {folder / KEY_FILE} (for {', '.join(dict.fromkeys([*DEFAULT_HOSTS, *hosts]))}).")
    click.echo(f"Serve it:        hoard server --certs-dir {folder} DATA_DIR")
    click.echo(f"Trust it:        export AWS_CA_BUNDLE={(folder / CERT_FILE).absolute()}")
