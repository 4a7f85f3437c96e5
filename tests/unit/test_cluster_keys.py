"""The cluster key (hoard.cluster.keys): made random, written 0600 from the start, refused when
others may read it, given by file or variable, never shown, and never assumed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import stat
from pathlib import Path

import pytest

from hoard.cluster.keys import (
    ClusterKey,
    ClusterKeyring,
    LiveKeyring,
    keyring_from_text,
    live_keyring,
    load_cluster_keyring,
    new_cluster_key,
    read_key_file,
    write_key_file,
)
from hoard.crypto.keyfile import KeyFileError

KEY = ClusterKey(bytes(range(32)))
OTHER_KEY = ClusterKey(bytes(range(32, 64)))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "cluster.key"
    path.write_text(text)
    path.chmod(mode)
    return path


# -- the key --------------------------------------------------------------------------------
def test_a_new_key_is_32_random_bytes_as_base64():
    keys = [new_cluster_key() for _ in range(20)]
    assert all(len(base64.b64decode(key.text(), validate=True)) == 32 for key in keys)
    assert len({key.text() for key in keys}) == 20


def test_the_key_id_is_a_keyed_fingerprint():
    expected = hmac.new(bytes(range(32)), b"hoard-cluster-key-id", hashlib.sha256).hexdigest()[:16]
    assert KEY.key_id == expected == "72d45f3941b0cdf8"
    assert ClusterKey.from_text(KEY.text(), "test").key_id == KEY.key_id


def test_repr_str_and_logs_show_the_id_never_the_key(caplog):
    keyring = ClusterKeyring(KEY, OTHER_KEY)
    caplog.set_level(logging.INFO)
    logging.getLogger("hoard.test").info("keys %s %r %s", KEY, KEY, keyring)
    shown = " ".join([repr(KEY), str(KEY), f"{KEY}", repr(keyring), str(keyring), caplog.text])
    for key in (KEY, OTHER_KEY):
        assert key.key_id in shown
        assert key.text() not in shown
        assert key.text()[:16] not in shown
    assert bytes(range(32)).hex()[:16] not in shown


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_a_key_is_32_bytes(length):
    with pytest.raises(ValueError):
        ClusterKey(bytes(length))


def test_a_bad_key_text_is_not_quoted_in_the_error():
    secret_looking = base64.b64encode(b"k" * 31).decode()
    with pytest.raises(KeyFileError) as refused:
        ClusterKey.from_text(secret_looking, "HOARD_CLUSTER_KEY")
    assert secret_looking not in str(refused.value)
    assert "HOARD_CLUSTER_KEY" in str(refused.value)


# -- the keyring ----------------------------------------------------------------------------
def test_keyring_finds_its_keys_by_id():
    keyring = ClusterKeyring(KEY, OTHER_KEY)
    assert keyring.find(KEY.key_id) is KEY
    assert keyring.find(OTHER_KEY.key_id) is OTHER_KEY
    assert keyring.find("0123456789abcdef") is None
    assert ClusterKeyring(KEY).find(OTHER_KEY.key_id) is None


def test_rotation_steps():
    step1 = ClusterKeyring(KEY).accepting(OTHER_KEY)
    assert (step1.current, step1.accepted) == (KEY, OTHER_KEY)
    step2 = step1.promoted()
    assert (step2.current, step2.accepted) == (OTHER_KEY, KEY)
    step3 = step2.retired()
    assert (step3.current, step3.accepted) == (OTHER_KEY, None)


def test_a_rotation_is_finished_before_another_begins():
    with pytest.raises(ValueError):
        ClusterKeyring(KEY, OTHER_KEY).accepting(new_cluster_key())
    with pytest.raises(ValueError):
        ClusterKeyring(KEY).promoted()


def test_the_same_key_twice_is_no_rotation():
    with pytest.raises(ValueError):
        ClusterKeyring(KEY, ClusterKey(bytes(range(32))))


# -- the file -------------------------------------------------------------------------------
def test_file_round_trip_keeps_order(tmp_path):
    path = tmp_path / "cluster.key"
    write_key_file(path, ClusterKeyring(KEY, OTHER_KEY))
    assert path.read_text() == f"{KEY.text()}\n{OTHER_KEY.text()}\n"
    keyring = read_key_file(path)
    assert (keyring.current.key_id, keyring.accepted.key_id) == (KEY.key_id, OTHER_KEY.key_id)


def test_file_is_created_0600_never_chmod_after(tmp_path, monkeypatch):
    # With no umask to help and every chmod made to fail, only a file created 0600 ends up 0600.
    def no_chmod(*args, **kwargs):
        raise AssertionError("the key file's mode is set after it was created")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    old_umask = os.umask(0)
    try:
        path = tmp_path / "new" / "cluster.key"
        write_key_file(path, ClusterKeyring(new_cluster_key()))
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["cluster.key"]  # no temporary left


def test_file_is_made_durable_through_durable_replace_file(tmp_path, monkeypatch):
    calls: list[tuple[Path, int]] = []
    monkeypatch.setattr("hoard.durable.replace_file", lambda path, data, mode=0o600: calls.append((path, mode)))
    write_key_file(tmp_path / "cluster.key", ClusterKeyring(KEY))
    assert calls == [(tmp_path / "cluster.key", 0o600)]


def test_an_existing_key_is_not_overwritten_unless_asked(tmp_path):
    path = tmp_path / "cluster.key"
    write_key_file(path, ClusterKeyring(KEY))
    with pytest.raises(KeyFileError, match="already holds a cluster key"):
        write_key_file(path, ClusterKeyring(OTHER_KEY))
    assert read_key_file(path).current.key_id == KEY.key_id
    write_key_file(path, ClusterKeyring(KEY).accepting(OTHER_KEY), replace=True)
    assert read_key_file(path).accepted.key_id == OTHER_KEY.key_id
    assert _mode(path) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o602, 0o660])
def test_a_file_open_to_group_or_others_is_refused(tmp_path, mode):
    path = _key_file(tmp_path, KEY.text() + "\n", mode)
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path)
    message = str(refused.value)
    assert f"permissions {mode:04o}" in message and "too open" in message and f"chmod 600 {path}" in message
    assert KEY.text() not in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_file_is_read(tmp_path, mode):
    assert read_key_file(_key_file(tmp_path, KEY.text() + "\n", mode)).current.key_id == KEY.key_id


def test_a_folder_is_no_key_file(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyFileError):
        read_key_file(folder)


def test_a_missing_file(tmp_path):
    with pytest.raises(KeyFileError, match="cannot read the cluster key file"):
        read_key_file(tmp_path / "absent.key")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "no cluster key"),
        ("\n\n", "no cluster key"),
        (f"{KEY.text()}\n{OTHER_KEY.text()}\n{new_cluster_key().text()}\n", "3 keys"),
        (f"{KEY.text()}\n{KEY.text()}\n", "the same cluster key twice"),
        ("not a key\n", "not base64"),
        ("\u00e9t\u00e9\n", "not ASCII"),
    ],
)
def test_a_bad_file_says_what_is_wrong(tmp_path, text, problem):
    with pytest.raises(KeyFileError, match=problem):
        read_key_file(_key_file(tmp_path, text))


# -- the environment ------------------------------------------------------------------------
def test_key_from_the_variable():
    assert load_cluster_keyring({"HOARD_CLUSTER_KEY": KEY.text()}).current.key_id == KEY.key_id


def test_two_keys_from_the_variable_comma_separated():
    keyring = load_cluster_keyring({"HOARD_CLUSTER_KEY": f"{OTHER_KEY.text()},{KEY.text()}"})
    assert (keyring.current.key_id, keyring.accepted.key_id) == (OTHER_KEY.key_id, KEY.key_id)


def test_key_file_from_the_variable(tmp_path):
    path = tmp_path / "cluster.key"
    write_key_file(path, ClusterKeyring(KEY))
    assert load_cluster_keyring({"HOARD_CLUSTER_KEY_FILE": str(path)}).current.key_id == KEY.key_id


def test_the_process_environment_is_read_by_default(tmp_path, monkeypatch):
    path = tmp_path / "cluster.key"
    write_key_file(path, ClusterKeyring(OTHER_KEY))
    monkeypatch.delenv("HOARD_CLUSTER_KEY", raising=False)
    monkeypatch.setenv("HOARD_CLUSTER_KEY_FILE", str(path))
    assert load_cluster_keyring().current.key_id == OTHER_KEY.key_id


def test_the_key_file_named_by_the_variable_is_checked_too(tmp_path):
    path = _key_file(tmp_path, KEY.text() + "\n", 0o644)
    with pytest.raises(KeyFileError, match="too open"):
        load_cluster_keyring({"HOARD_CLUSTER_KEY_FILE": str(path)})


@pytest.mark.parametrize("environ", [{}, {"HOARD_CLUSTER_KEY": "", "HOARD_CLUSTER_KEY_FILE": ""}, {"HOARD_MASTER_KEY": KEY.text()}])
def test_no_default_key(environ):
    with pytest.raises(KeyFileError, match="no cluster key") as refused:
        load_cluster_keyring(environ)
    assert "there is no default" in str(refused.value)


def test_both_ways_at_once_is_refused(tmp_path):
    with pytest.raises(KeyFileError, match="one way"):
        load_cluster_keyring({"HOARD_CLUSTER_KEY": KEY.text(), "HOARD_CLUSTER_KEY_FILE": str(tmp_path / "k")})


def test_keyring_from_text_takes_lines_or_commas():
    by_lines = keyring_from_text(f"{KEY.text()}\n{OTHER_KEY.text()}\n", "file")
    by_comma = keyring_from_text(f" {KEY.text()} , {OTHER_KEY.text()} ", "variable")
    assert repr(by_lines) == repr(by_comma)


# -- a node's keys follow its key file ---------------------------------------------------------
def _allow_any(ring: ClusterKeyring) -> str:
    return ""


def test_a_live_keyring_takes_up_its_file_when_it_changes(tmp_path):
    path = tmp_path / "cluster.key"
    old, new = new_cluster_key(), new_cluster_key()
    write_key_file(path, ClusterKeyring(old))
    live = LiveKeyring(read_key_file(path), path)
    assert live.reload(_allow_any) is None  # unchanged
    write_key_file(path, ClusterKeyring(old, new), replace=True)  # the rotation's file copied in
    taken = live.reload(_allow_any)
    assert taken is not None and live.key_ids() == (old.key_id, new.key_id)
    assert live.current.text() == old.text() and live.find(new.key_id).text() == new.text()
    assert live.reload(_allow_any) is None  # taken once


def test_a_live_keyring_refuses_a_file_its_cluster_does_not_list(tmp_path):
    path = tmp_path / "cluster.key"
    old, stranger = new_cluster_key(), new_cluster_key()
    write_key_file(path, ClusterKeyring(old))
    live = LiveKeyring(read_key_file(path), path)
    write_key_file(path, ClusterKeyring(stranger), replace=True)
    with pytest.raises(KeyFileError, match="not taken up: not listed"):
        live.reload(lambda ring: "not listed")
    assert live.key_ids() == (old.key_id, None)


def test_promote_and_retire_write_the_file_first_and_are_done_once(tmp_path):
    path = tmp_path / "cluster.key"
    old, new = new_cluster_key(), new_cluster_key()
    write_key_file(path, ClusterKeyring(old))
    live = LiveKeyring(read_key_file(path), path)
    with pytest.raises(KeyFileError, match="does not hold key"):
        live.promote(new.key_id)
    with pytest.raises(KeyFileError, match="promote it first"):
        live.retire(new.key_id)
    write_key_file(path, ClusterKeyring(old, new), replace=True)
    live.reload(_allow_any)
    live.promote(new.key_id)
    live.promote(new.key_id)  # again: no change
    ring = read_key_file(path)
    assert (ring.current.key_id, ring.accepted.key_id) == (new.key_id, old.key_id) == live.key_ids()
    assert live.reload(_allow_any) is None  # its own write is not news
    live.retire(new.key_id)
    live.retire(new.key_id)
    assert read_key_file(path).accepted is None and live.key_ids() == (new.key_id, None)


def test_keys_from_the_environment_cannot_be_stepped(tmp_path):
    old, new = new_cluster_key(), new_cluster_key()
    live = live_keyring(f"{old.text()},{new.text()}", None)
    assert live.reload(_allow_any) is None
    with pytest.raises(KeyFileError, match="HOARD_CLUSTER_KEY"):
        live.promote(new.key_id)
