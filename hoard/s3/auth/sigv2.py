"""AWS Signature Version 2 (HMAC-SHA1): header and query-string (presigned URL) forms. Pure maths.

S3 still accepts it, and boto3's ``generate_presigned_url`` produces it by default for
us-east-1, so sharing links made with default settings must work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# Query words that are part of the signed resource; everything else in the query is not signed.
SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
        "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
        "ownershipControls", "partNumber", "policy", "policyStatus", "publicAccessBlock", "replication",
        "requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "restore", "retention", "select",
        "select-type", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
    }
)


def canonical_amz_headers(headers: dict[str, str]) -> str:
    lines = []
    for name in sorted(h for h in headers if h.startswith("x-amz-")):
        lines.append(f"{name}:{headers[name].strip()}\n")
    return "".join(lines)


def canonical_resource(path: str, query: list[tuple[str, str]], bucket_from_host: str | None = None) -> str:
    """The signed resource: the path as sent (with the bucket first, for virtual-hosted requests)
    and the sub-resources of the query, sorted."""
    resource = f"/{bucket_from_host}{path}" if bucket_from_host else path
    words = sorted((k, v) for k, v in query if k in SUBRESOURCES)
    if words:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in words)
    return resource


def string_to_sign(method: str, headers: dict[str, str], date: str, resource: str) -> str:
    """``date`` is the Date header (empty when x-amz-date is sent) or, presigned, Expires."""
    return "\n".join(
        [method, headers.get("content-md5", ""), headers.get("content-type", ""), date, canonical_amz_headers(headers) + resource]
    )


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode("utf-8", "surrogateescape"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
