"""The object browser: folders, pages, versions, upload, download, delete, details, sharing."""

from __future__ import annotations

import json
from typing import Any

from hoard.console.clients import call, presigner, session_s3
from hoard.console.web import Page, Refused, json_response, redirect, render, url
from hoard.http.response import Response

PAGE_SIZE = 100
# Files up to this size go in one PutObject; larger ones in parts of PART_SIZE, each its own request.
SINGLE_LIMIT = 16 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
SHARE_EXPIRIES = {"900": "15 minutes", "3600": "1 hour", "86400": "1 day", "604800": "7 days"}
RESTORE_TIERS = ("Standard", "Expedited", "Bulk")


def crumbs(bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(name, prefix) for the bucket and each folder down to ``prefix``."""
    trail = [(bucket, "")]
    so_far = ""
    for part in prefix.split("/")[:-1]:  # a search's unfinished last part is not a folder
        so_far += part + "/"
        trail.append((part or "/", so_far))
    return trail


def register(console: Any) -> None:
    def s3(page: Page) -> Any:
        return session_s3(page.session, console.endpoint)

    async def browse(page: Page) -> Response:
        bucket = page.match["bucket"]
        prefix = page.arg("prefix")
        search = page.arg("search")
        token = page.arg("token")
        versions = page.arg("versions") == "1"
        client = s3(page)
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix + search, "Delimiter": "/", "MaxKeys": PAGE_SIZE}
        if versions:
            key_marker, _, version_marker = token.partition("\n")
            if key_marker:
                args.update(KeyMarker=key_marker, VersionIdMarker=version_marker)
            listed = await call(lambda: client.list_object_versions(**args))
            rows = [
                {"key": v["Key"], "version": v.get("VersionId"), "size": v.get("Size"), "modified": v.get("LastModified"),
                 "storage_class": v.get("StorageClass", ""), "latest": v.get("IsLatest"), "marker": False}
                for v in listed.get("Versions", [])
            ] + [
                {"key": m["Key"], "version": m.get("VersionId"), "size": None, "modified": m.get("LastModified"),
                 "storage_class": "", "latest": m.get("IsLatest"), "marker": True}
                for m in listed.get("DeleteMarkers", [])
            ]  # fmt: skip
            rows.sort(key=lambda r: (r["key"], r["modified"]), reverse=False)
            next_token = f"{listed.get('NextKeyMarker', '')}\n{listed.get('NextVersionIdMarker', '')}" if listed.get("IsTruncated") else ""
        else:
            if token:
                args["ContinuationToken"] = token
            listed = await call(lambda: client.list_objects_v2(**args))
            rows = [
                {"key": o["Key"], "version": None, "size": o["Size"], "modified": o["LastModified"],
                 "storage_class": o.get("StorageClass", ""), "latest": True, "marker": False}
                for o in listed.get("Contents", [])
            ]  # fmt: skip
            next_token = listed.get("NextContinuationToken", "") if listed.get("IsTruncated") else ""
        folders = [p["Prefix"] for p in listed.get("CommonPrefixes", [])]
        return render(
            "browse.html",
            page,
            bucket=bucket,
            prefix=prefix,
            search=search,
            versions=versions,
            folders=folders,
            rows=rows,
            next_token=next_token,
            first_page=not token,
            crumbs=crumbs(bucket, prefix),
            part_size=PART_SIZE,
            single_limit=SINGLE_LIMIT,
        )

    async def details(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = page.required("key", "An object key")
        version = page.arg("version") or None
        client = s3(page)
        which = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        head = await call(lambda: client.head_object(ChecksumMode="ENABLED", **which))
        tags: list = []
        try:
            tags = (await call(lambda: client.get_object_tagging(**which))).get("TagSet", [])
        except Refused:
            pass  # not allowed to read tags: the rest of the page still stands
        public: bool | None = None
        try:
            grants = (await call(lambda: client.get_object_acl(**which))).get("Grants", [])
            public = any(g.get("Grantee", {}).get("URI") == ALL_USERS for g in grants)
        except Refused:
            public = None  # ACLs off for the bucket, or not allowed to read them
        history: list = []
        try:
            listed = await call(lambda: client.list_object_versions(Bucket=bucket, Prefix=key, MaxKeys=50))
            history = sorted(
                [v for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if v["Key"] == key],
                key=lambda v: v["LastModified"],
                reverse=True,
            )
        except Refused:
            pass
        checksums = {name[len("Checksum") :]: value for name, value in head.items() if name.startswith("Checksum") and name != "ChecksumType" and isinstance(value, str)}
        share = page.session.cache.pop("share", None)
        if share is not None and (share["bucket"], share["key"]) != (bucket, key):
            share = None
        return render(
            "object.html",
            page,
            bucket=bucket,
            key=key,
            version=version or head.get("VersionId") or "",
            head=head,
            metadata=head.get("Metadata", {}),
            tags=tags,
            public=public,
            history=history,
            checksums=checksums,
            share=share,
            expiries=SHARE_EXPIRIES,
            restore_tiers=RESTORE_TIERS,
            archived=head.get("StorageClass") in ("GLACIER", "DEEP_ARCHIVE"),
        )

    async def download(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = page.required("key", "An object key")
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ResponseContentDisposition": _attachment(key)}
        if page.arg("version"):
            params["VersionId"] = page.arg("version")
        # The bytes go from the S3 port to the browser, not through this process.
        link = presigner(page.session, console.endpoint).generate_presigned_url("get_object", Params=params, ExpiresIn=300)
        return redirect(link, 302)

    async def delete(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = page.required("key", "An object key")
        version = page.field("version")
        await call(lambda: s3(page).delete_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {})))
        console.flash(page, f"Deleted {key}" + (f" (version {version})." if version else "."))
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        return redirect(url(f"/browse/{bucket}", prefix=folder))

    async def set_acl(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = page.required("key", "An object key")
        public = page.field("public") == "1"
        version = page.field("version")
        await call(lambda: s3(page).put_object_acl(Bucket=bucket, Key=key, ACL="public-read" if public else "private", **({"VersionId": version} if version else {})))
        console.flash(page, f"{key} is now {'public: anyone can read it' if public else 'private'}.")
        return redirect(url(f"/object/{bucket}", key=key, version=version))

    async def share(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = page.required("key", "An object key")
        expiry = page.field("expiry", "3600")
        if expiry not in SHARE_EXPIRIES:
            raise Refused("Choose one of the offered expiries.")
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if page.field("version"):
            params["VersionId"] = page.field("version")
        link = presigner(page.session, console.endpoint).generate_presigned_url("get_object", Params=params, ExpiresIn=int(expiry))
        page.session.cache["share"] = {"bucket": bucket, "key": key, "link": link, "expiry": SHARE_EXPIRIES[expiry]}
        return redirect(url(f"/object/{bucket}", key=key, version=page.field("version")))

    async def set_tags(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = page.required("key", "An object key")
        tag_set = []
        for line in page.field("tags").splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise Refused(f"Each tag is a line NAME=VALUE: {line!r} is not.")
            tag_set.append({"Key": name.strip(), "Value": value.strip()})
        await call(lambda: s3(page).put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tag_set}))
        console.flash(page, "Tags saved.")
        return redirect(url(f"/object/{bucket}", key=key))

    async def restore(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = page.required("key", "An object key")
        days, tier = page.field("days", "1"), page.field("tier", "Standard")
        if not days.isdigit() or int(days) < 1 or tier not in RESTORE_TIERS:
            raise Refused("A restore is for 1 day or more, in the Standard, Expedited or Bulk tier.")
        request = {"Days": int(days), "GlacierJobParameters": {"Tier": tier}}
        await call(lambda: s3(page).restore_object(Bucket=bucket, Key=key, RestoreRequest=request))
        console.flash(page, f"Restore of {key} requested ({tier}, {days} days).")
        return redirect(url(f"/object/{bucket}", key=key))

    # -- uploads: the page sends each file (or each part of a large one) to these -------------
    async def upload_start(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = _key(page)
        size = page.arg("size")
        if not size.isdigit():
            raise Refused("The file's size is missing.")
        if int(size) <= SINGLE_LIMIT:
            return json_response({"mode": "single"})
        kind = page.arg("type") or "application/octet-stream"
        started = await call(lambda: s3(page).create_multipart_upload(Bucket=bucket, Key=key, ContentType=kind))
        return json_response({"mode": "multipart", "upload_id": started["UploadId"], "part_size": PART_SIZE})

    async def upload_single(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = _key(page)
        body = await page.body(SINGLE_LIMIT)
        kind = page.arg("type") or "application/octet-stream"
        put = await call(lambda: s3(page).put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind))
        return json_response({"etag": put["ETag"]})

    async def upload_part(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = _key(page)
        upload_id, number = page.arg("upload_id"), page.arg("part")
        if not upload_id or not number.isdigit() or not 1 <= int(number) <= 10000:
            raise Refused("A part needs its upload id and a number from 1 to 10000.")
        body = await page.body(PART_SIZE)
        part = await call(lambda: s3(page).upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=int(number), Body=body))
        return json_response({"etag": part["ETag"]})

    async def upload_complete(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = _key(page)
        upload_id = page.arg("upload_id")
        try:
            parts = json.loads(await page.body(1024 * 1024))
            listed = [{"PartNumber": int(p["part"]), "ETag": str(p["etag"])} for p in parts]
        except (ValueError, KeyError, TypeError):
            raise Refused("The list of parts is not [{part, etag}, ...].") from None
        done = await call(lambda: s3(page).complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}))
        return json_response({"etag": done.get("ETag", "")})

    async def upload_abort(page: Page) -> Response:
        bucket = page.match["bucket"]
        key = _key(page)
        await call(lambda: s3(page).abort_multipart_upload(Bucket=bucket, Key=key, UploadId=page.arg("upload_id")))
        return json_response({})

    router = console.router
    router.add("GET", "/browse/{bucket}", browse)
    router.add("GET", "/object/{bucket}", details)
    router.add("GET", "/download/{bucket}", download)
    router.add("POST", "/object/{bucket}/delete", delete)
    router.add("POST", "/object/{bucket}/acl", set_acl)
    router.add("POST", "/object/{bucket}/share", share)
    router.add("POST", "/object/{bucket}/tags", set_tags)
    router.add("POST", "/object/{bucket}/restore", restore)
    router.add("POST", "/api/upload/{bucket}/start", upload_start)
    router.add("PUT", "/api/upload/{bucket}/single", upload_single)
    router.add("PUT", "/api/upload/{bucket}/part", upload_part)
    router.add("POST", "/api/upload/{bucket}/complete", upload_complete)
    router.add("POST", "/api/upload/{bucket}/abort", upload_abort)


def _key(page: Page) -> str:
    key = page.arg("key")
    if not key:
        raise Refused("An object key is required.")
    return key


def _attachment(key: str) -> str:
    from urllib.parse import quote

    name = key.rsplit("/", 1)[-1] or "download"
    # RFC 6266: a plain fallback name and the UTF-8 one; no quote or control character reaches the header.
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
