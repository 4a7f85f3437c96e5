"""A bucket's website configuration (PutBucketWebsite): S3's model, checked as S3 checks it, kept as
the bucket configuration ``website``, and how the website endpoint routes a request with it.

Pure: no I/O. The XML is parsed by the caller's hardened parser (``hoard.s3.xml.parse``); the caller
looks objects up and answers.

**The document.** ``WebsiteConfiguration`` holds either ``RedirectAllRequestsTo`` alone (a
``HostName`` and an optional ``Protocol``, http or https: every request is sent there), or an
``IndexDocument`` (its ``Suffix``, the page served for the root and for any key ending in "/"), an
optional ``ErrorDocument`` (its ``Key``, the page served with a 4XX) and optional ``RoutingRules``:
1 to 50 ``RoutingRule``s, each an optional ``Condition`` (``KeyPrefixEquals``,
``HttpErrorCodeReturnedEquals``, or both, which must then both hold) and a ``Redirect`` of at least
one of ``HostName``, ``Protocol``, ``ReplaceKeyPrefixWith`` or ``ReplaceKeyWith`` (not both) and
``HttpRedirectCode``. An empty ``KeyPrefixEquals`` or ``ReplaceKeyPrefixWith`` is kept: it matches
every key, or strips the matched prefix.

**Refusals**, with S3's codes and messages where S3's are known: what is not the schema (unknown or
repeated elements, text beside elements, a RedirectAllRequestsTo without HostName, an IndexDocument
without Suffix, an ErrorDocument without Key, an empty RoutingRules, a RoutingRule without Redirect,
a Redirect with nothing in it, a status code that is not a number) is MalformedXML. InvalidArgument:
RedirectAllRequestsTo beside anything else, no IndexDocument, a Suffix that is empty or holds a "/",
an empty ErrorDocument Key, a HostName (a Redirect's empty too) that is not printable ASCII without
spaces (Hoard's rule: it goes into a Location header as written). InvalidRequest: an empty RedirectAllRequestsTo
HostName, a Protocol other than http or https, more than 50 rules, an empty Condition, both
ReplaceKeyPrefixWith and ReplaceKeyWith, an HttpRedirectCode outside 301..399 ("3XX except 300"), an
HttpErrorCodeReturnedEquals outside 400..599.

**Routing** (``resolve``, then the caller's lookup, then ``after_error``), with the key the URL path
names (percent-decoded, without the leading "/"; "" for the root):

1. RedirectAllRequestsTo: 301 to ``Protocol://HostName/<path>``, the query string kept, the protocol
   the request's when none is given.
2. Otherwise the rules without an HttpErrorCodeReturnedEquals, in order: the first whose
   KeyPrefixEquals starts the key (a rule without a Condition matches every key) answers a redirect
   before anything is looked up, even where the key is an object.
3. Otherwise the object: the key itself, or for "" and a key ending in "/" the key and the index
   suffix ("docs/" -> "docs/index.html"; no listing: a missing index is a 404).
4. A key not ending in "/" that is not an object but whose ``<key>/<suffix>`` is (``folder_index``)
   is answered 302 to ``/<key>/`` (``folder_redirect``), without the query string.
5. An error (a missing object, 404; a denied one, 403): the first rule whose HttpErrorCodeReturnedEquals
   is that status and whose KeyPrefixEquals, if given, starts the key, answers a redirect
   (``after_error``); otherwise the caller serves the ErrorDocument for a 4XX.

A redirect's Location is absolute: ``Protocol://HostName/<key>``, the request's protocol and host
where the rule gives none. The key is the request's with ReplaceKeyPrefixWith in place of the
matched KeyPrefixEquals (of nothing, where the rule has none: the replacement is put in front), or
ReplaceKeyWith, or the key unchanged; the status is HttpRedirectCode, or 301. The request's key is
percent-encoded in it; a configuration's replacement text is taken as URL text (so
``dev/resize?key=`` keeps its query), only characters no URL may hold being encoded.

**Loops.** A rule may redirect to a key it matches again (``docs/`` -> ``docs/``, or a HostName
that is this endpoint): S3 accepts it and the browser loops, so Hoard accepts it too. The server
itself never follows a redirect: ``resolve`` and ``after_error`` apply at most one rule and answer
its redirect to the client; nothing feeds a redirect's key back into them.

**Object redirects.** An object's ``x-amz-website-redirect-location`` (what PutObject, CopyObject,
CreateMultipartUpload and POST take: it must begin with "/", "http://" or "https://", at most 2 KB;
InvalidRedirectLocation otherwise) makes the website endpoint answer 301 with that Location as
stored: a path stays a path.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from hoard.xmldoc import ConfigRefused, NotInSchema
from hoard.xmldoc import fields as _fields
from hoard.xmldoc import tag as _tag
from hoard.xmldoc import text as _text

WEBSITE_CONFIG = "website"  # the bucket configuration a website configuration is kept under
MAX_ROUTING_RULES = 50
MAX_REDIRECT_LOCATION = 2048  # bytes of x-amz-website-redirect-location
PROTOCOLS = ("http", "https")
REDIRECT = "redirect"  # Resolution.kind: answer Resolution.location with Resolution.status now
OBJECT = "object"  # Resolution.kind: look Resolution.key up
DEFAULT_REDIRECT_STATUS = 301  # a rule without HttpRedirectCode, RedirectAllRequestsTo, an object redirect
FOLDER_REDIRECT_STATUS = 302  # "docs" -> "/docs/"
INVALID_REDIRECT_LOCATION = "The website redirect location must have a prefix of 'http://' or 'https://' or '/'."

_MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"
_INVALID_PROTOCOL = "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically."
_NUMBER = re.compile(r"[0-9]+")
_HOST_NAME = re.compile(r"[!-~]+")  # printable ASCII, no spaces: a Location header carries it as it is
# What a key may keep as it is in a URL's path (RFC 3986 pchar and "/"); "?", "#", "%", spaces and
# every other character of a key are percent-encoded.
_KEY_SAFE = "/!$&'()*+,;=:@~"
# A configuration's replacement text is URL text: its query, fragment and escapes are kept.
_TEXT_SAFE = _KEY_SAFE + "?#%[]"
_REDIRECT_FIELDS = ("HostName", "Protocol", "ReplaceKeyPrefixWith", "ReplaceKeyWith", "HttpRedirectCode")


class WebsiteConfigError(ConfigRefused):
    """A configuration S3 would refuse: ``code`` is S3's error code, ``message`` its message; an
    InvalidArgument names the argument (``argument_name``, ``argument_value``) as S3's answer does."""


def _malformed() -> WebsiteConfigError:
    return WebsiteConfigError("MalformedXML", _MALFORMED)


def _invalid_request(message: str) -> WebsiteConfigError:
    return WebsiteConfigError("InvalidRequest", message)


def _invalid_argument(message: str, name: str, value: str) -> WebsiteConfigError:
    return WebsiteConfigError("InvalidArgument", message, name, value)


# -- the model -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Redirect:
    protocol: str = ""  # "" keeps the request's
    host_name: str = ""  # "" keeps the request's
    replace_key_prefix_with: str | None = None  # None: not given ("" strips the matched prefix)
    replace_key_with: str | None = None  # None: not given
    http_redirect_code: str = ""  # "" answers 301


@dataclass(frozen=True)
class RoutingRule:
    key_prefix_equals: str | None  # None: no key condition ("" matches every key too, but is kept as given)
    error_code_equals: str | None  # None: applies before the lookup; else only after an error with this status
    redirect: Redirect

    @property
    def has_condition(self) -> bool:
        """Whether the document gave a Condition (a rule without one applies to every request)."""
        return self.key_prefix_equals is not None or self.error_code_equals is not None

    def matches_key(self, path_key: str) -> bool:
        """Whether the rule's key condition, if any, holds for this key."""
        return self.key_prefix_equals is None or path_key.startswith(self.key_prefix_equals)


@dataclass(frozen=True)
class WebsiteConfig:
    index_suffix: str = ""  # "" only with RedirectAllRequestsTo
    error_key: str = ""  # "": no ErrorDocument
    redirect_all_host: str = ""  # not "": RedirectAllRequestsTo, and nothing else is set
    redirect_all_protocol: str = ""  # "" keeps the request's
    routing_rules: tuple[RoutingRule, ...] = ()

    def to_json(self) -> dict:
        """The configuration as the bucket configuration ``website`` keeps it."""
        return {
            "index_suffix": self.index_suffix,
            "error_key": self.error_key,
            "redirect_all_host": self.redirect_all_host,
            "redirect_all_protocol": self.redirect_all_protocol,
            "routing_rules": [
                {
                    "key_prefix_equals": r.key_prefix_equals,
                    "error_code_equals": r.error_code_equals,
                    "redirect": {
                        "protocol": r.redirect.protocol,
                        "host_name": r.redirect.host_name,
                        "replace_key_prefix_with": r.redirect.replace_key_prefix_with,
                        "replace_key_with": r.redirect.replace_key_with,
                        "http_redirect_code": r.redirect.http_redirect_code,
                    },
                }
                for r in self.routing_rules
            ],
        }

    @classmethod
    def from_json(cls, value: dict) -> WebsiteConfig:
        rules = tuple(
            RoutingRule(r["key_prefix_equals"], r["error_code_equals"], Redirect(**r["redirect"])) for r in value["routing_rules"]
        )
        return cls(value["index_suffix"], value["error_key"], value["redirect_all_host"], value["redirect_all_protocol"], rules)


# -- the document --------------------------------------------------------------------------------






def _leaves(element: Element, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, str | None]:
    """A container of leaf elements: each allowed name's text, None where it is absent; MalformedXML
    where a ``required`` one is."""
    allowed = tuple(allowed)
    fields = _fields(element, allowed)
    values = {name: _text(fields[name][0]) if name in fields else None for name in allowed}
    if any(values[name] is None for name in required):
        raise _malformed()
    return values


@dataclass(frozen=True)
class _Document:
    """The document's elements once it is known to be S3's schema, before its values are checked."""

    redirect_all: dict[str, str | None] | None
    index_suffix: str | None
    error_key: str | None
    rules: list[tuple[dict[str, str | None] | None, dict[str, str | None]]] | None  # (Condition, Redirect)


def _read(root: Element) -> _Document:
    """The schema's checks, all MalformedXML, made before any value is looked at (as S3 validates the
    document against its schema first)."""
    if _tag(root) != "WebsiteConfiguration":
        raise _malformed()
    fields = _fields(root, {"RedirectAllRequestsTo", "IndexDocument", "ErrorDocument", "RoutingRules"})
    redirect_all = index = error = rules = None
    if "RedirectAllRequestsTo" in fields:
        redirect_all = _leaves(fields["RedirectAllRequestsTo"][0], ("HostName", "Protocol"), required=("HostName",))
    if "IndexDocument" in fields:
        index = _leaves(fields["IndexDocument"][0], ("Suffix",), required=("Suffix",))["Suffix"]
    if "ErrorDocument" in fields:
        error = _leaves(fields["ErrorDocument"][0], ("Key",), required=("Key",))["Key"]
    if "RoutingRules" in fields:
        elements = _fields(fields["RoutingRules"][0], {"RoutingRule"}, many={"RoutingRule"}).get("RoutingRule", [])
        if not elements:
            raise _malformed()  # S3 refuses <RoutingRules/>
        rules = []
        for element in elements:
            parts = _fields(element, {"Condition", "Redirect"})
            if "Redirect" not in parts:
                raise _malformed()
            condition = _leaves(parts["Condition"][0], ("KeyPrefixEquals", "HttpErrorCodeReturnedEquals")) if "Condition" in parts else None
            redirect = _leaves(parts["Redirect"][0], _REDIRECT_FIELDS)
            if all(value is None for value in redirect.values()):
                raise _malformed()  # the user guide: a Redirect must have at least one child element
            rules.append((condition, redirect))
    return _Document(redirect_all, index, error, rules)


def _status(text: str, kind: str, low: int, high: int, valid: str) -> str:
    """A status code given as text: MalformedXML if it is not a number, InvalidRequest outside
    low..high. The text is kept without surrounding spaces."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise _malformed()
    if not low <= int(text) <= high:
        raise _invalid_request(f"The provided HTTP {kind} code ({text}) is not valid. Valid codes are {valid}.")
    return text


def _protocol(value: str | None) -> str:
    if value is None:
        return ""
    if value not in PROTOCOLS:
        raise _invalid_request(_INVALID_PROTOCOL)
    return value


def _rule(condition: dict[str, str | None] | None, redirect: dict[str, str | None]) -> RoutingRule:
    prefix = error_code = None
    if condition is not None:
        prefix, error_code = condition["KeyPrefixEquals"], condition["HttpErrorCodeReturnedEquals"]
        if prefix is None and error_code is None:
            raise _invalid_request(
                "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present."
            )
        if error_code is not None:
            error_code = _status(error_code, "error", 400, 599, "4XX or 5XX")
    if redirect["ReplaceKeyPrefixWith"] is not None and redirect["ReplaceKeyWith"] is not None:
        raise _invalid_request("You can only define ReplaceKeyPrefix or ReplaceKey but not both.")
    protocol = _protocol(redirect["Protocol"])
    code = redirect["HttpRedirectCode"]
    code = _status(code, "redirect", 301, 399, "3XX except 300") if code is not None else ""
    host = redirect["HostName"]
    if host is not None and not _HOST_NAME.fullmatch(host):
        raise _invalid_argument(
            "The Redirect HostName is not well formed: a host name (and port), in ASCII without spaces", "HostName", host
        )
    return RoutingRule(
        key_prefix_equals=prefix,
        error_code_equals=error_code,
        redirect=Redirect(
            protocol=protocol,
            host_name=host or "",
            replace_key_prefix_with=redirect["ReplaceKeyPrefixWith"],
            replace_key_with=redirect["ReplaceKeyWith"],
            http_redirect_code=code,
        ),
    )


def parse(body: bytes, parse_xml: Callable[[bytes], Element]) -> WebsiteConfig:
    """The document checked as S3 checks it (see ``_parse``); anything outside the schema is MalformedXML."""
    try:
        return _parse(body, parse_xml)
    except NotInSchema:
        raise _malformed() from None


def _parse(body: bytes, parse_xml: Callable[[bytes], Element]) -> WebsiteConfig:
    """A PutBucketWebsite document, checked as S3 checks it: WebsiteConfigError with S3's code (what
    ``parse_xml`` raises for a body that is not XML passes through)."""
    document = _read(parse_xml(body))
    if document.redirect_all is not None:
        if document.index_suffix is not None or document.error_key is not None or document.rules is not None:
            raise _invalid_argument(
                "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.", "RedirectAllRequestsTo", "not null"
            )
        host = document.redirect_all["HostName"] or ""
        if not host:
            raise _invalid_request('A host name must be provided to redirect all requests (e.g. "example.com").')
        protocol = _protocol(document.redirect_all["Protocol"])
        if not _HOST_NAME.fullmatch(host):
            raise _invalid_argument(
                "The RedirectAllRequestsTo HostName is not well formed: a host name (and port), in ASCII without spaces", "HostName", host
            )
        return WebsiteConfig(redirect_all_host=host, redirect_all_protocol=protocol)
    if document.index_suffix is None:
        raise _invalid_argument(
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty", "IndexDocument", "null"
        )
    if not document.index_suffix or "/" in document.index_suffix:
        raise _invalid_argument("The IndexDocument Suffix is not well formed", "IndexDocument", document.index_suffix)
    if document.error_key is not None and not document.error_key:
        raise _invalid_argument("The ErrorDocument Key is not well formed", "ErrorDocument", "")
    elements = document.rules or []
    if len(elements) > MAX_ROUTING_RULES:
        raise _invalid_request(
            f"{len(elements)} routing rules provided, the number of routing rules in a website configuration is limited to {MAX_ROUTING_RULES}."
        )
    rules = tuple(_rule(condition, redirect) for condition, redirect in elements)
    return WebsiteConfig(index_suffix=document.index_suffix, error_key=document.error_key or "", routing_rules=rules)


def render(config: WebsiteConfig) -> list:
    """The children of GetBucketWebsite's ``WebsiteConfiguration``, in S3's shape and order (for
    ``hoard.s3.xml.render``)."""
    if config.redirect_all_host:
        return [("RedirectAllRequestsTo", [("HostName", config.redirect_all_host), ("Protocol", config.redirect_all_protocol or None)])]
    children: list = [("IndexDocument", [("Suffix", config.index_suffix)])]
    if config.error_key:
        children.append(("ErrorDocument", [("Key", config.error_key)]))
    if config.routing_rules:
        rules = []
        for r in config.routing_rules:
            rule: list = []
            if r.has_condition:
                rule.append(("Condition", [("KeyPrefixEquals", r.key_prefix_equals), ("HttpErrorCodeReturnedEquals", r.error_code_equals)]))
            d = r.redirect
            rule.append(
                (
                    "Redirect",
                    [
                        ("HostName", d.host_name or None),
                        ("Protocol", d.protocol or None),
                        ("ReplaceKeyPrefixWith", d.replace_key_prefix_with),
                        ("ReplaceKeyWith", d.replace_key_with),
                        ("HttpRedirectCode", d.http_redirect_code or None),
                    ],
                )
            )
            rules.append(("RoutingRule", rule))
        children.append(("RoutingRules", rules))
    return children


# -- routing -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolution:
    """What to do with a request before (``resolve``) or after (``after_error``) the lookup."""

    kind: str  # REDIRECT (answer a redirect now) or OBJECT (look ``key`` up)
    key: str = ""  # the object key to look up
    location: str = ""  # the redirect's Location: a full URL or an absolute path
    status: int = 0  # the redirect's status


def _quote_key(key: str) -> str:
    return urllib.parse.quote(key, safe=_KEY_SAFE)


def _quote_text(text: str) -> str:
    return urllib.parse.quote(text, safe=_TEXT_SAFE)


def redirect_location(rule: RoutingRule, path_key: str, request_host: str, request_protocol: str) -> tuple[str, int]:
    """The Location and status a rule answers for this key (see the module's docstring)."""
    redirect = rule.redirect
    if redirect.replace_key_with is not None:
        new_key = _quote_text(redirect.replace_key_with)
    elif redirect.replace_key_prefix_with is not None:
        matched = rule.key_prefix_equals or ""
        # A matching rule's prefix starts the key; a key it does not start keeps all of itself.
        rest = path_key[len(matched) :] if path_key.startswith(matched) else path_key
        new_key = _quote_text(redirect.replace_key_prefix_with) + _quote_key(rest)
    else:
        new_key = _quote_key(path_key)
    location = f"{redirect.protocol or request_protocol}://{redirect.host_name or request_host}/{new_key}"
    return location, int(redirect.http_redirect_code) if redirect.http_redirect_code else DEFAULT_REDIRECT_STATUS


def resolve(config: WebsiteConfig, path_key: str, request_host: str, request_protocol: str, query: str = "") -> Resolution:
    """What to do with a website request for ``path_key`` (the URL path after the bucket,
    percent-decoded, without its leading "/"), before anything is looked up: RedirectAllRequestsTo's
    redirect (``query``, the request's raw query string, kept in it as S3 keeps it), the first rule
    without an error condition that matches, or the object key to look up. At most one rule applies."""
    if config.redirect_all_host:
        protocol = config.redirect_all_protocol or request_protocol
        location = f"{protocol}://{config.redirect_all_host}/{_quote_key(path_key)}" + (f"?{query}" if query else "")
        return Resolution(REDIRECT, location=location, status=DEFAULT_REDIRECT_STATUS)
    for rule in config.routing_rules:
        if rule.error_code_equals is None and rule.matches_key(path_key):
            location, status = redirect_location(rule, path_key, request_host, request_protocol)
            return Resolution(REDIRECT, location=location, status=status)
    if path_key == "" or path_key.endswith("/"):
        return Resolution(OBJECT, key=path_key + config.index_suffix)
    return Resolution(OBJECT, key=path_key)


def folder_index(config: WebsiteConfig, path_key: str) -> str | None:
    """Where to look when ``path_key`` is not an object: its folder's index document (None for the
    root and a key ending in "/", which were already looked up as an index). If that object exists,
    S3 answers ``folder_redirect``."""
    if not config.index_suffix or path_key == "" or path_key.endswith("/"):
        return None
    return f"{path_key}/{config.index_suffix}"


def folder_redirect(path_key: str) -> str:
    """The Location S3 answers, with 302, for "docs" when "docs" is not an object but
    "docs/<index>" is: the path "/docs/", without the query string."""
    return f"/{_quote_key(path_key)}/"


def after_error(config: WebsiteConfig, path_key: str, status: int, request_host: str, request_protocol: str) -> Resolution | None:
    """The redirect of the first rule whose HttpErrorCodeReturnedEquals is ``status`` (the error the
    request met, as 404 for a missing object) and whose KeyPrefixEquals, if any, starts the key; None
    if no rule applies (the caller answers the error, with the ErrorDocument for a 4XX)."""
    for rule in config.routing_rules:
        if rule.error_code_equals is not None and int(rule.error_code_equals) == status and rule.matches_key(path_key):
            location, code = redirect_location(rule, path_key, request_host, request_protocol)
            return Resolution(REDIRECT, location=location, status=code)
    return None


def validate_redirect_location(value: str) -> bool:
    """Whether PutObject (and CopyObject, CreateMultipartUpload, POST) takes this
    ``x-amz-website-redirect-location``: it begins with "/", "http://" or "https://" (S3's rule;
    InvalidRedirectLocation with ``INVALID_REDIRECT_LOCATION`` otherwise), is at most 2 KB, and
    holds no control character (it is answered as a Location header)."""
    if not value.startswith(("/", "http://", "https://")):
        return False
    if len(value.encode("utf-8", "surrogatepass")) > MAX_REDIRECT_LOCATION:
        return False
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)


def object_redirect(location_header: str, request_host: str, request_protocol: str) -> str:
    """The Location of the 301 S3 answers for an object with ``x-amz-website-redirect-location``:
    the stored value as it is (S3 leaves a path a path, so the request's host and protocol are not
    used); "" for a value PutObject would not have taken, which is then no redirect."""
    return location_header if validate_redirect_location(location_header) else ""
