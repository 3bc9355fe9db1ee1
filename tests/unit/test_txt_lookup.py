"""net/txt_lookup.py: the TXT question hookproc asks, and how it reads an answer from the network.

Answers are built byte by byte here (a real server's are read in
tests/integration/test_dns_hook.py, from pebble-challtestsrv).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_conf.net import txt_lookup
from acme_conf.net.txt_lookup import MalformedAnswer, encode_name, question, read_name, resolv_conf_servers, txt_values

NAME = "_acme-challenge.example.com."
VALUE = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"


def record(owner: bytes, kind: int, data: bytes) -> bytes:
    return owner + struct.pack("!HHIH", kind, 1, 60, len(data)) + data


def txt(*strings: bytes) -> bytes:
    return b"".join(bytes((len(item),)) + item for item in strings)


def answer(query_id: int, records: list[bytes], rcode: int = 0, name: str = NAME) -> bytes:
    header = struct.pack("!HHHHHH", query_id, 0x8180 | rcode, 1, len(records), 0, 0)
    return header + encode_name(name) + struct.pack("!HH", 16, 1) + b"".join(records)


def test_the_value_is_read_from_an_answer_that_points_back_at_the_question() -> None:
    reply = answer(7, [record(b"\xc0\x0c", 16, txt(VALUE.encode())), record(b"\xc0\x0c", 16, txt(b"other"))])
    assert txt_values(reply, 7, NAME) == (VALUE, "other")


def test_a_long_value_in_several_strings_is_joined_and_a_cname_target_counts() -> None:
    target = encode_name("x.dns-provider.example")
    reply = answer(7, [record(b"\xc0\x0c", 5, target), record(target, 16, txt(b"LoqXcYV8q5ONbJQxbmR7", b"SCTNo3tiAXDfowyjxAjEuX0"))])
    assert txt_values(reply, 7, NAME) == (VALUE,)


def test_no_such_name_is_nothing_yet() -> None:
    assert txt_values(answer(7, [], rcode=3), 7, NAME) == ()


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (b"\x00\x07", "shorter than a DNS header"),
        (answer(8, []), "not the answer to this question"),
        (answer(7, [])[:2] + b"\x01\x00" + answer(7, [])[4:], "not the answer"),  # a query, not a response
        (answer(7, [], name="_acme-challenge.evil.example."), "another question"),
        (answer(7, [record(b"\xc0\x0c", 16, txt(b"x"))])[:-1], "cut short"),
        (answer(7, [b"\xc0\x30" + struct.pack("!HHIH", 16, 1, 60, 0)]), "does not point back"),  # forwards
        (answer(7, [b"\xc0\x33" + struct.pack("!HHIH", 16, 1, 60, 0)]), "does not point back"),  # at itself
        (answer(7, [record(b"\xc0\x0c", 16, b"\x05ab")]), "TXT string cut short"),
        (answer(7, [b"\x80abc"]), "unknown label type"),
    ],
)
def test_a_malformed_answer_is_said_to_be_one(reply: bytes, why: str) -> None:
    with pytest.raises(MalformedAnswer, match=why):
        txt_values(reply, 7, NAME)


def test_a_pointer_loop_ends() -> None:
    packet = b"\x00" * 12 + b"\x01a\xc0\x0c"  # a name whose pointer leads back to its own start
    with pytest.raises(MalformedAnswer):
        read_name(packet, 12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_values_or_malformed_never_another_error(noise: bytes) -> None:
    reply = answer(7, [])[:12] + noise
    try:
        values = txt_values(reply, 7, NAME)
    except MalformedAnswer:
        return
    assert all(isinstance(item, str) for item in values)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=4))
def test_a_good_answer_cut_or_changed_anywhere_gives_values_or_malformed(position: int, garbage: bytes) -> None:
    good = answer(7, [record(b"\xc0\x0c", 16, txt(VALUE.encode()))])
    position %= len(good)
    for reply in (good[:position], good[:position] + garbage + good[position + len(garbage):]):
        try:
            txt_values(reply, 7, NAME)
        except MalformedAnswer:
            pass


def test_the_question_asks_for_txt_with_recursion() -> None:
    query_id, packet = question(NAME)
    assert struct.unpack("!HHHHHH", packet[:12]) == (query_id, 0x0100, 1, 0, 0, 0)
    assert packet[12:].endswith(struct.pack("!HH", 16, 1)) and read_name(packet, 12)[0] == NAME.rstrip(".")


def test_resolv_conf_name_servers_in_order() -> None:
    text = "# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\noptions ndots:2\nnameserver\n"
    assert resolv_conf_servers(text) == (("192.0.2.53", 53), ("fe80::1", 53))


def test_a_spoofed_datagram_from_elsewhere_is_not_read_and_the_real_answer_is() -> None:
    """visible() connects its socket: a datagram from another address never reaches it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def serve() -> None:
        packet, client = server.recvfrom(512)
        query_id = struct.unpack("!H", packet[:2])[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoofer:
            spoofer.sendto(answer(query_id, [record(b"\xc0\x0c", 16, txt(b"spoofed"))]), client)
        server.sendto(answer(query_id, [record(b"\xc0\x0c", 16, txt(VALUE.encode()))]), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert txt_lookup.visible(server.getsockname(), NAME, VALUE, 5.0)
    finally:
        thread.join(5)
        server.close()


def test_no_answer_is_not_visible() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        assert not txt_lookup.visible(silent.getsockname(), NAME, VALUE, 0.3)


def soa(owner: bytes) -> bytes:
    return record(owner, 6, encode_name("ns.example") + encode_name("hostmaster.example") + bytes(20))


def answer_to(query_id: int, name: str, kind: int, answers: list[bytes], authority: list[bytes], rcode: int = 0) -> bytes:
    header = struct.pack("!HHHHHH", query_id, 0x8180 | rcode, 1, len(answers), len(authority), 0)
    return header + encode_name(name) + struct.pack("!HH", kind, 1) + b"".join(answers) + b"".join(authority)


def test_a_zone_is_only_one_that_holds_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver's SOA for another zone (example.net for a name in example.com) is not taken for the name's zone."""
    replies = {
        "example.com": [soa(encode_name("example.com"))],
        "evil.net": [soa(encode_name("example.net"))],
    }

    def ask(server, name, kind, timeout, recursion=True):
        key = "example.com" if name.endswith("example.com.") else "evil.net"
        packet = answer_to(1, name, kind, [], replies[key], rcode=3)
        return txt_lookup.parse_reply(packet, 1, name, kind)

    monkeypatch.setattr(txt_lookup, "ask", ask)
    assert txt_lookup._zone_of("_acme-challenge.www.example.com.", (("192.0.2.53", 53),), 1.0) == "example.com"
    assert txt_lookup._zone_of("_acme-challenge.www.evil.net.", (("192.0.2.53", 53),), 1.0) == ""


def serve_udp(reply_for: Callable[[bytes], list[bytes]], every: float = 0.0) -> tuple[socket.socket, threading.Thread]:
    """A loopback UDP server that sends, for the first question, each datagram reply_for gives (`every` seconds apart)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def serve() -> None:
        packet, client = server.recvfrom(512)
        for datagram in reply_for(packet):
            try:
                server.sendto(datagram, client)
            except OSError:
                return
            time.sleep(every)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def test_a_txt_string_cut_short_is_not_visible_rather_than_an_error() -> None:
    server, thread = serve_udp(lambda packet: [answer(struct.unpack("!H", packet[:2])[0], [record(b"\xc0\x0c", 16, b"\x50abc")])])
    try:
        assert not txt_lookup.visible(server.getsockname(), NAME, VALUE, 2.0)
    finally:
        thread.join(5)
        server.close()


def test_stray_datagrams_do_not_keep_a_question_open_past_its_time() -> None:
    server, thread = serve_udp(lambda packet: [b"junk"] * 40, every=0.05)
    try:
        started = time.monotonic()
        assert txt_lookup.ask(server.getsockname(), NAME, 16, 0.5) is None
        assert time.monotonic() - started < 1.5
    finally:
        thread.join(5)
        server.close()


def test_name_servers_with_names_no_question_can_carry_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """NS targets such as the root or bytes outside ASCII end nothing: they are not asked about."""

    def ask(server, name, kind, timeout, recursion=True):
        txt_lookup.question(name, kind)  # as the real one: a name no question can carry raises here
        if kind == 6:  # SOA
            packet = answer_to(1, name, kind, [], [soa(encode_name("example.com"))], rcode=3)
        elif kind == 2:  # NS
            targets = [b"\x00", b"\x02\xff\xfe\x00", encode_name("ns1.example.com")]
            packet = answer_to(1, name, kind, [record(b"\xc0\x0c", 2, target) for target in targets], [])
        else:
            packet = answer_to(1, name, kind, [record(b"\xc0\x0c", 1, bytes((192, 0, 2, 53)))] if kind == 1 else [], [])
        return txt_lookup.parse_reply(packet, 1, name, kind)

    monkeypatch.setattr(txt_lookup, "ask", ask)
    assert txt_lookup.authoritative_servers("_acme-challenge.www.example.com.", (("192.0.2.1", 53),), 1.0) == (("192.0.2.53", 53),)
