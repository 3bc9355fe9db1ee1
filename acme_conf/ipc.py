"""Frames and channels between the processes of a chain.

A frame is a header (body length: u32, op code: u16) followed by the body:
the message's fields in declaration order, each a u32 length and that many
bytes.  Field values are bytes, UTF-8 text, decimal integers, or lists of
text (a u32 count, then each item length-prefixed).  Sizes are bounded, so
a confused or hostile peer cannot make us allocate without limit.  Nothing
here ever unpickles or evaluates what it receives.

End of file on a channel means the peer has stopped.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterable, Mapping
from typing import TypeVar

from acme_conf.messages import Message

HEADER = struct.Struct("!IH")
LENGTH = struct.Struct("!I")
MAX_FRAME = 4 * 1024 * 1024  # certificate bundles are the largest payload
_INTEGER = re.compile(rb"-?[0-9]{1,20}")

M = TypeVar("M", bound=Message)


class ChannelError(Exception):
    """A frame was malformed, too large, or not the message expected."""


class ChannelClosed(ChannelError):
    """The peer closed its end: it has stopped, normally or not."""


def encode(message: Message) -> bytes:
    """The frame for one message."""
    body = bytearray()
    for value in message.field_values():
        if isinstance(value, tuple):
            body += LENGTH.pack(len(value))
            for item in value:
                _append_field(body, _utf8(item))
        elif isinstance(value, bool):
            _append_field(body, b"1" if value else b"0")
        elif isinstance(value, int):
            _append_field(body, str(value).encode("ascii"))
        elif isinstance(value, str):
            _append_field(body, _utf8(value))
        else:
            _append_field(body, bytes(value))
    if len(body) > MAX_FRAME:
        raise ChannelError(f"{type(message).__name__} is {len(body)} bytes, over the frame limit")
    return HEADER.pack(len(body), message.OP) + bytes(body)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ChannelError("text field cannot be encoded as UTF-8") from None


def _append_field(body: bytearray, data: bytes) -> None:
    body += LENGTH.pack(len(data))
    body += data


def decode(op: int, body: bytes, types: Mapping[int, type[M]]) -> M:
    """The message a frame carries, one of `types` (by op code); ChannelError when it does not parse exactly."""
    cls = types.get(op)
    if cls is None:
        raise ChannelError(f"unknown message op {op}")
    reader = _BodyReader(body)
    values = [reader.read_field(kind) for kind in cls.field_kinds()]
    if not reader.at_end():
        raise ChannelError(f"{cls.__name__}: trailing bytes in frame")
    return cls(*values)


class _BodyReader:
    def __init__(self, body: bytes) -> None:
        self._body = body
        self._pos = 0

    def at_end(self) -> bool:
        return self._pos == len(self._body)

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._body):
            raise ChannelError("truncated field in frame")
        chunk = self._body[self._pos:end]
        self._pos = end
        return chunk

    def _length(self) -> int:
        return int(LENGTH.unpack(self._take(LENGTH.size))[0])

    def read_field(self, kind: type) -> object:
        if kind is tuple:
            count = self._length()
            if count > len(self._body):
                raise ChannelError("list count larger than frame")
            return tuple(self._text(self._take(self._length())) for _ in range(count))
        data = self._take(self._length())
        if kind is bytes:
            return data
        if kind is str:
            return self._text(data)
        if kind is bool:
            if data not in (b"0", b"1"):
                raise ChannelError("malformed boolean field")
            return data == b"1"
        if _INTEGER.fullmatch(data) is None:
            raise ChannelError("malformed integer field")
        return int(data)

    @staticmethod
    def _text(data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ChannelError("text field is not UTF-8") from error


class Channel:
    """One end of a socketpair, named after the peer process for messages."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self._sock = sock
        self.peer = peer

    @classmethod
    def from_fd(cls, fd: int, peer: str) -> Channel:
        return cls(socket.socket(fileno=fd), peer)

    def fileno(self) -> int:
        return self._sock.fileno()

    def bound_waits(self, seconds: float) -> None:
        """From now on, a frame half received or a reply not taken within `seconds` is an error.

        A process that serves several peers (a run's shared processes) would
        otherwise wait for ever on one that stalls, and serve no other.  Call
        it before the jail: it makes the socket non-blocking (an ioctl), and
        the waits are polls afterwards.
        """
        self._sock.settimeout(seconds)

    def send(self, message: Message) -> None:
        try:
            self._sock.sendall(encode(message))
        except (BrokenPipeError, ConnectionResetError) as error:
            raise ChannelClosed(f"{self.peer} has stopped") from error
        except TimeoutError:
            raise ChannelError(f"{self.peer} stopped taking replies") from None

    def recv(self, *expected: type[M]) -> M:
        """The next message, which must be one of `expected`: nothing else is decoded."""
        header = self._read_exactly(HEADER.size, at_frame_start=True)
        length, op = HEADER.unpack(header)
        if length > MAX_FRAME:
            raise ChannelError(f"{self.peer} sent a frame of {length} bytes, over the limit")
        types = {cls.OP: cls for cls in expected}
        if op not in types:
            names = " or ".join(cls.__name__ for cls in expected)
            raise ChannelError(f"{self.peer} sent message op {op}, expected {names}")
        return decode(op, self._read_exactly(length, at_frame_start=False), types)

    def request(self, message: Message, *expected: type[M]) -> M:
        """Send a message and return the reply, which must be one of `expected`."""
        self.send(message)
        return self.recv(*expected)

    def _read_exactly(self, size: int, *, at_frame_start: bool) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            try:
                chunk = self._sock.recv(min(size - len(chunks), 65536))
            except ConnectionResetError:
                chunk = b""
            except TimeoutError:
                raise ChannelError(f"{self.peer} stalled in the middle of a frame") from None
            if not chunk:
                if at_frame_start and not chunks:
                    raise ChannelClosed(f"{self.peer} has stopped")
                raise ChannelError(f"{self.peer} stopped in the middle of a frame")
            chunks += chunk
        return bytes(chunks)

    def close(self) -> None:
        self._sock.close()


def close_all(channels: Iterable[Channel]) -> None:
    """Close channels explicitly: an unclosed socket costs extra system calls at exit."""
    for channel in channels:
        channel.close()
