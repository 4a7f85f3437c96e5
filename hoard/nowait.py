"""Work that the event loop may do itself, as long as it need not wait.

A small GET costs more in the hand-off to a worker thread and back (futex wake-ups, context
switches, the GIL changing hands) than in the work: an index lookup and a record file already in
the page cache. Such work is tried in the event loop first; whatever would have to wait (a lock,
a read from the disk) raises ``WouldBlock``, and the caller does it all again in a thread.
"""

from __future__ import annotations

import errno
import os

_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)


class WouldBlock(Exception):
    """This cannot be done without waiting; do it in a worker thread instead.

    Not an OSError on purpose: code that treats an OSError as a failing drive must let it pass.
    """


def pread_nowait(fd: int, length: int, offset: int) -> bytearray:
    """``os.pread``, but only of bytes already in the page cache (``RWF_NOWAIT``): WouldBlock if
    any of them would have to come from the disk, or where the system cannot tell. Fewer bytes
    than asked only where the file ends."""
    if _RWF_NOWAIT is None:
        raise WouldBlock("no RWF_NOWAIT here")
    buf = bytearray(length)
    if not length:
        return buf
    try:
        n = os.preadv(fd, [buf], offset, _RWF_NOWAIT)
    except BlockingIOError as e:
        raise WouldBlock(str(e)) from e
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            raise WouldBlock(str(e)) from e
        raise
    if n < length:
        if os.fstat(fd).st_size > offset + n:
            raise WouldBlock("partly cached")  # the rest is on the disk, not missing
        del buf[n:]
    return buf
