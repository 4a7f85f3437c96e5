"""Listing with boto3 against a real server: ListObjects (v1), ListObjectsV2, ListMultipartUploads, ListParts."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError


def put_keys(server, bucket: str, keys, body: bytes = b"x") -> None:
    client = server.client(max_pool_connections=16)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=body), keys))


def utf8_sorted(keys) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def error_code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def model(keys, prefix: str = "", delimiter: str = "") -> list[str]:
    """The full listing S3 gives: keys and common prefixes, merged in UTF-8 byte order."""
    entries = set()
    for key in keys:
        if not key.startswith(prefix):
            continue
        pos = key.find(delimiter, len(prefix)) if delimiter else -1
        entries.add(key[: pos + len(delimiter)] if pos >= 0 else key)
    return utf8_sorted(entries)


def page_entries(page: dict) -> list[str]:
    keys = [o["Key"] for o in page.get("Contents", [])]
    prefixes = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return utf8_sorted(keys + prefixes)


TREE = [
    "a.txt",
    "b.txt",
    "dir/x.txt",
    "dir/y.txt",
    "dir/sub/z.txt",
    "dir2/q.txt",
    "docs/readme",
    "docs/guide/one",
    "docs/guide/two",
    "e.txt",
    "photos/2024/jan.jpg",
    "photos/2024/feb.jpg",
    "photos/2025/mar.jpg",
    "z",
]


@pytest.fixture
def tree(server, bucket) -> str:
    put_keys(server, bucket, TREE)
    return bucket


# -- ListObjects (v1) -----------------------------------------------------------------------------
def test_v1_marker_and_truncation_without_delimiter(s3, tree):
    page = s3.list_objects(Bucket=tree, MaxKeys=3)
    assert [o["Key"] for o in page["Contents"]] == utf8_sorted(TREE)[:3]
    assert page["IsTruncated"] is True
    assert page["MaxKeys"] == 3
    assert "NextMarker" not in page, "NextMarker is only returned with a delimiter"
    # Every entry has its fields, and v1 always includes the owner.
    first = page["Contents"][0]
    assert first["Size"] == 1 and first["ETag"].startswith('"') and first["StorageClass"] == "STANDARD"
    assert "ID" in first["Owner"]

    page = s3.list_objects(Bucket=tree, Marker=page["Contents"][-1]["Key"], MaxKeys=1000)
    assert [o["Key"] for o in page["Contents"]] == utf8_sorted(TREE)[3:]
    assert page["IsTruncated"] is False
    assert page["Marker"] == utf8_sorted(TREE)[2]

    # A marker need not be a key; the listing starts after it.
    page = s3.list_objects(Bucket=tree, Marker="dir/")
    assert [o["Key"] for o in page["Contents"]] == [k for k in utf8_sorted(TREE) if k > "dir/"]
    # A marker after every key gives an empty, untruncated page.
    page = s3.list_objects(Bucket=tree, Marker="zz")
    assert "Contents" not in page and page["IsTruncated"] is False


def test_v1_next_marker_with_delimiter(s3, tree):
    page = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=3)
    assert page_entries(page) == ["a.txt", "b.txt", "dir/"]
    assert page["IsTruncated"] is True
    assert page["NextMarker"] == "dir/"
    page = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=3, Marker=page["NextMarker"])
    assert page_entries(page) == ["dir2/", "docs/", "e.txt"]
    assert page["NextMarker"] == "e.txt"
    page = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=3, Marker=page["NextMarker"])
    assert page_entries(page) == ["photos/", "z"]
    assert page["IsTruncated"] is False
    assert "NextMarker" not in page


def test_v1_prefix_and_delimiter(s3, tree):
    page = s3.list_objects(Bucket=tree, Prefix="docs/", Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["docs/readme"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["docs/guide/"]
    assert page["Prefix"] == "docs/" and page["Delimiter"] == "/"
    page = s3.list_objects(Bucket=tree, Prefix="photos/", Delimiter="/")
    assert "Contents" not in page
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    # A prefix that is not a "folder" matches by string.
    page = s3.list_objects(Bucket=tree, Prefix="dir")
    assert [o["Key"] for o in page["Contents"]] == utf8_sorted(k for k in TREE if k.startswith("dir"))
    page = s3.list_objects(Bucket=tree, Prefix="dir", Delimiter="/")
    assert "Contents" not in page
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["dir/", "dir2/"]
    page = s3.list_objects(Bucket=tree, Prefix="nothing/")
    assert "Contents" not in page and "CommonPrefixes" not in page and page["IsTruncated"] is False


# -- ListObjectsV2 --------------------------------------------------------------------------------
def test_v2_continuation_token_start_after_and_key_count(s3, tree):
    everything = utf8_sorted(TREE)
    page = s3.list_objects_v2(Bucket=tree, MaxKeys=5)
    assert [o["Key"] for o in page["Contents"]] == everything[:5]
    assert page["KeyCount"] == 5 and page["IsTruncated"] is True and page["MaxKeys"] == 5
    token = page["NextContinuationToken"]
    assert token
    page = s3.list_objects_v2(Bucket=tree, MaxKeys=5, ContinuationToken=token)
    assert page["ContinuationToken"] == token
    assert [o["Key"] for o in page["Contents"]] == everything[5:10]
    page = s3.list_objects_v2(Bucket=tree, MaxKeys=5, ContinuationToken=page["NextContinuationToken"])
    assert [o["Key"] for o in page["Contents"]] == everything[10:]
    assert page["IsTruncated"] is False and "NextContinuationToken" not in page
    assert page["KeyCount"] == len(everything) - 10

    page = s3.list_objects_v2(Bucket=tree, StartAfter="dir/y.txt")
    assert page["StartAfter"] == "dir/y.txt"
    assert [o["Key"] for o in page["Contents"]] == [k for k in everything if k > "dir/y.txt"]
    # The continuation token wins over StartAfter.
    first = s3.list_objects_v2(Bucket=tree, MaxKeys=2)
    page = s3.list_objects_v2(Bucket=tree, StartAfter="e.txt", ContinuationToken=first["NextContinuationToken"], MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == everything[2:4]


def test_v2_key_count_includes_common_prefixes(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert page_entries(page) == model(TREE, "", "/")
    assert page["KeyCount"] == len(page["Contents"]) + len(page["CommonPrefixes"]) == 8
    page = s3.list_objects_v2(Bucket=tree, Delimiter="/", MaxKeys=4)
    assert page["KeyCount"] == 4 and page["IsTruncated"] is True


def test_v2_fetch_owner(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, MaxKeys=2)
    assert all("Owner" not in o for o in page["Contents"])
    page = s3.list_objects_v2(Bucket=tree, MaxKeys=2, FetchOwner=True)
    for o in page["Contents"]:
        assert o["Owner"]["ID"]
        assert "DisplayName" in o["Owner"]


def test_v2_bad_continuation_token(s3, tree):
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=tree, ContinuationToken="%%%not-a-token%%%")
    assert error_code(exc) == "InvalidArgument"


def test_max_keys_zero(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, MaxKeys=0)
    assert "Contents" not in page and "CommonPrefixes" not in page
    assert page["KeyCount"] == 0 and page["MaxKeys"] == 0
    assert page["IsTruncated"] is False and "NextContinuationToken" not in page
    page = s3.list_objects(Bucket=tree, MaxKeys=0, Delimiter="/")
    assert "Contents" not in page and "CommonPrefixes" not in page
    assert page["IsTruncated"] is False and "NextMarker" not in page


def test_max_keys_above_1000_is_capped(server, s3, bucket):
    put_keys(server, bucket, [f"k{i:04d}" for i in range(1005)])
    page = s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert page["KeyCount"] == 1000 and page["IsTruncated"] is True
    page = s3.list_objects(Bucket=bucket)
    assert len(page["Contents"]) == 1000 and page["IsTruncated"] is True


def test_invalid_max_keys(s3, tree):
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=tree, MaxKeys=-1)
    assert error_code(exc) == "InvalidArgument"


def test_no_such_bucket(s3):
    for call in (s3.list_objects, s3.list_objects_v2):
        with pytest.raises(ClientError) as exc:
            call(Bucket="no-such-bucket-for-listing")
        assert error_code(exc) == "NoSuchBucket"


# -- delimiters and pagination across common prefixes --------------------------------------------
PAGING_KEYS = [
    "a",
    "a/1",
    "a/2",
    "a/b/1",
    "a--1",
    "a--2",
    "a--b--c",
    "ab",
    "b/1",
    "b/2/3",
    "b--x",
    "c",
    "c/",
    "c//d",
    "d--",
    "d----e",
    "é/1",
    "é--2",
    "中/文",
    "中--文",
    "zz",
]


@pytest.fixture
def paging_bucket(server, bucket) -> str:
    put_keys(server, bucket, PAGING_KEYS)
    return bucket


def collect_v1(s3, bucket, **kwargs) -> list[str]:
    seen: list[str] = []
    marker = ""
    for _ in range(100):
        page = s3.list_objects(Bucket=bucket, Marker=marker, **kwargs)
        entries = page_entries(page)
        assert len(entries) <= kwargs.get("MaxKeys", 1000)
        seen += entries
        if not page["IsTruncated"]:
            return seen
        marker = page.get("NextMarker") or page["Contents"][-1]["Key"]
        # With a delimiter, NextMarker is the last key or common prefix returned.
        if kwargs.get("Delimiter"):
            assert page["NextMarker"] == entries[-1]
    raise AssertionError("listing never finished")


def collect_v2(s3, bucket, **kwargs) -> list[str]:
    seen: list[str] = []
    token = None
    for _ in range(100):
        extra = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, **kwargs, **extra)
        entries = page_entries(page)
        assert page["KeyCount"] == len(entries) <= kwargs.get("MaxKeys", 1000)
        seen += entries
        if not page["IsTruncated"]:
            return seen
        token = page["NextContinuationToken"]
    raise AssertionError("listing never finished")


@pytest.mark.parametrize("delimiter", ["/", "--", "-", "//", "文"])
@pytest.mark.parametrize("max_keys", [1, 2, 3])
def test_pagination_across_common_prefixes(s3, paging_bucket, delimiter, max_keys):
    for prefix in ("", "a", "a/", "b", "d-"):
        expected = model(PAGING_KEYS, prefix, delimiter)
        v1 = collect_v1(s3, paging_bucket, Prefix=prefix, Delimiter=delimiter, MaxKeys=max_keys)
        assert v1 == expected, (prefix, delimiter, max_keys)
        v2 = collect_v2(s3, paging_bucket, Prefix=prefix, Delimiter=delimiter, MaxKeys=max_keys)
        assert v2 == expected, (prefix, delimiter, max_keys)
        assert len(set(v1)) == len(v1)


def test_multi_character_delimiter(s3, paging_bucket):
    page = s3.list_objects_v2(Bucket=paging_bucket, Delimiter="--")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a--", "b--", "d--", "é--", "中--"]
    assert "a/b/1" in [o["Key"] for o in page["Contents"]]
    page = s3.list_objects_v2(Bucket=paging_bucket, Prefix="a--", Delimiter="--")
    assert [o["Key"] for o in page["Contents"]] == ["a--1", "a--2"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a--b--"]
    # The delimiter is looked for after the prefix only: after "d-", "d--" holds no "--".
    page = s3.list_objects_v2(Bucket=paging_bucket, Prefix="d-", Delimiter="--")
    assert [o["Key"] for o in page["Contents"]] == ["d--"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["d---"]
    page = s3.list_objects_v2(Bucket=paging_bucket, Prefix="d--", Delimiter="--")
    assert [o["Key"] for o in page["Contents"]] == ["d--"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["d----"]


def test_start_after_inside_a_common_prefix(s3, paging_bucket):
    # A StartAfter inside a common prefix means that prefix sorts before it: it is not returned again.
    page = s3.list_objects_v2(Bucket=paging_bucket, Delimiter="/", StartAfter="a/1")
    assert page_entries(page) == [e for e in model(PAGING_KEYS, "", "/") if e.encode() > b"a/1"]
    assert "a/" not in page_entries(page)
    page = s3.list_objects(Bucket=paging_bucket, Delimiter="/", Marker="a/")
    assert page_entries(page)[:3] == ["ab", "b--x", "b/"]  # "a--1" sorts before "a/": "-" < "/"
    page = s3.list_objects(Bucket=paging_bucket, Delimiter="--", Marker="a--b--c")
    assert page_entries(page)[:2] == ["a/1", "a/2"]


# -- keys: order and encoding ---------------------------------------------------------------------
ODD_KEYS = ["a", "B", "é", "中", "\U0001F600", "a/b", "a-b", "A b", "a+b", "a%20b", "a&b<c>", "tab\there", "ctl\x01\x1f", "line\nbreak", "\ue000"]


def test_keys_are_ordered_by_utf8_bytes(server, s3, bucket):
    put_keys(server, bucket, ODD_KEYS)
    expected = sorted(ODD_KEYS, key=lambda k: k.encode("utf-8"))
    # Not the same as sorting by UTF-16 code units (Java, JavaScript): U+E000 sorts before an emoji.
    assert expected.index("\ue000") < expected.index("\U0001F600")
    page = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in page["Contents"]] == expected
    page = s3.list_objects(Bucket=bucket)
    assert [o["Key"] for o in page["Contents"]] == expected
    for max_keys in (1, 4):
        assert collect_v2(s3, bucket, MaxKeys=max_keys) == expected


def test_encoding_type_url(server, s3, bucket):
    put_keys(server, bucket, ODD_KEYS + ["dir one/x", "dir+two/y"])
    # Asked for explicitly, boto3 leaves the encoded values alone: check them as sent.
    page = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert page["EncodingType"] == "url"
    encoded = [o["Key"] for o in page["Contents"]]
    assert sorted(unquote_plus(k) for k in encoded) == sorted(ODD_KEYS + ["dir one/x", "dir+two/y"])
    for raw in encoded:
        assert all(0x21 <= ord(c) < 0x7F for c in raw), f"not URL-encoded: {raw!r}"
    by_key = {unquote_plus(k): k for k in encoded}
    assert by_key["A b"] == "A+b"
    assert by_key["a+b"] == "a%2Bb"
    assert by_key["a%20b"] == "a%2520b"
    assert by_key["é"] == "%C3%A9"
    assert by_key["ctl\x01\x1f"] == "ctl%01%1F"
    assert by_key["a/b"] == "a/b"
    assert "CommonPrefixes" not in page  # no delimiter, no common prefixes

    page = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/", Prefix="dir", StartAfter="dir one")
    assert [unquote_plus(p["Prefix"]) for p in page["CommonPrefixes"]] == ["dir one/", "dir+two/"]
    assert page["CommonPrefixes"][0]["Prefix"] == "dir+one/"
    assert page["CommonPrefixes"][1]["Prefix"] == "dir%2Btwo/"
    assert page["Prefix"] == "dir"
    assert page["StartAfter"] == "dir+one"

    # v1 encodes the marker and keys too, but echoes its prefix as sent (botocore does not decode it).
    page = s3.list_objects(Bucket=bucket, EncodingType="url", Marker="a b", Delimiter="/", MaxKeys=2)
    assert page["Marker"] == "a+b"
    assert page["Delimiter"] == "/"
    assert s3.list_objects(Bucket=bucket, Prefix="\n")["Prefix"] == "\n"
    assert s3.list_objects(Bucket=bucket, Prefix="dir one")["Prefix"] == "dir one"

    # By default boto3 asks for url encoding itself and decodes: every key comes back exact.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ctl")["Contents"]] == ["ctl\x01\x1f"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket=bucket) for o in page["Contents"]]
    assert keys == utf8_sorted(ODD_KEYS + ["dir one/x", "dir+two/y"])


def test_empty_continuation_token_starts_at_the_beginning(s3, bucket):
    for key in ("bar", "baz", "foo"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    page = s3.list_objects_v2(Bucket=bucket, ContinuationToken="")
    assert page["ContinuationToken"] == ""
    assert page["IsTruncated"] is False
    assert [o["Key"] for o in page["Contents"]] == ["bar", "baz", "foo"]
    page = s3.list_objects_v2(Bucket=bucket, ContinuationToken="", StartAfter="baz")
    assert [o["Key"] for o in page["Contents"]] == ["foo"]


def test_invalid_encoding_type(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, EncodingType="bogus")
    assert error_code(exc) == "InvalidArgument"


# -- paginators over many keys --------------------------------------------------------------------
@pytest.fixture(scope="module")
def many_keys(server):
    s3 = server.client()
    name = f"many-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    keys = [f"p{i % 7}/{i:05d}" if i % 3 else f"{i:05d}é" for i in range(2500)]
    put_keys(server, name, keys, body=b"")
    yield name, keys
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True})
    s3.delete_bucket(Bucket=name)


def test_paginators_return_every_key_once_in_order(server, many_keys):
    name, keys = many_keys
    s3 = server.client()
    expected = utf8_sorted(keys)
    for operation in ("list_objects", "list_objects_v2"):
        pages = list(s3.get_paginator(operation).paginate(Bucket=name))
        assert len(pages) == 3
        got = [o["Key"] for page in pages for o in page["Contents"]]
        assert got == expected, operation
    # Smaller pages and a delimiter: each common prefix once, then the keys under one of them.
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=name, Delimiter="/", PaginationConfig={"PageSize": 100})
    entries = [e for page in pages for e in page_entries(page)]
    assert entries == model(keys, "", "/")
    pages = s3.get_paginator("list_objects").paginate(Bucket=name, Prefix="p3/", PaginationConfig={"PageSize": 77})
    assert [o["Key"] for page in pages for o in page["Contents"]] == [k for k in expected if k.startswith("p3/")]


# -- ListMultipartUploads -------------------------------------------------------------------------
@pytest.fixture
def uploads(s3, bucket):
    keys = ["a/1", "a/2", "b", "b", "c/d/e", "c/f", "d"]
    created = [(k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in keys]
    return bucket, created


def test_list_multipart_uploads(s3, uploads):
    bucket, created = uploads
    page = s3.list_multipart_uploads(Bucket=bucket)
    listed = [(u["Key"], u["UploadId"]) for u in page["Uploads"]]
    assert sorted(listed) == sorted(created)
    assert [k for k, _ in listed] == sorted(k for k, _ in created)
    assert page["IsTruncated"] is False
    first = page["Uploads"][0]
    assert first["Initiator"]["ID"] and first["Owner"]["ID"] and first["StorageClass"] == "STANDARD"
    assert first["Initiated"]

    # Two uploads of the same key are listed in the order they were initiated.
    b_ids = [u["UploadId"] for u in page["Uploads"] if u["Key"] == "b"]
    assert b_ids == [uid for k, uid in created if k == "b"]

    page = s3.list_multipart_uploads(Bucket=bucket, Prefix="c/")
    assert [u["Key"] for u in page["Uploads"]] == ["c/d/e", "c/f"]
    page = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in page["Uploads"]] == ["b", "b", "d"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "c/"]
    page = s3.list_multipart_uploads(Bucket=bucket, Prefix="c/", Delimiter="/")
    assert [u["Key"] for u in page["Uploads"]] == ["c/f"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["c/d/"]

    # KeyMarker alone: keys after it.
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert [u["Key"] for u in page["Uploads"]] == ["c/d/e", "c/f", "d"]
    # KeyMarker with UploadIdMarker: the same key's later uploads too.
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b", UploadIdMarker=b_ids[0])
    assert [(u["Key"], u["UploadId"]) for u in page["Uploads"]][:1] == [("b", b_ids[1])]
    assert [u["Key"] for u in page["Uploads"]] == ["b", "c/d/e", "c/f", "d"]


def test_list_multipart_uploads_paging(s3, uploads):
    bucket, created = uploads
    seen = []
    key_marker, id_marker = "", ""
    for _ in range(20):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, KeyMarker=key_marker, UploadIdMarker=id_marker)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        key_marker, id_marker = page["NextKeyMarker"], page["NextUploadIdMarker"]
        assert (key_marker, id_marker) == seen[-1]
    else:
        raise AssertionError("listing never finished")
    assert sorted(seen) == sorted(created) and len(seen) == len(created)
    # boto3's paginator agrees.
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3})
    assert [(u["Key"], u["UploadId"]) for p in pages for u in p.get("Uploads", [])] == seen


def test_list_multipart_uploads_paging_with_delimiter(s3, uploads):
    bucket, created = uploads
    expected = ["a/", "b", "b", "c/", "d"]
    for max_uploads in (1, 2, 3):
        seen: list[str] = []
        key_marker, id_marker = "", ""
        for _ in range(20):
            page = s3.list_multipart_uploads(
                Bucket=bucket, Delimiter="/", MaxUploads=max_uploads, KeyMarker=key_marker, UploadIdMarker=id_marker
            )
            entries = [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])] + [
                (p["Prefix"], "") for p in page.get("CommonPrefixes", [])
            ]
            entries.sort()
            assert len(entries) <= max_uploads
            seen += [k for k, _ in entries]
            if not page["IsTruncated"]:
                break
            key_marker, id_marker = page["NextKeyMarker"], page.get("NextUploadIdMarker", "")
            assert key_marker == entries[-1][0]
        else:
            raise AssertionError(f"listing never finished with MaxUploads={max_uploads}")
        assert seen == expected, max_uploads


def test_list_multipart_uploads_encoding(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="sp ace+plus/é")["UploadId"]
    page = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url")
    assert page["Uploads"][0]["Key"] == "sp+ace%2Bplus/%C3%A9"
    assert page["Uploads"][0]["UploadId"] == upload_id
    # boto3's own default: decoded for us.
    assert s3.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["Key"] == "sp ace+plus/é"


# -- ListParts ------------------------------------------------------------------------------------
def test_list_parts_paging(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    numbers = [1, 2, 3, 5, 8, 13, 21, 34, 10000]
    etags = {}
    for n in numbers:
        etags[n] = s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload_id, PartNumber=n, Body=b"p" * n)["ETag"]

    page = s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload_id)
    assert [p["PartNumber"] for p in page["Parts"]] == numbers
    assert all(p["ETag"] == etags[p["PartNumber"]] and p["Size"] == p["PartNumber"] for p in page["Parts"])
    assert page["IsTruncated"] is False
    assert page["UploadId"] == upload_id and page["Key"] == "parts"
    assert page["Initiator"]["ID"] and page["Owner"]["ID"] and page["StorageClass"] == "STANDARD"

    seen = []
    marker = 0
    for _ in range(20):
        page = s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload_id, MaxParts=2, PartNumberMarker=marker)
        assert page["MaxParts"] == 2
        assert page.get("PartNumberMarker", 0) == marker
        got = [p["PartNumber"] for p in page.get("Parts", [])]
        assert len(got) <= 2
        seen += got
        if not page["IsTruncated"]:
            break
        assert page["NextPartNumberMarker"] == got[-1]
        marker = page["NextPartNumberMarker"]
    else:
        raise AssertionError("listing never finished")
    assert seen == numbers

    page = s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload_id, PartNumberMarker=8)
    assert [p["PartNumber"] for p in page["Parts"]] == [13, 21, 34, 10000]
    page = s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload_id, PartNumberMarker=10000)
    assert "Parts" not in page and page["IsTruncated"] is False

    pages = s3.get_paginator("list_parts").paginate(Bucket=bucket, Key="parts", UploadId=upload_id, PaginationConfig={"PageSize": 4})
    assert [p["PartNumber"] for page in pages for p in page["Parts"]] == numbers


def test_list_parts_unknown_upload(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="parts", UploadId="no-such-upload")
    assert error_code(exc) == "NoSuchUpload"
