"""Bucket replication's parts below the S3 layer: the rules a bucket's replication configuration
holds (``rules``, pure) and the remote S3 endpoints replicas are written to (``remotes``)."""
