"""Data keys in envelopes: sealed to a context, named by their master key, resealed on rotation."""

from __future__ import annotations

import base64
import os

import pytest

from hoard.crypto import keyfile, keys
from hoard.crypto.keys import (
    KeyEnvelopeError,
    MasterKey,
    WrongMasterKey,
    load_master_key,
    new_data_key,
    open_data_key,
    reseal,
    seal_data_key,
)

CTX = b"bucket/key/eid"


def test_round_trip_and_shape():
    master, data_key = MasterKey.generate(), new_data_key()
    sealed = seal_data_key(master, data_key, CTX)
    assert len(sealed) == keys.ENVELOPE_BYTES and sealed.startswith(keys.ENVELOPE_MAGIC)
    assert keys.envelope_key_id(sealed).hex() == master.key_id
    assert open_data_key(master, sealed, CTX) == data_key
    assert seal_data_key(master, data_key, CTX) != sealed  # a fresh nonce every time


def test_the_key_id_names_the_key_without_giving_it_away():
    raw = os.urandom(32)
    master = MasterKey(raw)
    assert master.key_id == MasterKey(raw).key_id != MasterKey.generate().key_id
    assert len(master.key_id) == 32 and raw.hex()[:32] != master.key_id
    assert raw.hex() not in repr(master)


def test_another_master_is_named():
    old, new = MasterKey.generate(), MasterKey.generate()
    sealed = seal_data_key(old, new_data_key(), CTX)
    with pytest.raises(WrongMasterKey) as e:
        open_data_key(new, sealed, CTX)
    assert e.value.sealed_by == old.key_id and e.value.given == new.key_id
    assert old.key_id in str(e.value) and new.key_id in str(e.value)


def test_another_context_fails():
    master = MasterKey.generate()
    with pytest.raises(KeyEnvelopeError):
        open_data_key(master, seal_data_key(master, new_data_key(), CTX), b"bucket/other/eid")


def test_any_change_fails():
    master = MasterKey.generate()
    sealed = seal_data_key(master, new_data_key(), CTX)
    for i in range(len(sealed)):
        for bit in (1, 128):
            changed = bytearray(sealed)
            changed[i] ^= bit
            with pytest.raises(KeyEnvelopeError):
                open_data_key(master, bytes(changed), CTX)
    for cut in (sealed[:-1], sealed + b"\0", b""):
        with pytest.raises(KeyEnvelopeError):
            open_data_key(master, cut, CTX)


def test_reseal_moves_to_the_new_master_and_can_be_run_again():
    old, new = MasterKey.generate(), MasterKey.generate()
    data_key = new_data_key()
    sealed = seal_data_key(old, data_key, CTX)
    moved = reseal(sealed, old, new, CTX)
    assert open_data_key(new, moved, CTX) == data_key
    with pytest.raises(WrongMasterKey):
        open_data_key(old, moved, CTX)
    assert reseal(moved, old, new, CTX) == moved
    with pytest.raises(KeyEnvelopeError):
        reseal(sealed, old, new, b"another")


@pytest.mark.parametrize("bad", [b"k" * 31, b"k" * 33])
def test_keys_are_32_bytes(bad):
    with pytest.raises(ValueError):
        MasterKey(bad)
    with pytest.raises(ValueError):
        seal_data_key(MasterKey.generate(), bad, CTX)


def test_ids_are_random_and_sized():
    assert len(keys.new_encryption_id()) == 16 and keys.new_encryption_id() != keys.new_encryption_id()
    assert len(new_data_key()) == 32 and new_data_key() != new_data_key()


def test_the_master_key_file_is_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    master, retired, path, made = load_master_key(None, None, "dep")
    assert made and retired == [] and path == tmp_path / "hoard" / "secrets" / "dep.master.key"
    assert load_master_key(None, None, "dep")[0].key_id == master.key_id
    raw = os.urandom(32)
    assert load_master_key(base64.b64encode(raw).decode(), None, "dep")[0].key_id == MasterKey(raw).key_id
    with pytest.raises(keyfile.KeyFileError, match="^HOARD_MASTER_KEY: the master key must be 32 bytes"):
        load_master_key("YWJj", None, "dep")
