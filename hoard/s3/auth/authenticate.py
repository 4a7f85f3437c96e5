"""Who sent this request: SigV4 in the Authorization header, a presigned query, or nobody."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass, field

from hoard.crypto import sigv4
from hoard.http.numbers import decimal
from hoard.http.request import Request
from hoard.iam.credentials import Identity, KeyRing
from hoard.s3.auth import sigv2
from hoard.s3.auth.sigv4 import STREAMING_MODES, UNSIGNED_PAYLOAD, Credential, parse_authorization, parse_credential
from hoard.s3.errors import S3Error

MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
# The query parameters of query-string authentication itself: never taken as hoisted headers.
_QUERY_AUTH = {
    "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires", "x-amz-signedheaders",
    "x-amz-signature", "x-amz-security-token", "x-amz-content-sha256",
}  # fmt: skip
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class AuthContext:
    """The authenticated caller, and what the body reader needs to verify the payload."""

    identity: Identity | None  # None: anonymous
    payload_hash: str  # hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* mode
    signing_key: bytes = b""
    scope: str = ""
    amz_date: str = ""
    seed_signature: str = ""
    # x-amz-* headers a presigned URL carries in its query (SDKs "hoist" them there; the
    # signature covers the query, so they are as trusted as signed headers). S3 applies them.
    hoisted: dict[str, str] = field(default_factory=dict)

    @property
    def streaming(self) -> bool:
        return self.payload_hash in STREAMING_MODES

    @property
    def signed_payload_sha256(self) -> str | None:
        return self.payload_hash if _HEX64.match(self.payload_hash) else None


def _require_signed_amz_headers(req: Request, signed_headers: tuple[str, ...], exempt: tuple[str, ...] = ()) -> None:
    """S3 refuses x-amz-* headers the signature does not cover: they change what a request does
    (x-amz-copy-source turns a presigned PUT into a copy of any object)."""
    signed = set(signed_headers)
    unsigned = sorted(n for n in req.headers if n.startswith("x-amz-") and n not in signed and n not in exempt)
    if unsigned:
        raise S3Error(
            "AccessDenied", "There were headers present in the request which were not signed", HeadersNotSigned=", ".join(unsigned)
        )


def _parse_amz_date(value: str) -> int:
    seconds = sigv4.parse_amz_date(value)
    if seconds is None:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    return seconds


def _parse_http_date(value: str) -> tuple[int, str]:
    from email.utils import mktime_tz, parsedate_tz

    parsed = parsedate_tz(value)
    if parsed is None:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    ts = mktime_tz(parsed)
    return ts, sigv4.format_amz_date(ts)


class Authenticator:
    def __init__(self, keyring: KeyRing, region: str, strict_region: bool, domain: str | None = None) -> None:
        self.keyring = keyring
        self.region = region
        self.strict_region = strict_region
        self.domain = domain  # virtual-hosted style: SigV2 signs the bucket from the host name

    def authenticate(self, req: Request) -> AuthContext:
        header = req.headers.get("authorization")
        if header is not None:
            return self._from_header(req, header)
        if "X-Amz-Signature" in req.params or "X-Amz-Credential" in req.params:
            return self._from_query(req)
        if "Signature" in req.params and "AWSAccessKeyId" in req.params:
            return self._from_query_v2(req)
        return AuthContext(identity=None, payload_hash=UNSIGNED_PAYLOAD)

    def _identity(self, credential: Credential) -> Identity:
        if credential.service != "s3":
            raise S3Error(
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; incorrect service \"{credential.service}\". This endpoint belongs to \"s3\".",
            )
        if self.strict_region and credential.region != self.region:
            raise S3Error(
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; the region '{credential.region}' is wrong; expecting '{self.region}'",
                Region=self.region,
            )
        identity = self.keyring.get(credential.access_key)
        if identity is None:
            raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=credential.access_key)
        return identity

    def _check_signature(
        self,
        req: Request,
        identity: Identity,
        credential: Credential,
        amz_date: str,
        signed_headers: tuple[str, ...],
        payload_hash: str,
        signature: str,
        query: str,
    ) -> bytes:
        key = sigv4.signing_key(identity.secret_key, credential.date, credential.region, credential.service)
        # Clients disagree on how to encode a key in the path; S3 signs the form AWS SDKs send.
        uris = [sigv4.uri_encode(req.path, keep_slash=True)]
        if req.raw_path not in uris:
            uris.append(req.raw_path)
        for uri in uris:
            canonical = sigv4.canonical_request(
                req.method, uri, query, req.headers, signed_headers, payload_hash
            )
            expected = sigv4.sign(key, sigv4.string_to_sign(amz_date, credential.scope, canonical))
            if sigv4.signatures_equal(expected, signature):
                return key
        raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=credential.access_key)

    def _from_header(self, req: Request, header: str) -> AuthContext:
        if header.startswith("AWS "):
            return self._from_header_v2(req, header)
        try:
            auth = parse_authorization(header)
        except sigv4.MalformedAuth as e:
            raise S3Error("AuthorizationHeaderMalformed", f"The authorization header is malformed; {e}") from None
        if "host" not in auth.signed_headers:
            raise S3Error("AuthorizationHeaderMalformed", "The authorization header is malformed; host must be signed")
        if "x-amz-date" in req.headers:
            amz_date = req.headers["x-amz-date"]
            ts = _parse_amz_date(amz_date)
        elif "date" in req.headers:
            ts, amz_date = _parse_http_date(req.headers["date"])
        else:
            raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
        if amz_date[:8] != auth.credential.date:
            raise S3Error(
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date: \"{auth.credential.date}\".",
            )
        identity = self._identity(auth.credential)
        now = time.time()
        if abs(now - ts) > MAX_SKEW_SECONDS:
            raise S3Error(
                "RequestTimeTooSkewed",
                RequestTime=amz_date,
                ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
            )
        payload_hash = req.headers.get("x-amz-content-sha256")
        if payload_hash is None:
            raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        if not (
            payload_hash == UNSIGNED_PAYLOAD
            or payload_hash in STREAMING_MODES
            or _HEX64.match(payload_hash)
        ):
            raise S3Error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-*, or a valid sha256 value.")
        _require_signed_amz_headers(req, auth.signed_headers)
        query = sigv4.canonical_query(req.query)
        key = self._check_signature(
            req, identity, auth.credential, amz_date, auth.signed_headers, payload_hash, auth.signature, query
        )
        return AuthContext(
            identity=identity,
            payload_hash=payload_hash,
            signing_key=key,
            scope=auth.credential.scope,
            amz_date=amz_date,
            seed_signature=auth.signature,
        )

    def _from_query(self, req: Request) -> AuthContext:
        p = req.params
        try:
            if p["X-Amz-Algorithm"] != sigv4.ALGORITHM:
                raise S3Error("AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
            credential = parse_credential(p["X-Amz-Credential"])
            amz_date = p["X-Amz-Date"]
            expires = decimal(p["X-Amz-Expires"], signed=True)
            signed_headers = tuple(p["X-Amz-SignedHeaders"].split(";"))
            signature = p["X-Amz-Signature"]
        except (KeyError, ValueError, sigv4.MalformedAuth):
            raise S3Error(
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            ) from None
        if expires is None:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires should be a number")
        # A negative lifetime (boto3's ExpiresIn=-1000) is a URL that has expired: S3 answers 403.
        if expires > MAX_PRESIGN_EXPIRES:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be less than a week (in seconds) that is 604800")
        ts = _parse_amz_date(amz_date)
        if amz_date[:8] != credential.date:
            raise S3Error("AuthorizationQueryParametersError", "Invalid credential date. Date is not the same as X-Amz-Date.")
        identity = self._identity(credential)
        now = time.time()
        if now > ts + expires:
            # Clamped: a lifetime of -10**60 s is a valid number but no date gmtime() can show.
            expired_at = time.gmtime(max(ts + expires, 0))
            raise S3Error("AccessDenied", "Request has expired", Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", expired_at))
        if ts - now > MAX_SKEW_SECONDS:
            raise S3Error("AccessDenied", "Request is not valid yet")
        payload_hash = p.get("X-Amz-Content-Sha256") or UNSIGNED_PAYLOAD
        if payload_hash in STREAMING_MODES:
            raise S3Error("InvalidRequest", "Streaming payloads cannot be presigned")
        # The payload hash of a presigned request is in its query; a stray header is ignored, as S3 does.
        _require_signed_amz_headers(req, signed_headers, exempt=("x-amz-content-sha256",))
        query = sigv4.canonical_query(req.query, exclude="X-Amz-Signature")
        key = self._check_signature(req, identity, credential, amz_date, signed_headers, payload_hash, signature, query)
        hoisted: dict[str, str] = {}
        for name, value in req.query:
            lower = name.lower()
            if lower.startswith("x-amz-") and lower not in _QUERY_AUTH:
                # Header values are kept as their bytes read as latin-1 (Request.header_utf8).
                hoisted.setdefault(lower, value.encode("utf-8").decode("latin-1"))
        return AuthContext(
            identity=identity, payload_hash=payload_hash, signing_key=key, scope=credential.scope, amz_date=amz_date, hoisted=hoisted
        )

    # -- Signature Version 2 ----------------------------------------------------------------
    def _check_v2(self, req: Request, access_key: str, signature: str, date: str) -> Identity:
        identity = self.keyring.get(access_key)
        if identity is None:
            raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=access_key)
        host_bucket = self._virtual_bucket(req)
        paths = {req.raw_path, sigv4.uri_encode(req.path, keep_slash=True)}
        if not host_bucket and req.path.count("/") == 1:
            paths.add(req.path + "/")  # botocore signs a path-style bucket as "/bucket/"
        dates = {date, req.headers.get("date", "")} if "x-amz-date" in req.headers else {date}
        for path in paths:
            resource = sigv2.canonical_resource(path, req.query, host_bucket)
            for signed_date in dates:
                expected = sigv2.sign(identity.secret_key, sigv2.string_to_sign(req.method, req.headers, signed_date, resource))
                if hmac.compare_digest(expected.encode(), signature.encode()):
                    return identity
        raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=access_key)

    def _virtual_bucket(self, req: Request) -> str | None:
        host = req.headers.get("host", "").rsplit(":", 1)[0]
        if self.domain and host.endswith("." + self.domain):
            return host[: -len(self.domain) - 1]
        return None

    def _from_header_v2(self, req: Request, header: str) -> AuthContext:
        access_key, sep, signature = header[len("AWS ") :].strip().partition(":")
        if not sep or not access_key or not signature:
            raise S3Error("InvalidArgument", "Authorization header is invalid -- one and only one ' ' (space) required")
        # x-amz-date, when present (even empty), is the date the signature covers.
        raw_date = req.headers["x-amz-date"] if "x-amz-date" in req.headers else req.headers.get("date")
        if not raw_date:
            raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
        ts, _ = _parse_http_date(raw_date)
        if ts < 0:
            # Before 1970: not a date a request is made at, as S3 sees it (not a skewed clock).
            raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
        if abs(time.time() - ts) > MAX_SKEW_SECONDS:
            raise S3Error("RequestTimeTooSkewed", RequestTime=raw_date, MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000))
        date = "" if "x-amz-date" in req.headers else req.headers["date"]
        identity = self._check_v2(req, access_key, signature, date)
        return AuthContext(identity=identity, payload_hash=UNSIGNED_PAYLOAD)

    def _from_query_v2(self, req: Request) -> AuthContext:
        p = req.params
        expires = p.get("Expires", "")
        expiry = decimal(expires)
        if expiry is None:
            raise S3Error("AccessDenied", "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
        if time.time() > expiry:
            raise S3Error("AccessDenied", "Request has expired", Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)))
        identity = self._check_v2(req, p["AWSAccessKeyId"], p["Signature"], expires)
        return AuthContext(identity=identity, payload_hash=UNSIGNED_PAYLOAD)
