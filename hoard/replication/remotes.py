"""Remote S3 endpoints bucket replication writes to (``hoard admin remote add NAME URL ...``): a
URL and the keys to write there, kept whole in ``.hoard/remotes.json`` on every drive, the secret
sealed as users' secrets are (``hoard.iam.secrets``: a copy of the data folder does not give it
away). Each change writes a copy with a higher generation; the newest copy a drive holds wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hoard.iam.secrets import SecretBox

if TYPE_CHECKING:
    from hoard.storage.pool import Storage

REMOTES_FILE = "remotes.json"
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(?::\d{1,5})?/?")


@dataclass(frozen=True)
class StoredRemote:
    """A remote as the drives keep it: its secret sealed."""

    name: str
    url: str
    access_key: str
    sealed_secret: str
    region: str = "us-east-1"
    ca_bundle: str = ""


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    ca_bundle: str = ""

    def s3_client(self, timeout: float = 30.0) -> Any:
        """A boto3 S3 client for the remote: path-style, no retries of its own (the replication
        engine retries, with its own delays), bodies checked by the Content-MD5 it sends."""
        import boto3  # here: only the leader's replication engine and admin checks need it
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=timeout,
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )  # fmt: skip
        return boto3.client(
            "s3", endpoint_url=self.url, aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            region_name=self.region, config=config, verify=self.ca_bundle or None,
        )  # fmt: skip


def check_remote(name: str, url: str) -> None:
    """ValueError naming what is wrong with a new remote's name or URL."""
    if not NAME.fullmatch(name):
        raise ValueError(f"the remote name {name!r} is not valid: letters, digits and ._- only, at most 64")
    if not URL.fullmatch(url):
        raise ValueError(f"the remote URL {url!r} is not valid: http(s)://host[:port]")


class Remotes:
    """The remotes on the drives; read whole on demand (a small file, read by the leader's
    replication engine every few seconds and by PutBucketReplication)."""

    def __init__(self, storage: Storage, box: SecretBox) -> None:
        self.storage = storage
        self.box = box

    def _stored(self) -> tuple[int, dict[str, StoredRemote]]:
        newest: tuple[int, dict[str, StoredRemote]] = (0, {})
        for data in self.storage.read_newest(REMOTES_FILE):
            try:
                doc = json.loads(data)
                copy = (int(doc["generation"]), {r["name"]: StoredRemote(**r) for r in doc["remotes"]})
            except (ValueError, KeyError, TypeError):
                continue  # an unreadable copy: another drive's will do
            if copy[0] > newest[0]:
                newest = copy
        return newest

    def load(self) -> dict[str, Remote]:
        """Every remote, secrets opened (blocks)."""
        _, stored = self._stored()
        return {
            name: Remote(r.name, r.url, r.access_key, self.box.open(r.sealed_secret, f"remote:{r.name}"), r.region, r.ca_bundle)
            for name, r in stored.items()
        }

    def listed(self) -> list[StoredRemote]:
        """Every remote as stored (no secret opened), by name."""
        return sorted(self._stored()[1].values(), key=lambda r: r.name)

    def seal(self, remote: Remote) -> StoredRemote:
        return StoredRemote(remote.name, remote.url, remote.access_key, self.box.seal(remote.secret_key, f"remote:{remote.name}"), remote.region, remote.ca_bundle)

    def change(self, mutate: Callable[[dict[str, StoredRemote]], dict[str, StoredRemote]]) -> None:
        """Write the remotes ``mutate`` makes of the current ones to every drive (blocks)."""
        generation, stored = self._stored()
        updated = mutate(dict(stored))
        doc = {"generation": generation + 1, "remotes": [asdict(r) for r in updated.values()]}
        self.storage.write_shared(REMOTES_FILE, json.dumps(doc, indent=1, sort_keys=True).encode())
