"""Remotes (hoard.replication.remotes): what a name, URL and region may be, the list kept on every
drive with its secrets sealed and the newest generation winning, and a client's errors in one line."""

from __future__ import annotations

import json
import secrets
import socket

import pytest

from hoard.iam.secrets import SecretBox, SecretsKeyError
from hoard.replication.remotes import (
    REMOTES_FILE,
    Remote,
    RemoteError,
    Remotes,
    StoredRemote,
    check_ca_bundle,
    check_name,
    check_region,
    check_url,
    describe,
    unreachable,
)
from hoard.storage.pool import Storage

SECRET = "remote-secret-key/0123456789abcdefghijKLMN"


@pytest.fixture
def storage(tmp_path):
    pool = Storage([tmp_path / f"disk{i}" for i in range(4)])
    pool.lock()
    pool.open()
    return pool


@pytest.fixture
def box():
    return SecretBox(secrets.token_bytes(32))


def all_bytes(storage: Storage) -> bytes:
    return b"".join(p.read_bytes() for d in storage.drives for p in d.root.rglob("*") if p.is_file() and p.name != "lock")


@pytest.mark.parametrize("name", ["east", "dr-site.2_b", "A" * 64, "0"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "a b", "a/b", "a" * 65, "é", "a:b", "a\n"])
def test_bad_names(name):
    with pytest.raises(RemoteError):
        check_name(name)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("https://s3.us-east-1.amazonaws.com/", "https://s3.us-east-1.amazonaws.com"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("http://backup", "http://backup"),
    ],
)
def test_good_urls(url, kept):
    assert check_url(url) == kept


@pytest.mark.parametrize(
    "url",
    ["", "127.0.0.1:9000", "ftp://h", "http://", "http://h:0", "http://h:65536", "http://h:port", "http://h/bucket", "http://h?x=1",
     "http://h#f", "http://user:pw@h", " http://h", "http://h h", "http://h_:1"],
)  # fmt: skip
def test_bad_urls(url):
    with pytest.raises(RemoteError):
        check_url(url)


def test_regions_and_ca_bundles(tmp_path):
    assert check_region("eu-west-3") == "eu-west-3"
    for bad in ("", "EU", "us east", "x" * 33):
        with pytest.raises(RemoteError):
            check_region(bad)
    assert check_ca_bundle("", "http://h") == ""
    with pytest.raises(RemoteError, match="https"):
        check_ca_bundle("/etc/ssl/certs/ca-certificates.crt", "http://h")
    with pytest.raises(RemoteError, match="absolute"):
        check_ca_bundle("ca.pem", "https://h")
    with pytest.raises(RemoteError, match="cannot use"):
        check_ca_bundle(str(tmp_path / "missing.pem"), "https://h")
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(RemoteError, match="cannot use"):
        check_ca_bundle(str(tmp_path / "junk.pem"), "https://h")


def test_kept_on_every_drive_sealed_and_newest_wins(storage, box):
    remotes = Remotes(storage, box)
    assert remotes.load() == {} and remotes.listed() == []
    east = Remote("east", "http://127.0.0.1:9000", "AKEAST", SECRET, "eu-west-3")
    remotes.change(lambda current: {**current, "east": remotes.seal(east)})
    assert remotes.load() == {"east": east}
    assert [r.name for r in remotes.listed()] == ["east"] and remotes.listed()[0].sealed_secret.startswith("sealed:v1:")
    for drive in storage.drives:
        doc = json.loads((drive.system / REMOTES_FILE).read_bytes())
        assert doc["generation"] == 1 and doc["remotes"][0]["access_key"] == "AKEAST"
    assert SECRET.encode() not in all_bytes(storage)
    # A drive away during the next change keeps generation 1; the others' generation 2 wins.
    stale = (storage.drives[3].system / REMOTES_FILE).read_bytes()
    west = Remote("west", "https://backup.example", "AKWEST", SECRET + "2")
    remotes.change(lambda current: {**current, "west": remotes.seal(west)})
    (storage.drives[3].system / REMOTES_FILE).write_bytes(stale)
    (storage.drives[2].system / REMOTES_FILE).write_bytes(b"{damaged")
    assert set(remotes.load()) == {"east", "west"}
    # A change that changes nothing writes nothing; one that raises writes nothing either.
    remotes.change(lambda current: current)
    assert json.loads((storage.drives[0].system / REMOTES_FILE).read_bytes())["generation"] == 2

    def refuse(current):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        remotes.change(refuse)
    remotes.change(lambda current: {k: v for k, v in current.items() if k != "east"})
    assert set(remotes.load()) == {"west"}


def test_a_sealed_secret_opens_only_for_its_remote_and_key(storage, box):
    remotes = Remotes(storage, box)
    sealed = remotes.seal(Remote("east", "http://h", "AK", SECRET))
    moved = StoredRemote("west", "http://h", "AK", sealed.sealed_secret)
    remotes.change(lambda current: {"west": moved})
    with pytest.raises(SecretsKeyError):
        remotes.load()
    remotes.change(lambda current: {"east": sealed})
    with pytest.raises(SecretsKeyError):
        Remotes(storage, SecretBox(secrets.token_bytes(32))).load()
    assert Remotes(storage, box).load()["east"].secret_key == SECRET


def test_the_secret_is_never_shown():
    remote = Remote("east", "http://h", "AK", SECRET)
    assert SECRET not in repr(remote) and SECRET not in str(remote)


def test_client_errors_in_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    client = Remote("east", f"http://127.0.0.1:{port}", "AK", SECRET).s3_client(timeout=2)
    assert client.meta.config.retries["total_max_attempts"] == 1
    with pytest.raises(Exception) as e:
        client.list_buckets()
    assert unreachable(e.value)
    assert describe(e.value) == f'Could not connect to the endpoint URL: "http://127.0.0.1:{port}/"'

    class Refused(Exception):
        response = {"Error": {"Code": "AccessDenied", "Message": "Access\nDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}

    class Busy(Exception):
        response = {"Error": {"Code": "SlowDown", "Message": "Reduce your request rate."}, "ResponseMetadata": {"HTTPStatusCode": 503}}

    assert describe(Refused()) == "AccessDenied: Access Denied" and not unreachable(Refused())
    assert unreachable(Busy())
    assert describe(ValueError("bad\nthing")) == "ValueError: bad thing"
