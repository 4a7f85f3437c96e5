"""The console's defences, with raw HTTP requests (no browser): forged and missing CSRF tokens,
requests from another site, a session cookie used after logout, bad logins, path tricks in the
object browser's URLs, and the headers every page carries."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, free_port


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[HoardServer, str]]:
    console_port = free_port()
    srv = HoardServer(tmp_path_factory.mktemp("console-http") / "data", env_extra={"HOARD_CONSOLE_ADDRESS": f"127.0.0.1:{console_port}"}).start()
    yield srv, f"http://127.0.0.1:{console_port}"
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def login(console: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> tuple[requests.Session, str]:
    """A logged-in session and the CSRF token its pages carry."""
    browser = requests.Session()
    form = browser.get(f"{console}/login", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = browser.post(f"{console}/login", data={"csrf": token, "access_key": access_key, "secret_key": secret_key, "next": "/buckets"}, timeout=30)
    assert answer.status_code == 200 and answer.url.endswith("/buckets"), answer.text[:500]
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', answer.text).group(1)
    return browser, csrf


def test_pages_need_a_session(site) -> None:
    _, console = site
    answer = requests.get(f"{console}/buckets", allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fbuckets"
    posted = requests.post(f"{console}/buckets", data={"name": "nope"}, allow_redirects=False, timeout=30)
    assert posted.status_code == 401


def test_login_refuses_wrong_keys_and_forged_forms(site) -> None:
    srv, console = site
    browser = requests.Session()
    form = browser.get(f"{console}/login", timeout=30)
    assert "httponly" in form.headers["set-cookie"].lower() and "samesite=strict" in form.headers["set-cookie"].lower()
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    wrong = browser.post(f"{console}/login", data={"csrf": token, "access_key": ACCESS_KEY, "secret_key": "not-the-secret"}, timeout=30)
    assert wrong.status_code == 401 and "wrong" in wrong.text and "hoard_console=" not in wrong.headers.get("set-cookie", "")
    unknown = browser.post(f"{console}/login", data={"csrf": wrong.cookies.get("hoard_login_csrf") or browser.cookies["hoard_login_csrf"], "access_key": "AKIANOSUCHKEY0000000", "secret_key": "x"}, timeout=30)
    assert unknown.status_code == 401
    # Without the login form's token (a form posted from another site): refused before any check.
    forged = requests.post(f"{console}/login", data={"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}, timeout=30)
    assert forged.status_code == 403 and "hoard_console=" not in forged.headers.get("set-cookie", "")
    # An open redirect through next= is not possible: only the console's own paths.
    ok = requests.Session()
    form = ok.get(f"{console}/login", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = ok.post(f"{console}/login", data={"csrf": token, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "next": "//evil.example/x"}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"] == "/buckets"


def test_csrf_tokens_are_required_and_checked(site) -> None:
    srv, console = site
    browser, csrf = login(console)
    s3 = srv.client()
    for name, data, headers in (
        ("missing", {}, {}),
        ("forged", {"csrf": "A" * 43}, {}),
        ("another session's", {"csrf": login(console)[1]}, {}),
        ("right token, other site", {"csrf": csrf}, {"Origin": "http://evil.example"}),
    ):
        bucket = f"csrf-{uuid.uuid4().hex[:8]}"
        answer = browser.post(f"{console}/buckets", data={**data, "name": bucket}, headers=headers, allow_redirects=False, timeout=30)
        assert answer.status_code == 403, name
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]], name
    # The upload API takes the token in a header.
    bucket = f"csrf-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    refused = browser.put(f"{console}/api/upload/{bucket}/single", params={"key": "x"}, data=b"data", headers={"X-CSRF-Token": "forged"}, timeout=30)
    assert refused.status_code == 403
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    taken = browser.put(f"{console}/api/upload/{bucket}/single", params={"key": "a b+c.txt"}, data=b"data", headers={"X-CSRF-Token": csrf}, timeout=30)
    assert taken.status_code == 200, taken.text
    assert s3.get_object(Bucket=bucket, Key="a b+c.txt")["Body"].read() == b"data"
    # The right token from this console's page: done.
    created = browser.post(f"{console}/buckets", data={"csrf": csrf, "name": f"{bucket}-ok"}, allow_redirects=False, timeout=30)
    assert created.status_code == 303
    s3.head_bucket(Bucket=f"{bucket}-ok")


def test_a_cookie_used_after_logout_opens_nothing(site) -> None:
    _, console = site
    browser, csrf = login(console)
    stolen = browser.cookies["hoard_console"]
    out = browser.post(f"{console}/logout", data={"csrf": csrf}, allow_redirects=False, timeout=30)
    assert out.status_code == 303 and "max-age=0" in out.headers["set-cookie"].lower()
    thief = requests.Session()
    thief.cookies.set("hoard_console", stolen)
    answer = thief.get(f"{console}/buckets", allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert thief.post(f"{console}/buckets", data={"csrf": csrf, "name": "after-logout"}, allow_redirects=False, timeout=30).status_code == 401


def test_path_tricks_reach_no_file_and_no_other_bucket(site) -> None:
    srv, console = site
    browser, _ = login(console)
    s3 = srv.client()
    bucket = f"tricks-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="../../etc/passwd", Body=b"a key, not a file")
    for path in ("/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e/web.py", "/static/../../config.py", "/browse/../../etc/passwd", "/object/..%2f..%2fetc"):
        answer = browser.get(console + path, allow_redirects=False, timeout=30)
        assert answer.status_code in (403, 404), path
        assert "import" not in answer.text and "root:" not in answer.text, path
    # A key that looks like a path is a key: shown, opened and downloaded as itself.
    listing = browser.get(f"{console}/browse/{bucket}", params={"prefix": "../../etc/"}, timeout=30)
    assert listing.status_code == 200 and "passwd" in listing.text
    details = browser.get(f"{console}/object/{bucket}", params={"key": "../../etc/passwd"}, timeout=30)
    assert details.status_code == 200 and "a key, not a file" not in details.text and "17 B" in details.text
    download = browser.get(f"{console}/download/{bucket}", params={"key": "../../etc/passwd"}, timeout=30)
    assert download.status_code == 200 and download.content == b"a key, not a file"
    assert 'filename="passwd"' in download.headers["content-disposition"]
    # A bucket name with a slash cannot be smuggled through a path segment.
    assert browser.get(f"{console}/browse/{bucket}%2F..%2Fother", timeout=30).status_code in (400, 404)


def test_every_page_carries_the_security_headers(site) -> None:
    _, console = site
    browser, _ = login(console)
    for path in ("/login", "/buckets"):
        headers = browser.get(console + path, timeout=30).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"


def test_wrong_logins_are_throttled(tmp_path) -> None:
    # A server of its own: the throttle holds this address back for minutes.
    console_port = free_port()
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_CONSOLE_ADDRESS": f"127.0.0.1:{console_port}"}).start()
    try:
        _throttled(f"http://127.0.0.1:{console_port}")
    finally:
        srv.stop()


def _throttled(console: str) -> None:
    browser = requests.Session()
    statuses = []
    for _ in range(12):
        form = browser.get(f"{console}/login", timeout=30)
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        statuses.append(browser.post(f"{console}/login", data={"csrf": token, "access_key": ACCESS_KEY, "secret_key": "wrong"}, timeout=30).status_code)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    # While throttled, even the right keys wait (guessing must not learn anything).
    form = browser.get(f"{console}/login", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    assert browser.post(f"{console}/login", data={"csrf": token, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}, timeout=30).status_code == 429


def test_metrics_and_health_checks_on_the_console_port(site) -> None:
    """Where scrapers and probes look by default: /metrics and /health/*, no credentials for health."""
    from prometheus_client.parser import text_string_to_metric_families

    srv, console = site
    assert requests.get(f"{console}/health/live", timeout=30).json() == {"status": "ok"}
    assert requests.get(f"{console}/health/ready", timeout=30).json() == {"status": "ok"}
    s3 = srv.client()
    bucket = f"metrics-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def puts() -> float:
        text = requests.get(f"{console}/metrics", timeout=30).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "hoard_requests_total" and sample.labels.get("operation") == "PutObject" and sample.labels.get("status") == "200"
        )

    before = puts()
    for i in range(7):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
    assert puts() - before == 7


def test_the_object_browser_pages_folders_versions_and_search(site) -> None:
    srv, console = site
    browser, _ = login(console)
    s3 = srv.client()
    bucket = f"pages-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    keys = [f"logs/{i:04d}.txt" for i in range(250)] + ["logs/2026/a.txt", "logs/2027/b.txt", "top.txt"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    s3.put_object(Bucket=bucket, Key="top.txt", Body=b"second version")

    def page(**params) -> str:
        answer = browser.get(f"{console}/browse/{bucket}", params=params, timeout=30)
        assert answer.status_code == 200
        return answer.text

    def rows(text: str) -> list[str]:
        return re.findall(r'<tr class="object" data-key="([^"]+)"', text)

    root = page()
    assert rows(root) == ["top.txt"] and 'prefix=logs%2F' in root  # one object, one folder
    seen, params, pages = [], {"prefix": "logs/"}, 0
    while True:
        text = page(**params)
        pages += 1
        seen += rows(text)
        found = re.search(r'href="([^"]+)" id="next-page"', text)
        if not found:
            break
        params = dict(parse_qsl(urlsplit(html.unescape(found.group(1))).query))
    assert pages == 3 and seen == sorted(k for k in keys if k.startswith("logs/") and k.count("/") == 1)
    assert 'id="first-page"' in text
    # Folders come in key order too: "2026/" after "0249.txt", on the last page.
    folders = re.findall(r'<tr class="folder"><td><a href="[^"]+">([^<]+)</a>', text)
    assert folders == ["2026/", "2027/"]
    assert f'href="/browse/{bucket}?prefix=logs%2F"' in page(prefix="logs/2026/")  # the breadcrumb back
    assert rows(page(prefix="logs/", search="012")) == [f"logs/012{i}.txt" for i in range(10)]
    versions = page(versions="1")
    assert versions.count('data-key="top.txt"') == 2 and "latest" in versions
