"""Tiers: where the bytes of objects of the archival storage classes (GLACIER, GLACIER_IR,
DEEP_ARCHIVE) live once they are moved off the drives: a folder (a cheaper disk) or a bucket on
an S3 endpoint (another Hoard, AWS).

``blob`` is the stored format (frames, each checksummed and perhaps compressed, an index, a
trailer); ``store`` the interface every tier has (``TierStore``) and the folder tier; ``s3tier``
the S3 one, imported only when a tier needs it (boto3 is slow to import).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hoard.tiers.blob import FRAME, BlobIndex, BlobInfo, BlobWriter
from hoard.tiers.errors import TierCorrupt, TierError, TierMissing, TierUnavailable
from hoard.tiers.store import FolderTier, TierStore, TierUsage, check_ref

__all__ = [
    "DEFAULT_TIER_FOLDER",
    "FRAME",
    "BlobIndex",
    "BlobInfo",
    "BlobWriter",
    "FolderTier",
    "TierCorrupt",
    "TierError",
    "TierMissing",
    "TierStore",
    "TierUnavailable",
    "TierUsage",
    "check_ref",
    "open_tier",
]

# The folder name the default tier's folder is made under (DATA/.hoard-tiers/cold or the like).
DEFAULT_TIER_FOLDER = "tiers"

_REMOTE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# S3's rules for a bucket name (lower-case, 3 to 63 characters, no '..' or IP-address look-alikes
# left to the endpoint to refuse).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def open_tier(name: str, spec: str, client_for_remote: Callable[[str], Any] | None) -> TierStore:
    """The tier ``spec`` names: a folder (``/abs/path`` or ``file:///abs/path``) or a bucket on a
    remote (``remote:NAME/bucket[/prefix]``, NAME a configured remote: ``client_for_remote(NAME)``
    returns a factory of boto3 clients for it, or raises KeyError). ValueError for a spec that
    is not one of these, or a remote that is not configured."""
    if spec.startswith("remote:"):
        return _open_remote(name, spec, client_for_remote)
    path = spec
    if spec.startswith("file:"):
        parts = urllib.parse.urlsplit(spec)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment or not parts.path:
            raise ValueError(f"the tier {name!r}: {spec!r} is not a file URL of this machine (file:///abs/path)")
        path = urllib.parse.unquote(parts.path)
    if not path.startswith("/"):
        raise ValueError(f"the tier {name!r}: {spec!r} is neither an absolute folder path nor remote:NAME/bucket[/prefix]")
    return FolderTier(name, Path(path))


def _open_remote(name: str, spec: str, client_for_remote: Callable[[str], Any] | None) -> TierStore:
    remote, _, rest = spec[len("remote:") :].partition("/")
    bucket, _, prefix = rest.partition("/")
    problem = f"the tier {name!r}: {spec!r} is not remote:NAME/bucket[/prefix]"
    if not _REMOTE.fullmatch(remote) or not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(problem)
    prefix = prefix.strip("/")
    if prefix:
        try:
            check_ref(prefix)
        except ValueError as e:
            raise ValueError(f"{problem}: {e}") from None
    if client_for_remote is None:
        raise ValueError(f"the tier {name!r}: no remotes are configured, so there is no remote named {remote!r}")
    try:
        factory = client_for_remote(remote)
    except KeyError:
        raise ValueError(f"the tier {name!r}: no remote named {remote!r}") from None
    from hoard.tiers.s3tier import S3Tier  # boto3, only for a tier that needs it

    return S3Tier(name, factory, bucket, prefix)
