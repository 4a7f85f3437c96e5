"""Work that the event loop may do itself, as long as it need not wait.

A small GET costs more in the hand-off to a worker thread and back (futex wake-ups, context
switches, the GIL changing hands) than in the work: an index lookup and a record file already in
the page cache. Such work is tried in the event loop first; whatever would have to wait (a lock,
a read from the disk) raises ``WouldBlock``, and the caller does it all again in a thread.
"""


class WouldBlock(Exception):
    """This cannot be done without waiting; do it in a worker thread instead.

    Not an OSError on purpose: code that treats an OSError as a failing drive must let it pass.
    """
