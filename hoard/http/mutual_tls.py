"""Mutual TLS between the nodes of a cluster (``hoard server --internal-tls CERT KEY CA
--internal-address HOST:PORT``).

Each node holds a certificate issued by the cluster's own CA, naming the host it advertises,
usable both to serve and to connect (extended key usages serverAuth and clientAuth). A node
serves the internal API on a listener of its own that completes a handshake only with a
certificate from that CA, and it connects to the other nodes presenting its certificate and
verifying theirs against the same CA and their host (verify-full). The HMAC signature with the
cluster key is still required on every request: TLS keeps an on-path attacker from reading or
changing what passes, the signature says which node sent it.

A renewed certificate and key (the same paths) are taken up while the node runs, as the S3
port's are (``hoard.http.tls``): checked first, including a handshake of the new pair with
itself, then loaded into the listener's context; the context used to connect is replaced whole,
since connections are made from it in other threads. A new CA needs a restart of every node.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509

from hoard.http.tls import CertificateError, CertificatePair, RenewablePair, check_pair, file_stamp, load_pair, new_context

log = logging.getLogger("hoard.tls")


class InternalTls(RenewablePair):
    """A node's certificate, key and cluster CA, and the two contexts made from them: one that
    serves the internal listener (``server_context``, kept for the listener's lifetime) and one
    to connect to the other nodes with (``client_context``, replaced on renewal)."""

    def __init__(self, cert: Path, key: Path, ca: Path, host: str) -> None:
        """``host``: the host this node advertises, which its certificate must name. Raises
        CertificateError, saying which file is wrong and why."""
        self.paths = (cert, key)
        self.ca_path = ca
        self.host = host
        self.ca = _read_ca(ca)
        self.pair = self._read()
        self.server_context = _server_context(self.ca)
        load_pair(self.server_context, self.pair)
        self.client_context = _client_context(self.ca, self.pair)

    def describe(self) -> str:
        return self.pair.describe()

    def connect_context(self) -> ssl.SSLContext:
        """The context a new connection to another node is made from (the newest pair's)."""
        return self.client_context

    def _read(self) -> CertificatePair:
        stamp = file_stamp(self.paths)
        contents = []
        for path in self.paths:
            try:
                contents.append(path.read_bytes())
            except OSError as e:
                raise CertificateError(f"cannot read {path}: {e.strerror or e}") from None
        cert, key = contents
        pair = CertificatePair(cert, key, stamp, check_pair(cert, key, (str(self.paths[0]), str(self.paths[1]))))
        _handshake_with_itself(self.ca, pair, self.host, self.paths[0])
        return pair

    def _refusal(self, error: CertificateError) -> str:
        return f"the internal TLS certificate changed, but cannot be used ({error}): still using {self.describe()}"

    def use(self, pair: CertificatePair) -> None:
        """Present ``pair`` on every connection made from now on, served and made."""
        load_pair(self.server_context, pair)
        self.client_context = _client_context(self.ca, pair)
        self.pair = pair
        self._refused = None
        log.info("internal TLS: using the new certificate for %s", self.describe())


def _read_ca(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CertificateError(f"cannot read the CA file {path}: {e.strerror or e}") from None
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(f"the CA file {path} holds no PEM certificate") from None
    return data


def _server_context(ca: bytes) -> ssl.SSLContext:
    context = new_context()
    context.load_verify_locations(cadata=ca.decode("ascii", "replace"))
    context.verify_mode = ssl.CERT_REQUIRED  # no certificate from the CA, no handshake
    return context


class _SilentPeerSocket(ssl.SSLSocket):
    """A TLS socket that says when the peer went silent, as a plain socket does.

    When the kernel gives up on a peer that stopped acknowledging (TCP_USER_TIMEOUT, keep-alive
    probes), a plain socket's call fails with ETIMEDOUT, which tells the caller the node is gone
    (hoard.storage.remote marks every drive of it offline at once). OpenSSL reports the same end
    as an end of stream, the way a node closing a kept-alive connection looks, which the caller
    answers by trying again on a new connection: a second timeout. The connection's TCP state
    tells them apart: segments or probes left unacknowledged mean the peer is silent."""

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        try:
            count = super().recv_into(buffer, nbytes, flags)
        except ssl.SSLEOFError:
            self._raise_if_silent()
            raise
        if count == 0 and (nbytes or len(buffer)):
            self._raise_if_silent()
        return count

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        try:
            data = super().recv(buflen, flags)
        except ssl.SSLEOFError:
            self._raise_if_silent()
            raise
        if not data and buflen:
            self._raise_if_silent()
        return data

    def sendall(self, data: Any, flags: int = 0) -> None:
        try:
            super().sendall(data, flags)
        except ssl.SSLEOFError:
            self._raise_if_silent()
            raise

    def _raise_if_silent(self) -> None:
        try:
            info = self.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        except (OSError, AttributeError):
            return
        retransmits, probes = info[2], info[3]  # struct tcp_info: state, ca_state, retransmits, probes
        if retransmits or probes:
            raise TimeoutError(errno.ETIMEDOUT, "the node stopped acknowledging (its TLS connection timed out)")


def _client_context(ca: bytes, pair: CertificatePair) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=ca.decode("ascii", "replace"))
    load_pair(context, pair)
    if hasattr(socket, "TCP_INFO"):  # Linux's
        context.sslsocket_class = _SilentPeerSocket
    return context


def _handshake_with_itself(ca: bytes, pair: CertificatePair, host: str, cert_path: Path) -> None:
    """Raise CertificateError unless a node holding ``pair`` can both serve to and connect to
    another holding the same, as the other nodes will check it (chain to the CA, the advertised
    host named, usable as server and as client): in memory, before anything listens."""
    server = _server_context(ca)
    load_pair(server, pair)
    client = _client_context(ca, pair)
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    connecting = client.wrap_bio(to_client, to_server, server_hostname=host)
    serving = server.wrap_bio(to_server, to_client, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(8):
        for side, end in (("client", connecting), ("server", serving)):
            if done[side]:
                continue
            try:
                end.do_handshake()
                done[side] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as e:
                role = "the other nodes connecting to this one" if side == "client" else "the other nodes when this one connects"
                raise CertificateError(
                    f"{cert_path} would be refused by {role}: {e.verify_message} "
                    f"(it must be issued by the CA given and name {host}, the host this node advertises)"
                ) from None
            except ssl.SSLError as e:
                raise CertificateError(f"{cert_path} cannot be used for internal TLS: {e.reason or e}") from None
        if all(done.values()):
            # TLS 1.3: the server checks the client's certificate after the client is done;
            # one read on the client side surfaces a refusal sent as an alert.
            try:
                connecting.read(1)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLError as e:
                raise CertificateError(f"{cert_path} would be refused as a client certificate: {e.reason or e}") from None
            return
    raise CertificateError(f"{cert_path}: a handshake with itself did not complete")
