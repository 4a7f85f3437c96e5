"""AWS Signature Version 4 as S3 uses it: pure functions, no I/O.

S3 differs from other AWS services in two ways that matter here: the canonical URI is encoded
once and never normalised (``//`` and ``..`` in keys are significant), and the payload hash is
whatever ``x-amz-content-sha256`` says (a hex digest, UNSIGNED-PAYLOAD or a STREAMING-* mode).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)


class MalformedAuth(ValueError):
    """The Authorization header or presigned query does not parse."""


@dataclass(frozen=True)
class Credential:
    access_key: str
    date: str  # YYYYMMDD
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class AuthorizationHeader:
    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str


def parse_credential(value: str) -> Credential:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise MalformedAuth(f"invalid credential: {value!r}")
    return Credential(access_key=parts[0], date=parts[1], region=parts[2], service=parts[3])


def parse_authorization(header: str) -> AuthorizationHeader:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise MalformedAuth("unsupported algorithm")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            raise MalformedAuth(f"malformed field {item!r}")
        fields[name.strip()] = value.strip()
    try:
        credential = parse_credential(fields["Credential"])
        signed = tuple(fields["SignedHeaders"].split(";"))
        signature = fields["Signature"]
    except KeyError as missing:
        raise MalformedAuth(f"missing {missing}") from None
    return AuthorizationHeader(credential, signed, signature)


def uri_encode(text: str, keep_slash: bool) -> str:
    """AWS URI encoding: unreserved characters stay, everything else is %XX with uppercase hex."""
    return quote(text, safe="/~" if keep_slash else "~")


def canonical_query(pairs: list[tuple[str, str]], exclude: str | None = None) -> str:
    encoded = sorted(
        (uri_encode(k, False), uri_encode(v, False)) for k, v in pairs if k != exclude
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def _trim(value: str) -> str:
    return " ".join(value.split())


def _as_signed(value: str) -> str:
    """A header value as text whose UTF-8 encoding is the bytes received (HTTP hands us latin-1).

    The signature covers the bytes on the wire; undecodable bytes survive as surrogate escapes.
    """
    try:
        return value.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value


def canonical_request(
    method: str,
    canonical_uri: str,
    query: str,
    headers: dict[str, str],
    signed_headers: tuple[str, ...],
    payload_hash: str,
) -> str:
    lines = [method, canonical_uri, query]
    for name in signed_headers:
        lines.append(f"{name}:{_trim(_as_signed(headers.get(name, '')))}")
    lines.append("")
    lines.append(";".join(signed_headers))
    lines.append(payload_hash)
    return "\n".join(lines)


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key; cached because it changes once a day per key and region."""
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def chunk_string_to_sign(amz_date: str, scope: str, previous_signature: str, chunk_sha256: str) -> str:
    """String to sign for one aws-chunked chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""
    return (
        f"{ALGORITHM}-PAYLOAD\n{amz_date}\n{scope}\n{previous_signature}\n"
        f"{EMPTY_SHA256}\n{chunk_sha256}"
    )


def trailer_string_to_sign(amz_date: str, scope: str, previous_signature: str, trailer: bytes) -> str:
    """String to sign for the trailing headers of a signed aws-chunked body."""
    digest = hashlib.sha256(trailer).hexdigest()
    return f"{ALGORITHM}-TRAILER\n{amz_date}\n{scope}\n{previous_signature}\n{digest}"


def signatures_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
