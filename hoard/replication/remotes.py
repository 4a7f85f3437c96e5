"""The remote S3 endpoints bucket replication writes to (``hoard admin remote add NAME URL
--access-key AK --secret-key SK``): another Hoard, AWS itself, any S3 service. A replication
configuration's Role names one (``hoard.replication.rules``).

They are kept whole in ``.hoard/remotes.json`` on every drive, as the IAM directory is
(``hoard.iam.identities``): each change writes a copy with a higher ``generation`` and the newest
copy wins (``Storage.read_newest_copy``), so a drive that was away during a change cannot bring
an older list back. Each secret key is sealed with the deployment's secrets key
(``hoard.iam.secrets``, bound to the remote's name), so a copy of the data folder does not give
it away. Every process reads the file when it needs it (the leader's replication engine, a
PutBucketReplication in any worker); only the leader changes it (the admin API runs there).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from hoard.iam.secrets import SecretBox
from hoard.replication.rules import REMOTE_NAME

if TYPE_CHECKING:
    from hoard.storage.pool import Storage

REMOTES_FILE = "remotes.json"
CONNECT_TIMEOUT = 5.0
_REGION = re.compile(r"[a-z0-9-]{1,32}")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")


class RemoteError(ValueError):
    """A remote's name, URL, region or CA bundle that cannot be used (the message says why)."""


def check_name(name: str) -> str:
    if not REMOTE_NAME.fullmatch(name):
        raise RemoteError(f"the remote name {name!r} is not valid: 1 to 64 letters, digits, '.', '_' or '-'")
    return name


def check_url(url: str) -> str:
    """The URL of an S3 endpoint, ``http(s)://host[:port]`` (a trailing ``/`` dropped)."""
    problem = f"the remote URL {url!r} is not valid: http://host[:port] or https://host[:port], nothing after"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError if not a number in 0..65535
    except ValueError:
        raise RemoteError(problem) from None
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if (
        parts.scheme not in ("http", "https")
        or not _HOST.fullmatch(host)
        or port == 0
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or url != url.strip()
    ):
        raise RemoteError(problem)
    return f"{parts.scheme}://{parts.netloc}"


def check_region(region: str) -> str:
    if not _REGION.fullmatch(region):
        raise RemoteError(f"the region {region!r} is not valid: lower-case letters, digits and '-', as us-east-1")
    return region


def check_ca_bundle(path: str, url: str) -> str:
    """A PEM file, on the server's machine, that the remote's certificate must chain to."""
    if not path:
        return ""
    if not url.startswith("https://"):
        raise RemoteError("a CA bundle is for an https:// remote")
    if not path.startswith("/"):
        raise RemoteError(f"the CA bundle must be an absolute path on the server's machine, not {path!r}")
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as e:
        raise RemoteError(f"cannot use the CA bundle {path}: {getattr(e, 'strerror', None) or e}") from None
    return path


@dataclass(frozen=True)
class StoredRemote:
    """A remote as the drives keep it: its secret key sealed."""

    name: str
    url: str
    access_key: str
    sealed_secret: str
    region: str = "us-east-1"
    ca_bundle: str = ""  # a PEM file on the server's machine ("": the system's CAs)
    site: bool = False  # another site of this one's site group (hoard admin site add)


@dataclass(frozen=True)
class Remote:
    """A remote, its secret key opened (never shown: not in ``repr``, logs or answers)."""

    name: str
    url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    ca_bundle: str = ""
    site: bool = False

    def s3_client(self, timeout: float = 30.0) -> Any:
        """A boto3 S3 client for the remote: path-style addressing (a bucket name is never a host
        name to resolve), no retries of its own (the replication engine retries, with its own
        delays, and a check answers at once), ``timeout`` seconds for each answer (at most
        ``CONNECT_TIMEOUT`` to connect), checksums only where S3 requires them (the engine sends
        a version's own). Safe to build in any thread; use each client from one thread at a time
        or share it as boto3 allows."""
        import boto3  # here: a server that replicates nothing never loads it
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=min(timeout, CONNECT_TIMEOUT),
            read_timeout=timeout,
            signature_version="s3v4",
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            user_agent_extra="hoard-replication",
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
            verify=self.ca_bundle or None,
        )


def describe(error: BaseException) -> str:
    """What went wrong talking to a remote, in one line: S3's code and message for a refusal,
    botocore's words for a connection that failed."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        info, status = response["Error"], response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = info.get("Code") or (f"HTTP {status}" if status else type(error).__name__)
        text = f"{code}: {info.get('Message') or 'no message'}"
    else:
        text = str(error)
        if not text or not type(error).__module__.startswith("botocore"):  # botocore's own messages say what happened
            text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return " ".join(text.split())


def unreachable(error: BaseException) -> bool:
    """Whether the remote could not be reached or did not answer in time, or answered that it
    cannot serve now (5xx): worth trying again later, unlike a refusal (wrong keys, no bucket, a
    certificate not trusted)."""
    from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError):
        return True
    status = (getattr(error, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500


@dataclass(frozen=True)
class RemoteSet:
    """The content of ``remotes.json``."""

    generation: int = 0
    remotes: dict[str, StoredRemote] = field(default_factory=dict)

    def to_json(self) -> bytes:
        doc = {"generation": self.generation, "remotes": [asdict(r) for r in sorted(self.remotes.values(), key=lambda r: r.name)]}
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RemoteSet:
        doc = json.loads(data)
        return cls(int(doc["generation"]), {r["name"]: StoredRemote(**r) for r in doc["remotes"]})


def _context(name: str) -> str:
    """What a remote's sealed secret is bound to: moved onto another remote (or an access key's
    entry) it does not open."""
    return f"remote:{name}"


class Remotes:
    """The remotes on the drives: read whole when needed (a small file), changed whole."""

    def __init__(self, storage: Storage, box: SecretBox) -> None:
        self.storage = storage
        self.box = box
        self._lock = threading.Lock()  # one change at a time in this process (the leader's)

    def _read(self) -> RemoteSet:
        return self.storage.read_newest_copy(REMOTES_FILE, RemoteSet.from_json) or RemoteSet()

    def load(self) -> dict[str, Remote]:
        """Every remote by name, secrets opened. Blocks (call it in a thread); SecretsKeyError if a
        secret does not open with this deployment's secrets key."""
        return {name: self.open(r) for name, r in self._read().remotes.items()}

    def listed(self) -> list[StoredRemote]:
        """Every remote as stored (no secret opened), by name. Blocks."""
        return sorted(self._read().remotes.values(), key=lambda r: r.name)

    def open(self, stored: StoredRemote) -> Remote:
        secret = self.box.open(stored.sealed_secret, _context(stored.name))
        return Remote(stored.name, stored.url, stored.access_key, secret, stored.region, stored.ca_bundle, stored.site)

    def seal(self, remote: Remote) -> StoredRemote:
        sealed = self.box.seal(remote.secret_key, _context(remote.name))
        return StoredRemote(remote.name, remote.url, remote.access_key, sealed, remote.region, remote.ca_bundle, remote.site)

    def change(self, mutate: Callable[[dict[str, StoredRemote]], dict[str, StoredRemote]]) -> None:
        """Write the remotes ``mutate`` makes of the current ones to every drive, with the next
        generation. Blocks; what ``mutate`` raises passes through, nothing written;
        WriteQuorumError if fewer than a majority of the drives took it."""
        with self._lock:
            current = self._read()
            updated = mutate(dict(current.remotes))
            if updated == current.remotes:
                return
            self.storage.write_shared(REMOTES_FILE, RemoteSet(current.generation + 1, dict(updated)).to_json())
