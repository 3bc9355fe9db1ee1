"""Paths that nobody else controls: walked one name at a time, links followed only where that is safe.

Whoever may write a directory decides what the names in it lead to.
`resolve` walks a path from "/" one component at a time with O_PATH
descriptors, which open nothing for reading or writing (a device or FIFO at
the end is looked at, never opened), and follows a symbolic link only when
the directory that holds it can be changed by root and the running user
alone: a link that another user could have put there is refused, with an
error that names it and that user.  The result says where the path really
leads, and which directory on the way, if any, another user may write (and
so could put something else in place of what the path names).

Trusted owners are root and the running user.  A directory is writable by
another user when someone else owns it, or when its group or everyone may
write it; in a sticky directory (/tmp) an entry that root or the running
user owns is safe all the same, since only they may rename or remove it.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from typing import NamedTuple

MAX_LINKS = 40  # the kernel's own limit for one path

_ENTRY_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_DIRECTORY_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC

_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class PathRefused(OSError):
    """A path that leads through a symbolic link someone else could have placed."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EPERM, message)

    def __str__(self) -> str:
        return self.strerror


class Resolved(NamedTuple):
    """Where a path leads, and who besides root and the running user could change that."""

    fd: int  # O_PATH descriptor of what the path names; the caller closes it
    real: str  # the path with every link resolved (for messages and logs)
    info: os.stat_result  # what the path names
    holder: os.stat_result  # the directory holding it
    links: int  # symbolic links followed on the way
    controlled_by: str  # "" or the first directory on the way another user may write, and who


def resolve(path: str) -> Resolved:
    """Walk `path` (relative: from the current directory) without following anyone else's links.

    FileNotFoundError, NotADirectoryError, PermissionError as the kernel
    would say them; PathRefused for a link in a directory another user may
    write; ELOOP after MAX_LINKS links.
    """
    if not path.startswith("/"):
        path = os.path.join(os.getcwd(), path)
    root = os.open("/", _DIRECTORY_FLAGS)
    return _walk(root, [], os.fstat(root), _components(path), 0, "")


def resolve_in(directory: Resolved, name: str) -> Resolved:
    """`name` (one component, or a relative path) in an already resolved directory."""
    return _walk(
        os.dup(directory.fd), _components(directory.real), directory.info, _components(name),
        directory.links, directory.controlled_by,
    )


def reopen(resolved: Resolved, flags: int) -> int:
    """A real descriptor of the very file `resolved` names (through /proc/self/fd, as the kernel allows).

    The caller has checked its type on the O_PATH descriptor first, so
    that no device or FIFO is ever opened for real.
    """
    try:
        fd = os.open(f"/proc/self/fd/{resolved.fd}", flags | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OSError(errno.ENOENT, "cannot reopen it: /proc is not mounted") from None
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != (resolved.info.st_dev, resolved.info.st_ino):
        os.close(fd)
        raise OSError(errno.ESTALE, "not the file that was checked")
    return fd


def kind(mode: int) -> str:
    """"a FIFO", "a character device", ... for messages."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "an unknown kind of file"


def shown(path: str, resolved: Resolved) -> str:
    """`path` for a message, with where it really leads when a link made that somewhere else."""
    wanted = os.path.normpath(path if path.startswith("/") else os.path.join(os.getcwd(), path))
    return path if resolved.real == wanted else f"{path} (really {resolved.real})"


def user(uid: int) -> str:
    """`nobody (uid 65534)`, or `uid 1234` for a user the system does not know."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def trusted_owner(uid: int) -> bool:
    """Root or the running user: the only owners whose files cannot be changed behind our back."""
    return uid == 0 or uid == os.geteuid()


def owner_problem(info: os.stat_result) -> str:
    """Why a private file or directory's owner is wrong; "" when it is root or the running user."""
    if trusted_owner(info.st_uid):
        return ""
    euid = os.geteuid()
    allowed = "root" if euid == 0 else f"root or {user(euid)}"
    return f"owned by {user(info.st_uid)}, not by {allowed}"


def private_file_problems(info: os.stat_result) -> list[str]:
    """Why a key file is not private: its owner, and any permission for group or others (upstream's rule)."""
    problems = [owner_problem(info)] if owner_problem(info) else []
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        problems.append("group read/writable or world read/writable")
    return problems


def private_directory_problems(info: os.stat_result) -> list[str]:
    """Why a key's directory is not private: its owner, or group or others may write it."""
    problems = [owner_problem(info)] if owner_problem(info) else []
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append(f"writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})")
    return problems


def _walk(
    fd: int, real: list[str], here: os.stat_result, pending: list[str], links: int, controlled_by: str
) -> Resolved:
    """Go down `pending` (in reverse order) from the directory `fd` (owned: closed on error)."""
    holder = here
    pending = pending[::-1]
    try:
        while pending:
            name = pending.pop()
            if name == "..":
                parent = os.open("..", _DIRECTORY_FLAGS, dir_fd=fd)
                os.close(fd)
                fd, here = parent, os.fstat(parent)
                if real:
                    real.pop()
                holder = _parent_info(fd)
                continue
            where = "/" + "/".join(real)
            entry_fd = os.open(name, _ENTRY_FLAGS, dir_fd=fd)
            entry = os.fstat(entry_fd)
            writer = _other_writer(here, entry, where)
            if stat.S_ISLNK(entry.st_mode):
                try:
                    if writer:
                        raise PathRefused(
                            f"{os.path.join(where, name)} is a symbolic link in {writer}: not followed"
                        )
                    links += 1
                    if links > MAX_LINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
                    target = os.readlink("", dir_fd=entry_fd)
                finally:
                    os.close(entry_fd)
                if target.startswith("/"):
                    os.close(fd)
                    fd = os.open("/", _DIRECTORY_FLAGS)
                    real, here = [], os.fstat(fd)
                pending.extend(reversed(_components(target)))
                continue
            if pending and not stat.S_ISDIR(entry.st_mode):
                os.close(entry_fd)
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
            controlled_by = controlled_by or writer
            os.close(fd)
            fd, holder, here = entry_fd, here, entry
            real.append(name)
    except BaseException:
        os.close(fd)
        raise
    return Resolved(fd, "/" + "/".join(real), here, holder, links, controlled_by)


def _parent_info(fd: int) -> os.stat_result:
    parent = os.open("..", _DIRECTORY_FLAGS, dir_fd=fd)
    try:
        return os.fstat(parent)
    finally:
        os.close(parent)


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _other_writer(directory: os.stat_result, entry: os.stat_result, where: str) -> str:
    """Who else may replace `entry` in `directory` (at `where`), as "DIRECTORY, which X may write"; "" if nobody."""
    if not trusted_owner(directory.st_uid):
        return f"{where}, which its owner {user(directory.st_uid)} may write"
    mode = directory.st_mode
    # In a sticky directory only an entry's owner and the directory's may rename or remove it.
    if mode & stat.S_ISVTX and trusted_owner(entry.st_uid):
        return ""
    if mode & stat.S_IWOTH:
        return f"{where}, which anyone may write (mode {stat.S_IMODE(mode):04o})"
    if mode & stat.S_IWGRP:
        return f"{where}, which its group (gid {directory.st_gid}) may write (mode {stat.S_IMODE(mode):04o})"
    return ""


def hook_program_refusal(path: str) -> str:
    """Why `path` cannot be run as a hook ("": it can): missing, not an executable file, or another user's to change."""
    try:
        resolved = resolve(path)
    except PathRefused as refused:
        return str(refused)
    except OSError as error:
        return error.strerror or str(error)
    os.close(resolved.fd)
    if not stat.S_ISREG(resolved.info.st_mode):
        return "not a file"
    if not resolved.info.st_mode & 0o111:
        return "not executable"
    return hook_program_problem(resolved)


def hook_program_problem(resolved: Resolved) -> str:
    """Why another user could run code as a hook through the program `resolved` names ("": nobody could)."""
    info = resolved.info
    if info.st_mode & 0o022:
        return "group or others may write it, and so run code as the hook"
    if info.st_uid not in (0, os.geteuid()):
        return f"it belongs to uid {info.st_uid}, who may change it, and so run code as the hook"
    if resolved.controlled_by:
        return f"{resolved.controlled_by}, is on its path: whoever writes there decides what runs as the hook"
    return ""
