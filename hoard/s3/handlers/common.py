"""What every handler shares: the request context, the operation registry and small S3 rules."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

from hoard.config import Settings
from hoard.http.numbers import decimal
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.iam.authorize import AccessRequest, Authorizer
from hoard.iam.credentials import Identity
from hoard.iam.identities import Identities
from hoard.meta.store import MetaStore
from hoard.model import Bucket, ObjectRecord
from hoard.objects.data import ObjectData
from hoard.objects.tiering import STORAGE_CLASSES, readable
from hoard.objects.versions import now, quote_etag  # noqa: F401 - handlers take them from here
from hoard.replication.remotes import Remotes
from hoard.s3 import checksums
from hoard.s3.access import condition_keys
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error
from hoard.s3.router import Operation
from hoard.website.rules import INVALID_REDIRECT_LOCATION, validate_redirect_location
from hoard.xmldoc import ConfigRefused

MAX_KEY_BYTES = 1024
MAX_USER_METADATA = 2048
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
READ_CHUNK = 1024 * 1024


CONTENT_HEADERS = ("content-type", "content-encoding", "content-disposition", "content-language", "cache-control", "expires")


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: MetaStore
    data: ObjectData
    root: Identity
    authorizer: Authorizer
    identities: Identities | None = None  # users' canonical ids, for ACL grants that name one
    remotes: Remotes | None = None  # where bucket replication writes (PutBucketReplication checks the Role's)


@dataclass
class Context:
    req: Request
    op: Operation
    auth: AuthContext
    services: Services
    request_id: str
    # The request's bucket as authorization looked it up just before (None for requests without
    # one, or where none was looked up): what a read shows of its bucket's rules without a second lookup.
    looked_up_bucket: Bucket | None = None

    @property
    def bucket(self) -> str:
        assert self.op.bucket is not None
        return self.op.bucket

    @property
    def key(self) -> str:
        assert self.op.key is not None
        return self.op.key

    @property
    def store(self) -> MetaStore:
        return self.services.store

    @property
    def requester(self) -> Identity | None:
        """Who sent the request (None: anonymous), as authentication established."""
        return self.auth.identity

    async def authorize(self, operation: str, bucket: str | None, key: str | None = None, version: str | None = None) -> None:
        """Authorize the requester for a resource other than the request's own (a copy's source)."""
        keys = condition_keys(self.req, self.auth)
        await self.services.authorizer.authorize(AccessRequest.for_operation(self.requester, operation, bucket, key, keys, version))


Handler = Callable[[Context], Awaitable[Response]]
HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register the handler of an S3 operation under the operation's own name."""

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


async def require_bucket(ctx: Context) -> Bucket:
    bucket = await ctx.store.get_bucket(ctx.bucket)
    if bucket is None:
        raise S3Error("NoSuchBucket", BucketName=ctx.bucket)
    return bucket


PUBLIC_ACCESS_BLOCK = "publicAccessBlock"  # the bucket configuration it is kept under
def public_access_blocked(ctx: Context, bucket: Bucket | None, setting: str) -> bool:
    """Whether ``setting`` (BlockPublicAcls, ...) is on for the bucket: in its public-access block,
    or for every bucket (HOARD_BLOCK_PUBLIC_ACCESS)."""
    if ctx.services.settings.block_public_access:
        return True
    return bucket is not None and bool(bucket.config.get(PUBLIC_ACCESS_BLOCK, {}).get(setting))


async def require_bucket_for_write(ctx: Context) -> Bucket:
    """``require_bucket`` for a request that writes an object (its ACL: ``grants.request_acl``)."""
    return await require_bucket(ctx)


def require_body_checksum(ctx: Context, message: str = "Missing required header for this request: Content-MD5") -> None:
    """Requests S3 takes only with a Content-MD5 or a checksum of their body (DeleteObjects, tag
    sets, CORS rules, object lock settings): InvalidRequest otherwise. SDKs send one."""
    h = ctx.req.headers
    if "content-md5" not in h and not checksums.requested_algorithm(h)[0]:
        raise S3Error("InvalidRequest", message)


# Listing parameters that name keys: none can hold U+0000, which no key holds (see check_no_nul).
KEY_PARAMS = ("prefix", "delimiter", "marker", "start-after", "key-marker", "version-id-marker", "upload-id-marker")


def check_no_nul(params: dict[str, str], names: tuple[str, ...] = KEY_PARAMS) -> None:
    """InvalidArgument for a listing parameter holding U+0000: no key can (the router answers a
    key holding it InvalidURI), XML 1.0 cannot carry it back, and the PostgreSQL index cannot
    store or compare it."""
    for name in names:
        value = params.get(name)
        if value is not None and "\x00" in value:
            raise S3Error("InvalidArgument", f"{name} cannot contain the character U+0000.", ArgumentName=name)


def check_key(key: str) -> None:
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", Size=str(len(key.encode("utf-8"))), MaxSizeAllowed=str(MAX_KEY_BYTES))


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def parse_http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def etag_matches(condition: str, etag: str) -> bool:
    """If-Match / If-None-Match semantics: a list of entity tags, or ``*``."""
    for candidate in condition.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == "*" or candidate.strip('"') == etag.strip('"'):
            return True
    return False


def content_md5(ctx: Context) -> bytes | None:
    value = ctx.req.headers.get("content-md5")
    if value is None:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 16:
        raise S3Error("InvalidDigest", ContentMD5=value)
    return raw


def storage_class(ctx: Context) -> str:
    value = ctx.req.headers.get("x-amz-storage-class", "STANDARD")
    if value not in STORAGE_CLASSES:
        raise S3Error("InvalidStorageClass", StorageClassRequested=value)
    return value


def config_refusal(e: ConfigRefused) -> S3Error:
    """A rules module's refusal as the S3 error it stands for."""
    if e.argument_name:
        return S3Error(e.code, e.message, ArgumentName=e.argument_name, ArgumentValue=e.argument_value)
    return S3Error(e.code, e.message)


def require_restored(record: ObjectRecord) -> None:
    """A GLACIER or DEEP_ARCHIVE version's bytes are read (or copied) only from a restored copy: S3's 403."""
    if not readable(record, now()):
        raise S3Error("InvalidObjectState", StorageClass=record.storage_class)


def object_headers(ctx: Context) -> dict[str, str]:
    """The Content-* headers and user metadata a write stores with the object."""
    kept: dict[str, str] = {}
    for name in CONTENT_HEADERS:
        value = ctx.req.header_utf8(name)
        if value is None:
            continue
        if name == "content-encoding":
            # aws-chunked describes this request's framing, not the object.
            codings = [c.strip() for c in value.split(",") if c.strip()]
            if "aws-chunked" in codings:
                codings = [c for c in codings if c != "aws-chunked"]
                if not codings:
                    continue
                value = ", ".join(codings)
        kept[name] = value
    meta_size = 0
    for name in ctx.req.headers:
        if name.startswith("x-amz-meta-"):
            value = ctx.req.header_utf8(name) or ""
            kept[name] = value
            meta_size += len(name) - len("x-amz-meta-") + len(value.encode())
    if meta_size > MAX_USER_METADATA:
        raise S3Error("MetadataTooLarge", Size=str(meta_size), MaxSizeAllowed=str(MAX_USER_METADATA))
    redirect = ctx.req.header_utf8(WEBSITE_REDIRECT_HEADER)
    if redirect is not None:
        kept[WEBSITE_REDIRECT_HEADER] = website_redirect(redirect)
    kept.setdefault("content-type", "binary/octet-stream")
    return kept


WEBSITE_REDIRECT_HEADER = "x-amz-website-redirect-location"


def website_redirect(value: str) -> str:
    """An object's ``x-amz-website-redirect-location``: where the website endpoint sends a reader
    of it (301), checked as S3 checks it."""
    if not validate_redirect_location(value):
        raise S3Error("InvalidRedirectLocation", INVALID_REDIRECT_LOCATION)
    return value


def int_param(ctx: Context, name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = ctx.req.params.get(name)
    if raw is None or raw == "":
        return default
    # Signed, so that -1 is told it is out of range, as S3 words it, not that it is no number.
    value = decimal(raw, signed=True)
    if value is None:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range", ArgumentName=name, ArgumentValue=raw)
    if value < low or (high is not None and value > high):
        raise S3Error("InvalidArgument", f"Argument {name} must be an integer between {low} and {high if high is not None else 2147483647}", ArgumentName=name, ArgumentValue=raw)
    return value
