"""What the built-in responders (httpproc, tlsproc) share: whoever connects to the address the parent bound, held within bounds.

Each responder serves its channels and its connections in one poll loop
(child.SideServer).  What the network may make it spend is bounded the same
way for both, with each role's own figures (Limits): at most `most`
connections at once, and when full the oldest makes room for the new one,
so that idle connections cannot keep the CA's validator out; at most
`per_peer` from one address (one more is closed at once); `first_byte`
seconds to send something, then `whole` seconds in all.  What a connection
is for (one HTTP request, one TLS handshake) is the role's.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

log = logging.getLogger("acme_conf")


class Limits(NamedTuple):
    most: int  # connections at once; one more closes the oldest
    per_peer: int  # connections at once from one address; one more is closed at once
    first_byte: float  # seconds a connection may take to send its first byte
    whole: float  # seconds from its acceptance to the end of its business, once it has sent something


@dataclass
class Client:
    connection: socket.socket
    peer: str  # its address, without the port
    accepted: float
    deadline: float  # first_byte after it was accepted, whole once it has sent something


C = TypeVar("C", bound=Client)


class Connections(Generic[C]):
    """Accept within the limits, close what overstays, and hand each readable connection to `serve_client`."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.clients: dict[int, C] = {}

    # What each responder says: its figures (asked at each accept, so as they are then), its
    # record of a connection, and what it does when one has something to read.

    def limits(self) -> Limits:
        raise NotImplementedError

    def new_client(self, connection: socket.socket, peer: str, accepted: float, deadline: float) -> C:
        raise NotImplementedError

    def serve_client(self, poller: select.poll, fd: int, client: C) -> None:
        raise NotImplementedError

    def start(self, poller: select.poll) -> None:
        poller.register(self.listener.fileno(), select.POLLIN)

    def ready(self, poller: select.poll, fd: int, events: int) -> bool:
        if fd == self.listener.fileno():
            self._accept(poller)
            return True
        client = self.clients.get(fd)
        if client is None:
            return False
        self.serve_client(poller, fd, client)
        return True

    def timeout_ms(self) -> int | None:
        if not self.clients:
            return None
        soonest = min(client.deadline for client in self.clients.values())
        return max(0, int((soonest - time.monotonic()) * 1000) + 1)

    def expire(self, poller: select.poll) -> None:
        now = time.monotonic()
        for fd in [fd for fd, client in self.clients.items() if client.deadline <= now]:
            self.drop(poller, fd)

    def close(self) -> None:
        for client in self.clients.values():
            client.connection.close()
        self.clients.clear()
        self.listener.close()

    def heard_from(self, client: C) -> None:
        """Its first byte came: it has until `whole` after its acceptance."""
        client.deadline = client.accepted + self.limits().whole

    def drop(self, poller: select.poll, fd: int) -> None:
        client = self.clients.pop(fd)
        poller.unregister(fd)
        client.connection.close()

    def _accept(self, poller: select.poll) -> None:
        for _ in range(self.limits().most):  # a flood of connections cannot keep the channels waiting
            try:
                connection, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # a connection reset before it was accepted, or out of descriptors
                log.debug("accept: %s", error.strerror)
                return
            limits, peer = self.limits(), str(address[0])
            if sum(client.peer == peer for client in self.clients.values()) >= limits.per_peer:
                log.debug("refused a connection from %s: %d from there already", peer, limits.per_peer)
                connection.close()
                continue
            if len(self.clients) >= limits.most:  # the oldest makes room: idle ones cannot keep the CA out
                self.drop(poller, min(self.clients, key=lambda fd: self.clients[fd].accepted))
            connection.setblocking(False)
            now = time.monotonic()
            self.clients[connection.fileno()] = self.new_client(connection, peer, now, now + limits.first_byte)
            poller.register(connection.fileno(), select.POLLIN)
