"""The console's administrator pages and lifecycle editor in headless Chromium, against a real
server: users, their access keys (the secret shown once, the key logged in with, then revoked and
its console session ended with it), policies attached, groups and members, custom policies (bad
JSON and a policy the server refuses both refused with the reason), and a bucket's lifecycle rules
added from the form, from JSON, refused by S3 and deleted. And, without a browser, that a form
posted to an admin page without its session's CSRF token is refused and changes nothing.

Screenshots go where test_console_browser.py puts its own, numbered from 20.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from botocore.exceptions import ClientError
from playwright.sync_api import Browser, Page, expect

from hoard.admin.client import AdminClient, AdminError
from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, free_port
from tests.integration.test_console_browser import TIMEOUT_MS, log_in, shot


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[HoardServer, str]]:
    base = tmp_path_factory.mktemp("console-admin")
    console_port = free_port()
    srv = HoardServer(base / "data", env_extra={"HOARD_CONSOLE_ADDRESS": f"127.0.0.1:{console_port}"}).start()
    yield srv, f"http://127.0.0.1:{console_port}"
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-5000:]


def new_page(browser: Browser) -> tuple[object, Page]:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())  # the confirm() of every delete and revoke
    return context, page


def api(srv: HoardServer, method: str, request: str, /, **params: str) -> dict:
    """The admin API as root sees it: what the pages changed, read apart from them."""
    return AdminClient(srv.endpoint, ACCESS_KEY, SECRET_KEY).call(method, request, params)


def user_info(srv: HoardServer, name: str) -> dict:
    return api(srv, "GET", "iam/user", name=name)


def exists(srv: HoardServer, what: str, name: str) -> bool:
    try:
        api(srv, "GET", what, name=name)
    except AdminError as e:
        assert e.code == "NoSuchEntity", e
        return False
    return True


def test_users_keys_groups_and_policies(site, browser: Browser) -> None:
    srv, console = site
    suffix = uuid.uuid4().hex[:6]
    user, group, policy = f"alice-{suffix}", f"team-{suffix}", f"one-bucket-{suffix}"
    context, page = new_page(browser)
    log_in(page, console, ACCESS_KEY, SECRET_KEY)
    page.click("header nav a:text-is('Users & policies')")
    expect(page).to_have_url(f"{console}/iam/users")
    shot(page, "20-users")

    page.fill("#user-name", user)
    page.click("#add-user button[type=submit]")
    expect(page).to_have_url(f"{console}/iam/users/{user}")
    expect(page.locator(".flash").first).to_contain_text(f"User {user} added")
    expect(page.locator("#user-state")).to_have_text("enabled")
    assert user_info(srv, user)["keys"] == []
    shot(page, "21-user")

    # A key: its secret on the next page only, with a copy button; never again.
    page.click("#create-key-button")
    expect(page.locator("#new-key")).to_be_visible()
    access_key = page.locator("#new-access-key").input_value()
    secret_key = page.locator("#new-secret-key").input_value()
    assert len(secret_key) >= 30 and access_key in page.locator("#keys").inner_text()
    assert [k["access_key"] for k in user_info(srv, user)["keys"]] == [access_key]
    expect(page.locator("button.copy[data-copy='new-secret-key']")).to_be_visible()
    shot(page, "22-new-key")
    page.reload()
    expect(page.locator("#user-title")).to_have_text(user)
    expect(page.locator("#new-key")).to_have_count(0)
    assert secret_key not in page.content()
    page.goto(f"{console}/iam/users")
    assert secret_key not in page.content()
    expect(page.locator(f"#users tr[data-user='{user}'] td.keys")).to_have_text("1")

    # The readonly policy, attached.
    page.goto(f"{console}/iam/users/{user}")
    page.select_option("#user-policy", "readonly")
    page.click("#attach-user-policy button[type=submit]")
    expect(page.locator(".flash").first).to_contain_text("Policy readonly attached")
    expect(page.locator("#user-policies li[data-policy='readonly']")).to_be_visible()
    assert user_info(srv, user)["policies"] == ["readonly"]

    # The new key logs in, in a browser of its own: a user, not an administrator.
    time.sleep(0.7)  # the key reaches every process's key ring
    other_context, other = new_page(browser)
    log_in(other, console, access_key, secret_key)
    expect(other.locator("header .who")).to_contain_text(access_key)
    expect(other.locator("header nav")).not_to_contain_text("Users")
    assert other.goto(f"{console}/iam/users").status == 403
    shot(other, "23-new-key-logged-in")

    # A group, the user in it, a policy on the group.
    page.click("#iam-nav a:text-is('Groups')")
    expect(page).to_have_url(f"{console}/iam/groups")
    page.fill("#group-name", group)
    page.click("#add-group button[type=submit]")
    expect(page).to_have_url(f"{console}/iam/groups/{group}")
    page.select_option("#member-user", user)
    page.click("#add-member button[type=submit]")
    expect(page.locator(f"#group-members li[data-member='{user}']")).to_be_visible()
    page.select_option("#group-policy", "writeonly")
    page.click("#attach-group-policy button[type=submit]")
    expect(page.locator("#group-policies li[data-policy='writeonly']")).to_be_visible()
    shot(page, "24-group")
    info = api(srv, "GET", "iam/group", name=group)
    assert info["members"] == [user] and info["policies"] == ["writeonly"]
    assert user_info(srv, user)["groups"] == [group]
    page.goto(f"{console}/iam/groups")
    expect(page.locator(f"#groups tr[data-group='{group}'] td.members")).to_have_text(user)

    # A custom policy: broken JSON caught on the page and by the console, one the server's
    # policy rules refuse refused with their reason (the form kept), then a good one.
    page.click("#iam-nav a:text-is('Policies')")
    expect(page.locator("#policies tr[data-policy='readonly']")).to_contain_text("built-in")
    shot(page, "25-policies")
    page.fill("#policy-name", policy)
    page.fill("#policy-document", '{"Version": "2012-10-17", "Statement": [')
    expect(page.locator("#policy-document-check")).to_contain_text("Not valid JSON")
    page.click("#create-policy")
    expect(page.locator(".flash.error")).to_contain_text("The policy is not JSON")
    expect(page.locator("#policy-name")).to_have_value(policy)
    refused = {"Version": "2012-10-17", "Statement": [{"Effect": "Perhaps", "Action": "s3:GetObject", "Resource": "*"}]}
    page.fill("#policy-document", json.dumps(refused))
    expect(page.locator("#policy-document-check")).to_contain_text("Valid JSON")
    page.click("#create-policy")
    expect(page.locator(".flash.error")).to_contain_text("MalformedPolicyDocument")
    shot(page, "26-policy-refused")
    assert not exists(srv, "iam/policy", policy)
    page.select_option("#iam-policy-template", "Read and write one bucket")
    expect(page.locator("#policy-document-check")).to_contain_text("Valid JSON")
    page.click("#create-policy")
    expect(page).to_have_url(f"{console}/iam/policies/{policy}")
    expect(page.locator("#policy-json")).to_contain_text("arn:aws:s3:::BUCKET/*")
    shot(page, "27-policy")
    shown = api(srv, "GET", "iam/policy", name=policy)
    assert shown["document"]["Statement"][0]["Resource"] == ["arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"]

    # Attached, detached, deleted.
    page.goto(f"{console}/iam/users/{user}")
    page.select_option("#user-policy", policy)
    page.click("#attach-user-policy button[type=submit]")
    expect(page.locator(f"#user-policies li[data-policy='{policy}']")).to_be_visible()
    assert user_info(srv, user)["policies"] == ["readonly", policy]
    page.locator(f"#user-policies li[data-policy='{policy}'] button.danger").click()
    expect(page.locator(".flash").first).to_contain_text(f"Policy {policy} detached")
    assert user_info(srv, user)["policies"] == ["readonly"]
    page.goto(f"{console}/iam/policies/{policy}")
    page.click("#remove-policy")
    expect(page).to_have_url(f"{console}/iam/policies")
    expect(page.locator(f"#policies tr[data-policy='{policy}']")).to_have_count(0)

    # Revoked: the key stops working, and the console session it opened ends with it.
    page.goto(f"{console}/iam/users/{user}")
    page.locator(f"#keys tr[data-key='{access_key}'] button.danger").click()
    expect(page.locator(".flash").first).to_contain_text(f"Access key {access_key} revoked")
    expect(page.locator("#keys tr[data-key]")).to_have_count(0)
    assert user_info(srv, user)["keys"] == []
    shot(page, "28-key-revoked")
    other.goto(f"{console}/buckets")
    expect(other).to_have_url(re.compile(re.escape(f"{console}/login?next=")))

    # Disabling the user ends the sessions of every key it has.
    page.click("#create-key-button")
    second = (page.locator("#new-access-key").input_value(), page.locator("#new-secret-key").input_value())
    time.sleep(0.7)
    log_in(other, console, *second)
    page.click("#toggle-enabled")
    expect(page.locator("#user-state")).to_have_text("disabled")
    assert user_info(srv, user)["enabled"] is False
    other.goto(f"{console}/buckets")
    expect(other).to_have_url(re.compile(re.escape(f"{console}/login?next=")))
    other_context.close()

    # Enabled again; the group and the user removed.
    page.click("#toggle-enabled")
    expect(page.locator("#user-state")).to_have_text("enabled")
    page.goto(f"{console}/iam/groups/{group}")
    page.locator(f"#group-members li[data-member='{user}'] button.danger").click()
    expect(page.locator("#group-members li[data-member]")).to_have_count(0)
    page.click("#remove-group")
    expect(page).to_have_url(f"{console}/iam/groups")
    expect(page.locator(f"#groups tr[data-group='{group}']")).to_have_count(0)
    page.goto(f"{console}/iam/users/{user}")
    page.click("#remove-user")
    expect(page).to_have_url(f"{console}/iam/users")
    expect(page.locator(f"#users tr[data-user='{user}']")).to_have_count(0)
    assert not exists(srv, "iam/user", user)
    context.close()


def test_lifecycle_rules(site, browser: Browser) -> None:
    srv, console = site
    s3 = srv.client()
    bucket = f"console-lc-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    context, page = new_page(browser)
    log_in(page, console, ACCESS_KEY, SECRET_KEY)
    page.goto(f"{console}/browse/{bucket}")
    page.click("a:text-is('Lifecycle')")
    expect(page).to_have_url(f"{console}/buckets/{bucket}/lifecycle")
    expect(page.locator("#rules td.empty")).to_be_visible()
    shot(page, "29-lifecycle-empty")

    # A rule from the form: an expiration and a transition.
    page.fill("#rule-id", "logs")
    page.fill("#rule-prefix", "logs/")
    page.fill("#rule-expiration", "365")
    page.fill("#rule-transition", "30")
    page.select_option("#rule-class", "STANDARD_IA")
    page.click("#add-rule-button")
    expect(page.locator(".flash").first).to_contain_text("Rule logs added")
    row = page.locator("#rules tr[data-rule='logs']")
    expect(row.locator(".scope")).to_have_text("prefix logs/")
    expect(row.locator(".what")).to_contain_text("expire after 365 days")
    expect(row.locator(".what")).to_contain_text("to STANDARD_IA after 30 days")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(rules) == 1
    assert rules[0]["ID"] == "logs" and rules[0]["Status"] == "Enabled" and rules[0]["Filter"] == {"Prefix": "logs/"}
    assert rules[0]["Expiration"]["Days"] == 365
    assert rules[0]["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
    shot(page, "30-lifecycle-rule")

    # A rule S3 refuses (STANDARD_IA holds nothing younger than 30 days): its reason shown, the
    # form kept as sent, the rules unchanged.
    page.fill("#rule-id", "too-soon")
    page.fill("#rule-transition", "0")
    page.select_option("#rule-class", "STANDARD_IA")
    page.click("#add-rule-button")
    expect(page.locator(".flash.error")).to_contain_text("InvalidArgument")
    expect(page.locator(".flash.error")).to_contain_text("greater than or equal to 30")
    expect(page.locator("#rule-id")).to_have_value("too-soon")
    shot(page, "31-lifecycle-refused")
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["logs"]

    # The JSON editor: what the form does not cover (a tag filter, noncurrent transitions).
    shown = json.loads(page.locator("#rules-json").input_value())
    assert [r["ID"] for r in shown] == ["logs"]
    shown.append({"ID": "temp", "Filter": {"Tag": {"Key": "temp", "Value": "yes"}}, "Status": "Enabled", "Expiration": {"Days": 1}})
    page.fill("#rules-json", "[{")
    expect(page.locator("#rules-check")).to_contain_text("Not valid JSON")
    page.click("#save-rules")
    expect(page.locator(".flash.error")).to_contain_text("The rules are not JSON")
    page.fill("#rules-json", json.dumps([{"ID": "x", "Status": "Enabled", "Expiration": {"Days": 1}, "Colour": "blue"}]))
    page.click("#save-rules")
    expect(page.locator(".flash.error")).to_contain_text("Colour")
    expect(page.locator("#rules-json")).to_contain_text("Colour")  # the draft kept to be corrected
    page.fill("#rules-json", json.dumps(shown, indent=2))
    expect(page.locator("#rules-check")).to_contain_text("Valid JSON")
    page.click("#save-rules")
    expect(page.locator(".flash").first).to_contain_text("2 rules")
    expect(page.locator("#rules tr[data-rule='temp'] .scope")).to_have_text("tag temp=yes")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in rules] == ["logs", "temp"] and rules[1]["Filter"] == {"Tag": {"Key": "temp", "Value": "yes"}}

    # Deleted one by one: the last one takes the configuration with it.
    page.locator("#rules tr[data-rule='temp'] button.danger").click()
    expect(page.locator(".flash").first).to_contain_text("Rule temp deleted")
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["logs"]
    page.locator("#rules tr[data-rule='logs'] button.danger").click()
    expect(page.locator(".flash").first).to_contain_text("Rule logs deleted")
    expect(page.locator("#rules td.empty")).to_be_visible()
    with pytest.raises(ClientError) as gone:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert gone.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
    shot(page, "32-lifecycle-deleted")
    context.close()


# -- without a browser: the CSRF token ----------------------------------------------------------
def logged_in_session(console: str) -> tuple[requests.Session, str]:
    """A requests session logged in as root, and its CSRF token (from the page's meta tag)."""
    http = requests.Session()
    form = http.get(f"{console}/login", timeout=30)
    login_csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = http.post(
        f"{console}/login", data={"csrf": login_csrf, "next": "/iam/users", "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}, timeout=30
    )
    assert answer.status_code == 200 and answer.url == f"{console}/iam/users"
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', answer.text).group(1)
    return http, token


@pytest.mark.parametrize("offered", [None, "wrong", ""], ids=["no-token", "wrong-token", "empty-token"])
def test_admin_forms_without_the_csrf_token_are_refused(site, offered: str | None) -> None:
    srv, console = site
    http, token = logged_in_session(console)
    name = f"forged-{uuid.uuid4().hex[:6]}"
    extra = {} if offered is None else {"csrf": offered}
    for path, form in [
        ("/iam/users", {"name": name}),
        ("/iam/groups", {"name": name}),
        ("/iam/policies", {"name": name, "document": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})}),
        ("/iam/users/nobody/attach", {"policy": "admin"}),
    ]:
        answer = http.post(console + path, data={**form, **extra}, allow_redirects=False, timeout=30)
        assert answer.status_code == 403, (path, answer.status_code)
        assert "security token" in answer.text
    # The same token in a header is as wrong as in the form.
    answer = http.post(console + "/iam/users", data={"name": name}, headers={"X-CSRF-Token": offered or "x"}, allow_redirects=False, timeout=30)
    assert answer.status_code == 403
    # Nothing changed.
    assert not exists(srv, "iam/user", name) and not exists(srv, "iam/group", name) and not exists(srv, "iam/policy", name)
    # With the token, the same form goes through: the refusals above were the token's.
    answer = http.post(console + "/iam/groups", data={"name": name, "csrf": token}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"] == f"/iam/groups/{name}"
    assert exists(srv, "iam/group", name)
    api(srv, "DELETE", "iam/group", name=name)


def test_a_forged_origin_is_refused_even_with_the_token(site) -> None:
    srv, console = site
    http, token = logged_in_session(console)
    name = f"cross-{uuid.uuid4().hex[:6]}"
    answer = http.post(
        console + "/iam/users", data={"name": name, "csrf": token}, headers={"Origin": "https://evil.example"}, allow_redirects=False, timeout=30
    )
    assert answer.status_code == 403 and "another site" in answer.text
    assert not exists(srv, "iam/user", name)
