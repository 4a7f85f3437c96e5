"""Cross-origin resource sharing, S3's way: a bucket's CORS rules (PutBucketCors), the answer to
a browser's preflight ``OPTIONS`` request, and the ``Access-Control-*`` headers on real answers.

A rule matches a request when one of its AllowedOrigins matches the ``Origin`` (``*`` wildcards,
at most one per origin), one of its AllowedMethods is the method (for a preflight, the
``Access-Control-Request-Method``), and, for a preflight, every header the browser names in
``Access-Control-Request-Headers`` matches one of its AllowedHeaders. The first rule that
matches answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hoard.s3 import xml
from hoard.s3.errors import S3Error

CONFIG = "cors"  # the bucket configuration the rules are kept under
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100


@dataclass(frozen=True)
class Rule:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    id: str = ""

    def to_json(self) -> dict:
        return {"origins": list(self.origins), "methods": list(self.methods), "headers": list(self.headers), "expose": list(self.expose), "max_age": self.max_age, "id": self.id}

    @classmethod
    def from_json(cls, d: dict) -> Rule:
        return cls(tuple(d["origins"]), tuple(d["methods"]), tuple(d["headers"]), tuple(d["expose"]), d.get("max_age"), d.get("id", ""))


def _wildcard(pattern: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$", re.IGNORECASE)


def _matches(patterns: tuple[str, ...], value: str) -> bool:
    return any(_wildcard(p).match(value) for p in patterns)


def parse(body: bytes) -> list[Rule]:
    """A CORSConfiguration document; MalformedXML or InvalidRequest for what S3 refuses."""
    root = xml.parse(body)
    if root.tag != "CORSConfiguration":
        raise S3Error("MalformedXML")
    rules = []
    for element in root.findall("CORSRule"):
        origins = tuple((e.text or "").strip() for e in element.findall("AllowedOrigin"))
        methods = tuple((e.text or "").strip() for e in element.findall("AllowedMethod"))
        if not origins or not methods:
            raise S3Error("MalformedXML")
        for method in methods:
            if method not in METHODS:
                raise S3Error("InvalidRequest", f"Found unsupported HTTP method in CORS config. Unsupported method is {method}")
        for origin in origins:
            if origin.count("*") > 1:
                raise S3Error("InvalidRequest", f'AllowedOrigin "{origin}" can not have more than one wildcard.')
        headers = tuple((e.text or "").strip() for e in element.findall("AllowedHeader"))
        for header in headers:
            if header.count("*") > 1:
                raise S3Error("InvalidRequest", f'AllowedHeader "{header}" can not have more than one wildcard.')
        max_age_text = xml.child_text(element, "MaxAgeSeconds")
        max_age = None
        if max_age_text is not None:
            if not (max_age_text.isascii() and max_age_text.strip().isdigit()):
                raise S3Error("MalformedXML")
            max_age = int(max_age_text)
        expose = tuple((e.text or "").strip() for e in element.findall("ExposeHeader"))
        rules.append(Rule(origins, methods, headers, expose, max_age, (xml.child_text(element, "ID") or "").strip()))
    if not rules or len(rules) > MAX_RULES:
        raise S3Error("MalformedXML")
    return rules


def render(rules: list[Rule]) -> bytes:
    children = []
    for rule in rules:
        fields: list = [("ID", rule.id)] if rule.id else []
        fields += [("AllowedHeader", h) for h in rule.headers]
        fields += [("AllowedMethod", m) for m in rule.methods]
        fields += [("AllowedOrigin", o) for o in rule.origins]
        fields += [("ExposeHeader", h) for h in rule.expose]
        if rule.max_age is not None:
            fields.append(("MaxAgeSeconds", rule.max_age))
        children.append(("CORSRule", fields))
    return xml.render("CORSConfiguration", children)


def match(rules: list[Rule], origin: str, method: str, request_headers: list[str] | None = None) -> Rule | None:
    for rule in rules:
        if method not in rule.methods or not _matches(rule.origins, origin):
            continue
        if request_headers and not all(_matches(rule.headers, h) for h in request_headers):
            continue
        return rule
    return None


def answer_headers(rule: Rule, origin: str, preflight: bool, request_headers: list[str] | None = None) -> dict[str, str]:
    """The Access-Control-* headers for a matching request (S3 echoes the origin unless the rule
    allows every origin with ``*``, which it answers as ``*``)."""
    allow_origin = "*" if "*" in rule.origins else origin
    headers = {
        "access-control-allow-origin": allow_origin,
        "access-control-allow-methods": ", ".join(rule.methods),
        "vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    if allow_origin != "*":
        headers["access-control-allow-credentials"] = "true"
    if rule.expose:
        headers["access-control-expose-headers"] = ", ".join(rule.expose)
    if preflight:
        if request_headers:
            headers["access-control-allow-headers"] = ", ".join(request_headers)
        if rule.max_age is not None:
            headers["access-control-max-age"] = str(rule.max_age)
    return headers


def rules_of(config: dict) -> list[Rule]:
    return [Rule.from_json(r) for r in config.get(CONFIG, ())]
