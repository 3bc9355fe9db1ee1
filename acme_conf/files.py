"""File helpers: reading a file that must be a regular one, and what the writing processes share."""

from __future__ import annotations

import errno
import logging
import os
import stat
from typing import NamedTuple

from acme_conf.errors import ProcessFailure
from acme_conf.paths import Resolved, kind, owner_problem, private_file_problems, reopen, resolve, shown

log = logging.getLogger("acme_conf")

# The most of a certificate file anyone reads (revokeproc, a -K keyproc, the parent hashing it).
MAX_CERTIFICATE_FILE = 1024 * 1024


class OpenDirectory(NamedTuple):
    """A directory a writing process works in: its descriptor, and where it really is."""

    fd: int
    real: str  # the configured path with every link resolved: what logs and the sandbox name


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most `limit` + 1 bytes of the file at `path` (one more tells the caller it is too big).

    The path is resolved by acme_conf.paths: a link is followed unless
    another user could have placed it (PathRefused).  The type is checked
    before anything is opened: a directory is refused with EISDIR, a FIFO,
    device or socket with EINVAL "not a regular file (a FIFO)" and is never
    opened (opening some devices does something; a FIFO would wait).
    """
    resolved = resolve(os.fspath(path))
    try:
        return read_resolved(resolved, limit)
    finally:
        os.close(resolved.fd)


def is_missing(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names nothing, as read_regular_file would find it: FileNotFoundError on its walk.

    Any other answer (a file, a link someone else could have placed, a
    component that is not a directory, no permission) is False: whoever reads
    the path says what is wrong with it.  Only the path is looked at; nothing
    is opened for reading.
    """
    try:
        resolved = resolve(os.fspath(path))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    os.close(resolved.fd)
    return False


def read_resolved(resolved: Resolved, limit: int) -> bytes:
    """read_regular_file for a path already resolved."""
    require_regular(resolved.info.st_mode)
    fd = reopen(resolved, os.O_RDONLY | os.O_NONBLOCK)
    try:
        chunks = bytearray()
        while len(chunks) <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - len(chunks)))
            if not chunk:
                break
            chunks += chunk
        return bytes(chunks)
    finally:
        os.close(fd)


def require_regular(mode: int) -> None:
    """Refuse anything but a regular file: EISDIR for a directory, EINVAL naming the kind for the rest."""
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, f"not a regular file ({kind(mode)})")


class KeyAccess(NamedTuple):
    """`group NAME mode OCTAL` after `domain key`: the one group that may read the key besides its owner."""

    group: int  # gid; -1: the file's own (then the mode gives the group nothing)
    mode: int  # no permission for others, no write or execute for the group (config/file_access.py)


def key_file_problems(info: os.stat_result, access: KeyAccess | None) -> list[str]:
    """Why a key file may not be used: private_file_problems, but the group and mode the configuration names are fine.

    The group's and others' bits must be within the declared mode, and any
    group bit only for the declared group: a key that another group could
    read is refused as before, never quietly narrowed (it may have leaked).
    """
    if access is None:
        return private_file_problems(info)
    problems = [owner_problem(info)] if owner_problem(info) else []
    shared = stat.S_IMODE(info.st_mode) & (stat.S_IRWXG | stat.S_IRWXO)
    if shared & ~access.mode or (shared and info.st_gid != access.group):
        problems.append(
            f"group read/writable or world read/writable beyond what the configuration names"
            f" (mode {stat.S_IMODE(info.st_mode):04o}, group {info.st_gid})"
        )
    return problems


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def sync_directory(directory_fd: int) -> None:
    """Flush a directory's entries (a rename, a link, a removal in it) to disk."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_restricted(directory_fd: int, name: str, uid: int, gid: int, mode: int) -> int:
    """A new file `name` in the directory, owned by uid:gid with `mode`, open for writing; never wider on the way.

    Created exclusively (O_EXCL, never through a link) with mode 0000, so
    that nobody but root may open it; then given its owner and group, and
    only then its mode, so the mode never applies to another owner or group.
    It is empty until the caller writes.  uid or gid -1 leaves it as created (so does the one it has).
    On failure nothing is left behind.
    """
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0, dir_fd=directory_fd)
    try:
        made = os.fstat(fd)
        if uid not in (-1, made.st_uid) or gid not in (-1, made.st_gid):  # no call when nothing changes
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        os.unlink(name, dir_fd=directory_fd)
        raise
    return fd


def replace_whole(path: os.PathLike[str], data: bytes, mode: int) -> None:
    """Write `data` to `path` whole, for the parent's own files (state, metrics); OSError.

    A temporary file beside it, new (O_EXCL, never through a link), given
    `mode` whatever the umask, flushed, then renamed over `path`: a reader
    sees the old file or the new one, and a failure leaves nothing behind.
    """
    directory, name = os.path.split(os.fspath(path))
    temporary = os.path.join(directory, temporary_name(name))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.fchmod(fd, mode)
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def temporary_name(name: str) -> str:
    """A hidden, unguessable name beside `name`, for a file that is renamed into place.

    os.urandom, not secrets: secrets loads hmac and hashlib (~5 ms per process).
    """
    return f".{name}.{os.urandom(6).hex()}.tmp"


def open_directory(path: str, what: str) -> OpenDirectory:
    """The directory a writing process works in, relative to which it does everything.

    Resolved by acme_conf.paths (no link another user could have placed);
    at -v, a path that a link leads elsewhere is named with where it really is.
    """
    try:
        resolved = resolve(path)
    except OSError as error:
        raise ProcessFailure(f"{what} {path}: {error.strerror}") from None
    try:
        if not stat.S_ISDIR(resolved.info.st_mode):
            raise ProcessFailure(f"{what} {shown(path, resolved)}: not a directory ({kind(resolved.info.st_mode)})")
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=resolved.fd)
    except OSError as error:
        raise ProcessFailure(f"{what} {shown(path, resolved)}: {error.strerror}") from None
    finally:
        os.close(resolved.fd)
    if resolved.links:
        log.info("%s %s", what, shown(path, resolved))
    return OpenDirectory(fd, resolved.real)
