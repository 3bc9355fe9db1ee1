"""Landlock, the unveil analogue: a few ctypes calls into the kernel ABI.

Landlock is reached through three system calls (444-446 on every architecture).
The kernel tells its ABI version; rights it does not know are dropped from the
ruleset (and reported by the caller), never passed in, because an unknown bit
makes the whole ruleset fail with EINVAL.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import ctypes
import enum
import errno
import os
from typing import NamedTuple

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class FsAccess(enum.IntFlag):
    """LANDLOCK_ACCESS_FS_* (include/uapi/linux/landlock.h)."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13  # ABI 2
    TRUNCATE = 1 << 14  # ABI 3
    IOCTL_DEV = 1 << 15  # ABI 5


# LANDLOCK_ACCESS_NET_* (ABI 4) and LANDLOCK_SCOPE_* (ABI 6).  Plain ints, not
# IntFlag classes like FsAccess (whose names label the report): ~0.3 ms less at start-up.
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1


# Rights a rule on a regular file may carry; anything else gives EINVAL.
FILE_RIGHTS = (
    FsAccess.EXECUTE | FsAccess.WRITE_FILE | FsAccess.READ_FILE | FsAccess.TRUNCATE | FsAccess.IOCTL_DEV
)


def fs_rights_known(abi: int) -> FsAccess:
    """Every file-system right the kernel of this ABI can restrict."""
    rights = FsAccess(0)
    if abi >= 1:
        rights = FsAccess((1 << 13) - 1)
    if abi >= 2:
        rights |= FsAccess.REFER
    if abi >= 3:
        rights |= FsAccess.TRUNCATE
    if abi >= 5:
        rights |= FsAccess.IOCTL_DEV
    return rights


def net_rights_known(abi: int) -> int:
    """The NET_* rights the kernel of this ABI can restrict."""
    return NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0


def scopes_known(abi: int) -> int:
    """The SCOPE_* bits the kernel of this ABI can restrict."""
    return SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel struct is packed: u64 + s32 = 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def _attr_size(abi: int) -> int:
    """The ruleset attribute grew with the ABI: fs (1), + net (4), + scoped (6)."""
    if abi >= 6:
        return 24
    if abi >= 4:
        return 16
    return 8


def abi_version() -> int:
    """The kernel's Landlock ABI, or 0 when Landlock is absent or disabled at boot."""
    version = _libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return int(version) if version > 0 else 0


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"landlock {what}: {os.strerror(code)}")
    return int(result)


class PathRule(NamedTuple):
    """Rights granted beneath one file or directory, named by a descriptor (O_PATH is enough)."""

    fd: int
    rights: FsAccess
    is_dir: bool


class Ruleset(NamedTuple):
    """What one process may do; everything handled but not granted is denied."""

    handled_fs: FsAccess
    handled_net: int  # NET_* bits
    scoped: int  # SCOPE_* bits
    paths: tuple[PathRule, ...] = ()
    connect_ports: tuple[int, ...] = ()  # bind is handled with no rule: denied to every role


def restrict_self(ruleset: Ruleset, abi: int) -> None:
    """Create the ruleset, add its rules and enforce it on the calling thread.

    The caller has set no_new_privs (or holds CAP_SYS_ADMIN) and has already
    reduced `ruleset` to what `abi` knows.
    """
    attr = _RulesetAttr(int(ruleset.handled_fs), int(ruleset.handled_net), int(ruleset.scoped))
    ruleset_fd = _check(
        _libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(_attr_size(abi)), ctypes.c_uint32(0)),
        "create_ruleset",
    )
    try:
        for path in ruleset.paths:
            _add_path_rule(ruleset_fd, path)
        for port in ruleset.connect_ports:
            _add_port_rule(ruleset_fd, NET_CONNECT_TCP, port)
        _check(_libc.syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)), "restrict_self")
    finally:
        os.close(ruleset_fd)


def _add_path_rule(ruleset_fd: int, path: PathRule) -> None:
    rights = path.rights if path.is_dir else path.rights & FILE_RIGHTS
    if not rights:
        return
    attr = _PathBeneathAttr(int(rights), path.fd)
    _check(
        _libc.syscall(
            ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(attr), ctypes.c_uint32(0)
        ),
        "add_rule(path_beneath)",
    )


def _add_port_rule(ruleset_fd: int, access: int, port: int) -> None:
    if not 0 <= port <= 65535:
        raise OSError(errno.EINVAL, f"landlock add_rule(net_port): port {port} out of range")
    attr = _NetPortAttr(int(access), port)
    _check(
        _libc.syscall(
            ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_NET_PORT), ctypes.byref(attr), ctypes.c_uint32(0)
        ),
        "add_rule(net_port)",
    )
