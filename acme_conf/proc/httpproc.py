"""httpproc: the built-in http-01 responder, for a host with no web server to serve a challenge directory.

One httpproc per listen address in a run serves the netproc of every domain
that names that address (`challenge http-01 listen on ADDRESS [port PORT]`),
over a channel of its own, in place of a chngproc.  The parent binds the
address (proc/listener.py: port 80 needs root) and hands it the listening
socket; it runs as the unprivileged user, in a network namespace of its
own, where that socket still accepts.  It keeps each key authorization in memory under its token, and
answers `GET /.well-known/acme-challenge/TOKEN` with it for the tokens live
at that moment; anything else gets 404.  It holds no file and writes none.

What a netproc may have published is what chngproc allows (acme/tokens.py):
answers for its own account only (the thumbprint from the authority's
acctproc), one per name of its domain, a token no other domain holds; its
tokens go when its channel closes.  What the network may make it spend is
bounded too: at most MAX_CLIENTS connections at once and PER_PEER from one
address, each closed after one answer, after MAX_REQUEST bytes, after
FIRST_BYTE_SECONDS without a byte or CLIENT_SECONDS in all.  When it is
full, the oldest connection makes room for the new one, so that idle
connections cannot keep the CA's validator out.
"""

from __future__ import annotations

import logging
import select
import socket
from dataclasses import dataclass, field

from acme_conf import sandbox
from acme_conf.acme.text import printable
from acme_conf.acme.tokens import key_authorization_refusal
from acme_conf.errors import ProcessFailure
from acme_conf.ipc import Channel, close_all
from acme_conf.messages.challenge import ChallengeWrite
from acme_conf.proc.child import answer_until_closed, netproc_channels, run_role
from acme_conf.proc.connections import Client, Connections, Limits
from acme_conf.proc.publishing import account_channels, account_thumbprint, answer, served_channels
from acme_conf.proc.spec import ChildSpec, HttpSettings

PREFIX = b"/.well-known/acme-challenge/"
MAX_CLIENTS = 32  # connections at once; one more closes the oldest
PER_PEER = 4  # connections at once from one address; one more is closed at once
MAX_REQUEST = 4096  # bytes of a request read, its line and headers
FIRST_BYTE_SECONDS = 2.0  # a client that has sent nothing by then is closed
CLIENT_SECONDS = 10.0  # a client that has not sent a whole request by then is closed
REQUESTS_PER_NAME = 4  # as chngproc: each name published once; a refused or repeated request costs one more

log = logging.getLogger("acme_conf")


@dataclass
class Held:
    """httpproc's channels, its listening socket, and the key authorizations live now."""

    nets: tuple[Channel, ...]
    listener: socket.socket
    where: str  # ADDRESS port PORT, for messages
    most_tokens: dict[int, int] = field(default_factory=dict)  # channel fd -> its domain's number of names
    accounts: dict[int, Channel] = field(default_factory=dict)  # channel fd -> its authority's acctproc
    live: dict[str, bytes] = field(default_factory=dict)  # token -> key authorization
    owned: dict[int, list[str]] = field(default_factory=dict)  # channel fd -> its tokens
    thumbprints: dict[int, str] = field(default_factory=dict)  # acctproc channel fd -> what it told ("": nothing)


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, HttpSettings)
    where = f"{settings.address} port {settings.port}"
    listener = socket.socket(fileno=settings.listen_fd)  # bound and listening, non-blocking (proc/listener.py)
    nets = netproc_channels(spec)
    return Held(
        nets,
        listener,
        where,
        {net.fileno(): names for net, names in zip(nets, settings.files, strict=True)},
        account_channels(spec, nets, settings.authorities),
    )


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(
        channels=served_channels(held.nets, held.accounts),
        files=(held.listener.fileno(),),
        strict=spec.strict_sandbox,
    )


def serve(spec: ChildSpec, held: Held) -> int:
    log.info("answering http-01 challenges on %s", held.where)
    try:
        return answer_until_closed(
            held.nets,
            lambda net, request: answer(lambda: publish(held, request.token, request.key_authorization, net.fileno())),
            ChallengeWrite,
            max_requests=lambda net: REQUESTS_PER_NAME * held.most_tokens[net.fileno()],
            closed=lambda net: withdraw(held, net.fileno()),
            side=Responder(held),
        )
    finally:
        close_all(held.accounts.values())


def publish(held: Held, token: str, key_authorization: str, net_fd: int) -> None:
    """Answer `token` with `key_authorization` from now on, on behalf of the netproc on `net_fd`."""
    refusal = key_authorization_refusal(token, key_authorization, account_thumbprint(held.accounts, held.thumbprints, net_fd))
    if refusal:
        raise ProcessFailure(refusal)
    owned = held.owned.setdefault(net_fd, [])
    if len(owned) >= held.most_tokens[net_fd]:
        raise ProcessFailure(f"refusing a challenge: the domain has {len(owned)} live already, one per name")
    if token in held.live:
        raise ProcessFailure(f"refusing challenge token {token}: it is live already")
    held.live[token] = key_authorization.encode("ascii")
    owned.append(token)
    log.debug("answering for token %s", token)


def withdraw(held: Held, net_fd: int) -> None:
    """The domain on `net_fd` is done: its tokens are answered no more."""
    for token in held.owned.pop(net_fd, []):
        held.live.pop(token, None)


@dataclass
class _Client(Client):
    request: bytes = b""


class Responder(Connections[_Client]):
    """The HTTP side of httpproc's loop (child.SideServer): accept, read one request, answer, close."""

    def __init__(self, held: Held) -> None:
        super().__init__(held.listener)
        self.held = held

    def limits(self) -> Limits:
        return Limits(MAX_CLIENTS, PER_PEER, FIRST_BYTE_SECONDS, CLIENT_SECONDS)

    def new_client(self, connection: socket.socket, peer: str, accepted: float, deadline: float) -> _Client:
        return _Client(connection, peer, accepted, deadline)

    def serve_client(self, poller: select.poll, fd: int, client: _Client) -> None:
        self._read(poller, fd, client)

    def _read(self, poller: select.poll, fd: int, client: _Client) -> None:
        try:
            data = client.connection.recv(MAX_REQUEST - len(client.request))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data and not client.request:
            self.heard_from(client)
        client.request += data
        if data and b"\r\n\r\n" not in client.request and b"\n\n" not in client.request and len(client.request) < MAX_REQUEST:
            return  # more to come
        if data or client.request:
            self._answer(client)
        self.drop(poller, fd)

    def _answer(self, client: _Client) -> None:
        status, body = answer_for(client.request, self.held.live)
        head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        try:
            client.connection.send(head.encode("ascii") + body)  # a few hundred bytes: the socket buffer takes them
        except OSError as error:
            log.debug("answer not sent: %s", error.strerror)



def answer_for(request: bytes, live: dict[str, bytes]) -> tuple[str, bytes]:
    """(status line, body) for one request: the key authorization of a live token, else 404."""
    line = request.split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD") or not parts[2].startswith(b"HTTP/1."):
        return "400 Bad Request", b""
    target = parts[1]
    if target.startswith(PREFIX):
        token = target[len(PREFIX):].decode("ascii", "replace")
        body = live.get(token)
        if body is not None:
            log.info("answered the challenge for token %s", printable(token, 80))
            return "200 OK", body if parts[0] == b"GET" else b""
    return "404 Not Found", b""


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
