"""Process-wide mechanisms: descriptors, limits, namespaces, chroot, identity, no_new_privs.

Thin wrappers over system calls; each raises OSError when the kernel says no.
Deciding what to apply, and reporting it, is apply.py's job.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import ctypes
import os
import pwd
import resource
import signal
from typing import NamedTuple

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522

#: The dedicated system user the children run as when started by root (else nobody).
DEDICATED_USER = "_acme-client"
_FALLBACK_USER = "nobody"
_OVERFLOW_ID = 65534


def _prctl(option: int, arg2: int = 0) -> int:
    # prctl is variadic: pass full-width unsigned longs, or the kernel may see garbage in the unused arguments.
    zero = ctypes.c_ulong(0)
    return int(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), zero, zero, zero))


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


class Account(NamedTuple):
    """A user to become: the dedicated one, nobody, or the overflow id."""

    name: str
    uid: int
    gid: int


def unprivileged_account() -> Account:
    """The dedicated user when it exists, else nobody (looked up before the jail)."""
    for name in (DEDICATED_USER, _FALLBACK_USER):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Account(name, entry.pw_uid, entry.pw_gid)
    return Account(str(_OVERFLOW_ID), _OVERFLOW_ID, _OVERFLOW_ID)


def named_account(name: str) -> Account:
    """The user `name` (looked up before the jail); KeyError when there is none."""
    entry = pwd.getpwnam(name)
    return Account(name, entry.pw_uid, entry.pw_gid)


def thread_count() -> int | None:
    """Threads of this process, or None when /proc cannot tell."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def open_descriptors(besides: frozenset[int]) -> tuple[int, ...] | None:
    """Open descriptors not in `besides`, or None when /proc cannot tell."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    found = []
    for fd in sorted(int(name) for name in names):
        if fd in besides:
            continue
        try:
            os.fstat(fd)  # the listing's own descriptor is closed again by now
        except OSError:
            continue
        found.append(fd)
    return tuple(found)


_HIGHEST_FD = 1 << 20  # the kernel's default fs.nr_open: no descriptor is numbered higher


def close_all_but(keep: frozenset[int]) -> None:
    """Close every descriptor not in `keep` (close_range over the gaps)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    end = _HIGHEST_FD if hard == resource.RLIM_INFINITY or hard > _HIGHEST_FD else hard
    low = 0
    for fd in sorted(keep) + [end]:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1


def stdin_from_devnull() -> None:
    """A jailed child never reads a terminal (keystrokes typed while it runs)."""
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if devnull != 0:
            os.dup2(devnull, 0)
    finally:
        if devnull != 0:
            os.close(devnull)


def set_limit(which: int, value: int) -> None:
    resource.setrlimit(which, (value, value))


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def map_own_ids(uid: int, gid: int) -> None:
    """Identity maps in a fresh user namespace, so files it creates keep their owner."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def chroot_into(dir_fd: int) -> None:
    os.fchdir(dir_fd)
    os.chroot(".")
    os.chdir("/")


def become(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError(0, f"identity did not change to {uid}:{gid}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Empty effective, permitted, inheritable and ambient sets (root keeps its uid, not its powers)."""
    _check(_prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def capabilities_empty() -> bool:
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    return all(item.effective == 0 and item.permitted == 0 for item in data)


def set_not_dumpable() -> None:
    """No core dumps, and no ptrace or /proc/PID/mem by other processes of the same uid."""
    _check(_prctl(_PR_SET_DUMPABLE, 0), "prctl(PR_SET_DUMPABLE)")


def die_with_parent() -> None:
    """SIGKILL when the parent dies: for a program a role runs, called in the child before its exec."""
    _check(_prctl(_PR_SET_PDEATHSIG, signal.SIGKILL), "prctl(PR_SET_PDEATHSIG)")


def set_no_new_privs() -> None:
    _check(_prctl(_PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")
    if _prctl(_PR_GET_NO_NEW_PRIVS) != 1:
        raise OSError(0, "no_new_privs did not stick")
