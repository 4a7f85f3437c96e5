"""SigV4 header signing for the load generator: small pure functions, no I/O, no clock.

The benchmark signs its own requests rather than going through botocore because botocore's
per-request overhead (event hooks, model lookups) would make the client, not the server, the
bottleneck on a 2-core machine. tests/unit/test_bench_signer.py checks that these functions
produce the very Authorization header botocore's SigV4Auth does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def uri_encode(text: str, *, keep_slash: bool) -> str:
    """AWS URI encoding: unreserved characters (A-Z a-z 0-9 - _ . ~) stay, all else is %XX.

    S3 encodes the path once and never normalises it, so a key's ``/`` stays a ``/``.
    """
    return quote(text, safe="/~" if keep_slash else "~")


def encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The canonical query string, which is also what we send: sent == signed avoids any doubt."""
    encoded = sorted((uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


@lru_cache(maxsize=16)
def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    """The derived key for one day; cached because it is four HMACs nobody needs to redo."""
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_request(method: str, encoded_path: str, query: str, headers: Mapping[str, str], payload_hash: str) -> tuple[str, str]:
    """Return (canonical request, signed header list). Every header given is signed."""
    lowered = sorted((name.lower(), " ".join(value.split())) for name, value in headers.items())
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in lowered)
    signed = ";".join(name for name, _ in lowered)
    return "\n".join((method.upper(), encoded_path, query, canonical_headers, signed, payload_hash)), signed


def authorization(
    *,
    method: str,
    encoded_path: str,
    query: str,
    headers: Mapping[str, str],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    region: str,
    amz_date: str,
    service: str = "s3",
) -> str:
    """The Authorization header value for a request whose headers (host, x-amz-date,
    x-amz-content-sha256, ...) are all given in ``headers``; ``amz_date`` is YYYYMMDDTHHMMSSZ."""
    creq, signed = canonical_request(method, encoded_path, query, headers, payload_hash)
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    signature = hmac.new(signing_key(secret_key, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
