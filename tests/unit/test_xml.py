"""The hardened XML parser and the response writer."""

from __future__ import annotations

import pytest

from hoard.s3 import xml
from hoard.s3.errors import S3Error


def test_parse_strips_namespaces():
    root = xml.parse(b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object></Delete>')
    assert root.tag == "Delete" and root.find("Object/Key").text == "a"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Delete>",
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><Delete>&lol2;</Delete>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Delete>&e;</Delete>',
        b"<a>" + b"x" * (xml.MAX_XML_BODY + 1) + b"</a>",
    ],
)
def test_bad_documents_are_malformed_xml(body):
    with pytest.raises(S3Error) as e:
        xml.parse(body)
    assert e.value.code == "MalformedXML"


def test_render_escapes_and_nests():
    out = xml.render("R", [("Key", "a<&>b"), ("Skip", None), ("N", [("X", 1), ("T", True)])])
    assert out.endswith(b"<R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Key>a&lt;&amp;&gt;b</Key><N><X>1</X><T>true</T></N></R>")


def test_format_time_has_milliseconds():
    assert xml.format_time(0.5) == "1970-01-01T00:00:00.500Z"
