"""S3's tag-set rules: documents, the x-amz-tagging header, limits and characters."""

from __future__ import annotations

import pytest

from hoard.s3 import tags
from hoard.s3.errors import S3Error


def doc(*pairs: tuple[str, str]) -> bytes:
    inner = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in pairs)
    return f'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>{inner}</TagSet></Tagging>'.encode()


def code(fn, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(S3Error) as e:
        fn(*args, **kwargs)
    return e.value.code, e.value.message


def test_document_sorted_by_key():
    assert tags.from_document(doc(("b", "2"), ("a", ""), ("C", "3"))) == (("C", "3"), ("a", ""), ("b", "2"))
    assert tags.from_document(b"<Tagging><TagSet/></Tagging>") == ()
    assert tags.from_document(b"<Tagging><TagSet><Tag><Key>k</Key><Value/></Tag></TagSet></Tagging>") == (("k", ""),)


@pytest.mark.parametrize(
    "body",
    [
        b"<Tagging/>",
        b"<TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet>",
        b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Value>b</Value></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key><Value>c</Value></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Other/></TagSet></Tagging>",
        b"<Tagging><TagSet/><TagSet/></Tagging>",
        b"<Tagging><TagSet>",
        b"",
    ],
)
def test_malformed_documents(body):
    assert code(tags.from_document, body)[0] == "MalformedXML"


def test_limits():
    ten = [(str(i), str(i)) for i in range(10)]
    assert len(tags.check(ten, tags.MAX_OBJECT_TAGS)) == 10
    assert code(tags.check, ten + [("x", "")], tags.MAX_OBJECT_TAGS) == ("InvalidTag", "Object tags cannot be greater than 10")
    fifty = [(f"k{i}", "") for i in range(50)]
    assert len(tags.check(fifty, tags.MAX_BUCKET_TAGS, bucket=True)) == 50
    assert code(tags.check, fifty + [("x", "")], tags.MAX_BUCKET_TAGS, bucket=True)[0] == "InvalidTag"
    assert tags.check([("k" * 128, "v" * 256)], 10)
    assert code(tags.check, [("k" * 129, "")], 10)[0] == "InvalidTag"
    assert code(tags.check, [("k", "v" * 257)], 10)[0] == "InvalidTag"
    # Counted as S3 counts them: UTF-16 code units, so a character outside the BMP counts twice.
    assert tags.check([("é" * 128, "")], 10)
    assert code(tags.check, [("\U0001d400" * 65, "")], 10)[0] == "InvalidTag"


@pytest.mark.parametrize("key", ["a b", "Ünïcödé", "日本語", "١٢٣", "+-=._:/@", "x\u00a0y"])
def test_allowed_characters(key):
    assert tags.check([(key, key)], 10) == ((key, key),)


@pytest.mark.parametrize("bad", ["a!b", "a,b", "a#", "a\tb", "a\nb", "<", "a*", "a\\b", "a'b", "a%b", "a&b", "a?b"])
def test_refused_characters(bad):
    assert code(tags.check, [(bad, "v")], 10) == ("InvalidTag", "The TagKey you have provided is invalid")
    assert code(tags.check, [("k", bad)], 10) == ("InvalidTag", "The TagValue you have provided is invalid")


def test_keys_unique_nonempty_and_not_aws():
    assert code(tags.check, [("a", "1"), ("a", "2")], 10) == ("InvalidTag", "Cannot provide multiple Tags with the same key")
    assert code(tags.check, [("", "1")], 10)[0] == "InvalidTag"
    assert code(tags.check, [("aws:x", "1")], 10)[0] == "InvalidTag"
    assert code(tags.check, [("AWS:x", "1")], 50, bucket=True) == ("InvalidTag", "System tags cannot be added/updated by requester")
    assert tags.check([("a", "aws:x")], 10)


def test_header():
    assert tags.from_header(None) == ()
    assert tags.from_header("") == ()
    assert tags.from_header("foo=bar&bar") == (("bar", ""), ("foo", "bar"))
    assert tags.from_header("k%20y=v+w&e=%C3%A9") == (("e", "é"), ("k y", "v w"))
    assert tags.from_header("a=b=c") == (("a", "b=c"),)
    assert code(tags.from_header, "a=1&a=2") == ("InvalidArgument", tags.HEADER_ERROR)
    assert code(tags.from_header, "a=%FF")[0] == "InvalidArgument"
    assert code(tags.from_header, "a=%21")[0] == "InvalidTag"
    assert code(tags.from_header, "=v")[0] == "InvalidTag"
    assert code(tags.from_header, "&".join(f"k{i}=v" for i in range(11)))[0] == "InvalidTag"


def test_render_round_trips():
    rendered = tags.render((("a", "1 & <2>"), ("b", "")))
    assert rendered.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Tagging xmlns=')
    assert tags.parse_document(rendered) == [("a", "1 & <2>"), ("b", "")]
    assert b"<TagSet></TagSet>" in tags.render(())
