"""A bucket's permissions: its policy (an editor with templates, checked before and by S3), its
public-access block, and whether ACLs apply (object ownership)."""

from __future__ import annotations

import json
from typing import Any

from hoard.console.clients import call, session_s3
from hoard.console.web import Page, Refused, redirect, render, url
from hoard.http.response import Response

BLOCK_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
OWNERSHIPS = {
    "BucketOwnerEnforced": "ACLs disabled: the bucket's owner owns every object",
    "BucketOwnerPreferred": "ACLs enabled; the bucket's owner owns objects uploaded with bucket-owner-full-control",
    "ObjectWriter": "ACLs enabled; the uploader owns each object",
}


def templates(bucket: str) -> dict[str, dict]:
    """Starting points for a bucket policy, named as the editor offers them."""
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Public read of every object": {
            "Version": "2012-10-17",
            "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*"}],
        },
        "Read-only for one user": {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ReadOnly", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::ACCOUNT:user/USER"},
                 "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [arn, f"{arn}/*"]}
            ],
        },  # fmt: skip
        "Refuse requests without TLS": {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [arn, f"{arn}/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
            ],
        },  # fmt: skip
        "Uploads only under a prefix": {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "UploadsPrefix", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "NotResource": f"{arn}/uploads/*"}
            ],
        },
    }


def check_policy(text: str) -> str:
    """The policy as sent to S3, or Refused with where the JSON is broken (S3 then checks the rest)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise Refused(f"The policy is not JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from None
    if not isinstance(doc, dict):
        raise Refused("A policy is a JSON object with Version and Statement.")
    return json.dumps(doc)


def register(console: Any) -> None:
    def s3(page: Page) -> Any:
        return session_s3(page.session, console.endpoint)

    async def show(page: Page) -> Response:
        bucket = page.match["bucket"]
        client = s3(page)
        policy = ""
        try:
            policy = json.dumps(json.loads((await call(lambda: client.get_bucket_policy(Bucket=bucket)))["Policy"]), indent=2)
        except Refused as refused:
            if "NoSuchBucketPolicy" not in refused.message:
                raise
        block = dict.fromkeys(BLOCK_SETTINGS, False)
        try:
            block.update((await call(lambda: client.get_public_access_block(Bucket=bucket)))["PublicAccessBlockConfiguration"])
        except Refused as refused:
            if "NoSuchPublicAccessBlockConfiguration" not in refused.message:
                raise
        ownership = ""
        try:
            rules = (await call(lambda: client.get_bucket_ownership_controls(Bucket=bucket)))["OwnershipControls"]["Rules"]
            ownership = rules[0]["ObjectOwnership"] if rules else ""
        except Refused as refused:
            if "OwnershipControlsNotFoundError" not in refused.message:
                raise
        return render(
            "permissions.html",
            page,
            bucket=bucket,
            policy=policy,
            block=block,
            ownership=ownership,
            ownerships=OWNERSHIPS,
            templates=json.dumps(templates(bucket)),
            template_names=list(templates(bucket)),
        )

    async def put_policy(page: Page) -> Response:
        bucket = page.match["bucket"]
        text = page.field("policy").strip()
        if not text:
            await call(lambda: s3(page).delete_bucket_policy(Bucket=bucket))
            console.flash(page, "Bucket policy removed.")
        else:
            policy = check_policy(text)
            await call(lambda: s3(page).put_bucket_policy(Bucket=bucket, Policy=policy))
            console.flash(page, "Bucket policy saved.")
        return redirect(url(f"/buckets/{bucket}/permissions"))

    async def put_block(page: Page) -> Response:
        bucket = page.match["bucket"]
        config = {name: page.field(name) == "on" for name in BLOCK_SETTINGS}
        await call(lambda: s3(page).put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config))
        console.flash(page, "Public access settings saved.")
        return redirect(url(f"/buckets/{bucket}/permissions"))

    async def put_ownership(page: Page) -> Response:
        bucket = page.match["bucket"]
        choice = page.field("ownership")
        if choice not in OWNERSHIPS:
            raise Refused("Choose one of the object ownership settings.")
        await call(lambda: s3(page).put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": choice}]}))
        console.flash(page, "Object ownership saved.")
        return redirect(url(f"/buckets/{bucket}/permissions"))

    console.router.add("GET", "/buckets/{bucket}/permissions", show)
    console.router.add("POST", "/buckets/{bucket}/policy", put_policy)
    console.router.add("POST", "/buckets/{bucket}/public-access-block", put_block)
    console.router.add("POST", "/buckets/{bucket}/ownership", put_ownership)
