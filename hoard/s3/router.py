"""The router: one table of every S3 operation, and the function that picks one for a request.

Each operation appears once, named exactly as AWS names it, with the method, the target
(service, bucket or object), the query words and the header that select it. Rows are tried
in order, so more specific rows come first within a (method, target) group.
"""

from __future__ import annotations

from dataclasses import dataclass

from hoard.s3.errors import S3Error


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    target: str  # "service", "bucket" or "object"
    query: tuple[str, ...] = ()  # words that must be present; "word=value" pins a value
    header: str | None = None


@dataclass(frozen=True)
class Operation:
    name: str
    bucket: str | None
    key: str | None


def _r(name: str, method: str, target: str, *query: str, header: str | None = None) -> Route:
    return Route(name, method, target, tuple(query), header)


S, B, OBJ = "service", "bucket", "object"

ROUTES: tuple[Route, ...] = (
    # -- service -------------------------------------------------------------------------
    _r("ListBuckets", "GET", S),
    # -- bucket: GET -----------------------------------------------------------------------
    _r("CreateSession", "GET", B, "session"),
    _r("GetBucketAbac", "GET", B, "abac"),
    _r("GetBucketAccelerateConfiguration", "GET", B, "accelerate"),
    _r("GetBucketAcl", "GET", B, "acl"),
    _r("GetBucketAnalyticsConfiguration", "GET", B, "analytics", "id"),
    _r("ListBucketAnalyticsConfigurations", "GET", B, "analytics"),
    _r("GetBucketCors", "GET", B, "cors"),
    _r("GetBucketEncryption", "GET", B, "encryption"),
    _r("GetBucketIntelligentTieringConfiguration", "GET", B, "intelligent-tiering", "id"),
    _r("ListBucketIntelligentTieringConfigurations", "GET", B, "intelligent-tiering"),
    _r("GetBucketInventoryConfiguration", "GET", B, "inventory", "id"),
    _r("ListBucketInventoryConfigurations", "GET", B, "inventory"),
    _r("GetBucketLifecycleConfiguration", "GET", B, "lifecycle"),
    _r("GetBucketLocation", "GET", B, "location"),
    _r("GetBucketLogging", "GET", B, "logging"),
    _r("GetBucketMetadataConfiguration", "GET", B, "metadataConfiguration"),
    _r("GetBucketMetadataTableConfiguration", "GET", B, "metadataTable"),
    _r("GetBucketMetricsConfiguration", "GET", B, "metrics", "id"),
    _r("ListBucketMetricsConfigurations", "GET", B, "metrics"),
    _r("GetBucketNotificationConfiguration", "GET", B, "notification"),
    _r("GetBucketOwnershipControls", "GET", B, "ownershipControls"),
    _r("GetBucketPolicy", "GET", B, "policy"),
    _r("GetBucketPolicyStatus", "GET", B, "policyStatus"),
    _r("GetBucketReplication", "GET", B, "replication"),
    _r("GetBucketRequestPayment", "GET", B, "requestPayment"),
    _r("GetBucketTagging", "GET", B, "tagging"),
    _r("GetBucketVersioning", "GET", B, "versioning"),
    _r("GetBucketWebsite", "GET", B, "website"),
    _r("GetObjectLockConfiguration", "GET", B, "object-lock"),
    _r("GetPublicAccessBlock", "GET", B, "publicAccessBlock"),
    _r("ListMultipartUploads", "GET", B, "uploads"),
    _r("ListObjectVersions", "GET", B, "versions"),
    _r("ListObjectsV2", "GET", B, "list-type=2"),
    _r("ListObjects", "GET", B),
    _r("HeadBucket", "HEAD", B),
    # -- bucket: PUT -----------------------------------------------------------------------
    _r("PutBucketAbac", "PUT", B, "abac"),
    _r("PutBucketAccelerateConfiguration", "PUT", B, "accelerate"),
    _r("PutBucketAcl", "PUT", B, "acl"),
    _r("PutBucketAnalyticsConfiguration", "PUT", B, "analytics"),
    _r("PutBucketCors", "PUT", B, "cors"),
    _r("PutBucketEncryption", "PUT", B, "encryption"),
    _r("PutBucketIntelligentTieringConfiguration", "PUT", B, "intelligent-tiering"),
    _r("PutBucketInventoryConfiguration", "PUT", B, "inventory"),
    _r("PutBucketLifecycleConfiguration", "PUT", B, "lifecycle"),
    _r("PutBucketLogging", "PUT", B, "logging"),
    _r("PutBucketMetricsConfiguration", "PUT", B, "metrics"),
    _r("PutBucketNotificationConfiguration", "PUT", B, "notification"),
    _r("PutBucketOwnershipControls", "PUT", B, "ownershipControls"),
    _r("PutBucketPolicy", "PUT", B, "policy"),
    _r("PutBucketReplication", "PUT", B, "replication"),
    _r("PutBucketRequestPayment", "PUT", B, "requestPayment"),
    _r("PutBucketTagging", "PUT", B, "tagging"),
    _r("PutBucketVersioning", "PUT", B, "versioning"),
    _r("PutBucketWebsite", "PUT", B, "website"),
    _r("PutObjectLockConfiguration", "PUT", B, "object-lock"),
    _r("PutPublicAccessBlock", "PUT", B, "publicAccessBlock"),
    _r("UpdateBucketMetadataInventoryTableConfiguration", "PUT", B, "metadataInventoryTable"),
    _r("UpdateBucketMetadataJournalTableConfiguration", "PUT", B, "metadataJournalTable"),
    _r("UpdateBucketMetadataAnnotationTableConfiguration", "PUT", B, "metadataAnnotationTable"),
    _r("CreateBucket", "PUT", B),
    # -- bucket: POST ----------------------------------------------------------------------
    _r("DeleteObjects", "POST", B, "delete"),
    _r("CreateBucketMetadataConfiguration", "POST", B, "metadataConfiguration"),
    _r("CreateBucketMetadataTableConfiguration", "POST", B, "metadataTable"),
    _r("PostObject", "POST", B),
    # -- bucket: DELETE --------------------------------------------------------------------
    _r("DeleteBucketAnalyticsConfiguration", "DELETE", B, "analytics"),
    _r("DeleteBucketCors", "DELETE", B, "cors"),
    _r("DeleteBucketEncryption", "DELETE", B, "encryption"),
    _r("DeleteBucketIntelligentTieringConfiguration", "DELETE", B, "intelligent-tiering"),
    _r("DeleteBucketInventoryConfiguration", "DELETE", B, "inventory"),
    _r("DeleteBucketLifecycle", "DELETE", B, "lifecycle"),
    _r("DeleteBucketMetadataConfiguration", "DELETE", B, "metadataConfiguration"),
    _r("DeleteBucketMetadataTableConfiguration", "DELETE", B, "metadataTable"),
    _r("DeleteBucketMetricsConfiguration", "DELETE", B, "metrics"),
    _r("DeleteBucketOwnershipControls", "DELETE", B, "ownershipControls"),
    _r("DeleteBucketPolicy", "DELETE", B, "policy"),
    _r("DeleteBucketReplication", "DELETE", B, "replication"),
    _r("DeleteBucketTagging", "DELETE", B, "tagging"),
    _r("DeleteBucketWebsite", "DELETE", B, "website"),
    _r("DeletePublicAccessBlock", "DELETE", B, "publicAccessBlock"),
    _r("DeleteBucket", "DELETE", B),
    # -- object: GET / HEAD ----------------------------------------------------------------
    _r("GetObjectAcl", "GET", OBJ, "acl"),
    _r("GetObjectAnnotation", "GET", OBJ, "annotation", "annotationName"),
    _r("ListObjectAnnotations", "GET", OBJ, "annotation"),
    _r("GetObjectAttributes", "GET", OBJ, "attributes"),
    _r("GetObjectLegalHold", "GET", OBJ, "legal-hold"),
    _r("GetObjectRetention", "GET", OBJ, "retention"),
    _r("GetObjectTagging", "GET", OBJ, "tagging"),
    _r("GetObjectTorrent", "GET", OBJ, "torrent"),
    _r("ListParts", "GET", OBJ, "uploadId"),
    _r("GetObject", "GET", OBJ),
    _r("HeadObject", "HEAD", OBJ),
    # -- object: PUT -----------------------------------------------------------------------
    _r("UploadPartCopy", "PUT", OBJ, "partNumber", "uploadId", header="x-amz-copy-source"),
    _r("UploadPart", "PUT", OBJ, "partNumber", "uploadId"),
    _r("PutObjectAcl", "PUT", OBJ, "acl"),
    _r("PutObjectAnnotation", "PUT", OBJ, "annotation"),
    _r("PutObjectLegalHold", "PUT", OBJ, "legal-hold"),
    _r("PutObjectRetention", "PUT", OBJ, "retention"),
    _r("PutObjectTagging", "PUT", OBJ, "tagging"),
    _r("RenameObject", "PUT", OBJ, "renameObject"),
    _r("UpdateObjectEncryption", "PUT", OBJ, "encryption"),
    _r("CopyObject", "PUT", OBJ, header="x-amz-copy-source"),
    _r("PutObject", "PUT", OBJ),
    # -- object: POST ----------------------------------------------------------------------
    _r("CreateMultipartUpload", "POST", OBJ, "uploads"),
    _r("CompleteMultipartUpload", "POST", OBJ, "uploadId"),
    _r("RestoreObject", "POST", OBJ, "restore"),
    _r("SelectObjectContent", "POST", OBJ, "select"),
    # -- object: DELETE --------------------------------------------------------------------
    _r("AbortMultipartUpload", "DELETE", OBJ, "uploadId"),
    _r("DeleteObjectTagging", "DELETE", OBJ, "tagging"),
    _r("DeleteObjectAnnotation", "DELETE", OBJ, "annotation"),
    _r("DeleteObject", "DELETE", OBJ),
)

_BY_METHOD_TARGET: dict[tuple[str, str], list[Route]] = {}
for _route in ROUTES:
    _BY_METHOD_TARGET.setdefault((_route.method, _route.target), []).append(_route)


def _query_matches(route: Route, params: dict[str, str]) -> bool:
    for word in route.query:
        name, sep, value = word.partition("=")
        if name not in params or (sep and params[name] != value):
            return False
    return True


def split_target(path: str, host: str, domain: str | None) -> tuple[str | None, str | None]:
    """(bucket, key) from the decoded path, honouring virtual-hosted style under ``domain``."""
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if domain and hostname.endswith("." + domain):
        bucket = hostname[: -len(domain) - 1]
        key = path[1:] if path.startswith("/") else path
        return bucket, key or None
    if not path.startswith("/"):
        raise S3Error("InvalidURI")
    rest = path[1:]
    if not rest:
        return None, None
    bucket, _, key = rest.partition("/")
    return bucket, key or None


def route(method: str, path: str, host: str, params: dict[str, str], headers: dict[str, str], domain: str | None) -> Operation:
    bucket, key = split_target(path, host, domain)
    # U+0000 (%00) names no bucket or key: XML 1.0 cannot carry it back in a listing and the
    # PostgreSQL index cannot hold it; the request is refused before any store sees it.
    if "\x00" in (bucket or "") or "\x00" in (key or ""):
        raise S3Error("InvalidURI")
    target = S if bucket is None else (B if key is None else OBJ)
    for candidate in _BY_METHOD_TARGET.get((method, target), ()):
        if _query_matches(candidate, params) and (candidate.header is None or candidate.header in headers):
            return Operation(candidate.name, bucket, key)
    raise S3Error("MethodNotAllowed", Method=method, ResourceType=target.upper())
