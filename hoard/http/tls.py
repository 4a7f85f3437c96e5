"""HTTPS: the server's certificate and key, served through one ``ssl.SSLContext`` that every
listening socket's transports use, and replaced inside it when the files change.

A renewal (certbot, a cron job) replaces ``public.crt`` and ``private.key`` while the server runs.
``load_cert_chain`` on the context in use makes every connection accepted afterwards present the
new pair, while connections already open keep the one they were made with. It must never be
called with a bad pair: OpenSSL installs the new certificate before it finds that the key does
not match, which would leave the context with a certificate and no key, and every handshake
failing. So a new pair is read once (both files), checked in a context of its own, and only then
loaded into the one in use, from the very bytes that were checked (in-memory files: the private
key is never copied to disk, and a file replaced again in between cannot slip in unchecked).
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

log = logging.getLogger("hoard.tls")

CERT_FILE = "public.crt"
KEY_FILE = "private.key"

# (device, inode, size, mtime) of each file: a new file renamed into place, a symlink pointed
# elsewhere (certbot's live/ folder) and a file rewritten in place all change it.
Stamp = tuple[tuple[int, int, int, int], ...]
# A renewal writes the certificate and the key one after the other: a pair that does not match
# yet is refused only once both files have been left alone this long.
SETTLE_NS = 2_000_000_000


class CertificateError(Exception):
    """A certificate and key that cannot be served; the message is one line saying why (the
    folder's files named without the folder, which whoever reports it names)."""


@dataclass(frozen=True)
class CertificatePair:
    """Both files as read at one moment, checked: they make a pair OpenSSL will serve."""

    cert: bytes
    key: bytes
    stamp: Stamp
    leaf: x509.Certificate

    def describe(self) -> str:
        """For the log: whom the certificate names, its serial number and when it expires."""
        names = certificate_names(self.leaf) or [self.leaf.subject.rfc4514_string()]
        until = self.leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
        return f"{', '.join(names)} (serial {self.leaf.serial_number:x}, valid until {until})"

    @property
    def self_signed(self) -> bool:
        """Whether the certificate is its own issuer: clients then need it as their CA bundle."""
        if self.leaf.issuer != self.leaf.subject:
            return False
        try:
            self.leaf.verify_directly_issued_by(self.leaf)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


def certificate_names(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a certificate's subject alternative names hold."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in san if isinstance(name, x509.DNSName | x509.IPAddress)]


def new_context() -> ssl.SSLContext:
    """A server context with no certificate yet: TLS 1.2 and 1.3, no renegotiation (a client could
    make the server redo handshakes, its most expensive work, at will)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION
    return context


def file_stamp(paths: tuple[Path, ...]) -> Stamp:
    stamps = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            stamps.append((0, 0, -1, 0))  # missing: a change too, to be read (and refused) once
            continue
        stamps.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def check_pair(cert: bytes, key: bytes, names: tuple[str, str] = (CERT_FILE, KEY_FILE)) -> x509.Certificate:
    """The certificate the pair serves; raises CertificateError saying what is wrong in words
    (OpenSSL's own messages, such as "PEM lib", say little). ``names``: the files', for the message."""
    cert_name, key_name = names
    try:
        chain = x509.load_pem_x509_certificates(cert)
    except ValueError:
        raise CertificateError(f"{cert_name} holds no PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except TypeError:
        raise CertificateError(f"{key_name} is encrypted: give the key without a passphrase") from None
    except (ValueError, serialization.UnsupportedAlgorithm):
        raise CertificateError(f"{key_name} holds no PEM private key") from None
    leaf = chain[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*spki) != private.public_key().public_bytes(*spki):
        raise CertificateError(f"{key_name} is not the key of the certificate in {cert_name}")
    return leaf


def _memory_file(stack: ExitStack, name: str, data: bytes) -> str:
    """A path OpenSSL can open that holds ``data`` in memory only."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    stack.callback(os.close, fd)
    os.write(fd, data)
    return f"/proc/self/fd/{fd}"


def load_pair(context: ssl.SSLContext, pair: CertificatePair) -> None:
    """Put ``pair`` into ``context`` from the bytes that were checked (see the module's text)."""
    with ExitStack() as stack:
        context.load_cert_chain(_memory_file(stack, "hoard-cert", pair.cert), _memory_file(stack, "hoard-key", pair.key))


class RenewablePair:
    """A certificate and key in use that their files on disk may replace (a renewal): ``_read``
    reads and checks them, ``changed`` says whether a good new pair is there to ``use``."""

    paths: tuple[Path, ...]
    pair: CertificatePair
    _refused: Stamp | None = None  # a bad replacement, said once

    def _read(self) -> CertificatePair:
        raise NotImplementedError

    def _refusal(self, error: CertificateError) -> str:
        """The log line for a replacement that cannot be used."""
        raise NotImplementedError

    def changed(self) -> CertificatePair | None:
        """A good pair that replaced the one in use, or None. A bad one is logged (once) and
        left alone: the pair in use stays. Blocking: run it in a thread."""
        stamp = file_stamp(self.paths)
        if stamp in (self.pair.stamp, self._refused):
            return None
        try:
            pair = self._read()
        except CertificateError as e:
            if max(mtime for *_, mtime in stamp) > time.time_ns() - SETTLE_NS:
                return None  # one file is new, the other perhaps not yet: look again at the next check
            self._refused = stamp
            log.error("%s", self._refusal(e))
            return None
        if pair.cert == self.pair.cert and pair.key == self.pair.key:
            self.pair = pair  # touched or copied again, not changed
            return None
        return pair


class ServerCertificate(RenewablePair):
    """The pair in a certificates folder, and the context that serves it.

    ``context`` is handed to the server once; ``changed`` (blocking: run it in a thread) reads a
    pair that replaced the one served, and ``use`` puts it into service (in the event loop's
    thread, the one that makes connections from the context). In each process: a worker the
    supervisor forks has its own copy of the context, and watches for itself.
    """

    def __init__(self, folder: Path) -> None:
        """Raises CertificateError if the folder does not hold a pair that can be served."""
        self.folder = folder
        self.paths = (folder / CERT_FILE, folder / KEY_FILE)
        self.context = new_context()
        self.pair = self._read()
        load_pair(self.context, self.pair)

    def _refusal(self, error: CertificateError) -> str:
        return f"the certificate in {self.folder} changed, but cannot be served ({error}): still serving {self.pair.describe()}"

    def _read(self) -> CertificatePair:
        """Both files, checked; raises CertificateError."""
        if not self.folder.is_dir():
            raise CertificateError(f"not a folder (it should hold {CERT_FILE} and {KEY_FILE})")
        stamp = file_stamp(self.paths)
        contents = []
        for path in self.paths:
            try:
                contents.append(path.read_bytes())
            except FileNotFoundError:
                raise CertificateError(f"there is no {path.name} in it (it should hold {CERT_FILE} and {KEY_FILE})") from None
            except OSError as e:
                raise CertificateError(f"cannot read {path.name}: {e.strerror or e}") from None
        cert, key = contents
        pair = CertificatePair(cert, key, stamp, check_pair(cert, key))
        try:
            load_pair(new_context(), pair)  # what OpenSSL itself would refuse (a key type it lacks, say)
        except (ssl.SSLError, OSError) as e:
            raise CertificateError(f"OpenSSL cannot serve them: {e}") from None
        return pair

    def use(self, pair: CertificatePair) -> None:
        """Serve ``pair`` to every connection made from now on."""
        load_pair(self.context, pair)
        self.pair = pair
        self._refused = None
        log.info("serving the new certificate for %s", pair.describe())
        if warning := self.expiry_warning():
            log.warning("%s", warning)

    def expiry_warning(self, now: datetime.datetime | None = None) -> str | None:
        """What is wrong with the served certificate's dates, if anything: clients refuse it then."""
        now = now or datetime.datetime.now(datetime.UTC)
        leaf = self.pair.leaf
        if now > leaf.not_valid_after_utc:
            return f"the certificate in {self.folder} expired on {leaf.not_valid_after_utc:%Y-%m-%d}: clients will refuse it"
        if now < leaf.not_valid_before_utc:
            return f"the certificate in {self.folder} is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M UTC}: clients will refuse it until then"
        return None
