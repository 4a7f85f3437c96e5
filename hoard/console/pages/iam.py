"""Users, access keys, groups and policies: the admin API's identity requests, as pages.

Every page here is for administrators only; every change is an admin API request signed with the
administrator's own keys, so the directory's rules (names, limits, what may be removed) are the
server's and its refusals are shown as they come.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hoard.console.clients import call, session_admin
from hoard.console.pages.permissions import check_policy
from hoard.console.web import Page, Refused, redirect, render, url
from hoard.http.response import Response


def when(ts: float | None) -> str:
    """A directory timestamp (seconds since the epoch) as the pages show it."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "never"


def policy_templates() -> dict[str, dict]:
    """Starting points for a custom identity policy, named as the editor offers them."""
    return {
        "Read and write one bucket": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                           "Resource": ["arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"]}],
        },  # fmt: skip
        "Read one prefix of a bucket": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/PREFIX/*"},
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::BUCKET",
                 "Condition": {"StringLike": {"s3:prefix": "PREFIX/*"}}},
            ],
        },  # fmt: skip
        "Everything but deletes": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Deny", "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket"], "Resource": "*"},
            ],
        },
    }


def register(console: Any) -> None:
    async def admin(page: Page, method: str, request: str, /, body: bytes = b"", **params: str) -> dict:
        client = session_admin(page.session, console.endpoint)
        return await call(lambda: client.call(method, request, params, body=body))

    async def policy_names(page: Page) -> list[str]:
        return [p["name"] for p in (await admin(page, "GET", "iam/policies"))["policies"]]

    # -- users -------------------------------------------------------------------------------
    async def list_users(page: Page) -> Response:
        users = (await admin(page, "GET", "iam/users"))["users"]
        return render("iam_users.html", page, users=users, when=when)

    async def add_user(page: Page) -> Response:
        name = page.required("name", "A user name")
        await admin(page, "POST", "iam/users", name=name)
        console.flash(page, f"User {name} added: give it an access key and a policy.")
        return redirect(url(f"/iam/users/{name}"))

    async def show_user(page: Page) -> Response:
        name = page.match["user"]
        user = await admin(page, "GET", "iam/user", name=name)
        # The secret of a key just made: shown on this one page load, then gone for good.
        new_key = page.session.cache.pop("new_key", None)
        if new_key is not None and new_key["user"] != name:
            new_key = None
        groups = [g["name"] for g in (await admin(page, "GET", "iam/groups"))["groups"]]
        return render(
            "iam_user.html",
            page,
            user=user,
            new_key=new_key,
            policies=[p for p in await policy_names(page) if p not in user["policies"]],
            groups=[g for g in groups if g not in user["groups"]],
            when=when,
        )

    async def remove_user(page: Page) -> Response:
        name = page.match["user"]
        keys = (await admin(page, "GET", "iam/user", name=name))["keys"]
        await admin(page, "DELETE", "iam/user", name=name)
        # Its keys went with it: so do the console sessions opened with them.
        for key in keys:
            console.sessions.end_for_key(key["access_key"])
        console.flash(page, f"User {name} removed, with its access keys.")
        return redirect("/iam/users")

    async def set_enabled(page: Page) -> Response:
        name = page.match["user"]
        enabled = page.field("enabled")
        if enabled not in ("0", "1"):
            raise Refused("Enable or disable: nothing else.")
        user = await admin(page, "POST", "iam/user/enable" if enabled == "1" else "iam/user/disable", name=name)
        if enabled == "0":
            # None of its keys is accepted any more; nor is a console session opened with one.
            for key in user["keys"]:
                console.sessions.end_for_key(key["access_key"])
        console.flash(page, f"User {name} {'enabled' if enabled == '1' else 'disabled'}.")
        return redirect(url(f"/iam/users/{name}"))

    async def create_key(page: Page) -> Response:
        name = page.match["user"]
        made = await admin(page, "POST", "iam/keys", user=name)
        page.session.cache["new_key"] = {"user": name, "access_key": made["access_key"], "secret_key": made["secret_key"]}
        console.flash(page, f"Access key {made['access_key']} created.")
        return redirect(url(f"/iam/users/{name}"))

    async def revoke_key(page: Page) -> Response:
        name = page.match["user"]
        access_key = page.required("access_key", "An access key")
        await admin(page, "DELETE", "iam/key", access_key=access_key)
        console.sessions.end_for_key(access_key)
        console.flash(page, f"Access key {access_key} revoked.")
        return redirect(url(f"/iam/users/{name}"))

    # -- policies attached to users and groups ----------------------------------------------------
    def holder(page: Page) -> tuple[dict[str, str], str]:
        """The admin API's parameter naming the user or group of the path, and its page."""
        if "user" in page.match:
            return {"user": page.match["user"]}, url(f"/iam/users/{page.match['user']}")
        return {"group": page.match["group"]}, url(f"/iam/groups/{page.match['group']}")

    async def attach(page: Page) -> Response:
        policy = page.required("policy", "A policy")
        params, back = holder(page)
        await admin(page, "POST", "iam/attach", policy=policy, **params)
        console.flash(page, f"Policy {policy} attached.")
        return redirect(back)

    async def detach(page: Page) -> Response:
        policy = page.required("policy", "A policy")
        params, back = holder(page)
        await admin(page, "POST", "iam/detach", policy=policy, **params)
        console.flash(page, f"Policy {policy} detached.")
        return redirect(back)

    # -- groups ------------------------------------------------------------------------------
    async def list_groups(page: Page) -> Response:
        groups = (await admin(page, "GET", "iam/groups"))["groups"]
        return render("iam_groups.html", page, groups=groups, when=when)

    async def add_group(page: Page) -> Response:
        name = page.required("name", "A group name")
        await admin(page, "POST", "iam/groups", name=name)
        console.flash(page, f"Group {name} created.")
        return redirect(url(f"/iam/groups/{name}"))

    async def show_group(page: Page) -> Response:
        name = page.match["group"]
        group = await admin(page, "GET", "iam/group", name=name)
        users = [u["name"] for u in (await admin(page, "GET", "iam/users"))["users"]]
        return render(
            "iam_group.html",
            page,
            group=group,
            users=[u for u in users if u not in group["members"]],
            policies=[p for p in await policy_names(page) if p not in group["policies"]],
            when=when,
        )

    async def remove_group(page: Page) -> Response:
        name = page.match["group"]
        await admin(page, "DELETE", "iam/group", name=name)
        console.flash(page, f"Group {name} deleted.")
        return redirect("/iam/groups")

    async def change_members(page: Page) -> Response:
        name = page.match["group"]
        add, remove = page.field("add").strip(), page.field("remove").strip()
        if bool(add) == bool(remove):
            raise Refused("Choose one user to add or to remove.")
        if add:
            await admin(page, "POST", "iam/group/members", name=name, add=add)
            console.flash(page, f"{add} added to {name}.")
        else:
            await admin(page, "POST", "iam/group/members", name=name, remove=remove)
            console.flash(page, f"{remove} removed from {name}.")
        return redirect(url(f"/iam/groups/{name}"))

    # -- policies ----------------------------------------------------------------------------
    async def list_policies(page: Page) -> Response:
        policies = (await admin(page, "GET", "iam/policies"))["policies"]
        draft = page.session.cache.pop("policy_draft", {"name": "", "document": ""})
        templates = policy_templates()
        return render("iam_policies.html", page, policies=policies, draft=draft, templates=json.dumps(templates), template_names=list(templates))

    async def create_policy(page: Page) -> Response:
        name = page.field("name").strip()
        text = page.field("document").strip()
        try:
            if not name:
                raise Refused("A policy name is required.")
            if not text:
                raise Refused("The policy document is empty.")
            document = check_policy(text)
            await admin(page, "POST", "iam/policies", body=document.encode("utf-8"), name=name)
        except Refused:
            # The form comes back as it was sent, to be corrected rather than typed again.
            page.session.cache["policy_draft"] = {"name": name, "document": text}
            raise
        console.flash(page, f"Policy {name} created.")
        return redirect(url(f"/iam/policies/{name}"))

    async def show_policy(page: Page) -> Response:
        policy = await admin(page, "GET", "iam/policy", name=page.match["policy"])
        return render("iam_policy.html", page, policy=policy, document=json.dumps(policy["document"], indent=2))

    async def remove_policy(page: Page) -> Response:
        name = page.match["policy"]
        await admin(page, "DELETE", "iam/policy", name=name)
        console.flash(page, f"Policy {name} deleted.")
        return redirect("/iam/policies")

    routes = [
        ("GET", "/iam/users", list_users),
        ("POST", "/iam/users", add_user),
        ("GET", "/iam/users/{user}", show_user),
        ("POST", "/iam/users/{user}/delete", remove_user),
        ("POST", "/iam/users/{user}/enabled", set_enabled),
        ("POST", "/iam/users/{user}/keys", create_key),
        ("POST", "/iam/users/{user}/keys/revoke", revoke_key),
        ("POST", "/iam/users/{user}/attach", attach),
        ("POST", "/iam/users/{user}/detach", detach),
        ("GET", "/iam/groups", list_groups),
        ("POST", "/iam/groups", add_group),
        ("GET", "/iam/groups/{group}", show_group),
        ("POST", "/iam/groups/{group}/delete", remove_group),
        ("POST", "/iam/groups/{group}/members", change_members),
        ("POST", "/iam/groups/{group}/attach", attach),
        ("POST", "/iam/groups/{group}/detach", detach),
        ("GET", "/iam/policies", list_policies),
        ("POST", "/iam/policies", create_policy),
        ("GET", "/iam/policies/{policy}", show_policy),
        ("POST", "/iam/policies/{policy}/delete", remove_policy),
    ]
    for method, path, handler in routes:
        console.router.add(method, path, handler, admin=True)
