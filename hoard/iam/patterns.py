"""How a policy's strings match a request's: ``*`` and ``?`` wildcards, ARNs, policy variables.

A policy string is literal text, the wildcards ``*`` (any run of characters, also none, also
``/`` and ``:``) and ``?`` (exactly one character), and, in policies of Version 2012-10-17 only,
variables: ``${aws:username}`` is replaced by the request's value of that key,
``${aws:username, 'nobody'}`` falls back to ``nobody``, and ``${*}``, ``${?}``, ``${$}`` stand for
the literal characters. A variable's value is always literal text: a user name or an
``s3:prefix`` holding ``*`` never becomes a wildcard.

Wildcards are matched without regular-expression backtracking (a pattern is split at its stars
and each piece found left to right), so a pattern written as ``*a*a*a*a*b`` costs no more than
one scan of the key: anyone who may write a bucket policy must not be able to stall the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# Resolves a variable's key to the request's single value, or None when the request has none.
Lookup = Callable[[str], "str | None"]

_STAR = 0
_ANY = 1
# A piece of a pattern once its variables are resolved: a run of literal text, or a wildcard.
Piece = str | int

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^\s,'{}]+)\s*(?:,\s*'([^']*)'\s*)?")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


class Unresolved(Exception):
    """A variable names a key the request does not have: AWS then drops the whole statement."""


@dataclass(frozen=True)
class _Variable:
    key: str  # lower case: condition keys are case-insensitive
    default: str | None


@dataclass(frozen=True)
class _Escape:
    char: str


def _wildcards(text: str) -> list[Piece]:
    pieces: list[Piece] = []
    run: list[str] = []
    for char in text:
        if char in "*?":
            if run:
                pieces.append("".join(run))
                run = []
            pieces.append(_STAR if char == "*" else _ANY)
        else:
            run.append(char)
    if run:
        pieces.append("".join(run))
    return pieces


class Glob:
    """A compiled wildcard pattern (pieces of literal text, ``*`` and ``?``)."""

    __slots__ = ("_segments",)

    def __init__(self, pieces: list[Piece]) -> None:
        # Split at the stars: the first segment anchors the start, the last the end, the middle
        # ones are found leftmost-first in between (which is all a star-only glob needs).
        segments: list[list[Piece]] = [[]]
        for piece in pieces:
            if piece == _STAR:
                segments.append([])
            else:
                segments[-1].append(piece)
        self._segments = [_Segment(s) for s in segments]

    @classmethod
    def of(cls, text: str) -> Glob:
        return cls(_wildcards(text))

    def match(self, value: str) -> bool:
        segments = self._segments
        first = segments[0]
        if len(segments) == 1:
            return len(value) == first.length and first.at(value, 0)
        if not first.at(value, 0):
            return False
        last = segments[-1]
        end = len(value) - last.length
        start = first.length
        if end < start or not last.at(value, end):
            return False
        for segment in segments[1:-1]:
            found = segment.find(value, start, end)
            if found < 0:
                return False
            start = found + segment.length
        return True


class _Segment:
    """Literal text and ``?`` between two stars: a fixed length, found by str.find or a regex
    made only of literals and ``.`` (which cannot backtrack badly)."""

    __slots__ = ("length", "_text", "_regex")

    def __init__(self, pieces: list[Piece]) -> None:
        self.length = 0
        regex: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                self.length += len(piece)
                regex.append(re.escape(piece))
            else:
                self.length += 1
                regex.append(".")
        self._text: str | None = None
        self._regex: re.Pattern[str] | None = None
        if all(isinstance(piece, str) for piece in pieces):
            self._text = "".join(str(piece) for piece in pieces)
        else:
            self._regex = re.compile("".join(regex), re.DOTALL)

    def at(self, value: str, pos: int) -> bool:
        if self._text is not None:
            return value.startswith(self._text, pos)
        assert self._regex is not None
        return pos + self.length <= len(value) and self._regex.match(value, pos) is not None

    def find(self, value: str, start: int, end: int) -> int:
        if self._text is not None:
            return value.find(self._text, start, end)
        assert self._regex is not None
        found = self._regex.search(value, start, end)
        return -1 if found is None else found.start()


class Pattern:
    """One string of a policy, with its wildcards and (if the policy's Version allows) variables."""

    __slots__ = ("text", "_parts", "has_variables", "_literal", "_glob")

    def __init__(self, text: str, *, variables: bool = True) -> None:
        self.text = text
        self._parts = _parse(text) if variables else [text]
        self.has_variables = any(isinstance(p, _Variable) for p in self._parts)
        self._literal: str | None = None
        self._glob: Glob | None = None
        if not self.has_variables:
            self._literal = self.literal(_no_lookup)
            self._glob = self.glob(_no_lookup)

    @property
    def has_wildcards(self) -> bool:
        """Whether ``*`` or ``?`` appear outside variables (``${*}`` is not a wildcard)."""
        return any(isinstance(p, str) and ("*" in p or "?" in p) for p in self._parts)

    def resolvable(self, lookup: Lookup) -> bool:
        """Whether every variable has a value in the request, or a default."""
        return all(p.default is not None or lookup(p.key) is not None for p in self._parts if isinstance(p, _Variable))

    def literal(self, lookup: Lookup) -> str:
        """The string with variables resolved and wildcards kept as plain characters (for the
        Equals operators, which have no wildcards)."""
        if self._literal is not None:
            return self._literal
        return "".join(_resolve(p, lookup) if not isinstance(p, str) else p for p in self._parts)

    def glob(self, lookup: Lookup) -> Glob:
        if self._glob is not None:
            return self._glob
        pieces: list[Piece] = []
        for part in self._parts:
            if isinstance(part, str):
                pieces.extend(_wildcards(part))
            else:
                pieces.append(_resolve(part, lookup))
        return Glob(pieces)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


def _no_lookup(key: str) -> str | None:
    raise AssertionError("a pattern without variables looked one up")


def _resolve(part: _Variable | _Escape, lookup: Lookup) -> str:
    if isinstance(part, _Escape):
        return part.char
    value = lookup(part.key)
    if value is None:
        if part.default is None:
            raise Unresolved(part.key)
        return part.default
    return value


def _parse(text: str) -> list[str | _Variable | _Escape]:
    parts: list[str | _Variable | _Escape] = []
    pos = 0
    for found in _VARIABLE.finditer(text):
        body = found.group(1)
        part: _Variable | _Escape | None = None
        if body in _ESCAPES:
            part = _Escape(_ESCAPES[body])
        else:
            named = _VARIABLE_BODY.fullmatch(body)
            if named is not None and ":" in named.group(1):
                part = _Variable(named.group(1).lower(), named.group(2))
        if part is None:
            continue  # not a variable: stays literal text
        if found.start() > pos:
            parts.append(text[pos : found.start()])
        parts.append(part)
        pos = found.end()
    if pos < len(text):
        parts.append(text[pos:])
    return parts


class ArnPattern:
    """An ARN with wildcards, matched component by component as AWS does for Resource and the Arn
    condition operators: ``arn:aws:s3:::bucket/*`` is six colon-separated components, and a
    wildcard in one never spans into the next. The sixth (the resource part) may hold colons and
    is the only one where variables are replaced. A pattern that is not six components (``*``)
    matches the whole string."""

    __slots__ = ("pattern", "_head", "_resource")

    def __init__(self, text: str, *, variables: bool = True) -> None:
        self.pattern = Pattern(text, variables=variables)
        components = text.split(":", 5)
        if len(components) == 6:
            self._head: list[Glob] | None = [Glob.of(c) for c in components[:5]]
            self._resource: Pattern | None = Pattern(components[5], variables=variables)
        else:
            self._head = None
            self._resource = None

    @property
    def text(self) -> str:
        return self.pattern.text

    def resolvable(self, lookup: Lookup) -> bool:
        return self._resource.resolvable(lookup) if self._resource is not None else self.pattern.resolvable(lookup)

    def match(self, value: str, lookup: Lookup) -> bool:
        if self._head is None:
            return self.pattern.glob(lookup).match(value)
        components = value.split(":", 5)
        if len(components) != 6:
            return False
        if not all(glob.match(c) for glob, c in zip(self._head, components, strict=False)):
            return False
        assert self._resource is not None
        return self._resource.glob(lookup).match(components[5])


def could_match(pattern: str, prefix: str, *, more: bool) -> bool:
    """Whether the wildcard pattern matches some string that starts with ``prefix`` (and, with
    ``more``, has at least one character after it; without, is exactly ``prefix``). Used to check
    that a bucket policy's Resource can name this bucket or its objects at all."""
    states = _closure({0}, pattern)
    for char in prefix:
        following = set()
        for state in states:
            if state == len(pattern):
                continue
            token = pattern[state]
            if token == "*":
                following.add(state)
            elif token == "?" or token == char:
                following.add(state + 1)
        states = _closure(following, pattern)
        if not states:
            return False
    if more:
        # Any token left can take at least one character (a literal itself, ``?`` or ``*`` any).
        return any(state < len(pattern) for state in states)
    return len(pattern) in states


def _closure(states: set[int], pattern: str) -> set[int]:
    closed = set(states)
    todo = list(states)
    while todo:
        state = todo.pop()
        if state < len(pattern) and pattern[state] == "*" and state + 1 not in closed:
            closed.add(state + 1)
            todo.append(state + 1)
    return closed
