"""tlsproc, the built-in tls-alpn-01 responder, served in-process: what it answers, to whom, and what it costs.

The real acquire (key, memfd, warm-up) and serve loop run here, the loop in a
thread, with a listening socket from proc/listener.py, two netproc channels
and an acctproc channel; the test is netproc, acctproc and the clients (a
client from 127.0.0.N for N > 1 is another address). The jail is
tests/sandbox's subject, pebble's validation tests/integration/test_tls_alpn.py's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509

from acme_conf.acme.tls_alpn import ACME_IDENTIFIER, ALPN
from acme_conf.errors import ProcessFailure
from acme_conf.ipc import Channel
from acme_conf.messages import Failure
from acme_conf.messages.account import Thumbprint
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.proc import tlsproc
from acme_conf.proc.listener import open_listener
from acme_conf.proc.spec import ChildSpec, TlsSettings

THUMBPRINT = "thumbprintThumbprint_-0123456789"
TOKEN_A = "tokenA_-0123456789abcdefghijklmnop"
TOKEN_B = "tokenB_-0123456789abcdefghijklmnop"
TOKEN_C = "tokenC_-0123456789abcdefghijklmnop"
NAMES_A = ("a.example",)
NAMES_B = ("b.example", "192.0.2.1", "2001:db8::1", "a.example")  # shares a.example with A


class Refused(Exception):
    """The responder ended the handshake."""


@dataclass
class Running:
    nets: tuple[Channel, Channel]  # the test's ends: domain A, domain B
    port: int
    thread: threading.Thread
    status: list[int]
    held: tlsproc.Held

    def publish(self, net: int, token: str, identifier: str, thumbprint: str = THUMBPRINT) -> object:
        request = ChallengeWrite(token, f"{token}.{thumbprint}", identifier)
        return self.nets[net].request(request, ChallengeWritten, Failure)

    def connect(self, source: str = "127.0.0.1") -> socket.socket:
        client = socket.socket()
        client.settimeout(5)
        client.bind((source, 0))
        client.connect(("127.0.0.1", self.port))
        return client

    def handshake(self, name: str | None, alpn: tuple[str, ...] | None = (ALPN,), source: str = "127.0.0.1") -> x509.Certificate:
        """The certificate a client with this SNI and ALPN gets; Refused if the responder ends the handshake."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a validator checks the certificate itself, as below
        if alpn is not None:
            context.set_alpn_protocols(list(alpn))
        try:
            with self.connect(source) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
                assert tls.selected_alpn_protocol() == ALPN
                der = tls.getpeercert(binary_form=True)
        except (ssl.SSLError, ConnectionError) as error:
            raise Refused(str(error)) from None
        assert der is not None
        return x509.load_der_x509_certificate(der)


@pytest.fixture
def running() -> Iterator[Running]:
    ours, theirs = zip(*(socket.socketpair() for _ in range(2)))
    account_ours, account_theirs = socket.socketpair()
    Channel(account_ours, "tlsproc").send(Thumbprint(THUMBPRINT))
    listen_fd = open_listener("127.0.0.1", 0)
    settings = TlsSettings("127.0.0.1", 0, (NAMES_A, NAMES_B), (0, 0), listen_fd)
    channels = (("netproc", theirs[0].fileno()), ("netproc", theirs[1].fileno()), ("acctproc", account_theirs.fileno()))
    spec = ChildSpec("tlsproc", "test", 0, False, channels, settings)
    held = tlsproc.acquire(spec)  # the real one: key, memfd, warm-up
    for end in (*theirs, account_theirs):
        end.detach()  # the held channels own these descriptors now
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(tlsproc.serve(spec, held)), daemon=True)
    thread.start()
    port = held.listener.getsockname()[1]
    state = Running(tuple(Channel(end, "tlsproc") for end in ours), port, thread, status, held)  # type: ignore[arg-type]
    yield state
    for net in state.nets:
        net.close()
    thread.join(timeout=10)
    account_ours.close()


def acme_identifier(certificate: x509.Certificate) -> x509.Extension[x509.ExtensionType]:
    return certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER)


def digest_of(token: str) -> bytes:
    return b"\x04\x20" + hashlib.sha256(f"{token}.{THUMBPRINT}".encode()).digest()


def closed_unanswered(client: socket.socket) -> bool:
    """The other side closed without a word (a reset, if what was sent lay unread) within the socket's timeout."""
    try:
        return client.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_the_memfd_holds_no_key_once_a_certificate_is_loaded(running: Running) -> None:
    assert isinstance(running.publish(0, TOKEN_A, "a.example"), ChallengeWritten)
    assert os.fstat(running.held.slot).st_size == 0


def test_without_landlock_tlsproc_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its read-only opens are held to its memfd by Landlock alone."""
    monkeypatch.setattr(tlsproc, "abi_version", lambda: 0)
    settings = TlsSettings("127.0.0.1", 0, (NAMES_A,), (0,), -1)
    with pytest.raises(ProcessFailure, match="needs Landlock"):
        tlsproc.acquire(ChildSpec("tlsproc", "test", 0, False, (), settings))


def test_a_live_name_is_answered_with_its_validation_certificate(running: Running) -> None:
    assert isinstance(running.publish(0, TOKEN_A, "A.example"), ChallengeWritten)  # compared in lower case
    certificate = running.handshake("a.example")
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(names) == [x509.DNSName("a.example")]  # exactly the identifier
    extension = acme_identifier(certificate)
    assert extension.critical and extension.value.value == digest_of(TOKEN_A)  # type: ignore[attr-defined]
    again = running.handshake("A.EXAMPLE")  # SNI is compared in lower case
    assert again.fingerprint(again.signature_hash_algorithm) == certificate.fingerprint(certificate.signature_hash_algorithm)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("identifier", "server_name", "alternative"),
    [
        ("192.0.2.1", "1.2.0.192.in-addr.arpa", x509.IPAddress(ipaddress.ip_address("192.0.2.1"))),
        ("2001:DB8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
         x509.IPAddress(ipaddress.ip_address("2001:db8::1"))),
    ],
)
def test_an_address_is_answered_by_its_reverse_name(running: Running, identifier: str, server_name: str, alternative: x509.GeneralName) -> None:
    """RFC 8738 section 6: the SNI is the reverse DNS name, the certificate names the address alone."""
    assert isinstance(running.publish(1, TOKEN_B, identifier), ChallengeWritten)
    certificate = running.handshake(server_name)
    assert list(certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [alternative]
    assert acme_identifier(certificate).value.value == digest_of(TOKEN_B)  # type: ignore[attr-defined]
    with pytest.raises(Refused):
        running.handshake(identifier.lower())  # the address itself is no SNI a validator sends


@pytest.mark.parametrize(
    ("name", "alpn", "why"),
    [
        ("a.example", None, "no ALPN"),
        ("a.example", ("h2", "http/1.1"), "another protocol"),
        ("unknown.example", (ALPN,), "a name not live"),
        ("b.example", (ALPN,), "a name of the domain, not published"),
        (None, (ALPN,), "no SNI"),
    ],
)
def test_any_other_handshake_is_refused(running: Running, name: str | None, alpn: tuple[str, ...] | None, why: str) -> None:
    assert isinstance(running.publish(0, TOKEN_A, "a.example"), ChallengeWritten)
    with pytest.raises(Refused):
        running.handshake(name, alpn)
    running.handshake("a.example")  # still served


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_below_1_2_and_no_tls_at_all_are_refused(running: Running) -> None:
    assert isinstance(running.publish(0, TOKEN_A, "a.example"), ChallengeWritten)
    with running.connect() as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
        assert closed_unanswered(plain)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.set_alpn_protocols([ALPN])
    try:
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with running.connect() as raw, old.wrap_socket(raw, server_hostname="a.example"):
            pass


def test_a_domain_done_is_answered_no_more(running: Running) -> None:
    assert isinstance(running.publish(0, TOKEN_A, "a.example"), ChallengeWritten)
    assert isinstance(running.publish(1, TOKEN_B, "b.example"), ChallengeWritten)
    running.nets[0].close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            running.handshake("a.example")
        except Refused:
            break
        time.sleep(0.01)
    with pytest.raises(Refused):
        running.handshake("a.example")
    running.handshake("b.example")  # the other domain is still served


@pytest.mark.parametrize(
    ("token", "identifier", "thumbprint", "why"),
    [
        ("../../etc/passwd", "a.example", THUMBPRINT, "not base64url"),
        (TOKEN_A, "a.example", "anotherAccountsThumbprint_-012345", "another account"),
        (TOKEN_A, "b.example", THUMBPRINT, "not a name of the domain"),  # B's name, asked for by A's netproc
        (TOKEN_A, "", THUMBPRINT, "not a name of the domain"),
        (TOKEN_A, "1.0.0.127.in-addr.arpa", THUMBPRINT, "not a name of the domain"),
    ],
)
def test_a_hostile_netproc_publishes_nothing(running: Running, token: str, identifier: str, thumbprint: str, why: str) -> None:
    refused = running.publish(0, token, identifier, thumbprint)
    assert isinstance(refused, Failure) and why in refused.reason, refused
    for name in ("a.example", "b.example", "1.0.0.127.in-addr.arpa"):
        with pytest.raises(Refused):
            running.handshake(name)


def test_one_answer_per_name_a_token_and_a_name_held_by_one_domain_only(running: Running) -> None:
    assert isinstance(running.publish(0, TOKEN_A, "a.example"), ChallengeWritten)
    more = running.publish(0, TOKEN_B, "a.example")
    assert isinstance(more, Failure) and "one per name" in more.reason
    taken = running.publish(1, TOKEN_A, "b.example")
    assert isinstance(taken, Failure) and "live already" in taken.reason
    shared = running.publish(1, TOKEN_C, "a.example")  # a name of B's too, but A's answer is live
    assert isinstance(shared, Failure) and "live for it already" in shared.reason
    assert acme_identifier(running.handshake("a.example")).value.value == digest_of(TOKEN_A)  # type: ignore[attr-defined]


def test_connections_from_one_address_are_bounded(monkeypatch: pytest.MonkeyPatch, running: Running) -> None:
    monkeypatch.setattr(tlsproc, "PER_PEER", 3)  # read at each accept
    assert isinstance(running.publish(0, TOKEN_A, "a.example"), ChallengeWritten)
    idle = [running.connect("127.0.0.2") for _ in range(3)]
    try:
        time.sleep(0.5)  # all accepted
        extra = running.connect("127.0.0.2")
        assert closed_unanswered(extra)  # no room for that address: closed at once
        extra.close()
        running.handshake("a.example")  # another address is served
        assert all(not closed_unanswered_now(client) for client in idle)
    finally:
        for client in idle:
            client.close()


def closed_unanswered_now(client: socket.socket) -> bool:
    client.settimeout(0.05)
    try:
        return closed_unanswered(client)
    finally:
        client.settimeout(5)


def test_stalled_clients_cannot_keep_the_validator_out(monkeypatch: pytest.MonkeyPatch, running: Running) -> None:
    """Full of connections that send half a ClientHello and stall: the oldest makes room, a handshake goes through."""
    monkeypatch.setattr(tlsproc, "MAX_CLIENTS", 6)
    monkeypatch.setattr(tlsproc, "PER_PEER", 2)
    assert isinstance(running.publish(0, TOKEN_A, "a.example"), ChallengeWritten)
    stalled = []
    try:
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            for _ in range(2):
                client = running.connect(source)
                client.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's first bytes
                stalled.append(client)
                time.sleep(0.05)  # accepted in this order: the first is the oldest
        time.sleep(0.3)
        started = time.monotonic()
        running.handshake("a.example")  # a seventh: the oldest goes
        assert time.monotonic() - started < 2  # no stalled client held it up
        assert closed_unanswered_now(stalled[0])
        assert not closed_unanswered_now(stalled[-1])
    finally:
        for client in stalled:
            client.close()


def test_a_silent_or_stalled_client_is_closed_after_its_time(monkeypatch: pytest.MonkeyPatch, running: Running) -> None:
    monkeypatch.setattr(tlsproc, "FIRST_BYTE_SECONDS", 0.3)  # read at each accept
    monkeypatch.setattr(tlsproc, "HANDSHAKE_SECONDS", 0.8)
    silent = running.connect()
    started = time.monotonic()
    assert closed_unanswered(silent)
    assert 0.1 <= time.monotonic() - started <= 3
    silent.close()
    stalled = running.connect()
    started = time.monotonic()
    stalled.sendall(b"\x16\x03\x01\x02\x00\x01")  # half a ClientHello, then nothing
    assert closed_unanswered(stalled)
    assert 0.6 <= time.monotonic() - started <= 4  # the first byte came in time: the whole handshake's time
    stalled.close()


def test_a_client_that_sends_too_much_is_closed(running: Running) -> None:
    with running.connect() as flood:
        flood.sendall(b"\x16\x03\x01\x3f\xff" + b"\x00" * 100)  # a record longer than MAX_INPUT allows
        assert closed_unanswered(flood)
