"""What the metadata store raises when a write cannot be done as asked.

Every store implementation raises these (and only these, besides what callbacks passed in by
its caller raise, which it lets through unchanged). The S3 layer maps them to its error codes
in one place (``hoard.s3.error_map``); the store knows nothing of S3.
"""

from __future__ import annotations


class MetaError(Exception):
    """The metadata store refused or failed an operation."""


class BucketNotFound(MetaError):
    def __init__(self, bucket: str) -> None:
        super().__init__(f"no bucket {bucket!r}")
        self.bucket = bucket


class BucketExists(MetaError):
    def __init__(self, bucket: str, same_owner: bool) -> None:
        super().__init__(f"bucket {bucket!r} exists" + (" (same owner)" if same_owner else ""))
        self.bucket = bucket
        self.same_owner = same_owner  # the one asking to create it already owns it


class BucketNotEmpty(MetaError):
    def __init__(self, bucket: str) -> None:
        super().__init__(f"bucket {bucket!r} is not empty")
        self.bucket = bucket


class UploadNotFound(MetaError):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"no multipart upload {upload_id!r}")
        self.upload_id = upload_id


class CommitFailed(MetaError):
    """The transaction could not be committed: none of its writes happened."""


class IndexUnavailable(CommitFailed):
    """The database of the index could not be reached, or kept failing in ways a retry cures,
    for the whole retry window: an outage, not a fault of the request or of the store."""


class IndexVersionMismatch(MetaError):
    """The index was made by another schema version than this Hoard's."""


class VersionChanged(MetaError):
    """The object version a metadata change was made for is no longer the current one."""
