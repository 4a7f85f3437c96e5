"""Static website hosting: a bucket's website configuration set with boto3 and the AWS CLI, and
the website endpoint (``--website-address``) read as a browser and curl read it: by virtual host
``BUCKET.s3-website.localhost``, and by a custom domain named like the bucket.

The browser test (headless Chromium, Debian's ``chromium`` with Playwright) checks what pages
show: an index in a sub-folder, a custom 404 page, a routing-rule redirect and an image."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.conftest import HoardServer, aws_cli, free_port

# Every website host name (BUCKET.s3-website.localhost, a CNAME) reaches the server here.
CHROMIUM_EXTRA_ARGS = ["--host-resolver-rules=MAP * 127.0.0.1"]
TIMEOUT_MS = 15_000
# A PNG of one red pixel: what the page's <img> loads (its natural width is what the test reads).
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def site_server(tmp_path_factory) -> Iterator[HoardServer]:
    web_port = free_port()
    srv = HoardServer(tmp_path_factory.mktemp("website") / "data", extra_args=["--website-address", f"127.0.0.1:{web_port}"])
    srv.web_port = web_port  # type: ignore[attr-defined]
    srv.start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture
def s3(site_server):
    return site_server.client()


def public_read(s3, bucket: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@pytest.fixture
def site(s3) -> str:
    name = f"site-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    pages = {
        "index.html": ("<html><body><h1>Home</h1><a href='docs/'>docs</a><img id='logo' src='img/logo.png'></body></html>", "text/html"),
        "docs/index.html": ("<html><body><h1>Docs index</h1></body></html>", "text/html"),
        "docs/guide.html": ("<html><body><h1>Guide</h1></body></html>", "text/html"),
        "404.html": ("<html><body><h1>Lost?</h1></body></html>", "text/html"),
        "new/page.html": ("<html><body><h1>New page</h1></body></html>", "text/html"),
        "style.css": ("body { color: red }", "text/css"),
    }
    for key, (body, ctype) in pages.items():
        s3.put_object(Bucket=name, Key=key, Body=body.encode(), ContentType=ctype)
    s3.put_object(Bucket=name, Key="img/logo.png", Body=PIXEL, ContentType="image/png")
    s3.put_object(Bucket=name, Key="moved.html", Body=b"", WebsiteRedirectLocation="/new/page.html")
    s3.put_bucket_website(
        Bucket=name,
        WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"},
            "ErrorDocument": {"Key": "404.html"},
            "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "new/"}}],
        },
    )
    public_read(s3, name)
    return name


def get(srv: HoardServer, host: str, path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.web_port, timeout=10)  # type: ignore[attr-defined]
    try:
        conn.request(method, path, headers={"Host": host, **(headers or {})})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def host_of(srv: HoardServer, bucket: str) -> str:
    return f"{bucket}.s3-website.localhost:{srv.web_port}"  # type: ignore[attr-defined]


# -- configuration --------------------------------------------------------------------------------


def test_configuration_round_trip_and_refusals(s3, site):
    got = s3.get_bucket_website(Bucket=site)
    assert got["IndexDocument"] == {"Suffix": "index.html"} and got["ErrorDocument"] == {"Key": "404.html"}
    assert got["RoutingRules"][0]["Redirect"] == {"ReplaceKeyPrefixWith": "new/"}
    for bad in [
        {"IndexDocument": {"Suffix": ""}},
        {"IndexDocument": {"Suffix": "a/b.html"}},
        {"ErrorDocument": {"Key": "e.html"}},  # no IndexDocument
        {"RedirectAllRequestsTo": {"HostName": "example.com"}, "IndexDocument": {"Suffix": "index.html"}},
    ]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_website(Bucket=site, WebsiteConfiguration=bad)
        assert e.value.response["Error"]["Code"] in ("InvalidArgument", "MalformedXML"), bad
    assert s3.get_bucket_website(Bucket=site)["IndexDocument"] == {"Suffix": "index.html"}  # unchanged
    s3.delete_bucket_website(Bucket=site)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=site)
    assert e.value.response["Error"]["Code"] == "NoSuchWebsiteConfiguration"


def test_the_aws_cli_turns_a_synced_folder_into_a_site(site_server, tmp_path):
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": site_server.env()["HOARD_ROOT_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": site_server.env()["HOARD_ROOT_SECRET_KEY"],
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "c"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "k")})
    folder = tmp_path / "www"
    (folder / "about").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>synced home</h1>")
    (folder / "about" / "index.html").write_text("<h1>about us</h1>")
    (folder / "404.html").write_text("<h1>nothing here</h1>")
    bucket = f"cli-{uuid.uuid4().hex[:8]}"

    def aws(*args: str) -> None:
        done = subprocess.run([*aws_cli(), "--endpoint-url", site_server.endpoint, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    aws("s3", "mb", f"s3://{bucket}")
    aws("s3", "sync", str(folder), f"s3://{bucket}")
    aws("s3", "website", f"s3://{bucket}", "--index-document", "index.html", "--error-document", "404.html")
    public_read(site_server.client(), bucket)
    status, headers, body = get(site_server, host_of(site_server, bucket), "/")
    assert (status, body) == (200, b"<h1>synced home</h1>") and headers["content-type"] == "text/html"
    assert get(site_server, host_of(site_server, bucket), "/about/")[2] == b"<h1>about us</h1>"
    status, _, body = get(site_server, host_of(site_server, bucket), "/missing")
    assert (status, body) == (404, b"<h1>nothing here</h1>")


# -- the endpoint ---------------------------------------------------------------------------------


def test_index_documents_folders_and_redirects(site_server, site):
    host = host_of(site_server, site)
    status, headers, body = get(site_server, host, "/")
    assert status == 200 and b"<h1>Home</h1>" in body and headers["content-type"] == "text/html" and headers["etag"]
    assert b"Docs index" in get(site_server, host, "/docs/")[2]
    status, headers, _ = get(site_server, host, "/docs")  # a folder without its slash: S3 sends the browser there
    assert status == 302 and headers["location"].endswith("/docs/")
    assert b"Guide" in get(site_server, host, "/docs/guide.html")[2]
    status, headers, _ = get(site_server, host, "/old/page.html")  # the routing rule
    assert status == 301 and headers["location"].endswith("/new/page.html")
    status, headers, _ = get(site_server, host, "/moved.html")  # x-amz-website-redirect-location
    assert status == 301 and headers["location"] == "/new/page.html"
    status, headers, body = get(site_server, host, "/nothing/here.html")
    assert status == 404 and b"Lost?" in body  # the bucket's error document, with the error's status
    status, headers, body = get(site_server, host, "/style.css", "HEAD")
    assert status == 200 and body == b"" and headers["content-type"] == "text/css" and headers["content-length"] == "19"


def test_ranges_conditionals_and_methods(site_server, site):
    host = host_of(site_server, site)
    status, headers, body = get(site_server, host, "/style.css", headers={"Range": "bytes=0-3"})
    assert (status, body) == (206, b"body") and headers["content-range"] == "bytes 0-3/19"
    etag = get(site_server, host, "/style.css")[1]["etag"]
    assert get(site_server, host, "/style.css", headers={"If-None-Match": etag})[0] == 304
    assert get(site_server, host, "/style.css", headers={"If-Match": '"nope"'})[0] == 412
    for method in ("PUT", "POST", "DELETE"):
        status, headers, body = get(site_server, host, "/style.css", method)
        assert status == 405 and b"MethodNotAllowed" in body
    assert get(site_server, host, "/style.css")[2] == b"body { color: red }"  # nothing was changed


def test_custom_domain_named_like_the_bucket(site_server, s3):
    name = f"www.example-{uuid.uuid4().hex[:6]}.test"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="index.html", Body=b"custom domain", ContentType="text/html")
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    public_read(s3, name)
    assert get(site_server, f"{name}:{site_server.web_port}", "/")[2] == b"custom domain"


def test_only_what_anyone_may_read_is_served(site_server, s3):
    name = f"private-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="index.html", Body=b"secret", ContentType="text/html")
    s3.put_object(Bucket=name, Key="public.html", Body=b"open", ContentType="text/html", ACL="public-read")
    host = host_of(site_server, name)
    assert get(site_server, host, "/")[0] == 404  # no website configuration: 404 NoSuchWebsiteConfiguration
    assert b"NoSuchWebsiteConfiguration" in get(site_server, host, "/")[2]
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    status, _, body = get(site_server, host, "/")
    assert status == 403 and b"secret" not in body and b"AccessDenied" in body
    assert get(site_server, host, "/public.html")[2] == b"open"  # an object ACL opens one object
    assert get(site_server, f"nosuchbucket-{uuid.uuid4().hex[:6]}.s3-website.localhost", "/")[0] == 404
    # A signed S3 request is no key to the website: it is anonymous there.
    assert get(site_server, host, "/", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})[0] == 403


def test_basic_authentication_reads_a_private_bucket(site_server, s3):
    import base64

    name = f"private-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="index.html", Body=b"members only", ContentType="text/html")
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    env = site_server.env()
    good = base64.b64encode(f"{env['HOARD_ROOT_ACCESS_KEY']}:{env['HOARD_ROOT_SECRET_KEY']}".encode()).decode()
    bad = base64.b64encode(f"{env['HOARD_ROOT_ACCESS_KEY']}:wrong".encode()).decode()
    host = host_of(site_server, name)
    assert get(site_server, host, "/", headers={"Authorization": f"Basic {good}"})[2] == b"members only"
    assert get(site_server, host, "/", headers={"Authorization": f"Basic {bad}"})[0] == 403


def test_bad_paths_never_leave_the_bucket(site_server, s3, site):
    other = f"other-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="secret.txt", Body=b"other bucket")
    public_read(s3, other)
    host = host_of(site_server, site)
    for path in [f"/../{other}/secret.txt", f"/%2e%2e/{other}/secret.txt", f"/..%2F{other}%2Fsecret.txt", "/" + "a" * 2000, "/%ff%fe", "/%00"]:
        status, _, body = get(site_server, host, path)
        assert b"other bucket" not in body and status in (400, 404), (path, status)


def test_redirect_all_requests(site_server, s3):
    name = f"redir-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "example.org", "Protocol": "https"}})
    status, headers, _ = get(site_server, host_of(site_server, name), "/a/b.html")
    assert status == 301 and headers["location"] == "https://example.org/a/b.html"


# -- in a browser ---------------------------------------------------------------------------------



def test_a_browser_sees_the_site(site_server, site, browser):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    base = f"http://{host_of(site_server, site)}"
    try:
        page.goto(base + "/")
        assert page.locator("h1").inner_text() == "Home"
        page.wait_for_function("document.getElementById('logo').complete")
        assert page.evaluate("document.getElementById('logo').naturalWidth") == 1  # the image loaded
        page.click("text=docs")
        assert page.locator("h1").inner_text() == "Docs index" and page.url == base + "/docs/"
        page.goto(base + "/docs")  # redirected to the folder
        assert page.url == base + "/docs/" and page.locator("h1").inner_text() == "Docs index"
        response = page.goto(base + "/old/page.html")  # routing rule
        assert page.url == base + "/new/page.html" and page.locator("h1").inner_text() == "New page"
        assert response is not None and response.status == 200
        response = page.goto(base + "/no/such/page")
        assert response is not None and response.status == 404 and page.locator("h1").inner_text() == "Lost?"
    finally:
        page.close()


def test_with_two_worker_processes(tmp_path):
    web_port = free_port()
    srv = HoardServer(tmp_path / "data", extra_args=["--workers", "2", "--website-address", f"127.0.0.1:{web_port}"])
    srv.web_port = web_port  # type: ignore[attr-defined]
    srv.start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="two")
        s3.put_object(Bucket="two", Key="index.html", Body=b"served by either", ContentType="text/html")
        s3.put_bucket_website(Bucket="two", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
        public_read(s3, "two")
        workers = set()
        for _ in range(12):
            status, headers, body = get(srv, host_of(srv, "two"), "/")
            assert (status, body) == (200, b"served by either")
            workers.add(headers["x-amz-id-2"].rsplit("-", 1)[1])
        assert workers <= {"w0", "w1"} and workers
        # The S3 port still speaks S3, not the website.
        assert s3.get_object(Bucket="two", Key="index.html")["Body"].read() == b"served by either"
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_a_routing_rule_that_redirects_to_itself_is_answered_once(site_server, s3):
    """The browser would loop (and give up); the server answers each request with one redirect,
    never following its own rules."""
    name = f"loop-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_website(
        Bucket=name,
        WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"},
            "RoutingRules": [
                {"Condition": {"KeyPrefixEquals": "a/"}, "Redirect": {"ReplaceKeyPrefixWith": "b/"}},
                {"Condition": {"KeyPrefixEquals": "b/"}, "Redirect": {"ReplaceKeyPrefixWith": "a/"}},
                {"Condition": {"HttpErrorCodeReturnedEquals": "404"}, "Redirect": {"ReplaceKeyWith": "missing.html"}},
            ],
        },
    )
    public_read(s3, name)
    host = host_of(site_server, name)
    status, headers, _ = get(site_server, host, "/a/x.html")
    assert status == 301 and headers["location"].endswith("/b/x.html")
    status, headers, _ = get(site_server, host, "/b/x.html")
    assert status == 301 and headers["location"].endswith("/a/x.html")
    # The error rule sends a 404 to a page that is itself missing: one redirect per request.
    status, headers, _ = get(site_server, host, "/missing.html")
    assert status == 301 and headers["location"].endswith("/missing.html")


def test_malformed_website_documents_are_refused(site_server, s3, site):
    import base64
    import hashlib

    from tests.wire import send

    for body in [b"<WebsiteConfiguration><IndexDocument>", b'<!DOCTYPE x [<!ENTITY e "e">]><WebsiteConfiguration>&e;</WebsiteConfiguration>', b"<Other/>",
                 b"<WebsiteConfiguration><IndexDocument><Suffix>i.html</Suffix></IndexDocument><Bogus/></WebsiteConfiguration>"]:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        answer = send(site_server, "PUT", f"/{site}?website", body, {"Content-MD5": md5})
        assert answer.status == 400 and answer.code == "MalformedXML", (body, answer.body)
    assert s3.get_bucket_website(Bucket=site)["ErrorDocument"] == {"Key": "404.html"}  # the configuration stands
