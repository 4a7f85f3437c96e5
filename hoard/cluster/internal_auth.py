"""Nodes' calls to each other (the internal API, ``/.hoard/internal/v1/``), signed with the
cluster key (hoard.cluster.keys) by Hoard's own SigV4 code (hoard.crypto.sigv4).

A signed request carries these headers::

    x-hoard-node    the node that sends it, by its name in the node registry
    x-hoard-to      the node it is meant for: a request captured on its way to one node is
                    refused by the others, whose nonce caches have never seen it
    x-hoard-date    when it was signed, ISO 8601 basic (20240102T030405Z); accepted 5 minutes
                    either side of the receiver's clock
    x-hoard-nonce   128 random bits as 32 hex digits, accepted once
    content-length  the body's length in bytes (0 for none); or, for a body streamed in chunks
                    whose length is not known when it starts (a shard being made),
    transfer-encoding  chunked, signed in content-length's place
    authorization   HOARD-HMAC-SHA256 Key=<key id>, Signature=<64 hex digits>

The signature is SigV4's, with these parts (D is x-hoard-date)::

    canonical request  METHOD \\n URI-encoded path \\n canonical query \\n
                       content-length:L \\n x-hoard-date:D \\n x-hoard-node:N \\n x-hoard-nonce:X \\n
                       x-hoard-to:T \\n \\n
                       content-length;x-hoard-date;x-hoard-node;x-hoard-nonce;x-hoard-to \\n
                       UNSIGNED-PAYLOAD
    string to sign     HOARD-HMAC-SHA256 \\n D \\n D[:8]/cluster/internal/aws4_request \\n
                       hex SHA-256 of the canonical request
    signing key        SigV4's derivation from "AWS4" + the key's base64 text, D[:8], "cluster",
                       "internal", "aws4_request"
    signature          hex HMAC-SHA256 of the string to sign under the signing key

The path is the decoded path, URI-encoded here the AWS way, so how a client happens to encode
it on the wire does not matter; the query is the decoded pairs, sorted.

The body is not hashed: a shard carries its own per-block BLAKE3 checksums, checked as it is
written and read, and hashing every body once more before sending would mean reading it twice
(or buffering it). Its length is signed, so it cannot be cut short or extended; a chunked body's
end is its last chunk, and the receiver keeps nothing of one that stops before it. The checksums
guard against bitrot, not against someone on the wire who rewrites bytes of the same length:
the internal API must run over TLS where the network between nodes is not trusted.

One node's nonce cache lives in one process. If several processes of a node answer the internal
API, a request replayed to a second process within the window is not caught there: the internal
API should be served by one process per node, or the cache shared.
"""

from __future__ import annotations

import heapq
import logging
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping

from hoard.cluster.keys import ClusterKey, Keyring
from hoard.crypto import sigv4

SCHEME = "HOARD-HMAC-SHA256"
REGION = "cluster"
SERVICE = "internal"
NODE_HEADER = "x-hoard-node"
TO_HEADER = "x-hoard-to"
DATE_HEADER = "x-hoard-date"
NONCE_HEADER = "x-hoard-nonce"
SIGNED_HEADERS = ("content-length", DATE_HEADER, NODE_HEADER, NONCE_HEADER, TO_HEADER)  # sorted, as SigV4 wants
CHUNKED_SIGNED_HEADERS = ("transfer-encoding", DATE_HEADER, NODE_HEADER, NONCE_HEADER, TO_HEADER)
UNHASHED_BODY = "UNSIGNED-PAYLOAD"  # SigV4's word for a payload the signature does not cover
WINDOW_SECONDS = 300
NONCE_BYTES = 16
# Room for ~1,650 signed requests a second over the 5-minute window (a 2-core node serves far
# fewer), at ~210 bytes an entry (measured with tracemalloc): ~105 MB at the very most.
NONCE_CACHE_CAPACITY = 500_000

_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,252}", re.ASCII)
_NONCE = re.compile(rf"[0-9a-f]{{{2 * NONCE_BYTES}}}", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)
_LENGTH = re.compile(r"[0-9]{1,19}", re.ASCII)

log = logging.getLogger(__name__)


class InternalAuthError(Exception):
    """An internal request refused: ``status`` is the HTTP status to answer (401: not signed by a
    holder of the cluster key, or not now; 403: signed, but by a node the registry does not know;
    503: too many requests in the window to remember one more nonce), ``reason`` says why and
    never holds the key or the signature."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign_request(
    keyring: Keyring,
    node: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    content_length: int | None,
    *,
    to: str,
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that sign a request from ``node`` to node ``to`` with the keyring's current
    key. ``content_length`` None: a chunked body (``transfer-encoding: chunked`` is among the
    headers). ``path`` is the decoded path and ``query`` the decoded pairs; ``now`` and ``nonce`` are
    the clock and a fresh random nonce unless given (tests give them, to get fixed vectors)."""
    for name in (node, to):
        if not _NODE_NAME.fullmatch(name):
            raise ValueError(f"not a node name: {name!r}")
    if content_length is not None and content_length < 0:
        raise ValueError("a content length is not negative")
    if nonce is not None and not _NONCE.fullmatch(nonce):
        raise ValueError(f"a nonce is {2 * NONCE_BYTES} hex digits")
    length = {"content-length": str(content_length)} if content_length is not None else {"transfer-encoding": "chunked"}
    headers = {
        **length,
        DATE_HEADER: sigv4.format_amz_date(time.time() if now is None else now),
        NODE_HEADER: node,
        NONCE_HEADER: secrets.token_hex(NONCE_BYTES) if nonce is None else nonce,
        TO_HEADER: to,
    }
    key = keyring.current
    signature = _signature(key, method, path, query, headers)
    headers["authorization"] = f"{SCHEME} Key={key.key_id}, Signature={signature}"
    return headers


# (method, path, query string, content length or None for a chunked body) -> the signed headers.
Signer = Callable[[str, str, str, "int | None"], dict[str, str]]


def signer_for(keyring: Keyring, me: str) -> Callable[[str], Signer]:
    """How node ``me`` signs its calls to each other node (what a ``RemoteDrive`` is given)."""

    def for_node(node: str) -> Signer:
        def sign(method: str, path: str, query: str, length: int | None) -> dict[str, str]:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            return sign_request(keyring, me, method, path, pairs, length, to=node)

        return sign

    return for_node


def _signature(key: ClusterKey, method: str, path: str, query: Iterable[tuple[str, str]], headers: Mapping[str, str]) -> str:
    date = headers[DATE_HEADER]
    signed = SIGNED_HEADERS if "content-length" in headers else CHUNKED_SIGNED_HEADERS
    canonical = sigv4.canonical_request(
        method, sigv4.uri_encode(path, keep_slash=True), sigv4.canonical_query(query), headers, signed, UNHASHED_BODY
    )
    scope = f"{date[:8]}/{REGION}/{SERVICE}/aws4_request"
    signing_key = sigv4.signing_key(key.text(), date[:8], REGION, SERVICE)
    return sigv4.sign(signing_key, sigv4.string_to_sign(date, scope, canonical, algorithm=SCHEME))


class NonceCache:
    """The nonces of requests accepted, each remembered until the request that carried it would
    be refused anyway as too old (its date plus the window), so memory is bounded by the rate of
    requests, and by ``capacity`` whatever the rate.

    When full, nonces past their time are forgotten first. If none is, the new request is refused
    (InternalAuthError 503) rather than room made by forgetting a live nonce: a forgotten nonce is
    a request that could be replayed, and a burst that fills the cache is better answered by the
    sender retrying a moment later. Thread-safe."""

    def __init__(self, capacity: int = NONCE_CACHE_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("a nonce cache holds at least one nonce")
        self.capacity = capacity
        self._until: dict[str, float] = {}
        self._by_time: list[tuple[float, str]] = []  # a heap: the first to expire first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._until)

    def remember(self, nonce: str, until: float, now: float) -> bool:
        """True if ``nonce`` is new, and remembered from now on until ``until``; False if it was
        seen before (a replay). InternalAuthError 503 if the cache is full of live nonces."""
        with self._lock:
            self._forget_expired(now)
            if nonce in self._until:
                return False
            if len(self._until) >= self.capacity:
                raise InternalAuthError(503, "too many internal requests in the window to tell a replay: try again")
            self._until[nonce] = until
            heapq.heappush(self._by_time, (until, nonce))
            return True

    def _forget_expired(self, now: float) -> None:
        while self._by_time and self._by_time[0][0] < now:
            _, nonce = heapq.heappop(self._by_time)
            del self._until[nonce]


class InternalVerifier:
    """Checks the signed requests made to ``node`` (this node's name) and says which node sent
    them. ``is_registered`` answers whether a node name is in the node registry."""

    def __init__(
        self,
        keyring: Keyring,
        is_registered: Callable[[str], bool],
        *,
        node: str,
        window: float = WINDOW_SECONDS,
        nonce_cache: NonceCache | None = None,
    ) -> None:
        self.keyring = keyring
        self.is_registered = is_registered
        self.node = node
        self.window = window
        self.nonces = NonceCache() if nonce_cache is None else nonce_cache

    def verify(
        self, method: str, path: str, query: Iterable[tuple[str, str]], headers: Mapping[str, str], now: float | None = None
    ) -> str:
        """The name of the node that signed this request, or InternalAuthError (logged, without
        the key or the signature). ``headers`` have lower-case names, as hoard.http's Request has
        them; ``path`` is the decoded path and ``query`` the decoded pairs."""
        try:
            return self._verify(method, path, list(query), headers, time.time() if now is None else now)
        except InternalAuthError as refusal:
            node = headers.get(NODE_HEADER, "")
            # The sender's name only once it is known to be a name, not any text a caller sent.
            shown = node if _NODE_NAME.fullmatch(node) else "?"
            log.warning("internal request %r %r refused (%d): %s [node %s]", method[:16], path[:200], refusal.status, refusal.reason, shown)
            raise

    def _verify(self, method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str], now: float) -> str:
        # The cheap checks that need no secret come first; the registry and the nonce cache are
        # reached only by requests signed with the cluster key, so a forger can neither learn
        # which names are registered nor fill the cache.
        key, signature = self._claimed_key(headers)
        node, signed_at = self._claimed_headers(headers)
        if abs(now - signed_at) > self.window:
            raise InternalAuthError(401, "signed too long ago" if signed_at < now else "signed in the future (clocks apart?)")
        if not sigv4.signatures_equal(_signature(key, method, path, query, headers), signature):
            raise InternalAuthError(401, "the signature does not match")
        if not self.is_registered(node):
            raise InternalAuthError(403, "the node is not registered")
        if not self.nonces.remember(headers[NONCE_HEADER], signed_at + self.window, now):
            raise InternalAuthError(401, "replayed: the nonce was seen before")
        return node

    def _claimed_key(self, headers: Mapping[str, str]) -> tuple[ClusterKey, str]:
        header = headers.get("authorization")
        if header is None:
            raise InternalAuthError(401, "not signed (no authorization header)")
        try:
            fields = sigv4.authorization_fields(header, SCHEME)
        except sigv4.MalformedAuth:
            raise InternalAuthError(401, f"the authorization header is not {SCHEME} Key=..., Signature=...") from None
        key_id, signature = fields.get("Key", ""), fields.get("Signature", "")
        if not _KEY_ID.fullmatch(key_id) or not _SIGNATURE.fullmatch(signature):
            raise InternalAuthError(401, "the authorization header lacks a key id or a signature")
        key = self.keyring.find(key_id)
        if key is None:
            raise InternalAuthError(401, f"signed with a key this node does not hold (key id {key_id})")
        return key, signature

    def _claimed_headers(self, headers: Mapping[str, str]) -> tuple[str, int]:
        if "content-length" in headers and "transfer-encoding" in headers:
            raise InternalAuthError(401, "both content-length and transfer-encoding")
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        for name in CHUNKED_SIGNED_HEADERS if chunked else SIGNED_HEADERS:
            if name not in headers:
                raise InternalAuthError(401, f"{name} is missing")
        node = headers[NODE_HEADER]
        if not _NODE_NAME.fullmatch(node):
            raise InternalAuthError(401, f"{NODE_HEADER} is not a node name")
        if headers[TO_HEADER] != self.node:
            raise InternalAuthError(401, "meant for another node")
        if not _NONCE.fullmatch(headers[NONCE_HEADER]):
            raise InternalAuthError(401, f"{NONCE_HEADER} is not {2 * NONCE_BYTES} hex digits")
        if not chunked and not _LENGTH.fullmatch(headers["content-length"]):
            raise InternalAuthError(401, "content-length is not a length")
        signed_at = sigv4.parse_amz_date(headers[DATE_HEADER])
        if signed_at is None:
            raise InternalAuthError(401, f"{DATE_HEADER} is not a date like 20240102T030405Z")
        return node, signed_at
