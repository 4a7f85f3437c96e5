"""What the HTTP layer raises about a request it cannot read as asked.

HTTP knows nothing of S3: the S3 layer turns these into its error answers
(``hoard.s3.error_map``).
"""

from __future__ import annotations


class HttpError(Exception):
    """The request cannot be read or served as asked."""


class BadPercentEncoding(HttpError):
    """The path or query decodes to bytes that are not UTF-8."""


class HeaderSectionTooLarge(HttpError):
    def __init__(self, max_size: int) -> None:
        super().__init__(f"the header section exceeds {max_size} bytes")
        self.max_size = max_size


class BodyTooLarge(HttpError):
    """A body read whole (a request document) is longer than its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body exceeds {limit} bytes")
        self.limit = limit


class RangeNotSatisfiable(HttpError):
    """A well-formed Range that lies outside the object."""

    def __init__(self, header: str, size: int) -> None:
        super().__init__(f"range {header!r} is outside {size} bytes")
        self.header = header
        self.size = size


class ClientDisconnected(Exception):
    """The client went away before sending the whole body."""


class BodyTimeout(Exception):
    """The client stopped sending its body: nothing arrived for the idle timeout."""
