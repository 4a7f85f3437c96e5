"""S3 XML: a hardened parser for request bodies and a small writer for response bodies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from hoard.s3.errors import S3Error

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML_BODY = 1024 * 1024  # S3 caps configuration bodies well below this; DeleteObjects of 1,000 long keys fits.

# A child is (tag, value); value is text, a number, a bool, a datetime, None (skipped) or a list of children.
Children = Iterable[tuple[str, Any]]


def parse(body: bytes) -> Element:
    """Parse an untrusted XML body: no DTDs, no entities, size-capped, namespaces stripped."""
    if len(body) > MAX_XML_BODY:
        raise S3Error("MalformedXML")
    if not body.strip():
        raise S3Error("MalformedXML")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        raise S3Error("MalformedXML") from None
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def child_text(el: Element, tag: str, default: str | None = None) -> str | None:
    found = el.find(tag)
    if found is None:
        return default
    return found.text or ""


def format_time(ts: float) -> str:
    """S3's ISO 8601 timestamp with milliseconds, as in ListObjects' LastModified."""
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Keys may hold control characters; XML 1.0 can carry them only as references.
    if any(ord(c) < 0x20 for c in text):
        text = "".join(c if ord(c) >= 0x20 or c in "\t\n" else f"&#x{ord(c):x};" for c in text)
    return text.replace("\r", "&#xd;")


def _render(parts: list[str], children: Children) -> None:
    for tag, value in children:
        if value is None:
            continue
        if isinstance(value, list):
            parts.append(f"<{tag}>")
            _render(parts, value)
            parts.append(f"</{tag}>")
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dt.datetime):
            text = format_time(value.timestamp())
        else:
            text = _escape(str(value))
        parts.append(f"<{tag}>{text}</{tag}>")


def render(root: str, children: Children, namespace: str | None = S3_NAMESPACE) -> bytes:
    """Render a response document: ``render("ListAllMyBucketsResult", [("Owner", [...]), ...])``."""
    ns = f' xmlns="{namespace}"' if namespace else ""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<{root}{ns}>"]
    _render(parts, children)
    parts.append(f"</{root}>")
    return "".join(parts).encode()


def render_text(root: str, text: str, namespace: str | None = S3_NAMESPACE) -> bytes:
    """A document whose root element holds only text, like GetBucketLocation's answer."""
    ns = f' xmlns="{namespace}"' if namespace else ""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}{ns}>{_escape(text)}</{root}>'.encode()
