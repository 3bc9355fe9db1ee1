"""httpproc, the built-in http-01 responder, served in-process: what it answers, to whom, and what it costs.

The real serve loop runs in a thread with a listening socket from proc/listener.py,
two netproc channels and an acctproc channel; the test is netproc, acctproc and
the clients. (The jail is tests/sandbox's subject, and pebble's validation
tests/integration/test_responder.py's.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from acme_conf.ipc import Channel
from acme_conf.messages import Failure
from acme_conf.messages.account import Thumbprint
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.proc import httpproc
from acme_conf.proc.listener import open_listener

THUMBPRINT = "thumbprintThumbprint_-0123456789"
TOKEN_A = "tokenA_-0123456789abcdefghijklmnop"
TOKEN_B = "tokenB_-0123456789abcdefghijklmnop"


@dataclass
class Running:
    nets: tuple[Channel, Channel]  # the test's ends: domain A (one name), domain B (two names)
    port: int
    thread: threading.Thread
    status: list[int]

    def publish(self, net: int, token: str, thumbprint: str = THUMBPRINT) -> object:
        return self.nets[net].request(ChallengeWrite(token, f"{token}.{thumbprint}"), ChallengeWritten, Failure)

    def get(self, request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as client:
            client.sendall(request)
            answer = b""
            while chunk := client.recv(4096):
                answer += chunk
            return answer


@pytest.fixture
def running() -> Iterator[Running]:
    ours, theirs = zip(*(socket.socketpair() for _ in range(2)))
    account_ours, account_theirs = socket.socketpair()
    Channel(account_ours, "httpproc").send(Thumbprint(THUMBPRINT))
    listener = socket.socket(fileno=open_listener("127.0.0.1", 0))
    nets = tuple(Channel(end, "netproc") for end in theirs)
    account = Channel(account_theirs, "acctproc")
    held = httpproc.Held(
        nets, listener, "test", {nets[0].fileno(): 1, nets[1].fileno(): 2}, {net.fileno(): account for net in nets}
    )
    status: list[int] = []
    spec = None  # serve reads nothing of it but for the log line
    thread = threading.Thread(target=lambda: status.append(httpproc.serve(spec, held)), daemon=True)  # type: ignore[arg-type]
    thread.start()
    state = Running(tuple(Channel(end, "httpproc") for end in ours), listener.getsockname()[1], thread, status)  # type: ignore[arg-type]
    yield state
    for net in state.nets:
        net.close()
    thread.join(timeout=10)
    account_ours.close()


def closed_unanswered(client: socket.socket) -> bool:
    """The other side closed without a word (a reset, if what was sent lay unread) within the socket's timeout."""
    try:
        return client.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def get(token: str) -> bytes:
    return f"GET /.well-known/acme-challenge/{token} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode()


def test_a_live_token_is_answered_with_its_key_authorization_and_nothing_else_is(running: Running) -> None:
    assert isinstance(running.publish(0, TOKEN_A), ChallengeWritten)
    answer = running.get(get(TOKEN_A))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(f"{TOKEN_A}.{THUMBPRINT}".encode())
    assert running.get(get(TOKEN_B)).startswith(b"HTTP/1.1 404")
    assert running.get(b"GET /etc/passwd HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404")
    assert running.get(b"GET /.well-known/acme-challenge/../../x HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404")
    assert running.get(b"\x16\x03\x01 not http\r\n\r\n").startswith(b"HTTP/1.1 400")
    head = running.get(f"HEAD /.well-known/acme-challenge/{TOKEN_A} HTTP/1.1\r\n\r\n".encode())
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")


def test_a_domain_done_is_answered_no_more(running: Running) -> None:
    assert isinstance(running.publish(0, TOKEN_A), ChallengeWritten)
    assert isinstance(running.publish(1, TOKEN_B), ChallengeWritten)
    running.nets[0].close()
    deadline = time.monotonic() + 5
    while running.get(get(TOKEN_A)).startswith(b"HTTP/1.1 200") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert running.get(get(TOKEN_A)).startswith(b"HTTP/1.1 404")
    assert running.get(get(TOKEN_B)).startswith(b"HTTP/1.1 200")  # the other domain is still served


@pytest.mark.parametrize(
    ("token", "thumbprint", "why"),
    [
        ("../../etc/passwd", THUMBPRINT, "not base64url"),
        (TOKEN_A, "anotherAccountsThumbprint_-012345", "another account"),
    ],
)
def test_a_hostile_netproc_publishes_nothing(running: Running, token: str, thumbprint: str, why: str) -> None:
    refused = running.publish(0, token, thumbprint)
    assert isinstance(refused, Failure) and why in refused.reason
    assert running.get(get(TOKEN_A)).startswith(b"HTTP/1.1 404")


def test_one_answer_per_name_and_a_token_held_by_one_domain_only(running: Running) -> None:
    assert isinstance(running.publish(0, TOKEN_A), ChallengeWritten)
    more = running.publish(0, TOKEN_B)
    assert isinstance(more, Failure) and "one per name" in more.reason
    taken = running.publish(1, TOKEN_A)
    assert isinstance(taken, Failure) and "live already" in taken.reason


def connect_from(running: Running, host: str) -> socket.socket:
    client = socket.socket()
    client.settimeout(5)
    client.bind((host, 0))
    client.connect(("127.0.0.1", running.port))
    return client


def test_one_address_holds_a_few_connections_at_most(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpproc, "FIRST_BYTE_SECONDS", 30.0)  # only the cap closes anything here
    mine = [connect_from(running, "127.0.0.2") for _ in range(httpproc.PER_PEER)]
    try:
        time.sleep(0.5)  # all accepted
        extra = connect_from(running, "127.0.0.2")
        extra.settimeout(1.0)
        assert closed_unanswered(extra)  # one more from the same address: closed at once
        extra.close()
        assert isinstance(running.publish(0, TOKEN_A), ChallengeWritten)
        assert running.get(get(TOKEN_A)).startswith(b"HTTP/1.1 200")  # another address is answered
    finally:
        for client in mine:
            client.close()


def test_when_full_the_oldest_connection_makes_room(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpproc, "FIRST_BYTE_SECONDS", 30.0)  # only the cap closes anything here
    assert isinstance(running.publish(0, TOKEN_A), ChallengeWritten)
    hosts = [f"127.0.0.{2 + index // httpproc.PER_PEER}" for index in range(httpproc.MAX_CLIENTS)]
    idle = []
    try:
        for host in hosts:
            idle.append(connect_from(running, host))
            time.sleep(0.01)  # accepted in this order
        time.sleep(0.5)
        newcomer = connect_from(running, "127.0.0.200")
        newcomer.sendall(get(TOKEN_A))
        assert newcomer.recv(4096).startswith(b"HTTP/1.1 200")  # the CA's validator gets in
        newcomer.close()
        idle[0].settimeout(1.0)
        assert closed_unanswered(idle[0])  # the oldest made room
        idle[1].settimeout(0.2)
        with pytest.raises(TimeoutError):
            idle[1].recv(1)  # the others stay
    finally:
        for client in idle:
            client.close()


def test_a_request_is_read_up_to_its_limit_and_answered(running: Running) -> None:
    endless = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    endless.sendall(b"GET /" + b"a" * (httpproc.MAX_REQUEST + 100))
    assert endless.recv(4096).startswith(b"HTTP/1.1 4")  # cut at MAX_REQUEST and answered
    endless.close()


def test_a_client_that_sends_nothing_is_closed_soon(monkeypatch: pytest.MonkeyPatch, running: Running) -> None:
    monkeypatch.setattr(httpproc, "FIRST_BYTE_SECONDS", 0.5)  # read at each accept
    silent = socket.create_connection(("127.0.0.1", running.port), timeout=httpproc.CLIENT_SECONDS + 5)
    started = time.monotonic()
    assert closed_unanswered(silent)
    assert 0.3 <= time.monotonic() - started <= 3
    silent.close()


def test_a_client_that_never_finishes_its_request_is_closed_after_its_time(monkeypatch: pytest.MonkeyPatch, running: Running) -> None:
    monkeypatch.setattr(httpproc, "CLIENT_SECONDS", 1.0)
    slow = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    started = time.monotonic()
    slow.sendall(b"GET /.well-known/")
    assert closed_unanswered(slow)
    assert 0.8 <= time.monotonic() - started <= 4
    slow.close()
