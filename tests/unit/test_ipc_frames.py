"""acme_conf.ipc: frames, limits, and channels over real socketpairs."""

from __future__ import annotations

import dataclasses
import socket
import struct
import threading
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acme_conf import ipc
from acme_conf.ipc import HEADER, LENGTH, MAX_FRAME, Channel, ChannelClosed, ChannelError, decode, encode
from acme_conf.messages import Failure, Message
from acme_conf.messages.account import Signed, SignRequest, Thumbprint, ThumbprintRequest
from acme_conf.messages.certificate import CertBundle, RemoveCertificate, WriteCertificate
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.messages.dns import Addresses, Resolve
from acme_conf.messages.key import Csr, CsrRequest, DomainKey, DomainPrivateKey
from acme_conf.messages.revoke import CertStatus

# Every message type, from every channel's module, by op code.
MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.OP: cls
    for cls in (
        CertStatus, CsrRequest, Csr, DomainKey, ThumbprintRequest, Thumbprint, SignRequest, Signed, ChallengeWrite,
        ChallengeWritten, Resolve, Addresses, CertBundle, RemoveCertificate, WriteCertificate, Failure,
        DomainPrivateKey,
    )
}

_FIELD_STRATEGIES = {
    bytes: st.binary(max_size=512),
    str: st.text(max_size=64),
    bool: st.booleans(),
    tuple: st.lists(st.text(max_size=32), max_size=8).map(tuple),
}


def _message_strategy(cls: type[Message]) -> st.SearchStrategy[Message]:
    kinds = cls.field_kinds()
    names = [field.name for field in dataclasses.fields(cls)]
    return st.builds(cls, **{name: _FIELD_STRATEGIES[kind] for name, kind in zip(names, kinds)})


ANY_MESSAGE = st.one_of(*(_message_strategy(cls) for cls in MESSAGE_TYPES.values()))


def _split(frame: bytes) -> tuple[int, int, bytes]:
    length, op = HEADER.unpack(frame[: HEADER.size])
    return length, op, frame[HEADER.size:]


@pytest.fixture
def pair() -> tuple[socket.socket, socket.socket]:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    left.settimeout(5)
    right.settimeout(5)
    yield left, right
    left.close()
    right.close()


# the message table -------------------------------------------------------------


def test_every_message_type_has_a_unique_op_and_frameable_fields() -> None:
    ops = [cls.OP for cls in MESSAGE_TYPES.values()]
    assert len(ops) == len(set(ops))
    assert all(op != 0 for op in ops)
    for cls in MESSAGE_TYPES.values():
        assert MESSAGE_TYPES[cls.OP] is cls
        assert set(cls.field_kinds()) <= set(_FIELD_STRATEGIES)


def test_every_message_subclass_is_registered() -> None:
    def subclasses(cls: type[Message]) -> set[type[Message]]:
        return {sub for direct in cls.__subclasses__() for sub in (direct, *subclasses(direct))}

    assert subclasses(Message) == set(MESSAGE_TYPES.values())


def test_a_channel_decodes_only_what_it_expects(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    Channel(left, "x").send(Thumbprint("abc"))  # well formed, but not for this exchange
    with pytest.raises(ChannelError, match=f"dnsproc sent message op {Thumbprint.OP}, expected Addresses or Failure"):
        Channel(right, "dnsproc").recv(Addresses, Failure)


# round trips -----------------------------------------------------------------------


@given(ANY_MESSAGE)
@settings(max_examples=300)
def test_round_trip_of_every_message_type(message: Message) -> None:
    frame = encode(message)
    length, op, body = _split(frame)
    assert length == len(body)
    assert op == message.OP
    decoded = decode(op, body, MESSAGE_TYPES)
    assert decoded == message
    assert type(decoded) is type(message)


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=lambda cls: cls.__name__)
def test_each_type_round_trips_with_awkward_values(cls: type[Message]) -> None:
    awkward = {bytes: b"\x00\xff" * 3, str: "é\x00\n\u202e漢", bool: True, tuple: ("", "a.b", "ü")}
    values = {field.name: awkward[kind] for field, kind in zip(dataclasses.fields(cls), cls.field_kinds())}
    message = cls(**values)
    _, op, body = _split(encode(message))
    assert decode(op, body, MESSAGE_TYPES) == message


def test_empty_fields_round_trip() -> None:
    message = SignRequest(url="", nonce="", kid="", payload=b"")
    _, op, body = _split(encode(message))
    assert decode(op, body, MESSAGE_TYPES) == message


def test_false_and_true_are_distinct_on_the_wire() -> None:
    # No message has a bool field today; the codec still supports the kind.
    reader = ipc._BodyReader(LENGTH.pack(1) + b"0" + LENGTH.pack(1) + b"1")
    assert reader.read_field(bool) is False
    assert reader.read_field(bool) is True


def test_malformed_boolean_is_rejected() -> None:
    with pytest.raises(ChannelError, match="boolean"):
        ipc._BodyReader(LENGTH.pack(4) + b"true").read_field(bool)


# hostile frames ---------------------------------------------------------------------


@given(op=st.integers(min_value=0, max_value=0xFFFF), body=st.binary(max_size=256))
@settings(max_examples=500)
def test_random_frames_decode_or_raise_channel_error_only(op: int, body: bytes) -> None:
    try:
        message = decode(op, body, MESSAGE_TYPES)
    except ChannelError:
        return
    # Anything accepted must be exactly what encoding the message gives back.
    assert encode(message) == HEADER.pack(len(body), op) + body


@given(message=ANY_MESSAGE, data=st.data())
@settings(max_examples=300)
def test_truncated_frames_raise_channel_error(message: Message, data: st.DataObject) -> None:
    _, op, body = _split(encode(message))
    if not body:
        return
    cut = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    with pytest.raises(ChannelError):
        decode(op, body[:cut], MESSAGE_TYPES)


@given(message=ANY_MESSAGE, garbage=st.binary(min_size=1, max_size=64))
@settings(max_examples=300)
def test_trailing_garbage_raises_channel_error(message: Message, garbage: bytes) -> None:
    _, op, body = _split(encode(message))
    with pytest.raises(ChannelError):
        decode(op, body + garbage, MESSAGE_TYPES)


@given(message=ANY_MESSAGE, data=st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_corrupted_frames_never_raise_anything_but_channel_error(message: Message, data: st.DataObject) -> None:
    _, op, body = _split(encode(message))
    if not body:
        return
    mutated = bytearray(body)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        index = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        mutated[index] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        decode(op, bytes(mutated), MESSAGE_TYPES)
    except ChannelError:
        pass


@pytest.mark.parametrize("op", [0, 2, 89, 91, 0xFFFF])
def test_unknown_op_is_rejected(op: int) -> None:
    with pytest.raises(ChannelError, match=f"unknown message op {op}"):
        decode(op, b"", MESSAGE_TYPES)


def test_bad_utf8_in_a_text_field_is_rejected() -> None:
    body = LENGTH.pack(2) + b"\xc3\x28"
    with pytest.raises(ChannelError, match="UTF-8"):
        decode(Thumbprint.OP, body, MESSAGE_TYPES)


def test_bad_utf8_in_a_list_item_is_rejected() -> None:
    body = LENGTH.pack(1) + LENGTH.pack(1) + b"\xff"
    with pytest.raises(ChannelError, match="UTF-8"):
        decode(Addresses.OP, body, MESSAGE_TYPES)


def test_field_length_beyond_the_body_is_rejected() -> None:
    body = LENGTH.pack(0xFFFFFFFF) + b"x"
    with pytest.raises(ChannelError, match="truncated"):
        decode(Thumbprint.OP, body, MESSAGE_TYPES)


def test_list_count_beyond_the_body_is_rejected_before_looping() -> None:
    body = LENGTH.pack(0xFFFFFFFF)
    with pytest.raises(ChannelError, match="list count"):
        decode(Addresses.OP, body, MESSAGE_TYPES)


def test_list_count_too_large_for_its_items_is_rejected() -> None:
    body = LENGTH.pack(3) + LENGTH.pack(1) + b"a"
    with pytest.raises(ChannelError, match="truncated"):
        decode(Addresses.OP, body, MESSAGE_TYPES)


def test_message_without_fields_rejects_any_body() -> None:
    with pytest.raises(ChannelError, match="trailing"):
        decode(CsrRequest.OP, LENGTH.pack(0), MESSAGE_TYPES)


def test_oversized_message_is_refused_when_encoding() -> None:
    with pytest.raises(ChannelError, match="over the frame limit"):
        encode(CertBundle(pem=b"x" * MAX_FRAME))


def test_largest_allowed_frame_round_trips_over_a_channel(pair: tuple[socket.socket, socket.socket]) -> None:
    overhead = len(encode(CertBundle(pem=b""))) - HEADER.size  # the fields' lengths (no alternates)
    message = CertBundle(pem=b"p" * (MAX_FRAME - overhead))
    assert len(encode(message)) == HEADER.size + MAX_FRAME
    left, right = pair
    sender = threading.Thread(target=Channel(left, "a").send, args=(message,))
    sender.start()
    received = Channel(right, "b").recv(CertBundle)
    sender.join()
    assert received == message


# channels over real socketpairs --------------------------------------------------------


def test_request_and_reply_over_a_socketpair(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    client = Channel(left, "acctproc")
    server = Channel(right, "netproc")

    def serve() -> None:
        request = server.recv(SignRequest)
        server.send(Signed(jws=request.payload[::-1]))

    thread = threading.Thread(target=serve)
    thread.start()
    reply = client.request(SignRequest("https://ca/x", "n", "", b"abc"), Signed, Failure)
    thread.join()
    assert reply == Signed(jws=b"cba")


def test_recv_rejects_an_unexpected_message_type(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    Channel(left, "x").send(Failure("no"))
    with pytest.raises(ChannelError, match=f"keyproc sent message op {Failure.OP}, expected Csr"):
        Channel(right, "keyproc").recv(Csr)


def test_eof_at_frame_start_is_channel_closed(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.close()
    with pytest.raises(ChannelClosed, match="dnsproc has stopped"):
        Channel(right, "dnsproc").recv(*MESSAGE_TYPES.values())


def test_eof_inside_the_header_is_an_error_not_a_close(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.sendall(HEADER.pack(10, Thumbprint.OP)[:3])
    left.close()
    with pytest.raises(ChannelError, match="middle of a frame") as raised:
        Channel(right, "acctproc").recv(*MESSAGE_TYPES.values())
    assert not isinstance(raised.value, ChannelClosed)


def test_eof_inside_the_body_is_an_error_not_a_close(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    frame = encode(Thumbprint("abcdef"))
    left.sendall(frame[:-2])
    left.close()
    with pytest.raises(ChannelError, match="middle of a frame") as raised:
        Channel(right, "acctproc").recv(*MESSAGE_TYPES.values())
    assert not isinstance(raised.value, ChannelClosed)


def test_over_limit_length_header_is_rejected_without_reading_or_allocating(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    # Only the header is sent: a reader that waited for the body would block
    # (the socket timeout would turn that into a different error).
    left.sendall(HEADER.pack(0xFFFFFFFF, CertBundle.OP))
    tracemalloc.start()
    try:
        with pytest.raises(ChannelError, match="over the limit"):
            Channel(right, "netproc").recv(*MESSAGE_TYPES.values())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_frame_just_over_the_limit_is_rejected(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.sendall(HEADER.pack(MAX_FRAME + 1, CertBundle.OP))
    with pytest.raises(ChannelError, match="over the limit"):
        Channel(right, "netproc").recv(*MESSAGE_TYPES.values())


def test_send_to_a_stopped_peer_is_channel_closed(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    right.close()
    with pytest.raises(ChannelClosed, match="certproc has stopped"):
        Channel(left, "certproc").send(CsrRequest())


@given(st.lists(ANY_MESSAGE, min_size=1, max_size=6), st.integers(min_value=1, max_value=7))
@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
def test_messages_survive_arbitrary_write_boundaries(batch: list[Message], step: int) -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        stream = b"".join(encode(message) for message in batch)

        def trickle() -> None:
            for start in range(0, len(stream), step):
                left.sendall(stream[start:start + step])
            left.close()

        thread = threading.Thread(target=trickle)
        thread.start()
        channel = Channel(right, "peer")
        received = [channel.recv(*MESSAGE_TYPES.values()) for _ in batch]
        with pytest.raises(ChannelClosed):
            channel.recv(*MESSAGE_TYPES.values())
        thread.join()
        assert received == batch
    finally:
        left.close()
        right.close()


def test_from_fd_adopts_the_descriptor() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = right.detach()
    channel = Channel.from_fd(fd, "peer")
    try:
        assert channel.fileno() == fd
        Channel(left, "x").send(Thumbprint("t"))
        assert channel.recv(Thumbprint).value == "t"
    finally:
        channel.close()
        left.close()


def test_header_layout_is_length_then_op() -> None:
    frame = encode(Thumbprint("ab"))
    assert frame == struct.pack("!IH", 6, Thumbprint.OP) + struct.pack("!I", 2) + b"ab"


@pytest.mark.parametrize("data", [b"0", b"42", b"-7", b"18446744073709551615"])
def test_integer_fields_parse(data: bytes) -> None:
    # No message has an int field today; the codec supports the kind.
    assert ipc._BodyReader(LENGTH.pack(len(data)) + data).read_field(int) == int(data)


@pytest.mark.parametrize("data", [b"", b"-", b"1.5", b" 1", b"0x1", b"1" * 21, "\u0661".encode()])
def test_malformed_integer_fields_are_rejected(data: bytes) -> None:
    with pytest.raises(ChannelError, match="malformed integer"):
        ipc._BodyReader(LENGTH.pack(len(data)) + data).read_field(int)


@pytest.mark.parametrize("data", [b"--5", b"-" * 5 + b"1"])
def test_repeated_minus_signs_are_a_channel_error(data: bytes) -> None:
    with pytest.raises(ChannelError):
        ipc._BodyReader(LENGTH.pack(len(data)) + data).read_field(int)
