"""The web console in a real headless Chromium (Debian's ``chromium``, driven by Playwright),
against a real server: the whole flow a user takes (log in, create a bucket, upload two files with
progress shown, one of them in parts, make one public and fetch it anonymously, share a link and
open it, edit the bucket policy and see a bad one refused, delete), keys and metadata carrying HTML
shown as text and never run, and a read-only user who cannot reach the admin pages.

A screenshot of every page visited is kept in ``test-artifacts/console/`` (or under
``HOARD_TEST_ARTIFACTS``) for a human to look at.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, free_port

TIMEOUT_MS = 20_000
ARTIFACTS = Path(os.environ.get("HOARD_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")) / "console"
LARGE = 20 * 1024 * 1024 + 12345  # above the console's single-PUT limit: sent in three parts


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[HoardServer, str, dict]]:
    base = tmp_path_factory.mktemp("console")
    console_port = free_port()
    env = {"HOARD_CONSOLE_ADDRESS": f"127.0.0.1:{console_port}", "HOARD_CONSOLE_STATUS_PAGE": "true", "HOARD_DASHBOARD_SAMPLE_SECONDS": "1"}
    srv = HoardServer(base / "data", env_extra=env).start()
    srv.admin("user", "add", "reader")
    srv.admin("policy", "attach", "readonly", "--user", "reader")
    reader = json.loads(srv.admin("key", "create", "--user", "reader", "--json").stdout)
    time.sleep(0.7)  # the key reaches every process's key ring
    yield srv, f"http://127.0.0.1:{console_port}", reader
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: Page, console: str, access_key: str, secret_key: str) -> None:
    page.goto(console + "/")
    expect(page).to_have_url(f"{console}/login?next=%2F")
    page.fill("#access_key", access_key)
    page.fill("#secret_key", secret_key)
    page.click("#login")
    expect(page).to_have_url(f"{console}/buckets")


def anonymous_get(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def test_the_whole_flow(site, browser: Browser, tmp_path: Path) -> None:
    srv, console, _ = site
    s3 = srv.client()
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

    page.goto(console + "/")
    shot(page, "01-login")
    log_in(page, console, ACCESS_KEY, SECRET_KEY)
    expect(page.locator("header nav")).to_contain_text("Dashboard")  # root is an administrator
    shot(page, "02-buckets")

    bucket = f"console-{uuid.uuid4().hex[:10]}"
    page.fill("#bucket-name", bucket)
    page.click("#create-bucket button[type=submit]")
    expect(page).to_have_url(f"{console}/browse/{bucket}")
    expect(page.locator(".flash")).to_contain_text(f"Bucket {bucket} created")
    s3.head_bucket(Bucket=bucket)

    # Two files at once: a small one in one PUT, a large one in parts, each with its progress bar.
    small = tmp_path / "hello.txt"
    small.write_text("hello from the console ✓\n", encoding="utf-8")
    large = tmp_path / "big.bin"
    large.write_bytes(os.urandom(LARGE))
    page.set_input_files("#files", [str(small), str(large)])
    for name in ("hello.txt", "big.bin"):
        item = page.locator(f"#progress li[data-file='{name}']")
        expect(item).to_have_class("done", timeout=60_000)
        bar = item.locator("progress")
        assert bar.evaluate("b => b.value") == bar.evaluate("b => b.max") > 0
        expect(item.locator(".state")).to_have_text(" done")
    shot(page, "03-uploaded")
    assert s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == small.read_bytes()
    big = s3.get_object(Bucket=bucket, Key="big.bin")
    assert hashlib.sha256(big["Body"].read()).digest() == hashlib.sha256(large.read_bytes()).digest()
    assert big["ETag"].endswith('-3"')  # three parts: 8 MiB, 8 MiB, the rest

    page.click("#uploads-finished")
    rows = page.locator("#objects tr.object")
    expect(rows).to_have_count(2)
    shot(page, "04-browse")

    # Object details, then public.
    page.click("#objects a:text-is('hello.txt')")
    expect(page.locator("#object-key")).to_have_text("hello.txt")
    expect(page.locator("#acl-state")).to_have_text("private")
    url = f"{srv.endpoint}/{bucket}/hello.txt"
    assert anonymous_get(url).status_code == 403
    page.click("#toggle-public")
    expect(page.locator("#acl-state")).to_have_text("public")
    fetched = anonymous_get(url)
    assert fetched.status_code == 200 and fetched.content == small.read_bytes()
    shot(page, "05-object")

    # A share link for the large one, opened in the browser.
    page.goto(f"{console}/object/{bucket}?key=big.bin")
    page.select_option("#share-expiry", "900")
    page.click("#share")
    link = page.locator("#share-link").input_value()
    assert link.startswith(f"{srv.endpoint}/{bucket}/big.bin?") and "X-Amz-Expires=900" in link
    shot(page, "06-share")
    opened = context.new_page()
    with opened.expect_download() as download_info:
        try:
            opened.goto(link)
        except Exception:  # noqa: BLE001 - a download ends the navigation; the download is what counts
            pass
    saved = tmp_path / "shared.bin"
    download_info.value.save_as(saved)
    assert saved.read_bytes() == large.read_bytes()
    opened.close()
    assert anonymous_get(f"{srv.endpoint}/{bucket}/big.bin").status_code == 403  # shared, not public

    # The policy editor: broken JSON caught on the page and by the server, a policy S3 refuses
    # refused with S3's reason, then a template saved.
    page.goto(f"{console}/buckets/{bucket}/permissions")
    page.fill("#policy", '{"Version": "2012-10-17", "Statement": [')
    expect(page.locator("#policy-check")).to_contain_text("Not valid JSON")
    page.click("#save-policy")
    expect(page.locator(".flash.error")).to_contain_text("The policy is not JSON")
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::another-bucket/*"}]}
    page.fill("#policy", json.dumps(bad))
    page.click("#save-policy")
    expect(page.locator(".flash.error")).to_contain_text("MalformedPolicy")
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket=bucket)
    page.select_option("#policy-template", "Public read of every object")
    expect(page.locator("#policy-check")).to_contain_text("Valid JSON")
    page.click("#save-policy")
    expect(page.locator(".flash").first).to_contain_text("Bucket policy saved")
    saved_policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert saved_policy["Statement"][0]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert anonymous_get(f"{srv.endpoint}/{bucket}/big.bin").status_code == 200
    shot(page, "07-permissions")

    # Deletes: the bucket refuses while it holds objects (S3's error, shown), then goes.
    page.goto(f"{console}/buckets")
    page.locator(f"tr[data-bucket='{bucket}'] button.danger").click()
    expect(page.locator(".flash.error")).to_contain_text("BucketNotEmpty")
    page.goto(f"{console}/browse/{bucket}")
    for key in ("big.bin", "hello.txt"):
        page.locator(f"tr[data-key='{key}'] button.danger").click()
        expect(page.locator(".flash").first).to_contain_text(f"Deleted {key}")
    expect(page.locator("#objects tr.object")).to_have_count(0)
    page.goto(f"{console}/buckets")
    page.locator(f"tr[data-bucket='{bucket}'] button.danger").click()
    expect(page.locator(".flash").first).to_contain_text(f"Bucket {bucket} deleted")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=bucket)
    assert any("Delete" in message for message in dialogs)  # each delete asked first

    page.click("header button:text-is('Log out')")
    expect(page).to_have_url(f"{console}/login")
    context.close()


def test_files_dropped_on_the_page_are_uploaded(site, browser: Browser) -> None:
    srv, console, _ = site
    s3 = srv.client()
    bucket = f"console-drop-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, console, ACCESS_KEY, SECRET_KEY)
    page.goto(f"{console}/browse/{bucket}?prefix=docs%2F")
    # What a drag from the desktop hands the page: a DataTransfer holding files.
    transfer = page.evaluate_handle(
        """() => {
            const t = new DataTransfer();
            t.items.add(new File(["first dropped file"], "one.txt", {type: "text/plain"}));
            t.items.add(new File([new Uint8Array(3000)], "two.bin", {type: "application/octet-stream"}));
            return t;
        }"""
    )
    page.dispatch_event("#drop", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    for name in ("one.txt", "two.bin"):
        expect(page.locator(f"#progress li[data-file='{name}']")).to_have_class("done")
    first = s3.get_object(Bucket=bucket, Key="docs/one.txt")
    assert first["Body"].read() == b"first dropped file" and first["ContentType"] == "text/plain"
    assert s3.get_object(Bucket=bucket, Key="docs/two.bin")["Body"].read() == bytes(3000)
    context.close()


def test_html_in_keys_and_metadata_is_shown_never_run(site, browser: Browser) -> None:
    srv, console, _ = site
    s3 = srv.client()
    bucket = f"console-html-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    # No "/" in it, so that it is an object and not a folder of the listing.
    key = "<img src=x onerror=window.pwned=2><svg onload=window.pwned=3>&amp;.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"note": "<b onmouseover=alert(1)>hi</b>"})
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, console, ACCESS_KEY, SECRET_KEY)
    page.goto(f"{console}/browse/{bucket}")
    expect(page.locator("#objects tr.object a").first).to_have_text(key)
    page.locator("#objects tr.object a").first.click()
    expect(page.locator("#object-key")).to_have_text(key)
    expect(page.locator("#metadata")).to_contain_text("<b onmouseover=alert(1)>hi</b>")
    assert page.evaluate("window.pwned === undefined")
    assert page.locator("img[src=x]").count() == 0 and page.locator("svg").count() == 0 and page.locator("#metadata b").count() == 0
    shot(page, "08-html-key")
    assert dialogs == []
    context.close()


def test_a_read_only_user_cannot_reach_admin_actions(site, browser: Browser) -> None:
    srv, console, reader = site
    s3 = srv.client()
    bucket = f"console-ro-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"read me")
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    log_in(page, console, reader["access_key"], reader["secret_key"])
    nav = page.locator("header nav")
    expect(nav).to_contain_text("Buckets")
    expect(nav).not_to_contain_text("Dashboard")
    expect(nav).not_to_contain_text("Users")
    shot(page, "09-read-only-buckets")
    for admin_page in ("/dashboard", "/iam/users"):
        answer = page.goto(console + admin_page)
        assert answer is not None and answer.status == 403
        expect(page.locator("#error-message")).to_contain_text("administrators")
    # What the policy engine refuses, the page shows refused, and nothing changes.
    page.goto(f"{console}/buckets")
    page.fill("#bucket-name", f"{bucket}-new")
    page.click("#create-bucket button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("AccessDenied")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=f"{bucket}-new")
    page.goto(f"{console}/browse/{bucket}")
    page.locator("tr[data-key='doc.txt'] button.danger").click()
    expect(page.locator(".flash.error")).to_contain_text("AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"read me"
    # Reading is allowed: the object's page opens.
    page.goto(f"{console}/object/{bucket}?key=doc.txt")
    expect(page.locator("#object-key")).to_have_text("doc.txt")
    shot(page, "10-read-only-object")
    context.close()


def test_the_dashboard_and_the_status_page(site, browser: Browser) -> None:
    srv, console, _ = site
    s3 = srv.client()
    bucket = f"console-dash-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * 1000)
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="missing")
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, console, ACCESS_KEY, SECRET_KEY)
    time.sleep(2.5)  # two samples of the history (one a second here) after the requests
    page.goto(f"{console}/dashboard")
    expect(page.locator("#state")).to_have_text("ok")
    expect(page.locator("#drives tbody tr")).to_have_count(1)
    expect(page.locator("#drives tbody")).to_contain_text("online")
    workers = page.locator("#workers tbody")
    for name in ("reclaim", "lifecycle", "dashboard history"):
        expect(workers).to_contain_text(name)
    expect(page.locator("#usage tbody")).to_contain_text(bucket)
    # The charts are drawn from the history, and the table of operations counts what was done.
    expect(page.locator("#charts .uplot")).to_have_count(3)
    expect(page.locator("#operations tbody")).to_contain_text("PutObject")
    puts = page.locator("#operations tbody tr", has_text="PutObject").locator("td").nth(1)
    assert int(puts.inner_text()) >= 5
    shot(page, "11-dashboard")
    context.close()
    # The status page: for anyone, without keys, and without names.
    status = requests.get(f"{console}/status.json", timeout=30).json()
    assert status["state"] == "ok" and status["drives"] == {"online": 1, "total": 1}
    anonymous = browser.new_page()
    anonymous.goto(f"{console}/status")
    expect(anonymous.locator("#status-state")).to_have_text("ok")
    assert bucket not in anonymous.content()
    shot(anonymous, "12-status")
    anonymous.close()


def reader_client(srv: HoardServer, keys: dict) -> boto3.client:
    return boto3.client(
        "s3", endpoint_url=srv.endpoint, aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"],
        region_name="us-east-1", config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip
