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
    "GetBucketAccelerateConfiguration": "s3:GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "s3:PutAccelerateConfiguration",
    "GetBucketAnalyticsConfiguration": "s3:GetAnalyticsConfiguration",
    "ListBucketAnalyticsConfigurations": "s3:GetAnalyticsConfiguration",
    "PutBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "DeleteBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "GetBucketIntelligentTieringConfiguration": "s3:GetIntelligentTieringConfiguration",
    "ListBucketIntelligentTieringConfigurations": "s3:GetIntelligentTieringConfiguration",
    "PutBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
    "DeleteBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
    "GetBucketInventoryConfiguration": "s3:GetInventoryConfiguration",
    "ListBucketInventoryConfigurations": "s3:GetInventoryConfiguration",
    "PutBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "DeleteBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "GetBucketMetricsConfiguration": "s3:GetMetricsConfiguration",
    "ListBucketMetricsConfigurations": "s3:GetMetricsConfiguration",
    "PutBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "DeleteBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
    "CreateBucketMetadataConfiguration": "s3:CreateBucketMetadataTableConfiguration",
    "GetBucketMetadataConfiguration": "s3:GetBucketMetadataTableConfiguration",
    "DeleteBucketMetadataConfiguration": "s3:DeleteBucketMetadataTableConfiguration",
    "SelectObjectContent": "s3:GetObject",
}

# Every action of the s3 namespace (AWS's Service Authorization Reference), by what its Resource
# names: an object ("arn:aws:s3:::bucket/key"), a bucket ("arn:aws:s3:::bucket"), or neither (the
# account, access points, batch jobs, Storage Lens, Access Grants...). Policies are checked against
# it: an action no one spelled this way is a typo that would grant or deny nothing, and a bucket
# policy statement whose actions reach none of its resources is refused, as S3 does.
OBJECT_ACTIONS: frozenset[str] = frozenset(
    "s3:" + name
    for name in """
    AbortMultipartUpload BypassGovernanceRetention DeleteObject DeleteObjectAnnotation DeleteObjectTagging
    DeleteObjectVersion DeleteObjectVersionAnnotation DeleteObjectVersionTagging GetObject GetObjectAcl
    GetObjectAnnotation GetObjectAttributes GetObjectLegalHold GetObjectRetention GetObjectTagging
    GetObjectTorrent GetObjectVersion GetObjectVersionAcl GetObjectVersionAnnotation
    GetObjectVersionAnnotationForReplication GetObjectVersionAttributes GetObjectVersionForReplication
    GetObjectVersionTagging GetObjectVersionTorrent InitiateReplication ListMultipartUploadParts
    ListObjectAnnotations ListObjectVersionAnnotations ObjectOwnerOverrideToBucketOwner PutObject
    PutObjectAcl PutObjectAnnotation PutObjectLegalHold PutObjectRetention PutObjectTagging
    PutObjectVersionAcl PutObjectVersionAnnotation PutObjectVersionTagging ReplicateDelete ReplicateObject
    ReplicateObjectAnnotation ReplicateTags RestoreObject UpdateObjectEncryption
    """.split()
)
BUCKET_ACTIONS: frozenset[str] = frozenset(
    "s3:" + name
    for name in """
    AllowVendedLogDeliveryForResource CreateBucket CreateBucketMetadataTableConfiguration DeleteBucket
    DeleteBucketMetadataTableConfiguration DeleteBucketPolicy DeleteBucketWebsite
    GetAccelerateConfiguration GetAnalyticsConfiguration GetBucketAbac GetBucketAcl GetBucketCORS
    GetBucketLocation GetBucketLogging GetBucketMetadataTableConfiguration GetBucketNotification
    GetBucketObjectLockConfiguration GetBucketOwnershipControls GetBucketPolicy GetBucketPolicyStatus
    GetBucketPublicAccessBlock GetBucketRequestPayment GetBucketTagging GetBucketVersioning
    GetBucketWebsite GetEncryptionConfiguration GetIntelligentTieringConfiguration
    GetInventoryConfiguration GetLifecycleConfiguration GetMetricsConfiguration
    GetReplicationConfiguration ListBucket ListBucketMultipartUploads ListBucketVersions
    ListTagsForResource PauseReplication PutAccelerateConfiguration PutAnalyticsConfiguration
    PutBucketAbac PutBucketAcl PutBucketCORS PutBucketLogging PutBucketNotification
    PutBucketObjectLockConfiguration PutBucketOwnershipControls PutBucketPolicy
    PutBucketPublicAccessBlock PutBucketRequestPayment PutBucketTagging PutBucketVersioning
    PutBucketWebsite PutEncryptionConfiguration PutIntelligentTieringConfiguration
    PutInventoryConfiguration PutLifecycleConfiguration PutMetricsConfiguration
    PutReplicationConfiguration TagResource UntagResource
    UpdateBucketMetadataAnnotationTableConfiguration UpdateBucketMetadataInventoryTableConfiguration
    UpdateBucketMetadataJournalTableConfiguration
    """.split()
)
OTHER_ACTIONS: frozenset[str] = frozenset(
    "s3:" + name
    for name in """
    AssociateAccessGrantsIdentityCenter CreateAccessGrant CreateAccessGrantsInstance
    CreateAccessGrantsLocation CreateAccessPoint CreateAccessPointForObjectLambda CreateJob
    CreateMultiRegionAccessPoint CreateStorageLensGroup DeleteAccessGrant DeleteAccessGrantsInstance
    DeleteAccessGrantsInstanceResourcePolicy DeleteAccessGrantsLocation DeleteAccessPoint
    DeleteAccessPointForObjectLambda DeleteAccessPointPolicy DeleteAccessPointPolicyForObjectLambda
    DeleteJobTagging DeleteMultiRegionAccessPoint DeleteStorageLensConfiguration
    DeleteStorageLensConfigurationTagging DeleteStorageLensGroup DescribeJob
    DescribeMultiRegionAccessPointOperation DissociateAccessGrantsIdentityCenter GetAccessGrant
    GetAccessGrantsInstance GetAccessGrantsInstanceForPrefix GetAccessGrantsInstanceResourcePolicy
    GetAccessGrantsLocation GetAccessPoint GetAccessPointConfigurationForObjectLambda
    GetAccessPointForObjectLambda GetAccessPointPolicy GetAccessPointPolicyForObjectLambda
    GetAccessPointPolicyStatus GetAccessPointPolicyStatusForObjectLambda GetAccountPublicAccessBlock
    GetDataAccess GetJobTagging GetMultiRegionAccessPoint GetMultiRegionAccessPointPolicy
    GetMultiRegionAccessPointPolicyStatus GetMultiRegionAccessPointRoutes GetStorageLensConfiguration
    GetStorageLensConfigurationTagging GetStorageLensDashboard GetStorageLensGroup ListAccessGrants
    ListAccessGrantsInstances ListAccessGrantsLocations ListAccessPoints ListAccessPointsForObjectLambda
    ListAllMyBuckets ListCallerAccessGrants ListJobs ListMultiRegionAccessPoints
    ListStorageLensConfigurations ListStorageLensGroups PutAccessGrantsInstanceResourcePolicy
    PutAccessPointConfigurationForObjectLambda PutAccessPointPolicy PutAccessPointPolicyForObjectLambda
    PutAccessPointPublicAccessBlock PutAccountPublicAccessBlock PutJobTagging
    PutMultiRegionAccessPointPolicy PutStorageLensConfiguration PutStorageLensConfigurationTagging
    SubmitMultiRegionAccessPointRoutes UpdateAccessGrantsLocation UpdateJobPriority UpdateJobStatus
    UpdateStorageLensGroup
    """.split()
)
ALL_ACTIONS: frozenset[str] = OBJECT_ACTIONS | BUCKET_ACTIONS | OTHER_ACTIONS


def action_for(operation: str) -> str:
    """``s3:GetObject`` for GetObject and HeadObject, ``s3:ListBucket`` for ListObjectsV2, ..."""
    return _IAM_NAMES.get(operation, f"s3:{operation}")
