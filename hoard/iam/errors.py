"""What the access-control layer raises; the S3 layer maps it (``hoard.s3.error_map``)."""

from __future__ import annotations


class AccessDenied(Exception):
    """The requester may not do this."""


class PolicyError(ValueError):
    """A policy document S3 or IAM would refuse (S3 answers ``MalformedPolicy``, IAM
    ``MalformedPolicyDocument``); ``message`` says what is wrong, in S3's words where S3 has some."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
