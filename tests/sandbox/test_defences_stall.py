"""A real shared process, jailed as in a run, is held up by a stalling netproc for STALL_SECONDS at most.

docs/SECURITY.md (known gaps): a netproc taken over that sends half a frame
"only loses its own channel" after a bounded wait; the other domains the
shared process serves are served.  tests/unit/test_stalls.py shows the bound
on a channel it sets itself; this test shows the real role sets it on its
own channels: a dnsproc, started by the parent's spawn (proc/spawner.py) with two netproc
channels, gets half a frame on one and must still answer the other.
"""

from __future__ import annotations

import socket
import subprocess

from acme_conf.ipc import HEADER, Channel, ChannelError
from acme_conf.messages.dns import Addresses, Resolve
from acme_conf.proc.child import STALL_SECONDS
from acme_conf.proc.spawner import child_import_path, spawn
from acme_conf.proc.spec import ChildSpec, DnsSettings

MARGIN = 20.0  # start-up of the role and a loaded machine; a wait without the bound never ends


def test_a_stalling_netproc_is_dropped_and_the_other_domain_is_served() -> None:
    pairs = [socket.socketpair() for _ in range(2)]
    channels = tuple(("netproc", theirs.fileno()) for _, theirs in pairs)
    process = spawn(ChildSpec("dnsproc", "authority test", 0, True, channels, DnsSettings()), child_import_path())
    for _, theirs in pairs:
        theirs.close()
    stalling, other = pairs[0][0], pairs[1][0]
    served = Channel(other, "dnsproc")
    other.settimeout(STALL_SECONDS + MARGIN)
    try:
        stalling.sendall(HEADER.pack(100, Resolve.OP) + b"\x00\x00")  # a header promising 100 bytes, and 2 of them
        # Served before or after the stall, whichever dnsproc reads first; by the second request the stall is
        # behind it either way.
        for _ in range(2):
            assert served.request(Resolve("localhost"), Addresses).addresses
        served.close()
        _, err = process.communicate(timeout=STALL_SECONDS + MARGIN)
    except (ChannelError, subprocess.TimeoutExpired):
        raise AssertionError(f"dnsproc served nobody while one netproc stalled ({STALL_SECONDS + MARGIN:.0f} s)") from None
    finally:
        stalling.close()
        served.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
    said = err.decode(errors="replace")
    assert process.returncode == 1, said  # a channel that misbehaved fails the shared process at its end
    assert "stalled in the middle of a frame" in said
