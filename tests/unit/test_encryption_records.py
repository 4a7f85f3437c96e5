"""A version's encryption and its stored sizes, in the record files on the drives: written only
when set (a version kept as sent has the record it always had) and read back whole."""

from __future__ import annotations

import dataclasses

from hoard.model import Encryption, ObjectRecord, Placement, Segment
from hoard.storage import record as record_file

PLAIN = ObjectRecord(
    bucket="b", key="k", size=3_000_000, etag='"e-2"', last_modified=1.5, storage_class="STANDARD", headers={},
    segments=(Segment("s1", 2_000_000, '"p1"', ""), Segment("s2", 1_000_000, '"p2"', "")), multipart=True,
    placement=Placement(0, 2, 1, (0, 1, 2)), data_id="d",
)  # fmt: skip


def test_a_record_without_encryption_is_written_as_before() -> None:
    encoded = record_file.encode(PLAIN, 0)
    assert b"encryption" not in encoded and b"stored" not in encoded
    assert record_file.decode(encoded).record == PLAIN
    assert PLAIN.stored_size == PLAIN.size


def test_encryption_and_stored_sizes_round_trip() -> None:
    sse_c = Encryption("SSE-C", "ab" * 16, "c2VhbGVk", customer_key_md5="bWQ1", customer_fingerprint="ZnA=")
    encrypted = dataclasses.replace(
        PLAIN, encryption=sse_c, segments=(Segment("s1", 2_000_000, '"p1"', "", 2_000_056), Segment("s2", 1_000_000, '"p2"', "", 1_000_028))
    )
    assert encrypted.stored_size == 3_000_084 and encrypted.size == 3_000_000
    back = record_file.decode(record_file.encode(encrypted, 1)).record
    assert back == encrypted and back.encryption == sse_c
    assert Encryption.from_json(sse_c.to_json()) == sse_c and "kms_key_id" not in sse_c.to_json()
