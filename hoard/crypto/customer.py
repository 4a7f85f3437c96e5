"""SSE-C: the customer's key, given with every request and never stored.

What is kept instead is a salted HMAC of the key (``fingerprint``), to refuse a wrong key with
S3's error before reading any data, and the version's random data key sealed with the customer's
key (keys.py's envelope, with no key id in it: an id would tell which objects share a key), so a
wrong key could not open the data even if the fingerprint were lost.

``parse_customer_key`` checks the three x-amz-server-side-encryption-customer-* headers (or the
x-amz-copy-source-... ones) as S3 does: in its order, with its codes and messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from hoard.crypto.keys import ANONYMOUS_KEY_ID, DATA_KEY_BYTES, KeyEnvelopeError, SealingKey
from hoard.crypto.keys import open_data_key as _open
from hoard.crypto.keys import seal_data_key as _seal

ALGORITHM = "AES256"
HEADER_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
HEADER_KEY = "x-amz-server-side-encryption-customer-key"
HEADER_KEY_MD5 = "x-amz-server-side-encryption-customer-key-MD5"
COPY_SOURCE_PREFIX = "x-amz-copy-source-"  # the same three headers, for a copy's source
SALT_BYTES = 16
_FINGERPRINT_LABEL = b"hoard-sse-c-fingerprint"
_REQUESTS = "Requests specifying Server Side Encryption with Customer provided keys must provide"


class CustomerKeyError(Exception):
    """S3's refusal of a request's customer key: ``code``, ``message``, ``status``, and the header
    at fault (``argument_name``, ``argument_value``) for the error document."""

    def __init__(self, code: str, message: str, *, status: int = 400, argument_name: str | None = None, argument_value: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.argument_name = argument_name
        self.argument_value = argument_value


def parse_customer_key(algorithm: str | None, key_b64: str | None, key_md5_b64: str | None, *, copy_source: bool = False) -> bytes | None:
    """The customer's 32-byte key from the three headers' values (None for a header absent), or
    None when none of them is present. Raises CustomerKeyError.

    S3 checks that the key and its MD5 are there before it looks at the algorithm, so a request
    with only an algorithm header is told of the missing key."""
    if algorithm is None and key_b64 is None and key_md5_b64 is None:
        return None
    names = [h.replace("x-amz-", COPY_SOURCE_PREFIX, 1) if copy_source else h for h in (HEADER_ALGORITHM, HEADER_KEY, HEADER_KEY_MD5)]
    if not key_b64:
        raise CustomerKeyError("InvalidArgument", f"{_REQUESTS} an appropriate secret key.", argument_name=names[1], argument_value="null")
    if not key_md5_b64:
        raise CustomerKeyError("InvalidArgument", f"{_REQUESTS} the client calculated MD5 of the secret key.", argument_name=names[2], argument_value="null")
    if algorithm is None:
        raise CustomerKeyError("InvalidArgument", f"{_REQUESTS} a valid encryption algorithm.", argument_name=names[0], argument_value="null")
    if algorithm != ALGORITHM:
        raise CustomerKeyError(
            "InvalidEncryptionAlgorithmError",
            "The Encryption request you specified is not valid. Supported value: AES256.",
            argument_name=names[0],
            argument_value=algorithm,
        )
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != DATA_KEY_BYTES:
        # The key itself is never echoed back, not even a wrong one.
        raise CustomerKeyError("InvalidArgument", "The secret key was invalid for the specified algorithm.", argument_name=names[1], argument_value="")
    if not hmac.compare_digest(key_md5(key).encode("ascii"), key_md5_b64.encode("utf-8", "replace")):
        raise CustomerKeyError(
            "InvalidArgument",
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            argument_name=names[2],
            argument_value=key_md5_b64,
        )
    return key


def key_md5(key: bytes) -> str:
    """The base64 MD5 of the key, as the x-amz-server-side-encryption-customer-key-MD5 answered."""
    return base64.b64encode(hashlib.md5(key, usedforsecurity=False).digest()).decode("ascii")


def fingerprint(key: bytes) -> str:
    """What is kept of the key: base64 of a random salt and HMAC-SHA256(key, label || salt). The
    salt makes two objects under one key look unrelated."""
    salt = secrets.token_bytes(SALT_BYTES)
    return base64.b64encode(salt + _mac(key, salt)).decode("ascii")


def matches(key: bytes, stored: str) -> bool:
    """Whether ``key`` is the one ``stored`` (a fingerprint) was made from; constant-time."""
    try:
        raw = base64.b64decode(stored, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) != SALT_BYTES + hashlib.sha256().digest_size:
        return False
    return hmac.compare_digest(raw[SALT_BYTES:], _mac(key, raw[:SALT_BYTES]))


def seal_data_key(customer_key: bytes, data_key: bytes, context: bytes) -> bytes:
    """The version's data key sealed with the customer's key (an envelope with no key id)."""
    return _seal(SealingKey(customer_key, ANONYMOUS_KEY_ID), data_key, context)


def open_data_key(customer_key: bytes, sealed: bytes, context: bytes) -> bytes:
    """The data key; wrong_key() if this customer key does not open it."""
    try:
        return _open(SealingKey(customer_key, ANONYMOUS_KEY_ID), sealed, context)
    except KeyEnvelopeError:
        raise wrong_key() from None


def wrong_key() -> CustomerKeyError:
    """A read (or a copy's source) given another key than the object's: 403, as S3 answers."""
    return CustomerKeyError("AccessDenied", "Access Denied", status=403)


def key_required() -> CustomerKeyError:
    """A read of an SSE-C object with no customer key."""
    return CustomerKeyError(
        "InvalidRequest",
        "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
    )


def _mac(key: bytes, salt: bytes) -> bytes:
    return hmac.new(key, _FINGERPRINT_LABEL + salt, hashlib.sha256).digest()
