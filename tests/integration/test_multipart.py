"""Multipart uploads with boto3 against a real server.

CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload,
GetObject/HeadObject with partNumber, the multipart ETag, checksums (COMPOSITE and FULL_OBJECT)
and the errors S3 documents for each.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest
from awscrt import checksums as crt
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MiB = 1024 * 1024
PART = 5 * MiB  # the smallest part S3 allows, except for the last one


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(parts: list[bytes]) -> str:
    """S3's ETag of a multipart object: MD5 of the concatenated binary part MD5s, then -N."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crt.crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return crt.crc64nvme(data).to_bytes(8, "big")
    raise AssertionError(algorithm)


def error(exc: pytest.ExceptionInfo) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def upload_parts(s3, bucket: str, key: str, upload_id: str, parts: list[bytes], **extra) -> list[dict]:
    done = []
    for number, body in enumerate(parts, start=1):
        response = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **extra)
        assert response["ETag"] == f'"{md5_hex(body)}"'
        done.append({"PartNumber": number, "ETag": response["ETag"]})
    return done


def listed_upload_ids(s3, bucket: str) -> list[str]:
    return [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@pytest.fixture(scope="module")
def blobs():
    """Two full-size parts and a small last part, random so that no part equals another."""
    return [os.urandom(PART), os.urandom(PART + 12345), os.urandom(777)]


# -- the whole path -------------------------------------------------------------------------------
def test_create_upload_complete(s3, bucket, blobs):
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="obj", ContentType="text/plain", Metadata={"colour": "blue"}
    )
    assert created["Bucket"] == bucket and created["Key"] == "obj"
    upload_id = created["UploadId"]
    assert upload_id in listed_upload_ids(s3, bucket)
    # Nothing is visible before completion.
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="obj")
    assert error(exc)[0] == 404

    parts = upload_parts(s3, bucket, "obj", upload_id, blobs)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload_id, MultipartUpload={"Parts": parts})
    expected_etag = multipart_etag(blobs)
    assert done["ETag"] == expected_etag
    assert done["Bucket"] == bucket and done["Key"] == "obj"
    assert done["Location"]

    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ETag"] == expected_etag
    assert head["ContentLength"] == sum(map(len, blobs))
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"colour": "blue"}
    body = s3.get_object(Bucket=bucket, Key="obj")["Body"].read()
    assert body == b"".join(blobs)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["ETag"], o["Size"]) for o in listed] == [("obj", expected_etag, len(body))]
    # Completed uploads are gone.
    assert upload_id not in listed_upload_ids(s3, bucket)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="obj", UploadId=upload_id)
    assert error(exc) == (404, "NoSuchUpload")


def test_get_and_head_by_part_number(s3, bucket, blobs):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    parts = upload_parts(s3, bucket, "parts", upload_id, blobs)
    s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload_id, MultipartUpload={"Parts": parts})
    total = sum(map(len, blobs))
    start = 0
    for number, blob in enumerate(blobs, start=1):
        got = s3.get_object(Bucket=bucket, Key="parts", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {start}-{start + len(blob) - 1}/{total}"
        assert got["PartsCount"] == 3
        assert got["ContentLength"] == len(blob)
        assert got["ETag"] == multipart_etag(blobs)
        assert got["Body"].read() == blob
        head = s3.head_object(Bucket=bucket, Key="parts", PartNumber=number)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["ContentLength"] == len(blob)
        assert head["PartsCount"] == 3
        start += len(blob)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="parts", PartNumber=4)
    assert error(exc) == (400, "InvalidPart")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="parts", PartNumber=1, Range="bytes=0-1")
    assert error(exc)[0] == 400

    # A single-part object is its own part 1.
    s3.put_object(Bucket=bucket, Key="single", Body=b"hello")
    got = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert got["Body"].read() == b"hello"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="single", PartNumber=2)
    assert error(exc) == (400, "InvalidPart")


# -- errors on completion ------------------------------------------------------------------------
@pytest.fixture
def uploaded(s3, bucket, blobs):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
    parts = upload_parts(s3, bucket, "obj", upload_id, blobs)
    return upload_id, parts


def complete_error(s3, bucket: str, upload_id: str, parts: list[dict], key: str = "obj") -> tuple[int, str]:
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    return error(exc)


def test_invalid_part(s3, bucket, uploaded, blobs):
    upload_id, parts = uploaded
    wrong_etag = [parts[0], {"PartNumber": 2, "ETag": f'"{md5_hex(b"something else")}"'}, parts[2]]
    assert complete_error(s3, bucket, upload_id, wrong_etag) == (400, "InvalidPart")
    missing = [*parts, {"PartNumber": 4, "ETag": parts[0]["ETag"]}]
    assert complete_error(s3, bucket, upload_id, missing) == (400, "InvalidPart")
    # A failed completion leaves the upload as it was: it can still complete.
    s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(blobs)


def test_invalid_part_order(s3, bucket, uploaded):
    upload_id, parts = uploaded
    assert complete_error(s3, bucket, upload_id, [parts[1], parts[0], parts[2]]) == (400, "InvalidPartOrder")
    assert complete_error(s3, bucket, upload_id, [parts[0], parts[2], parts[1]]) == (400, "InvalidPartOrder")


def test_part_listed_twice_is_one_part(s3, bucket, uploaded, blobs):
    """A part sent twice may be listed twice (both sends were answered): it is one part, the
    one stored, as long as one of its entries names it."""
    upload_id, parts = uploaded
    stale = {"PartNumber": parts[1]["PartNumber"], "ETag": '"' + "0" * 32 + '"'}
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="obj", UploadId=upload_id, MultipartUpload={"Parts": [parts[0], stale, parts[1], parts[2]]}
    )
    assert done["ETag"] == multipart_etag(blobs)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(blobs)


def test_entity_too_small(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    # Part 1 is one byte short of 5 MiB: only the last part may be smaller.
    parts = upload_parts(s3, bucket, "small", upload_id, [b"a" * (PART - 1), b"b" * 10])
    assert complete_error(s3, bucket, upload_id, parts, key="small") == (400, "EntityTooSmall")
    # Alone, a small part is the last part and fine.
    s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=upload_id, MultipartUpload={"Parts": parts[:1]})
    assert s3.head_object(Bucket=bucket, Key="small")["ContentLength"] == PART - 1


def test_empty_part_list_is_malformed(s3, bucket, uploaded):
    upload_id, _ = uploaded
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload_id, MultipartUpload={"Parts": []})
    assert error(exc) == (400, "MalformedXML")


def test_no_such_upload(s3, bucket):
    fake = "no-such-upload-id"
    calls = [
        lambda uid: s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00"'}]}
        ),
        lambda uid: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid),
        lambda uid: s3.list_parts(Bucket=bucket, Key="k", UploadId=uid),
        lambda uid: s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call(fake)
        assert error(exc) == (404, "NoSuchUpload")

    # An aborted upload is as unknown as one that never was.
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call(upload_id)
        assert error(exc) == (404, "NoSuchUpload")
    # An upload id is bound to its key.
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="other", UploadId=upload_id)
    assert error(exc) == (404, "NoSuchUpload")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_no_such_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket="no-such-bucket-for-multipart", Key="k")
    assert error(exc) == (404, "NoSuchBucket")


def test_abort_removes_the_upload(s3, bucket):
    keep = s3.create_multipart_upload(Bucket=bucket, Key="keep")["UploadId"]
    drop = s3.create_multipart_upload(Bucket=bucket, Key="drop")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="drop", UploadId=drop, PartNumber=1, Body=b"bytes")
    assert set(listed_upload_ids(s3, bucket)) == {keep, drop}
    response = s3.abort_multipart_upload(Bucket=bucket, Key="drop", UploadId=drop)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert listed_upload_ids(s3, bucket) == [keep]
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="drop")
    assert error(exc)[0] == 404
    s3.abort_multipart_upload(Bucket=bucket, Key="keep", UploadId=keep)
    assert listed_upload_ids(s3, bucket) == []


# -- parts -----------------------------------------------------------------------------------------
def test_reuploading_a_part_replaces_it(s3, bucket, blobs):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="re")["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="re", UploadId=upload_id, PartNumber=1, Body=blobs[0])["ETag"]
    replacement = os.urandom(PART)
    second = s3.upload_part(Bucket=bucket, Key="re", UploadId=upload_id, PartNumber=1, Body=replacement)["ETag"]
    assert first != second
    listed = s3.list_parts(Bucket=bucket, Key="re", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, second)]
    last = s3.upload_part(Bucket=bucket, Key="re", UploadId=upload_id, PartNumber=2, Body=b"tail")["ETag"]
    # The replaced part's ETag no longer names a part.
    stale = [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": last}]
    assert complete_error(s3, bucket, upload_id, stale, key="re") == (400, "InvalidPart")
    parts = [{"PartNumber": 1, "ETag": second}, {"PartNumber": 2, "ETag": last}]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag([replacement, b"tail"])
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == replacement + b"tail"


def test_parts_not_listed_are_discarded(s3, bucket, blobs):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="subset")["UploadId"]
    parts = upload_parts(s3, bucket, "subset", upload_id, blobs)
    # Parts 1 and 3 only: numbers need not be consecutive.
    chosen = [parts[0], parts[2]]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="subset", UploadId=upload_id, MultipartUpload={"Parts": chosen})
    assert done["ETag"] == multipart_etag([blobs[0], blobs[2]])
    got = s3.get_object(Bucket=bucket, Key="subset")
    assert got["ContentLength"] == len(blobs[0]) + len(blobs[2])
    assert got["Body"].read() == blobs[0] + blobs[2]
    second = s3.get_object(Bucket=bucket, Key="subset", PartNumber=2)
    assert second["PartsCount"] == 2
    assert second["Body"].read() == blobs[2]


def test_part_number_limits(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="limits")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="limits", UploadId=upload_id, PartNumber=10000, Body=b"last")
    # Each refusal comes before the body is read (botocore sent Expect: 100-continue): the
    # next request on the same connection must still be understood.
    for bad in (10001, 0, -1):
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=bucket, Key="limits", UploadId=upload_id, PartNumber=bad, Body=b"x")
        assert error(exc) == (400, "InvalidArgument"), bad
    listed = s3.list_parts(Bucket=bucket, Key="limits", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in listed] == [10000]
    etag = listed[0]["ETag"]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="limits", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 10000, "ETag": etag}]}
    )
    assert done["ETag"] == multipart_etag([b"last"])
    assert s3.get_object(Bucket=bucket, Key="limits")["Body"].read() == b"last"


def test_several_parts_only_the_last_small(s3, bucket):
    # Each part but the last must be at least 5 MiB; keep the count small to stay quick.
    bodies = [os.urandom(PART) for _ in range(3)] + [b"!"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="four")["UploadId"]
    parts = upload_parts(s3, bucket, "four", upload_id, bodies)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="four", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag(bodies)
    assert done["ETag"].endswith('-4"')
    got = s3.get_object(Bucket=bucket, Key="four", Range=f"bytes={PART - 2}-{PART + 1}")
    assert got["Body"].read() == bodies[0][-2:] + bodies[1][:2]
    assert s3.get_object(Bucket=bucket, Key="four", PartNumber=4)["Body"].read() == b"!"


def test_empty_last_part(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="empty")["UploadId"]
    parts = upload_parts(s3, bucket, "empty", upload_id, [b""])
    done = s3.complete_multipart_upload(Bucket=bucket, Key="empty", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag([b""])
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_complete_replaces_an_existing_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="over", Body=b"old bytes")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="over")["UploadId"]
    # The old object stays readable while the upload is in progress.
    parts = upload_parts(s3, bucket, "over", upload_id, [b"new bytes"])
    assert s3.get_object(Bucket=bucket, Key="over")["Body"].read() == b"old bytes"
    s3.complete_multipart_upload(Bucket=bucket, Key="over", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="over")["Body"].read() == b"new bytes"


# -- UploadPartCopy --------------------------------------------------------------------------------
def test_upload_part_copy_with_ranges(s3, bucket):
    source = os.urandom(PART + 1000)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copied")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{PART - 1}",
    )
    assert first["CopyPartResult"]["ETag"] == f'"{md5_hex(source[:PART])}"'
    assert first["CopyPartResult"]["LastModified"]
    second = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes={PART}-{PART + 999}",
    )
    # A whole object, no range.
    s3.put_object(Bucket=bucket, Key="small-source", Body=b"whole")
    third = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=3, CopySource=f"{bucket}/small-source"
    )
    assert third["CopyPartResult"]["ETag"] == f'"{md5_hex(b"whole")}"'
    parts = [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
    ]
    # Part 2 (1000 bytes) is not last here: too small.
    too_small = [*parts, {"PartNumber": 3, "ETag": third["CopyPartResult"]["ETag"]}]
    assert complete_error(s3, bucket, upload_id, too_small, key="copied") == (400, "EntityTooSmall")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="copied", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag([source[:PART], source[PART:]])
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == source


def test_upload_part_copy_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="source", Body=b"0123456789")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dest")["UploadId"]
    for bad_range in ("bytes=7-3", "5-6", "bytes=-3", "bytes=0", "bytes=0-2,3-5", "bytes=hello-"):
        with pytest.raises(ClientError) as exc:
            s3.upload_part_copy(
                Bucket=bucket, Key="dest", UploadId=upload_id, PartNumber=1,
                CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=bad_range,
            )
        assert error(exc) == (400, "InvalidArgument"), bad_range
    # Well formed but past the source's end: S3's InvalidRange.
    for past_end in ("bytes=5-10", "bytes=10-12"):
        with pytest.raises(ClientError) as exc:
            s3.upload_part_copy(
                Bucket=bucket, Key="dest", UploadId=upload_id, PartNumber=1,
                CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=past_end,
            )
        assert error(exc) == (416, "InvalidRange"), past_end
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(
            Bucket=bucket, Key="dest", UploadId=upload_id, PartNumber=1, CopySource={"Bucket": bucket, "Key": "missing"}
        )
    assert error(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(
            Bucket=bucket, Key="dest", UploadId="no-such-upload", PartNumber=1, CopySource={"Bucket": bucket, "Key": "source"}
        )
    assert error(exc) == (404, "NoSuchUpload")
    ok = s3.upload_part_copy(
        Bucket=bucket, Key="dest", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange="bytes=2-4",
    )
    parts = [{"PartNumber": 1, "ETag": ok["CopyPartResult"]["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="dest", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="dest")["Body"].read() == b"234"


# -- a large upload through boto3's transfer manager ----------------------------------------------
def test_70mib_upload_file_reads_back_identical(s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    chunk = os.urandom(MiB)
    with open(src, "wb") as f:
        for i in range(70):
            f.write(bytes([i]) + chunk[1:])  # every MiB differs
    data = src.read_bytes()
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "big.bin", Config=config)

    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 70 * MiB
    pieces = [data[i : i + 8 * MiB] for i in range(0, len(data), 8 * MiB)]
    assert len(pieces) == 9
    assert head["ETag"] == multipart_etag(pieces)

    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(dst), Config=config)
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    # A plain GET streams the same bytes.
    streamed = hashlib.sha256()
    for piece in s3.get_object(Bucket=bucket, Key="big.bin")["Body"].iter_chunks(MiB):
        streamed.update(piece)
    assert streamed.hexdigest() == hashlib.sha256(data).hexdigest()


# -- checksums -------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C"])
def test_composite_checksum(s3, bucket, blobs, algorithm):
    created = s3.create_multipart_upload(Bucket=bucket, Key="comp", ChecksumAlgorithm=algorithm)
    assert created["ChecksumAlgorithm"] == algorithm
    assert created.get("ChecksumType", "COMPOSITE") == "COMPOSITE"
    upload_id = created["UploadId"]
    parts = []
    for number, body in enumerate(blobs, start=1):
        response = s3.upload_part(
            Bucket=bucket, Key="comp", UploadId=upload_id, PartNumber=number, Body=body, ChecksumAlgorithm=algorithm
        )
        assert response[f"Checksum{algorithm}"] == b64(crc(algorithm, body))
        parts.append({"PartNumber": number, "ETag": response["ETag"], f"Checksum{algorithm}": response[f"Checksum{algorithm}"]})
    listed = s3.list_parts(Bucket=bucket, Key="comp", UploadId=upload_id)
    assert [p[f"Checksum{algorithm}"] for p in listed["Parts"]] == [p[f"Checksum{algorithm}"] for p in parts]
    assert listed["ChecksumAlgorithm"] == algorithm

    # A part checksum in the completion that does not match the uploaded part: refused.
    wrong = [dict(parts[0]), *parts[1:]]
    wrong[0][f"Checksum{algorithm}"] = b64(crc(algorithm, b"not this part"))
    assert complete_error(s3, bucket, upload_id, wrong, key="comp") == (400, "InvalidPart")

    expected = b64(crc(algorithm, b"".join(crc(algorithm, b) for b in blobs))) + "-3"
    # A whole-object checksum in the completion that is not the composite of the parts: refused.
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="comp", UploadId=upload_id, MultipartUpload={"Parts": parts},
            **{f"Checksum{algorithm}": b64(crc(algorithm, b"other")) + "-3"},
        )
    assert error(exc) == (400, "BadDigest")

    # A part named without its checksum is the stored part, checksum and all (as ceph/s3-tests
    # completes such uploads); the right composite, with or without its -N, is accepted.
    unnamed = [parts[0], {"PartNumber": 2, "ETag": parts[1]["ETag"]}, parts[2]]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="comp", UploadId=upload_id, MultipartUpload={"Parts": unnamed},
        **{f"Checksum{algorithm}": expected.rsplit("-", 1)[0]},
    )
    assert done[f"Checksum{algorithm}"] == expected
    assert done["ChecksumType"] == "COMPOSITE"
    assert done["ETag"] == multipart_etag(blobs)
    head = s3.head_object(Bucket=bucket, Key="comp", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    assert head["ChecksumType"] == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key="comp", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected
    assert got["Body"].read() == b"".join(blobs)


@pytest.mark.parametrize("algorithm", ["CRC64NVME", "CRC32", "CRC32C"])
def test_full_object_checksum(s3, bucket, blobs, algorithm):
    created = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT")
    assert created["ChecksumAlgorithm"] == algorithm and created["ChecksumType"] == "FULL_OBJECT"
    upload_id = created["UploadId"]
    parts = []
    for number, body in enumerate(blobs, start=1):
        response = s3.upload_part(
            Bucket=bucket, Key="full", UploadId=upload_id, PartNumber=number, Body=body, ChecksumAlgorithm=algorithm
        )
        assert response[f"Checksum{algorithm}"] == b64(crc(algorithm, body))
        parts.append({"PartNumber": number, "ETag": response["ETag"], f"Checksum{algorithm}": response[f"Checksum{algorithm}"]})
    whole = b64(crc(algorithm, b"".join(blobs)))

    # The client's claim for the whole object is checked.
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="full", UploadId=upload_id, MultipartUpload={"Parts": parts},
            ChecksumType="FULL_OBJECT", **{f"Checksum{algorithm}": b64(crc(algorithm, b"other bytes"))},
        )
    assert error(exc) == (400, "BadDigest")

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="full", UploadId=upload_id, MultipartUpload={"Parts": parts},
        ChecksumType="FULL_OBJECT", **{f"Checksum{algorithm}": whole},
    )
    assert done[f"Checksum{algorithm}"] == whole
    assert done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == whole
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert s3.get_object(Bucket=bucket, Key="full")["Body"].read() == b"".join(blobs)


def test_crc64nvme_defaults_to_full_object(s3, bucket):
    created = s3.create_multipart_upload(Bucket=bucket, Key="nvme", ChecksumAlgorithm="CRC64NVME")
    assert created["ChecksumType"] == "FULL_OBJECT"
    upload_id = created["UploadId"]
    body = b"crc64nvme" * 1000
    part = s3.upload_part(Bucket=bucket, Key="nvme", UploadId=upload_id, PartNumber=1, Body=body, ChecksumAlgorithm="CRC64NVME")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="nvme", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC64NVME": part["ChecksumCRC64NVME"]}]},
    )
    assert done["ChecksumCRC64NVME"] == b64(crc("CRC64NVME", body))


def test_invalid_checksum_choices(s3, bucket):
    # CRC64NVME has no composite form; SHA digests have no full-object form.
    for algorithm, kind in (("CRC64NVME", "COMPOSITE"), ("SHA256", "FULL_OBJECT"), ("SHA1", "FULL_OBJECT")):
        with pytest.raises(ClientError) as exc:
            s3.create_multipart_upload(Bucket=bucket, Key="bad", ChecksumAlgorithm=algorithm, ChecksumType=kind)
        assert error(exc) == (400, "InvalidRequest"), (algorithm, kind)
    assert listed_upload_ids(s3, bucket) == []


def test_sha256_composite_checksum(s3, bucket):
    created = s3.create_multipart_upload(Bucket=bucket, Key="sha", ChecksumAlgorithm="SHA256")
    assert created["ChecksumType"] == "COMPOSITE"
    upload_id = created["UploadId"]
    bodies = [os.urandom(PART), b"tail"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        response = s3.upload_part(Bucket=bucket, Key="sha", UploadId=upload_id, PartNumber=number, Body=body, ChecksumAlgorithm="SHA256")
        assert response["ChecksumSHA256"] == b64(hashlib.sha256(body).digest())
        parts.append({"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": response["ChecksumSHA256"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="sha", UploadId=upload_id, MultipartUpload={"Parts": parts})
    expected = b64(hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in bodies)).digest()) + "-2"
    assert done["ChecksumSHA256"] == expected
