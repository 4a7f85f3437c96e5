"""Data keys and the envelopes that seal them.

Every encrypted object version (or multipart upload) has its own random data key. The key is
kept only sealed, in an envelope::

    b"hke1" || sealing key id (16 bytes) || nonce (12 bytes) || AES-256-GCM(data key) || tag (16 bytes)

with the version's context (what the key belongs to, e.g. bucket, key and encryption id) as
associated data, so an envelope moved onto another version fails to open. The sealing key is
the deployment's master key (SSE-S3, and the built-in KMS's own keys), a KMS key (SSE-KMS), or
the customer's key (SSE-C, whose envelopes carry no id: see hoard.crypto.customer).

The id in the envelope names the master key that sealed it without giving it away, so a server
started with another master key says which one the data wants instead of "does not open".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hoard.crypto import keyfile

DATA_KEY_BYTES = 32
ENCRYPTION_ID_BYTES = 16
KEY_ID_BYTES = 16
NONCE_BYTES = 12
ENVELOPE_MAGIC = b"hke1"
ENVELOPE_BYTES = len(ENVELOPE_MAGIC) + KEY_ID_BYTES + NONCE_BYTES + DATA_KEY_BYTES + 16
ANONYMOUS_KEY_ID = bytes(KEY_ID_BYTES)  # the id in envelopes whose sealing key must not be recognisable


class KeyEnvelopeError(Exception):
    """A sealed data key does not open: changed, cut, moved to another context, or another key."""


class WrongMasterKey(KeyEnvelopeError):
    """The envelope was sealed by another master key than the one given."""

    def __init__(self, sealed_by: str, given: str) -> None:
        super().__init__(f"sealed by master key {sealed_by}, but this server has master key {given}")
        self.sealed_by = sealed_by
        self.given = given


class SealingKey:
    """A 32-byte key that seals data keys, and the 16-byte id its envelopes carry."""

    def __init__(self, key: bytes, key_id: bytes) -> None:
        if len(key) != DATA_KEY_BYTES:
            raise ValueError(f"a sealing key is {DATA_KEY_BYTES} bytes, not {len(key)}")
        if len(key_id) != KEY_ID_BYTES:
            raise ValueError(f"a key id is {KEY_ID_BYTES} bytes, not {len(key_id)}")
        self._aead = AESGCM(key)
        self.raw_id = key_id

    @property
    def key_id(self) -> str:
        return self.raw_id.hex()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key_id})"


class MasterKey(SealingKey):
    """The deployment's master key. Its id is a fingerprint: it names the key, reveals nothing of it."""

    def __init__(self, key: bytes) -> None:
        if len(key) != DATA_KEY_BYTES:
            raise ValueError(f"a master key is {DATA_KEY_BYTES} bytes, not {len(key)}")
        super().__init__(key, hmac.new(key, b"hoard-master-key-id", hashlib.sha256).digest()[:KEY_ID_BYTES])
        self.material = key  # kept only to write the key file again when the key is rotated

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(DATA_KEY_BYTES))


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def new_encryption_id() -> bytes:
    return secrets.token_bytes(ENCRYPTION_ID_BYTES)


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def seal_data_key(sealer: SealingKey, data_key: bytes, context: bytes) -> bytes:
    """``data_key`` in an envelope only ``sealer`` opens, and only for this ``context``."""
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, not {len(data_key)}")
    head = ENVELOPE_MAGIC + sealer.raw_id
    nonce = new_nonce()
    return head + nonce + sealer._aead.encrypt(nonce, data_key, head + context)


def envelope_key_id(sealed: bytes) -> bytes:
    """The 16-byte id of the key that sealed ``sealed`` (KeyEnvelopeError if it is no envelope)."""
    if len(sealed) != ENVELOPE_BYTES or not sealed.startswith(ENVELOPE_MAGIC):
        raise KeyEnvelopeError("not a sealed data key (unknown format or cut short)")
    return sealed[len(ENVELOPE_MAGIC) : len(ENVELOPE_MAGIC) + KEY_ID_BYTES]


def open_data_key(sealer: SealingKey, sealed: bytes, context: bytes) -> bytes:
    """The data key in ``sealed``. WrongMasterKey if another key sealed it; KeyEnvelopeError if it
    was changed or belongs to another context."""
    key_id = envelope_key_id(sealed)
    if key_id != sealer.raw_id:
        raise WrongMasterKey(key_id.hex(), sealer.key_id)
    head = sealed[: len(ENVELOPE_MAGIC) + KEY_ID_BYTES]
    body = sealed[len(head) :]
    try:
        return sealer._aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], head + context)
    except InvalidTag:
        raise KeyEnvelopeError("a sealed data key does not open (changed, another key, or moved from another object)") from None


def reseal(sealed: bytes, old: SealingKey, new: SealingKey, context: bytes) -> bytes:
    """``sealed`` under ``new`` instead of ``old``. An envelope already under ``new`` is returned
    as it is (once checked), so an interrupted rotation can simply be run again."""
    if envelope_key_id(sealed) == new.raw_id:
        open_data_key(new, sealed, context)
        return sealed
    return seal_data_key(new, open_data_key(old, sealed, context), context)


def default_master_key_file(deployment: str) -> Path:
    return keyfile.config_key_file(deployment, ".master.key")


def load_master_key(value: str | None, key_file: Path | None, deployment: str) -> tuple[MasterKey, list[MasterKey], Path | None, bool]:
    """The master key: ``value`` (base64 of 32 bytes, from the settings), else ``key_file``, else
    ``~/.config/hoard/secrets/DEPLOYMENT.master.key`` (made on first start, mode 0600). Returns
    the key, the retired keys its file still holds, the file (None for a value) and whether it
    was made just now. Raises hoard.crypto.keyfile.KeyFileError.

    A key file holds the current key on its first line; during a rotation (``hoard admin kms
    rotate``) the key being retired follows on the next one (``read_master_key_file``)."""
    path = key_file or default_master_key_file(deployment)
    if not value and path.exists():
        keys = read_master_key_file(path)
        return keys[0], keys[1:], path, False
    key, made_path, made = keyfile.load_key(value, key_file, default_master_key_file(deployment), what="master key", setting="HOARD_MASTER_KEY")
    return MasterKey(key), [], made_path, made


def read_master_key_file(path: Path) -> list[MasterKey]:
    """The keys of a master key file: the current one first, then any being retired."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as e:
        raise keyfile.KeyFileError(f"cannot read the master key file {path}: {e.strerror or e}") from None
    if not lines:
        raise keyfile.KeyFileError(f"{path}: the master key file is empty")
    return [MasterKey(keyfile.decode_key(line, str(path), "master key")) for line in lines]
