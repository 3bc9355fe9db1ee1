"""Is a TXT record visible yet?  One DNS question over UDP, and a careful reading of the answer.

hookproc asks this after the hook program has added a dns-01 record and
before netproc tells the CA to look, so that the CA does not look too early.
The answer comes from the network: every length in it is checked against
the packet, a name's compression pointers may only point backwards, and
anything malformed counts as "not visible yet", never as an error that
stops the run.
"""

from __future__ import annotations

import secrets
import socket
import struct

TXT = 16
CNAME = 5
CLASS_IN = 1
MAX_REPLY = 4096  # bytes read of a UDP answer; a longer one is truncated, and read as far as it goes
MAX_POINTERS = 32  # compression pointers followed in one name: a loop ends here
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


def question(name: str) -> tuple[int, bytes]:
    """A query for the TXT records of `name` (recursion desired): its id, and the packet."""
    query_id = secrets.randbits(16)
    return query_id, _HEADER.pack(query_id, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", TXT, CLASS_IN)


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"{name}: not a DNS name")
        out += bytes((len(raw),)) + raw
    return bytes(out) + b"\0"


def txt_values(reply: bytes, query_id: int, name: str) -> tuple[str, ...]:
    """The TXT strings in `reply` to question (`query_id`, `name`): each record's strings joined.

    Records of any owner count: a resolver that followed a CNAME from
    `name` answers with the CNAME and the records of its target.
    MalformedAnswer when the reply is not an answer to this question.
    """
    if len(reply) < _HEADER.size:
        raise MalformedAnswer("shorter than a DNS header")
    answer_id, flags, questions, answers, _, _ = _HEADER.unpack_from(reply)
    if answer_id != query_id or not flags & 0x8000:
        raise MalformedAnswer("not the answer to this question")
    if flags & 0x000F:
        return ()  # NXDOMAIN, SERVFAIL...: not there (yet)
    if questions != 1:
        raise MalformedAnswer(f"{questions} questions in an answer to one")
    asked, offset = read_name(reply, _HEADER.size)
    if asked.lower() != name.rstrip(".").lower() or reply[offset : offset + 4] != struct.pack("!HH", TXT, CLASS_IN):
        raise MalformedAnswer("an answer to another question")
    offset += 4
    values = []
    for _ in range(answers):
        _, offset = read_name(reply, offset)
        if offset + _RECORD.size > len(reply):
            raise MalformedAnswer("a record cut short")
        kind, klass, _, length = _RECORD.unpack_from(reply, offset)
        offset += _RECORD.size
        if offset + length > len(reply):
            raise MalformedAnswer("record data cut short")
        if kind == TXT and klass == CLASS_IN:
            values.append(_strings(reply[offset : offset + length]))
        offset += length
    return tuple(values)


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


def visible(server: tuple[str, int], name: str, value: str, timeout: float) -> bool:
    """Whether `server` answers `value` among the TXT records of `name` (False for no answer, or a bad one)."""
    query_id, packet = question(name)
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(server)  # the kernel drops datagrams from anyone else
            sock.send(packet)
            while True:
                reply = sock.recv(MAX_REPLY)
                try:
                    return value in txt_values(reply, query_id, name)
                except MalformedAnswer:
                    continue  # a stray or spoofed datagram: wait for the real answer until the timeout
        except OSError:  # timeout, refused, unreachable
            return False
