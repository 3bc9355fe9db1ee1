"""dnsproc in its real jail follows glibc's fallback to DNS over TCP.

A name server on 127.0.0.2 answers every UDP query truncated, so glibc
asks again over TCP (a length, then the query, in one writev).  The
resolver configuration is swapped for one naming that server inside a
private mount namespace, so the machine's own stays untouched.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="a private mount namespace needs root and unshare"
)

SERVER = "127.0.0.2"
ANSWER = bytes([10, 1, 2, 3])

CHILD = """
import os, socket, sys
from acme_conf import sandbox
from acme_conf.proc import dnsproc
from acme_conf.proc.spec import ChildSpec, DnsSettings

ours, theirs = socket.socketpair()
spec = ChildSpec("dnsproc", "test", 0, True, (("netproc", theirs.detach()),), DnsSettings())
held = dnsproc.acquire(spec)
sandbox.enter("dnsproc", dnsproc.grants(spec, held))
sys.stdout.write(repr(dnsproc.answer("big.example.test")) + "\\n")
sys.stdout.flush()
held.nets[0].close()  # our end went with the descriptors the sandbox closed
os._exit(0)  # as a real child ends: no interpreter teardown
"""


def _reply(query: bytes, truncated: bool) -> bytes:
    end = 12
    while query[end]:
        end += 1 + query[end]
    question = query[12:end + 5]
    qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
    flags = 0x8180 | (0x0200 if truncated else 0)
    if truncated or qtype != 1:
        return query[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + question
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, len(ANSWER)) + ANSWER
    return query[:2] + struct.pack("!HHHHH", flags, 1, 1, 0, 0) + question + record


@pytest.fixture
def truncating_name_server() -> Iterator[None]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind((SERVER, 53))
    tcp.bind((SERVER, 53))
    tcp.listen()

    def serve_udp() -> None:
        while True:
            try:
                query, peer = udp.recvfrom(4096)
            except OSError:
                return
            udp.sendto(_reply(query, truncated=True), peer)

    def serve_tcp() -> None:
        while True:
            try:
                connection, _ = tcp.accept()
            except OSError:
                return
            with connection:
                while len(header := connection.recv(2)) == 2:
                    size = struct.unpack("!H", header)[0]
                    query = b""
                    while len(query) < size:
                        query += connection.recv(size - len(query))
                    reply = _reply(query, truncated=False)
                    connection.sendall(struct.pack("!H", len(reply)) + reply)

    for target in (serve_udp, serve_tcp):
        threading.Thread(target=target, daemon=True).start()
    yield
    udp.close()
    tcp.close()


def test_dnsproc_resolves_over_tcp_inside_its_jail(truncating_name_server: None, tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {SERVER}\noptions attempts:1 timeout:2\n")
    script = tmp_path / "jailed_dnsproc.py"
    script.write_text(CHILD)
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f'mount --bind "{resolv}" /etc/resolv.conf && exec "{sys.executable}" "{script}"'],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr)  # -31 / 159: killed by seccomp
    assert "Addresses(addresses=('10.1.2.3',))" in done.stdout, done.stdout
