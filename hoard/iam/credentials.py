"""Access keys and the identities they belong to. For now there is one: the root account."""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hoard.storage.pool import Storage


@dataclass(frozen=True)
class Identity:
    access_key: str
    secret_key: str
    owner_id: str  # S3 canonical user id: 64 hex characters
    display_name: str
    is_root: bool = True


def canonical_id(access_key: str) -> str:
    return hashlib.sha256(f"hoard-owner:{access_key}".encode()).hexdigest()


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def stored_root_keys(data: bytes) -> tuple[str, str]:
    """The access key and secret key of a root-credentials file as ``load_root`` writes it.

    Raises ValueError if the file is not one.
    """
    keys = json.loads(data)
    if not isinstance(keys, dict) or not isinstance(keys.get("access_key"), str) or not isinstance(keys.get("secret_key"), str):
        raise ValueError("not a root-credentials file")
    return keys["access_key"], keys["secret_key"]


def load_root(storage: Storage, access_key: str | None, secret_key: str | None) -> tuple[Identity, bool]:
    """The root identity from the environment, or from the drives, generating it on first start.

    Generated keys are kept on every drive (mode 0600), so losing one loses nothing. Returns the
    identity and whether it was generated just now (so it is printed once).
    """
    if access_key and secret_key:
        return Identity(access_key, secret_key, canonical_id(access_key), "hoard-root"), False
    stored = storage.read_credentials()
    if stored is not None:
        ak, sk = stored_root_keys(stored)
        return Identity(ak, sk, canonical_id(ak), "hoard-root"), False
    ak = "HR" + _random(string.ascii_uppercase + string.digits, 18)
    sk = _random(string.ascii_letters + string.digits + "+/", 40)
    storage.write_credentials(json.dumps({"access_key": ak, "secret_key": sk}).encode())
    return Identity(ak, sk, canonical_id(ak), "hoard-root"), True


class KeyRing:
    """Looks up the identity that owns an access key."""

    def __init__(self, identities: list[Identity]) -> None:
        self._by_key = {i.access_key: i for i in identities}

    def get(self, access_key: str) -> Identity | None:
        return self._by_key.get(access_key)
