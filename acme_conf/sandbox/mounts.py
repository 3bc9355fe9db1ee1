"""A private view of the file system for a role that runs a program of the administrator's (hookproc).

Such a role can have no seccomp filter and no Landlock file rules (both
would bind the program it runs, whatever that needs), so what it must not
see is taken out of its view instead: in a mount namespace of its own, each
directory holding keys is covered by an empty read-only tmpfs, and each
directory it may read but must not change (certificates, challenge files,
the kept state) is bound read-only over itself.  The mounts are the
kernel's: the program, started without capabilities, cannot undo them.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import ctypes
import errno
import os
import stat

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
# statvfs f_flag bits -> the mount flags a remount must keep (a user namespace may not clear them).
_KEPT_FLAGS = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)
# Directories the program needs to see: a key directly in one is refused (proc/hook_view.py).
SYSTEM_DIRECTORIES = frozenset(("/", "/etc", "/usr", "/var", "/tmp", "/home", "/root", "/opt", "/srv", "/run", "/var/tmp"))


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    result = _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {target}: {os.strerror(code)}")


def make_private() -> None:
    """Nothing mounted here from now on propagates back to the host, nor the host's here."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def hide(path: str) -> str:
    """Cover the directory `path` (links followed) with an empty one; what was done, for the report ("" if there is none)."""
    if not _directory(path):
        return ""
    _mount("acme-client-hidden", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
    return f"{path} (empty)"


def read_only(path: str) -> str:
    """Bind the directory `path` (links followed) read-only over itself; what was done ("" if there is none)."""
    if not _directory(path):
        return ""
    _mount(path, path, None, MS_BIND | MS_REC)
    kept = os.statvfs(path).f_flag
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY
    for bit, flag in _KEPT_FLAGS:
        if kept & bit:
            flags |= flag
    _mount(None, path, None, flags)
    return f"{path} (read-only)"


def _directory(path: str) -> bool:
    """Whether `path` is a directory; False if nothing is there; OSError for anything else (never left uncovered)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(errno.ENOTDIR, f"{path}: not a directory")
    return True
