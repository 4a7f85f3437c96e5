"""The IAM action each S3 operation is authorized as.

An operation's action is ``s3:`` and its own name (principle 5: one name per thing), except
where AWS's IAM names the permission otherwise: reads of an object's metadata need
``s3:GetObject``, listings need ``s3:ListBucket``, every step of a multipart upload and a copy
need ``s3:PutObject``, and so on (the Service Authorization Reference's table for Amazon S3).
"""

from __future__ import annotations

_IAM_NAMES: dict[str, str] = {
    "HeadObject": "s3:GetObject",
    "GetObjectAttributes": "s3:GetObjectAttributes",
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListBuckets": "s3:ListAllMyBuckets",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "ListParts": "s3:ListMultipartUploadParts",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "PostObject": "s3:PutObject",
    "DeleteObjects": "s3:DeleteObject",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "GetBucketTagging": "s3:GetBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketOwnershipControls": "s3:GetBucketOwnershipControls",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "GetBucketReplication": "s3:GetReplicationConfiguration",
    "PutBucketReplication": "s3:PutReplicationConfiguration",
    "DeleteBucketWebsite": "s3:DeleteBucketWebsite",
}


def action_for(operation: str) -> str:
    """``s3:GetObject`` for GetObject and HeadObject, ``s3:ListBucket`` for ListObjectsV2, ..."""
    return _IAM_NAMES.get(operation, f"s3:{operation}")
