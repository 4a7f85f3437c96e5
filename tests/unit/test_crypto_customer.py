"""SSE-C: the customer's key checked as S3 checks it, kept only as a salted HMAC, and sealing the data key."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoard.crypto import customer
from hoard.crypto.customer import CustomerKeyError, fingerprint, matches, parse_customer_key
from hoard.crypto.keys import new_data_key

KEY = bytes(range(32))
KEY_B64 = base64.b64encode(KEY).decode()
MD5_B64 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
REQUESTS = "Requests specifying Server Side Encryption with Customer provided keys must provide"


def test_no_headers_no_customer_key():
    assert parse_customer_key(None, None, None) is None


def test_a_good_key():
    assert parse_customer_key("AES256", KEY_B64, MD5_B64) == KEY
    assert customer.key_md5(KEY) == MD5_B64


@pytest.mark.parametrize(
    ("headers", "code", "message", "argument"),
    [
        (("AES256", None, None), "InvalidArgument", f"{REQUESTS} an appropriate secret key.", customer.HEADER_KEY),
        (("", None, None), "InvalidArgument", f"{REQUESTS} an appropriate secret key.", customer.HEADER_KEY),
        ((None, None, MD5_B64), "InvalidArgument", f"{REQUESTS} an appropriate secret key.", customer.HEADER_KEY),
        (("AES256", KEY_B64, None), "InvalidArgument", f"{REQUESTS} the client calculated MD5 of the secret key.", customer.HEADER_KEY_MD5),
        ((None, KEY_B64, MD5_B64), "InvalidArgument", f"{REQUESTS} a valid encryption algorithm.", customer.HEADER_ALGORITHM),
        (("aws:kms", KEY_B64, MD5_B64), "InvalidEncryptionAlgorithmError", "The Encryption request you specified is not valid. Supported value: AES256.", customer.HEADER_ALGORITHM),
        (("aes256", KEY_B64, MD5_B64), "InvalidEncryptionAlgorithmError", "The Encryption request you specified is not valid. Supported value: AES256.", customer.HEADER_ALGORITHM),
        (("AES256", base64.b64encode(b"k" * 16).decode(), MD5_B64), "InvalidArgument", "The secret key was invalid for the specified algorithm.", customer.HEADER_KEY),
        (("AES256", "not base64!", MD5_B64), "InvalidArgument", "The secret key was invalid for the specified algorithm.", customer.HEADER_KEY),
        (("AES256", KEY_B64, base64.b64encode(hashlib.md5(b"other").digest()).decode()), "InvalidArgument", "The calculated MD5 hash of the key did not match the hash that was provided.", customer.HEADER_KEY_MD5),
        (("AES256", KEY_B64, "garbage"), "InvalidArgument", "The calculated MD5 hash of the key did not match the hash that was provided.", customer.HEADER_KEY_MD5),
    ],
)
def test_s3s_refusals(headers, code, message, argument):
    with pytest.raises(CustomerKeyError) as e:
        parse_customer_key(*headers)
    assert (e.value.code, e.value.message, e.value.status, e.value.argument_name) == (code, message, 400, argument)
    assert KEY_B64 != e.value.argument_value


def test_a_copy_source_names_its_own_headers():
    with pytest.raises(CustomerKeyError) as e:
        parse_customer_key("AES256", KEY_B64, None, copy_source=True)
    assert e.value.argument_name == "x-amz-copy-source-server-side-encryption-customer-key-MD5"


def test_the_fingerprint_is_salted_and_matches_only_its_key():
    first, second = fingerprint(KEY), fingerprint(KEY)
    assert first != second  # two objects under one key do not look related
    assert matches(KEY, first) and matches(KEY, second)
    assert not matches(os.urandom(32), first)
    assert KEY_B64 not in first and MD5_B64 not in first


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_fingerprints_tell_keys_apart(a, b):
    assert matches(a, fingerprint(a)) and matches(b, fingerprint(a)) == (a == b)


@pytest.mark.parametrize("stored", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_a_broken_fingerprint_matches_nothing(stored):
    assert not matches(KEY, stored)


def test_the_data_key_opens_only_with_the_customer_key():
    data_key = new_data_key()
    sealed = customer.seal_data_key(KEY, data_key, b"ctx")
    assert bytes(16) in sealed[:20]  # no id that would tell which objects share a key
    assert customer.open_data_key(KEY, sealed, b"ctx") == data_key
    with pytest.raises(CustomerKeyError) as e:
        customer.open_data_key(os.urandom(32), sealed, b"ctx")
    assert (e.value.code, e.value.status) == ("AccessDenied", 403)
    with pytest.raises(CustomerKeyError):
        customer.open_data_key(KEY, sealed, b"another object")


def test_a_read_without_the_key():
    error = customer.key_required()
    assert (error.code, error.status) == ("InvalidRequest", 400)
    assert error.message.startswith("The object was stored using a form of Server Side Encryption.")
