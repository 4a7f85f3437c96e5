"""Buckets: the list (with size and object count), create, delete, versioning and object lock."""

from __future__ import annotations

from typing import Any

from hoard.console.clients import call, session_admin, session_s3
from hoard.console.web import Page, Refused, redirect, render, url
from hoard.http.response import Response

LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


def register(console: Any) -> None:
    def s3(page: Page) -> Any:
        return session_s3(page.session, console.endpoint)

    async def usage(page: Page) -> dict[str, dict[str, int]]:
        """Versions and bytes per bucket, all classes together; only administrators may ask."""
        if not page.session.is_admin:
            return {}
        admin = session_admin(page.session, console.endpoint)
        try:
            doc = await call(lambda: admin.call("GET", "usage"))
        except Refused:
            return {}
        totals: dict[str, dict[str, int]] = {}
        for row in doc.get("classes", []):
            entry = totals.setdefault(row["bucket"], {"objects": 0, "bytes": 0})
            entry["objects"] += row["objects"]
            entry["bytes"] += row["bytes"]
        return totals

    async def list_buckets(page: Page) -> Response:
        try:
            listed = (await call(s3(page).list_buckets)).get("Buckets", [])
        except Refused as refused:
            if refused.status != 403:
                raise
            listed = []
            page.flash.append(("error", "Your keys may not list buckets (s3:ListAllMyBuckets): open one by its name below."))
        sizes = await usage(page)
        rows = [{"name": b["Name"], "created": b["CreationDate"], **sizes.get(b["Name"], {})} for b in listed]
        return render("buckets.html", page, buckets=rows, show_usage=bool(page.session.is_admin))

    async def open_bucket(page: Page) -> Response:
        return redirect(url(f"/browse/{page.required('name', 'A bucket name')}"))

    async def create(page: Page) -> Response:
        name = page.required("name", "A bucket name")
        args: dict[str, Any] = {"Bucket": name}
        if page.field("object_lock"):
            args["ObjectLockEnabledForBucket"] = True
        await call(lambda: s3(page).create_bucket(**args))
        if page.field("versioning") and not page.field("object_lock"):
            await call(lambda: s3(page).put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"}))
        console.flash(page, f"Bucket {name} created.")
        return redirect(url(f"/browse/{name}"))

    async def delete(page: Page) -> Response:
        name = page.match["bucket"]
        await call(lambda: s3(page).delete_bucket(Bucket=name))
        console.flash(page, f"Bucket {name} deleted.")
        return redirect("/buckets")

    async def settings(page: Page) -> Response:
        name = page.match["bucket"]
        client = s3(page)
        versioning = await call(lambda: client.get_bucket_versioning(Bucket=name))
        lock: dict = {}
        try:
            lock = (await call(lambda: client.get_object_lock_configuration(Bucket=name))).get("ObjectLockConfiguration", {})
        except Refused as refused:
            if "ObjectLockConfigurationNotFound" not in refused.message:
                raise
        retention = lock.get("Rule", {}).get("DefaultRetention", {})
        return render(
            "bucket_settings.html",
            page,
            bucket=name,
            versioning=versioning.get("Status", "Unversioned"),
            lock_enabled=lock.get("ObjectLockEnabled") == "Enabled",
            retention=retention,
            lock_modes=LOCK_MODES,
        )

    async def set_versioning(page: Page) -> Response:
        name = page.match["bucket"]
        status = page.field("status")
        if status not in ("Enabled", "Suspended"):
            raise Refused("Versioning is Enabled or Suspended.")
        await call(lambda: s3(page).put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status}))
        console.flash(page, f"Versioning {status.lower()}.")
        return redirect(url(f"/buckets/{name}/settings"))

    async def set_lock(page: Page) -> Response:
        name = page.match["bucket"]
        config: dict[str, Any] = {"ObjectLockEnabled": "Enabled"}
        mode = page.field("mode")
        if mode:
            if mode not in LOCK_MODES:
                raise Refused("The retention mode is GOVERNANCE or COMPLIANCE.")
            period, unit = page.field("period").strip(), page.field("unit", "Days")
            if not period.isdigit() or int(period) < 1 or unit not in ("Days", "Years"):
                raise Refused("The default retention is a whole number of days or years, 1 or more.")
            config["Rule"] = {"DefaultRetention": {"Mode": mode, unit: int(period)}}
        await call(lambda: s3(page).put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=config))
        console.flash(page, "Object lock settings saved.")
        return redirect(url(f"/buckets/{name}/settings"))

    console.router.add("GET", "/buckets", list_buckets)
    console.router.add("POST", "/buckets", create)
    console.router.add("GET", "/open", open_bucket)
    console.router.add("POST", "/buckets/{bucket}/delete", delete)
    console.router.add("GET", "/buckets/{bucket}/settings", settings)
    console.router.add("POST", "/buckets/{bucket}/versioning", set_versioning)
    console.router.add("POST", "/buckets/{bucket}/object-lock", set_lock)
