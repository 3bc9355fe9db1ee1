"""netproc <-> dnsproc: host names and their addresses."""

# No `from __future__ import annotations` here: field types must be real
# types at run time, because the frame codec reads them.

from dataclasses import dataclass
from typing import ClassVar

from acme_conf.messages import Message


@dataclass(frozen=True, repr=False, match_args=False)
class Resolve(Message):
    """netproc -> dnsproc: the addresses of a CA host."""

    OP: ClassVar[int] = 40
    host: str


@dataclass(frozen=True, repr=False, match_args=False)
class Addresses(Message):
    """dnsproc -> netproc: numeric addresses, in the resolver's order."""

    OP: ClassVar[int] = 41
    addresses: tuple[str, ...]
