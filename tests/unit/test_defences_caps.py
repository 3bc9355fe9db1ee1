"""dnsproc answers with at most MAX_ADDRESSES addresses (docs/SECURITY.md: "16 addresses an answer").

netproc tries the addresses dnsproc gives it one after another; a resolver
that answers with thousands (a hostile name server, a crafted /etc/hosts)
must not make it try them all.  The real dnsproc.answer is given what a
resolver with many addresses returns.
"""

from __future__ import annotations

import socket

import pytest

from acme_conf.messages.dns import Addresses
from acme_conf.proc import dnsproc

MANY = 300


def many_addresses(host: str, port: object, *args: object, **kwargs: object) -> list[tuple]:
    del host, port, args, kwargs
    v4 = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"192.0.2.{n % 250 + 1}", 0)) for n in range(MANY // 2)]
    v6 = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (f"2001:db8::{n:x}", 0, 0, 0)) for n in range(MANY // 2)]
    return v4 + v6


def test_an_answer_holds_at_most_max_addresses_in_the_resolvers_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", many_addresses)
    reply = dnsproc.answer("many.example.test")
    assert isinstance(reply, Addresses)
    assert len(reply.addresses) == dnsproc.MAX_ADDRESSES == 16
    assert reply.addresses == tuple(f"192.0.2.{n + 1}" for n in range(16))  # the first ones, duplicates dropped
