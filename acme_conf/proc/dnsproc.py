"""dnsproc: resolves CA host names for netproc, and does nothing else.

netproc never resolves names itself: it connects to the addresses this
process returns, keeping the host name for TLS and the Host header.
One dnsproc serves the netprocs of every domain of one authority in a run.
"""

from __future__ import annotations

import logging
import re
import socket
from typing import NamedTuple

from acme_conf import sandbox
from acme_conf.acme.text import printable
from acme_conf.ipc import Channel
from acme_conf.messages import Failure, Message
from acme_conf.messages.dns import Addresses, Resolve
from acme_conf.proc.child import answer_until_closed, netproc_channels, run_role
from acme_conf.proc.spec import ChildSpec

MAX_ADDRESSES = 16
# A netproc resolves the CA's host once per connection it opens, and keeps
# the answer: a few lookups in a whole run.  More is a netproc taken over.
MAX_LOOKUPS = 64
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")

log = logging.getLogger("acme_conf")


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """dnsproc's channels, one to each netproc it serves."""

    nets: tuple[Channel, ...]


def acquire(spec: ChildSpec) -> Held:
    nets = netproc_channels(spec)
    # A dry lookup loads the resolver configuration, the name-service
    # modules and the idna codec now, while the process may still open files.
    answer("localhost")
    return Held(nets)


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(channels=tuple(net.fileno() for net in held.nets), strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    return answer_until_closed(held.nets, lambda _, request: _resolve(request), Resolve, max_requests=MAX_LOOKUPS)


def _resolve(request: Resolve) -> Message:
    reply = answer(request.host)
    log.debug("resolved %s: %s", printable(request.host), _describe(reply))
    return reply


def answer(host: str) -> Message:
    """The addresses of `host` in the resolver's order, or why there are none."""
    if _HOSTNAME.fullmatch(host) is None:
        return Failure(f"{printable(host, 80)} is not a host name")
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return Failure(f"cannot resolve {host}: {error.strerror}")
    addresses: list[str] = []
    for family, _, _, _, sockaddr in infos:
        address = str(sockaddr[0])
        if family in (socket.AF_INET, socket.AF_INET6) and address not in addresses:
            addresses.append(address)
    if not addresses:
        return Failure(f"cannot resolve {host}: no IPv4 or IPv6 address")
    return Addresses(tuple(addresses[:MAX_ADDRESSES]))


def _describe(reply: Message) -> str:
    if isinstance(reply, Addresses):
        return ", ".join(reply.addresses)
    return str(getattr(reply, "reason", reply))


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
