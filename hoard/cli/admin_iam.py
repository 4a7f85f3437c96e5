"""``hoard admin account | user | key | policy | group``: identities and their rights, through the
admin API."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from hoard.admin.client import AdminClient
from hoard.cli.admin import JSON_FLAG, _call, admin, server_command


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "never"


def _show(data: dict, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=1))
    else:
        for line in lines:
            click.echo(line)


# -- accounts ------------------------------------------------------------------------------------
@admin.group()
def account() -> None:
    """Accounts: separate owners of buckets, as AWS accounts are (a team or a customer each)."""


@account.command("add")
@click.argument("name")
@click.option("--email", default="", help="An e-mail address ACL grants may name the account by.")
@JSON_FLAG
@server_command
def account_add(client: AdminClient, name: str, email: str, as_json: bool) -> None:
    """Add an account; give it users with `user add --account NAME`."""
    a = _call(client, "POST", "iam/accounts", name=name, email=email)
    _show(a, as_json, [f"Account {a['name']} added (id {a['account_id']}, canonical id {a['canonical_id']})"])


@account.command("list")
@JSON_FLAG
@server_command
def account_list(client: AdminClient, as_json: bool) -> None:
    """The deployment's own account and every other one."""
    data = _call(client, "GET", "iam/accounts")
    main = data["deployment"]
    lines = [f"{'name':24} {'id':12}  canonical id", f"{'(deployment) ' + main['display_name']:24} {main['account_id']:12}  {main['canonical_id']}"]
    lines += [f"{a['name']:24} {a['account_id']:12}  {a['canonical_id']}" for a in data["accounts"]]
    _show(data, as_json, lines)


@account.command("info")
@click.argument("name")
@JSON_FLAG
@server_command
def account_info(client: AdminClient, name: str, as_json: bool) -> None:
    """An account's ids, e-mail address and users."""
    a = _call(client, "GET", "iam/account", name=name)
    lines = [
        f"Account {a['name']}",
        f"  id: {a['account_id']}",
        f"  canonical id: {a['canonical_id']}",
        f"  e-mail: {a['email'] or 'none'}",
        f"  users: {', '.join(a['users']) or 'none'}",
    ]
    _show(a, as_json, lines)


@account.command("remove")
@click.argument("name")
@server_command
def account_remove(client: AdminClient, name: str) -> None:
    """Remove an account that has no users and owns no buckets."""
    _call(client, "DELETE", "iam/account", name=name)
    click.echo(f"Account {name} removed")


# -- users ---------------------------------------------------------------------------------------
@admin.group()
def user() -> None:
    """Users: each person or application its own keys and rights."""


@user.command("add")
@click.argument("name")
@click.option("--account", "account_name", default="", help="The account it belongs to (default: the deployment's own).")
@server_command
def user_add(client: AdminClient, name: str, account_name: str) -> None:
    """Add a user (no keys, no rights yet: see `key create` and `policy attach`)."""
    u = _call(client, "POST", "iam/users", name=name, account=account_name)
    click.echo(f"User {u['name']} added ({u['arn']})")


@user.command("list")
@JSON_FLAG
@server_command
def user_list(client: AdminClient, as_json: bool) -> None:
    """Every user, with its state, keys and policies."""
    data = _call(client, "GET", "iam/users")
    lines = [f"{'name':24} {'state':9} {'keys':>4}  policies (and groups)"]
    for u in data["users"]:
        state = "enabled" if u["enabled"] else "disabled"
        extra = ", ".join(u["policies"]) + (f" (groups: {', '.join(u['groups'])})" if u["groups"] else "")
        lines.append(f"{u['name']:24} {state:9} {len(u['keys']):>4}  {extra}")
    _show(data, as_json, lines)


@user.command("info")
@click.argument("name")
@JSON_FLAG
@server_command
def user_info(client: AdminClient, name: str, as_json: bool) -> None:
    """A user's id, state, groups, policies and keys (never their secrets)."""
    u = _call(client, "GET", "iam/user", name=name)
    lines = [
        f"User {u['name']} ({'enabled' if u['enabled'] else 'disabled'})",
        f"  arn: {u['arn']}",
        f"  id: {u['user_id']}",
        f"  policies: {', '.join(u['policies']) or 'none'}",
        f"  groups: {', '.join(u['groups']) or 'none'}",
    ]
    lines += [f"  key {k['access_key']}: created {_when(k['created'])}, expires {_when(k['expires'])}" for k in u["keys"]]
    _show(u, as_json, lines)


@user.command("disable")
@click.argument("name")
@server_command
def user_disable(client: AdminClient, name: str) -> None:
    """Stop every key of the user from working (until `enable`)."""
    _call(client, "POST", "iam/user/disable", name=name)
    click.echo(f"User {name} disabled")


@user.command("enable")
@click.argument("name")
@server_command
def user_enable(client: AdminClient, name: str) -> None:
    """Let a disabled user's keys work again."""
    _call(client, "POST", "iam/user/enable", name=name)
    click.echo(f"User {name} enabled")


@user.command("remove")
@click.argument("name")
@server_command
def user_remove(client: AdminClient, name: str) -> None:
    """Remove a user and revoke its keys."""
    _call(client, "DELETE", "iam/user", name=name)
    click.echo(f"User {name} removed")


# -- access keys ----------------------------------------------------------------------------------
@admin.group()
def key() -> None:
    """Access keys: several per user; the secret is shown once, when made."""


@key.command("create")
@click.option("--user", "user_name", required=True, help="The user the key is for.")
@click.option("--expires", default="", help="Seconds from now (3600), or an ISO 8601 date-time, after which the key stops working.")
@JSON_FLAG
@server_command
def key_create(client: AdminClient, user_name: str, expires: str, as_json: bool) -> None:
    """Make an access key for a user and print its secret: the only time it is shown."""
    params = {"user": user_name} | ({"expires": expires} if expires else {})
    k = _call(client, "POST", "iam/keys", **params)
    lines = [
        f"Access key for {k['user']} (expires {_when(k['expires'])}); the secret is shown only this once:",
        f"  AccessKey: {k['access_key']}",
        f"  SecretKey: {k['secret_key']}",
    ]
    _show(k, as_json, lines)


@key.command("list")
@click.option("--user", "user_name", default="", help="Only this user's keys.")
@JSON_FLAG
@server_command
def key_list(client: AdminClient, user_name: str, as_json: bool) -> None:
    """Access keys (never their secrets)."""
    data = _call(client, "GET", "iam/keys", **({"user": user_name} if user_name else {}))
    lines = [f"{'access key':22} {'user':24} {'created':21} expires"]
    lines += [f"{k['access_key']:22} {k['user']:24} {_when(k['created']):21} {_when(k['expires'])}" for k in data["keys"]]
    _show(data, as_json, lines)


@key.command("revoke")
@click.argument("access_key")
@server_command
def key_revoke(client: AdminClient, access_key: str) -> None:
    """Revoke a key: it stops working at once, everywhere."""
    _call(client, "DELETE", "iam/key", access_key=access_key)
    click.echo(f"Key {access_key} revoked")


# -- policies -------------------------------------------------------------------------------------
@admin.group()
def policy() -> None:
    """IAM policies (built in: readonly, readwrite, writeonly, admin) and who they are attached to."""


@policy.command("create")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@server_command
def policy_create(client: AdminClient, name: str, file: Path) -> None:
    """Store the IAM policy in FILE (JSON) as NAME."""
    _call(client, "POST", "iam/policies", body=file.read_bytes(), name=name)
    click.echo(f"Policy {name} created")


@policy.command("list")
@JSON_FLAG
@server_command
def policy_list(client: AdminClient, as_json: bool) -> None:
    """Every policy."""
    data = _call(client, "GET", "iam/policies")
    _show(data, as_json, [f"{p['name']}{' (built in)' if p['builtin'] else ''}" for p in data["policies"]])


@policy.command("show")
@click.argument("name")
@server_command
def policy_show(client: AdminClient, name: str) -> None:
    """A policy's document and who it is attached to."""
    data = _call(client, "GET", "iam/policy", name=name)
    click.echo(json.dumps(data["document"], indent=2))
    attached = data["attached"]
    click.echo(f"Attached to users: {', '.join(attached['users']) or 'none'}; groups: {', '.join(attached['groups']) or 'none'}")


@policy.command("remove")
@click.argument("name")
@server_command
def policy_remove(client: AdminClient, name: str) -> None:
    """Remove a policy (detach it from everyone first)."""
    _call(client, "DELETE", "iam/policy", name=name)
    click.echo(f"Policy {name} removed")


def _holder(user_name: str | None, group_name: str | None) -> dict[str, str]:
    if (user_name is None) == (group_name is None):
        raise click.UsageError("give --user or --group")
    return {"user": user_name} if user_name else {"group": group_name or ""}


@policy.command("attach")
@click.argument("name")
@click.option("--user", "user_name", default=None)
@click.option("--group", "group_name", default=None)
@server_command
def policy_attach(client: AdminClient, name: str, user_name: str | None, group_name: str | None) -> None:
    """Attach a policy to a user or a group."""
    holder = _holder(user_name, group_name)
    _call(client, "POST", "iam/attach", policy=name, **holder)
    click.echo(f"Policy {name} attached to {next(iter(holder))} {next(iter(holder.values()))}")


@policy.command("detach")
@click.argument("name")
@click.option("--user", "user_name", default=None)
@click.option("--group", "group_name", default=None)
@server_command
def policy_detach(client: AdminClient, name: str, user_name: str | None, group_name: str | None) -> None:
    """Detach a policy from a user or a group."""
    holder = _holder(user_name, group_name)
    _call(client, "POST", "iam/detach", policy=name, **holder)
    click.echo(f"Policy {name} detached from {next(iter(holder))} {next(iter(holder.values()))}")


# -- groups ---------------------------------------------------------------------------------------
@admin.group()
def group() -> None:
    """Groups of users, sharing the policies attached to the group."""


@group.command("add")
@click.argument("name")
@server_command
def group_add(client: AdminClient, name: str) -> None:
    """Add a group."""
    _call(client, "POST", "iam/groups", name=name)
    click.echo(f"Group {name} added")


@group.command("remove")
@click.argument("name")
@server_command
def group_remove(client: AdminClient, name: str) -> None:
    """Remove a group (its members stay, without its policies)."""
    _call(client, "DELETE", "iam/group", name=name)
    click.echo(f"Group {name} removed")


@group.command("members")
@click.argument("name")
@click.option("--add", "add", multiple=True, help="A user to add (repeatable).")
@click.option("--remove", "remove", multiple=True, help="A user to remove (repeatable).")
@JSON_FLAG
@server_command
def group_members(client: AdminClient, name: str, add: tuple[str, ...], remove: tuple[str, ...], as_json: bool) -> None:
    """List a group's members, or change them with --add / --remove."""
    if add or remove:
        data = _call(client, "POST", "iam/group/members", name=name, add=",".join(add), remove=",".join(remove))
    else:
        data = _call(client, "GET", "iam/group", name=name)
    _show(data, as_json, [f"Group {data['name']}: policies {', '.join(data['policies']) or 'none'}", *[f"  {m}" for m in data["members"]]])
