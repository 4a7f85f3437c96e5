"""Request logs on a real server with boto3: the JSON access log (one line per request, its id the
answer's x-amz-request-id), the JSON audit log (writes, admin calls and refusals; no secret), and
S3 server access logging (PutBucketLogging / GetBucketLogging, and log objects delivered into the
target bucket, read back with a strict parser of S3's log format)."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer, wait_for

LOG_SERVICE = "logging.s3.amazonaws.com"

# S3's server access log line: 26 fields; quoted ones may hold spaces (and \" inside).
_FIELD = r'(\[[^\]]*\]|"(?:[^"\\]|\\.)*"|\S+)'
_LINE = re.compile(r"^" + r" ".join([_FIELD] * 26) + r"$")
NAMES = (
    "bucket_owner bucket time remote requester request_id operation key request_uri status error_code bytes_sent object_size "
    "total_time turnaround referer user_agent version_id host_id signature_version cipher_suite auth_type host_header tls_version "
    "access_point_arn acl_required"
).split()


def parse_s3_log_line(line: str) -> dict[str, str]:
    m = _LINE.match(line)
    assert m, f"not an S3 server access log line: {line!r}"
    values = dict(zip(NAMES, m.groups(), strict=True))
    assert re.fullmatch(r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\]", values["time"]), values["time"]
    assert re.fullmatch(r"\d{3}", values["status"])
    for name in ("bytes_sent", "object_size", "total_time", "turnaround"):
        assert values[name] == "-" or values[name].isdigit(), (name, values[name])
    for name in ("request_uri", "referer", "user_agent"):
        assert values[name].startswith('"') and values[name].endswith('"'), name
    return values


@pytest.fixture(scope="module", params=[1, 2], ids=["one-process", "two-workers"])
def logged(request, tmp_path_factory) -> Iterator[HoardServer]:
    """With two workers, requests land on either; both append to the same JSON logs and spool
    apart, and the leader delivers both spools."""
    base = tmp_path_factory.mktemp("reqlog")
    srv = HoardServer(
        base / "data",
        extra_args=["--workers", str(request.param)] if request.param > 1 else [],
        env_extra={
            "HOARD_ACCESS_LOG": str(base / "access.log"),
            "HOARD_AUDIT_LOG": str(base / "audit.log"),
            "HOARD_LOGGING_DELIVERY_SECONDS": "0.5",
        },
    )
    srv.start()
    srv.access_log = base / "access.log"  # type: ignore[attr-defined]
    srv.audit_log = base / "audit.log"  # type: ignore[attr-defined]
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture
def s3(logged):
    return logged.client()


def new_bucket(s3) -> str:
    name = f"log-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def json_lines(path) -> list[dict]:
    """The log's whole lines: a line being appended as the file is read is left for the next read."""
    if not path.exists():
        return []
    *whole, _unfinished = path.read_text().split("\n")
    return [json.loads(line) for line in whole]


def lines_with(path, request_ids: set[str], timeout: float = 10) -> dict[str, dict]:
    found: dict[str, dict] = {}

    def all_there() -> bool:
        found.clear()
        found.update({d["request_id"]: d for d in json_lines(path) if d["request_id"] in request_ids})
        return set(found) == request_ids

    assert wait_for(all_there, timeout), f"missing from {path.name}: {request_ids - set(found)}"
    return found


def rid(response: dict) -> str:
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]


def test_access_log_has_every_request_with_its_request_id(logged, s3):
    bucket = new_bucket(s3)
    put = s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    get = s3.get_object(Bucket=bucket, Key="a/b.txt")
    assert get["Body"].read() == b"hello"
    head = s3.head_object(Bucket=bucket, Key="a/b.txt")
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="nope")
    lines = lines_with(logged.access_log, {rid(put), rid(get), rid(head), rid(missing.value.response)})
    p, g, h, m = lines[rid(put)], lines[rid(get)], lines[rid(head)], lines[rid(missing.value.response)]
    assert (p["operation"], p["method"], p["bucket"], p["key"], p["status"]) == ("PutObject", "PUT", bucket, "a/b.txt", 200)
    assert p["bytes_received"] >= 5 and p["principal"].startswith("arn:aws:iam::") and p["access_key"] == ACCESS_KEY
    assert (g["operation"], g["status"], g["bytes_sent"]) == ("GetObject", 200, 5)
    assert (h["operation"], h["method"]) == ("HeadObject", "HEAD")
    assert (m["status"], m["error_code"]) == (404, "NoSuchKey")
    for line in lines.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
        assert line["remote"] == "127.0.0.1" and line["duration_ms"] >= 0 and "Botocore" in line["user_agent"]


def test_audit_log_has_writes_admin_calls_and_refusals_without_secrets(logged, s3):
    bucket = new_bucket(s3)
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    get = s3.get_object(Bucket=bucket, Key="k")
    delete = s3.delete_object(Bucket=bucket, Key="k")
    bad = boto3.client(
        "s3", endpoint_url=logged.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key="wrong-secret-key",
        region_name=REGION, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )  # fmt: skip
    with pytest.raises(ClientError) as refused:
        bad.put_object(Bucket=bucket, Key="k2", Body=b"y")
    s3.put_object(Bucket=bucket, Key="signed", Body=b"z")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "signed"}, ExpiresIn=60)
    presigned = urllib.request.urlopen(url)
    assert presigned.read() == b"z"
    presigned_line = lines_with(logged.access_log, {presigned.headers["x-amz-request-id"]})[presigned.headers["x-amz-request-id"]]
    assert ACCESS_KEY in presigned_line["query"] and "Signature" not in presigned_line["query"]
    logged.admin("user", "add", f"auditor-{uuid.uuid4().hex[:6]}")
    wanted = {rid(put), rid(delete), rid(refused.value.response)}
    lines = lines_with(logged.audit_log, wanted)
    assert lines[rid(put)]["outcome"] == "succeeded" and lines[rid(delete)]["operation"] == "DeleteObject"
    denied = lines[rid(refused.value.response)]
    assert (denied["status"], denied["error_code"], denied["outcome"], denied["access_key"]) == (403, "SignatureDoesNotMatch", "denied", ACCESS_KEY)
    text = logged.audit_log.read_text()
    assert rid(get) not in text  # a read is not audited
    assert wait_for(lambda: any(d["operation"] == "Admin" and d["method"] == "POST" for d in json_lines(logged.audit_log)), 10)
    for secret in (SECRET_KEY, "wrong-secret-key", "Signature=", "X-Amz-Signature", "AWS4-HMAC-SHA256 Credential"):
        assert secret not in text and secret not in logged.access_log.read_text()


def allow_log_delivery(s3, target: str, source: str, prefix: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": LOG_SERVICE},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{target}/{prefix}*",
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{source}"}},
    }
    s3.put_bucket_policy(Bucket=target, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def test_bucket_logging_round_trip(logged, s3):
    source, target = new_bucket(s3), new_bucket(s3)
    allow_log_delivery(s3, target, source, "logs/")
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "logs/"}})
    got = s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]
    assert got == {"TargetBucket": target, "TargetPrefix": "logs/", "TargetObjectKeyFormat": {"SimplePrefix": {}}}
    requests = {
        rid(s3.put_object(Bucket=source, Key="dir/one two.txt", Body=b"12345")): ("REST.PUT.OBJECT", "200", "-"),
        rid(s3.get_object(Bucket=source, Key="dir/one two.txt")): ("REST.GET.OBJECT", "200", "-"),
        rid(s3.head_object(Bucket=source, Key="dir/one two.txt")): ("REST.HEAD.OBJECT", "200", "-"),
        rid(s3.delete_object(Bucket=source, Key="dir/one two.txt")): ("REST.DELETE.OBJECT", "204", "-"),
    }
    try:
        s3.get_object(Bucket=source, Key="missing")
    except ClientError as e:
        requests[rid(e.response)] = ("REST.GET.OBJECT", "404", "NoSuchKey")
    found: dict[str, dict] = {}
    keys: list[str] = []

    def delivered() -> bool:
        keys[:] = [o["Key"] for o in s3.list_objects_v2(Bucket=target).get("Contents", [])]
        found.clear()
        for key in keys:
            for line in s3.get_object(Bucket=target, Key=key)["Body"].read().decode().splitlines():
                values = parse_s3_log_line(line)
                found[values["request_id"]] = values
        return set(requests) <= set(found)

    assert wait_for(delivered, 15), f"delivered: {sorted(found)}; wanted {sorted(requests)}"
    for key in keys:
        assert re.fullmatch(r"logs/\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{16}", key), key
    for request_id, (operation, status, error) in requests.items():
        line = found[request_id]
        assert (line["operation"], line["status"], line["error_code"], line["bucket"]) == (operation, status, error, source)
        assert line["signature_version"] == "SigV4" and line["auth_type"] == "AuthHeader" and line["remote"] == "127.0.0.1"
    put_line = found[next(iter(requests))]
    assert put_line["key"] == "dir/one%20two.txt" and put_line["object_size"] == "5"
    assert put_line["request_uri"].startswith('"PUT /' + source + "/dir/one%20two.txt")
    # Delivery's own writes are not logged: the target bucket's objects are not requests.
    assert all(v["bucket"] == source for v in found.values())
    # Off again: nothing more is delivered.
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)


def test_partitioned_prefix_keys(logged, s3):
    source, target = new_bucket(s3), new_bucket(s3)
    allow_log_delivery(s3, target, source, "p/")
    fmt = {"PartitionedPrefix": {"PartitionDateSource": "DeliveryTime"}}
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "p/", "TargetObjectKeyFormat": fmt}})
    assert s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]["TargetObjectKeyFormat"] == fmt
    s3.put_object(Bucket=source, Key="x", Body=b"x")
    assert wait_for(lambda: s3.list_objects_v2(Bucket=target).get("KeyCount", 0) > 0, 15)
    key = s3.list_objects_v2(Bucket=target)["Contents"][0]["Key"]
    assert re.fullmatch(rf"p/\d{{12}}/{REGION}/{source}/\d{{4}}/\d\d/\d\d/\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{{16}}", key), key


def code_of(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_put_bucket_logging_refusals(logged, s3):
    source, target = new_bucket(s3), new_bucket(s3)

    def enable(bucket: str = source, **fields) -> None:
        s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "log/", **fields}})

    assert code_of(lambda: enable(bucket=source + "-none")) == "NoSuchBucket"
    assert code_of(lambda: s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target + "-none", "TargetPrefix": "l/"}})) == (
        "InvalidTargetBucketForLogging"
    )
    assert code_of(enable) == "AccessDenied"  # the target's policy does not let log delivery write
    allow_log_delivery(s3, target, source, "log/")
    enable()
    assert code_of(lambda: enable(TargetObjectKeyFormat={"PartitionedPrefix": {"PartitionDateSource": "Tomorrow"}})) == "MalformedXML"

    def raw(body: bytes) -> None:
        s3.meta.events.register_first("before-sign.s3.PutBucketLogging", _replace_body(body))
        try:
            s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
        finally:
            s3.meta.events.unregister("before-sign.s3.PutBucketLogging", _replace_body(body))

    assert code_of(lambda: raw(b"<BucketLoggingStatus><LoggingEnabled>")) == "MalformedXML"
    assert code_of(lambda: raw(b"<BucketLoggingStatus><LoggingEnabled><TargetPrefix>x</TargetPrefix></LoggingEnabled></BucketLoggingStatus>")) == "MalformedXML"
    assert code_of(lambda: raw(b"<BucketLoggingStatus><Surprise/></BucketLoggingStatus>")) == "MalformedXML"
    # The ACL way still works: a target whose ACL grants the LogDelivery group WRITE.
    acl_target = new_bucket(s3)
    s3.put_bucket_acl(Bucket=acl_target, ACL="log-delivery-write")
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": acl_target, "TargetPrefix": ""}})
    assert s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]["TargetBucket"] == acl_target


_BODIES: dict[bytes, object] = {}


def _replace_body(body: bytes):
    """A before-sign hook (one per body, so unregister finds it) sending ``body`` as it is."""
    if body not in _BODIES:

        def hook(request, **kwargs):
            import base64
            import hashlib

            request.data = body
            request.headers["Content-Length"] = str(len(body))
            request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
            for name in [h for h in request.headers if h.lower().startswith("x-amz-checksum") or h.lower() == "x-amz-sdk-checksum-algorithm"]:
                del request.headers[name]

        _BODIES[body] = hook
    return _BODIES[body]
