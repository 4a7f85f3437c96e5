"""Secret keys at rest: sealed with a key kept apart from the data folder, so that a copy of the
drives (a backup, a disk sent for repair) does not give the access keys away.

Each secret is sealed with AES-256-GCM under the deployment's secrets key; the associated data
names what the secret belongs to (the access key id), so a sealed value moved onto another key's
entry fails to open instead of working for it.

The secrets key comes from the settings (``HOARD_SECRETS_KEY``: base64 of 32 bytes, or
``HOARD_SECRETS_KEY_FILE``: a file holding that), else from a file in the user's configuration
folder named after the deployment, made on first start (mode 0600): never on the drives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hoard.crypto import keyfile

KEY_BYTES = keyfile.KEY_BYTES
NONCE_BYTES = 12
PREFIX = "sealed:v1:"  # what a sealed value starts with, telling it apart from one in clear text


class SecretsKeyError(Exception):
    """The secrets key cannot be had, or does not open what the drives hold."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretsKeyError(f"the secrets key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        # Names the key without giving it away: sites compare it to know they share one.
        self.fingerprint = hmac.new(key, b"hoard-secrets-key-fingerprint", hashlib.sha256).hexdigest()[:32]

    def seal(self, secret: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), context.encode("utf-8"))
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, context: str) -> str:
        if not is_sealed(sealed):
            raise SecretsKeyError("not a sealed secret")
        try:
            raw = base64.b64decode(sealed[len(PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError) as e:
            raise SecretsKeyError("a stored secret does not open with this secrets key (was the key changed or lost?)") from e


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def default_key_file(deployment: str) -> Path:
    """Where the secrets key lives when the settings name none: the user's configuration folder."""
    return keyfile.config_key_file(deployment, ".key")


def load_key(value: str | None, key_file: Path | None, deployment: str) -> tuple[bytes, Path | None, bool]:
    """The secrets key: ``value`` (base64), else read from ``key_file``, else from (or made in)
    the default file for this deployment. Returns the key, the file it came from (None for a
    value) and whether it was made just now."""
    try:
        return keyfile.load_key(value, key_file, default_key_file(deployment), what="secrets key", setting="HOARD_SECRETS_KEY")
    except keyfile.KeyFileError as e:
        raise SecretsKeyError(str(e)) from None
