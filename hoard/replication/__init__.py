"""Bucket replication's parts below the S3 layer and the workers: the rules a bucket's
replication configuration holds (pure), and the remote endpoints it writes to."""
