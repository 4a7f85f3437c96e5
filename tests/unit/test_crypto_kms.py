"""The built-in KMS: keys sealed by the master key in one document, named as AWS names them."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from hoard.crypto.keys import MasterKey, WrongMasterKey
from hoard.crypto.kms import (
    DEFAULT_ALIAS,
    BuiltinKms,
    KeyManager,
    KmsAlreadyExists,
    KmsInvalidCiphertext,
    KmsInvalidRequest,
    KmsKeyDisabled,
    KmsKeyNotFound,
    context_bytes,
)

REGION, ACCOUNT = "eu-west-3", "123456789012"
CTX = {"aws:s3:arn": "arn:aws:s3:::bucket/key"}


class Document:
    """Where the server would keep the document (every drive): here, a variable."""

    def __init__(self) -> None:
        self.raw: bytes | None = None
        self.saves = 0

    def load(self) -> bytes | None:
        return self.raw

    def save(self, raw: bytes) -> None:
        self.raw = raw
        self.saves += 1


def kms(master: MasterKey, doc: Document) -> BuiltinKms:
    return BuiltinKms(master, doc.load, doc.save, region=REGION, account=ACCOUNT)


@pytest.fixture
def doc():
    return Document()


@pytest.fixture
def master():
    return MasterKey.generate()


def test_it_is_a_key_manager(master, doc):
    manager: KeyManager = kms(master, doc)
    assert manager.list_keys() == []


def test_create_list_and_resolve_by_every_name(master, doc):
    store = kms(master, doc)
    key = store.create_key("for the backups", alias="alias/backups")
    assert uuid.UUID(key.key_id) and key.arn == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key.key_id}"
    assert (key.description, key.state, key.aliases) == ("for the backups", "Enabled", ("alias/backups",))
    other = store.create_key()
    assert [k.key_id for k in store.list_keys()] == [key.key_id, other.key_id]
    for name in (key.key_id, key.arn, "alias/backups", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/backups"):
        assert store.resolve(name) == key
    # Another process sees them in the document.
    assert [k.key_id for k in kms(master, doc).list_keys()] == [key.key_id, other.key_id]


def test_the_material_is_sealed_in_the_document(master, doc):
    store = kms(master, doc)
    key = store.create_key("d")
    record = json.loads(doc.raw)["keys"][0]
    assert record["id"] == key.key_id and set(record) == {"id", "description", "created", "state", "material"}
    plain, sealed = store.generate_data_key(key.key_id, CTX)
    assert plain not in doc.raw and plain.hex().encode() not in doc.raw


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("1234abcd-12ab-34cd-56ef-1234567890ab", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab' does not exist"),
        (f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab", "does not exist"),
        ("alias/nope", f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/nope is not found."),
        ("aws/s3", "Invalid keyId aws/s3"),
        ("", "Invalid keyId"),
        ("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "Invalid keyId"),
    ],
)
def test_unknown_keys_are_s3s_kms_error(master, doc, name, message):
    store = kms(master, doc)
    store.create_key()
    with pytest.raises(KmsKeyNotFound, match=message.replace(".", r"\.")) as e:
        store.generate_data_key(name, CTX)
    assert (e.value.code, e.value.status) == ("KMS.NotFoundException", 400)


def test_another_region_or_account_is_not_ours(master, doc):
    store = kms(master, doc)
    key = store.create_key()
    with pytest.raises(KmsKeyNotFound):
        store.resolve(key.arn.replace(ACCOUNT, "999999999999"))
    with pytest.raises(KmsKeyNotFound):
        store.resolve(key.arn.replace(REGION, "us-east-1"))


def test_data_keys_open_only_with_their_context(master, doc):
    store = kms(master, doc)
    key = store.create_key()
    plain, sealed = store.generate_data_key(key.arn, CTX)
    assert len(plain) == 32
    assert store.decrypt(sealed, CTX) == plain
    assert kms(master, doc).decrypt(sealed, CTX) == plain
    with pytest.raises(KmsInvalidCiphertext):
        store.decrypt(sealed, {"aws:s3:arn": "arn:aws:s3:::bucket/other"})
    with pytest.raises(KmsInvalidCiphertext):
        store.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), CTX)
    with pytest.raises(KmsInvalidCiphertext):
        store.decrypt(b"junk", CTX)


def test_the_context_is_order_free():
    assert context_bytes({"a": "1", "b": "2"}) == context_bytes({"b": "2", "a": "1"}) != context_bytes({"a": "1"})


def test_a_key_from_another_store_is_not_found(master, doc):
    other = kms(MasterKey.generate(), Document())
    _, sealed = other.generate_data_key(other.create_key().key_id, CTX)
    with pytest.raises(KmsKeyNotFound):
        kms(master, doc).decrypt(sealed, CTX)


def test_a_disabled_key_refuses_and_comes_back(master, doc):
    store = kms(master, doc)
    key = store.create_key()
    _, sealed = store.generate_data_key(key.key_id, CTX)
    assert store.set_enabled(key.key_id, False).state == "Disabled"
    for use in (lambda: store.generate_data_key(key.key_id, CTX), lambda: store.decrypt(sealed, CTX)):
        with pytest.raises(KmsKeyDisabled) as e:
            use()
        assert e.value.code == "KMS.DisabledException" and key.arn in e.value.message
    assert store.resolve(key.key_id).state == "Disabled"
    store.set_enabled(key.arn, True)
    assert len(store.decrypt(sealed, CTX)) == 32


def test_another_process_sees_changes_after_refresh(master, doc):
    first, second = kms(master, doc), kms(master, doc)
    key = first.create_key()
    assert second.resolve(key.key_id) == key  # unknown names read the document again
    first.set_enabled(key.key_id, False)
    assert second.resolve(key.key_id).enabled
    second.refresh()
    assert not second.resolve(key.key_id).enabled


def test_aliases(master, doc):
    store = kms(master, doc)
    store.create_key(alias="alias/a-b_c/d")
    with pytest.raises(KmsAlreadyExists):
        store.create_key(alias="alias/a-b_c/d")
    for bad in ("a", "alias/", "alias/sp ace", "alias/aws/mine", "alias/" + "x" * 251):
        with pytest.raises(KmsInvalidRequest):
            store.create_key(alias=bad)
    assert len(store.list_keys()) == 1


def test_the_default_key_is_made_once(master, doc):
    store = kms(master, doc)
    key = store.default_key()
    assert key.aliases == (DEFAULT_ALIAS,) and store.default_key() == key
    assert store.resolve("alias/aws/s3") == key


def test_rotation_reseals_the_document_and_refuses_the_old_master(master, doc):
    store = kms(master, doc)
    key = store.create_key(alias="alias/k")
    plain, sealed = store.generate_data_key(key.key_id, CTX)
    new = MasterKey.generate()
    store.reseal_keys(master, new)
    assert store.master_key_id == new.key_id
    assert store.decrypt(sealed, CTX) == plain  # objects' sealed keys need no rewrite
    assert kms(new, doc).decrypt(sealed, CTX) == plain
    with pytest.raises(WrongMasterKey) as e:
        kms(master, doc).list_keys()
    assert (e.value.sealed_by, e.value.given) == (new.key_id, master.key_id)
    store.reseal_keys(master, new)  # run again after an interruption: harmless
    assert kms(new, doc).resolve("alias/k") == key


def test_an_unreadable_document_is_a_server_fault(master, doc):
    doc.raw = b"{not json"
    with pytest.raises(Exception) as e:
        kms(master, doc).list_keys()
    assert getattr(e.value, "status", None) == 500


def test_threads_creating_at_once_lose_nothing(master, doc):
    store = kms(master, doc)
    threads = [threading.Thread(target=lambda: [store.create_key() for _ in range(5)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.list_keys()) == 40 == len(kms(master, doc).list_keys())
