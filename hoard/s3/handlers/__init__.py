"""One module per API area; each registers its handlers under the S3 operation names."""

from __future__ import annotations

from hoard.s3.handlers.common import HANDLERS, Handler


def registry() -> dict[str, Handler]:
    """Every implemented operation's handler, by operation name."""
    from hoard.s3.handlers import (  # noqa: F401
        acl,
        attributes,
        bucket_cors,
        bucket_encryption,
        bucket_logging,
        bucket_policy,
        bucket_website,
        buckets,
        copy,
        lifecycle,
        listing,
        multipart,
        object_lock,
        objects,
        public_access,
        replication,
        restore,
        tagging,
        versioning,
    )

    return dict(HANDLERS)
