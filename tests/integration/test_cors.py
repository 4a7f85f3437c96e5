"""CORS: bucket configurations, a browser's preflight OPTIONS, and Access-Control-* headers on
answers, sent as a browser sends them (raw HTTP with an Origin) against a real server."""

from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError

from tests.integration.test_multipart import error

RULES = {
    "CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*suffix"]},
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["start*end"]},
        {"AllowedMethods": ["PUT", "POST"], "AllowedOrigins": ["https://app.example"], "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
    ]
}


def test_configuration_round_trip_and_removal(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert error(exc) == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [(r["AllowedOrigins"], r["AllowedMethods"]) for r in got] == [(r["AllowedOrigins"], r["AllowedMethods"]) for r in RULES["CORSRules"]]
    assert got[2]["MaxAgeSeconds"] == 600 and got[2]["ExposeHeaders"] == ["ETag"] and got[2]["AllowedHeaders"] == ["content-type", "x-amz-*"]
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert error(exc) == (404, "NoSuchCORSConfiguration")


@pytest.mark.parametrize(
    "rules,code",
    [
        ({"CORSRules": [{"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]}, "InvalidRequest"),
        ({"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*a*"]}]}, "InvalidRequest"),
    ],
)
def test_bad_configurations_are_refused(s3, bucket, rules, code):
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)
    assert error(exc) == (400, code)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_preflight(server, s3, bucket):
    url = f"{server.endpoint}/{bucket}/k"
    # Without a configuration: refused.
    assert requests.options(url, headers={"Origin": "foo.suffix", "Access-Control-Request-Method": "GET"}, timeout=10).status_code == 403
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    assert requests.options(url, timeout=10).status_code == 400
    assert requests.options(url, headers={"Origin": "foo.suffix"}, timeout=10).status_code == 400
    cases = [
        ({"Origin": "foo.suffix", "Access-Control-Request-Method": "GET"}, 200, "foo.suffix", "GET"),
        ({"Origin": "startXYZend", "Access-Control-Request-Method": "GET"}, 200, "startXYZend", "GET"),
        ({"Origin": "foo.bar", "Access-Control-Request-Method": "GET"}, 403, None, None),
        ({"Origin": "foo.suffix", "Access-Control-Request-Method": "PUT"}, 403, None, None),
        ({"Origin": "https://app.example", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "Content-Type, X-Amz-Meta-Owner"}, 200, "https://app.example", "PUT, POST"),
        ({"Origin": "https://app.example", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization-x"}, 403, None, None),
    ]
    for headers, status, origin, methods in cases:
        r = requests.options(url, headers=headers, timeout=10)
        assert (r.status_code, r.headers.get("access-control-allow-origin"), r.headers.get("access-control-allow-methods")) == (status, origin, methods), headers
    r = requests.options(url, headers=cases[4][0], timeout=10)
    assert r.headers["access-control-max-age"] == "600"
    assert r.headers["access-control-allow-headers"] == "content-type, x-amz-meta-owner"


def test_headers_on_answers(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    s3.put_object(Bucket=bucket, Key="page", Body=b"hello")
    base = f"{server.endpoint}/{bucket}"
    r = requests.get(f"{base}/page", headers={"Origin": "a.suffix"}, timeout=10)
    assert (r.status_code, r.headers.get("access-control-allow-origin"), r.headers.get("access-control-allow-methods")) == (200, "a.suffix", "GET")
    assert "Origin" in r.headers["vary"]
    r = requests.get(f"{base}/page", headers={"Origin": "nobody.example"}, timeout=10)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in requests.get(f"{base}/page", timeout=10).headers
    # Errors carry them too: a missing key, a write refused.
    r = requests.get(f"{base}/missing", headers={"Origin": "a.suffix"}, timeout=10)
    assert (r.status_code, r.headers.get("access-control-allow-origin")) == (404, "a.suffix")
    r = requests.put(f"{base}/new", data=b"x", headers={"Origin": "https://app.example"}, timeout=10)
    assert (r.status_code, r.headers.get("access-control-allow-origin"), r.headers.get("access-control-expose-headers")) == (403, "https://app.example", "ETag")
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="page")
