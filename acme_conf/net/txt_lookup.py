"""Is a TXT record visible yet, and where to ask: DNS questions over UDP, and a careful reading of the answers.

hookproc asks this after the hook program has added a dns-01 record and
before netproc tells the CA to look, so that the CA does not look too early:
at the configured resolver, or else at the name servers of the record's
zone, found through the system's resolvers (its SOA, then its NS records and
their addresses).
The answer comes from the network: every length in it is checked against
the packet, a name's compression pointers may only point backwards, and
anything malformed counts as "not visible yet", never as an error that
stops the run.
"""

from __future__ import annotations

import re
import secrets
import socket
import struct
import time
from typing import NamedTuple

A = 1
NS = 2
SOA = 6
TXT = 16
AAAA = 28
MAX_SERVERS = 8  # name servers of a zone asked, addresses in all
CLASS_IN = 1
MAX_REPLY = 4096  # bytes read of a UDP answer; a longer one is truncated, and read as far as it goes
MAX_POINTERS = 32  # compression pointers followed in one name: a loop ends here
_HOST = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)+")
_HEADER = struct.Struct("!HHHHHH")
_RECORD = struct.Struct("!HHIH")


class MalformedAnswer(ValueError):
    """The answer is not a DNS message this question could have: say so, and look again later."""


def resolv_conf_servers(text: str) -> tuple[tuple[str, int], ...]:
    """The `nameserver` lines of resolv.conf(5), in order, on port 53."""
    servers = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            servers.append((words[1].split("%")[0], 53))
    return tuple(servers)


class Record(NamedTuple):
    """One resource record of a reply: its owner, type, and data (where the data starts in the packet)."""

    owner: str
    kind: int
    start: int
    data: bytes


class Reply(NamedTuple):
    """A reply that answers the question asked: its response code, answer and authority records, and the packet."""

    rcode: int
    answer: tuple[Record, ...]
    authority: tuple[Record, ...]
    packet: bytes


def question(name: str, kind: int = TXT, recursion: bool = True) -> tuple[int, bytes]:
    """A query for the `kind` records of `name`: its id, and the packet."""
    query_id = secrets.randbits(16)
    flags = 0x0100 if recursion else 0
    return query_id, _HEADER.pack(query_id, flags, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", kind, CLASS_IN)


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"{name}: not a DNS name")
        out += bytes((len(raw),)) + raw
    return bytes(out) + b"\0"


def parse_reply(reply: bytes, query_id: int, name: str, kind: int = TXT) -> Reply:
    """`reply` read as the answer to question (`query_id`, `name`, `kind`); MalformedAnswer when it cannot be one."""
    if len(reply) < _HEADER.size:
        raise MalformedAnswer("shorter than a DNS header")
    answer_id, flags, questions, answers, authorities, _ = _HEADER.unpack_from(reply)
    if answer_id != query_id or not flags & 0x8000:
        raise MalformedAnswer("not the answer to this question")
    if questions != 1:
        raise MalformedAnswer(f"{questions} questions in an answer to one")
    asked, offset = read_name(reply, _HEADER.size)
    if asked.lower() != name.rstrip(".").lower() or reply[offset : offset + 4] != struct.pack("!HH", kind, CLASS_IN):
        raise MalformedAnswer("an answer to another question")
    offset += 4
    sections: list[tuple[Record, ...]] = []
    for count in (answers, authorities):
        records = []
        for _ in range(count):
            owner, offset = read_name(reply, offset)
            if offset + _RECORD.size > len(reply):
                raise MalformedAnswer("a record cut short")
            record_kind, klass, _, length = _RECORD.unpack_from(reply, offset)
            offset += _RECORD.size
            if offset + length > len(reply):
                raise MalformedAnswer("record data cut short")
            if klass == CLASS_IN:
                records.append(Record(owner, record_kind, offset, reply[offset : offset + length]))
            offset += length
        sections.append(tuple(records))
    return Reply(flags & 0x000F, sections[0], sections[1], reply)


def txt_values(reply: bytes, query_id: int, name: str) -> tuple[str, ...]:
    """The TXT strings in `reply` to question (`query_id`, `name`): each record's strings joined.

    Records of any owner count: a resolver that followed a CNAME from
    `name` answers with the CNAME and the records of its target.
    MalformedAnswer when the reply is not an answer to this question.
    """
    return _txt(parse_reply(reply, query_id, name))


def _txt(reply: Reply) -> tuple[str, ...]:
    if reply.rcode:
        return ()  # NXDOMAIN, SERVFAIL...: not there (yet)
    return tuple(_strings(record.data) for record in reply.answer if record.kind == TXT)


def read_name(packet: bytes, offset: int) -> tuple[str, int]:
    """The name at `offset`, and where what follows it starts; MalformedAnswer for one that cannot be."""
    labels: list[str] = []
    end = -1
    pointers = 0
    while True:
        if offset >= len(packet):
            raise MalformedAnswer("a name runs past the end")
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(packet):
                raise MalformedAnswer("a name runs past the end")
            target = ((length & 0x3F) << 8) | packet[offset + 1]
            if end < 0:
                end = offset + 2
            pointers += 1
            if target >= offset or pointers > MAX_POINTERS:
                raise MalformedAnswer("a compression pointer that does not point back")
            offset = target
            continue
        if length & 0xC0:
            raise MalformedAnswer("an unknown label type")
        offset += 1
        if length == 0:
            break
        if offset + length > len(packet):
            raise MalformedAnswer("a label runs past the end")
        labels.append(packet[offset : offset + length].decode("ascii", "replace"))
        offset += length
    return ".".join(labels), end if end >= 0 else offset


def _strings(data: bytes) -> str:
    """A TXT record's character-strings, joined (a long value is split in strings of 255 bytes at most)."""
    parts = []
    offset = 0
    while offset < len(data):
        length = data[offset]
        if offset + 1 + length > len(data):
            raise MalformedAnswer("a TXT string cut short")
        parts.append(data[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    return "".join(parts)


def ask(server: tuple[str, int], name: str, kind: int, timeout: float, recursion: bool = True) -> Reply | None:
    """`server`'s reply to one question, or None when no usable one came within `timeout` (in all)."""
    try:
        query_id, packet = question(name, kind, recursion)
    except (ValueError, UnicodeError):  # a name no DNS question can carry (one a server sent, say)
        return None
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(server)  # the kernel drops datagrams from anyone else
            sock.send(packet)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:  # stray datagrams keep coming: the time is up all the same
                    return None
                sock.settimeout(left)
                reply = sock.recv(MAX_REPLY)
                try:
                    return parse_reply(reply, query_id, name, kind)
                except MalformedAnswer:
                    continue  # a stray or spoofed datagram: wait for the real answer until the timeout
        except OSError:  # timeout, refused, unreachable
            return None


def visible(server: tuple[str, int], name: str, value: str, timeout: float, recursion: bool = True) -> bool:
    """Whether `server` answers `value` among the TXT records of `name` (False for no answer, or a bad one)."""
    reply = ask(server, name, TXT, timeout, recursion)
    try:
        return reply is not None and value in _txt(reply)
    except MalformedAnswer:  # a TXT string cut short: not visible yet
        return False


def authoritative_servers(
    name: str, resolvers: tuple[tuple[str, int], ...], timeout: float, port: int = 53
) -> tuple[tuple[str, int], ...]:
    """The addresses of the name servers of the zone `name` lies in, as `resolvers` tell them (() when they do not).

    The zone is the owner of the SOA record a resolver gives for `name`
    (in its answer, or its authority section when `name` does not exist);
    its servers, the NS records of the zone, each looked up (A and AAAA).
    """
    zone = _zone_of(name, resolvers, timeout)
    hosts = _answer_names(zone, NS, resolvers, timeout) if zone else ()
    addresses: list[tuple[str, int]] = []
    for host in hosts[:MAX_SERVERS]:
        for kind, size, family in ((A, 4, socket.AF_INET), (AAAA, 16, socket.AF_INET6)):
            reply = _first_reply(host, kind, resolvers, timeout)
            for record in reply.answer if reply is not None else ():
                if record.kind == kind and len(record.data) == size:
                    addresses.append((socket.inet_ntop(family, record.data), port))
    return tuple(dict.fromkeys(addresses))[:MAX_SERVERS]


def _first_reply(name: str, kind: int, resolvers: tuple[tuple[str, int], ...], timeout: float) -> Reply | None:
    for resolver in resolvers:
        reply = ask(resolver, name, kind, timeout)
        if reply is not None and reply.rcode in (0, 3):  # an answer, or "no such name": either is the truth
            return reply
    return None


def _zone_of(name: str, resolvers: tuple[tuple[str, int], ...], timeout: float) -> str:
    """The zone `name` lies in: the owner of the SOA record the resolvers give for it ("" when none does)."""
    reply = _first_reply(name, SOA, resolvers, timeout)
    wanted = name.rstrip(".").lower()
    for record in (*reply.answer, *reply.authority) if reply is not None else ():
        owner = record.owner.lower()
        if record.kind == SOA and owner and (wanted == owner or wanted.endswith("." + owner)):
            return record.owner  # a zone that holds the name, not one a resolver made up elsewhere
    return ""


def _answer_names(name: str, kind: int, resolvers: tuple[tuple[str, int], ...], timeout: float) -> tuple[str, ...]:
    """The names the `kind` records (NS) of `name` hold."""
    reply = _first_reply(name, kind, resolvers, timeout)
    if reply is None:
        return ()
    names = []
    for record in reply.answer:
        if record.kind == kind:
            try:
                host = read_name(reply.packet, record.start)[0]
            except MalformedAnswer:
                continue
            if _HOST.fullmatch(host):  # a name a question can carry; anything else is skipped
                names.append(host)
    return tuple(dict.fromkeys(names))
