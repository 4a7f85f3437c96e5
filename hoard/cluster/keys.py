"""The cluster key: the secret every node of a cluster holds and signs its calls to the others
with (hoard.cluster.internal_auth).

``hoard cluster init`` makes it (new_cluster_key) and writes it to a file of mode 0600
(write_key_file); a node reads it from the file HOARD_CLUSTER_KEY_FILE names, or from
HOARD_CLUSTER_KEY itself (load_cluster_keyring). It is never stored in the database and never
logged: what is logged is its key id, a fingerprint that names it without giving it away. There
is no default key, so a node without one does not start in cluster mode.

A key is written as base64 of 32 random bytes, as Hoard's other keys are (hoard.crypto.keyfile).
During a rotation the file (or the variable, comma separated) holds two keys: the first is
signed with, both are accepted (ClusterKeyring says in which order a rotation changes them). A
node that read its keys from a file follows the file (LiveKeyring): the operator copies the file
with the new key accepted to every node (``hoard cluster rotate-key``), and ``hoard admin cluster
rotate-key`` then has every node rewrite its own file, first to sign with the new key, then to
drop the old one. The key itself never crosses the network.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

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


class Keyring(Protocol):
    """What signs and checks internal requests: a ClusterKeyring, or a node's LiveKeyring."""

    @property
    def current(self) -> ClusterKey: ...

    def find(self, key_id: str) -> ClusterKey | None: ...


class LiveKeyring:
    """A node's keyring as its key file holds it now.

    ``reload`` takes the file again when it changed (the operator copied a rotation's file in);
    ``promote`` and ``retire`` are a rotation's steps, written to the file first and then taken
    up, so a restart finds the node where it was. Signers and verifiers read ``current`` and
    ``find`` on every request, and the keyring they see is swapped in one assignment: a request
    never meets a half-changed pair. Without a file (HOARD_CLUSTER_KEY) the keys stay as started."""

    def __init__(self, keyring: ClusterKeyring, file: Path | None = None) -> None:
        self._ring = keyring
        self.file = file
        self._lock = threading.Lock()
        self._seen = _file_identity(file) if file is not None else None

    @property
    def ring(self) -> ClusterKeyring:
        return self._ring

    @property
    def current(self) -> ClusterKey:
        return self._ring.current

    @property
    def accepted(self) -> ClusterKey | None:
        return self._ring.accepted

    def find(self, key_id: str) -> ClusterKey | None:
        return self._ring.find(key_id)

    def reload(self, allowed: Callable[[ClusterKeyring], str]) -> ClusterKeyring | None:
        """The file's keys taken up if the file changed since last seen and ``allowed`` (given the
        new keyring) answers "" (else why not: the old keys stay, KeyFileError says why). Returns
        the new keyring, or None if nothing changed. Raises KeyFileError."""
        if self.file is None:
            return None
        with self._lock:
            seen = _file_identity(self.file)
            if seen == self._seen:
                return None
            ring = read_key_file(self.file)
            if (ring.current.key_id, getattr(ring.accepted, "key_id", None)) == self.key_ids():
                self._seen = seen
                return None
            refusal = allowed(ring)
            if refusal:
                raise KeyFileError(f"{self.file} changed but was not taken up: {refusal}")
            self._ring, self._seen = ring, seen
            return ring

    def key_ids(self) -> tuple[str, str | None]:
        ring = self._ring
        return ring.current.key_id, ring.accepted.key_id if ring.accepted is not None else None

    def promote(self, key_id: str) -> ClusterKeyring:
        """Sign with the accepted key ``key_id`` (the current one still accepted). Done already: no
        change. KeyFileError if this node does not hold it, or cannot write its file."""
        with self._lock:
            ring = self._ring
            if ring.current.key_id == key_id:
                return ring
            if ring.accepted is None or ring.accepted.key_id != key_id:
                raise KeyFileError(f"this node does not hold key {key_id}: copy the rotation's key file to it first")
            return self._adopt(ring.promoted())

    def retire(self, key_id: str) -> ClusterKeyring:
        """Drop every key but ``key_id``, which must be the one signed with. Done already: no change."""
        with self._lock:
            ring = self._ring
            if ring.current.key_id != key_id:
                raise KeyFileError(f"this node signs with key {ring.current.key_id}, not {key_id}: promote it first")
            if ring.accepted is None:
                return ring
            return self._adopt(ring.retired())

    def _adopt(self, ring: ClusterKeyring) -> ClusterKeyring:
        if self.file is None:
            raise KeyFileError(f"this node takes its key from {KEY_VARIABLE}, not a file: set it anew and restart the node")
        write_key_file(self.file, ring, replace=True)
        self._ring, self._seen = ring, _file_identity(self.file)
        return ring

    def __repr__(self) -> str:
        return f"LiveKeyring({self._ring!r}, file={self.file})"


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is written anew or copied over (durable.replace_file renames a
    new file into place: a new inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


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


def live_keyring(value: str | None, file: Path | None) -> LiveKeyring:
    """``cluster_keyring``'s keys, following their file when they come from one."""
    return LiveKeyring(cluster_keyring(value, file), None if value else file)


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
