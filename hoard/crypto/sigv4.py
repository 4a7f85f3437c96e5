"""AWS Signature Version 4's building blocks: pure functions, no I/O, no clock.

What is here is SigV4 itself, owed nothing to S3: the canonical request, the string to sign,
the derived signing key, the HMAC, the constant-time comparison, AWS URI encoding, the
canonical query, the ISO 8601 basic timestamp and the ``Name=value, ...`` fields of an
Authorization header. S3's use of it (its payload modes, credential scope, aws-chunked bodies)
is in hoard.s3.auth.sigv4; Hoard's admin client and the requests nodes send each other
(hoard.cluster.internal_auth) sign with these same functions.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_AMZ_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$", re.ASCII)


class MalformedAuth(ValueError):
    """The Authorization header or presigned query does not parse."""


def authorization_fields(header: str, algorithm: str) -> dict[str, str]:
    """The ``Name=value`` fields of ``ALGORITHM Name=value, Name=value, ...``; MalformedAuth if
    the header names another algorithm or a field has no ``=``."""
    named, _, rest = header.strip().partition(" ")
    if named != algorithm:
        raise MalformedAuth("unsupported algorithm")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            raise MalformedAuth(f"malformed field {item!r}")
        fields[name.strip()] = value.strip()
    return fields


def uri_encode(text: str, keep_slash: bool) -> str:
    """AWS URI encoding: unreserved characters stay, everything else is %XX with uppercase hex."""
    return quote(text, safe="/~" if keep_slash else "~")


def canonical_query(pairs: Iterable[tuple[str, str]], exclude: str | None = None) -> str:
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
    headers: Mapping[str, str],
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


def string_to_sign(amz_date: str, scope: str, canonical: str, algorithm: str = ALGORITHM) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{algorithm}\n{amz_date}\n{scope}\n{digest}"


@lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key; cached because it changes once a day per key and region."""
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def signatures_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def format_amz_date(seconds: float) -> str:
    """``YYYYMMDDTHHMMSSZ`` (ISO 8601 basic, UTC), the form ``x-amz-date`` takes."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


@lru_cache(maxsize=1024)
def parse_amz_date(value: str) -> int | None:
    """Seconds since the epoch of an ISO 8601 basic timestamp, None if it is not one (a regular
    expression because time.strptime costs ~10x more, and every signed request carries one)."""
    match = _AMZ_DATE.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = map(int, match.groups())
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60 and second < 61):
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
