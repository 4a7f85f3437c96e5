"""What one request was, for the logs: built once the answer is sent, from the ASGI scope, what the
request path noted on its way (``RequestNote``) and the answer.

The note travels in a context variable, so the application notes the principal, bucket and key
where it learns them without threading a new argument through every call.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

# Query parameters that carry a credential: never written to a log.
SECRET_PARAMS = frozenset({"x-amz-signature", "signature", "x-amz-security-token"})
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_V2_KEY = re.compile(r"^AWS ([^:\s]+):")


@dataclass
class RequestNote:
    """What the request path learnt of a request, filled in as it goes."""

    access_key: str | None = None
    principal_arn: str | None = None  # "anonymous" once known to be unsigned
    requester_id: str | None = None  # canonical id (a root) or user ARN, as S3's Requester field shows it
    bucket: str | None = None
    key: str | None = None
    bucket_owner: str | None = None  # canonical id, once the bucket was looked up
    bucket_config: dict[str, Any] | None = None  # the looked-up bucket's configurations
    looked_up: bool = False  # whether bucket_owner / bucket_config are the bucket's (or it has none)
    response: Any = None  # the answer sent (an hoard.http.response.Response)


_current: ContextVar[RequestNote | None] = ContextVar("hoard_request_note", default=None)


def begin() -> RequestNote:
    """A fresh note for the request this task serves."""
    note = RequestNote()
    _current.set(note)
    return note


def noted(**fields: Any) -> None:
    """Add what the request path just learnt to the current request's note (none: no-op)."""
    note = _current.get()
    if note is not None:
        for name, value in fields.items():
            setattr(note, name, value)


def note_identity(identity: Any) -> None:
    """The authenticated principal (an ``Identity``, or None for an anonymous request)."""
    if identity is None:
        noted(principal_arn="anonymous", requester_id=None)
        return
    arn = identity.arn or f"arn:aws:iam::{identity.account or identity.owner_id}:root"
    requester = identity.owner_id if identity.is_root else (identity.arn or identity.owner_id)
    noted(access_key=identity.access_key, principal_arn=arn, requester_id=requester)


def note_bucket(bucket: Any) -> None:
    """The bucket authorization looked up (a ``Bucket``, or None: no such bucket)."""
    if bucket is None:
        noted(looked_up=True)
    else:
        noted(looked_up=True, bucket_owner=bucket.owner_id, bucket_config=bucket.config)


@dataclass(frozen=True)
class RequestRecord:
    """One answered request, as every log shows it."""

    time: float  # when the request arrived (epoch seconds)
    request_id: str
    host_id: str
    endpoint: str  # "s3" or "website"
    remote: str
    access_key: str | None
    principal: str  # a user or account ARN, or "anonymous"
    requester_id: str | None
    operation: str
    bucket: str | None
    key: str | None
    method: str
    path: str  # the raw path
    query: str  # the query string, credentials taken out
    http_version: str
    status: int
    error_code: str | None
    bytes_received: int
    bytes_sent: int
    object_size: int | None
    duration_ms: float
    turnaround_ms: float
    user_agent: str | None
    referer: str | None
    version_id: str | None
    host: str | None
    signature_version: str | None  # SigV2, SigV4
    auth_type: str | None  # AuthHeader, QueryString
    secure: bool
    bucket_owner: str | None = None
    bucket_config: dict[str, Any] | None = field(default=None, compare=False)
    looked_up: bool = False

    @property
    def request_uri(self) -> str:
        target = quote(self.path, safe="/~!$&'()*+,;=:@%-._")
        return f"{self.method} {target}{'?' + self.query if self.query else ''} HTTP/{self.http_version}"

    @property
    def denied(self) -> bool:
        return self.status in (401, 403)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for k, v in scope.get("headers", ()):
        found.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
    return found


def clean_query(raw: bytes | str) -> str:
    """The query string without any credential parameter (a presigned URL's signature, a token)."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if not text:
        return ""
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(k.lower() in SECRET_PARAMS for k, _ in pairs):
        return text
    return urlencode([(k, v) for k, v in pairs if k.lower() not in SECRET_PARAMS], safe="/")


def signing(headers: dict[str, str], query: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    """(access key id, signature version, auth type) as the request presents them, whether or not
    the signature turned out good: what a refused request claimed is what an audit wants."""
    auth = headers.get("authorization", "")
    if auth.startswith("AWS4-HMAC-SHA256"):
        m = _CREDENTIAL.search(auth)
        return (m.group(1) if m else None), "SigV4", "AuthHeader"
    if auth.startswith("AWS "):
        m = _V2_KEY.match(auth)
        return (m.group(1) if m else None), "SigV2", "AuthHeader"
    lowered = {k.lower(): v for k, v in query.items()}
    if "x-amz-credential" in lowered:
        return lowered["x-amz-credential"].split("/", 1)[0] or None, "SigV4", "QueryString"
    if "awsaccesskeyid" in lowered:
        return lowered["awsaccesskeyid"] or None, "SigV2", "QueryString"
    return None, None, None


def error_code_of(status: int, headers: dict[str, str], body: bytes) -> str | None:
    """The S3 error code an answer carries (its XML body's Code, or x-amz-error-code)."""
    if status < 300 or status == 304:
        return None
    code = headers.get("x-amz-error-code")
    if code:
        return code
    m = _ERROR_CODE.search(body[:4096]) if body else None
    return m.group(1).decode("utf-8", "replace") if m else None


def _object_size(method: str, key: str | None, status: int, headers: dict[str, str], received: int) -> int | None:
    if key is None or status >= 300:
        return None
    if method in ("GET", "HEAD"):
        total = headers.get("content-range", "").rpartition("/")[2]
        value = total if total.isdigit() else headers.get("content-length", "")
        return int(value) if value.isdigit() else None
    if method == "PUT" and "x-amz-copy-source" not in headers:
        return received
    return None


def build(
    scope: dict[str, Any],
    note: RequestNote,
    *,
    endpoint: str,
    request_id: str,
    host_id: str,
    operation: str,
    status: int,
    response_headers: dict[str, str],
    response_body: bytes,
    received: int,
    sent: int,
    started_at: float,
    first_byte_at: float | None,
    finished_at: float,
    started_clock: float,
) -> RequestRecord:
    """The record of a request. ``started_at`` / ``first_byte_at`` / ``finished_at`` are one
    monotonic clock's readings; ``started_clock`` the wall clock when it arrived."""
    headers = _headers(scope)
    raw_query = scope.get("query_string", b"")
    query = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
    claimed_key, sig, auth_type = signing(headers, query)
    client = scope.get("client")
    access_key = note.access_key or claimed_key
    principal = note.principal_arn or ("anonymous" if claimed_key is None else "unauthenticated")
    version_id = response_headers.get("x-amz-version-id") or query.get("versionId")
    # A request answered before it was read to its end: bytes go to sent, the total from the clock.
    turnaround = (first_byte_at - started_at) if first_byte_at is not None else (finished_at - started_at)
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
    return RequestRecord(
        time=started_clock,
        request_id=request_id,
        host_id=host_id,
        endpoint=endpoint,
        remote=client[0] if client else "-",
        access_key=access_key,
        principal=principal,
        requester_id=note.requester_id,
        operation=operation,
        bucket=note.bucket,
        key=note.key,
        method=scope.get("method", "GET"),
        path=path,
        query=clean_query(raw_query),
        http_version=scope.get("http_version", "1.1"),
        status=status,
        error_code=error_code_of(status, response_headers, response_body),
        bytes_received=received,
        bytes_sent=sent,
        object_size=_object_size(scope.get("method", "GET"), note.key, status, {**headers, **response_headers}, received),
        duration_ms=round((finished_at - started_at) * 1000, 3),
        turnaround_ms=round(max(0.0, turnaround) * 1000, 3),
        user_agent=headers.get("user-agent"),
        referer=headers.get("referer"),
        version_id=version_id,
        host=headers.get("host"),
        signature_version=sig,
        auth_type=auth_type,
        secure=scope.get("scheme") == "https",
        bucket_owner=note.bucket_owner,
        bucket_config=note.bucket_config,
        looked_up=note.looked_up,
    )
