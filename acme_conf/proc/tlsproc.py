"""tlsproc: the built-in tls-alpn-01 responder (RFC 8737; RFC 8738 for addresses).

One tlsproc per listen address in a run serves the netproc of every domain
that names that address (`challenge tls-alpn-01 listen on ADDRESS [port
PORT]`), over a channel of its own, in place of a chngproc.  The parent
binds the address (proc/listener.py: port 443 needs root) and hands it the
listening socket; it runs as the unprivileged user, in a network namespace
of its own, where that socket still accepts.

For each key authorization a netproc publishes it makes a self-signed
validation certificate (acme/tls_alpn.py) with a key made for the run, and
answers a TLS handshake (1.2 or later) that offers ALPN `acme-tls/1` and
names, in its SNI, that identifier (an address by its reverse DNS name)
with it.  Any other handshake is refused: no `acme-tls/1` offered (read
from the ClientHello before OpenSSL sees it, and checked again once the
handshake is done), or a name not live at that moment (the SNI callback
gives an alert).

Python's ssl reads a certificate and key from files only.  tlsproc writes
each into a memfd it created before its jail and lets OpenSSL read it back
through /proc/self/fd/N: Landlock, which grants it no path at all, allows
an object on a kernel-internal mount (the memfd), and nothing else; the
descriptor is its own (the process may not look into another's
/proc/PID/fd); the memfd is emptied again once the context holds the key.

What a netproc may have published is what chngproc allows (acme/tokens.py):
answers for its own account only (the thumbprint from the authority's
acctproc), one per name of its domain, a token no other domain holds; and
only for an identifier the configuration gives its domain (TlsSettings,
from the plan), never one a netproc names alone; its answers go when its
channel closes.  What the network may make it spend is bounded as
httpproc's is: MAX_CLIENTS connections at once (the oldest makes room),
PER_PEER from one address, FIRST_BYTE_SECONDS to the first byte,
HANDSHAKE_SECONDS and MAX_INPUT bytes for the whole handshake, each driven
without blocking through memory buffers, so a client that stalls holds one
slot and no time of the others.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
from dataclasses import dataclass, field

from cryptography.hazmat.backends.openssl import backend as _openssl_backend  # noqa: F401  # loaded lazily by ECDSA otherwise
from cryptography.hazmat.primitives.asymmetric import ec

from acme_conf import sandbox
from acme_conf.sandbox.landlock import abi_version
from acme_conf.acme.identifiers import canonical_ip, is_ip
from acme_conf.acme.text import printable
from acme_conf.acme.tls_alpn import ALPN, offered_protocols, server_name, validation_certificate
from acme_conf.acme.tokens import key_authorization_refusal
from acme_conf.errors import ProcessFailure
from acme_conf.files import write_all
from acme_conf.ipc import Channel, close_all
from acme_conf.messages.challenge import ChallengeWrite
from acme_conf.proc.child import answer_until_closed, netproc_channels, run_role
from acme_conf.proc.connections import Client, Connections, Limits
from acme_conf.proc.publishing import account_channels, account_thumbprint, answer, served_channels
from acme_conf.proc.spec import ChildSpec, TlsSettings

# A validator makes its handshakes for all of an order's names at once, from each of its
# addresses (pebble: three a name), and each lasts a round trip or two: more than httpproc's.
MAX_CLIENTS = 64  # connections at once; one more closes the oldest
PER_PEER = 16  # connections at once from one address; one more is closed at once
MAX_INPUT = 16 * 1024  # bytes a client may send in all: a ClientHello of one record, then its Finished
FIRST_BYTE_SECONDS = 2.0  # a client that has sent nothing by then is closed
HANDSHAKE_SECONDS = 10.0  # a client whose handshake is not done by then is closed
REQUESTS_PER_NAME = 4  # as chngproc: each name published once; a refused or repeated request costs one more
WARM_UP_NAME = "warm-up.invalid"

log = logging.getLogger("acme_conf")


@dataclass(frozen=True)
class Answer:
    """What answers for one name: the validation certificate's context, and the token it is for."""

    identifier: str
    token: str
    context: ssl.SSLContext


@dataclass
class Held:
    """tlsproc's channels, its listening socket, its key and memfd, and the answers live now."""

    nets: tuple[Channel, ...]
    listener: socket.socket
    where: str  # ADDRESS port PORT, for messages
    key: ec.EllipticCurvePrivateKey  # made for the run: every validation certificate's key
    slot: int  # the memfd a certificate passes through to ssl (/proc/self/fd/N)
    names: dict[int, frozenset[str]] = field(default_factory=dict)  # channel fd -> its domain's names, from the plan
    most_tokens: dict[int, int] = field(default_factory=dict)  # channel fd -> its domain's number of names
    accounts: dict[int, Channel] = field(default_factory=dict)  # channel fd -> its authority's acctproc
    live: dict[str, Answer] = field(default_factory=dict)  # server name (SNI) -> its answer
    tokens: dict[str, str] = field(default_factory=dict)  # token -> the server name it answers
    owned: dict[int, list[str]] = field(default_factory=dict)  # channel fd -> the server names it published
    thumbprints: dict[int, str] = field(default_factory=dict)  # acctproc channel fd -> what it told ("": nothing)


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, TlsSettings)
    if not abi_version():  # without it, the read-only opens ssl needs could reach any file nobody may read
        raise ProcessFailure("the tls-alpn-01 responder needs Landlock (Linux 5.13 or later), which this kernel lacks")
    listener = socket.socket(fileno=settings.listen_fd)  # bound and listening, non-blocking (proc/listener.py)
    nets = netproc_channels(spec)
    held = Held(
        nets,
        listener,
        f"{settings.address} port {settings.port}",
        ec.generate_private_key(ec.SECP256R1()),
        os.memfd_create("acme-client-tls-alpn-01", os.MFD_CLOEXEC),
        {net.fileno(): frozenset(map(_normal, names)) for net, names in zip(nets, settings.names, strict=True)},
        {net.fileno(): len(names) for net, names in zip(nets, settings.names, strict=True)},
        account_channels(spec, nets, settings.authorities),
    )
    warm_up(held)
    return held


def warm_up(held: Held) -> None:
    """One validation certificate made, loaded and shaken hands with, in memory: what serving uses is loaded before the jail."""
    context = answer_context(held, WARM_UP_NAME, "warmUpToken_0123456789.warmUpThumbprint_0123456789")
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # only the code paths matter here
    client.set_alpn_protocols([ALPN])
    handshake_in_memory(client, context, WARM_UP_NAME)


def handshake_in_memory(client: ssl.SSLContext, server: ssl.SSLContext, name: str) -> ssl.SSLObject:
    """A whole handshake between two contexts through memory buffers; the client's side, done."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    ours = client.wrap_bio(client_in, client_out, server_hostname=name)
    theirs = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(8):
        for side in (ours, theirs):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    ours.do_handshake()
    return ours


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(
        channels=served_channels(held.nets, held.accounts),
        files=(held.listener.fileno(), held.slot),
        strict=spec.strict_sandbox,
    )


def serve(spec: ChildSpec, held: Held) -> int:
    log.info("answering tls-alpn-01 challenges on %s", held.where)
    try:
        return answer_until_closed(
            held.nets,
            lambda net, request: answer(lambda: publish(held, request, net.fileno())),
            ChallengeWrite,
            max_requests=lambda net: REQUESTS_PER_NAME * held.most_tokens[net.fileno()],
            closed=lambda net: withdraw(held, net.fileno()),
            side=Responder(held),
        )
    finally:
        close_all(held.accounts.values())


def publish(held: Held, request: ChallengeWrite, net_fd: int) -> None:
    """Answer handshakes for `request.identifier` with a validation certificate from now on, for the netproc on `net_fd`."""
    token = request.token
    refusal = key_authorization_refusal(token, request.key_authorization, account_thumbprint(held.accounts, held.thumbprints, net_fd))
    if refusal:
        raise ProcessFailure(refusal)
    identifier = _normal(request.identifier)
    if identifier not in held.names[net_fd]:  # the plan's names, never netproc's word alone
        raise ProcessFailure(f"refusing a challenge for {printable(request.identifier, 80)!r}: not a name of the domain")
    owned = held.owned.setdefault(net_fd, [])
    if len(owned) >= held.most_tokens[net_fd]:
        raise ProcessFailure(f"refusing a challenge: the domain has {len(owned)} live already, one per name")
    name = server_name(identifier)
    if token in held.tokens:
        raise ProcessFailure(f"refusing challenge token {token}: it is live already")
    if name in held.live:
        raise ProcessFailure(f"refusing a challenge for {identifier}: one is live for it already")
    held.live[name] = Answer(identifier, token, answer_context(held, identifier, request.key_authorization))
    held.tokens[token] = name
    owned.append(name)
    log.debug("answering for %s (token %s)", identifier, token)


def withdraw(held: Held, net_fd: int) -> None:
    """The domain on `net_fd` is done: its names are answered no more."""
    for name in held.owned.pop(net_fd, []):
        gone = held.live.pop(name, None)
        if gone is not None:
            held.tokens.pop(gone.token, None)


def _normal(identifier: str) -> str:
    """An identifier as compared: DNS names in lower case, addresses in RFC 5952 form."""
    return canonical_ip(identifier) if is_ip(identifier) else identifier.lower()


def answer_context(held: Held, identifier: str, key_authorization: str) -> ssl.SSLContext:
    """A server context holding the validation certificate for `identifier`, loaded through the memfd."""
    context = server_context()
    context.set_alpn_protocols([ALPN])
    pem = validation_certificate(identifier, key_authorization, held.key)
    os.ftruncate(held.slot, 0)
    os.lseek(held.slot, 0, os.SEEK_SET)
    write_all(held.slot, pem)
    try:
        context.load_cert_chain(f"/proc/self/fd/{held.slot}")  # ssl opens it afresh, from its start
    finally:
        os.ftruncate(held.slot, 0)  # the context holds the key now; the memfd holds nothing
    return context


def server_context() -> ssl.SSLContext:
    """TLS 1.2 or later, no session tickets or resumption: a validator makes one handshake and goes."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.num_tickets = 0
    context.options |= ssl.OP_NO_TICKET | ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


@dataclass
class _Client(Client):
    received: bytes = b""  # what came before the ClientHello was judged
    count: int = 0  # bytes received in all
    incoming: ssl.MemoryBIO = field(default_factory=ssl.MemoryBIO)
    outgoing: ssl.MemoryBIO = field(default_factory=ssl.MemoryBIO)
    tls: ssl.SSLObject | None = None  # once the ClientHello offered acme-tls/1
    name: str = ""  # the live name its SNI chose


class Responder(Connections[_Client]):
    """The TLS side of tlsproc's loop (child.SideServer): accept, judge the ClientHello, shake hands, close."""

    def __init__(self, held: Held) -> None:
        super().__init__(held.listener)
        self.held = held
        self.context = server_context()  # holds no certificate: a handshake goes on only once the SNI chose one
        self.context.set_alpn_protocols([ALPN])
        self.context.sni_callback = self._choose

    def limits(self) -> Limits:
        return Limits(MAX_CLIENTS, PER_PEER, FIRST_BYTE_SECONDS, HANDSHAKE_SECONDS)

    def new_client(self, connection: socket.socket, peer: str, accepted: float, deadline: float) -> _Client:
        return _Client(connection, peer, accepted, deadline)

    def serve_client(self, poller: select.poll, fd: int, client: _Client) -> None:
        if not self._read(client):
            self.drop(poller, fd)

    def _read(self, client: _Client) -> bool:
        """Take what the client sent and take its handshake on; False once it is to be closed."""
        try:
            data = client.connection.recv(MAX_INPUT - client.count)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            return False
        if not client.count:
            self.heard_from(client)
        client.count += len(data)
        if client.tls is None:
            return self._judge_hello(client, data)
        client.incoming.write(data)
        return self._shake_hands(client) and client.count < MAX_INPUT

    def _judge_hello(self, client: _Client, data: bytes) -> bool:
        """OpenSSL sees the handshake only once its ClientHello offers acme-tls/1."""
        client.received += data
        offered = offered_protocols(client.received, MAX_INPUT)
        if offered is None:
            return client.count < MAX_INPUT  # the rest of its first record is to come
        if ALPN not in offered:
            log.debug("refused a handshake from %s: acme-tls/1 not offered", client.peer)
            return False
        client.tls = self.context.wrap_bio(client.incoming, client.outgoing, server_side=True)
        client.incoming.write(client.received)
        client.received = b""
        return self._shake_hands(client)

    def _shake_hands(self, client: _Client) -> bool:
        """One step of the handshake; False once it is over, done or failed."""
        assert client.tls is not None
        try:
            client.tls.do_handshake()
        except ssl.SSLWantReadError:
            return self._flush(client)
        except (ssl.SSLError, ValueError) as error:
            log.debug("refused a handshake from %s: %s", client.peer, printable(getattr(error, "reason", None) or error, 120))
            self._flush(client)  # the alert
            return False
        if client.tls.selected_alpn_protocol() != ALPN or client.name not in self.held.live:
            log.debug("refused a handshake from %s: acme-tls/1 not chosen", client.peer)
            return False
        log.info("answered the tls-alpn-01 challenge for %s", printable(self.held.live[client.name].identifier, 80))
        try:
            client.tls.unwrap()  # close_notify: the validator has what it came for
        except (ssl.SSLError, ValueError):
            pass
        self._flush(client)
        return False

    def _flush(self, client: _Client) -> bool:
        """Send what the handshake wrote; False if the client does not take it at once."""
        pending = client.outgoing.read()
        if not pending:
            return True
        try:
            # A server's flight is 1-3 KB: a fresh connection's buffer takes it whole, or the client is not reading.
            return client.connection.send(pending) == len(pending)
        except OSError as error:
            log.debug("handshake not sent: %s", error.strerror)
            return False

    def _choose(self, tls: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> int | None:
        """The SNI callback: switch to the certificate of a live name, else end the handshake with an alert."""
        del context
        name = (name or "").lower().removesuffix(".")  # an absolute name, as pebble spells a reverse one
        answer = self.held.live.get(name)
        if answer is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        for client in self.clients.values():
            if client.tls is tls:
                client.name = name
        tls.context = answer.context
        return None


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
