"""A 32-byte key kept apart from the data folder: given in the settings (base64), read from a
key file, or made on first start in the user's configuration folder, named after the deployment.

The secrets key (hoard.iam.secrets) and the encryption master key (hoard.crypto.keys) both come
this way; they differ only in their name, their setting and their default file.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


class KeyFileError(Exception):
    """The key cannot be had: a bad value, a missing or unreadable file, or one that cannot be made."""


def config_key_file(deployment: str, suffix: str) -> Path:
    """``~/.config/hoard/secrets/DEPLOYMENT{suffix}`` (or under ``$XDG_CONFIG_HOME``): never on the drives."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "hoard" / "secrets" / f"{deployment}{suffix}"


def load_key(value: str | None, key_file: Path | None, default_file: Path, *, what: str, setting: str) -> tuple[bytes, Path | None, bool]:
    """The key: ``value`` (base64), else read from ``key_file``, else from (or made in)
    ``default_file``. Returns the key, the file it came from (None for a value) and whether it was
    made just now. ``what`` names the key in errors ("secrets key"), ``setting`` the setting
    ``value`` came from. Raises KeyFileError."""
    if value:
        return decode_key(value, setting, what), None, False
    path = key_file or default_file
    if path.exists():
        try:
            return decode_key(path.read_text().strip(), str(path), what), path, False
        except OSError as e:
            raise KeyFileError(f"cannot read the {what} file {path}: {e.strerror or e}") from None
    if key_file is not None:
        # A file named in the settings is never made: a typo would otherwise start the server
        # with a new key that opens nothing the drives hold.
        raise KeyFileError(f"the {what} file {path} does not exist")
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(key).decode("ascii") + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise KeyFileError(f"cannot make the {what} file {path}: {e.strerror or e}") from None
    return key, path, True


def decode_key(text: str, where: str, what: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{where}: not base64") from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"{where}: the {what} must be {KEY_BYTES} bytes (base64 of 32 random bytes), not {len(key)}")
    return key
