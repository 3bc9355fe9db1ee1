"""hookproc served in-process: which records a netproc may have published, how the program is run, and the clean-up.

The real serve loop runs in a thread with two netproc channels and an
acctproc channel; the test is netproc and acctproc. The program is a real
shell script that notes each call (its arguments and environment) in a file.
`wait` is 0: looking for the record is tests/integration/test_dns_hook.py's
subject, with pebble's DNS server, and the jail is tests/sandbox's.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from acme_conf.acme.b64 import b64url
from acme_conf.ipc import Channel
from acme_conf.messages import Failure
from acme_conf.messages.account import Thumbprint
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.proc import hookproc
from acme_conf.errors import ProcessFailure
from acme_conf.proc.spec import ChildSpec, HookSettings

THUMBPRINT = "thumbprintThumbprint_-0123456789"
TOKEN_A = "tokenA_-0123456789abcdefghijklmnop"
TOKEN_B = "tokenB_-0123456789abcdefghijklmnop"
NAMES = (("a.example",), ("b.example", "*.b.example"))


def value(token: str) -> str:
    return b64url(hashlib.sha256(f"{token}.{THUMBPRINT}".encode()).digest())


@dataclass
class Running:
    nets: tuple[Channel, Channel]  # the test's ends: domain A (one name), domain B (a name and its wildcard)
    calls: Path
    thread: threading.Thread
    status: list[int]

    def add(self, net: int, name: str, token: str, thumbprint: str = THUMBPRINT) -> object:
        return self.nets[net].request(ChallengeWrite(token, f"{token}.{thumbprint}", name), ChallengeWritten, Failure)

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def stop(self) -> None:
        for net in self.nets:
            net.close()
        self.thread.join(timeout=20)


def start(tmp_path: Path, body: str = "", timeout: int = 10) -> Running:
    calls = tmp_path / "calls"
    program = tmp_path / "hook"
    program.write_text(f'#!/bin/sh\necho "$*|$(env | sort | tr "\\n" " ")" >> {calls}\n{body}\n')
    program.chmod(0o755)
    ours, theirs = zip(*(socket.socketpair() for _ in range(2)))
    account_ours, account_theirs = socket.socketpair()
    Channel(account_ours, "hookproc").send(Thumbprint(THUMBPRINT))
    nets = tuple(Channel(end, "netproc") for end in theirs)
    account = Channel(account_theirs, "acctproc")
    settings = HookSettings(str(program), "", timeout, (), 0, NAMES, (0, 0))
    held = hookproc.Held(
        nets, settings, (), {net.fileno(): frozenset(names) for net, names in zip(nets, NAMES)}, {net.fileno(): account for net in nets}
    )
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(hookproc.serve(None, held)), daemon=True)  # type: ignore[arg-type]
    thread.start()
    return Running(tuple(Channel(end, "hookproc") for end in ours), calls, thread, status)  # type: ignore[arg-type]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    state = start(tmp_path)
    yield state
    state.stop()


def arguments(line: str) -> str:
    return line.split("|")[0]


def test_a_record_is_added_with_the_value_computed_here_and_removed_when_the_domain_is_done(running: Running) -> None:
    assert isinstance(running.add(1, "*.b.example", TOKEN_B), ChallengeWritten)
    assert isinstance(running.add(1, "b.example", TOKEN_A), ChallengeWritten)
    assert [arguments(line) for line in running.called()] == [
        f"add _acme-challenge.b.example. {value(TOKEN_B)}",
        f"add _acme-challenge.b.example. {value(TOKEN_A)}",
    ]
    running.nets[1].close()
    deadline = time.monotonic() + 10
    while len(running.called()) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [arguments(line) for line in running.called()[2:]] == [
        f"remove _acme-challenge.b.example. {value(TOKEN_A)}",
        f"remove _acme-challenge.b.example. {value(TOKEN_B)}",
    ]


def test_the_program_gets_a_clean_environment(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    os.environ["ACME_TEST_SECRET"] = "leaked"
    try:
        assert isinstance(running.add(0, "a.example", TOKEN_A), ChallengeWritten)
    finally:
        del os.environ["ACME_TEST_SECRET"]
    environment = running.called()[0].split("|")[1]
    names = {item.split("=")[0] for item in environment.split()}
    assert "ACME_TEST_SECRET" not in environment
    assert {"PATH", "ACME_ACTION", "ACME_NAME", "ACME_RECORD", "ACME_VALUE"} <= names
    assert f"ACME_NAME=a.example ACME_RECORD=_acme-challenge.a.example. ACME_VALUE={value(TOKEN_A)}" in environment


@pytest.mark.parametrize(
    ("net", "name", "token", "thumbprint", "why"),
    [
        (0, "b.example", TOKEN_A, THUMBPRINT, "not a name of the domain"),  # another domain's name
        (0, "evil.example", TOKEN_A, THUMBPRINT, "not a name of the domain"),
        (0, "a.example\nupdate delete example. SOA", TOKEN_A, THUMBPRINT, "not a name of the domain"),
        (0, "*.a.example", TOKEN_A, THUMBPRINT, "not a name of the domain"),  # a wildcard not configured
        (0, "a.example", "../../etc/passwd", THUMBPRINT, "not base64url"),
        (0, "a.example", TOKEN_A, "anotherAccountsThumbprint_-012345", "another account"),
    ],
)
def test_a_hostile_netproc_has_nothing_added(running: Running, net: int, name: str, token: str, thumbprint: str, why: str) -> None:
    refused = running.add(net, name, token, thumbprint)
    assert isinstance(refused, Failure) and why in refused.reason
    assert running.called() == []


def test_one_record_per_name(running: Running) -> None:
    assert isinstance(running.add(0, "a.example", TOKEN_A), ChallengeWritten)
    again = running.add(0, "a.example", TOKEN_B)
    assert isinstance(again, Failure) and "one per name" in again.reason
    assert len(running.called()) == 1


def test_a_netproc_asking_too_often_is_dropped(running: Running) -> None:
    for _ in range(hookproc.REQUESTS_PER_NAME):
        running.add(0, "evil.example", TOKEN_A)
    with pytest.raises(Exception):
        running.add(0, "evil.example", TOKEN_A)
    assert isinstance(running.add(1, "b.example", TOKEN_B), ChallengeWritten)  # the other domain is still served


def test_a_failing_add_says_why_and_its_record_is_removed_all_the_same(tmp_path: Path) -> None:
    running = start(tmp_path, body='[ "$1" = add ] && { echo first; echo "NOTAUTH: update refused"; exit 5; }; exit 0')
    try:
        failed = running.add(0, "a.example", TOKEN_A)
        assert isinstance(failed, Failure)
        assert failed.reason.endswith("failed (exit status 5): NOTAUTH: update refused")
    finally:
        running.stop()
    assert [arguments(line).split()[0] for line in running.called()] == ["add", "remove"]


def test_a_program_that_overruns_is_killed_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child-alive"
    running = start(tmp_path, body=f'[ "$1" = add ] && {{ (sleep 3; touch {marker}) & sleep 60; }}; exit 0', timeout=1)
    try:
        started = time.monotonic()
        failed = running.add(0, "a.example", TOKEN_A)
        assert isinstance(failed, Failure) and "did not finish within 1 s: killed" in failed.reason
        assert time.monotonic() - started < 10
    finally:
        running.stop()
    time.sleep(3.5)
    assert not marker.exists(), "a process the program started outlived the timeout"
    assert [arguments(line).split()[0] for line in running.called()] == ["add", "remove"]


def test_the_records_of_every_domain_are_removed_when_their_netprocs_close(tmp_path: Path) -> None:
    running = start(tmp_path)
    assert isinstance(running.add(0, "a.example", TOKEN_A), ChallengeWritten)
    assert isinstance(running.add(1, "b.example", TOKEN_B), ChallengeWritten)
    running.stop()
    assert sorted(arguments(line).split()[0] for line in running.called()) == ["add", "add", "remove", "remove"]


def test_hookproc_refuses_a_program_others_may_change_when_it_starts(tmp_path: Path) -> None:
    """-n says so too; this is the check at run time, for a program changed since the configuration was read."""
    program = tmp_path / "hook"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o757)
    ours, theirs = socket.socketpair()
    account, acctproc = socket.socketpair()
    settings = HookSettings(str(program), "", 10, (), 0, NAMES[:1], (0,))
    spec = ChildSpec("hookproc", "hook", 0, False, (("netproc", theirs.fileno()), ("acctproc", acctproc.fileno())), settings)
    try:
        with pytest.raises(ProcessFailure, match="group or others may write it"):
            hookproc.acquire(spec)  # refused before it takes hold of any channel
        program.chmod(0o755)
        held = hookproc.acquire(spec)  # now the channels are its own
        theirs.detach(), acctproc.detach()
        assert held.servers == () and set(held.names.values()) == {frozenset(NAMES[0])}
        for channel in (*held.nets, *held.accounts.values()):
            channel.close()
    finally:
        for end in (ours, theirs, account, acctproc):
            end.close()


def test_a_sweeper_removes_only_records_of_its_domains(tmp_path: Path) -> None:
    """What a hookproc that died left, as the parent read it from the journal: names of the hook's domains only."""
    program = tmp_path / "hook"
    calls = tmp_path / "calls"
    program.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    program.chmod(0o755)
    left = (f"evil.example {value(TOKEN_A)}", f"a.example {value(TOKEN_A)}", "b.example not-a-value", f"*.b.example {value(TOKEN_B)}")
    settings = HookSettings(str(program), "", 10, (), 0, NAMES, (0, 0), sweep=left)
    status = hookproc.serve(None, hookproc.Held((), settings, ()))  # type: ignore[arg-type]
    assert status != 0  # two entries refused
    assert calls.read_text().splitlines() == [
        f"remove _acme-challenge.a.example. {value(TOKEN_A)}",
        f"remove _acme-challenge.b.example. {value(TOKEN_B)}",
    ]
