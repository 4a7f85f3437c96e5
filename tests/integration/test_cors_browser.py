"""CORS as a real browser enforces it: headless Chromium (Debian's ``chromium``, driven by
Playwright) on a page served from another origin uploads with a presigned POST, writes with a
presigned PUT that needs a preflight, and downloads with fetch(), against a real server.

What this proves beyond test_cors.py's raw requests: that Chromium accepts Hoard's preflight
answers and the Access-Control-* headers on its real answers (the browser is the judge, not our
reading of the rules), that the page can read the headers a rule exposes and only those, and
that without a rule for the page's origin, or once the rules are deleted, Chromium refuses the
page the answer, and a write that needs a preflight is never sent.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from playwright.sync_api import Browser, Page

from tests.conftest import HoardServer, free_port

# Per browser action: long enough for a loaded CI machine, short enough that a hang fails fast.
TIMEOUT_MS = 15_000
# Non-ASCII on purpose: the bytes stored must be the page's UTF-8, not a re-encoding of them.
TEXT = "Grüße from another origin ✓\n"

# The page's helpers run fetch() as an application on that origin would, and never throw: a
# rejected fetch comes back as the error's name, which is all a page learns of a CORS refusal.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Hoard CORS page</title><script>
async function settle(request) {
  try {
    const response = await request();
    return {status: response.status, etag: response.headers.get("etag"), body: await response.text()};
  } catch (e) {
    return {error: e.name, message: e.message};
  }
}
window.postUpload = (url, fields, text) => settle(() => {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", new Blob([text], {type: "text/plain"}), "note.txt");  // S3 reads no field after the file
  return fetch(url, {method: "POST", body: form});
});
window.putObject = (url, headers, text) => settle(() => fetch(url, {method: "PUT", headers, body: text}));
window.download = (url) => settle(() => fetch(url, {cache: "no-store"}));
</script></head><body>Hoard CORS test page</body></html>
"""


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The page's origin: the server's host at another port, which makes it another origin."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _PageHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Outcome:
    """What the page's fetch() gave it, and the URL it fetched (to find the browser's view of it)."""

    url: str
    result: dict

    @property
    def ok(self) -> bool:
        return "error" not in self.result


@dataclass
class Tab:
    """The page, and what Chromium's network layer said about its requests. Playwright's own
    request events leave preflights out and give no reason for a failure; the DevTools protocol
    has both: each preflight's answer, and the CORS check a refused request failed."""

    page: Page
    urls: dict[str, str] = field(default_factory=dict)  # DevTools request id -> URL
    preflights: dict[str, int] = field(default_factory=dict)  # URL -> status of its preflight's answer
    refusals: dict[str, str] = field(default_factory=dict)  # URL -> Chromium's corsError
    finished: set[str] = field(default_factory=set)  # URLs of requests done, loaded or failed

    def listen(self) -> None:
        cdp = self.page.context.new_cdp_session(self.page)
        cdp.on("Network.requestWillBeSent", lambda e: self.urls.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFailed", self._failure)
        cdp.on("Network.loadingFinished", lambda e: self.finished.add(self.urls.get(e["requestId"], "")))
        cdp.send("Network.enable")

    def _response(self, event: dict) -> None:
        if event.get("type") == "Preflight":
            self.preflights[event["response"]["url"]] = event["response"]["status"]

    def _failure(self, event: dict) -> None:
        url = self.urls.get(event["requestId"], "")
        if "corsErrorStatus" in event:
            self.refusals[url] = event["corsErrorStatus"]["corsError"]
        self.finished.add(url)

    def run(self, helper: str, url: str, *args: Any) -> Outcome:
        return Outcome(url, self.page.evaluate(f"(args) => {helper}(...args)", [url, *args]))

    def wait(self, seen: Callable[[], bool], timeout: float = 5.0) -> bool:
        """DevTools events may reach Playwright after the page's own result does; wait_for_timeout,
        unlike sleep, lets Playwright take them in meanwhile."""
        deadline = time.monotonic() + timeout
        while not seen() and time.monotonic() < deadline:
            self.page.wait_for_timeout(20)
        return seen()

    def refusal(self, outcome: Outcome) -> str | None:
        """Why Chromium refused the page this answer (None: it did not). fetch() rejects a CORS
        refusal and an unreachable server alike with a TypeError; only the browser knows which."""
        assert outcome.result.get("error") == "TypeError", f"fetch() was not refused: {outcome.result}"
        self.wait(lambda: outcome.url in self.refusals)
        return self.refusals.get(outcome.url)

    def preflight(self, outcome: Outcome) -> int | None:
        """The status of the answer to the preflight Chromium sent before this request (None: none).
        A preflight's answer comes before the end of any request to its URL, so once one has
        ended, a preflight not seen was not sent."""
        self.wait(lambda: outcome.url in self.finished)
        return self.preflights.get(outcome.url)


@pytest.fixture
def tab(browser: Browser, page_origin: str) -> Iterator[Tab]:
    """A fresh context per test: its own HTTP and preflight caches, so no answer of one test is
    reused by the next (Chromium keeps a preflight 5 s even without Access-Control-Max-Age)."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = Tab(context.new_page())
    tab.listen()
    tab.page.goto(page_origin + "/")
    yield tab
    context.close()


@pytest.fixture
def signer(server: HoardServer) -> BaseClient:
    # SigV4, as SDKs presign today: the headers it signs are headers the browser must send.
    return server.client(signature_version="s3v4")


def allow(origin: str, expose: bool = True) -> dict:
    rule = {"AllowedOrigins": [origin], "AllowedMethods": ["GET", "PUT", "POST"], "AllowedHeaders": ["*"]}
    return {"CORSRules": [rule | ({"ExposeHeaders": ["ETag"]} if expose else {})]}


def post_upload(tab: Tab, signer: BaseClient, bucket: str, key: str, status: str | None = None) -> Outcome:
    """The page uploads TEXT under ``key`` with a presigned POST form: its fields, then the file."""
    fields = {"success_action_status": status} if status else {}
    post = signer.generate_presigned_post(bucket, key, Fields=fields, Conditions=[fields] if status else [], ExpiresIn=300)
    return tab.run("postUpload", post["url"], post["fields"], TEXT)


def presigned_put(tab: Tab, signer: BaseClient, bucket: str, key: str) -> Outcome:
    """The page PUTs TEXT with the Content-Type and metadata header the URL's signature covers:
    neither is a CORS-safelisted request header, so Chromium asks with a preflight first."""
    params = {"Bucket": bucket, "Key": key, "ContentType": "application/octet-stream", "Metadata": {"owner": "page"}}
    url = signer.generate_presigned_url("put_object", Params=params, ExpiresIn=300)
    return tab.run("putObject", url, {"Content-Type": "application/octet-stream", "x-amz-meta-owner": "page"}, TEXT)


def download(tab: Tab, signer: BaseClient, bucket: str, key: str) -> Outcome:
    return tab.run("download", signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300))


def missing(s3: BaseClient, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return False


ETAG = '"' + hashlib.md5(TEXT.encode()).hexdigest() + '"'


@pytest.mark.parametrize("status", [None, "201"], ids=["204", "201"])
def test_presigned_post_upload_then_fetch_download(tab, page_origin, signer, s3, bucket, status):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=allow(page_origin))
    key = f"uploads/{uuid.uuid4().hex}.txt"
    up = post_upload(tab, signer, bucket, key, status)
    assert up.ok, up.result
    assert up.result["status"] == (201 if status else 204)
    # Readable only because the rule exposes ETag: the browser hands a page null otherwise.
    assert up.result["etag"] == ETAG
    if status:
        assert f"<Key>{key}</Key>" in up.result["body"]
    stored = s3.get_object(Bucket=bucket, Key=key)
    assert (stored["Body"].read(), stored["ETag"]) == (TEXT.encode(), ETAG)

    down = download(tab, signer, bucket, key)
    assert down.ok, down.result
    assert (down.result["status"], down.result["body"], down.result["etag"]) == (200, TEXT, ETAG)


def test_etag_unreadable_unless_exposed(tab, page_origin, signer, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=allow(page_origin, expose=False))
    s3.put_object(Bucket=bucket, Key="k", Body=TEXT.encode())
    down = download(tab, signer, bucket, "k")
    assert (down.result.get("status"), down.result.get("body"), down.result.get("etag")) == (200, TEXT, None), down.result


def test_presigned_put_after_preflight(tab, page_origin, signer, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=allow(page_origin))
    put = presigned_put(tab, signer, bucket, "put.txt")
    assert put.ok, put.result
    assert (put.result["status"], put.result["etag"]) == (200, ETAG)
    assert tab.preflight(put) == 200
    head = s3.head_object(Bucket=bucket, Key="put.txt")
    assert (head["ContentType"], head["Metadata"]) == ("application/octet-stream", {"owner": "page"})
    assert s3.get_object(Bucket=bucket, Key="put.txt")["Body"].read() == TEXT.encode()


@pytest.mark.parametrize("configured", [False, True], ids=["no-configuration", "rule-for-another-origin"])
def test_refused_without_a_rule_for_the_page(tab, signer, s3, bucket, configured):
    if configured:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=allow("http://elsewhere.example"))
    s3.put_object(Bucket=bucket, Key="existing", Body=TEXT.encode())

    assert tab.refusal(download(tab, signer, bucket, "existing")) == "MissingAllowOriginHeader"

    # The preflight is refused, so the PUT itself is never sent: nothing is written.
    put = presigned_put(tab, signer, bucket, "put.txt")
    assert tab.refusal(put) == "PreflightMissingAllowOriginHeader"
    assert tab.preflight(put) == 403
    assert missing(s3, bucket, "put.txt")

    # A form POST needs no preflight: the browser sends it and only keeps the answer from the
    # page. S3 stores such an upload, and so does Hoard: CORS decides what a page may read, the
    # POST policy's signature what may be written.
    post = post_upload(tab, signer, bucket, "post.txt")
    assert tab.refusal(post) == "MissingAllowOriginHeader"
    assert tab.preflight(post) is None
    assert s3.get_object(Bucket=bucket, Key="post.txt")["Body"].read() == TEXT.encode()


def test_delete_bucket_cors_blocks_a_working_fetch(tab, page_origin, signer, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=allow(page_origin))
    s3.put_object(Bucket=bucket, Key="k", Body=TEXT.encode())
    assert download(tab, signer, bucket, "k").result.get("body") == TEXT

    s3.delete_bucket_cors(Bucket=bucket)
    assert tab.refusal(download(tab, signer, bucket, "k")) == "MissingAllowOriginHeader"


def test_errors_are_readable_by_the_page(tab, page_origin, signer, s3, bucket):
    # An application can only tell its user why an upload failed if the error answer, too,
    # carries the Access-Control-* headers; Chromium would otherwise reject with a bare TypeError.
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=allow(page_origin))
    post = signer.generate_presigned_post(bucket, "small", Conditions=[["content-length-range", 1, 5]], ExpiresIn=300)
    up = tab.run("postUpload", post["url"], post["fields"], TEXT * 1000)
    assert up.ok, up.result
    assert up.result["status"] == 400 and "<Code>EntityTooLarge</Code>" in up.result["body"], up.result
    assert missing(s3, bucket, "small")

    down = download(tab, signer, bucket, "absent")
    assert down.ok, down.result
    assert down.result["status"] == 404 and "<Code>NoSuchKey</Code>" in down.result["body"], down.result
