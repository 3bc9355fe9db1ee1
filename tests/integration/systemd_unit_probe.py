#!/usr/bin/env python3
"""Run inside an emulated unit (systemd_unit_emulation.py): what it may do, as JSON on standard output.

    systemd_unit_probe.py WRITABLE_DIR HOST_TMP_MARKER

Each probe tries one thing a unit setting forbids, harmlessly (a file it
makes is removed at once), and reports what happened: "refused: ERRNO" or
"allowed". test_systemd_units.py checks the answers against the unit.
"""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import socket
import sys
import tempfile
from collections.abc import Callable

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
AF_NETLINK = 16


def outcome(attempt: Callable[[], object]) -> str:
    try:
        attempt()
    except OSError as exc:
        return f"refused: {errno.errorcode.get(exc.errno or 0, exc.errno)}"
    return "allowed"


def _checked(result: int) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def write_outside(directory: str) -> None:
    fd, path = tempfile.mkstemp(dir=directory, prefix="acme-unit-probe.")
    os.close(fd)
    os.unlink(path)


def new_user_namespace() -> None:
    _checked(_libc.unshare(ctypes.c_int(CLONE_NEWUSER)))


def netlink_socket() -> None:
    socket.socket(AF_NETLINK, socket.SOCK_RAW, 0).close()


def writable_executable_memory() -> None:
    mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC).close()


def swap_on_nothing() -> None:
    """swapon of a path that does not exist: ENOENT when allowed (the unit keeps SYS_ADMIN), outside @system-service."""
    _checked(_libc.swapon(b"/nonexistent/acme-unit-probe", ctypes.c_int(0)))


def mounts() -> dict[str, str]:
    """Mount point -> file system type, the topmost of each."""
    found: dict[str, str] = {}
    with open("/proc/self/mountinfo") as lines:
        for line in lines:
            fields = line.split()
            found[fields[4]] = fields[fields.index("-") + 1]
    return found


def created_mode(directory: str) -> str:
    path = os.path.join(directory, "acme-unit-probe.umask")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    mode = os.stat(path).st_mode & 0o777
    os.unlink(path)
    return oct(mode)


def main(writable: str, host_marker: str) -> dict[str, object]:
    mounted = mounts()
    with open("/proc/self/status") as status:
        fields = dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)
    return {
        "write in /var/lib": outcome(lambda: write_outside("/var/lib")),
        "write in the writable directory": outcome(lambda: write_outside(writable)),
        "mode of a new 0666 file": created_mode(writable),
        "/root": mounted.get("/root", "not a mount point"),
        "/tmp holds the host's marker": os.path.exists(host_marker),
        "/dev": sorted(os.listdir("/dev")),
        "netlink socket": outcome(netlink_socket),
        "writable and executable memory": outcome(writable_executable_memory),
        "swapon": outcome(swap_on_nothing),
        "NoNewPrivs": fields["NoNewPrivs"].strip(),
        "CapBnd": fields["CapBnd"].strip(),
        "/proc/sys exists": os.path.exists("/proc/sys"),
        "new user namespace": outcome(new_user_namespace),  # last: the probe is in it afterwards
    }


if __name__ == "__main__":
    json.dump(main(sys.argv[1], sys.argv[2]), sys.stdout)
