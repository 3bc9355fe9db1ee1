"""The built-in responder's listening socket, bound by the parent before any process of the run starts.

The parent binds it (a port below 1024 needs root, which the parent has and
the responder gives up), so that an address in use, or one this host does
not have, fails its domains at once, with a clear error, before anything is
ordered; httpproc inherits the descriptor and only accepts on it.
"""

from __future__ import annotations

import errno
import socket

from acme_conf.errors import ProcessFailure

BACKLOG = 32  # as httpproc's MAX_CLIENTS

_HINTS = {
    errno.EADDRINUSE: ": another program listens there",
    errno.EACCES: ": a port below 1024 needs root",
    errno.EADDRNOTAVAIL: ": this host has no such address",
}


def open_listener(address: str, port: int) -> int:
    """The descriptor of a non-blocking socket listening on `address` and `port`; ProcessFailure saying why not."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if address == "::":  # every address means IPv4 too, whatever net.ipv6.bindv6only says
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind((address, port))
        listener.listen(BACKLOG)
        listener.setblocking(False)
    except OSError as error:
        listener.close()
        hint = _HINTS.get(error.errno or 0, "")
        raise ProcessFailure(f"cannot listen on {address} port {port}: {error.strerror}{hint}") from None
    return listener.detach()
