"""What lower layers' errors become in S3's words (hoard.s3.error_map)."""

from __future__ import annotations

from hoard.meta.errors import CommitFailed
from hoard.s3.error_map import error_response, to_s3_error


def test_a_metadata_commit_that_failed_is_a_503_clients_retry():
    # A PostgreSQL failover longer than the store's retry window ends in CommitFailed: the write
    # was not acknowledged and may succeed when retried, so never a 500.
    error = to_s3_error(CommitFailed("the metadata transaction failed: connection refused"))
    assert error is not None
    assert (error.code, error.status) == ("ServiceUnavailable", 503)
    response = error_response(error, "/bucket/key", "req-1")
    assert response.status == 503
    assert b"<Code>ServiceUnavailable</Code>" in response.body
    # The database's own words (host names, addresses) stay in the server's log.
    assert b"connection refused" not in response.body
