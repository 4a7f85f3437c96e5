"""What a site holds and owes, asked as any client would: its versions (ListObjectVersions), the
bytes of acknowledged writes (GetObject), its replication backlog (``hoard admin replicate
status``), and the replication set-up the strategies use (``hoard admin remote``,
PutBucketReplication)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hoard.dr.load import Ack
from hoard.dr.measure import Version
from hoard.dr.sites import Site, SiteError

ROLE = "arn:aws:iam::000000000000:role/{remote}"


def versions(site: Site, bucket: str) -> list[Version]:
    """Every version and delete marker of the bucket: (key, version id, ETag or "delete-marker")."""
    found: list[Version] = []
    for page in site.s3(timeout=60).get_paginator("list_object_versions").paginate(Bucket=bucket):
        found += [(v["Key"], v["VersionId"], v["ETag"].strip('"')) for v in page.get("Versions", [])]
        found += [(m["Key"], m["VersionId"], "delete-marker") for m in page.get("DeleteMarkers", [])]
    return sorted(found)


def holding(site: Site, bucket: str) -> dict[str, set[str]]:
    """key -> the ETags of its versions."""
    held: dict[str, set[str]] = defaultdict(set)
    for key, _, etag in versions(site, bucket):
        held[key].add(etag)
    return held


def read_back(site: Site, bucket: str, acks: list[Ack], threads: int = 8) -> list[Ack]:
    """The acknowledged writes whose bytes the site does not give back (read whole, MD5 compared).
    Each key was written once, so its current version is the one acknowledged."""
    local = threading.local()

    def bad(ack: Ack) -> bool:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = site.s3(timeout=30)
        try:
            body = client.get_object(Bucket=bucket, Key=ack.key)["Body"].read()
        except Exception:  # noqa: BLE001 - not served: missing, whatever the reason
            return True
        return hashlib.md5(body).hexdigest() != ack.md5

    with ThreadPoolExecutor(threads) as pool:
        flags = list(pool.map(bad, acks))
    return [a for a, f in zip(acks, flags, strict=True) if f]


def backlog(site: Site, bucket: str) -> dict:
    """``hoard admin replicate status BUCKET --json``: pending, failed, completed, lag_seconds."""
    return json.loads(site.hoard("admin", "replicate", "status", bucket, "--json", timeout=60).stdout)


def wait_backlog(site: Site, bucket: str, timeout: float, since: float | None = None, say: Callable[[str], None] | None = None) -> dict:
    """Wait until the site's replication of ``bucket`` has caught up: nothing left waiting at all,
    or, with ``since``, nothing queued before that instant (the writes still coming in are
    not waited for). SiteError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_said = 0.0
    while True:
        # The lag is the server's own difference of two instants (now, and when the oldest waiting
        # version was queued), so clocks need not agree; the server took "now" after ``asked``,
        # so the oldest waiting version was queued at or after ``asked - lag``.
        asked = time.time()
        s = backlog(site, bucket)
        left = s["pending"] + s["failed"]
        if left == 0 or (since is not None and asked - s["lag_seconds"] > since):
            return s
        if time.monotonic() > deadline:
            raise SiteError(f"{site.name}: replication of {bucket} has not caught up after {timeout:g} s: {left} versions waiting, lag {s['lag_seconds']:.1f} s")
        if say is not None and time.monotonic() - last_said > 5:
            say(f"  {site.name}: {left} versions waiting to replicate, lag {s['lag_seconds']:.1f} s")
            last_said = time.monotonic()
        time.sleep(0.5)


def remotes(site: Site) -> dict[str, str]:
    """The site's remotes: name -> URL."""
    listed = json.loads(site.hoard("admin", "remote", "list", "--json", timeout=60).stdout)
    return {r["name"]: r["url"] for r in listed["remotes"]}


def ensure_remote(site: Site, name: str, peer_url: str, access_key: str, secret_key: str) -> bool:
    """A remote NAME on ``site`` toward ``peer_url`` (``hoard admin remote add``); whether it was added.
    A remote of that name toward another URL is refused: the operator named the wrong one."""
    known = remotes(site)
    if name in known:
        if known[name].rstrip("/") != peer_url.rstrip("/"):
            raise SiteError(f"{site.name} has a remote {name} toward {known[name]}, not {peer_url}: name another with --remote")
        return False
    site.hoard("admin", "remote", "add", name, peer_url, "--access-key", access_key, "--secret-key", secret_key, timeout=60)
    return True


def replication_configuration(remote: str, destination: str, existing: bool = False) -> dict:
    """One rule: every key of the bucket, delete markers too, to ``destination`` on ``remote``;
    ``existing``: the versions already there as well (queued at once)."""
    rule: dict[str, Any] = {
        "ID": f"dr-to-{remote}",
        "Priority": 1,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{destination}"},
    }
    if existing:
        rule["ExistingObjectReplication"] = {"Status": "Enabled"}
    return {"Role": ROLE.format(remote=remote), "Rules": [rule]}


def replication_of(site: Site, bucket: str) -> dict | None:
    """The bucket's replication configuration, or None."""
    try:
        return site.s3().get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    except Exception as e:  # noqa: BLE001 - only "none configured" is an answer here
        if getattr(e, "response", {}).get("Error", {}).get("Code") == "ReplicationConfigurationNotFoundError":
            return None
        raise


def versioned_bucket(site: Site, bucket: str) -> None:
    """Create the bucket if missing, with versioning Enabled (replication requires it on both sides)."""
    s3 = site.s3()
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - not there (or not ours): creating it says which
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
