"""A tier that is a bucket on an S3 endpoint: another Hoard, AWS, any S3 service.

Each blob is one object, ``prefix + ref + ".tb"``. A read is ranged GETs: the blob's tail (trailer
and, for most blobs, the whole index), then one GET spanning the frames the range needs, decoded
frame by frame as it streams in. The parsed index is kept per ref in a small LRU, so a read of an
object read before is one GET.

The cache rests on an assumption the callers keep: a ref is never reused for different bytes
(refs name a data id, new for every write). Should it be broken all the same, nothing wrong is
returned: every GET after the first carries If-Match with the ETag the index was read from, so a
replaced blob answers 412, and the index is read again.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, IncompleteReadError

from hoard.tiers.blob import (
    TRAILER_SIZE,
    BlobIndex,
    BlobInfo,
    BlobWriter,
    Frame,
    decode_range,
    index_span,
    parse_index,
    parse_trailer,
)
from hoard.tiers.errors import TierCorrupt, TierError, TierMissing, TierUnavailable
from hoard.tiers.store import SUFFIX, TierUsage, check_ref

__all__ = ["S3Tier"]

MiB = 1 << 20
SPOOL = 8 * MiB  # a blob up to this size is encoded in memory; a larger one spills to a temp file
MULTIPART_THRESHOLD = 64 * MiB
PART = 16 * MiB  # s3transfer raises it for a blob that would need more than 10,000 parts
# The first GET of a blob asks for this much of its end: the trailer and the index of a blob of up
# to ~2,600 frames (2.6 GiB) in one round trip, and the whole of a small blob.
TAIL = TRAILER_SIZE + 64 * 1024
INDEX_CACHE = 256

_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
# Codes of an endpoint that cannot serve now, whatever the status it sends them with.
_TRANSIENT = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "ServiceUnavailable",
        "InternalError",
    }
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "")


def _precondition_failed(error: BaseException) -> bool:
    return isinstance(error, ClientError) and (_status(error) == 412 or _code(error) == "PreconditionFailed")


def _translate(error: BaseException, what: str) -> TierError | None:
    """A botocore error as a tier error: missing, unavailable (worth retrying later), or a refusal
    (wrong keys, no bucket) that retrying will not cure. None for anything else."""
    cause: BaseException | None = error
    # boto3's and s3transfer's own errors wrap the client's: the botocore error inside decides.
    # Nothing else is unwrapped: an error of this module's raised while handling a botocore one
    # (a TierCorrupt after a 412) is not that error.
    while cause is not None and type(cause).__module__.split(".")[0] in ("boto3", "s3transfer"):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ClientError):
        code, status = _code(cause), _status(cause)
        message = cause.response.get("Error", {}).get("Message") or "no message"
        text = f"{what}: {code or f'HTTP {status}'}: {message}"
        if code in _MISSING:
            return TierMissing(text)
        if status >= 500 or status == 429 or code in _TRANSIENT:
            return TierUnavailable(text)
        return TierError(text)
    if isinstance(cause, ConnectionError | HTTPClientError | IncompleteReadError):
        return TierUnavailable(f"{what}: {cause}")
    return None


def _fail(error: BaseException, what: str) -> NoReturn:
    """Raise ``error`` as a tier error if it is a botocore one, else as it is."""
    translated = _translate(error, what)
    if translated is None:
        raise error
    raise translated from error


@dataclass(frozen=True)
class _Cached:
    index: BlobIndex
    etag: str | None


class S3Tier:
    """A tier in ``bucket`` under ``prefix`` on the endpoint ``client_factory``'s clients talk to.

    ``client_factory`` is called once, on first use; the client is shared by every thread (boto3
    clients are thread-safe) and its configuration (retries, timeouts) is the factory's to choose.
    """

    def __init__(
        self,
        name: str,
        client_factory: Callable[[], Any],
        bucket: str,
        prefix: str = "",
        describe_endpoint: str = "",
        *,
        index_cache: int = INDEX_CACHE,
    ) -> None:
        self.name = name
        self.bucket = bucket
        prefix = prefix.strip("/")
        if prefix:
            check_ref(prefix)
        self.prefix = prefix + "/" if prefix else ""
        self._factory = client_factory
        self._client: Any = None
        self._endpoint = describe_endpoint.rstrip("/")
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cache_size = index_cache
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=PART,
            max_concurrency=4,
            # s3transfer's own client, never the CRT one: that one makes its own connections and
            # would not be the client (endpoint, keys, retries) the factory made.
            preferred_transfer_client="classic",
        )
        self.transfer.max_in_memory_upload_chunks = 4  # parts held in memory at once (16 MiB each)

    def __repr__(self) -> str:
        return f"S3Tier({self.name!r}, {self.describe()!r})"

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def describe(self) -> str:
        endpoint = self._endpoint
        if not endpoint:
            try:
                endpoint = self.client.meta.endpoint_url.rstrip("/")
            except Exception:  # describing must not fail for a client that cannot be made
                endpoint = "s3:/"
        return f"s3 {endpoint}/{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, ref: str) -> str:
        return self.prefix + check_ref(ref) + SUFFIX

    # The index cache

    def _cached(self, ref: str) -> _Cached | None:
        with self._lock:
            entry = self._cache.get(ref)
            if entry is not None:
                self._cache.move_to_end(ref)
            return entry

    def _remember(self, ref: str, entry: _Cached) -> None:
        with self._lock:
            self._cache[ref] = entry
            self._cache.move_to_end(ref)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _forget(self, ref: str) -> None:
        with self._lock:
            self._cache.pop(ref, None)

    # Writing

    def put(self, ref: str, chunks: Iterable[bytes]) -> BlobInfo:
        key = self.key(ref)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
            writer = BlobWriter(spool)
            for chunk in chunks:
                writer.write(chunk)
            info = writer.finish()
            spool.seek(0)
            self._forget(ref)
            try:
                self.client.upload_fileobj(
                    spool, self.bucket, key, ExtraArgs={"ContentType": "application/octet-stream"}, Config=self.transfer
                )
            except Exception as e:
                _fail(e, f"writing {key} to tier {self.name!r}")
            finally:
                # A reader that fetched the old blob's index while this one was uploading.
                self._forget(ref)
        return info

    def delete(self, ref: str) -> None:
        key = self.key(ref)
        self._forget(ref)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as e:
            what = f"deleting {key} from tier {self.name!r}"
            if not isinstance(_translate(e, what), TierMissing):  # S3 answers 204 for a missing key; some endpoints 404
                _fail(e, what)

    # Reading

    def exists(self, ref: str) -> bool:
        key = self.key(ref)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as e:
            what = f"looking for {key} in tier {self.name!r}"
            if isinstance(_translate(e, what), TierMissing):
                return False
            _fail(e, what)
        return True

    def _get(self, key: str, range_: str, etag: str | None) -> tuple[dict[str, Any], int, int]:
        """A ranged GET: the response (its body not yet read), the first byte it holds and the
        blob's length, both from Content-Range."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Range": range_}
        if etag:
            args["IfMatch"] = etag
        response = self.client.get_object(**args)
        found = _CONTENT_RANGE.fullmatch(response.get("ContentRange") or "")
        if found is None:
            response["Body"].close()
            # An endpoint that ignores Range would send the whole blob for every read.
            raise TierError(f"tier {self.name!r}: the endpoint answered a GET of {key} for {range_} without a Content-Range")
        return response, int(found[1]), int(found[3])

    def _fetch_index(self, ref: str) -> tuple[_Cached, bytes, int]:
        """The blob's index from its tail (and, for a long index, the bytes before it): the
        cache entry, the tail's bytes and where in the blob they start."""
        key = self.key(ref)
        response, tail_start, length = self._get(key, f"bytes=-{TAIL}", None)
        with contextlib.closing(response["Body"]) as body:
            tail = body.read()
        etag = response.get("ETag")
        if len(tail) != length - tail_start:
            raise TierUnavailable(f"tier {self.name!r}: the GET of {key}'s tail ended early")
        if len(tail) < TRAILER_SIZE:
            raise TierCorrupt(f"the blob {key} is {length} bytes, shorter than a trailer")
        trailer = parse_trailer(tail[-TRAILER_SIZE:])
        index_start, index_length = index_span(trailer, length)
        if index_start >= tail_start:
            data = tail[index_start - tail_start : index_start - tail_start + index_length]
        else:
            more, _, _ = self._get(key, f"bytes={index_start}-{tail_start - 1}", etag)
            with contextlib.closing(more["Body"]) as body:
                head = body.read()
            if len(head) != tail_start - index_start:
                raise TierUnavailable(f"tier {self.name!r}: the GET of {key}'s index ended early")
            data = head + tail[: len(tail) - TRAILER_SIZE]
        entry = _Cached(parse_index(data, trailer, length), etag)
        self._remember(ref, entry)
        return entry, tail, tail_start

    def index(self, ref: str) -> BlobIndex:
        """The blob's verified index (its size, its frames). TierMissing, TierCorrupt, TierUnavailable."""
        return self._entry(ref)[0].index

    def _entry(self, ref: str, refresh: bool = False) -> tuple[_Cached, bytes, int]:
        entry = None if refresh else self._cached(ref)
        if entry is not None:
            return entry, b"", 0
        key = self.key(ref)
        for _ in (1, 2):
            try:
                return self._fetch_index(ref)
            except Exception as e:
                if _precondition_failed(e):
                    continue  # replaced between the tail's GET and the index's
                _fail(e, f"reading {key} from tier {self.name!r}")
        raise TierUnavailable(f"tier {self.name!r}: {key} was replaced while its index was read")

    def read(self, ref: str, start: int, end: int) -> Iterator[bytes]:
        key = self.key(ref)
        entry, tail, tail_start = self._entry(ref)
        for attempt in (1, 2):
            frames = entry.index.frames_for(start, end)
            if not frames:
                return iter(())
            first, last = frames[0].stored_offset, frames[-1].stored_end
            if tail and first >= tail_start:
                # A small blob's frames came with its tail.
                pieces = ((f, tail[f.stored_offset - tail_start : f.stored_end - tail_start]) for f in frames)
                return decode_range(pieces, start, end)
            try:
                response, _, _ = self._get(key, f"bytes={first}-{last - 1}", entry.etag)
            except Exception as e:
                if _precondition_failed(e):
                    # The blob under this ref is not the one the index is of: read its own.
                    self._forget(ref)
                    if attempt == 1:
                        entry, tail, tail_start = self._entry(ref, refresh=True)
                    continue
                _fail(e, f"reading {key} from tier {self.name!r}")
            return decode_range(self._stream(key, response["Body"], frames), start, end)
        raise TierUnavailable(f"tier {self.name!r}: {key} was replaced while it was read")

    def _stream(self, key: str, body: Any, frames: list[Frame]) -> Iterator[tuple[Frame, bytes]]:
        """Each frame's stored bytes off one GET's body, in turn: memory holds one frame."""
        with contextlib.closing(body):
            for frame in frames:
                parts = []
                need = frame.stored_length
                while need:
                    try:
                        data = body.read(need)
                    except Exception as e:
                        _fail(e, f"reading {key} from tier {self.name!r}")
                    if not data:
                        raise TierUnavailable(f"tier {self.name!r}: the GET of {key} ended before the frame at {frame.offset}")
                    parts.append(data)
                    need -= len(data)
                yield frame, b"".join(parts)

    # Housekeeping

    def usage(self) -> TierUsage:
        objects = stored = 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith(SUFFIX):
                        objects += 1
                        stored += int(item.get("Size", 0))
        except Exception as e:
            _fail(e, f"listing tier {self.name!r}")
        return TierUsage(objects=objects, stored=stored)

    def sweep_temp(self, older_than_seconds: float = 24 * 3600.0) -> int:
        """Abort the multipart uploads of puts that did not finish (a crash mid-upload leaves its
        parts stored, and billed) begun more than ``older_than_seconds`` ago. How many."""
        cutoff = time.time() - older_than_seconds
        aborted = 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Key"].endswith(SUFFIX) and upload["Initiated"].timestamp() <= cutoff:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                        aborted += 1
        except Exception as e:
            _fail(e, f"sweeping tier {self.name!r}")
        return aborted
