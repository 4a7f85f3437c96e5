"""What a replica carries from its source version: the version's id, its seq (its place among the
key's versions) and its time, sent by the replication engine as ``x-hoard-replica-*`` headers
and applied by the target (``hoard.s3.handlers.replicas``), so that both sides hold the same
version under the same id, in the same order."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hoard.model import REPLICA, REPLICATION_STATUS_HEADER, ObjectRecord

REPLICA_VERSION_HEADER = "x-hoard-replica-version-id"
REPLICA_SEQ_HEADER = "x-hoard-replica-seq"
REPLICA_MODIFIED_HEADER = "x-hoard-replica-last-modified"  # milliseconds since the epoch
REPLICA_HEADERS = (REPLICA_VERSION_HEADER, REPLICA_SEQ_HEADER, REPLICA_MODIFIED_HEADER)


@dataclass(frozen=True)
class ReplicaOf:
    """The source version a replica write copies: its id, seq and last-modified time."""

    version_id: str
    seq: str
    last_modified: float

    def headers(self) -> dict[str, str]:
        return {REPLICA_VERSION_HEADER: self.version_id, REPLICA_SEQ_HEADER: self.seq, REPLICA_MODIFIED_HEADER: str(round(self.last_modified * 1000))}

    @classmethod
    def of(cls, record: ObjectRecord) -> ReplicaOf:
        return cls(record.version_id, record.seq, record.last_modified)

    def apply(self, record: ObjectRecord) -> ObjectRecord:
        """The version as the target keeps it: the source's identity, and marked a replica."""
        headers = {k: v for k, v in record.headers.items() if k not in REPLICA_HEADERS}
        headers[REPLICATION_STATUS_HEADER] = REPLICA
        return dataclasses.replace(record, version_id=self.version_id, seq=self.seq, last_modified=self.last_modified, headers=headers)


