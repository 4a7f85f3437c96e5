"""``hoard publish pypi``: wheels and sdists into a bucket, and the simple index regenerated from
what the bucket holds. An S3 client (boto3) of any endpoint, Hoard's or not.

One run:

1. reads every dist file given (its core metadata, its SHA-256), refusing the run if any cannot
   be read: nothing is written then;
2. asks the bucket which of them are there already: the same bytes (the SHA-256 kept in the
   object's ``x-amz-meta-sha256``) are skipped; a different file of the same name refuses the
   run before anything is written, unless ``overwrite``;
3. uploads the rest, a wheel's ``.metadata`` before the wheel, each file with If-None-Match
   unless ``overwrite`` (two publishers racing for one name: one of them is refused);
4. lists ``packages/`` and writes each project's page, then the root page, each one PUT per key,
   and only pages whose bytes changed; then lists again, and goes round once more if another
   publisher's files appeared meanwhile;
5. with ``public``, merges a public-read statement for the prefix into the bucket policy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from hoard.publish import distfiles, policy, simple
from hoard.publish.distfiles import DistFile, UnreadableDist
from hoard.publish.simple import IndexEntry, Layout

# User metadata on each distribution file (x-amz-meta-*): what its index entry needs, so that a
# later run (or another publisher's) makes the pages from a HEAD, without reading the file.
META_SHA256 = "sha256"
META_METADATA_SHA256 = "metadata-sha256"
META_REQUIRES_PYTHON = "requires-python"
META_PROJECT = "project"
META_VERSION = "version"

# A single PUT's limit in S3; no index serves larger files.
MAX_FILE_BYTES = 5 << 30
# Rounds of page writing while other publishers' files keep appearing.
MAX_ROUNDS = 3
# Printable ASCII, less %: what a metadata value may hold as it is (anything else is %-escaped).
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%")


class PublishError(Exception):
    """What stops a run, in one line."""


@dataclass
class Summary:
    bucket: str
    prefix: str
    index_url: str
    dry_run: bool = False
    uploaded: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    files_indexed: int = 0
    pages_written: list[str] = field(default_factory=list)
    pages_unchanged: int = 0
    public: str | None = None  # "set", "already", or None (not asked)

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "index_url": self.index_url,
            "dry_run": self.dry_run,
            "uploaded": self.uploaded,
            "overwritten": self.overwritten,
            "already": self.already,
            "projects": self.projects,
            "files_indexed": self.files_indexed,
            "pages_written": self.pages_written,
            "pages_unchanged": self.pages_unchanged,
            "public": self.public,
        }


def find_dists(dist_dir: Path) -> list[Path]:
    """The wheels and sdists directly in ``dist_dir`` (as ``twine upload dist/*`` takes them)."""
    return sorted(p for p in dist_dir.iterdir() if distfiles.dist_kind(p.name) is not None and p.is_file())


def read_dists(paths: Iterable[Path]) -> list[DistFile]:
    """Every file read and checked; the first that cannot be is a PublishError naming it."""
    dists = []
    for path in paths:
        try:
            dist = distfiles.read_dist(path)
        except UnreadableDist as e:
            raise PublishError(f"{path}: {e}") from None
        except OSError as e:
            raise PublishError(f"{path}: {e.strerror or e}") from None
        if dist.size > MAX_FILE_BYTES:
            raise PublishError(f"{path}: {dist.size} bytes, more than the {MAX_FILE_BYTES} one PUT takes")
        dists.append(dist)
    if not dists:
        raise PublishError("no wheels (.whl) or sdists (.tar.gz, .zip) to publish")
    return dists


def _quote_meta(value: str) -> str:
    return urllib.parse.quote(value, safe=_SAFE)


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


@dataclass
class _Listing:
    """What ``packages/`` holds: each distribution file's key and ETag, and the .metadata keys."""

    files: dict[str, str]  # key -> ETag
    metadata: set[str]

    def signature(self) -> frozenset[tuple[str, str]]:
        return frozenset(self.files.items()) | frozenset((k, "") for k in self.metadata)


class Publisher:
    """One run against ``bucket`` under ``prefix`` with a boto3 S3 ``client``."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, jobs: int = 8, say: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.layout = Layout(simple.clean_prefix(prefix))
        self.jobs = jobs
        self.say = say or (lambda line: None)
        self.known: dict[tuple[str, str], IndexEntry] = {}  # (key, ETag) -> entry, for files this run has read

    # -- the run ----------------------------------------------------------------------------

    def index_url(self) -> str:
        """The index's path-style URL at the client's endpoint."""
        base = str(self.client.meta.endpoint_url).rstrip("/")
        return f"{base}/{urllib.parse.quote(self.bucket)}/{urllib.parse.quote(self.layout.simple)}"

    def run(self, dists: list[DistFile], *, overwrite: bool = False, dry_run: bool = False, public: bool = False) -> Summary:
        summary = Summary(bucket=self.bucket, prefix=self.layout.prefix, index_url=self.index_url(), dry_run=dry_run)
        self.check_bucket()
        names = [d.filename for d in dists]
        if len(set(names)) != len(names):
            raise PublishError("two files of the same name given")
        states = self._map(self._remote_sha256, [self.layout.package_key(d.project, d.filename) for d in dists])
        to_upload: list[tuple[DistFile, bool]] = []  # (dist, replaces a different file)
        conflicts = []
        for dist, there in zip(dists, states, strict=True):
            if there is None:
                to_upload.append((dist, False))
            elif there == dist.sha256:
                summary.already.append(dist.filename)
            elif overwrite:
                to_upload.append((dist, True))
            else:
                conflicts.append((dist, there))
        if conflicts:
            dist, there = conflicts[0]
            more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
            raise PublishError(
                f"{dist.filename}: a different file of that name is already published at "
                f"s3://{self.bucket}/{self.layout.package_key(dist.project, dist.filename)} (sha256 {there[:12]}..., this one "
                f"{dist.sha256[:12]}...){more}; a file name is never reused, as on PyPI: publish a new version, or give --overwrite"
            )
        for dist in dists:
            self.known[(self.layout.package_key(dist.project, dist.filename), dist.md5)] = self._entry(dist)
        if not dry_run:
            for dist, replaces in to_upload:
                if not self.upload(dist, overwrite=overwrite):
                    summary.already.append(dist.filename)  # another publisher's upload of the same bytes won
                    continue
                (summary.overwritten if replaces else summary.uploaded).append(dist.filename)
                self.say(f"{'replaced' if replaces else 'uploaded'} {dist.filename}")
        else:
            for dist, replaces in to_upload:
                (summary.overwritten if replaces else summary.uploaded).append(dist.filename)
                self.say(f"would {'replace' if replaces else 'upload'} {dist.filename}")
        self.reindex(summary, local=dists, planned=[d for d, _ in to_upload] if dry_run else [], dry_run=dry_run)
        if public:
            summary.public = self.make_public(dry_run=dry_run)
        return summary

    def check_bucket(self) -> None:
        """One request that the bucket is there and the keys may read it: its errors (NoSuchBucket,
        InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied) come with S3's words."""
        self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.layout.packages, MaxKeys=1)

    # -- files ------------------------------------------------------------------------------

    @staticmethod
    def _entry(dist: DistFile) -> IndexEntry:
        return IndexEntry(
            folder=dist.project,
            filename=dist.filename,
            sha256=dist.sha256,
            requires_python=dist.metadata.requires_python,
            metadata_sha256=dist.metadata_sha256 if dist.kind == distfiles.WHEEL else None,
        )

    def _map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(self.jobs, len(items))) as pool:
            return list(pool.map(fn, items))

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if _status(e) == 404:
                return None
            raise

    def _remote_sha256(self, key: str) -> str | None:
        """The SHA-256 of the object at ``key``, None if there is none: from its metadata, else
        (a file put there by other means) by reading it."""
        head = self._head(key)
        if head is None:
            return None
        sha = head.get("Metadata", {}).get(META_SHA256)
        if sha:
            return sha
        return self._read_remote(key)[0].sha256

    def _read_remote(self, key: str) -> tuple[IndexEntry, str]:
        """A file not published by this command: read whole, hashed, and its Requires-Python
        taken from its core metadata where it has one. (entry, ETag)."""
        folder, filename = self.layout.split_package_key(key) or ("", key.rsplit("/", 1)[-1])
        body = self.client.get_object(Bucket=self.bucket, Key=key)
        sha = hashlib.sha256()
        with tempfile.NamedTemporaryFile(prefix="hoard-publish-") as spool:
            stream = body["Body"]
            while chunk := stream.read(1 << 20):
                sha.update(chunk)
                spool.write(chunk)
            spool.flush()
            try:
                _, raw = distfiles.read_metadata(Path(spool.name), filename)
                requires_python = distfiles.parse_core_metadata(raw).requires_python
            except UnreadableDist:
                requires_python = None
        return IndexEntry(folder=folder, filename=filename, sha256=sha.hexdigest(), requires_python=requires_python), _etag(body.get("ETag"))

    def upload(self, dist: DistFile, *, overwrite: bool) -> bool:
        """A wheel's .metadata, then the file itself, each in one PUT with its Content-MD5.
        False: the same bytes were published meanwhile by another run (nothing to do)."""
        metadata = {
            META_SHA256: dist.sha256,
            META_PROJECT: _quote_meta(dist.project),
            META_VERSION: _quote_meta(dist.metadata.version),
        }
        if dist.metadata.requires_python:
            metadata[META_REQUIRES_PYTHON] = _quote_meta(dist.metadata.requires_python)
        if dist.kind == distfiles.WHEEL:
            metadata[META_METADATA_SHA256] = dist.metadata_sha256
            self.put_metadata(dist)
        key = self.layout.package_key(dist.project, dist.filename)
        extra: dict[str, Any] = {} if overwrite else {"IfNoneMatch": "*"}
        with open(dist.path, "rb") as body:
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentLength=dist.size,
                    ContentMD5=base64.b64encode(bytes.fromhex(dist.md5)).decode(),
                    ContentType=distfiles.content_type(dist.filename),
                    Metadata=metadata,
                    **extra,
                )
            except ClientError as e:
                if _code(e) in ("PreconditionFailed", "ConditionalRequestConflict") or _status(e) in (409, 412):
                    if self._remote_sha256(key) == dist.sha256:
                        return False
                    raise PublishError(
                        f"{dist.filename}: another file of that name was published at s3://{self.bucket}/{key} while this run "
                        "was uploading it; run again to compare, or give --overwrite"
                    ) from None
                raise
        return True

    def put_metadata(self, dist: DistFile) -> None:
        data = dist.metadata_bytes
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.layout.metadata_key(dist.project, dist.filename),
            Body=data,
            ContentMD5=base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode(),
            ContentType=distfiles.content_type(".metadata"),
            Metadata={META_SHA256: dist.metadata_sha256},
        )

    # -- the index --------------------------------------------------------------------------

    def list_packages(self) -> _Listing:
        files: dict[str, str] = {}
        metadata: set[str] = set()
        for obj in self._list(self.layout.packages):
            key = obj["Key"]
            parts = self.layout.split_package_key(key)
            if parts is None:
                continue
            if parts[1].endswith(".metadata") and distfiles.dist_kind(parts[1][: -len(".metadata")]) == distfiles.WHEEL:
                metadata.add(key)
            elif distfiles.dist_kind(parts[1]) is not None:
                files[key] = _etag(obj.get("ETag"))
        return _Listing(files, metadata)

    def _list(self, prefix: str) -> Iterable[dict[str, Any]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def _entry_of(self, item: tuple[str, str], listing: _Listing) -> IndexEntry:
        """A listed file's index entry: known from this run, else from its metadata (a HEAD),
        else from its bytes."""
        key, etag = item
        entry = self.known.get((key, etag))
        if entry is None:
            head = self._head(key)
            meta = (head or {}).get("Metadata", {})
            folder, filename = self.layout.split_package_key(key) or ("", key)
            if head is not None and meta.get(META_SHA256):
                requires = meta.get(META_REQUIRES_PYTHON)
                entry = IndexEntry(
                    folder=folder,
                    filename=filename,
                    sha256=meta[META_SHA256],
                    requires_python=urllib.parse.unquote(requires) if requires else None,
                    metadata_sha256=meta.get(META_METADATA_SHA256) or None,
                )
                etag = _etag(head.get("ETag")) or etag
            else:
                entry, etag = self._read_remote(key)
            self.known[(key, etag)] = entry
        if entry.metadata_sha256 and self.layout.package_key(entry.folder, entry.filename) + ".metadata" not in listing.metadata:
            # The wheel's .metadata is not there (removed by hand): not advertised.
            entry = IndexEntry(entry.folder, entry.filename, entry.sha256, entry.requires_python, None)
        return entry

    def pages(self, listing: _Listing, stale: Iterable[str]) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], list[str], int]:
        """(project pages, root pages) as (key, bytes), the projects the root page lists, and how
        many files the pages list. A project with a page but no files left (``stale``) gets a
        page with no links."""
        entries = self._map(lambda item: self._entry_of(item, listing), sorted(listing.files.items()))
        by_project: dict[str, list[IndexEntry]] = {}
        for entry in entries:
            by_project.setdefault(distfiles.normalize_name(entry.folder), []).append(entry)
        project_pages: list[tuple[str, bytes]] = []
        for project in sorted(by_project):
            page = simple.project_page(project, by_project[project])
            project_pages.extend((key, page) for key in self.layout.project_page_keys(project))
        for project in sorted(set(stale) - set(by_project)):
            page = simple.project_page(project, [])
            project_pages.extend((key, page) for key in self.layout.project_page_keys(project))
        root = simple.root_page(by_project)
        return project_pages, [(key, root) for key in self.layout.root_page_keys()], sorted(by_project), len(entries)

    def reindex(self, summary: Summary, *, local: list[DistFile], planned: list[DistFile], dry_run: bool) -> None:
        """Pages from what ``packages/`` holds (with a dry run: and what it would hold)."""
        for _ in range(MAX_ROUNDS):
            listing = self.list_packages()
            if dry_run:
                for dist in planned:
                    listing.files[self.layout.package_key(dist.project, dist.filename)] = dist.md5
                    if dist.kind == distfiles.WHEEL:
                        listing.metadata.add(self.layout.metadata_key(dist.project, dist.filename))
            else:
                self._heal_metadata(local, listing)
            existing = {obj["Key"]: _etag(obj.get("ETag")) for obj in self._list(self.layout.simple)}
            stale = {p for p in (self.layout.page_project(k) for k in existing) if p}
            project_pages, root_pages, summary.projects, summary.files_indexed = self.pages(listing, stale)
            # Project pages first, the root page last: a project the root page links has its page.
            for key, page in [*project_pages, *root_pages]:
                if existing.get(key) == hashlib.md5(page, usedforsecurity=False).hexdigest():
                    continue
                if not dry_run:
                    self.client.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=page,
                        ContentType=simple.PAGE_CONTENT_TYPE,
                        CacheControl=simple.PAGE_CACHE_CONTROL,
                        ContentMD5=base64.b64encode(hashlib.md5(page, usedforsecurity=False).digest()).decode(),
                    )
                if key not in summary.pages_written:
                    summary.pages_written.append(key)
            summary.pages_unchanged = sum(1 for key, _ in [*project_pages, *root_pages] if key not in summary.pages_written)
            if dry_run or self.list_packages().signature() == listing.signature():
                return
            self.say("other files appeared under packages/ meanwhile: writing the pages again")

    def _heal_metadata(self, local: list[DistFile], listing: _Listing) -> None:
        """A wheel of this run already there whose .metadata is not (a run stopped between the
        two PUTs of an earlier upload, or the file removed): written again."""
        for dist in local:
            key = self.layout.package_key(dist.project, dist.filename)
            metadata_key = self.layout.metadata_key(dist.project, dist.filename)
            if dist.kind == distfiles.WHEEL and listing.files.get(key) == dist.md5 and metadata_key not in listing.metadata:
                self.put_metadata(dist)
                listing.metadata.add(metadata_key)

    # -- --public ---------------------------------------------------------------------------

    def make_public(self, *, dry_run: bool) -> str:
        """Merge the public-read statement into the bucket policy: "set", or "already"."""
        try:
            existing = self.client.get_bucket_policy(Bucket=self.bucket)["Policy"]
        except ClientError as e:
            if _code(e) != "NoSuchBucketPolicy":
                raise
            existing = None
        try:
            merged = policy.merge_public_read(existing, self.bucket, self.layout.prefix)
        except policy.BadPolicy as e:
            raise PublishError(f"cannot add to the bucket policy of {self.bucket!r}: {e}") from None
        if merged is None:
            return "already"
        if not dry_run:
            try:
                self.client.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(merged))
            except ClientError as e:
                if _code(e) == "AccessDenied":
                    message = e.response.get("Error", {}).get("Message", "")
                    raise PublishError(
                        f"the packages are published, but the bucket policy that makes them public was refused: AccessDenied: {message} "
                        "(a public access block with BlockPublicPolicy refuses any public policy)"
                    ) from None
                raise
        return "set"
