"""sandbox_probe_child.py with a few more attempts: descriptors passed over a channel, socket options.

Run by tests/sandbox/test_defences_jail.py as `python -I defences_probe_child.py
SPEC-JSON`, exactly as the harness runs sandbox_probe_child.py: the real role,
its real acquire, grants and strict sandbox.enter, then the named probes.
The attempts added here need the parent's channel as a socket object, made
before the jail (afterwards even asking a descriptor what it is would be a
system call outside the role's list).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # -I leaves the script's directory out

import sandbox_probe_child as base  # noqa: E402

from acme_conf import sandbox  # noqa: E402

_held: dict[str, socket.socket] = {}  # the parent's channel, kept alive (never closed: the child ends with _exit)


def _before_the_jail(enter: Any) -> Any:
    def enter_with_the_parents_socket(role: str, grants: sandbox.Grants) -> sandbox.Report:
        request = base.json.loads(sys.argv[1])
        fd = request["parent_fd"]
        _held["parent"] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=fd)
        return enter(role, grants)

    return enter_with_the_parents_socket


def receive_descriptor(ctx: base.Context) -> None:
    """Take the descriptor the parent passed over the channel (recvmsg with SCM_RIGHTS)."""
    _, fds, _, _ = socket.recv_fds(_held["parent"], 16, 4)
    if not fds:
        raise base.ProbeFailed("no descriptor came with the message")


def send_descriptor(ctx: base.Context) -> None:
    """Hand the parent one of its own descriptors (sendmsg with SCM_RIGHTS); the byte is a blank event line."""
    socket.send_fds(_held["parent"], [b"\n"], [2])


def set_reuse_address(ctx: base.Context) -> None:
    """SO_REUSEADDR: the first step to binding someone else's port; no role needs it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    finally:
        sock.close()


def set_no_delay(ctx: base.Context) -> None:
    """TCP_NODELAY: the one option netproc sets (the control of set_reuse_address)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    finally:
        sock.close()


EXTRA_PROBES = {probe.__name__: probe for probe in (receive_descriptor, send_descriptor, set_reuse_address, set_no_delay)}


if __name__ == "__main__":
    base.PROBES.update(EXTRA_PROBES)
    sandbox.enter = _before_the_jail(sandbox.enter)  # base.main calls sandbox.enter through the package
    status = base.main()
    sys.stderr.flush()
    os._exit(status)
