"""What durable writes share across the server and its clients: a folder's entries made to last."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    """fsync a folder, so that the names created, renamed or removed in it survive a crash
    (a file's own fsync keeps its bytes, not its name)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
