"""Drive specs as an operator types them: ``/mnt/disk{1...8}`` on one machine, ``n{1...4}:/data{1...4}``
for a pool over several. Pure: nothing here looks at a folder or a node."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Three dots, as MinIO spells its ranges: `{1..8}` is left alone, so a folder whose name holds
# braces can still be given.
_RANGE = re.compile(r"\{(\d+)\.\.\.(\d+)\}")

# A host name's labels (RFC 1123): letters, digits and inner hyphens, joined by dots. No colon can
# occur in one, so the first colon of a spec is the one between NODE and DIR.
_NODE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


@dataclass(frozen=True)
class DriveSpec:
    """One drive of a pool as given: the node that holds it and the folder on that node."""

    node: str
    path: str

    def __str__(self) -> str:
        return f"{self.node}:{self.path}"


def expand(spec: str) -> list[str]:
    """Every string ``spec`` stands for, its ``{a...b}`` ranges expanded left to right (the first
    range varies slowest). A range whose first number starts with 0 keeps its width: ``{01...16}``."""
    match = _RANGE.search(spec)
    if match is None:
        return [spec]
    first, last = match.group(1), match.group(2)
    if int(first) > int(last):
        raise ValueError(f"empty range {match.group(0)} in {spec!r}: the first number must not be above the last")
    width = len(first) if first.startswith("0") else 0
    head = spec[: match.start()]
    # Only what follows the range is expanded again, so a number just written in can never be
    # taken for part of another range.
    tails = expand(spec[match.end() :])
    return [head + str(n).zfill(width) + tail for n in range(int(first), int(last) + 1) for tail in tails]


def parse_drive_specs(specs: Iterable[str]) -> list[DriveSpec]:
    """The drives ``NODE:DIR`` specs name, ranges expanded, in the order given; each once."""
    drives: list[DriveSpec] = []
    seen: set[DriveSpec] = set()
    for spec in specs:
        for one in expand(spec):
            drive = _parse_one(one)
            if drive in seen:
                raise ValueError(f"drive {drive} is given twice (after expanding {spec!r})")
            seen.add(drive)
            drives.append(drive)
    return drives


def _parse_one(spec: str) -> DriveSpec:
    node, colon, path = spec.partition(":")
    if not colon or not node:
        raise ValueError(f"{spec!r}: missing node; give NODE:DIR, such as n1:/data1")
    # Host names are case-insensitive: n1 and N1 are one node, and must count as one against the
    # limit of a set's drives on one node.
    node = node.lower()
    if not _NODE.fullmatch(node):
        raise ValueError(f"{spec!r}: {node!r} is not a node name (letters, digits, - and ., such as n1 or hoard-3.example)")
    if not path.startswith("/"):
        raise ValueError(f"{spec!r}: DIR must be an absolute path on the node, such as {node}:/data1")
    # One spelling per folder, so /data1/ and /data1 are found to be the same drive.
    return DriveSpec(node, posixpath.normpath(path))
