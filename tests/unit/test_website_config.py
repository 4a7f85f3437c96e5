"""Website configurations (hoard.website.rules): documents serialized by botocore exactly as
``aws s3api put-bucket-website`` sends them and read back by botocore as GetBucketWebsite answers
them; every element and every refusal; how the website endpoint routes a request."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore import parsers, serialize

from hoard.s3 import xml
from hoard.s3.errors import S3Error
from hoard.website import rules
from hoard.website.rules import (
    OBJECT,
    REDIRECT,
    Redirect,
    Resolution,
    RoutingRule,
    WebsiteConfig,
    WebsiteConfigError,
    after_error,
    folder_index,
    folder_redirect,
    object_redirect,
    redirect_location,
    resolve,
    validate_redirect_location,
)

MODEL = botocore.session.get_session().get_service_model("s3")
NS = "http://s3.amazonaws.com/doc/2006-03-01/"
HOST = "site.s3-website.example.test"


def document(config: dict) -> bytes:
    """The body botocore sends for PutBucketWebsite with this configuration (no client-side
    validation, so that what S3 itself refuses reaches the parser)."""
    operation = MODEL.operation_model("PutBucketWebsite")
    serializer = serialize.create_serializer("rest-xml", include_validation=False)
    return serializer.serialize_to_request({"Bucket": "site", "WebsiteConfiguration": config}, operation)["body"]


def answered(config: WebsiteConfig) -> dict:
    """What a client reads from GetBucketWebsite's answer for ``config``."""
    body = xml.render("WebsiteConfiguration", rules.render(config))
    operation = MODEL.operation_model("GetBucketWebsite")
    parsed = parsers.create_parser("rest-xml").parse({"body": body, "headers": {}, "status_code": 200}, operation.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def parse(config: dict | bytes) -> WebsiteConfig:
    return rules.parse(config if isinstance(config, bytes) else document(config), xml.parse)


def refusal(config: dict | bytes) -> WebsiteConfigError:
    with pytest.raises(WebsiteConfigError) as e:
        parse(config)
    return e.value


def site(*routing_rules: dict, **extra: object) -> dict:
    """An index document, an error document and these routing rules."""
    config: dict = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"}, **extra}
    if routing_rules:
        config["RoutingRules"] = list(routing_rules)
    return config


def raw(inner: str, namespace: bool = True) -> bytes:
    ns = f' xmlns="{NS}"' if namespace else ""
    return f"<WebsiteConfiguration{ns}>{inner}</WebsiteConfiguration>".encode()


INDEX = "<IndexDocument><Suffix>index.html</Suffix></IndexDocument>"


def with_rules(*rule_xml: str) -> bytes:
    return raw(INDEX + "<RoutingRules>" + "".join(f"<RoutingRule>{r}</RoutingRule>" for r in rule_xml) + "</RoutingRules>")


def config_with(*routing_rules: RoutingRule) -> WebsiteConfig:
    return WebsiteConfig(index_suffix="index.html", error_key="error.html", routing_rules=routing_rules)


# -- the document ---------------------------------------------------------------------------------
def test_every_element_is_read():
    sent = site(
        {"Condition": {"KeyPrefixEquals": "docs/"}, "Redirect": {"ReplaceKeyPrefixWith": "documents/"}},
        {"Condition": {"KeyPrefixEquals": "images/"}, "Redirect": {"ReplaceKeyWith": "folderdeleted.html"}},
        {
            "Condition": {"HttpErrorCodeReturnedEquals": "404", "KeyPrefixEquals": "old/"},
            "Redirect": {
                "HostName": "ec2.example.com",
                "Protocol": "https",
                "ReplaceKeyPrefixWith": "report-404/",
                "HttpRedirectCode": "302",
            },
        },
        {"Redirect": {"HostName": "other.example.com", "Protocol": "http"}},
    )
    parsed = parse(sent)
    assert parsed.index_suffix == "index.html"
    assert parsed.error_key == "error.html"
    assert parsed.redirect_all_host == "" and parsed.redirect_all_protocol == ""
    assert parsed.routing_rules == (
        RoutingRule("docs/", None, Redirect(replace_key_prefix_with="documents/")),
        RoutingRule("images/", None, Redirect(replace_key_with="folderdeleted.html")),
        RoutingRule(
            "old/",
            "404",
            Redirect(protocol="https", host_name="ec2.example.com", replace_key_prefix_with="report-404/", http_redirect_code="302"),
        ),
        RoutingRule(None, None, Redirect(protocol="http", host_name="other.example.com")),
    )


def test_the_index_document_alone():
    parsed = parse({"IndexDocument": {"Suffix": "index.html"}})
    assert parsed == WebsiteConfig(index_suffix="index.html")


def test_redirect_all_requests_with_and_without_protocol():
    assert parse({"RedirectAllRequestsTo": {"HostName": "example.com"}}) == WebsiteConfig(redirect_all_host="example.com")
    assert parse({"RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "https"}}) == WebsiteConfig(
        redirect_all_host="example.com", redirect_all_protocol="https"
    )


def test_empty_prefix_and_empty_replacement_are_kept_as_given():
    parsed = parse(site({"Condition": {"KeyPrefixEquals": ""}, "Redirect": {"ReplaceKeyPrefixWith": ""}}))
    assert parsed.routing_rules == (RoutingRule("", None, Redirect(replace_key_prefix_with="")),)
    # Not the same as no condition or no replacement: rendered back as given.
    assert answered(parsed)["RoutingRules"] == [{"Condition": {"KeyPrefixEquals": ""}, "Redirect": {"ReplaceKeyPrefixWith": ""}}]


def test_tags_with_or_without_the_s3_namespace():
    body = INDEX + "<ErrorDocument><Key>404.html</Key></ErrorDocument>"
    assert rules.parse(raw(body, namespace=False), xml.parse) == rules.parse(raw(body), xml.parse)

    # A parser that keeps namespaces: tags arrive as {ns}Name.
    from xml.etree import ElementTree

    kept = rules.parse(raw(body), ElementTree.fromstring)
    assert kept == WebsiteConfig(index_suffix="index.html", error_key="404.html")


def test_keys_keep_their_spaces_and_unicode():
    parsed = parse(site({"Condition": {"KeyPrefixEquals": "my docs/ü "}, "Redirect": {"ReplaceKeyWith": "new page é.html"}}))
    assert parsed.routing_rules[0].key_prefix_equals == "my docs/ü "
    assert parsed.routing_rules[0].redirect.replace_key_with == "new page é.html"


def test_status_codes_lose_surrounding_spaces():
    parsed = parse(with_rules("<Condition><HttpErrorCodeReturnedEquals> 404 </HttpErrorCodeReturnedEquals></Condition>"
                              "<Redirect><HttpRedirectCode>\n307\n</HttpRedirectCode></Redirect>"))  # fmt: skip
    assert parsed.routing_rules[0].error_code_equals == "404"
    assert parsed.routing_rules[0].redirect.http_redirect_code == "307"


@pytest.mark.parametrize("code", ["301", "302", "303", "307", "308", "399"])
def test_redirect_codes_s3_takes(code):
    parsed = parse(site({"Redirect": {"HttpRedirectCode": code}}))
    assert parsed.routing_rules[0].redirect.http_redirect_code == code


@pytest.mark.parametrize("code", ["400", "403", "404", "500", "503", "599"])
def test_error_codes_s3_takes(code):
    parsed = parse(site({"Condition": {"HttpErrorCodeReturnedEquals": code}, "Redirect": {"HostName": "example.com"}}))
    assert parsed.routing_rules[0].error_code_equals == code


def test_fifty_rules_are_taken():
    parsed = parse(site(*[{"Condition": {"KeyPrefixEquals": f"p{i}/"}, "Redirect": {"ReplaceKeyWith": "x"}} for i in range(50)]))
    assert len(parsed.routing_rules) == 50
    assert [r.key_prefix_equals for r in parsed.routing_rules] == [f"p{i}/" for i in range(50)]


# -- refusals -------------------------------------------------------------------------------------
def test_a_body_that_is_not_xml_fails_as_the_parser_says():
    with pytest.raises(S3Error) as e:
        rules.parse(b"<WebsiteConfiguration><IndexDocument>", xml.parse)
    assert e.value.code == "MalformedXML"


def test_redirect_all_beside_anything_else():
    for other in ({"IndexDocument": {"Suffix": "index.html"}}, {"ErrorDocument": {"Key": "e.html"}},
                  {"RoutingRules": [{"Redirect": {"HostName": "example.com"}}]}):  # fmt: skip
        e = refusal({"RedirectAllRequestsTo": {"HostName": "example.net", "Protocol": "https"}, **other})
        assert (e.code, e.message) == (
            "InvalidArgument",
            "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
        )
        assert (e.argument_name, e.argument_value) == ("RedirectAllRequestsTo", "not null")


def test_redirect_all_host_name():
    e = refusal({"RedirectAllRequestsTo": {"HostName": ""}})
    assert (e.code, e.message) == ("InvalidRequest", 'A host name must be provided to redirect all requests (e.g. "example.com").')
    assert refusal(raw("<RedirectAllRequestsTo><Protocol>https</Protocol></RedirectAllRequestsTo>")).code == "MalformedXML"
    e = refusal({"RedirectAllRequestsTo": {"HostName": "bad host"}})
    assert (e.code, e.argument_name, e.argument_value) == ("InvalidArgument", "HostName", "bad host")


@pytest.mark.parametrize("protocol", ["ftp", "HTTP", "", "https "])
def test_protocols_other_than_http_and_https(protocol):
    message = "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically."
    e = refusal({"RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": protocol}})
    assert (e.code, e.message) == ("InvalidRequest", message)
    e = refusal(site({"Redirect": {"Protocol": protocol}}))
    assert (e.code, e.message) == ("InvalidRequest", message)


def test_no_index_document():
    for config in ({}, {"ErrorDocument": {"Key": "error.html"}}, {"RoutingRules": [{"Redirect": {"HostName": "example.com"}}]}):
        e = refusal(config)
        assert (e.code, e.message) == (
            "InvalidArgument",
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
        )
        assert (e.argument_name, e.argument_value) == ("IndexDocument", "null")


@pytest.mark.parametrize("suffix", ["", "a/index.html", "/", "index.html/"])
def test_suffix_empty_or_with_a_slash(suffix):
    e = refusal({"IndexDocument": {"Suffix": suffix}})
    assert (e.code, e.message) == ("InvalidArgument", "The IndexDocument Suffix is not well formed")
    assert (e.argument_name, e.argument_value) == ("IndexDocument", suffix)


def test_index_and_error_documents_without_their_element():
    assert refusal(raw("<IndexDocument></IndexDocument>")).code == "MalformedXML"
    assert refusal(raw(INDEX + "<ErrorDocument/>")).code == "MalformedXML"


def test_empty_error_document_key():
    e = refusal({"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": ""}})
    assert (e.code, e.message, e.argument_name) == ("InvalidArgument", "The ErrorDocument Key is not well formed", "ErrorDocument")


def test_more_than_fifty_rules():
    e = refusal(site(*[{"Redirect": {"HostName": "example.com"}}] * 51))
    assert (e.code, e.message) == (
        "InvalidRequest",
        "51 routing rules provided, the number of routing rules in a website configuration is limited to 50.",
    )


def test_empty_routing_rules():
    assert refusal(raw(INDEX + "<RoutingRules/>")).code == "MalformedXML"
    assert refusal(raw(INDEX + "<RoutingRules></RoutingRules>")).code == "MalformedXML"


def test_a_rule_without_redirect_or_with_an_empty_one():
    assert refusal(with_rules("<Condition><KeyPrefixEquals>a</KeyPrefixEquals></Condition>")).code == "MalformedXML"
    assert refusal(with_rules("<Redirect/>")).code == "MalformedXML"
    assert refusal(with_rules("<Condition><KeyPrefixEquals>a</KeyPrefixEquals></Condition><Redirect></Redirect>")).code == "MalformedXML"


def test_an_empty_condition():
    e = refusal(with_rules("<Condition/><Redirect><HostName>example.com</HostName></Redirect>"))
    assert (e.code, e.message) == (
        "InvalidRequest",
        "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.",
    )


def test_both_replacements():
    e = refusal(site({"Redirect": {"ReplaceKeyWith": "a", "ReplaceKeyPrefixWith": "b/"}}))
    assert (e.code, e.message) == ("InvalidRequest", "You can only define ReplaceKeyPrefix or ReplaceKey but not both.")


@pytest.mark.parametrize("code", ["300", "200", "400", "30", "1301"])
def test_redirect_codes_outside_3xx_except_300(code):
    e = refusal(site({"Redirect": {"HttpRedirectCode": code}}))
    assert (e.code, e.message) == (
        "InvalidRequest",
        f"The provided HTTP redirect code ({code}) is not valid. Valid codes are 3XX except 300.",
    )


@pytest.mark.parametrize("code", ["302", "200", "600", "99"])
def test_error_codes_outside_4xx_and_5xx(code):
    e = refusal(site({"Condition": {"HttpErrorCodeReturnedEquals": code}, "Redirect": {"HostName": "example.com"}}))
    assert (e.code, e.message) == ("InvalidRequest", f"The provided HTTP error code ({code}) is not valid. Valid codes are 4XX or 5XX.")


@pytest.mark.parametrize("text", ["", "abc", "3O1", "-301", "301.0"])
def test_status_codes_that_are_not_numbers(text):
    assert refusal(site({"Redirect": {"HttpRedirectCode": text}})).code == "MalformedXML"
    assert refusal(site({"Condition": {"HttpErrorCodeReturnedEquals": text}, "Redirect": {"HostName": "e.com"}})).code == "MalformedXML"


@pytest.mark.parametrize("host", ["", "a b.com", "tab\t.com", "exämple.com"])
def test_redirect_host_names_that_cannot_be_a_location(host):
    e = refusal(site({"Redirect": {"HostName": host}}))
    assert (e.code, e.argument_name, e.argument_value) == ("InvalidArgument", "HostName", host)


@pytest.mark.parametrize(
    "body",
    [
        raw(INDEX + "<Unknown/>"),  # an element S3 does not know
        raw(INDEX + INDEX),  # twice
        raw(INDEX + "<ErrorDocument><Key>a</Key><Key>b</Key></ErrorDocument>"),
        raw("<IndexDocument><Suffix>index.html</Suffix><Extra>x</Extra></IndexDocument>"),
        raw("<IndexDocument><Suffix><b>index.html</b></Suffix></IndexDocument>"),  # not a leaf
        raw("text" + INDEX),  # text beside elements
        with_rules("<Redirect><HostName>a</HostName></Redirect><Redirect><HostName>b</HostName></Redirect>"),
        with_rules("<Condition><KeyPrefixEquals>a</KeyPrefixEquals><Other/></Condition><Redirect><HostName>b</HostName></Redirect>"),
        with_rules("<Redirect><HostName>a</HostName><Port>80</Port></Redirect>"),
        raw(INDEX + "<RoutingRules><Rule><Redirect><HostName>a</HostName></Redirect></Rule></RoutingRules>"),
        b'<WebsiteConfig xmlns="' + NS.encode() + b'">' + INDEX.encode() + b"</WebsiteConfig>",  # another root
        raw("<RedirectAllRequestsTo><HostName>a</HostName><HostName>b</HostName></RedirectAllRequestsTo>"),
    ],
)
def test_what_is_not_the_schema(body):
    assert refusal(body).code == "MalformedXML"


def test_schema_problems_come_before_value_problems():
    # A bad suffix, then a rule without Redirect: the document is refused as not the schema.
    bad_suffix = raw(
        "<IndexDocument><Suffix>a/b</Suffix></IndexDocument><RoutingRules><RoutingRule><Condition/></RoutingRule></RoutingRules>"
    )
    assert refusal(bad_suffix).code == "MalformedXML"
    # 51 rules, the last with an element S3 does not know.
    rules_xml = ["<Redirect><HostName>a</HostName></Redirect>"] * 50 + ["<Redirect><HostName>a</HostName><Port>1</Port></Redirect>"]
    assert refusal(with_rules(*rules_xml)).code == "MalformedXML"
    # Redirect-all beside an index document whose Suffix is missing.
    both = raw("<RedirectAllRequestsTo><HostName>a</HostName></RedirectAllRequestsTo><IndexDocument/>")
    assert refusal(both).code == "MalformedXML"


# -- answered back ---------------------------------------------------------------------------------
ROUND_TRIPS = [
    site(
        {"Condition": {"KeyPrefixEquals": "docs/"}, "Redirect": {"ReplaceKeyPrefixWith": "documents/"}},
        {"Condition": {"KeyPrefixEquals": ""}, "Redirect": {"ReplaceKeyPrefixWith": ""}},
        {"Condition": {"HttpErrorCodeReturnedEquals": "404"}, "Redirect": {"HostName": "h.example.com", "ReplaceKeyWith": "a&b <c>.html"}},
        {
            "Condition": {"KeyPrefixEquals": "x ü/", "HttpErrorCodeReturnedEquals": "403"},
            "Redirect": {
                "Protocol": "https",
                "HttpRedirectCode": "307",
                "HostName": "api.example.com",
                "ReplaceKeyPrefixWith": "dev/resize?key=",
            },
        },
        {"Redirect": {"Protocol": "http"}},
    ),
    {"IndexDocument": {"Suffix": "index.html"}},
    {"IndexDocument": {"Suffix": "default page.htm"}, "ErrorDocument": {"Key": "errors/404 é.html"}},
    {"RedirectAllRequestsTo": {"HostName": "example.com"}},
    {"RedirectAllRequestsTo": {"HostName": "example.com:8443", "Protocol": "https"}},
]


@pytest.mark.parametrize("sent", ROUND_TRIPS)
def test_get_bucket_website_answers_what_was_put(sent):
    parsed = parse(sent)
    assert answered(parsed) == sent
    # The answer is itself a document S3 takes, read back the same.
    assert rules.parse(xml.render("WebsiteConfiguration", rules.render(parsed)), xml.parse) == parsed


@pytest.mark.parametrize("sent", ROUND_TRIPS)
def test_kept_as_json_exactly(sent):
    parsed = parse(sent)
    stored = json.loads(json.dumps(parsed.to_json()))
    assert WebsiteConfig.from_json(stored) == parsed
    assert stored == parsed.to_json()


def test_json_keeps_none_apart_from_empty():
    parsed = parse(site({"Condition": {"KeyPrefixEquals": ""}, "Redirect": {"ReplaceKeyPrefixWith": ""}},
                        {"Condition": {"HttpErrorCodeReturnedEquals": "404"}, "Redirect": {"HostName": "a.example"}}))  # fmt: skip
    again = WebsiteConfig.from_json(json.loads(json.dumps(parsed.to_json())))
    first, second = again.routing_rules
    assert first.key_prefix_equals == "" and first.error_code_equals is None and first.redirect.replace_key_prefix_with == ""
    assert second.key_prefix_equals is None and second.redirect.replace_key_prefix_with is None and second.redirect.replace_key_with is None


# -- routing: before the lookup -------------------------------------------------------------------
SITE = WebsiteConfig(index_suffix="index.html", error_key="error.html")


def test_the_root_is_the_index_document():
    assert resolve(SITE, "", HOST, "http") == Resolution(OBJECT, key="index.html")


def test_a_folder_is_its_index_document():
    assert resolve(SITE, "docs/", HOST, "http") == Resolution(OBJECT, key="docs/index.html")
    assert resolve(SITE, "a/b/c/", HOST, "https") == Resolution(OBJECT, key="a/b/c/index.html")


def test_a_plain_key_is_itself():
    assert resolve(SITE, "docs/page.html", HOST, "http") == Resolution(OBJECT, key="docs/page.html")
    assert resolve(SITE, "docs", HOST, "http") == Resolution(OBJECT, key="docs")


def test_keys_with_spaces_and_unicode_are_looked_up_as_they_are():
    assert resolve(SITE, "my docs/naïve page.html", HOST, "http") == Resolution(OBJECT, key="my docs/naïve page.html")
    assert resolve(SITE, "写真/", HOST, "http") == Resolution(OBJECT, key="写真/index.html")


def test_redirect_all_requests_keeps_the_path_and_the_request_protocol():
    config = WebsiteConfig(redirect_all_host="example.com")
    assert resolve(config, "key", HOST, "http") == Resolution(REDIRECT, location="http://example.com/key", status=301)
    assert resolve(config, "a/b c.html", HOST, "https") == Resolution(REDIRECT, location="https://example.com/a/b%20c.html", status=301)
    assert resolve(config, "", HOST, "http").location == "http://example.com/"


def test_redirect_all_requests_with_a_protocol_and_a_query():
    config = WebsiteConfig(redirect_all_host="burrito.example.com", redirect_all_protocol="https")
    assert resolve(config, "key", HOST, "http").location == "https://burrito.example.com/key"
    assert resolve(config, "key", HOST, "http", query="query=string").location == "https://burrito.example.com/key?query=string"
    assert resolve(config, "key", HOST, "http", query="acl").location == "https://burrito.example.com/key?acl"


def test_replace_key_prefix_with():
    config = config_with(RoutingRule("docs/", None, Redirect(replace_key_prefix_with="documents/")))
    assert resolve(config, "docs/article1.html", HOST, "http") == Resolution(
        REDIRECT, location=f"http://{HOST}/documents/article1.html", status=301
    )
    # The folder itself: the key the URL names, not its index document.
    assert resolve(config, "docs/", HOST, "https").location == f"https://{HOST}/documents/"
    # Keys the prefix does not start are looked up.
    assert resolve(config, "doc/x", HOST, "http") == Resolution(OBJECT, key="doc/x")
    assert resolve(config, "", HOST, "http") == Resolution(OBJECT, key="index.html")


def test_replace_key_prefix_with_nothing_strips_the_prefix():
    config = config_with(RoutingRule("old/", None, Redirect(replace_key_prefix_with="")))
    assert resolve(config, "old/a/b.html", HOST, "http").location == f"http://{HOST}/a/b.html"


def test_replace_key_with():
    config = config_with(RoutingRule("images/", None, Redirect(replace_key_with="folderdeleted.html")))
    assert resolve(config, "images/cat.png", HOST, "http") == Resolution(REDIRECT, location=f"http://{HOST}/folderdeleted.html", status=301)


def test_a_rule_redirects_even_where_the_object_exists():
    # S3 applies a matching rule before looking anything up: "r" is redirected whether or not it exists.
    config = config_with(RoutingRule("r", None, Redirect(host_name="example.com")))
    assert resolve(config, "r", HOST, "http") == Resolution(REDIRECT, location="http://example.com/r", status=301)
    assert resolve(config, "rad", HOST, "http").location == "http://example.com/rad"
    assert resolve(config, "bad", HOST, "http") == Resolution(OBJECT, key="bad")


def test_an_empty_key_prefix_and_no_condition_match_every_key():
    for rule in (RoutingRule("", None, Redirect(host_name="example.com")), RoutingRule(None, None, Redirect(host_name="example.com"))):
        config = config_with(rule)
        assert resolve(config, "any", HOST, "http") == Resolution(REDIRECT, location="http://example.com/any", status=301)
        assert resolve(config, "", HOST, "http").location == "http://example.com/"


def test_host_name_protocol_and_code():
    rule = RoutingRule("a/", None, Redirect(protocol="https", host_name="new.example.com", http_redirect_code="302"))
    assert resolve(config_with(rule), "a/b", HOST, "http") == Resolution(REDIRECT, location="https://new.example.com/a/b", status=302)
    only_protocol = RoutingRule("a/", None, Redirect(protocol="https"))
    assert resolve(config_with(only_protocol), "a/b", HOST, "http") == Resolution(REDIRECT, location=f"https://{HOST}/a/b", status=301)
    only_code = RoutingRule("a/", None, Redirect(http_redirect_code="307"))
    assert resolve(config_with(only_code), "a/b", HOST, "https") == Resolution(REDIRECT, location=f"https://{HOST}/a/b", status=307)


def test_the_first_matching_rule_wins():
    config = config_with(
        RoutingRule("docs/old/", None, Redirect(host_name="first.example.com")),
        RoutingRule("docs/", None, Redirect(host_name="second.example.com")),
        RoutingRule(None, None, Redirect(host_name="third.example.com")),
    )
    assert resolve(config, "docs/old/a", HOST, "http").location == "http://first.example.com/docs/old/a"
    assert resolve(config, "docs/new/a", HOST, "http").location == "http://second.example.com/docs/new/a"
    assert resolve(config, "x", HOST, "http").location == "http://third.example.com/x"


def test_error_code_rules_do_not_apply_before_the_lookup():
    config = config_with(
        RoutingRule(None, "404", Redirect(host_name="primary.example.com")),
        RoutingRule("docs/", "404", Redirect(host_name="docs.example.com")),
    )
    assert resolve(config, "any", HOST, "http") == Resolution(OBJECT, key="any")
    assert resolve(config, "docs/", HOST, "http") == Resolution(OBJECT, key="docs/index.html")


def test_keys_are_percent_encoded_in_locations():
    config = config_with(RoutingRule("", None, Redirect(host_name="example.com")))
    assert resolve(config, "my docs/naïve?#%.html", HOST, "http").location == "http://example.com/my%20docs/na%C3%AFve%3F%23%25.html"
    # What a path may hold stays as it is.
    assert resolve(config, "a-b_c.d~e/f(1)+g=h&i;j:k@l!m$n'o*p,q", HOST, "http").location == (
        "http://example.com/a-b_c.d~e/f(1)+g=h&i;j:k@l!m$n'o*p,q"
    )


def test_replacement_text_is_url_text():
    # The AWS blog's resizing pattern: the replacement carries a query the key is appended to.
    rule = RoutingRule(None, "403", Redirect(protocol="https", host_name="api.example.com", replace_key_prefix_with="dev/resize?key=",
                                             http_redirect_code="307"))  # fmt: skip
    assert redirect_location(rule, "300x300/blue marble.jpg", HOST, "http") == (
        "https://api.example.com/dev/resize?key=300x300/blue%20marble.jpg",
        307,
    )
    spaced = RoutingRule("a", None, Redirect(replace_key_with="new page é.html"))
    assert redirect_location(spaced, "a", HOST, "http") == (f"http://{HOST}/new%20page%20%C3%A9.html", 301)
    # Characters no header may carry are encoded, never passed through.
    broken = RoutingRule("a", None, Redirect(replace_key_with="x\r\nSet-Cookie: y"))
    assert "\r" not in redirect_location(broken, "a", HOST, "http")[0] and "\n" not in redirect_location(broken, "a", HOST, "http")[0]


def test_redirect_location_without_a_key_condition_prepends_the_prefix():
    # S3's example: a 404 for ExamplePage.html goes to report-404/ExamplePage.html on another host.
    rule = RoutingRule(None, "404", Redirect(host_name="ec2-11-22-333-44.compute-1.amazonaws.com", replace_key_prefix_with="report-404/"))
    assert redirect_location(rule, "ExamplePage.html", HOST, "http") == (
        "http://ec2-11-22-333-44.compute-1.amazonaws.com/report-404/ExamplePage.html",
        301,
    )


def test_a_rule_that_matches_its_own_result_is_applied_once():
    # docs/ -> docs/ loops in the browser, as on S3; the server answers one redirect and stops.
    config = config_with(RoutingRule("docs/", None, Redirect(replace_key_prefix_with="docs/")))
    first = resolve(config, "docs/a", HOST, "http")
    assert first == Resolution(REDIRECT, location=f"http://{HOST}/docs/a", status=301)
    assert parse(site({"Condition": {"KeyPrefixEquals": "docs/"}, "Redirect": {"ReplaceKeyPrefixWith": "docs/"}})).routing_rules


# -- routing: after the lookup ---------------------------------------------------------------------
def test_folder_index_and_redirect():
    assert folder_index(SITE, "docs") == "docs/index.html"
    assert folder_index(SITE, "a/b") == "a/b/index.html"
    assert folder_index(SITE, "docs/") is None  # already looked up as an index
    assert folder_index(SITE, "") is None
    assert folder_redirect("docs") == "/docs/"
    assert folder_redirect("a/b") == "/a/b/"
    assert folder_redirect("my docs") == "/my%20docs/"
    assert folder_redirect("写真") == "/%E5%86%99%E7%9C%9F/"
    assert rules.FOLDER_REDIRECT_STATUS == 302


def test_a_404_rule_redirects_a_missing_key():
    config = config_with(RoutingRule(None, "404", Redirect(host_name="glitter.example.com")))
    assert after_error(config, "bad", 404, HOST, "http") == Resolution(REDIRECT, location="http://glitter.example.com/bad", status=301)


def test_a_403_rule_does_not_match_a_404():
    config = config_with(RoutingRule(None, "403", Redirect(host_name="glitter.example.com")))
    assert after_error(config, "bad", 404, HOST, "http") is None
    assert after_error(config, "bad", 403, HOST, "https") == Resolution(REDIRECT, location="https://glitter.example.com/bad", status=301)


def test_an_error_rule_with_a_key_prefix_needs_both():
    config = config_with(RoutingRule("r", "404", Redirect(host_name="aerial.example.com", http_redirect_code="302")))
    assert after_error(config, "rad", 404, HOST, "http") == Resolution(REDIRECT, location="http://aerial.example.com/rad", status=302)
    assert after_error(config, "bad", 404, HOST, "http") is None
    assert after_error(config, "rad", 403, HOST, "http") is None


def test_the_first_matching_error_rule_wins_and_key_rules_are_not_reapplied():
    config = config_with(
        RoutingRule("x/", None, Redirect(host_name="before.example.com")),  # applied before the lookup, never after
        RoutingRule("docs/", "404", Redirect(host_name="docs.example.com")),
        RoutingRule(None, "404", Redirect(host_name="any.example.com")),
    )
    assert after_error(config, "docs/a", 404, HOST, "http").location == "http://docs.example.com/docs/a"
    assert after_error(config, "other", 404, HOST, "http").location == "http://any.example.com/other"
    assert after_error(config, "x/a", 404, HOST, "http").location == "http://any.example.com/x/a"
    assert after_error(config, "other", 500, HOST, "http") is None


def test_no_rules_no_redirect_after_an_error():
    assert after_error(SITE, "missing", 404, HOST, "http") is None
    assert after_error(WebsiteConfig(redirect_all_host="example.com"), "missing", 404, HOST, "http") is None


# -- object redirects ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["/anotherPage.html", "/", "http://www.example.com/", "https://example.org/example", "/a" + "b" * 2046])
def test_redirect_locations_put_object_takes(value):
    assert validate_redirect_location(value)


@pytest.mark.parametrize(
    "value", ["", "anotherPage.html", "www.example.com", "ftp://example.com/", "HTTP://example.com", "/a" + "b" * 2047, "/a\r\nb", "/\x00"]
)
def test_redirect_locations_put_object_refuses(value):
    assert not validate_redirect_location(value)


def test_two_kilobytes_are_counted_in_bytes():
    assert validate_redirect_location("/" + "é" * 1023)  # 2,047 bytes
    assert not validate_redirect_location("/" + "é" * 1024)  # 2,049 bytes


def test_an_object_redirect_is_answered_as_stored():
    assert object_redirect("/example", HOST, "http") == "/example"
    assert object_redirect("https://example.org/example", HOST, "http") == "https://example.org/example"
    assert object_redirect("http://www.example.com/", HOST, "https") == "http://www.example.com/"
    assert rules.DEFAULT_REDIRECT_STATUS == 301


def test_a_stored_value_put_object_would_refuse_is_no_redirect():
    assert object_redirect("example", HOST, "http") == ""
    assert object_redirect("/a\r\nSet-Cookie: x", HOST, "http") == ""
