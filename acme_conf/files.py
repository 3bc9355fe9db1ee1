"""File helpers shared by the processes that write: keys (acctproc, keyproc), chngproc, fileproc."""

from __future__ import annotations

import os


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def temporary_name(name: str) -> str:
    """A hidden, unguessable name beside `name`, for a file that is renamed into place.

    os.urandom, not secrets: secrets loads hmac and hashlib (~5 ms per process).
    """
    return f".{name}.{os.urandom(6).hex()}.tmp"
