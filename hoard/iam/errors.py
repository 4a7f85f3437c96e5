"""What the access-control layer raises; the S3 layer maps it (``hoard.s3.error_map``)."""

from __future__ import annotations


class AccessDenied(Exception):
    """The requester may not do this."""
