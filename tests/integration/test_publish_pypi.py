"""``hoard publish pypi`` as a user runs it, against a real server, installed from with a real pip.

Two versions of a tiny package (wheels and sdists built by hand: no build backend, no network)
are published to a public prefix; a fresh virtual environment's pip installs the newest and then
a pinned older one through the S3 API's path-style URL (PEP 658 metadata fetched on the way),
reaching nothing but 127.0.0.1. A bucket published without --public lets no anonymous request
read anything. Publishing again writes nothing; a different file under a published name is
refused unless --overwrite; another project published later joins the same index; --public
merges into a bucket policy; and the mistakes users make end in one line, exit 1."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.conftest import HoardServer, free_port
from tests.fixtures.dists import build_sdist, build_wheel

PROJECT = "tinypkg"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    web_port = free_port()
    srv = HoardServer(tmp_path_factory.mktemp("publish") / "data", extra_args=["--website-address", f"127.0.0.1:{web_port}"])
    srv.web_port = web_port  # type: ignore[attr-defined]
    srv.start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture(scope="module")
def s3(server):
    return server.client()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """tinypkg 1.0 and 2.0, a wheel and an sdist of each."""
    out = tmp_path_factory.mktemp("dist")
    for version in ("1.0", "2.0"):
        build_wheel(out, PROJECT, version)
        build_sdist(out, PROJECT, version)
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment, pip from ensurepip's bundled wheel (no network)."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True, timeout=120)
    return path


def hoard_env(server: HoardServer) -> dict[str, str]:
    env = {k: v for k, v in server.env().items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def publish(server: HoardServer, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hoard", "publish", "pypi", *args, "--endpoint-url", server.endpoint],
        env=env or hoard_env(server),
        capture_output=True,
        text=True,
        timeout=120,
    )


def summary(server: HoardServer, *args: str) -> dict:
    done = publish(server, *args, "--json")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.splitlines()[-1])


def one_error(done: subprocess.CompletedProcess) -> str:
    """A refusal: exit 1, one ``Error:`` line, no traceback."""
    assert done.returncode == 1, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def pip(venv: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """The venv's pip with no configuration of the machine's, no cache, no other index."""
    env = {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp), "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"}
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", *args, "--disable-pip-version-check"], env=env, capture_output=True, text=True, timeout=120
    )


def pip_install(venv: Path, tmp: Path, index: str, requirement: str) -> subprocess.CompletedProcess:
    # --no-deps and --only-binary: nothing but the index's own wheels, never a build (whose
    # backend would be fetched from elsewhere).
    return pip(venv, tmp, "install", "-v", "--no-cache-dir", "--no-deps", "--only-binary", ":all:", "--index-url", index, requirement)


def installed_version(venv: Path) -> str:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", "import tinypkg; print(tinypkg.__version__)"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def anonymous_get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def objects(s3, bucket: str) -> dict[str, dict]:
    return {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def new_bucket(s3) -> str:
    name = f"pypi-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def public_index(server, s3, dist) -> tuple[str, dict]:
    """A bucket whose prefix py/ holds tinypkg 1.0 and 2.0, published with --public."""
    bucket = new_bucket(s3)
    return bucket, summary(server, str(dist), f"s3://{bucket}/py", "--public")


def test_pip_installs_newest_then_pinned(server, s3, dist, venv, tmp_path, public_index):
    bucket, report = public_index
    assert sorted(report["uploaded"]) == sorted(p.name for p in dist.iterdir())
    assert report["projects"] == [PROJECT] and report["files_indexed"] == 4 and report["public"] == "set"
    index = f"{server.endpoint}/{bucket}/py/simple/"
    assert report["index_url"] == index

    held = objects(s3, bucket)
    for path in dist.iterdir():
        key = f"py/packages/{PROJECT}/{path.name}"
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["Metadata"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert head["ContentType"] in ("application/octet-stream", "application/gzip")
        assert (key + ".metadata" in held) == path.name.endswith(".whl")
    for key in ["py/simple/index.html", "py/simple/", f"py/simple/{PROJECT}/index.html", f"py/simple/{PROJECT}/"]:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == "text/html; charset=utf-8" and head["CacheControl"] == "no-cache"
    page = s3.get_object(Bucket=bucket, Key=f"py/simple/{PROJECT}/")["Body"].read()
    assert page == s3.get_object(Bucket=bucket, Key=f"py/simple/{PROJECT}/index.html")["Body"].read()
    assert b'data-requires-python="&gt;=3.8"' in page and b"data-core-metadata=" in page

    # Anonymous, path-style, the URL pip asks for: no website endpoint, no DNS.
    status, body, headers = anonymous_get(f"{index}{PROJECT}/")
    assert status == 200 and body == page

    done = pip_install(venv, tmp_path, index, PROJECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed_version(venv) == "2.0"
    # PEP 658: pip read the wheel's metadata file (and checked its hash) before the wheel.
    assert f"{PROJECT}-2.0-py3-none-any.whl.metadata" in done.stdout, done.stdout

    done = pip_install(venv, tmp_path, index, f"{PROJECT}==1.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed_version(venv) == "1.0"
    for line in (done.stdout + done.stderr).splitlines():
        if "http://" in line or "https://" in line:
            assert "http://127.0.0.1:" in line and "https://" not in line, line


def test_public_is_only_the_prefix(server, s3, public_index):
    bucket, _ = public_index
    s3.put_object(Bucket=bucket, Key="secret/file", Body=b"not for anyone")
    assert anonymous_get(f"{server.endpoint}/{bucket}/secret/file")[0] == 403
    assert anonymous_get(f"{server.endpoint}/{bucket}?list-type=2")[0] == 403
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Resource"] == f"arn:aws:s3:::{bucket}/py/*" and statement["Action"] == "s3:GetObject"


def test_private_index_lets_no_anonymous_request_in(server, s3, dist, venv, tmp_path):
    bucket = new_bucket(s3)
    report = summary(server, str(dist), f"s3://{bucket}/py")
    assert report["public"] is None and len(report["uploaded"]) == 4
    with pytest.raises(ClientError) as refused:
        s3.get_bucket_policy(Bucket=bucket)
    assert refused.value.response["Error"]["Code"] == "NoSuchBucketPolicy"

    index = f"{server.endpoint}/{bucket}/py/simple/"
    target = tmp_path / "target"
    done = pip(venv, tmp_path, "install", "-vv", "--no-cache-dir", "--no-deps", "--only-binary", ":all:", "--target", str(target), "--index-url", index, PROJECT)
    assert done.returncode != 0
    assert "403 Client Error: Forbidden" in done.stdout + done.stderr, done.stdout + done.stderr
    assert not target.exists() or not any(target.iterdir())
    # Every key, and one that is not there (403 too: not even whether a file exists leaks).
    for key in [*objects(s3, bucket), f"py/packages/{PROJECT}/{PROJECT}-9.9.tar.gz"]:
        status, body, _ = anonymous_get(f"{server.endpoint}/{bucket}/{key}")
        assert status == 403, key
        assert b"<Code>AccessDenied</Code>" in body
        assert b"sha256=" not in body and b"Links for" not in body and b"Metadata-Version" not in body, body
    assert anonymous_get(f"{server.endpoint}/{bucket}?list-type=2")[0] == 403
    assert anonymous_get(f"{server.endpoint}/{bucket}/py/simple/")[0] == 403


def test_republish_writes_nothing_and_a_changed_file_is_refused(server, s3, dist, tmp_path):
    bucket = new_bucket(s3)
    summary(server, str(dist), f"s3://{bucket}/py")
    before = objects(s3, bucket)

    again = summary(server, str(dist), f"s3://{bucket}/py")
    assert again["uploaded"] == [] and again["overwritten"] == [] and len(again["already"]) == 4
    assert again["pages_written"] == [] and again["pages_unchanged"] == 4
    after = objects(s3, bucket)
    assert {k: (o["LastModified"], o["ETag"]) for k, o in after.items()} == {k: (o["LastModified"], o["ETag"]) for k, o in before.items()}

    # A different file under a published name (the same version rebuilt with other contents).
    changed = tmp_path / "changed"
    changed.mkdir()
    build_wheel(changed, PROJECT, "3.0")  # new: would be fine alone
    rebuilt = build_sdist(changed, PROJECT, "1.0", summary="Rebuilt, different bytes")
    line = one_error(publish(server, str(changed), f"s3://{bucket}/py"))
    assert rebuilt.name in line and "different file" in line and "--overwrite" in line
    assert objects(s3, bucket).keys() == before.keys()  # refused before anything was written: not even 3.0

    dry = summary(server, str(changed), f"s3://{bucket}/py", "--overwrite", "--dry-run")
    assert dry["dry_run"] and dry["overwritten"] == [rebuilt.name] and dry["uploaded"] == [f"{PROJECT}-3.0-py3-none-any.whl"]
    assert f"py/simple/{PROJECT}/" in dry["pages_written"]
    assert objects(s3, bucket).keys() == before.keys()

    done = summary(server, str(changed), f"s3://{bucket}/py", "--overwrite")
    assert done["overwritten"] == [rebuilt.name] and done["uploaded"] == [f"{PROJECT}-3.0-py3-none-any.whl"]
    key = f"py/packages/{PROJECT}/{rebuilt.name}"
    sha = hashlib.sha256(rebuilt.read_bytes()).hexdigest()
    assert s3.head_object(Bucket=bucket, Key=key)["Metadata"]["sha256"] == sha
    page = s3.get_object(Bucket=bucket, Key=f"py/simple/{PROJECT}/")["Body"].read().decode()
    assert f"{rebuilt.name}#sha256={sha}" in page and f"{PROJECT}-3.0-py3-none-any.whl" in page and f"{PROJECT}-2.0.tar.gz" in page


def test_publishers_share_one_index(server, s3, dist, venv, tmp_path, public_index):
    """Another project, published later from elsewhere, joins the index; files put there by
    other means (no sha256 metadata) are read and listed too."""
    bucket, _ = public_index
    other = tmp_path / "other"
    other.mkdir()
    build_wheel(other, "Other_Pkg", "0.1", module="otherpkg", requires_python=None)
    by_hand = build_sdist(tmp_path, PROJECT, "0.9")
    s3.put_object(Bucket=bucket, Key=f"py/packages/{PROJECT}/{by_hand.name}", Body=by_hand.read_bytes())

    report = summary(server, str(other), f"s3://{bucket}/py")
    assert report["uploaded"] == ["Other_Pkg-0.1-py3-none-any.whl"]
    assert report["projects"] == ["other-pkg", PROJECT] and report["files_indexed"] == 6
    assert report["public"] is None  # the earlier run's statement stays
    root = s3.get_object(Bucket=bucket, Key="py/simple/")["Body"].read().decode()
    assert 'href="other-pkg/"' in root and f'href="{PROJECT}/"' in root
    page = s3.get_object(Bucket=bucket, Key=f"py/simple/{PROJECT}/")["Body"].read().decode()
    assert f"{by_hand.name}#sha256={hashlib.sha256(by_hand.read_bytes()).hexdigest()}" in page
    assert f"{PROJECT}-2.0-py3-none-any.whl" in page

    index = f"{server.endpoint}/{bucket}/py/simple/"
    done = pip_install(venv, tmp_path, index, "other.pkg")  # any spelling of the name: PEP 503
    assert done.returncode == 0, done.stdout + done.stderr


def test_public_merges_into_an_existing_policy(server, s3, dist):
    bucket = new_bucket(s3)
    theirs = {"Sid": "Theirs", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/docs/*"}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]}))
    assert summary(server, str(dist), f"s3://{bucket}/py", "--public")["public"] == "set"
    statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statements[0] == theirs and statements[1]["Resource"] == f"arn:aws:s3:::{bucket}/py/*" and len(statements) == 2
    assert summary(server, str(dist), f"s3://{bucket}/py", "--public")["public"] == "already"
    assert len(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]) == 2


def test_mistakes_end_in_one_line(server, s3, dist, tmp_path):
    line = one_error(publish(server, str(dist), "s3://no-such-bucket-here/py"))
    assert "NoSuchBucket" in line and "no-such-bucket-here" in line

    env = hoard_env(server)
    env["HOARD_ROOT_SECRET_KEY"] = "wrong-secret-key-0123456789"
    assert "SignatureDoesNotMatch" in one_error(publish(server, str(dist), "s3://whatever/py", env=env))
    env["HOARD_ROOT_ACCESS_KEY"] = "NOSUCHACCESSKEY00001"
    assert "InvalidAccessKeyId" in one_error(publish(server, str(dist), "s3://whatever/py", env=env))

    bucket = new_bucket(s3)
    broken = tmp_path / "broken"
    broken.mkdir()
    build_wheel(broken, PROJECT, "4.0")
    (broken / f"{PROJECT}-5.0-py3-none-any.whl").write_bytes(b"not a zip file")
    line = one_error(publish(server, str(broken), f"s3://{bucket}/py"))
    assert f"{PROJECT}-5.0-py3-none-any.whl" in line and "not a readable zip file" in line
    assert objects(s3, bucket) == {}  # nothing written, not even the good wheel

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("no packages here")
    assert "no wheels" in one_error(publish(server, str(empty), f"s3://{bucket}/py"))

    done = publish(server, str(dist), "bucket/py")  # not an s3:// URL: a usage error
    assert done.returncode == 2 and "s3://BUCKET" in done.stderr and "Traceback" not in done.stderr


def test_concurrent_publishers_all_end_up_in_the_index(server, s3, tmp_path):
    """Three runs at once into one prefix: two of one project's same files, one of another
    project. Each file is uploaded once, and the pages written last list everything."""
    bucket = new_bucket(s3)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    build_wheel(first, "alpha", "1.0")
    build_sdist(first, "alpha", "1.0")
    build_wheel(second, "beta", "1.0")
    env = hoard_env(server)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "hoard", "publish", "pypi", str(d), f"s3://{bucket}/py", "--endpoint-url", server.endpoint, "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for d in (first, second, first)
    ]
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out + err
        reports.append(json.loads(out.splitlines()[-1]))
    alpha = sorted(p.name for p in first.iterdir())
    assert sorted(reports[0]["uploaded"] + reports[2]["uploaded"]) == alpha  # each file once
    assert sorted(reports[0]["already"] + reports[2]["already"]) == alpha
    root = s3.get_object(Bucket=bucket, Key="py/simple/")["Body"].read().decode()
    assert 'href="alpha/"' in root and 'href="beta/"' in root
    assert s3.get_object(Bucket=bucket, Key="py/simple/index.html")["Body"].read().decode() == root
    alpha_page = s3.get_object(Bucket=bucket, Key="py/simple/alpha/")["Body"].read().decode()
    assert all(name in alpha_page for name in alpha)
    assert "beta-1.0-py3-none-any.whl" in s3.get_object(Bucket=bucket, Key="py/simple/beta/index.html")["Body"].read().decode()
    # A project whose files are removed by hand: the next run, of any project, drops it from the
    # root page and leaves its page with no links.
    s3.delete_object(Bucket=bucket, Key="py/packages/beta/beta-1.0-py3-none-any.whl")
    s3.delete_object(Bucket=bucket, Key="py/packages/beta/beta-1.0-py3-none-any.whl.metadata")
    report = summary(server, str(first), f"s3://{bucket}/py")
    assert report["projects"] == ["alpha"] and report["uploaded"] == []
    assert 'href="beta/"' not in s3.get_object(Bucket=bucket, Key="py/simple/")["Body"].read().decode()
    for key in ("py/simple/beta/", "py/simple/beta/index.html"):
        assert "<a " not in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def test_public_refused_by_a_public_access_block(server, s3, dist):
    bucket = new_bucket(s3)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": False},
    )
    line = one_error(publish(server, str(dist), f"s3://{bucket}/py", "--public"))
    assert "AccessDenied" in line and "BlockPublicPolicy" in line and "published" in line
    assert f"py/simple/{PROJECT}/" in objects(s3, bucket)  # the packages and pages are there, private
    assert anonymous_get(f"{server.endpoint}/{bucket}/py/simple/")[0] == 403


# -- through the website endpoint ------------------------------------------------------------------
# BUCKET.s3-website.localhost does not resolve on every machine (this one's resolver has no
# *.localhost): pip is pointed at the website port as its HTTP proxy, which is how a request for
# http://BUCKET.s3-website.localhost:PORT/ reaches that port with that Host, as DNS would have it.


def website_index(server: HoardServer, bucket: str, credentials: str = "") -> str:
    return f"http://{credentials}{bucket}.s3-website.localhost:{server.web_port}/py/simple/"  # type: ignore[attr-defined]


def pip_install_via_website(venv: Path, tmp: Path, server: HoardServer, index: str, requirement: str) -> subprocess.CompletedProcess:
    proxy = f"http://127.0.0.1:{server.web_port}"  # type: ignore[attr-defined]
    host = index.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1].rsplit(":", 1)[0]
    # Plain HTTP to a host that is not 127.0.0.1: pip wants it named trusted.
    return pip(
        venv, tmp, "install", "-v", "--no-cache-dir", "--no-deps", "--only-binary", ":all:", "--proxy", proxy, "--trusted-host", host,
        "--index-url", index, requirement,
    )  # fmt: skip


def test_pip_installs_from_the_website_endpoint(server, s3, venv, tmp_path, public_index):
    bucket, _ = public_index
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    pip(venv, tmp_path, "uninstall", "-y", PROJECT)
    done = pip_install_via_website(venv, tmp_path, server, website_index(server, bucket), PROJECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed_version(venv) == "2.0"  # the newest
    assert f"{bucket}.s3-website.localhost" in done.stdout and f"{PROJECT}-2.0-py3-none-any.whl.metadata" in done.stdout
    done = pip_install_via_website(venv, tmp_path, server, website_index(server, bucket), f"{PROJECT}==1.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed_version(venv) == "1.0"  # pinned


def test_a_private_index_through_the_website_endpoint_needs_keys(server, s3, dist, venv, tmp_path):
    bucket = new_bucket(s3)
    summary(server, str(dist), f"s3://{bucket}/py")  # no --public
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    pip(venv, tmp_path, "uninstall", "-y", PROJECT)
    refused = pip_install_via_website(venv, tmp_path, server, website_index(server, bucket), f"{PROJECT}==1.0")
    assert refused.returncode != 0 and "(from versions: none)" in refused.stderr  # pip saw no page it could read
    conn = http.client.HTTPConnection("127.0.0.1", server.web_port, timeout=10)  # type: ignore[attr-defined]
    conn.request("GET", f"/py/simple/{PROJECT}/", headers={"Host": f"{bucket}.s3-website.localhost"})
    answer = conn.getresponse()
    assert answer.status == 403 and b"tinypkg-1.0" not in answer.read()
    conn.close()
    env = server.env()
    # Percent-encoded, as any user name and password in a URL: secret keys hold "/" and "+".
    keys = f"{quote(env['HOARD_ROOT_ACCESS_KEY'], safe='')}:{quote(env['HOARD_ROOT_SECRET_KEY'], safe='')}@"
    done = pip_install_via_website(venv, tmp_path, server, website_index(server, bucket, keys), f"{PROJECT}==1.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed_version(venv) == "1.0"
