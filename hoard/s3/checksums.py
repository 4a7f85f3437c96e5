"""The checksums S3 clients send and verify: CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256, and MD5 for ETags.

Each is computed on the stream as it passes (DESIGN.md principle 4).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

from awscrt import checksums as crt

from hoard.s3.errors import S3Error

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
CRC_WIDTH = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8}


class Hasher(Protocol):
    def update(self, data: bytes) -> None: ...
    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, algorithm: str) -> None:
        self.width = CRC_WIDTH[algorithm]
        self.value = 0
        if algorithm == "CRC32":
            self._fn = lambda data, prev: zlib.crc32(data, prev)
        elif algorithm == "CRC32C":
            self._fn = crt.crc32c
        else:
            self._fn = crt.crc64nvme

    def update(self, data: bytes) -> None:
        self.value = self._fn(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(self.width, "big")


def new_hasher(algorithm: str) -> Hasher:
    if algorithm in CRC_WIDTH:
        return _Crc(algorithm)
    if algorithm == "SHA1":
        return hashlib.sha1()
    if algorithm == "SHA256":
        return hashlib.sha256()
    raise S3Error("InvalidRequest", f"Checksum algorithm {algorithm} is not supported")


def header_name(algorithm: str) -> str:
    return f"x-amz-checksum-{algorithm.lower()}"


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def decode(value: str, algorithm: str) -> bytes:
    """A client-sent checksum as raw bytes.

    A value that is not base64 of the algorithm's size can match no body: BadDigest, as S3
    answers (and as ceph/s3-tests checks) for a checksum that does not match.
    """
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raw = b""
    size = CRC_WIDTH.get(algorithm) or {"SHA1": 20, "SHA256": 32}[algorithm]
    if len(raw) != size:
        raise S3Error("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")
    return raw


def requested_algorithm(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """Which checksum the client asks for, and the value it sent in a header (None if in a trailer).

    At most one algorithm may be named; naming two is S3's InvalidRequest.
    """
    found = [a for a in ALGORITHMS if header_name(a) in headers]
    if len(found) > 1:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    if found:
        return found[0], headers[header_name(found[0])]
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if trailer:
        for a in ALGORITHMS:
            if trailer == header_name(a):
                return a, None
        raise S3Error("InvalidRequest", f"The value specified in the x-amz-trailer header is not supported: {trailer}")
    sdk = headers.get("x-amz-sdk-checksum-algorithm", "").upper()
    if sdk:
        if sdk not in ALGORITHMS:
            raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
        return sdk, None
    return None, None


def combine_crc(algorithm: str, first: int, second: int, second_length: int) -> int:
    """The CRC of A+B from the CRCs of A and B: how a full-object CRC of a multipart upload is made."""
    if algorithm == "CRC32":
        return crt.combine_crc32(first, second, second_length)
    if algorithm == "CRC32C":
        return crt.combine_crc32c(first, second, second_length)
    return crt.combine_crc64nvme(first, second, second_length)
