"""Looking for a dns-01 record at its zone's own name servers, against BIND's named (tools/nameserver.py).

hookproc, without a configured `resolver`, finds the zone of the record
through the system's resolvers (its SOA, its NS records, their addresses)
and asks those servers, without recursion. Here named plays both parts: the
resolver asked first, and the zone's server (ns.ZONE, which the zone says is
127.0.0.1). The one thing changed for the test is the port the zone's
servers are asked on (named's, not 53).
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
from pathlib import Path

import pytest

import nameserver
from acme_conf.acme.b64 import b64url
from acme_conf.ipc import Channel
from acme_conf.messages.account import Thumbprint
from acme_conf.messages.challenge import ChallengeWrite
from acme_conf.net import txt_lookup
from acme_conf.proc import hookproc
from acme_conf.proc.spec import HookSettings
from integration_common import RUN_TAG

pytestmark = pytest.mark.skipif(not nameserver.available(), reason="BIND's named is not installed (tools/test-deps.sh)")

EXAMPLE_HOOK = Path(__file__).resolve().parents[2] / "examples" / "hooks" / "nsupdate"
THUMBPRINT = "thumbprintThumbprint_-0123456789"
TOKEN = "tokenZ_-0123456789abcdefghijklmnop"


def add_txt(server: nameserver.NameServer, name: str, value: str) -> None:
    commands = f"server {server.address[0]} {server.address[1]}\nupdate add {name} 60 IN TXT \"{value}\"\nsend\n"
    subprocess.run(["nsupdate", "-k", str(server.key_file)], input=commands, text=True, check=True, timeout=30)


def test_the_zones_servers_are_found_and_asked_without_recursion(tmp_path: Path) -> None:
    zone = f"zone-{RUN_TAG}.test"
    with nameserver.NameServer(tmp_path / "named", zone) as server:
        record = f"_acme-challenge.www.{zone}."
        found = txt_lookup.authoritative_servers(record, (server.address,), 2.0, port=server.port)
        assert found == (server.address,)  # ns.ZONE's address, on the port given
        assert not txt_lookup.visible(server.address, record, "value", 2.0, recursion=False)
        add_txt(server, record, "value")
        assert txt_lookup.visible(server.address, record, "value", 2.0, recursion=False)
        assert txt_lookup.authoritative_servers(f"_acme-challenge.other-{RUN_TAG}.example.", (server.address,), 1.0) == ()


def test_hookproc_without_a_resolver_waits_at_the_zones_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples' nsupdate hook adds the record; hookproc, given named as the system's resolver, finds the zone's servers."""
    zone = f"hook-zone-{RUN_TAG}.test"
    with nameserver.NameServer(tmp_path / "named", zone) as server:
        monkeypatch.setattr(hookproc, "AUTHORITATIVE_PORT", server.port)
        asked: list[tuple[tuple[str, int], bool]] = []

        def spy(at: tuple[str, int], name: str, value: str, timeout: float, recursion: bool = True) -> bool:
            asked.append((at, recursion))
            return txt_lookup.visible(at, name, value, timeout, recursion)

        monkeypatch.setattr(hookproc, "visible", spy)
        wrapper = tmp_path / "hook"
        wrapper.write_text(
            f'#!/bin/sh\nNSUPDATE_SERVER="{server.address[0]} {server.port}" NSUPDATE_KEY={server.key_file} exec {EXAMPLE_HOOK} "$@"\n'
        )
        wrapper.chmod(0o755)
        names = (f"www.{zone}",)
        ours, theirs = socket.socketpair()
        account_ours, account_theirs = socket.socketpair()
        Channel(account_ours, "hookproc").send(Thumbprint(THUMBPRINT))
        net = Channel(theirs, "netproc")
        settings = HookSettings(str(wrapper), "", 30, (), 20, (names,), (0,))
        held = hookproc.Held((net,), settings, (server.address,), {net.fileno(): frozenset(names)}, {net.fileno(): Channel(account_theirs, "acctproc")})
        try:
            record = hookproc.checked_record(held, ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}", names[0]), net.fileno())
            hookproc.run_program(settings, "add", record)
            hookproc.wait_until_visible(held, record)  # returns: visible at the zone's server
            assert asked and set(asked) == {(server.address, False)}  # the zone's server, never a resolver's cache
            assert record.value == b64url(hashlib.sha256(f"{TOKEN}.{THUMBPRINT}".encode()).digest())
            assert txt_lookup.visible(server.address, record.owner, record.value, 2.0, recursion=False)
        finally:
            for end in (ours, theirs, account_ours, account_theirs):
                end.close()
