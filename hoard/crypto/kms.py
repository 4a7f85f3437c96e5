"""SSE-KMS: the key manager interface, and the built-in key store behind it.

A KeyManager holds named keys and seals data keys with them. The object engine asks it for a
data key when an SSE-KMS object is written (``generate_data_key``: the key in clear, to encrypt
with, and sealed, to keep in the version's record) and to open the sealed one when it is read
(``decrypt``). The context (bucket and key, as S3's encryption context) is bound to the sealed
key: a sealed key copied onto another object does not open.

An external KMS (AWS KMS, Vault's transit engine, KES...) is plugged in by implementing
KeyManager: ``generate_data_key`` and ``decrypt`` map onto their GenerateDataKey and Decrypt calls
(the context as their encryption context), the sealed blob is whatever they return, and
``reseal_keys`` does nothing, as such a KMS does not depend on Hoard's master key. Errors are
raised as the KmsError subclasses below, whose ``code`` and ``status`` are S3's answer.

BuiltinKms keeps each key's 32 random bytes sealed by the master key, in one JSON document read
and written through the two callables it is given (the server keeps it on every drive like its
other shared documents). Its sealed data keys are keys.py's envelopes with the KMS key's id in
place of a master key id. Rotating the master key reseals that document only: the objects'
sealed data keys stay as they are.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from hoard.crypto.keys import (
    KeyEnvelopeError,
    MasterKey,
    SealingKey,
    envelope_key_id,
    new_data_key,
    open_data_key,
    reseal,
    seal_data_key,
)

DOCUMENT_FORMAT = "hoard-kms-v1"
DEFAULT_ALIAS = "alias/aws/s3"  # the key S3 uses for SSE-KMS when a request names none
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
_MAX_DESCRIPTION = 8192


class KmsError(Exception):
    """A KMS refusal, as S3 answers it (``code``, ``status``, ``message``). Raised as itself only
    for a key document the server cannot read: a fault of the server's, hence 500."""

    code = "InternalError"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KmsKeyNotFound(KmsError):
    status = 400
    code = "KMS.NotFoundException"


class KmsKeyDisabled(KmsError):
    status = 400
    code = "KMS.DisabledException"


class KmsInvalidCiphertext(KmsError):
    """A sealed data key that does not open: changed, or asked for with another context."""

    status = 400
    code = "KMS.InvalidCiphertextException"


class KmsAlreadyExists(KmsError):
    status = 400
    code = "KMS.AlreadyExistsException"


class KmsInvalidRequest(KmsError):
    status = 400
    code = "KMS.ValidationException"


@dataclass(frozen=True)
class KmsKey:
    key_id: str  # as AWS's: a UUID
    arn: str
    description: str
    created: float  # seconds since the epoch
    enabled: bool
    aliases: tuple[str, ...] = ()  # "alias/NAME"

    @property
    def state(self) -> str:
        return "Enabled" if self.enabled else "Disabled"


class KeyManager(Protocol):
    """What the server needs of a KMS. ``key`` arguments take a key id, a key ARN
    (``arn:aws:kms:REGION:ACCOUNT:key/ID``), an alias (``alias/NAME``) or an alias ARN."""

    def create_key(self, description: str = "", alias: str | None = None) -> KmsKey: ...

    def list_keys(self) -> list[KmsKey]: ...

    def resolve(self, key: str) -> KmsKey:
        """The key so named. KmsKeyNotFound if none (disabled keys resolve: use decides)."""
        ...

    def generate_data_key(self, key: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        """A new 32-byte data key, in clear and sealed under ``key`` for ``context``.
        KmsKeyNotFound, KmsKeyDisabled."""
        ...

    def decrypt(self, sealed: bytes, context: Mapping[str, str]) -> bytes:
        """The data key in ``sealed`` (which names its KMS key). KmsKeyNotFound, KmsKeyDisabled,
        KmsInvalidCiphertext (changed, or another context)."""
        ...

    def reseal_keys(self, old_master: MasterKey, new_master: MasterKey) -> None:
        """Move whatever the KMS keeps under the master key to a new master key."""
        ...


def document_generation(raw: bytes) -> int:
    """The generation of a copy of BuiltinKms's document (ValueError, KeyError: not one)."""
    document = json.loads(raw)
    if document.get("format") != DOCUMENT_FORMAT:
        raise ValueError("not a KMS key document")
    return int(document.get("generation", 0))


def context_bytes(context: Mapping[str, str]) -> bytes:
    """The encryption context as associated data: the same pairs in any order give the same bytes."""
    return json.dumps(dict(sorted(context.items())), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class _Entry:
    key: KmsKey
    sealer: SealingKey  # the key's material, sealing data keys under its id


class BuiltinKms:
    """Named keys sealed by the master key, in one document. Thread-safe.

    Its view of the document is kept in memory: another process's new key is found by reading
    the document again when a name is not known; other changes (a key disabled elsewhere) are seen
    after ``refresh``. Changes should be made by one process (the admin API's leader), as the
    server's other shared documents are: each change reads the document, changes it and saves it.
    """

    def __init__(
        self,
        master: MasterKey,
        load: Callable[[], bytes | None],
        save: Callable[[bytes], None],
        *,
        region: str,
        account: str,
        clock: Callable[[], float] = time.time,
        max_age: float = 10.0,
        master_for: Callable[[bytes], MasterKey | None] | None = None,
    ) -> None:
        self._master = master
        self._load = load
        self._save = save
        self._region = region
        self._account = account
        self._clock = clock
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] | None = None
        self._aliases: dict[str, str] = {}
        # The master key of another id (one being rotated in or out), by the id an envelope names.
        self._master_for = master_for
        self._max_age = max_age  # seconds a process serves its view before reading the document again
        self._read_at = 0.0

    # -- the KeyManager interface

    def create_key(self, description: str = "", alias: str | None = None) -> KmsKey:
        if len(description) > _MAX_DESCRIPTION:
            raise KmsInvalidRequest(f"the description is longer than {_MAX_DESCRIPTION} characters")
        if alias is not None:
            _check_alias(alias)
        return self._create(description, alias)

    def list_keys(self) -> list[KmsKey]:
        with self._lock:
            entries = self._current()
            return sorted((e.key for e in entries.values()), key=lambda k: (k.created, k.key_id))

    def resolve(self, key: str) -> KmsKey:
        with self._lock:
            return self._find(key).key

    def generate_data_key(self, key: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        with self._lock:
            entry = self._usable(self._find(key))
        data_key = new_data_key()
        return data_key, seal_data_key(entry.sealer, data_key, context_bytes(context))

    def decrypt(self, sealed: bytes, context: Mapping[str, str]) -> bytes:
        try:
            key_id = str(uuid.UUID(bytes=envelope_key_id(sealed)))
        except KeyEnvelopeError as e:
            raise KmsInvalidCiphertext(str(e)) from None
        with self._lock:
            entry = self._usable(self._find(key_id))
        try:
            return open_data_key(entry.sealer, sealed, context_bytes(context))
        except KeyEnvelopeError:
            raise KmsInvalidCiphertext("the sealed data key does not open with this encryption context") from None

    def reseal_keys(self, old_master: MasterKey, new_master: MasterKey) -> None:
        """Every key's material resealed under ``new_master`` and saved; from then on this store
        opens it with ``new_master`` only. Keys already under it are kept (a rerun is harmless)."""
        with self._lock:
            document = self._read()
            for record in document["keys"]:
                sealed = _b64(record["material"])
                old = old_master if envelope_key_id(sealed) == old_master.raw_id else self._master_of(sealed)
                record["material"] = base64.b64encode(reseal(sealed, old, new_master, _material_context(record["id"]))).decode("ascii")
            self._write(document)
            self._master = new_master
            self._entries = None

    # -- beyond the interface: what `hoard admin kms` needs

    def set_enabled(self, key: str, enabled: bool) -> KmsKey:
        with self._lock:
            key_id = self._find(key).key.key_id
            document = self._read()
            for record in document["keys"]:
                if record["id"] == key_id:
                    record["state"] = "Enabled" if enabled else "Disabled"
            self._write(document)
            return self._find(key_id).key

    def default_key(self) -> KmsKey:
        """The key S3 uses when SSE-KMS names none (``alias/aws/s3``), made if it is not there yet (by the server at its start: hoard.server)."""
        with self._lock:
            try:
                return self._find(DEFAULT_ALIAS).key
            except KmsKeyNotFound:
                return self._create("Default key that protects my S3 objects when no other key is named", DEFAULT_ALIAS)

    def refresh(self) -> None:
        """Forget what was read: the next use reads the document again."""
        with self._lock:
            self._entries = None

    @property
    def master_key_id(self) -> str:
        return self._master.key_id

    # -- the document

    def _create(self, description: str, alias: str | None) -> KmsKey:
        with self._lock:
            document = self._read()
            if alias is not None and alias in document["aliases"]:
                raise KmsAlreadyExists(f"An alias with the name {self._alias_arn(alias)} already exists")
            key_id = str(uuid.uuid4())
            material = seal_data_key(self._master, new_data_key(), _material_context(key_id))
            document["keys"].append(
                {"id": key_id, "description": description, "created": self._clock(), "state": "Enabled", "material": base64.b64encode(material).decode("ascii")}
            )
            if alias is not None:
                document["aliases"][alias] = key_id
            self._write(document)
            return self._find(key_id).key

    def _read(self) -> dict:
        raw = self._load()
        if raw is None:
            return {"format": DOCUMENT_FORMAT, "generation": 0, "keys": [], "aliases": {}}
        try:
            document = json.loads(raw)
        except ValueError:
            raise KmsError("the KMS key document is not JSON") from None
        if not isinstance(document, dict) or document.get("format") != DOCUMENT_FORMAT:
            raise KmsError("the KMS key document is not one this server reads")
        return document

    def _write(self, document: dict) -> None:
        # Copies are kept on every drive; the one with the highest generation is the current one.
        document["generation"] = int(document.get("generation", 0)) + 1
        self._save(_dump(document))
        self._entries = None  # read back, so that what is served is what was saved

    def _current(self) -> dict[str, _Entry]:
        # Read again now and then: a key another process disabled (or deleted) stops being served.
        if self._entries is None or time.monotonic() - self._read_at > self._max_age:
            self._parse(self._read())
            self._read_at = time.monotonic()
        assert self._entries is not None
        return self._entries

    def _parse(self, document: dict) -> None:
        """Opens every key's material now, so that a wrong master key is refused at start (as
        WrongMasterKey, naming both), not at some object's first read."""
        aliases: dict[str, str] = dict(document["aliases"])
        by_key: dict[str, list[str]] = {}
        for name, key_id in sorted(aliases.items()):
            by_key.setdefault(key_id, []).append(name)
        entries: dict[str, _Entry] = {}
        for record in document["keys"]:
            key_id = record["id"]
            sealed = _b64(record["material"])
            material = open_data_key(self._master_of(sealed), sealed, _material_context(key_id))
            key = KmsKey(key_id, self._key_arn(key_id), record["description"], record["created"], record["state"] == "Enabled", tuple(by_key.get(key_id, ())))
            entries[key_id] = _Entry(key, SealingKey(material, uuid.UUID(key_id).bytes))
        self._entries, self._aliases = entries, aliases

    def _master_of(self, sealed: bytes) -> MasterKey:
        """The master key that opens ``sealed``: this store's, or the one of the id it names if
        the server has it (during and after a rotation); else this store's, which then says which
        key the envelope wants."""
        key_id = envelope_key_id(sealed)
        if key_id != self._master.raw_id and self._master_for is not None:
            other = self._master_for(key_id)
            if other is not None:
                return other
        return self._master

    def _find(self, name: str) -> _Entry:
        """The entry ``name`` names; the document is read again once before saying there is none."""
        kind, value = self._parse_name(name)
        for attempt in (0, 1):
            if attempt:
                self._entries = None
            entries = self._current()
            key_id = self._aliases.get(value) if kind == "alias" else value
            if key_id is not None and key_id in entries:
                return entries[key_id]
        if kind == "alias":
            raise KmsKeyNotFound(f"Alias {self._alias_arn(value)} is not found.")
        if kind == "key":
            raise KmsKeyNotFound(f"Key '{self._key_arn(value)}' does not exist")
        raise KmsKeyNotFound(f"Invalid keyId {name}")

    def _parse_name(self, name: str) -> tuple[str, str]:
        """("key", id), ("alias", "alias/NAME") or ("invalid", name)."""
        if name.startswith("arn:"):
            parts = name.split(":", 5)
            if len(parts) != 6 or parts[1:3] != ["aws", "kms"] or parts[3] != self._region or parts[4] != self._account:
                return "invalid", name
            name = parts[5]
            if not name.startswith(("key/", "alias/")):
                return "invalid", name
            if name.startswith("key/"):
                name = name[len("key/") :]
        if name.startswith("alias/"):
            return "alias", name
        try:
            # Only AWS's spelling (36 characters), not the other forms uuid.UUID accepts.
            if len(name) == 36:
                return "key", str(uuid.UUID(name))
        except ValueError:
            pass
        return "invalid", name

    def _usable(self, entry: _Entry) -> _Entry:
        if not entry.key.enabled:
            raise KmsKeyDisabled(f"{entry.key.arn} is disabled.")
        return entry

    def _key_arn(self, key_id: str) -> str:
        return f"arn:aws:kms:{self._region}:{self._account}:key/{key_id}"

    def _alias_arn(self, alias: str) -> str:
        return f"arn:aws:kms:{self._region}:{self._account}:{alias}"


def _check_alias(alias: str) -> None:
    if not _ALIAS.match(alias):
        raise KmsInvalidRequest(f"{alias!r} is not an alias: alias/ then 1 to 250 of A-Z a-z 0-9 / _ -")
    if alias.startswith("alias/aws/"):
        raise KmsInvalidRequest(f"{alias!r}: aliases beginning with alias/aws/ are reserved")


def _material_context(key_id: str) -> bytes:
    return b"hoard-kms-key:" + key_id.encode("ascii")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyEnvelopeError("a KMS key's material is not base64") from None


def _dump(document: dict) -> bytes:
    return json.dumps(document, indent=1, sort_keys=True).encode("utf-8")


__all__ = [
    "DEFAULT_ALIAS",
    "BuiltinKms",
    "KeyManager",
    "KmsAlreadyExists",
    "KmsError",
    "KmsInvalidCiphertext",
    "KmsInvalidRequest",
    "KmsKey",
    "KmsKeyDisabled",
    "KmsKeyNotFound",
    "context_bytes",
    "document_generation",
]
