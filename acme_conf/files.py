"""File helpers: reading a file that must be a regular one, and what the writing processes share."""

from __future__ import annotations

import errno
import os
import stat

from acme_conf.errors import ProcessFailure


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most `limit` + 1 bytes of the file at `path` (one more tells the caller it is too big).

    A link is followed; a directory is refused with EISDIR, a FIFO or device
    with EINVAL "not a regular file" (reading one could never end).
    Opened non-blocking, so that a FIFO does not wait for a writer.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks = bytearray()
        while len(chunks) <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - len(chunks)))
            if not chunk:
                break
            chunks += chunk
        return bytes(chunks)
    finally:
        os.close(fd)


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
