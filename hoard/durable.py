"""What durable writes share across the server and its clients: a folder's entries made to last."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    """fsync a folder, so that the names created, renamed or removed in it survive a crash
    (a file's own fsync keeps its bytes, not its name)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """``data`` as ``path``'s whole content, made to last and replaced at once: written under a
    temporary name (never readable by others, not even for a moment), fsynced, renamed over
    ``path``, the folder fsynced. A crash leaves the old file or the new one, never a part."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
