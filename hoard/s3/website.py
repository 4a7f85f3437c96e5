"""The static website endpoint: what S3 serves at ``http://BUCKET.s3-website-REGION.amazonaws.com``.

A listener apart from the S3 API (``--website-address``), answering for the bucket its Host names:
``BUCKET.s3-website.DOMAIN`` (``--website-domain``, ``localhost`` by default; the
``s3-website-REGION`` and ``s3-website.REGION`` forms too), or a host name that is itself a
bucket's name, as S3 does for a CNAME. As on S3:

- GET and HEAD only (anything else 405), anonymous: what the bucket policy or ACLs let anyone
  read (``GetObject`` through the same authorization step as the API, with its condition keys:
  a policy on ``aws:Referer`` works here too); anything else is 403.
- Only buckets with a website configuration (``PutBucketWebsite``); 404
  NoSuchWebsiteConfiguration otherwise.
- The configuration decides (``hoard.website.rules``): redirect all requests; routing rules on
  key prefixes (before the lookup) and on error codes (after); the index document for the root
  and for every "folder" (``docs/`` is ``docs/index.html``, and ``docs`` is redirected to ``docs/``
  when only the latter exists); an object's ``x-amz-website-redirect-location`` is a 301.
- Errors are HTML pages, or the bucket's ErrorDocument (itself readable by anyone) with the
  error's status. Range and conditional requests, ETag, Last-Modified and the stored Content-*
  headers work as for GetObject; ``response-*`` query parameters do not (S3 ignores them here).

An extension for private package indexes: ``Authorization: Basic`` with an access key as the
user name and its secret as the password reads as that identity (pip sends it from
``https://KEY:SECRET@host/...``); use it over HTTPS.
"""

from __future__ import annotations

import base64
import hmac
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from hoard.http.ranges import parse_range
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.iam.credentials import Identity
from hoard.iam.errors import AccessDenied
from hoard.meta.errors import BucketNotFound
from hoard.model import Bucket, ObjectRecord
from hoard.objects.data import stream
from hoard.objects.tiering import readable
from hoard.s3.access import access_request
from hoard.s3.error_map import to_s3_error
from hoard.s3.errors import ERRORS, S3Error
from hoard.s3.handlers.common import WEBSITE_REDIRECT_HEADER, Services, http_date, now
from hoard.s3.handlers.objects import read_conditions
from hoard.s3.handlers.post_object import UNAUTHENTICATED
from hoard.website import rules
from hoard.website.rules import WEBSITE_CONFIG, Resolution, WebsiteConfig

log = logging.getLogger("hoard.website")
SHOWN_HEADERS = ("content-type", "content-encoding", "content-disposition", "content-language", "cache-control", "expires")
MAX_KEY_BYTES = 1024


@dataclass
class WebsiteError(Exception):
    """An error the website endpoint answers with an HTML page (or the bucket's error document)."""

    status: int
    code: str
    message: str
    key: str = ""


class WebsiteEndpoint:
    def __init__(self, services: Services, domain: str, identities_get: Callable[[str], Identity | None] | None = None) -> None:
        self.services = services
        self.domain = domain
        self._identity_of = identities_get  # access key -> Identity | None, for Basic authentication

    # -- addressing ---------------------------------------------------------------------------
    def bucket_of(self, host: str) -> str | None:
        name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
        for marker in (".s3-website.", ".s3-website-"):
            at = name.find(marker)
            if at > 0:
                rest = name[at + len(marker) :]
                # BUCKET.s3-website.DOMAIN, BUCKET.s3-website.REGION.DOMAIN, BUCKET.s3-website-REGION.DOMAIN
                if rest == self.domain or rest.endswith("." + self.domain):
                    return name[:at]
        return name or None  # a custom domain named like its bucket

    # -- the request ---------------------------------------------------------------------------
    async def handle(self, req: Request, request_id: str) -> Response:
        try:
            if req.method not in ("GET", "HEAD"):
                raise WebsiteError(405, "MethodNotAllowed", f"The specified method is not allowed against this resource: {req.method}.")
            name = self.bucket_of(req.host)
            if not name:
                raise WebsiteError(404, "NoSuchBucket", "The specified bucket does not exist")
            bucket = await self.services.store.get_bucket(name)
            if bucket is None:
                raise WebsiteError(404, "NoSuchBucket", "The specified bucket does not exist")
            value = bucket.config.get(WEBSITE_CONFIG)
            if not value:
                raise WebsiteError(404, "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration")
            config = WebsiteConfig.from_json(value)
        except WebsiteError as e:
            return self._page(e, request_id)
        identity = self._basic_identity(req)
        path_key = self._path_key(req)
        if path_key is None:
            return self._page(WebsiteError(400, "InvalidURI", "Couldn't parse the specified URI."), request_id)
        protocol = "https" if req.secure else "http"
        try:
            return await self._serve(req, bucket, config, path_key, identity, protocol, request_id)
        except WebsiteError as e:
            after = rules.after_error(config, path_key, e.status, req.host, protocol)
            if after is not None:
                return self._redirect(after)
            return await self._error_document(req, bucket, config, e, identity, request_id)

    def _path_key(self, req: Request) -> str | None:
        """The key the URL path names: percent-decoded once, without the leading slash; None for
        a path that cannot be a key (not UTF-8, too long, a NUL)."""
        try:
            key = unquote(req.raw_path, errors="strict").lstrip("/")
        except UnicodeDecodeError:
            return None
        if "\x00" in key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            return None
        return key

    def _basic_identity(self, req: Request) -> Identity | None:
        header = req.headers.get("authorization", "")
        if not header.lower().startswith("basic ") or self._identity_of is None:
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        identity = self._identity_of(user)
        if identity is None or not hmac.compare_digest(identity.secret_key.encode(), password.encode()):
            return None  # served as to anyone: what is public stays readable, the rest is 403
        return identity

    async def _allowed(self, req: Request, bucket: str, key: str, identity: Identity | None) -> bool:
        try:
            await self.services.authorizer.authorize(access_request(req, UNAUTHENTICATED, identity, "GetObject", bucket, key))
        except (AccessDenied, BucketNotFound):
            return False
        except S3Error as e:
            return e.code not in ("AccessDenied", "NoSuchBucket")
        return True

    async def _lookup(self, bucket: str, key: str) -> ObjectRecord | None:
        record = await self.services.store.get_object(bucket, key) if key else None
        return None if record is None or record.delete_marker else record

    async def _serve(
        self, req: Request, bucket: Bucket, config: WebsiteConfig, path_key: str, identity: Identity | None, protocol: str, request_id: str
    ) -> Response:
        resolution = rules.resolve(config, path_key, req.host, protocol, req.raw_query)
        if resolution.kind == "redirect":
            return self._redirect(resolution)
        key = resolution.key
        if not await self._allowed(req, bucket.name, key, identity):
            raise WebsiteError(403, "AccessDenied", "Access Denied", key)
        record = await self._lookup(bucket.name, key)
        if record is None:
            # "docs" where only "docs/index.html" exists: S3 sends the browser to the folder.
            if config.index_suffix and key and not key.endswith("/"):
                folder_index = f"{key}/{config.index_suffix}"
                if await self._allowed(req, bucket.name, folder_index, identity) and await self._lookup(bucket.name, folder_index) is not None:
                    return Response(status=302, headers={"location": rules.folder_redirect(key)})
            raise WebsiteError(404, "NoSuchKey", "The specified key does not exist.", key)
        redirect = record.headers.get(WEBSITE_REDIRECT_HEADER)
        if redirect:
            return Response(status=301, headers={"location": rules.object_redirect(redirect, req.host, protocol)})
        return await self._object(req, record, 200)

    async def _object(self, req: Request, record: ObjectRecord, status: int) -> Response:
        if not readable(record, now()):
            raise WebsiteError(403, "InvalidObjectState", "The operation is not valid for the object's storage class", record.key)
        headers = {"etag": record.etag, "last-modified": http_date(record.last_modified), "accept-ranges": "bytes"}
        headers.update((name, record.headers[name]) for name in SHOWN_HEADERS if name in record.headers)
        headers.update((name, value) for name, value in record.headers.items() if name.startswith("x-amz-meta-"))
        start, end = 0, record.size - 1
        if status == 200:
            try:
                not_modified = read_conditions(req.headers, record)
            except S3Error as e:
                raise WebsiteError(412, e.code, e.message, record.key) from None
            if not_modified is not None:
                return Response(status=304, headers=not_modified)
            try:
                span = parse_range(req.headers.get("range"), record.size)
            except S3Error as e:
                raise WebsiteError(416, e.code, e.message, record.key) from None
            if span is not None:
                start, end = span
                status = 206
                headers["content-range"] = f"bytes {start}-{end}/{record.size}"
        length = end - start + 1 if record.size else 0
        if req.method == "HEAD" or length == 0:
            return Response(status=status, headers=headers, content_length=length)
        try:
            opened = await self.services.data.open(record, start, end)
        except FileNotFoundError:
            raise WebsiteError(503, "SlowDown", "The object is being replaced; try again.", record.key) from None
        except Exception as e:
            mapped = to_s3_error(e)
            if mapped is None:
                raise
            raise WebsiteError(ERRORS[mapped.code][0], mapped.code, mapped.message, record.key) from None
        return Response(status=status, headers=headers, stream=stream(opened), content_length=length)

    async def _error_document(
        self, req: Request, bucket: Bucket, config: WebsiteConfig, error: WebsiteError, identity: Identity | None, request_id: str
    ) -> Response:
        """The bucket's ErrorDocument with the error's status (4xx only, as S3), or S3's page."""
        if config.error_key and 400 <= error.status < 500 and error.status not in (405, 412, 416):
            if not await self._allowed(req, bucket.name, config.error_key, identity):
                return self._page(error, request_id, note="An Error Occurred While Attempting to Retrieve a Custom Error Document", inner=WebsiteError(403, "AccessDenied", "Access Denied"))
            record = await self._lookup(bucket.name, config.error_key)
            if record is not None and readable(record, now()):
                return await self._object(req, record, error.status)
            return self._page(error, request_id, note="An Error Occurred While Attempting to Retrieve a Custom Error Document", inner=WebsiteError(404, "NoSuchKey", "The specified key does not exist.", config.error_key))
        return self._page(error, request_id)

    @staticmethod
    def _redirect(resolution: Resolution) -> Response:
        return Response(status=resolution.status, headers={"location": resolution.location})

    @staticmethod
    def _page(error: WebsiteError, request_id: str, note: str = "", inner: WebsiteError | None = None) -> Response:
        """S3's HTML error page."""
        reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 412: "Precondition Failed", 416: "Requested Range Not Satisfiable", 503: "Service Unavailable"}.get(error.status, "Error")  # fmt: skip

        def items(e: WebsiteError) -> str:
            lines = [f"<li>Code: {html.escape(e.code)}</li>", f"<li>Message: {html.escape(e.message)}</li>"]
            if e.key:
                lines.append(f"<li>Key: {html.escape(e.key)}</li>")
            return "\n".join(lines)

        body = f"<html>\n<head><title>{error.status} {reason}</title></head>\n<body>\n<h1>{error.status} {reason}</h1>\n<ul>\n{items(error)}\n"
        body += f"<li>RequestId: {request_id}</li>\n</ul>\n"
        if inner is not None:
            body += f"<h3>{html.escape(note)}</h3>\n<ul>\n{items(inner)}\n</ul>\n"
        body += "<hr/>\n</body>\n</html>\n"
        headers = {"content-type": "text/html; charset=utf-8"}
        if error.status == 405:
            headers["allow"] = "GET, HEAD"
        return Response(status=error.status, headers=headers, body=body.encode())
