"""Request logs: the record of one request (record), the JSON access and audit logs (jsonlog), S3's
server access log line (s3format), a bucket's logging configuration (status), who may receive a
bucket's logs (permission), the per-process spool of S3 log lines (spool) and the sink the
application hands each finished request to (sink)."""
