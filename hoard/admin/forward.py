"""Admin requests that reach a worker other than the leader are passed on to the leader.

The leader holds the heal jobs and their progress, so it alone can answer. It listens on an
abstract unix socket known only to the server's processes; the request goes there unchanged,
signature and all, and the leader checks it again as if it had come in directly.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl

from hoard.admin.api import check_admin_request
from hoard.http.errors import BodyTooLarge
from hoard.http.request import BodyStream, Request
from hoard.http.response import Response
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

# Hop-by-hop headers belong to the client's connection, not to the request passed on.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "expect"}
_KEPT_RESPONSE_HEADERS = ("content-type",)
MAX_ADMIN_BODY = 64 * 1024  # a policy document is the largest admin request body


def _leader_tls() -> ssl.SSLContext:
    """TLS to the leader's socket, which uvicorn serves as it serves the port. Its certificate is
    not checked: the socket's name is known only to this server's processes (and the leader
    checks each request's signature anyway), and the name it was made for is not the socket's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _LeaderConnection(http.client.HTTPConnection):
    def __init__(self, address: str, timeout: float, tls: ssl.SSLContext | None) -> None:
        super().__init__("leader", timeout=timeout)
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._address)
        self.sock = self._tls.wrap_socket(sock) if self._tls is not None else sock


class AdminForwarder:
    def __init__(self, leader_address: str, timeout: float = 60.0, tls: bool = False) -> None:
        self.leader_address = leader_address
        self.timeout = timeout  # every admin request is answered at once: heal jobs and index rebuilds are polled
        self.tls = _leader_tls() if tls else None  # the leader's socket speaks TLS when the port does

    async def handle(self, req: Request, auth: AuthContext) -> Response:
        check_admin_request(auth)  # refused here already: no need to bother the leader
        try:
            body = await BodyStream(req.receive, 20.0).read_all(MAX_ADMIN_BODY)
        except BodyTooLarge:
            raise S3Error("InvalidRequest", f"Admin request bodies are at most {MAX_ADMIN_BODY} bytes.") from None
        return await asyncio.to_thread(self._forward, req, body)

    def _forward(self, req: Request, body: bytes) -> Response:
        conn = _LeaderConnection(self.leader_address, self.timeout, self.tls)
        try:
            target = req.raw_path + (f"?{req.raw_query}" if req.raw_query else "")
            conn.putrequest(req.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in req.headers.items():
                if name not in _HOP_BY_HOP and name != "content-length":
                    conn.putheader(name, value)
            conn.putheader("content-length", str(len(body)))
            conn.endheaders(body)
            answer = conn.getresponse()
            body = answer.read()
        except OSError as e:
            raise S3Error("ServiceUnavailable", f"The leader process did not answer: {e}") from None
        finally:
            conn.close()
        headers = {name: answer.getheader(name) for name in _KEPT_RESPONSE_HEADERS if answer.getheader(name)}
        return Response(status=answer.status, headers=headers, body=body)
