"""Strict number parsers for what a request carries: headers, query parameters, chunk sizes.

Python's ``int()`` is generous: ``int(" 7")``, ``int("1_0")``, ``int("+7")``, ``int("٣")`` (an
Arabic-Indic digit) and ``int("0x10", 16)`` all succeed, and a string of more than 4,300 digits
raises ``ValueError`` where a caller expects a number or nothing. S3 takes plain ASCII digits
only, so every number read from a request goes through these parsers, which answer ``None`` for
anything else; the caller raises the S3 error of its field.
"""

from __future__ import annotations

import re

# No number S3 reads needs more digits (sizes and times fit in 20); the bound keeps every
# conversion far below int()'s own 4,300-digit refusal.
MAX_DIGITS = 64
# An aws-chunked chunk size: S3 clients write at most 16 hex digits (a 64-bit size).
MAX_HEX_DIGITS = 16

# Explicit ranges, not \d: \d also matches other scripts' digits, even with re.ASCII off.
_DECIMAL = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")
_SIGNED_DECIMAL = re.compile(rf"[+-]?[0-9]{{1,{MAX_DIGITS}}}")
_HEX = re.compile(rb"[0-9A-Fa-f]+")


def decimal(text: str, *, signed: bool = False) -> int | None:
    """The value of ``text`` if it is nothing but ASCII decimal digits (after one ``+`` or ``-``
    when ``signed``), at most ``MAX_DIGITS`` of them; otherwise None. No spaces, no ``_``."""
    pattern = _SIGNED_DECIMAL if signed else _DECIMAL
    if pattern.fullmatch(text) is None:
        return None
    return int(text)


def field_decimal(value: str, *, signed: bool = False) -> int | None:
    """``decimal`` of a header field's value, without the spaces and tabs HTTP allows around it
    (httptools removes those before a value, not after). Only those are HTTP's optional
    whitespace: ``str.strip()`` would also take a no-break space or a form feed for one."""
    return decimal(value.strip(" \t"), signed=signed)


def hexadecimal(raw: bytes, *, max_digits: int = MAX_HEX_DIGITS) -> int | None:
    """The value of ``raw`` if it is nothing but 1 to ``max_digits`` ASCII hex digits; otherwise
    None. No ``0x``, no sign, no spaces, no ``_``."""
    if not 1 <= len(raw) <= max_digits or _HEX.fullmatch(raw) is None:
        return None
    return int(raw, 16)
