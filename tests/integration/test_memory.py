"""Bodies stream through fixed buffers: server memory stays flat while a 2 GiB object goes in and out."""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time

import psutil
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer

SIZE = 2 * 1024**3
BLOCK = 1024 * 1024
RSS_LIMIT = 200 * 1024**2


class UnsignedPayloadAuth(S3SigV4Auth):
    """botocore signs every payload over plain HTTP; this test streams an UNSIGNED-PAYLOAD body."""

    def _should_sha256_sign_payload(self, request) -> bool:
        return False


def signed_headers(method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, headers=headers)
    UnsignedPayloadAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    return dict(request.headers.items())


class PeakRss:
    """Samples the resident memory of a process and its children until stopped."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                total = self.proc.memory_info().rss + sum(c.memory_info().rss for c in self.proc.children(recursive=True))
                self.peak = max(self.peak, total)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def blocks():
    seed = os.urandom(BLOCK)
    for i in range(SIZE // BLOCK):
        yield i.to_bytes(8, "big") + seed[8:]


def test_two_gib_object_streams_in_flat_memory(tmp_path):
    srv = HoardServer(tmp_path / "data").start()
    try:
        c = srv.client()
        c.create_bucket(Bucket="big")
        url = f"{srv.endpoint}/big/two-gib.bin"
        headers = signed_headers(
            "PUT", url, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": str(SIZE)}
        )
        with PeakRss(srv.proc.pid) as upload_rss:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)
            conn.putrequest("PUT", "/big/two-gib.bin", skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            sent = hashlib.sha256()
            for block in blocks():
                sent.update(block)
                conn.send(block)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body
            conn.close()

        assert c.head_object(Bucket="big", Key="two-gib.bin")["ContentLength"] == SIZE

        with PeakRss(srv.proc.pid) as download_rss:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)
            conn.request("GET", "/big/two-gib.bin", headers=signed_headers("GET", url, {"X-Amz-Content-SHA256": hashlib.sha256(b"").hexdigest()}))
            response = conn.getresponse()
            assert response.status == 200
            received = hashlib.sha256()
            total = 0
            while chunk := response.read(BLOCK):
                received.update(chunk)
                total += len(chunk)
            conn.close()

        assert total == SIZE
        assert received.hexdigest() == sent.hexdigest()
        assert upload_rss.peak < RSS_LIMIT, f"upload peak RSS {upload_rss.peak / 2**20:.0f} MiB"
        assert download_rss.peak < RSS_LIMIT, f"download peak RSS {download_rss.peak / 2**20:.0f} MiB"
        assert upload_rss.peak > 0 and download_rss.peak > 0
    finally:
        srv.stop()
