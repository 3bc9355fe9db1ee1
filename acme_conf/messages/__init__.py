"""The messages processes of a chain send each other: the base, and Failure.

Each message is a frozen dataclass with a unique op code; its fields are
bytes, str, int, bool or tuple[str, ...], framed by acme_conf.ipc.  The
messages of each channel live in a module of their own here, so that a
process creates only the classes of its own channels (each costs ~0.4 ms
at start-up); tests/unit/test_ipc_frames.py lists them all and checks that
op codes are unique.
They leave out what nobody uses: no generated repr (Message has one for
all) and no match_args.
"""

# No `from __future__ import annotations` here: field types must be real
# types at run time, because the frame codec reads them.

import dataclasses
import typing
from dataclasses import dataclass
from typing import ClassVar


class Message:
    """Base of every message (itself no dataclass: it has no fields)."""

    OP: ClassVar[int] = 0

    def __repr__(self) -> str:
        values = ", ".join(f"{field.name}={getattr(self, field.name)!r}" for field in dataclasses.fields(self))
        return f"{type(self).__name__}({values})"

    def field_values(self) -> tuple[object, ...]:
        return tuple(getattr(self, field.name) for field in dataclasses.fields(self))

    @classmethod
    def field_kinds(cls) -> tuple[type, ...]:
        return tuple(_kind(field.type) for field in dataclasses.fields(cls))


def _kind(annotation: object) -> type:
    if typing.get_origin(annotation) is tuple:
        return tuple
    if annotation in (bytes, str, int, bool):
        return typing.cast(type, annotation)
    raise TypeError(f"message field type {annotation!r} cannot be framed")


# any reply ------------------------------------------------------------------


@dataclass(frozen=True, repr=False, match_args=False)
class Failure(Message):
    """Any process -> its requester: the request failed, and why."""

    OP: ClassVar[int] = 90
    reason: str
