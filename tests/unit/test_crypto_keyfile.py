"""Keys kept apart from the data folder: the secrets key and the master key share one loader."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from hoard.crypto import keyfile
from hoard.iam import secrets


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def test_a_value_wins_and_names_no_file(tmp_path):
    raw = os.urandom(32)
    key, path, made = keyfile.load_key(base64.b64encode(raw).decode(), tmp_path / "nope", tmp_path / "default", what="k", setting="S")
    assert (key, path, made) == (raw, None, False)


def test_the_default_file_is_made_once_private(config_home):
    default = keyfile.config_key_file("dep", ".master.key")
    assert default == config_home / "hoard" / "secrets" / "dep.master.key"
    key, path, made = keyfile.load_key(None, None, default, what="master key", setting="S")
    assert made and path == default and len(key) == 32
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert stat.S_IMODE(default.parent.stat().st_mode) == 0o700
    again = keyfile.load_key(None, None, default, what="master key", setting="S")
    assert again == (key, default, False)


def test_a_named_file_is_read_never_made(tmp_path):
    named = tmp_path / "k"
    with pytest.raises(keyfile.KeyFileError, match="the master key file .* does not exist"):
        keyfile.load_key(None, named, tmp_path / "default", what="master key", setting="S")
    assert not named.exists()
    raw = os.urandom(32)
    named.write_text(base64.b64encode(raw).decode() + "\n")
    assert keyfile.load_key(None, named, tmp_path / "default", what="master key", setting="S") == (raw, named, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [("not base64!", "S: not base64"), (base64.b64encode(b"short").decode(), "S: the master key must be 32 bytes .*, not 5")],
)
def test_bad_values_are_refused(tmp_path, text, message):
    with pytest.raises(keyfile.KeyFileError, match=message):
        keyfile.load_key(text, None, tmp_path / "default", what="master key", setting="S")


def test_the_secrets_key_keeps_its_file_and_messages(config_home, tmp_path):
    assert secrets.default_key_file("dep") == config_home / "hoard" / "secrets" / "dep.key"
    key, path, made = secrets.load_key(None, None, "dep")
    assert made and path == secrets.default_key_file("dep")
    assert secrets.load_key(None, None, "dep") == (key, path, False)
    with pytest.raises(secrets.SecretsKeyError, match=r"^HOARD_SECRETS_KEY: the secrets key must be 32 bytes \(base64 of 32 random bytes\), not 3$"):
        secrets.load_key("YWJj", None, "dep")
    with pytest.raises(secrets.SecretsKeyError, match=r"^the secrets key file .*missing does not exist$"):
        secrets.load_key(None, tmp_path / "missing", "dep")
