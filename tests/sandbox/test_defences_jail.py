"""Claims of docs/SECURITY.md about the system-call lists, tried from inside each real role's jail.

- "not sendmsg/recvmsg, so no role can pass a descriptor to another": a
  descriptor the parent sends over a role's channel cannot be taken, and a
  role cannot send one of its own; either attempt kills the role (SIGSYS).
- netproc's `setsockopt` is "TCP_NODELAY only": SO_REUSEADDR kills it, while
  TCP_NODELAY (the control) works.

Each attempt runs in a fresh child (defences_probe_child.py): the real role
module, its real acquire, grants and strict sandbox.enter, as the matrix of
test_sandbox_matrix.py runs them.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import sandbox_harness as harness
from acme_conf.sandbox.policy import POLICIES

CHILD = Path(__file__).with_name("defences_probe_child.py")
UNPRIVILEGED = os.getuid() != 0  # as root, the roles run as root would; the matrix covers both


@pytest.fixture(scope="module")
def bed() -> Iterator[harness.Bed]:
    with harness.bed_for(UNPRIVILEGED) as made:
        yield made


def read_events(channel: socket.socket) -> list[dict]:
    """harness._read_events, except that a child killed with our message unread resets the channel (ECONNRESET)."""
    data = bytearray()
    channel.settimeout(60)
    with channel:
        try:
            while chunk := channel.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return [json.loads(line) for line in data.decode().splitlines() if line]


def attempt(
    bed: harness.Bed, role: str, probe: str, monkeypatch: pytest.MonkeyPatch, pass_a_descriptor: bool = False
) -> str:
    """The outcome of one probe in a fresh jailed child of `role`: "ok", an errno name, or SIGSYS."""
    monkeypatch.setattr(harness, "CHILD", CHILD)
    process, channel = harness._start(role, bed, [probe], UNPRIVILEGED, no_chroot=False)
    if pass_a_descriptor:
        with open(os.devnull, "rb") as passed:
            socket.send_fds(channel, [b"x"], [passed.fileno()])
    events = read_events(channel)
    _, stderr = process.communicate(timeout=60)
    ready = [event for event in events if event["event"] == "ready"]
    assert ready, f"{role} did not get to its jail:\n{stderr.decode(errors='replace')}"
    results = [event["outcome"] for event in events if event["event"] == "result"]
    if results:
        return str(results[0])
    return harness.KILLED if process.returncode == -harness.signal.SIGSYS else f"exit {process.returncode}"


# hookproc has no filter (it runs a program of the administrator's): its neighbours' filters forbid
# sendmsg and recvmsg, so no descriptor crosses its channels either way.
FILTERED_ROLES = tuple(role for role in harness.ROLES if not POLICIES[role].runs_programs)


@pytest.mark.parametrize("role", FILTERED_ROLES)
def test_no_role_can_take_a_descriptor_passed_over_its_channel(
    bed: harness.Bed, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert attempt(bed, role, "receive_descriptor", monkeypatch, pass_a_descriptor=True) == harness.KILLED


@pytest.mark.parametrize("role", FILTERED_ROLES)
def test_no_role_can_pass_a_descriptor_over_its_channel(
    bed: harness.Bed, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert attempt(bed, role, "send_descriptor", monkeypatch) == harness.KILLED


def test_netproc_may_set_no_socket_option_but_tcp_nodelay(bed: harness.Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    assert attempt(bed, "netproc", "set_no_delay", monkeypatch) == "ok"
    assert attempt(bed, "netproc", "set_reuse_address", monkeypatch) == harness.KILLED
