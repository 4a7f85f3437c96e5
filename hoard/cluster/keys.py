"""The cluster key: the secret every node of a cluster holds and signs its calls to the others
with (hoard.cluster.internal_auth).

``hoard cluster init`` makes it (new_cluster_key) and writes it to a file of mode 0600
(write_key_file); a node reads it from the file HOARD_CLUSTER_KEY_FILE names, or from
HOARD_CLUSTER_KEY itself (load_cluster_keyring). It is never stored in the database and never
logged: what is logged is its key id, a fingerprint that names it without giving it away. There
is no default key, so a node without one does not start in cluster mode.

A key is written as base64 of 32 random bytes, as Hoard's other keys are (hoard.crypto.keyfile).
During a rotation (``hoard admin cluster rotate-key``) the file (or the variable, comma
separated) holds two keys: the first is signed with, both are accepted (ClusterKeyring says in
which order a rotation changes them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from hoard import durable
from hoard.crypto.keyfile import KEY_BYTES, KeyFileError, decode_key

KEY_VARIABLE = "HOARD_CLUSTER_KEY"
KEY_FILE_VARIABLE = "HOARD_CLUSTER_KEY_FILE"
KEY_ID_CHARS = 16  # 64 bits: enough to tell the two keys of a rotation apart, too few to matter if seen


class ClusterKey:
    """One cluster key. Its repr and str show the key id only, so that a key that strays into a
    log message or a traceback's locals does not give itself away."""

    __slots__ = ("_material", "key_id")

    def __init__(self, material: bytes) -> None:
        if len(material) != KEY_BYTES:
            raise ValueError(f"a cluster key is {KEY_BYTES} bytes, not {len(material)}")
        self._material = material
        # Keyed by the key itself, so the id says nothing of the key (a plain hash of a 256-bit
        # random key would not either, but this keeps it apart from any other use of the key).
        self.key_id = hmac.new(material, b"hoard-cluster-key-id", hashlib.sha256).hexdigest()[:KEY_ID_CHARS]

    @classmethod
    def from_text(cls, text: str, where: str) -> ClusterKey:
        """The key written as ``text`` (base64); ``where`` names its origin in errors, which never
        quote the text. Raises KeyFileError."""
        return cls(decode_key(text.strip(), where, "cluster key"))

    def text(self) -> str:
        """The key itself, as its file and HOARD_CLUSTER_KEY hold it: a secret, never to be logged."""
        return base64.b64encode(self._material).decode("ascii")

    def __repr__(self) -> str:
        return f"ClusterKey(id={self.key_id})"

    __str__ = __repr__


def new_cluster_key() -> ClusterKey:
    return ClusterKey(secrets.token_bytes(KEY_BYTES))


class ClusterKeyring:
    """The key this node signs with (``current``, also accepted) and, during a rotation, one more
    key it accepts (``accepted``).

    A rotation goes in three steps, each given to every node before the next, so that no node
    ever signs with a key another does not hold: accept the new key (``accepting``: the file
    holds the old key, then the new one); sign with it (``promoted``: the new key first, the old
    one still accepted from nodes not yet there); drop the old one (``retired``)."""

    __slots__ = ("current", "accepted")

    def __init__(self, current: ClusterKey, accepted: ClusterKey | None = None) -> None:
        if accepted is not None and accepted.key_id == current.key_id:
            raise ValueError("the same cluster key twice: a rotation needs a new key")
        self.current = current
        self.accepted = accepted

    def find(self, key_id: str) -> ClusterKey | None:
        """The key a request names by its id, if this keyring holds it."""
        for key in (self.current, self.accepted):
            if key is not None and key.key_id == key_id:
                return key
        return None

    def accepting(self, new: ClusterKey) -> ClusterKeyring:
        """A rotation's first step: ``new`` accepted, the current key still the one signed with.
        Refused while a rotation is under way: its other key may still be in use."""
        if self.accepted is not None:
            raise ValueError(f"a rotation is under way (key {self.accepted.key_id} is held too): finish it first")
        return ClusterKeyring(self.current, new)

    def promoted(self) -> ClusterKeyring:
        """A rotation's second step: the accepted key signs, the current one is still accepted."""
        if self.accepted is None:
            raise ValueError("no rotation under way: no other key to sign with")
        return ClusterKeyring(self.accepted, self.current)

    def retired(self) -> ClusterKeyring:
        """A rotation's last step: the current key only, the other no longer accepted."""
        return ClusterKeyring(self.current)

    def file_text(self) -> str:
        """What the key file holds: a secret, never to be logged."""
        keys = [self.current] if self.accepted is None else [self.current, self.accepted]
        return "".join(f"{key.text()}\n" for key in keys)

    def __repr__(self) -> str:
        accepted = self.accepted.key_id if self.accepted is not None else None
        return f"ClusterKeyring(current={self.current.key_id}, accepted={accepted})"


def keyring_from_text(text: str, where: str) -> ClusterKeyring:
    """The keys of a key file's text or HOARD_CLUSTER_KEY: the one signed with, then, during a
    rotation, the other one accepted, on separate lines or separated by a comma. Raises
    KeyFileError."""
    # base64 has no comma or white space, so either separates keys without ambiguity.
    keys = [ClusterKey.from_text(part, where) for part in text.replace(",", " ").split()]
    if not keys:
        raise KeyFileError(f"{where}: no cluster key")
    if len(keys) > 2:
        raise KeyFileError(f"{where}: {len(keys)} keys; it holds the cluster key and, during a rotation, one other")
    try:
        return ClusterKeyring(*keys)
    except ValueError as e:
        raise KeyFileError(f"{where}: {e}") from None


def write_key_file(path: Path, keyring: ClusterKeyring, *, replace: bool = False) -> None:
    """The keyring as ``path``, mode 0600 from its creation on (durable.replace_file writes a
    temporary file so created, fsyncs it, renames it over ``path`` and fsyncs the folder).
    ``replace`` allows an existing file to be overwritten (a rotation); without it an existing
    key is never lost to a second ``hoard cluster init``. Raises KeyFileError."""
    if not replace and path.exists():
        raise KeyFileError(f"{path} already holds a cluster key; a new one would lock this node out of its cluster")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        durable.replace_file(path, keyring.file_text().encode("ascii"), mode=0o600)
    except OSError as e:
        raise KeyFileError(f"cannot write the cluster key file {path}: {e.strerror or e}") from None


def read_key_file(path: Path) -> ClusterKeyring:
    """The keyring ``path`` holds. Refused, as ssh refuses a private key, if the file is open to
    its group or to others: a key others could read is no longer the cluster's secret, and one
    others could write lets them choose it. Raises KeyFileError."""
    try:
        with open(path, "rb") as f:
            # The mode of the file opened, not of the name: it cannot change between check and read.
            _check_private(path, os.fstat(f.fileno()).st_mode)
            raw = f.read()
    except OSError as e:
        raise KeyFileError(f"cannot read the cluster key file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"{path}: not a cluster key file (not ASCII text)") from None
    return keyring_from_text(text, str(path))


def _check_private(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise KeyFileError(f"the cluster key file {path} is not a regular file")
    if mode & 0o077:
        raise KeyFileError(
            f"permissions {stat.S_IMODE(mode):04o} for the cluster key file {path} are too open: it must be readable "
            f"by its owner only (chmod 600 {path})"
        )


def load_cluster_keyring(environ: Mapping[str, str] | None = None) -> ClusterKeyring:
    """The node's keyring, from HOARD_CLUSTER_KEY_FILE's file or HOARD_CLUSTER_KEY (``environ``,
    the process's environment unless given). There is no default: without either, KeyFileError,
    and a node in cluster mode does not start."""
    env = os.environ if environ is None else environ
    file = env.get(KEY_FILE_VARIABLE)
    return cluster_keyring(env.get(KEY_VARIABLE), Path(file) if file else None)


def cluster_keyring(value: str | None, file: Path | None) -> ClusterKeyring:
    """The keyring from the key itself (HOARD_CLUSTER_KEY's text) or its file, exactly one of
    them (the server passes its settings' values). KeyFileError otherwise."""
    if value and file:
        raise KeyFileError(f"both {KEY_VARIABLE} and {KEY_FILE_VARIABLE} are set: give the cluster key one way")
    if value:
        return keyring_from_text(value, KEY_VARIABLE)
    if file:
        return read_key_file(file)
    raise KeyFileError(
        f"no cluster key: a node in cluster mode needs {KEY_FILE_VARIABLE} (a file of mode 0600 made by "
        f"`hoard cluster init`) or {KEY_VARIABLE}; there is no default"
    )
