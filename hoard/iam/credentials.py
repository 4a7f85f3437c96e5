"""Access keys and the identities they belong to: the root account (its keys from the settings,
or generated and kept sealed on every drive), and the shape of every user's identity (users
themselves: ``hoard.iam.identities``)."""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hoard.iam.secrets import SecretBox, SecretsKeyError

if TYPE_CHECKING:
    from hoard.storage.pool import Storage


@dataclass(frozen=True)
class Identity:
    access_key: str
    secret_key: str
    owner_id: str  # its account's S3 canonical user id (64 hex characters): what owns what it makes
    display_name: str
    is_root: bool = True
    # An IAM user's (empty for the root account):
    user: str = ""
    user_id: str = ""
    arn: str = ""
    account: str = ""
    policies: tuple[str, ...] = ()  # the JSON documents of every policy that applies to it
    enabled: bool = True
    expires: float | None = None
    # The account it belongs to, by name ("": the deployment's own) and as owners are shown.
    account_name: str = ""
    owner_name: str = ""

    @property
    def owner_display_name(self) -> str:
        return self.owner_name or self.display_name


def canonical_id(access_key: str) -> str:
    return hashlib.sha256(f"hoard-owner:{access_key}".encode()).hexdigest()


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def stored_root_keys(data: bytes, box: SecretBox | None) -> tuple[str, str, bool]:
    """The access key and secret key of a root-credentials file as ``load_root`` writes it, and
    whether the secret was stored in clear text (as before secrets were sealed).

    Raises ValueError if the file is not one, SecretsKeyError if its secret does not open.
    """
    keys = json.loads(data)
    if not isinstance(keys, dict) or not isinstance(keys.get("access_key"), str):
        raise ValueError("not a root-credentials file")
    access_key = keys["access_key"]
    if isinstance(keys.get("sealed_secret"), str):
        if box is None:
            raise SecretsKeyError("the root secret key is sealed: the secrets key is needed to open it")
        return access_key, box.open(keys["sealed_secret"], access_key), False
    if isinstance(keys.get("secret_key"), str):
        return access_key, keys["secret_key"], True
    raise ValueError("not a root-credentials file")


def _sealed_root(box: SecretBox, access_key: str, secret_key: str) -> bytes:
    return json.dumps({"access_key": access_key, "sealed_secret": box.seal(secret_key, access_key)}).encode()


def load_root(storage: Storage, access_key: str | None, secret_key: str | None, box: SecretBox) -> tuple[Identity, bool]:
    """The root identity from the environment, or from the drives, generating it on first start.

    Generated keys are kept on every drive (mode 0600), the secret sealed, so losing one drive
    loses nothing and a copy of one gives nothing away; a secret found in clear text (written
    before sealing) is sealed in place. Returns the identity and whether it was generated just
    now (so it is printed once).
    """
    if access_key and secret_key:
        return Identity(access_key, secret_key, canonical_id(access_key), "hoard-root"), False
    stored = storage.read_credentials()
    if stored is not None:
        ak, sk, clear = stored_root_keys(stored, box)
        if clear:
            storage.write_credentials(_sealed_root(box, ak, sk))
        return Identity(ak, sk, canonical_id(ak), "hoard-root"), False
    ak = "HR" + _random(string.ascii_uppercase + string.digits, 18)
    sk = _random(string.ascii_letters + string.digits + "+/", 40)
    storage.write_credentials(_sealed_root(box, ak, sk))
    return Identity(ak, sk, canonical_id(ak), "hoard-root"), True


class KeyRing(Protocol):
    """Looks up the identity that owns an access key (``hoard.iam.identities.Identities``)."""

    def get(self, access_key: str) -> Identity | None: ...


class FixedKeys:
    """A key ring of given identities, for code that has no drives (tools, tests of the parts)."""

    def __init__(self, identities: list[Identity]) -> None:
        self._by_key = {i.access_key: i for i in identities}

    def get(self, access_key: str) -> Identity | None:
        return self._by_key.get(access_key)
