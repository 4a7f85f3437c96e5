"""Reading S3 configuration documents by their schema, for the pure rules modules (replication,
lifecycle, website): element names without their namespace, a container's children checked
against the names it may hold, a leaf's text. Anything outside the schema is ``NotInSchema``,
which each module answers as S3 does: MalformedXML.

The documents are parsed by the S3 layer's hardened parser (no entities, no DTDs) and handed in
as ElementTree elements; this module reads, it never parses bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element


class ConfigRefused(Exception):
    """A configuration document S3 would refuse: ``code`` is S3's error code, ``message`` its
    message; an InvalidArgument names the argument (``argument_name``, ``argument_value``) as S3's
    answer does. Each rules module raises its own subclass; the S3 layer answers them all alike."""

    def __init__(self, code: str, message: str, argument_name: str = "", argument_value: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.argument_name = argument_name
        self.argument_value = argument_value


class NotInSchema(Exception):
    """The document is not what the schema allows (S3's MalformedXML)."""


def tag(element: Element) -> str:
    """The element's name without its namespace."""
    name = element.tag
    if not isinstance(name, str):  # a comment or processing instruction kept by the parser
        raise NotInSchema()
    return name.rsplit("}", 1)[-1]


def fields(element: Element, allowed: Iterable[str], many: Iterable[str] = ()) -> dict[str, list[Element]]:
    """A container's children by name: only ``allowed`` ones, each once unless in ``many``, and no
    text beside them."""
    allowed, many = frozenset(allowed), frozenset(many)
    if (element.text or "").strip():
        raise NotInSchema()
    found: dict[str, list[Element]] = {}
    for child in element:
        name = tag(child)
        if name not in allowed or (child.tail or "").strip():
            raise NotInSchema()
        found.setdefault(name, []).append(child)
        if len(found[name]) > 1 and name not in many:
            raise NotInSchema()
    return found


def text(element: Element) -> str:
    """A leaf element's text, as given (a prefix's or a key's spaces are part of it)."""
    if len(element):
        raise NotInSchema()
    return element.text or ""


def one(found: dict[str, list[Element]], name: str) -> Element | None:
    """The one child of that name among ``fields``' answer, None if there is none."""
    children = found.get(name)
    return children[0] if children else None
