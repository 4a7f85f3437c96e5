"""S3's tag sets: parsed from a Tagging document or an ``x-amz-tagging`` header, checked, rendered.

Pure: no I/O. The rules are S3's (User-Defined Tag Restrictions, and the object-tagging page of the
S3 User Guide): at most 10 tags on an object and 50 on a bucket; keys unique, 1 to 128 characters,
values 0 to 256, counted as S3 counts them (UTF-16 code units); letters, digits and spaces of any
script and ``+ - = . _ : / @``; no ``aws:`` prefix on keys (reserved for AWS). Anything else is
400 InvalidTag with S3's message, a document that is not a Tagging document 400 MalformedXML, and
a header that is not URL query parameters without duplicate names 400 InvalidArgument.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qsl

from hoard.model import Tags
from hoard.s3 import xml
from hoard.s3.errors import S3Error

BUCKET_CONFIG = "tagging"  # the name of a bucket's tag set among its configurations
MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_PUNCTUATION = frozenset("+-=._:/@")
HEADER_ERROR = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."


def _length(text: str) -> int:
    """Characters as S3 counts them: UTF-16 code units (a character outside the BMP is two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _allowed(text: str) -> bool:
    # AWS's tag pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$
    return all(c in _PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


def check(pairs: list[tuple[str, str]], limit: int, bucket: bool = False) -> Tags:
    """The tag set, sorted by key, if it keeps S3's rules; InvalidTag otherwise."""
    if len(pairs) > limit:
        raise S3Error(
            "InvalidTag", f"Bucket tag count cannot be greater than {limit}" if bucket else f"Object tags cannot be greater than {limit}"
        )
    seen: set[str] = set()
    for key, value in pairs:
        if key in seen:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key")
        seen.add(key)
        if not key or not _allowed(key):
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid")
        if _length(key) > MAX_KEY_LENGTH:
            raise S3Error("InvalidTag", f"The TagKey you have provided is too long, max {MAX_KEY_LENGTH}")
        if not _allowed(value):
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid")
        if _length(value) > MAX_VALUE_LENGTH:
            raise S3Error("InvalidTag", f"The TagValue you have provided is too long, max {MAX_VALUE_LENGTH}")
        if key.lower().startswith("aws:"):
            raise S3Error(
                "InvalidTag",
                "System tags cannot be added/updated by requester" if bucket else "Your TagKey cannot be prefixed with aws:",
            )
    return tuple(sorted(pairs))


def parse_document(body: bytes) -> list[tuple[str, str]]:
    """The (key, value) pairs of a ``<Tagging><TagSet><Tag><Key/><Value/></Tag>...`` document,
    in document order and not yet checked. MalformedXML for anything else."""
    root = xml.parse(body)
    if root.tag != "Tagging" or len(root) != 1 or root[0].tag != "TagSet":
        raise S3Error("MalformedXML")
    pairs: list[tuple[str, str]] = []
    for tag in root[0]:
        if tag.tag != "Tag" or sorted(child.tag for child in tag) != ["Key", "Value"]:
            raise S3Error("MalformedXML")
        pairs.append((xml.child_text(tag, "Key") or "", xml.child_text(tag, "Value") or ""))
    return pairs


def parse_header(value: str) -> list[tuple[str, str]]:
    """``k1=v1&k2=v2`` (URL query encoding; ``k`` alone has an empty value), not yet checked.
    InvalidArgument for bytes that are not UTF-8 once decoded, or a name given twice."""
    try:
        pairs = parse_qsl(value, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise S3Error("InvalidArgument", HEADER_ERROR, ArgumentName="x-amz-tagging", ArgumentValue=value) from None
    if len({k for k, _ in pairs}) != len(pairs):
        raise S3Error("InvalidArgument", HEADER_ERROR, ArgumentName="x-amz-tagging", ArgumentValue=value)
    return pairs


def from_header(value: str | None) -> Tags:
    """The object tag set an ``x-amz-tagging`` header asks for (none without the header)."""
    if value is None:
        return ()
    return check(parse_header(value), MAX_OBJECT_TAGS)


def from_document(body: bytes, limit: int = MAX_OBJECT_TAGS, bucket: bool = False) -> Tags:
    return check(parse_document(body), limit, bucket)


def render(tags: Tags) -> bytes:
    """GetObjectTagging's and GetBucketTagging's answer."""
    return xml.render("Tagging", [("TagSet", [("Tag", [("Key", k), ("Value", v)]) for k, v in tags])])
