"""File helpers shared by the processes that write: keys (acctproc, keyproc), chngproc, fileproc."""

from __future__ import annotations

import os

from acme_conf.proc.errors import ProcessFailure


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


def open_directory(path: str, what: str) -> int:
    """A descriptor of the directory a writing process works in, relative to which it does everything."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise ProcessFailure(f"{what} {path}: {error.strerror}") from None
