"""Distribution files as an index sees them: their project name, version and core metadata, read
from the files themselves (a wheel's ``*.dist-info/METADATA``, an sdist's ``PKG-INFO``) with
zipfile and tarfile. Nothing in a file is ever extracted to disk or run.

Pure, except ``read_dist`` and ``digests``, which read one local file.
"""

from __future__ import annotations

import email.parser
import email.policy
import gzip
import hashlib
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

WHEEL = "wheel"
SDIST = "sdist"

# A core metadata file larger than this is not one (a wheel's METADATA holds the long description,
# rarely more than a few hundred KiB).
MAX_METADATA_BYTES = 16 << 20

_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


class UnreadableDist(Exception):
    """A file that is not a distribution an index can serve, said in one line."""


def normalize_name(name: str) -> str:
    """A project name as PEP 503 compares and links it: runs of ``-``, ``_`` and ``.`` become one
    ``-``, and letters are lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_kind(filename: str) -> str | None:
    """``wheel``, ``sdist``, or None for a file an index does not list (a ``.metadata`` file, an
    egg, anything else)."""
    lower = filename.lower()
    if lower.endswith(".whl"):
        return WHEEL
    if lower.endswith(".tar.gz") or lower.endswith(".zip"):
        return SDIST
    return None


def content_type(filename: str) -> str:
    """The Content-Type a distribution file is stored with: never a Content-Encoding, which would
    have a client unpack a ``.tar.gz`` before checking its hash."""
    lower = filename.lower()
    if lower.endswith(".tar.gz"):
        return "application/gzip"
    if lower.endswith(".zip"):
        return "application/zip"
    if lower.endswith(".metadata"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


@dataclass(frozen=True)
class CoreMetadata:
    """What an index takes from a core metadata file (METADATA, PKG-INFO)."""

    name: str
    version: str
    requires_python: str | None = None


def parse_core_metadata(data: bytes) -> CoreMetadata:
    """The Name, Version and Requires-Python fields of a core metadata file (RFC 822 headers;
    the body, the long description, is not read). Raises UnreadableDist."""
    text = data.decode("utf-8", errors="replace")
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)

    def field(key: str) -> str | None:
        value = message.get(key)
        if value is None:
            return None
        # A folded header keeps its line breaks in compat32: one line, as the field means.
        value = " ".join(str(value).split())
        return value or None

    name, version = field("Name"), field("Version")
    if name is None:
        raise UnreadableDist("its core metadata has no Name")
    if not _NAME.match(name):
        raise UnreadableDist(f"its core metadata's Name {name!r} is not a valid project name")
    if version is None:
        raise UnreadableDist("its core metadata has no Version")
    return CoreMetadata(name=name, version=version, requires_python=field("Requires-Python"))


@dataclass(frozen=True)
class DistFile:
    """One wheel or sdist, read."""

    path: Path
    filename: str
    kind: str  # WHEEL or SDIST
    project: str  # the normalized name
    metadata: CoreMetadata
    metadata_bytes: bytes  # METADATA or PKG-INFO, as found in the file
    sha256: str
    md5: str
    size: int

    @property
    def metadata_sha256(self) -> str:
        return hashlib.sha256(self.metadata_bytes).hexdigest()


def digests(path: Path) -> tuple[str, str, int]:
    """A file's SHA-256 and MD5 (hex) and its size, in one read."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), md5.hexdigest(), size


def wheel_name_parts(filename: str) -> tuple[str, str]:
    """The distribution and version a wheel's file name gives
    (``{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl``). Raises UnreadableDist."""
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6) or not all(parts):
        raise UnreadableDist("its name is not a wheel's ({distribution}-{version}[-{build}]-{python}-{abi}-{platform}.whl)")
    return parts[0], parts[1]


def sdist_stem(filename: str) -> str:
    lower = filename.lower()
    return filename[: -len(".tar.gz")] if lower.endswith(".tar.gz") else filename[: -len(".zip")]


def check_filename(filename: str, kind: str, project: str) -> None:
    """That the file's name starts with its project's name, as installers require to pick a file
    from an index page (a wheel's distribution part, normalized; an sdist's stem up to a ``-``).
    Raises UnreadableDist."""
    if kind == WHEEL:
        distribution, _ = wheel_name_parts(filename)
        if normalize_name(distribution) != project:
            raise UnreadableDist(f"its name is for project {normalize_name(distribution)!r} but its METADATA names {project!r}")
        return
    stem = sdist_stem(filename)
    starts = [i for i, c in enumerate(stem) if c == "-" and normalize_name(stem[:i]) == project and i < len(stem) - 1]
    if not starts:
        raise UnreadableDist(f"its name does not start with the project name its PKG-INFO gives ({project!r}) and a version")


def wheel_metadata(path: Path, filename: str) -> bytes:
    """A wheel's ``{distribution}-{version}.dist-info/METADATA``. Raises UnreadableDist."""
    distribution, version = wheel_name_parts(filename)
    try:
        with zipfile.ZipFile(path) as archive:
            candidates = [
                info for info in archive.infolist()
                if not info.is_dir() and info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
            ]
            if not candidates:
                raise UnreadableDist("it has no *.dist-info/METADATA: not a wheel")
            if len(candidates) > 1:
                wanted = f"{distribution}-{version}.dist-info/METADATA".lower()
                candidates = [info for info in candidates if info.filename.lower() == wanted]
                if len(candidates) != 1:
                    raise UnreadableDist("it has several *.dist-info folders, none of them named after the file")
            return _read_member(candidates[0].file_size, lambda: archive.open(candidates[0]))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as e:
        raise UnreadableDist(f"not a readable zip file ({e})") from None


def sdist_metadata(path: Path, filename: str) -> bytes:
    """An sdist's ``{name}-{version}/PKG-INFO`` (the one in its top folder). Raises UnreadableDist."""
    stem = sdist_stem(filename)
    if filename.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = [i for i in archive.infolist() if not i.is_dir() and _top_pkg_info(i.filename)]
                member = _pick(members, lambda i: i.filename, stem)
                return _read_member(member.file_size, lambda: archive.open(member))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as e:
            raise UnreadableDist(f"not a readable zip file ({e})") from None
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = []
            for info in archive:
                if info.isfile() and _top_pkg_info(info.name):
                    members.append(info)
            member = _pick(members, lambda i: i.name, stem)
            extracted = archive.extractfile(member)
            if extracted is None:
                raise UnreadableDist("its PKG-INFO cannot be read")
            return _read_member(member.size, lambda: extracted)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise UnreadableDist(f"not a readable .tar.gz file ({e})") from None


def _top_pkg_info(name: str) -> bool:
    parts = name.lstrip("./").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def _pick(members: list, name_of, stem: str):
    if not members:
        raise UnreadableDist("it has no PKG-INFO in its top folder: not an sdist")
    if len(members) == 1:
        return members[0]
    named = [m for m in members if name_of(m).lstrip("./").split("/")[0] == stem]
    if len(named) != 1:
        raise UnreadableDist("it has several top folders with a PKG-INFO, none of them named after the file")
    return named[0]


def _read_member(size: int, opener) -> bytes:
    if size > MAX_METADATA_BYTES:
        raise UnreadableDist(f"its core metadata file is {size} bytes, more than the {MAX_METADATA_BYTES} an index takes")
    with opener() as f:
        data = f.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise UnreadableDist(f"its core metadata file is more than the {MAX_METADATA_BYTES} bytes an index takes")
    return data


def read_metadata(path: Path, filename: str | None = None) -> tuple[str, bytes]:
    """A distribution's kind and core metadata bytes. Raises UnreadableDist (OSError for a file
    that cannot be opened at all)."""
    filename = filename or path.name
    kind = dist_kind(filename)
    if kind is None:
        raise UnreadableDist("not a wheel (.whl) or an sdist (.tar.gz, .zip)")
    return kind, (wheel_metadata(path, filename) if kind == WHEEL else sdist_metadata(path, filename))


def read_dist(path: Path) -> DistFile:
    """A wheel or sdist on disk, read and checked: its core metadata, its project (whose name its
    file name must start with), its digests. Raises UnreadableDist or OSError."""
    kind, raw = read_metadata(path)
    metadata = parse_core_metadata(raw)
    project = normalize_name(metadata.name)
    check_filename(path.name, kind, project)
    sha256, md5, size = digests(path)
    return DistFile(
        path=path, filename=path.name, kind=kind, project=project, metadata=metadata, metadata_bytes=raw, sha256=sha256, md5=md5, size=size
    )
