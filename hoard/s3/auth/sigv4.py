"""AWS Signature Version 4 as S3 uses it: pure functions, no I/O.

SigV4's own building blocks (canonical request, signing key, HMAC, URI encoding) are in
hoard.crypto.sigv4; here is what S3 adds. S3 differs from other AWS services in two ways that
matter: the canonical URI is encoded once and never normalised (``//`` and ``..`` in keys are
significant), and the payload hash is whatever ``x-amz-content-sha256`` says (a hex digest,
UNSIGNED-PAYLOAD or a STREAMING-* mode).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hoard.crypto.sigv4 import ALGORITHM, EMPTY_SHA256, MalformedAuth, authorization_fields

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)


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
    fields = authorization_fields(header, ALGORITHM)
    try:
        credential = parse_credential(fields["Credential"])
        signed = tuple(fields["SignedHeaders"].split(";"))
        signature = fields["Signature"]
    except KeyError as missing:
        raise MalformedAuth(f"missing {missing}") from None
    return AuthorizationHeader(credential, signed, signature)


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
