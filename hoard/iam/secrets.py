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
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
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
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "hoard" / "secrets" / f"{deployment}.key"


def load_key(value: str | None, key_file: Path | None, deployment: str) -> tuple[bytes, Path | None, bool]:
    """The secrets key: ``value`` (base64), else read from ``key_file``, else from (or made in)
    the default file for this deployment. Returns the key, the file it came from (None for a
    value) and whether it was made just now."""
    if value:
        return _decode(value, "HOARD_SECRETS_KEY"), None, False
    path = key_file or default_key_file(deployment)
    if path.exists():
        try:
            return _decode(path.read_text().strip(), str(path)), path, False
        except OSError as e:
            raise SecretsKeyError(f"cannot read the secrets key file {path}: {e.strerror or e}") from None
    if key_file is not None:
        raise SecretsKeyError(f"the secrets key file {path} does not exist")
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(key).decode("ascii") + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise SecretsKeyError(f"cannot make the secrets key file {path}: {e.strerror or e}") from None
    return key, path, True


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SecretsKeyError(f"{where}: not base64") from None
    if len(key) != KEY_BYTES:
        raise SecretsKeyError(f"{where}: the secrets key must be {KEY_BYTES} bytes (base64 of 32 random bytes), not {len(key)}")
    return key
