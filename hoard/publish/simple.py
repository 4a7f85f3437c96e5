"""A PEP 503 "simple" package index kept in a bucket: where each object goes, and the pages.

Pure: keys and HTML only; hoard/publish/pypi.py does the requests.

Under PREFIX (``py`` in ``s3://bucket/py``)::

    PREFIX/packages/<project>/<file>             a wheel or an sdist, as published
    PREFIX/packages/<project>/<file>.metadata    a wheel's METADATA (PEP 658 / PEP 714)
    PREFIX/simple/index.html, PREFIX/simple/     the root page: every project
    PREFIX/simple/<project>/index.html           a project's page: every file of it
    PREFIX/simple/<project>/                     the same bytes, for a path-style GET of the
                                                 URL installers ask for (no website endpoint)

Every link is relative (``../../packages/<project>/<file>#sha256=...`` from a project's page), so
the index works under any base URL: the S3 API's path-style URL, a website endpoint, a proxy.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

PAGE_CONTENT_TYPE = "text/html; charset=utf-8"
PAGE_CACHE_CONTROL = "no-cache"
# PEP 629: the version of the simple API these pages speak.
REPOSITORY_VERSION = "1.0"


class BadPrefix(ValueError):
    """A PREFIX an index cannot live under."""


def clean_prefix(prefix: str) -> str:
    """PREFIX without slashes at its ends; ``""`` for the bucket's top. Raises BadPrefix for an
    empty, ``.`` or ``..`` segment, which clients resolving the index's relative links (or the
    URL itself) would fold away."""
    prefix = prefix.strip("/")
    if not prefix:
        return ""
    for segment in prefix.split("/"):
        if segment in ("", ".", ".."):
            raise BadPrefix(f"{prefix!r}: a prefix cannot have an empty, '.' or '..' segment")
    return prefix


@dataclass(frozen=True)
class Layout:
    """The keys of one index, under ``prefix`` (as clean_prefix makes it)."""

    prefix: str = ""

    def _key(self, rest: str) -> str:
        return f"{self.prefix}/{rest}" if self.prefix else rest

    @property
    def packages(self) -> str:
        return self._key("packages/")

    @property
    def simple(self) -> str:
        return self._key("simple/")

    def package_key(self, project: str, filename: str) -> str:
        return f"{self.packages}{project}/{filename}"

    def metadata_key(self, project: str, filename: str) -> str:
        return self.package_key(project, filename) + ".metadata"

    def project_page_keys(self, project: str) -> tuple[str, str]:
        """``simple/<project>/index.html`` and ``simple/<project>/``, written with the same bytes."""
        return f"{self.simple}{project}/index.html", f"{self.simple}{project}/"

    def root_page_keys(self) -> tuple[str, str]:
        return f"{self.simple}index.html", self.simple

    def split_package_key(self, key: str) -> tuple[str, str] | None:
        """(folder, file name) of a key ``packages/<folder>/<file>``; None for any other key."""
        if not key.startswith(self.packages):
            return None
        rest = key[len(self.packages):]
        folder, slash, filename = rest.partition("/")
        if not slash or not folder or not filename or "/" in filename:
            return None
        return folder, filename

    def page_project(self, key: str) -> str | None:
        """The project whose page ``key`` is (either of its two keys); None for any other key."""
        if not key.startswith(self.simple):
            return None
        rest = key[len(self.simple):]
        if rest.endswith("/index.html"):
            rest = rest[: -len("index.html")]
        if not rest.endswith("/") or "/" in rest[:-1]:
            return None
        return rest[:-1] or None


@dataclass(frozen=True)
class IndexEntry:
    """One distribution file, as a project's page links it."""

    folder: str  # its folder under packages/ (the normalized project name, as publish writes it)
    filename: str
    sha256: str
    requires_python: str | None = None
    metadata_sha256: str | None = None  # set only when packages/<folder>/<file>.metadata is there


def _natural(text: str) -> list:
    """A sort key that puts tinypkg-2.0 before tinypkg-10.0."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower())]


def _page(title: str, body: list[str]) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        '    <meta charset="utf-8">',
        f'    <meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">',
        f"    <title>{html.escape(title)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>{html.escape(title)}</h1>",
        *(f"    {line}" for line in body),
        "  </body>",
        "</html>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def file_link(entry: IndexEntry) -> str:
    """One anchor of a project's page: the file's URL relative to the page, its hash, its
    Requires-Python and its core metadata file's hash."""
    href = f"../../packages/{urllib.parse.quote(entry.folder, safe='')}/{urllib.parse.quote(entry.filename, safe='')}#sha256={entry.sha256}"
    attributes = [f'href="{html.escape(href, quote=True)}"']
    if entry.requires_python:
        attributes.append(f'data-requires-python="{html.escape(entry.requires_python, quote=True)}"')
    if entry.metadata_sha256:
        # PEP 658's name, which pip before 23.3 reads, and PEP 714's.
        attributes.append(f'data-dist-info-metadata="sha256={entry.metadata_sha256}"')
        attributes.append(f'data-core-metadata="sha256={entry.metadata_sha256}"')
    return f"<a {' '.join(attributes)}>{html.escape(entry.filename)}</a><br>"


def project_page(project: str, entries: Iterable[IndexEntry]) -> bytes:
    """A project's page: an anchor for every file, in version-like order."""
    links = [file_link(e) for e in sorted(entries, key=lambda e: (_natural(e.filename), e.folder))]
    return _page(f"Links for {project}", links)


def root_page(projects: Iterable[str]) -> bytes:
    """The root page: a link to every project's page."""
    names = sorted(set(projects))
    links = [f'<a href="{html.escape(urllib.parse.quote(name, safe=""), quote=True)}/">{html.escape(name)}</a><br>' for name in names]
    return _page("Simple index", links)
