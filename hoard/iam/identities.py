"""Who an access key belongs to: the root account and every user's keys, as authentication
looks them up and the admin API changes them.

The directory (``hoard.iam.directory``) is kept whole in ``.hoard/iam.json`` on every drive,
secrets sealed (``hoard.iam.secrets``); each drive's copy names its generation and the newest
wins, so a drive that was away during a change cannot bring an older directory back. Changes are
made by the leader process (the admin API runs there); every worker process notices them
through the index, where each change leaves a new token, looked at at most every
``RECHECK`` seconds: a revoked key stops working everywhere within that time.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from hoard.iam.credentials import Identity
from hoard.iam.directory import AccessKey, Directory, new_access_key, new_secret_key
from hoard.iam.secrets import SecretBox
from hoard.storage.errors import DocumentConflict

if TYPE_CHECKING:
    from hoard.meta.store import MetaStore
    from hoard.storage.pool import Storage

log = logging.getLogger("hoard.iam")
IAM_FILE = "iam.json"
TOKEN_SETTING = "iam_token"
CHANGE_ATTEMPTS = 3  # a change that loses a race with another node's is made again from the winner's
RECHECK = 0.5
MISS_RECHECK = 0.05


def account_id(root_owner: str) -> str:
    """The deployment's own account's 12-digit id, as IAM ARNs name an account: made from its root's
    canonical id, so that the sites of a site group (which share their root keys) have one."""
    return f"{int(hashlib.sha256(f'hoard-account:{root_owner}'.encode()).hexdigest(), 16) % 10**12:012d}"


class Identities:
    """The keys authentication knows (``get``), kept fresh across worker processes."""

    def __init__(self, storage: Storage, store: MetaStore, box: SecretBox, root: Identity) -> None:
        self.storage = storage
        self.store = store
        self.box = box
        self.root = root
        self.account = account_id(root.owner_id)
        self.directory = Directory()
        self._by_key: dict[str, Identity] = {}
        self._token: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._changing = threading.Lock()

    # -- reading ----------------------------------------------------------------------------------
    def load(self) -> None:
        """Read the newest directory the drives hold (blocks). SecretsKeyError if its secrets do not
        open with this deployment's secrets key."""
        token = self.store.get_setting_sync(TOKEN_SETTING)
        directory = self.storage.read_newest_copy(IAM_FILE, Directory.from_json) or Directory()
        self._install(directory)
        self._token = token

    def _install(self, directory: Directory) -> None:
        by_key: dict[str, Identity] = {}
        for key in directory.keys.values():
            user = directory.users.get(key.user)
            if user is None or (user.account and user.account not in directory.accounts):
                continue
            secret = self.box.open(key.sealed_secret, key.access_key)
            owner_id, account, owner_name = self._account_of(directory, user.account)
            by_key[key.access_key] = Identity(
                access_key=key.access_key,
                secret_key=secret,
                owner_id=owner_id,
                display_name=user.name,
                is_root=False,
                user=user.name,
                user_id=user.user_id,
                arn=self.user_arn(user.name, account),
                account=account,
                account_name=user.account,
                owner_name=owner_name,
                policies=tuple(directory.policy_document(p) for p in directory.effective_policies(user.name) if _exists(directory, p)),
                enabled=user.enabled,
                expires=key.expires,
            )
        with self._lock:
            self.directory, self._by_key = directory, by_key

    def _account_of(self, directory: Directory, name: str) -> tuple[str, str, str]:
        """An account's canonical id, 12-digit id and display name ("": the deployment's own)."""
        if not name:
            return self.root.owner_id, self.account, self.root.display_name
        a = directory.accounts[name]
        return a.canonical_id, a.account_id, a.name

    def canonical_ids(self) -> set[str]:
        """Every canonical user id that names an account, as ACL grants may."""
        return {self.root.owner_id} | {a.canonical_id for a in self.directory.accounts.values()}

    def owner_name(self, canonical: str) -> str:
        """The display name of the account a canonical id names (the id itself if none does)."""
        if canonical == self.root.owner_id:
            return self.root.display_name
        return next((a.name for a in self.directory.accounts.values() if a.canonical_id == canonical), canonical)

    def account_id(self, canonical: str) -> str | None:
        """The 12-digit id of the account a canonical id names."""
        if canonical == self.root.owner_id:
            return self.account
        return next((a.account_id for a in self.directory.accounts.values() if a.canonical_id == canonical), None)

    def canonical_for_email(self, email: str) -> str | None:
        return next((a.canonical_id for a in self.directory.accounts.values() if a.email and a.email.lower() == email.lower()), None)

    def user_arn(self, name: str, account: str | None = None) -> str:
        return f"arn:aws:iam::{account or self.account}:user/{name}"

    def get(self, access_key: str) -> Identity | None:
        """The identity an access key belongs to, if it may be used now (its user enabled, the key
        not expired); None otherwise."""
        if access_key == self.root.access_key:
            return self.root
        self._refresh()
        identity = self._by_key.get(access_key)
        if identity is None:
            # A key made a moment ago in another process: look again now rather than refuse it
            # for up to RECHECK (a script that makes a key and uses it at once). Bounded, so
            # that unknown keys cannot make every request read the index.
            self._refresh(MISS_RECHECK)
            identity = self._by_key.get(access_key)
        if identity is None or not identity.enabled or (identity.expires is not None and identity.expires <= time.time()):
            return None
        return identity

    def refresh(self) -> None:
        """Take another process's (or cluster node's) change now, if there is one. Blocks briefly."""
        self._refresh(interval=0)

    def _refresh(self, interval: float = RECHECK) -> None:
        now = time.monotonic()
        if now - self._checked < interval:
            return
        self._checked = now
        try:
            token = self.store.get_setting_sync(TOKEN_SETTING)
            behind = self._behind()
        except Exception as e:  # noqa: BLE001 - an index that cannot be read keeps the keys known
            log.warning("cannot check for IAM changes: %s", e)
            return
        if token != self._token or behind:
            try:
                self.load()
            except Exception as e:  # noqa: BLE001 - the keys known stay in force
                log.error("cannot reload the IAM directory: %s", e)

    def _behind(self) -> bool:
        generation = self.storage.shared_generation(IAM_FILE)
        return generation is not None and generation > self.directory.generation

    # -- changing (the leader) -----------------------------------------------------------------
    def change(self, mutate: Callable[[Directory], Directory]) -> Directory:
        """Apply a change, write the new directory to every drive, then tell the other workers.
        Blocks; raises ``IamError`` for a change the directory refuses (nothing written)."""
        # One change at a time in this process: two made side by side from the same copy would
        # install their results in either order, the newer possibly under the older.
        with self._changing:
            for attempt in range(CHANGE_ATTEMPTS):
                current = self._newest()
                updated = mutate(current)
                if updated is current:
                    return current
                try:
                    self.storage.write_shared(IAM_FILE, updated.to_json())
                    break
                except DocumentConflict:
                    # Another cluster node changed the directory since our copy: again, from its.
                    if attempt == CHANGE_ATTEMPTS - 1:
                        raise
            self._install(updated)
            token = uuid.uuid4().hex
            self.store.set_setting_sync(TOKEN_SETTING, token)
            self._token = token
            return updated

    def _newest(self) -> Directory:
        """The directory a change starts from: the newest the drives (a cluster's database) hold,
        which another node may have changed since this process last looked."""
        stored = self.storage.read_newest_copy(IAM_FILE, Directory.from_json)
        with self._lock:
            current = self.directory
        if stored is not None and stored.generation > current.generation:
            self._install(stored)
            return stored
        return current

    def adopt(self, directory: Directory) -> bool:
        """Take another site's directory if it is newer than ours (site replication); whether it was
        taken. Equal generations with other contents: the one whose text sorts last wins on every
        site alike, so the sites settle on one."""
        def newer(current: Directory) -> Directory:
            if (directory.generation, directory.to_json()) > (current.generation, current.to_json()):
                return directory
            return current

        with self._lock:
            before = self.directory
        return self.change(newer) is not before

    def new_key(self, user: str, expires: float | None, now: float) -> tuple[AccessKey, str]:
        """A new key for ``user``: the key, and its secret, shown once and then only kept sealed."""
        access_key, secret = new_access_key(), new_secret_key()
        key = AccessKey(access_key, self.box.seal(secret, access_key), user, now, expires)
        self.change(lambda d: d.add_key(key))
        return key, secret


def _exists(directory: Directory, policy: str) -> bool:
    try:
        directory.policy_document(policy)
    except Exception:  # noqa: BLE001 - a policy removed from under an attachment applies nothing
        return False
    return True
