"""What the storage layer raises when the drives cannot do what was asked.

The S3 layer maps these to its answers (``hoard.s3.error_map``); storage knows nothing of S3.
"""

from __future__ import annotations


class StorageError(Exception):
    """The drives could not do what was asked."""


class WriteQuorumError(StorageError):
    """Too few drives took the write: nothing was made visible."""


class ReadQuorumError(StorageError):
    """Too few good fragments remain to rebuild the bytes asked for."""


class NotInLayout(StorageError):
    """A cluster node does not (yet) know where the bytes asked for are, or where new ones may
    go: no pool, or a pool or set its copy of the layout does not have."""


class DocumentConflict(StorageError):
    """A shared document changed elsewhere (another cluster node) since the copy a change was made
    from: the change must be made again from the newer copy."""


class DriveInUse(Exception):
    """Another server holds the drive (its lock file is locked): this one must not touch it.

    Not an ``OSError``: that would mark the drive offline and carry on, which is the one thing a
    second server on the folder must not do.
    """

    def __init__(self, root: str, holder: int | None) -> None:
        self.root = root
        self.holder = holder
        who = f"pid {holder}" if holder else "pid unknown"
        super().__init__(f"{root} is in use by another Hoard server ({who}); stop it first, or give another folder")
