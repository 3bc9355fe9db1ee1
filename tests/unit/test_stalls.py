"""A shared process is not held up by one netproc that stalls (ipc.Channel.bound_waits).

One dnsproc, acctproc or chngproc serves every domain of a run; its serve
loop answers one whole request at a time.  A netproc taken over that sends
half a frame, or never takes its replies, is dropped after a bounded wait,
and the others are served.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from acme_conf.ipc import HEADER, Channel, ChannelClosed, ChannelError
from acme_conf.messages.dns import Addresses, Resolve
from acme_conf.proc.child import answer_until_closed

WAIT = 0.3  # the bound, short for the test (STALL_SECONDS in production)


def test_half_a_frame_is_an_error_once_the_wait_is_over() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        channel = Channel(theirs, "netproc")
        channel.bound_waits(WAIT)
        ours.sendall(HEADER.pack(100, Resolve.OP) + b"\x00\x00")
        started = time.monotonic()
        with pytest.raises(ChannelError, match="stalled in the middle of a frame"):
            channel.recv(Resolve)
        assert time.monotonic() - started < 5


def test_replies_never_taken_are_an_error_once_the_wait_is_over() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        channel = Channel(theirs, "netproc")
        channel.bound_waits(WAIT)
        with pytest.raises(ChannelError, match="stopped taking replies"):
            for _ in range(100_000):  # the socket's buffer fills: the peer reads nothing
                channel.send(Addresses(("192.0.2.1",) * 16))


@pytest.mark.parametrize("stall", ["half a frame", "replies not taken"])
def test_the_serve_loop_drops_a_stalling_netproc_and_serves_the_others(stall: str) -> None:
    pairs = [socket.socketpair() for _ in range(2)]
    served = [Channel(theirs, "netproc") for _, theirs in pairs]
    for channel in served:
        channel.bound_waits(WAIT)
    rogue, honest = (Channel(ours, "dnsproc") for ours, _ in pairs)
    outcome: dict[str, int] = {}
    loop = threading.Thread(
        target=lambda: outcome.update(
            status=answer_until_closed(
                served, lambda _, __: Addresses(("192.0.2.1",) * 16), Resolve, max_requests=1_000_000
            )
        ),
        daemon=True,
    )
    loop.start()
    if stall == "half a frame":
        pairs[0][0].sendall(HEADER.pack(100, Resolve.OP) + b"\x00")
    else:
        try:
            for _ in range(20_000):  # requests, and never a reply read
                rogue.send(Resolve("example.com"))
        except ChannelClosed:
            pass  # dropped while it was still sending: what is asserted below
    started = time.monotonic()
    reply = honest.request(Resolve("example.org"), Addresses)
    assert reply.addresses[0] == "192.0.2.1"
    assert time.monotonic() - started < 5  # the bound, not a chain's 20-minute deadline
    for ours, _ in pairs:
        ours.close()
    loop.join(timeout=10)
    assert outcome == {"status": 1}  # the rogue was dropped: the role fails at its end
