"""The pure parts of ``hoard publish pypi``: PEP 503 names, core metadata read from wheels and
sdists (never extracted, never run), the bucket's key layout, the index pages, the public-read
statement merged into a bucket policy, and the package's imports (an S3 client only)."""

from __future__ import annotations

import ast
import hashlib
import html.parser
import io
import json
import tarfile
import urllib.parse
import zipfile
from pathlib import Path

import pytest

from hoard.publish import distfiles, policy, simple
from hoard.publish.distfiles import UnreadableDist
from hoard.publish.simple import IndexEntry, Layout
from tests.fixtures.dists import build_sdist, build_wheel, metadata_text

# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, normalized",
    [
        ("tinypkg", "tinypkg"),
        ("TinyPkg", "tinypkg"),
        ("tiny_pkg", "tiny-pkg"),
        ("tiny.pkg", "tiny-pkg"),
        ("Tiny-._Pkg", "tiny-pkg"),
        ("zope.interface", "zope-interface"),
        ("a__b--c..d", "a-b-c-d"),
    ],
)
def test_normalize_name_is_pep_503(name, normalized):
    assert distfiles.normalize_name(name) == normalized


@pytest.mark.parametrize(
    "filename, kind",
    [
        ("a-1.0-py3-none-any.whl", "wheel"),
        ("A-1.0-PY3-NONE-ANY.WHL", "wheel"),
        ("a-1.0.tar.gz", "sdist"),
        ("a-1.0.zip", "sdist"),
        ("a-1.0-py3-none-any.whl.metadata", None),
        ("a-1.0.egg", None),
        ("a-1.0.tar.bz2", None),
        ("README", None),
    ],
)
def test_dist_kind(filename, kind):
    assert distfiles.dist_kind(filename) == kind


def test_content_types_never_make_a_client_unpack_a_tarball():
    assert distfiles.content_type("a-1.0.tar.gz") == "application/gzip"
    assert distfiles.content_type("a-1.0.zip") == "application/zip"
    assert distfiles.content_type("a-1.0-py3-none-any.whl") == "application/octet-stream"
    assert distfiles.content_type("a-1.0-py3-none-any.whl.metadata").startswith("text/plain")


# -- core metadata ----------------------------------------------------------------------------


def test_core_metadata_fields_and_not_the_body():
    parsed = distfiles.parse_core_metadata(metadata_text("Tiny_Pkg", "1.0rc1", ">=3.8, <4").encode())
    assert parsed == distfiles.CoreMetadata(name="Tiny_Pkg", version="1.0rc1", requires_python=">=3.8, <4")


def test_core_metadata_folded_header_and_utf8():
    data = "Metadata-Version: 2.1\nName: café-pkg\nVersion: 2.0\nRequires-Python: >=3.8,\n  <4\nAuthor: Zoë\n".encode()
    with pytest.raises(UnreadableDist, match="not a valid project name"):
        distfiles.parse_core_metadata(data)
    parsed = distfiles.parse_core_metadata(data.replace("café".encode(), b"cafe"))
    assert parsed.requires_python == ">=3.8, <4"
    assert parsed.name == "cafe-pkg"


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"Metadata-Version: 2.1\nVersion: 1.0\n", "no Name"),
        (b"Metadata-Version: 2.1\nName: a\n", "no Version"),
        (b"Metadata-Version: 2.1\nName: -a\nVersion: 1\n", "not a valid project name"),
        (b"", "no Name"),
        (b"\x00\xff garbage", "no Name"),
    ],
)
def test_core_metadata_refused(data, problem):
    with pytest.raises(UnreadableDist, match=problem):
        distfiles.parse_core_metadata(data)


def test_no_requires_python():
    assert distfiles.parse_core_metadata(b"Name: a\nVersion: 1\n").requires_python is None


def test_read_wheel(tmp_path):
    path = build_wheel(tmp_path, "Tiny_Pkg", "1.0", requires_python=">=3.9")
    dist = distfiles.read_dist(path)
    assert (dist.kind, dist.project, dist.metadata.name, dist.metadata.version) == ("wheel", "tiny-pkg", "Tiny_Pkg", "1.0")
    assert dist.metadata.requires_python == ">=3.9"
    with zipfile.ZipFile(path) as z:
        assert dist.metadata_bytes == z.read("Tiny_Pkg-1.0.dist-info/METADATA")
    assert dist.metadata_sha256 == hashlib.sha256(dist.metadata_bytes).hexdigest()
    assert dist.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dist.md5 == hashlib.md5(path.read_bytes()).hexdigest()
    assert dist.size == path.stat().st_size


def test_read_sdist_takes_the_top_pkg_info(tmp_path):
    # build_sdist also puts an egg-info PKG-INFO naming another project one folder down.
    dist = distfiles.read_dist(build_sdist(tmp_path, "tinypkg", "2.0", requires_python=None))
    assert (dist.kind, dist.project, dist.metadata.version, dist.metadata.requires_python) == ("sdist", "tinypkg", "2.0", None)
    assert dist.metadata_bytes.startswith(b"Metadata-Version: 2.1\nName: tinypkg\n")


def test_read_zip_sdist(tmp_path):
    path = tmp_path / "zip.pkg-3.0.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("zip.pkg-3.0/PKG-INFO", metadata_text("zip.pkg", "3.0"))
        z.writestr("zip.pkg-3.0/setup.py", "raise SystemExit('never run')\n")
    dist = distfiles.read_dist(path)
    assert (dist.kind, dist.project, dist.metadata.version) == ("sdist", "zip-pkg", "3.0")


def test_sdist_with_hyphens_in_its_name(tmp_path):
    assert distfiles.read_dist(build_sdist(tmp_path, "my-tiny-pkg", "1.0")).project == "my-tiny-pkg"
    # The stem as old tools wrote it: the name as given, hyphens, dots and capitals and all.
    odd = build_sdist(tmp_path, "my-tiny-pkg", "1.0").rename(tmp_path / "My.Tiny-Pkg-1.0.tar.gz")
    assert distfiles.read_dist(odd).project == "my-tiny-pkg"


def test_file_name_must_name_the_project(tmp_path):
    path = build_wheel(tmp_path, "tinypkg", "1.0")
    wrong = path.rename(tmp_path / "otherpkg-1.0-py3-none-any.whl")
    with pytest.raises(UnreadableDist, match="for project 'otherpkg' but its METADATA names 'tinypkg'"):
        distfiles.read_dist(wrong)
    sdist = build_sdist(tmp_path, "tinypkg", "1.0").rename(tmp_path / "tinypkgextra-1.0.tar.gz")
    with pytest.raises(UnreadableDist, match="does not start with the project name"):
        distfiles.read_dist(sdist)
    with pytest.raises(UnreadableDist, match="not a wheel's"):
        distfiles.read_dist(build_wheel(tmp_path, "tinypkg", "1.0").rename(tmp_path / "tinypkg-1.0.whl"))


@pytest.mark.parametrize("filename", ["broken-1.0-py3-none-any.whl", "broken-1.0.tar.gz", "broken-1.0.zip"])
def test_corrupt_files_refused(tmp_path, filename):
    path = tmp_path / filename
    path.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(UnreadableDist, match="not a readable"):
        distfiles.read_dist(path)


def test_truncated_sdist_refused(tmp_path):
    path = build_sdist(tmp_path, "tinypkg", "1.0")
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(UnreadableDist, match="not a readable"):
        distfiles.read_dist(path)


def test_archives_without_metadata_refused(tmp_path):
    wheel = tmp_path / "a-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("a/__init__.py", "")
    with pytest.raises(UnreadableDist, match="no \\*.dist-info/METADATA"):
        distfiles.read_dist(wheel)
    sdist = tmp_path / "a-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as t:
        data = b"Name: a\nVersion: 1.0\n"
        info = tarfile.TarInfo("a-1.0/a.egg-info/PKG-INFO")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with pytest.raises(UnreadableDist, match="no PKG-INFO in its top folder"):
        distfiles.read_dist(sdist)


def test_oversized_metadata_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(distfiles, "MAX_METADATA_BYTES", 64)
    with pytest.raises(UnreadableDist, match="more than"):
        distfiles.read_dist(build_wheel(tmp_path, "tinypkg", "1.0"))


def test_tar_members_are_never_extracted(tmp_path):
    # A link and a path outside the archive's folder, beside a good PKG-INFO: read, nothing written.
    # The archive lies two folders down, so "../../escaped" would land inside tmp_path, which is
    # walked whole (walking the session's temporary tree instead took half a minute).
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    path = folder / "evil-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        for name, data in [("evil-1.0/PKG-INFO", b"Name: evil\nVersion: 1.0\n"), ("../../escaped", b"x")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("evil-1.0/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    before = set(tmp_path.rglob("*"))
    assert distfiles.read_dist(path).project == "evil"
    assert set(tmp_path.rglob("*")) == before
    assert not (Path.cwd() / "escaped").exists() and not (Path.cwd() / "evil-1.0").exists()


# -- the layout -------------------------------------------------------------------------------


def test_layout_keys():
    layout = Layout("py")
    assert layout.package_key("tinypkg", "tinypkg-1.0.tar.gz") == "py/packages/tinypkg/tinypkg-1.0.tar.gz"
    assert layout.metadata_key("tinypkg", "t-1.0-py3-none-any.whl") == "py/packages/tinypkg/t-1.0-py3-none-any.whl.metadata"
    assert layout.project_page_keys("tinypkg") == ("py/simple/tinypkg/index.html", "py/simple/tinypkg/")
    assert layout.root_page_keys() == ("py/simple/index.html", "py/simple/")
    top = Layout("")
    assert top.package_key("a", "a-1.zip") == "packages/a/a-1.zip"
    assert top.root_page_keys() == ("simple/index.html", "simple/")
    assert Layout("a/b").project_page_keys("x") == ("a/b/simple/x/index.html", "a/b/simple/x/")


def test_layout_reads_keys_back():
    layout = Layout("py")
    assert layout.split_package_key("py/packages/tinypkg/tinypkg-1.0.tar.gz") == ("tinypkg", "tinypkg-1.0.tar.gz")
    for other in ["py/packages/tinypkg/", "py/packages/x", "py/packages/a/b/c.whl", "py/simple/a/", "other/packages/a/a-1.zip"]:
        assert layout.split_package_key(other) is None
    assert layout.page_project("py/simple/tinypkg/") == "tinypkg"
    assert layout.page_project("py/simple/tinypkg/index.html") == "tinypkg"
    for other in ["py/simple/", "py/simple/index.html", "py/simple/a/b/", "py/simple/a", "py/packages/a/"]:
        assert layout.page_project(other) is None


@pytest.mark.parametrize("given, clean", [("", ""), ("/", ""), ("py", "py"), ("py/", "py"), ("/a/b/", "a/b")])
def test_clean_prefix(given, clean):
    assert simple.clean_prefix(given) == clean


@pytest.mark.parametrize("given", ["a//b", "a/../b", "./a", "a/."])
def test_clean_prefix_refuses_segments_links_would_fold(given):
    with pytest.raises(simple.BadPrefix):
        simple.clean_prefix(given)


# -- the pages --------------------------------------------------------------------------------


class Anchors(html.parser.HTMLParser):
    """Every anchor of a page, as an installer's parser sees it: (attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.meta: dict[str, str | None] = {}
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._open = dict(attrs)
            self.anchors.append((self._open, ""))
        if tag == "meta":
            attributes = dict(attrs)
            if "name" in attributes:
                self.meta[attributes["name"] or ""] = attributes.get("content")

    def handle_data(self, data):
        if self._open is not None:
            attrs, text = self.anchors[-1]
            self.anchors[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "a":
            self._open = None


def parse(page: bytes) -> Anchors:
    parser = Anchors()
    parser.feed(page.decode("utf-8"))
    return parser


def test_project_page_anchors():
    sha, meta = "ab" * 32, "cd" * 32
    entries = [
        IndexEntry("tinypkg", "tinypkg-10.0.tar.gz", sha),
        IndexEntry("tinypkg", "tinypkg-2.0-py3-none-any.whl", sha, requires_python=">=3.8,<4&", metadata_sha256=meta),
        IndexEntry("tinypkg", "tinypkg-1.0+local.tar.gz", sha, requires_python='<4,"x"'),
    ]
    page = simple.project_page("tinypkg", entries)
    parsed = parse(page)
    assert parsed.meta["pypi:repository-version"] == "1.0"
    texts = [text for _, text in parsed.anchors]
    assert texts == ["tinypkg-1.0+local.tar.gz", "tinypkg-2.0-py3-none-any.whl", "tinypkg-10.0.tar.gz"]  # 2 before 10
    local, wheel, ten = (attrs for attrs, _ in parsed.anchors)
    assert local["href"] == f"../../packages/tinypkg/tinypkg-1.0%2Blocal.tar.gz#sha256={sha}"
    assert local["data-requires-python"] == '<4,"x"'  # unescaped by the parser: it was escaped in the page
    assert "data-dist-info-metadata" not in local and "data-core-metadata" not in local
    assert wheel["data-requires-python"] == ">=3.8,<4&"
    assert wheel["data-dist-info-metadata"] == wheel["data-core-metadata"] == f"sha256={meta}"
    assert "data-requires-python" not in ten
    text = page.decode()
    assert "&gt;=3.8,&lt;4&amp;" in text and "&quot;x&quot;" in text and ">=3.8" not in text


def test_links_are_relative_and_resolve_under_any_base():
    page = simple.project_page("tinypkg", [IndexEntry("tinypkg", "tinypkg-1.0.tar.gz", "00" * 32)])
    ((attrs, _),) = parse(page).anchors
    for base in [
        "http://127.0.0.1:9000/bucket/py/simple/tinypkg/",
        "http://127.0.0.1:9000/bucket/py/simple/tinypkg/index.html",
    ]:
        url = urllib.parse.urljoin(base, attrs["href"])
        assert urllib.parse.urldefrag(url).url == "http://127.0.0.1:9000/bucket/py/packages/tinypkg/tinypkg-1.0.tar.gz"
    url = urllib.parse.urljoin("http://bucket.s3-website.localhost:9000/py/simple/tinypkg/", attrs["href"])
    assert url.startswith("http://bucket.s3-website.localhost:9000/py/packages/tinypkg/tinypkg-1.0.tar.gz#sha256=")


def test_root_page():
    page = simple.root_page(["zeta", "alpha", "alpha", "tiny-pkg"])
    parsed = parse(page)
    assert [(a["href"], t) for a, t in parsed.anchors] == [("alpha/", "alpha"), ("tiny-pkg/", "tiny-pkg"), ("zeta/", "zeta")]
    assert urllib.parse.urljoin("http://h/b/py/simple/index.html", "alpha/") == "http://h/b/py/simple/alpha/"
    assert parse(simple.root_page([])).anchors == []


def test_pages_are_deterministic():
    entries = [IndexEntry("a", f"a-{v}.tar.gz", "11" * 32) for v in ("1.0", "2.0")]
    assert simple.project_page("a", entries) == simple.project_page("a", list(reversed(entries)))


# -- the bucket policy ------------------------------------------------------------------------


def test_public_read_statement():
    (statement,) = policy.merge_public_read(None, "bucket", "py")["Statement"]
    assert statement["Effect"] == "Allow" and statement["Principal"] == "*"
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == "arn:aws:s3:::bucket/py/*"
    assert statement["Sid"].isalnum()
    assert policy.resource("bucket", "") == "arn:aws:s3:::bucket/*"
    assert policy.resource("bucket", "a/b") == "arn:aws:s3:::bucket/a/b/*"


def test_policy_merged_keeps_every_other_statement():
    other = {"Sid": "Theirs", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123:root"}, "Action": "s3:*", "Resource": "arn:aws:s3:::bucket/*"}
    existing = json.dumps({"Version": "2012-10-17", "Id": "keep-me", "Statement": [other]})
    merged = policy.merge_public_read(existing, "bucket", "py")
    assert merged["Id"] == "keep-me"
    assert merged["Statement"][0] == other
    assert merged["Statement"][1] == policy.public_read_statement("bucket", "py")
    # A single statement given as an object, not a list.
    merged = policy.merge_public_read(json.dumps({"Version": "2012-10-17", "Statement": other}), "bucket", "py")
    assert len(merged["Statement"]) == 2


def test_policy_already_public_is_left_alone():
    ours = policy.merge_public_read(None, "bucket", "py")
    assert policy.merge_public_read(json.dumps(ours), "bucket", "py") is None
    wider = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::bucket/*"}]}
    assert policy.merge_public_read(json.dumps(wider), "bucket", "py") is None
    # Narrower, conditional or for another prefix: the statement is added.
    for statement in [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/py/simple/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/other/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket/*"},
    ]:
        merged = policy.merge_public_read(json.dumps({"Statement": [statement]}), "bucket", "py")
        assert merged is not None and len(merged["Statement"]) == 2


def test_policy_statement_of_an_earlier_run_is_replaced():
    stale = dict(policy.public_read_statement("bucket", "py"), Condition={"Bool": {"aws:SecureTransport": "true"}})
    merged = policy.merge_public_read(json.dumps({"Version": "2012-10-17", "Statement": [stale]}), "bucket", "py")
    assert merged["Statement"] == [policy.public_read_statement("bucket", "py")]
    assert policy.statement_id("bucket", "py") != policy.statement_id("bucket", "other")


@pytest.mark.parametrize("text", ["not json", "[]", '{"Statement": 5}'])
def test_bad_policy(text):
    with pytest.raises(policy.BadPolicy):
        policy.merge_public_read(text, "bucket", "py")


# -- an S3 client, never the server's code ----------------------------------------------------

FORBIDDEN = (
    "hoard.server", "hoard.supervisor", "hoard.app", "hoard.admin", "hoard.s3", "hoard.workers", "hoard.iam", "hoard.objects",
    "hoard.meta", "hoard.storage", "hoard.http", "hoard.model", "hoard.nowait", "hoard.config", "hoard.process_role",
    "hoard.replication", "hoard.lifecycle", "hoard.tiers", "hoard.dr", "hoard.cli",
)


def test_publish_imports_no_server_code():
    """pyproject.toml's import contracts do not name hoard.publish yet: the same rule, read from
    the sources. Of Hoard, only hoard.backup.connect (boto3 clients, errors in one line)."""
    package = Path(distfiles.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(), str(source))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), f"{source.name} imports {name}"
                if name.startswith("hoard.") and not name.startswith("hoard.publish"):
                    assert name == "hoard.backup.connect", f"{source.name} imports {name}"
