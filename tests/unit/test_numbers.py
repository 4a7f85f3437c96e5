"""The strict number parsers (hoard/http/numbers.py), and the aws-chunked decoder built on them.

Each parser is checked against a model written from the rule itself (ASCII digits, nothing else),
not against int(), which is what they exist to be stricter than.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoard.http.numbers import MAX_DIGITS, MAX_HEX_DIGITS, decimal, field_decimal, hexadecimal
from hoard.http.request import BodyStream
from hoard.s3.auth import sigv4
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.auth.chunked import MAX_TRAILER_LINES, MAX_TRAILER_SECTION, ChunkedDecoder
from hoard.s3.errors import S3Error

DIGITS = "0123456789"
HEX_DIGITS = b"0123456789abcdefABCDEF"

# Every one is taken by int() (or int(_, 16)), and none is a number S3 takes.
INT_TAKES_BUT_S3_DOES_NOT = ["1_0", " 7", "7 ", "\t7", "7\n", "\u0667", "1\u0660", "\uff17", "\u0e57", "+7"]
HEX_INT_TAKES_BUT_S3_DOES_NOT = [b"0x10", b"0X10", b"+f", b"1_0", b" 7", b"7 ", b"\t7", b"7\r"]


def model_decimal(text: str, signed: bool = False) -> int | None:
    """The rule, digit by digit: an optional sign when signed, then 1 to MAX_DIGITS ASCII digits."""
    sign = 1
    if signed and text[:1] in ("+", "-"):
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    if not 1 <= len(text) <= MAX_DIGITS or any(c not in DIGITS for c in text):
        return None
    value = 0
    for c in text:
        value = value * 10 + DIGITS.index(c)
    return sign * value


def model_hex(raw: bytes) -> int | None:
    if not 1 <= len(raw) <= MAX_HEX_DIGITS or any(b not in HEX_DIGITS for b in raw):
        return None
    value = 0
    for b in raw:
        value = value * 16 + int(chr(b), 16)
    return value


# Text that is mostly digit-like, so that near misses (signs, spaces, underscores, other scripts'
# digits, "0x") come up often, with any other character now and then.
number_like = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(DIGITS) + ["+", "-", "_", " ", "\t", "\n", "x", "X", ".", "e", "\u0661", "\u00b2", "\uff11", "\u00a0"]),
        st.characters(),
    ),
    max_size=80,
)
hex_like = st.binary(max_size=24) | st.lists(st.sampled_from([*HEX_DIGITS, *b"xX+-_ \t\r\n;"]), max_size=20).map(bytes)


@given(st.integers(min_value=0, max_value=10**MAX_DIGITS - 1))
def test_decimal_reads_every_plain_number(n):
    assert decimal(str(n)) == n
    assert decimal(str(n), signed=True) == n


@given(st.integers(min_value=-(10**MAX_DIGITS - 1), max_value=10**MAX_DIGITS - 1))
def test_signed_decimal_reads_every_number(n):
    assert decimal(str(n), signed=True) == n
    assert decimal(str(n)) == (n if n >= 0 else None)


@settings(max_examples=500)
@given(number_like, st.booleans())
def test_decimal_is_the_rule_and_never_raises(text, signed):
    assert decimal(text, signed=signed) == model_decimal(text, signed)


@given(st.integers(min_value=0, max_value=2**64 - 1), st.booleans())
def test_hexadecimal_reads_every_chunk_size(n, upper):
    text = format(n, "X" if upper else "x").encode()
    assert hexadecimal(text) == n
    assert hexadecimal(b"0" * (MAX_HEX_DIGITS - len(text)) + text) == n  # zero-padded to the bound


@settings(max_examples=500)
@given(hex_like)
def test_hexadecimal_is_the_rule_and_never_raises(raw):
    assert hexadecimal(raw) == model_hex(raw)


@pytest.mark.parametrize("text", INT_TAKES_BUT_S3_DOES_NOT)
def test_decimal_refuses_what_int_takes(text):
    assert int(text) is not None  # the premise: Python takes it
    assert decimal(text) is None
    if text != "+7":
        assert decimal(text, signed=True) is None


@pytest.mark.parametrize("raw", HEX_INT_TAKES_BUT_S3_DOES_NOT)
def test_hexadecimal_refuses_what_int_takes(raw):
    assert int(raw, 16) is not None
    assert hexadecimal(raw) is None


@pytest.mark.parametrize("text", ["", "-", "+", "--1", "+-1", "1.0", "1e3", "0b1", "²", "1" * (MAX_DIGITS + 1), "9" * 5000])
def test_decimal_refuses(text):
    # 5,000 digits: int() raises ValueError (its 4,300-digit limit) where a caller expects None.
    assert decimal(text) is None
    assert decimal(text, signed=True) is None


def test_hexadecimal_bound():
    assert hexadecimal(b"f" * MAX_HEX_DIGITS) == 2 ** (4 * MAX_HEX_DIGITS) - 1
    assert hexadecimal(b"0" * (MAX_HEX_DIGITS + 1)) is None
    assert hexadecimal(b"") is None


def test_field_decimal_takes_http_whitespace_only():
    assert field_decimal("7") == 7
    assert field_decimal(" \t7 \t") == 7  # HTTP's optional whitespace around a field value
    for value in ("\xa07", "7\xa0", "\x0c7", "7\x85", "7 7", ""):
        assert field_decimal(value) is None, repr(value)


# --- the aws-chunked decoder ------------------------------------------------------------------


def _decode(body: bytes, piece: int = 5) -> tuple[bytes, dict[str, str]]:
    pieces = [body[i : i + piece] for i in range(0, len(body), piece)] or [b""]

    async def run() -> tuple[bytes, dict[str, str]]:
        it = iter(range(len(pieces)))

        async def receive() -> dict:
            i = next(it)
            return {"type": "http.request", "body": pieces[i], "more_body": i < len(pieces) - 1}

        decoder = ChunkedDecoder(BodyStream(receive), AuthContext(identity=None, payload_hash=sigv4.STREAMING_UNSIGNED_TRAILER))
        out = bytearray()
        async for data in decoder.payload():
            out += data
        return bytes(out), decoder.trailers

    return asyncio.run(run())


def _framed(chunks: list[bytes], size_texts: list[bytes] | None = None, trailer: bytes = b"") -> bytes:
    sizes = size_texts or [format(len(c), "x").encode() for c in chunks]
    body = b"".join(s + b"\r\n" + c + b"\r\n" for s, c in zip(sizes, chunks, strict=True))
    return body + b"0\r\n" + trailer + b"\r\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=5), st.booleans(), st.integers(1, 64))
def test_chunked_decodes_any_framing_of_sizes(chunks, upper, piece):
    sizes = [format(len(c), "X" if upper else "x").encode() for c in chunks]
    data, trailers = _decode(_framed(chunks, sizes, b"x-amz-checksum-crc32:AAAAAA==\r\n"), piece)
    assert data == b"".join(chunks)
    assert trailers == {"x-amz-checksum-crc32": "AAAAAA=="}


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.sampled_from(["0x{}", "0X{}", "+{}", " {}", "{} ", "{}_0", "\t{}", "-{}"]))
def test_chunked_refuses_a_size_int_would_take(payload, form):
    size = form.format(format(len(payload), "x")).encode()
    with pytest.raises(S3Error) as caught:
        _decode(_framed([payload], [size]))
    assert caught.value.code == "IncompleteBody"


def test_chunked_refuses_a_size_over_sixteen_digits():
    with pytest.raises(S3Error) as caught:
        _decode(_framed([b"hello"], [b"0" * 16 + b"5"]))
    assert caught.value.code == "IncompleteBody"


def test_chunked_trailer_lines_are_bounded():
    lines = b"".join(f"x-pad-{i}:v\r\n".encode() for i in range(MAX_TRAILER_LINES))
    _, trailers = _decode(_framed([b"hello"], trailer=lines), piece=4096)
    assert len(trailers) == MAX_TRAILER_LINES
    with pytest.raises(S3Error) as caught:
        _decode(_framed([b"hello"], trailer=lines + b"x-one-more:v\r\n"), piece=4096)
    assert caught.value.code == "MalformedTrailerError"


def test_chunked_trailer_size_is_bounded():
    # Few lines, each under the line bound, together past the section's bound.
    line = b"x-big:" + b"v" * 4000 + b"\r\n"
    count = MAX_TRAILER_SECTION // len(line) + 1
    assert count <= MAX_TRAILER_LINES
    with pytest.raises(S3Error) as caught:
        _decode(_framed([b"hello"], trailer=line * count), piece=4096)
    assert caught.value.code == "MalformedTrailerError"
