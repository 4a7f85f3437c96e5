"""The pure parts of the request logs: the record built from an ASGI scope, S3's server access
log line and log object keys, the JSON logs' fields and what the audit log keeps, the
BucketLoggingStatus document, who may receive logs, and the spool's files."""

from __future__ import annotations

import json
import shlex
import time
from xml.etree.ElementTree import fromstring

import pytest

from hoard.requestlog import jsonlog, record, s3format, spool, status
from hoard.requestlog.permission import delivery_allowed


def scope(method="GET", path="/bkt/some key", query=b"", headers=()) -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.replace(" ", "%20").encode(),
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1:9000"), (b"user-agent", b'ua "quoted" [x]'), *headers],
        "client": ("10.0.0.7", 5555),
        "http_version": "1.1",
        "scheme": "http",
    }


def make(status_code=200, body=b"", method="GET", query=b"", headers=(), response_headers=None, note=None) -> record.RequestRecord:
    n = note or record.RequestNote(
        access_key="AKID", principal_arn="arn:aws:iam::123456789012:user/ann", requester_id="arn:aws:iam::123456789012:user/ann", bucket="bkt", key="some key"
    )
    return record.build(
        scope(method, query=query, headers=headers), n, endpoint="s3", request_id="ABCDEF0123456789", host_id="w0", operation="GetObject",
        status=status_code, response_headers=response_headers or {"content-length": "42"}, response_body=body, received=0, sent=42,
        started_at=10.0, first_byte_at=10.004, finished_at=10.0125, started_clock=1549411238.5,
    )  # fmt: skip


def test_s3_log_line_has_26_fields_as_s3_tests_and_aws_parse_them():
    line = s3format.format_line(make(), "owner-canonical-id")
    chunks = shlex.split(line.replace("[", '"').replace("]", '"'))
    assert len(chunks) == 26
    assert chunks[:9] == [
        "owner-canonical-id", "bkt", "06/Feb/2019:00:00:38 +0000", "10.0.0.7", "arn:aws:iam::123456789012:user/ann", "ABCDEF0123456789",
        "REST.GET.OBJECT", "some%20key", "GET /bkt/some%20key HTTP/1.1",
    ]  # fmt: skip
    assert chunks[9:15] == ["200", "-", "42", "42", "12", "4"]
    assert chunks[16].startswith('ua "quoted"')
    assert chunks[18:] == ["ABCDEF0123456789-w0", "-", "-", "-", "127.0.0.1:9000", "-", "-", "-"]


def test_error_code_and_signature_fields():
    rec = make(404, b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>", headers=[(b"authorization", b"AWS4-HMAC-SHA256 Credential=AKID2/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc")])
    assert rec.error_code == "NoSuchKey" and rec.object_size is None
    assert (rec.signature_version, rec.auth_type) == ("SigV4", "AuthHeader")
    fields = s3format.format_line(rec, "o").split(" ")
    assert "NoSuchKey" in fields and "SigV4" in fields and "AuthHeader" in fields


def test_query_credentials_never_kept():
    rec = make(query=b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F2024&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok&partNumber=1")
    assert "deadbeef" not in rec.query and "tok" not in rec.query and "partNumber=1" in rec.query
    assert (rec.signature_version, rec.auth_type) == ("SigV4", "QueryString")
    assert "deadbeef" not in s3format.format_line(rec, "o") and "deadbeef" not in json.dumps(jsonlog.fields(rec))


def test_unsigned_request_is_anonymous():
    rec = make(note=record.RequestNote(bucket="bkt"))
    assert rec.principal == "anonymous" and rec.access_key is None
    assert shlex.split(s3format.format_line(rec, "o").replace("[", '"').replace("]", '"'))[4] == "-"


@pytest.mark.parametrize(
    "operation, method, key, expected",
    [
        ("PutObject", "PUT", "k", "REST.PUT.OBJECT"),
        ("ListObjectsV2", "GET", None, "REST.GET.BUCKET"),
        ("DeleteObjects", "POST", None, "REST.POST.MULTI_OBJECT_DELETE"),
        ("PutBucketLogging", "PUT", None, "REST.PUT.LOGGING_STATUS"),
        ("GetBucketReplication", "GET", None, "REST.GET.REPLICATION"),
        ("PutObjectLockConfiguration", "PUT", None, "REST.PUT.LOCK_CONFIGURATION"),
    ],
)
def test_operation_names(operation, method, key, expected):
    rec = make()
    rec = record.RequestRecord(**{**rec.__dict__, "operation": operation, "method": method, "key": key})
    assert s3format.operation_name(rec) == expected


def test_object_keys_simple_and_partitioned():
    when = time.mktime((2024, 3, 5, 7, 8, 9, 0, 0, 0)) - time.timezone
    assert s3format.object_key("logs/", when, unique="0123456789ABCDEF") == "logs/2024-03-05-07-08-09-0123456789ABCDEF"
    event = when - 86400 * 2
    key = s3format.object_key("p/", when, partitioned=True, date_source_time=event, account="123456789012", region="us-east-1", bucket="src", unique="U" * 16)
    assert key == "p/123456789012/us-east-1/src/2024/03/03/2024-03-05-07-08-09-" + "U" * 16


def test_audit_keeps_writes_admin_and_refusals_only():
    def rec(method, operation, code):
        base = make(code)
        return record.RequestRecord(**{**base.__dict__, "method": method, "operation": operation})

    assert jsonlog.audited(rec("PUT", "PutObject", 200))
    assert jsonlog.audited(rec("DELETE", "DeleteObject", 204))
    assert jsonlog.audited(rec("GET", "Admin", 200))
    assert jsonlog.audited(rec("GET", "GetObject", 403))
    assert not jsonlog.audited(rec("GET", "GetObject", 200))
    assert not jsonlog.audited(rec("HEAD", "HeadObject", 404))
    assert not jsonlog.audited(rec("OPTIONS", "Preflight", 200))
    assert jsonlog.audit_fields(rec("GET", "GetObject", 403))["outcome"] == "denied"


def test_json_line_is_one_line_with_iso_time():
    values = jsonlog.fields(make())
    text = jsonlog.line(values)
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    assert json.loads(text)["time"] == "2019-02-06T00:00:38.500Z"


def doc(inner: str) -> status.LoggingConfig | None:
    return status.parse(fromstring(f"<BucketLoggingStatus>{inner}</BucketLoggingStatus>"))


def test_logging_status_documents():
    assert doc("") is None
    c = doc("<LoggingEnabled><TargetBucket>t</TargetBucket><TargetPrefix>l/</TargetPrefix></LoggingEnabled>")
    assert c == status.LoggingConfig("t", "l/")
    c = doc(
        "<LoggingEnabled><TargetBucket>t</TargetBucket><TargetPrefix></TargetPrefix><TargetGrants><Grant><Grantee><URI>http://x</URI></Grantee>"
        "<Permission>READ</Permission></Grant></TargetGrants><TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>DeliveryTime"
        "</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat></LoggingEnabled>"
    )
    assert c is not None and c.partitioned and c.date_source == "DeliveryTime" and c.grants == (("uri", "http://x", "READ"),)
    assert status.LoggingConfig.from_json(c.to_json()) == c
    for bad in (
        "<LoggingEnabled><TargetPrefix>x</TargetPrefix></LoggingEnabled>",
        "<LoggingEnabled><TargetBucket>t</TargetBucket></LoggingEnabled>",
        "<LoggingEnabled><TargetBucket>t</TargetBucket><TargetPrefix/><Other/></LoggingEnabled>",
        "<LoggingEnabled><TargetBucket>t</TargetBucket><TargetPrefix/><TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>Soon"
        "</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat></LoggingEnabled>",
        "<LoggingEnabled><TargetBucket>t</TargetBucket><TargetPrefix/><TargetGrants><Grant><Grantee><ID>a</ID></Grantee>"
        "<Permission>WRITE_ACP</Permission></Grant></TargetGrants></LoggingEnabled>",
    ):
        with pytest.raises(status.LoggingConfigError) as e:
            doc(bad)
        assert e.value.code == "MalformedXML"


def policy(**statement) -> dict:
    base = {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::tgt/log/*"}
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": [{**base, **statement}]})}


def test_delivery_permission():
    ids = ("123456789012", "canon")
    assert delivery_allowed("tgt", policy(), "log/x", "src", ids)
    assert not delivery_allowed("tgt", policy(), "other/x", "src", ids)
    assert not delivery_allowed("tgt", {}, "log/x", "src", ids)
    assert not delivery_allowed("tgt", policy(Principal={"AWS": "*"}), "log/x", "src", ids)
    assert not delivery_allowed("tgt", policy(Action="s3:GetObject"), "log/x", "src", ids)
    assert delivery_allowed("tgt", policy(Condition={"StringEquals": {"aws:SourceAccount": "canon"}}), "log/x", "src", ids)
    assert not delivery_allowed("tgt", policy(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:s3:::other"}}), "log/x", "src", ids)
    denied = json.loads(policy()["policy"])
    denied["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::tgt/*"})
    assert not delivery_allowed("tgt", {"policy": json.dumps(denied)}, "log/x", "src", ids)
    grant = {"acl": [["Group", "http://acs.amazonaws.com/groups/s3/LogDelivery", "WRITE"]]}
    assert delivery_allowed("tgt", grant, "log/x", "src", ids)
    assert not delivery_allowed("tgt", {**grant, "ownership": "BucketOwnerEnforced"}, "log/x", "src", ids)


def test_spool_rolls_and_reads_whole_lines_only(tmp_path):
    s = spool.Spool(tmp_path, "w0", roll_seconds=60)
    s.start()
    s.add(spool.spool_line("src", 1.5, "line one"))
    s.add(spool.spool_line("src", 2.5, "line two"))
    s.close()  # rolls the file
    ready = spool.ready_files(tmp_path)
    assert len(ready) == 1 and not (tmp_path / "w0.open").exists()
    with open(ready[0], "ab") as f:
        f.write(b'{"b":"src","t":3,"l":"cut sh')  # a crash mid-write
    assert list(spool.read_ready(ready[0])) == [("src", 1.5, "line one"), ("src", 2.5, "line two")]
    (tmp_path / "w1.open").write_bytes(spool.spool_line("b", 1, "left by a crash"))
    again = spool.Spool(tmp_path, "w1", 60)
    again.start()  # a process started again rolls its old file first
    again.close()
    assert len(spool.ready_files(tmp_path)) == 2
