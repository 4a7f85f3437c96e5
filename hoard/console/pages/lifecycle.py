"""A bucket's lifecycle rules: a table, a form for the common rule, and the whole set as JSON.

S3 replaces a lifecycle configuration whole, so every change here reads the rules, changes the
list, and puts all of it back; S3 (the server's own rules in hoard/lifecycle/rules.py) decides
what a valid rule is, and its refusal is what the page shows.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from botocore.exceptions import ParamValidationError

from hoard.console.clients import call, session_s3
from hoard.console.web import Page, Refused, redirect, render, url
from hoard.http.response import Response

STORAGE_CLASSES = ("STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")


def _plain(value: Any) -> Any:
    """boto3's answer made JSON: its dates (a rule's Date) as ISO 8601, which it accepts back."""
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON")


def rules_json(rules: list[dict]) -> str:
    return json.dumps(rules, indent=2, default=_plain)


def summary(rule: dict) -> dict[str, str]:
    """A rule in the table's words: its filter and what it does."""
    f = rule.get("Filter", {})
    if "Prefix" in rule and "Filter" not in rule:  # the older schema, a Prefix beside the rule
        scope = f"prefix {rule['Prefix']}" if rule["Prefix"] else "every object"
    elif "And" in f:
        parts = ([f"prefix {f['And']['Prefix']}"] if f["And"].get("Prefix") else []) + [f"tag {t['Key']}={t['Value']}" for t in f["And"].get("Tags", [])]
        parts += [f"size > {f['And']['ObjectSizeGreaterThan']}"] if "ObjectSizeGreaterThan" in f["And"] else []
        parts += [f"size < {f['And']['ObjectSizeLessThan']}"] if "ObjectSizeLessThan" in f["And"] else []
        scope = ", ".join(parts)
    elif f.get("Prefix"):
        scope = f"prefix {f['Prefix']}"
    elif "Tag" in f:
        scope = f"tag {f['Tag']['Key']}={f['Tag']['Value']}"
    elif "ObjectSizeGreaterThan" in f or "ObjectSizeLessThan" in f:
        scope = ", ".join(
            [f"size > {f['ObjectSizeGreaterThan']}"] * ("ObjectSizeGreaterThan" in f) + [f"size < {f['ObjectSizeLessThan']}"] * ("ObjectSizeLessThan" in f)
        )
    else:
        scope = "every object"
    actions = []
    e = rule.get("Expiration", {})
    if "Days" in e:
        actions.append(f"expire after {e['Days']} days")
    if "Date" in e:
        actions.append(f"expire on {_plain(e['Date']) if isinstance(e['Date'], dt.datetime) else e['Date']}")
    if e.get("ExpiredObjectDeleteMarker"):
        actions.append("remove expired delete markers")
    for t in rule.get("Transitions", []):
        at = f"after {t['Days']} days" if "Days" in t else f"on {_plain(t['Date']) if isinstance(t.get('Date'), dt.datetime) else t.get('Date')}"
        actions.append(f"to {t.get('StorageClass')} {at}")
    n = rule.get("NoncurrentVersionExpiration", {})
    if "NoncurrentDays" in n:
        kept = f", keeping {n['NewerNoncurrentVersions']} newer" if "NewerNoncurrentVersions" in n else ""
        actions.append(f"noncurrent versions expire after {n['NoncurrentDays']} days{kept}")
    for t in rule.get("NoncurrentVersionTransitions", []):
        actions.append(f"noncurrent versions to {t.get('StorageClass')} after {t.get('NoncurrentDays')} days")
    a = rule.get("AbortIncompleteMultipartUpload", {})
    if "DaysAfterInitiation" in a:
        actions.append(f"abort unfinished uploads after {a['DaysAfterInitiation']} days")
    return {"scope": scope, "actions": "; ".join(actions) or "nothing"}


def _days(page: Page, name: str, what: str) -> int | None:
    raw = page.field(name).strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise Refused(f"{what} is a whole number of days.")
    return int(raw)  # S3 says which numbers it refuses (0, under 30 to STANDARD_IA...)


def rule_from_form(page: Page) -> dict:
    """The rule the add form describes, in boto3's shape."""
    rule: dict[str, Any] = {
        "ID": page.field("id").strip(),
        "Filter": {"Prefix": page.field("prefix")},
        "Status": "Enabled" if page.field("enabled") else "Disabled",
    }
    if not rule["ID"]:
        raise Refused("A rule ID is required: it is how the rule is told apart and deleted.")
    expiration = _days(page, "expiration_days", "The expiration")
    if expiration is not None:
        rule["Expiration"] = {"Days": expiration}
    transition, storage_class = _days(page, "transition_days", "The transition"), page.field("storage_class")
    if transition is not None:
        if storage_class not in STORAGE_CLASSES:
            raise Refused(f"A transition goes to one of {', '.join(STORAGE_CLASSES)}.")
        rule["Transitions"] = [{"Days": transition, "StorageClass": storage_class}]
    noncurrent = _days(page, "noncurrent_days", "The noncurrent versions' expiration")
    if noncurrent is not None:
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": noncurrent}
    abort = _days(page, "abort_days", "The unfinished uploads' abort")
    if abort is not None:
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": abort}
    if len(rule) == 3:
        raise Refused("A rule does something: give it an expiration, a transition, a noncurrent expiration or an abort.")
    return rule


def rules_from_json(text: str) -> list[dict]:
    """The Rules list (or a whole {"Rules": [...]} configuration), or Refused with why not."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise Refused(f"The rules are not JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from None
    if isinstance(doc, dict) and "Rules" in doc:
        doc = doc["Rules"]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise Refused('The rules are a JSON list of rule objects, as boto3\'s "Rules".')
    return doc


def register(console: Any) -> None:
    def s3(page: Page) -> Any:
        return session_s3(page.session, console.endpoint)

    async def current(page: Page, bucket: str) -> list[dict]:
        client = s3(page)
        try:
            return (await call(lambda: client.get_bucket_lifecycle_configuration(Bucket=bucket)))["Rules"]
        except Refused as refused:
            if "NoSuchLifecycleConfiguration" in refused.message:
                return []
            raise

    async def save(page: Page, bucket: str, rules: list[dict]) -> None:
        client = s3(page)

        def put() -> None:
            if not rules:
                client.delete_bucket_lifecycle(Bucket=bucket)
                return
            try:
                client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
            except ParamValidationError as e:
                # boto3 checks the shape before sending: its words, not an unreachable endpoint.
                raise Refused(f"The rules do not have S3's shape: {e}") from None

        await call(put)

    async def show(page: Page) -> Response:
        bucket = page.match["bucket"]
        rules = await current(page, bucket)
        draft = page.session.cache.pop("lifecycle_draft", None)
        if draft is not None and draft["bucket"] != bucket:
            draft = None
        return render(
            "lifecycle.html",
            page,
            bucket=bucket,
            rules=[{"rule": r, **summary(r)} for r in rules],
            document=draft["text"] if draft and draft["text"] is not None else (rules_json(rules) if rules else ""),
            form=draft["form"] if draft and draft.get("form") else {"enabled": "on"},
            storage_classes=STORAGE_CLASSES,
        )

    async def add_rule(page: Page) -> Response:
        bucket = page.match["bucket"]
        try:
            rule = rule_from_form(page)
            rules = await current(page, bucket)
            if any(r.get("ID") == rule["ID"] for r in rules):
                raise Refused(f"A rule with the ID {rule['ID']} exists already: delete it first, or edit the JSON.")
            await save(page, bucket, [*rules, rule])
        except Refused:
            # The form comes back filled in as it was sent, to be corrected.
            page.session.cache["lifecycle_draft"] = {"bucket": bucket, "text": None, "form": dict(page.form)}
            raise
        console.flash(page, f"Rule {rule['ID']} added.")
        return redirect(url(f"/buckets/{bucket}/lifecycle"))

    async def delete_rule(page: Page) -> Response:
        bucket = page.match["bucket"]
        rule_id = page.field("id")
        rules = await current(page, bucket)
        kept = [r for r in rules if r.get("ID", "") != rule_id]
        if len(kept) == len(rules):
            raise Refused(f"There is no rule {rule_id} any more: reload the page.", 404)
        await save(page, bucket, kept)
        console.flash(page, f"Rule {rule_id} deleted." + ("" if kept else " The bucket has no lifecycle rules now."))
        return redirect(url(f"/buckets/{bucket}/lifecycle"))

    async def put_json(page: Page) -> Response:
        bucket = page.match["bucket"]
        text = page.field("rules").strip()
        try:
            rules = rules_from_json(text) if text else []
            await save(page, bucket, rules)
        except Refused:
            page.session.cache["lifecycle_draft"] = {"bucket": bucket, "text": page.field("rules"), "form": None}
            raise
        console.flash(page, f"Lifecycle configuration saved: {len(rules)} rule{'s' if len(rules) != 1 else ''}." if rules else "Lifecycle configuration removed.")
        return redirect(url(f"/buckets/{bucket}/lifecycle"))

    console.router.add("GET", "/buckets/{bucket}/lifecycle", show)
    console.router.add("POST", "/buckets/{bucket}/lifecycle", put_json)
    console.router.add("POST", "/buckets/{bucket}/lifecycle/rules", add_rule)
    console.router.add("POST", "/buckets/{bucket}/lifecycle/delete", delete_rule)
