"""PostObject: browser-based uploads, an HTML form POSTed to the bucket.

The body is multipart/form-data, parsed as it streams (python-multipart): the fields before
the ``file`` part are collected (at most 20 KiB with their part headers and boundaries, as in
S3), and when the file part's headers arrive the form is authenticated and its POST policy
checked (``hoard/s3/auth/post_policy.py``) before a byte of the file is stored. The file then
flows through the writer PutObject uses, in 1 MiB blocks: same shard files, same checks, same
``ObjectData.commit_version``. The object is committed only once the closing boundary has been read and
every check on the whole file has passed (content-length-range, Content-MD5, x-amz-checksum-*):
a body cut short or malformed stores nothing. Fields after the file are ignored, as in S3.

Fields are PutObject's headers under another name, so the form is turned into the headers
PutObject would have had and PutObject's own rules (metadata, storage class, features refused
with 501) apply to them unchanged.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote, urlsplit

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from hoard.http.request import BodyStream
from hoard.http.response import Response, xml_response
from hoard.model import ObjectRecord
from hoard.objects.versions import single_part_version
from hoard.s3 import tags, xml
from hoard.s3.access import access_request
from hoard.s3.auth import sigv4
from hoard.s3.auth.authenticate import AuthContext, Authenticator
from hoard.s3.auth.post_policy import (
    CREDENTIAL_FIELDS,
    MAX_PRE_DATA,
    FormFields,
    authenticate_form,
    base_filename,
    check_length,
    check_policy,
    parse_policy,
)
from hoard.s3.errors import S3Error
from hoard.s3.handlers import sse
from hoard.s3.handlers.common import (
    Context,
    check_key,
    now,
    object_headers,
    require_bucket_for_write,
    storage_class,
)
from hoard.s3.handlers.grants import request_acl
from hoard.s3.handlers.objects import checksum_headers
from hoard.s3.handlers.owners import note_owner, version_owner
from hoard.s3.handlers.payload import BlobSink, BodyDigests
from hoard.s3.handlers.replicas import replication_marks
from hoard.s3.handlers.retention import lock_for_write
from hoard.s3.handlers.versioning import version_headers, versioning_of
from hoard.s3.router import Operation

# What app.py hands this handler: nobody yet, the form says who signed it.
UNAUTHENTICATED = AuthContext(identity=None, payload_hash=sigv4.UNSIGNED_PAYLOAD)

# Form fields that steer the upload itself and are not PutObject headers.
_CONTROL_FIELDS = CREDENTIAL_FIELDS | {
    "key", "bucket", "file", "success_action_status", "success_action_redirect", "redirect",
    "x-amz-security-token", "x-amz-trailer", "tagging",
}  # fmt: skip
# Form fields named otherwise than the PutObject header they stand for.
_HEADER_NAMES = {"acl": "x-amz-acl", "x-amz-checksum-algorithm": "x-amz-sdk-checksum-algorithm"}

# A part's headers are small; the 20 KiB cap on everything before the file governs.
_MAX_PART_HEADERS = 16


async def post_object(ctx: Context, authenticator: Authenticator) -> Response:
    """Called by the app directly (not through the registry): it needs the Authenticator's keys,
    because the credentials are in the body, which only this handler reads."""
    boundary = _boundary(ctx.req.headers.get("content-type", ""))
    events = _FormReader(boundary, BodyStream(ctx.req.receive, ctx.services.settings.body_timeout)).events()
    try:
        return await _upload(ctx, authenticator, events)
    finally:
        await events.aclose()


async def _upload(ctx: Context, authenticator: Authenticator, events: AsyncGenerator[tuple[Any, ...], None]) -> Response:
    fields = FormFields()
    filename: str | None = None  # None: no file part (yet)
    async for event in events:
        if event[0] == "field":
            fields.add(event[1], event[2])
        elif event[0] == "file":
            filename = base_filename(event[1])
            break
    # Here the file is about to come (or the form ended without one): decide everything first.
    fields.expand_filename(filename or "")
    identity = authenticate_form(fields, authenticator.keyring, authenticator.region, authenticator.strict_region)
    # The form is the request's authentication; the authorization step every request takes
    # follows it (for the object the form names, or the bucket when it names none).
    key = fields.get("key")
    await ctx.services.authorizer.authorize(access_request(ctx.req, None, identity, "PostObject", ctx.bucket, key or None, post=True))
    # An anonymous form (no credentials) needs no policy: the bucket's ACL or policy decided above.
    policy = parse_policy(fields.get("policy") or "") if identity is not None or fields.get("policy") is not None else None
    if key is None:
        raise S3Error(
            "InvalidArgument",
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
            ArgumentName="key",
            ArgumentValue="",
        )
    if policy is not None:
        check_policy(policy, fields, ctx.bucket, time.time())
    if filename is None:
        raise S3Error("IncorrectNumberOfFilesInPostRequest")
    if not key:
        raise S3Error("InvalidArgument", "User key must have a length greater than 0.", ArgumentName="key", ArgumentValue="")
    check_key(key)

    auth = dataclasses.replace(ctx.auth, identity=identity)
    put = dataclasses.replace(
        ctx, req=dataclasses.replace(ctx.req, headers=_as_headers(fields)), op=Operation("PostObject", ctx.bucket, key), auth=auth
    )
    sclass = storage_class(put)
    headers = object_headers(put)
    # The form's tags are a Tagging document (PutObject's x-amz-tagging header is query-encoded).
    tagging = fields.get("tagging")
    tag_set = tags.from_document(tagging.encode("utf-8")) if tagging is not None else ()
    digests = BodyDigests(put)
    bucket = await require_bucket_for_write(put)
    lock = lock_for_write(put, bucket, now())
    grants = request_acl(put, bucket) or ()
    owner = version_owner(put, bucket, grants)

    placement = put.services.data.placement(ctx.bucket, key, sclass)
    limit = put.services.settings.max_object_size
    if policy is not None and policy.length_range is not None:
        limit = min(limit, policy.length_range[1])
    encryption, data_key = sse.new_key(put, bucket)
    sink = BlobSink(put.services.data, placement, digests.hashers, limit, key=data_key)
    try:
        async for event in events:
            if event[0] == "data":
                await sink.write(event[1])
            elif event[0] == "file_end":
                break
        async for _ignored in events:  # fields after the file: read to the closing boundary, unused
            pass
        size = await sink.end_of_data()
        check_length(policy, size)
        digests.verify(None)
        stored = await sink.finish()
    except BaseException:
        await sink.abort()
        raise
    record = single_part_version(
        bucket=ctx.bucket,
        key=key,
        blob=stored.shard_id,
        size=stored.size,
        md5_hex=sse.etag_digest(encryption, data_key, digests.md5.hexdigest()),
        placement=placement,
        inline=stored.inline is not None,
        storage_class=sclass,
        headers={**headers, **replication_marks(bucket)},
        tags=tag_set,
        checksum_algorithm=digests.algorithm,
        checksum_value=digests.checksum_value,
        versioning=versioning_of(bucket),
        lock=lock,
        acl=grants,
        owner_id=owner,
        encryption=encryption,
        stored=stored.stored,
    )
    await note_owner(put, bucket, owner)
    await put.services.data.commit_version(put.store, record, stored.inline, None, None if stored.inline is not None else sink.writer)
    return _success(fields, record, _location(ctx, record))


def _boundary(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data":
        raise S3Error("PreconditionFailed", Condition="Bucket POST must be of the enclosure-type multipart/form-data")
    if not boundary or len(boundary) > 70:  # RFC 2046: 1 to 70 characters
        raise S3Error("MalformedPOSTRequest")
    return boundary


def _as_headers(fields: FormFields) -> dict[str, str]:
    """The form's fields as the headers PutObject would read (values as HTTP hands them: the
    UTF-8 bytes read as latin-1, which ``Request.header_utf8`` turns back into text)."""
    headers: dict[str, str] = {}
    for name, value in fields.items():
        if name in _CONTROL_FIELDS or name.startswith("x-ignore-"):
            continue
        headers[_HEADER_NAMES.get(name, name)] = value.encode("utf-8").decode("latin-1")
    return headers


def _location(ctx: Context, record: ObjectRecord) -> str:
    """The new object's URL, as the client addressed this server (path style)."""
    scheme = "https" if ctx.req.secure else ctx.req.headers.get("x-forwarded-proto", "http")
    return f"{scheme}://{ctx.req.host}/{quote(record.bucket, safe='')}/{quote(record.key, safe='/~')}"


def _success(fields: FormFields, record: ObjectRecord, location: str) -> Response:
    headers = {"etag": record.etag, "location": location, **checksum_headers(record), **version_headers(record), **sse.answer_headers(record.encryption)}
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and _is_url(redirect):
        query = "&".join(
            f"{name}={quote(value, safe='')}" for name, value in (("bucket", record.bucket), ("key", record.key), ("etag", record.etag))
        )
        separator = "&" if urlsplit(redirect).query else ("" if redirect.endswith("?") else "?")
        headers["location"] = redirect + separator + query
        return Response(status=303, headers=headers)
    status = fields.get("success_action_status")
    if status == "201":
        body = xml.render(
            "PostResponse", [("Location", location), ("Bucket", record.bucket), ("Key", record.key), ("ETag", record.etag)], namespace=None
        )
        return xml_response(body, status=201, headers=headers)
    if status == "200":
        return Response(status=200, headers=headers)
    return Response(status=204, headers=headers)  # the default, and S3's answer to any other value


def _is_url(value: str) -> bool:
    """S3 ignores a redirect it cannot interpret as a URL."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class _FormReader:
    """Drives python-multipart's callback parser over the request body and turns its callbacks
    into events, in order: ("field", name, value) for each part before the file, ("file",
    filename), ("data", bytes)..., ("file_end",). Everything after the file is
    parsed (the form must be well-formed to its closing boundary) and dropped."""

    def __init__(self, boundary: bytes, body: BodyStream) -> None:
        self._body = body
        self._events: deque[tuple[Any, ...]] = deque()
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },  # type: ignore[arg-type]
            max_header_count=_MAX_PART_HEADERS,
            max_header_size=MAX_PRE_DATA,
        )
        self._fed = 0  # body bytes given to the parser before the current chunk
        self._ended = False
        self._file_seen = False
        self._file_started = False  # the file part's headers have been read
        self._file_data = False  # and some of its data
        self._kind = ""  # of the current part: "field", "file" or "ignored"
        self._name = ""
        self._value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()

    async def events(self) -> AsyncGenerator[tuple[Any, ...], None]:
        while True:
            while self._events:
                yield self._events.popleft()
            if self._ended:
                return
            chunk = await self._body.chunk()
            if not chunk:
                # The body ended before the closing boundary: cut short, or never a form.
                raise S3Error("MalformedPOSTRequest")
            try:
                self._parser.write(chunk)
            except MultipartParseError:
                raise S3Error("MalformedPOSTRequest") from None
            self._fed += len(chunk)
            if not self._file_started and self._fed > MAX_PRE_DATA:
                raise S3Error("MaxPostPreDataLengthExceeded")

    # -- parser callbacks (synchronous, inside MultipartParser.write) --------------------------
    def _part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).strip().lower()] = bytes(self._header_value).strip()
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        if self._file_seen:
            self._kind = "ignored"
            return
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if disposition != b"form-data" or name is None:
            raise MultipartParseError("a part without a form-data name")
        self._name = _text(name)
        if self._name.lower() == "file":
            self._kind = "file"
            self._file_seen = self._file_started = True
            self._events.append(("file", _text(options.get(b"filename", b""))))
        else:
            self._kind = "field"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._kind == "field":
            self._value += data[start:end]
            if len(self._value) > MAX_PRE_DATA:
                raise S3Error("MaxPostPreDataLengthExceeded")
        elif self._kind == "file":
            if not self._file_data and self._fed + start > MAX_PRE_DATA:
                raise S3Error("MaxPostPreDataLengthExceeded")  # the fields came in the same chunk as the file
            self._file_data = True
            self._events.append(("data", data[start:end]))

    def _part_end(self) -> None:
        if self._kind == "field":
            self._events.append(("field", self._name, _text(bytes(self._value))))
        elif self._kind == "file":
            self._events.append(("file_end",))
            self._kind = "ignored"

    def _end(self) -> None:
        self._ended = True


def _text(raw: bytes) -> str:
    """Form text is UTF-8 (S3: "The form and policy must be UTF-8 encoded")."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MultipartParseError("form text that is not UTF-8") from None
