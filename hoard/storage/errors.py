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
