"""The ASGI application: parse, route, authenticate, dispatch, answer; errors as S3 XML."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from hoard.admin.api import ADMIN_PREFIX
from hoard.config import Settings
from hoard.console.app import ConsoleApp
from hoard.http.errors import BodyTimeout, ClientDisconnected
from hoard.http.request import Receive, Request, Send
from hoard.http.response import Response, send_response
from hoard.internal_api import INTERNAL_PREFIX, InternalApi
from hoard.meta.errors import CommitFailed, IndexUnavailable
from hoard.metrics import instruments
from hoard.observe import Observer
from hoard.requestlog import record as requestlog
from hoard.requestlog.sink import RequestLog
from hoard.s3 import cors
from hoard.s3.access import access_request
from hoard.s3.auth.authenticate import AuthContext, Authenticator
from hoard.s3.error_map import error_response, to_s3_error
from hoard.s3.errors import S3Error
from hoard.s3.handlers import registry
from hoard.s3.handlers.common import Context, Services
from hoard.s3.handlers.owners import check_expected_owner
from hoard.s3.handlers.post_object import UNAUTHENTICATED, post_object
from hoard.s3.router import route, split_target
from hoard.s3.website import WebsiteEndpoint
from hoard.storage.errors import ReadQuorumError

log = logging.getLogger("hoard")
IO_THREADS = 64


class _TrackedReceive:
    """ASGI receive that remembers whether the request body was read to its end, and its bytes."""

    __slots__ = ("_receive", "body_done", "received")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.body_done = False
        self.received = 0

    async def __call__(self) -> dict[str, Any]:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        body = message.get("body")
        if body:
            self.received += len(body)
        return message


class _CountingSend:
    """ASGI send that adds up the response body bytes (for hoard_sent_bytes_total), and notes
    when the answer began (the logs' turn-around time)."""

    __slots__ = ("_send", "sent", "first_at")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.sent = 0
        self.first_at: float | None = None

    async def __call__(self, message: dict[str, Any]) -> None:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        body = message.get("body")
        if body:
            self.sent += len(body)
        await self._send(message)


class AdminHandler(Protocol):
    """The admin API, answered here (the leader) or passed on to the leader."""

    async def handle(self, req: Request, auth: AuthContext) -> Response: ...


class Background(Protocol):
    """Work the process runs beside the requests (reclaim, healing, the drive monitor)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class HoardApp:
    """The ASGI callable. What it serves with is built by ``hoard.server`` and handed in."""

    def __init__(
        self,
        settings: Settings,
        services: Services,
        authenticator: Authenticator,
        admin: AdminHandler,
        background: list[Background],
        host_id: str,
        website: WebsiteEndpoint | None = None,
        website_port: int | None = None,
        observer: Observer | None = None,
        console: ConsoleApp | None = None,
        console_port: int | None = None,
        request_log: RequestLog | None = None,
        internal: InternalApi | None = None,
        internal_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.services = services
        self.store = services.store
        self.authenticator = authenticator
        self.admin = admin
        self.background = background  # started with the event loop, stopped before the store closes
        self._host_id = host_id
        self.handlers = registry()
        # The static website endpoint: requests to its port go there, not to the S3 API.
        self.website = website
        self.website_port = website_port
        self.observer = observer  # /.hoard/health/* and /.hoard/metrics
        # The web console: its own port, answered by the leader process only.
        self.console = console
        self.console_port = console_port
        self.request_log = request_log  # access, audit and bucket logs (started with the background work)
        self.internal = internal  # a cluster node's drives, served to the other nodes (hoard.membership)
        # With internal TLS, the internal API is served on this port alone, and this port serves nothing else.
        self.internal_port = internal_port

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        server = scope.get("server")
        if self.website is not None and server is not None and server[1] == self.website_port:
            await self._website(scope, receive, send)
            return
        if self.console is not None and server is not None and server[1] == self.console_port:
            await self.console(scope, receive, send)
            return
        await self._http(scope, receive, send)

    async def _website(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        assert self.website is not None
        started, started_clock = time.perf_counter(), time.time()
        request_id = secrets.token_hex(8).upper()
        note = requestlog.begin()
        tracked = _TrackedReceive(receive)
        counted = _CountingSend(send)
        try:
            req = Request.from_scope(scope, tracked)
            response = await self.website.handle(req, request_id)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bad request line, or a bug: never a dropped connection
            response = _failure(e, "Website", scope.get("path", "/"), request_id)
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amz-id-2"] = f"{request_id}-{self._host_id}"
        try:
            await send_response(counted, response, head_only=scope.get("method") == "HEAD")
        except OSError:
            log.info("Website %s: client went away while the answer was sent (request %s)", scope.get("path", "/"), request_id)
        instruments().request("Website", response.status, time.perf_counter() - started, tracked.received, counted.sent)
        self._log(scope, note, "website", request_id, "Website", response.status, response, tracked, counted, started, started_clock)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # File I/O, fsync and SQLite reads run in threads; the default pool (cores + 4)
                # would queue concurrent uploads behind a handful of fsyncs.
                asyncio.get_running_loop().set_default_executor(
                    ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="hoard-io")
                )
                for worker in self.background:
                    worker.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for worker in self.background:
                    await worker.stop()
                self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = secrets.token_hex(8).upper()
        resource = scope.get("path", "/")
        method = scope.get("method", "GET")
        trace = ["-"]  # the operation's name, once routed, for the log and the metrics
        tracked = _TrackedReceive(receive)
        counted = _CountingSend(send)
        status = 500  # unless an answer says otherwise: a failure while it streamed
        note, started_clock = requestlog.begin(), time.time()
        try:
            status = await self._answer(scope, tracked, counted, request_id, resource, method, trace)
        finally:
            instruments().request(trace[0], status, time.perf_counter() - started, tracked.received, counted.sent)
            self._log(scope, note, "s3", request_id, trace[0], status, note.response, tracked, counted, started, started_clock)

    def _check_port(self, scope: dict[str, Any], path: str) -> None:
        """With internal TLS, internal calls on its port only, and nothing else there: a node's
        shards never cross the network in clear, and its TLS port is no second S3 endpoint."""
        if self.internal_port is None:
            return
        server = scope.get("server")
        on_internal_port = server is not None and server[1] == self.internal_port
        if path.startswith(INTERNAL_PREFIX) and not on_internal_port:
            raise S3Error("AccessDenied", "This node takes internal calls on its internal TLS address only.")
        if on_internal_port and not path.startswith(INTERNAL_PREFIX):
            raise S3Error("AccessDenied", "This address serves the cluster's internal API only.")

    def _log(
        self, scope: dict[str, Any], note: requestlog.RequestNote, endpoint: str, request_id: str, operation: str, status: int,
        response: Response | None, tracked: _TrackedReceive, counted: _CountingSend, started: float, started_clock: float,
    ) -> None:  # fmt: skip
        if self.request_log is None:
            return
        try:
            record = requestlog.build(
                scope, note, endpoint=endpoint, request_id=request_id, host_id=self._host_id, operation=operation, status=status,
                response_headers=response.headers if response is not None else {}, response_body=response.body if response is not None else b"",
                received=tracked.received, sent=counted.sent, started_at=started, first_byte_at=counted.first_at,
                finished_at=time.perf_counter(), started_clock=started_clock,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - a log must never fail a request
            log.exception("request %s: could not be logged", request_id)
            return
        self.request_log.finish(record)

    async def _answer(
        self, scope: dict[str, Any], tracked: _TrackedReceive, send: Send, request_id: str, resource: str, method: str, trace: list[str]
    ) -> int:
        """Answer one request on the S3 port; returns the status answered (499: the client went
        away before an answer, as nginx counts it)."""
        req_for_cors: Request | None = None
        try:
            req = Request.from_scope(scope, tracked)
            req_for_cors = req
            resource = req.path
            self._check_port(scope, req.path)
            observed = self.observer.operation(req.path) if self.observer is not None else None
            if observed is not None:
                assert self.observer is not None
                trace[0] = observed
                response = await self.observer.handle(req)
            elif self.internal is not None and req.path.startswith(INTERNAL_PREFIX):
                trace[0] = "Internal"
                response = await self.internal.handle(req)
            elif req.path.startswith(ADMIN_PREFIX):
                trace[0] = "Admin"
                auth = self.authenticator.authenticate(req)
                requestlog.note_identity(auth.identity)
                response = await self.admin.handle(req, auth)
            elif req.method == "OPTIONS":
                trace[0] = "Preflight"
                response = await self._preflight(req)
            else:
                response = await self._s3(req, request_id, trace)
        except S3Error as e:
            response = error_response(e, resource, request_id)
        except ClientDisconnected:
            log.info("%s %s: client disconnected mid-request (request %s)", trace[0], resource, request_id)
            return 499
        except asyncio.CancelledError:
            raise
        except Exception as e:
            response = _failure(e, trace[0], resource, request_id)
        if req_for_cors is not None and req_for_cors.method != "OPTIONS" and "origin" in req_for_cors.headers:
            response.headers.update(await self._cors_headers(req_for_cors))
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amz-id-2"] = f"{request_id}-{self._host_id}"
        if not tracked.body_done and _expects_continue(scope):
            # Answered before asking for the body: the client will not send it, and the
            # connection cannot be reused, since the server still expects it (RFC 9110 10.1.1).
            response.headers["connection"] = "close"
        requestlog.noted(response=response)
        try:
            await send_response(send, response, head_only=method == "HEAD")
        except OSError:
            log.info("%s %s: client went away while the answer was sent (request %s)", trace[0], resource, request_id)
        except ReadQuorumError as e:
            # Headers are out: the only honest thing left is to cut the body short.
            log.error("%s %s: %s; the response was cut short (request %s)", trace[0], resource, e, request_id)
        except Exception:
            log.exception("%s %s failed while streaming (request %s)", trace[0], resource, request_id)
            raise
        return response.status

    async def _bucket_rules(self, req: Request) -> list[cors.Rule] | None:
        """The CORS rules of the bucket the request names (None: no such bucket, or not one)."""
        bucket_name, _ = split_target(req.path, req.host, self.settings.domain)
        if bucket_name is None:
            return None
        bucket = await self.services.store.get_bucket(bucket_name)
        return cors.rules_of(bucket.config) if bucket is not None else None

    async def _preflight(self, req: Request) -> Response:
        """A browser's preflight OPTIONS: answered from the bucket's CORS rules, unauthenticated."""
        origin = req.headers.get("origin")
        method = req.headers.get("access-control-request-method")
        if origin is None:
            raise S3Error("BadRequest", "Insufficient information. Origin request header needed.")
        if method is None:
            raise S3Error("BadRequest", "Invalid Access-Control-Request-Method: null")
        asked = [h.strip().lower() for h in req.headers.get("access-control-request-headers", "").split(",") if h.strip()]
        rules = await self._bucket_rules(req)
        rule = cors.match(rules or [], origin, method, asked)
        if rule is None:
            raise S3Error("CORSForbidden")
        return Response(headers=cors.answer_headers(rule, origin, preflight=True, request_headers=asked))

    async def _cors_headers(self, req: Request) -> dict[str, str]:
        """Access-Control-* for an answer to a cross-origin request (errors included, as S3)."""
        try:
            rules = await self._bucket_rules(req)
        except Exception:  # noqa: BLE001 - the answer stands without CORS headers
            return {}
        origin = req.headers["origin"]
        method = req.headers.get("access-control-request-method", req.method)
        rule = cors.match(rules or [], origin, method)
        return cors.answer_headers(rule, origin, preflight=False) if rule is not None else {}

    async def _s3(self, req: Request, request_id: str, trace: list[str]) -> Response:
        op = route(req.method, req.path, req.host, req.params, req.headers, self.settings.domain)
        trace[0] = op.name
        requestlog.noted(bucket=op.bucket, key=op.key)
        if op.name == "PostObject":
            # A browser upload's credentials are in its form body, which its handler reads.
            return await post_object(Context(req, op, UNAUTHENTICATED, self.services, request_id), self.authenticator)
        auth = self.authenticator.authenticate(req)
        requestlog.note_identity(auth.identity)
        if auth.hoisted:
            # Headers a presigned URL carries in its (signed) query act as headers, as in S3,
            # and may change the operation (x-amz-copy-source makes a PUT a copy).
            req = req.with_headers(auth.hoisted)
            op = route(req.method, req.path, req.host, req.params, req.headers, self.settings.domain)
            trace[0] = op.name
        bucket = await self.services.authorizer.authorize(access_request(req, auth, auth.identity, op.name, op.bucket, op.key))
        if op.bucket is not None:
            requestlog.note_bucket(bucket)
        handler = self.handlers.get(op.name)
        if handler is None:
            raise S3Error("NotImplemented", f"{op.name} is not implemented yet.")
        ctx = Context(req, op, auth, self.services, request_id, bucket)
        await check_expected_owner(ctx)
        return await handler(ctx)


def _failure(error: Exception, operation: str, resource: str, request_id: str) -> Response:
    """The answer to a request that ended with a lower layer's error (or a bug), logged as it deserves."""
    s3_error = to_s3_error(error)
    if isinstance(error, IndexUnavailable):  # an outage: every request says so, no traceback each
        log.error("%s %s: %s (request %s)", operation, resource, error, request_id)
    elif s3_error is None or isinstance(error, CommitFailed):
        log.error("%s %s failed (request %s)", operation, resource, request_id, exc_info=error)
        s3_error = s3_error or S3Error("InternalError")
    elif isinstance(error, ReadQuorumError):
        log.error("%s %s: %s (request %s)", operation, resource, error, request_id)
    elif isinstance(error, BodyTimeout):
        log.info("%s %s: the client stopped sending its body (request %s)", operation, resource, request_id)
    response = error_response(s3_error, resource, request_id)
    if isinstance(error, BodyTimeout):
        response.headers["connection"] = "close"  # the rest of the body may still come: not reusable
    return response


def _expects_continue(scope: dict[str, Any]) -> bool:
    return any(k.lower() == b"expect" and v.lower() == b"100-continue" for k, v in scope.get("headers", ()))
