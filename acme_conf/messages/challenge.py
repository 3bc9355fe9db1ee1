"""netproc <-> chngproc (or httpproc, tlsproc in its place): key authorizations to publish; netproc <-> hookproc: dns-01 TXT records."""

# No `from __future__ import annotations` here: field types must be real
# types at run time, because the frame codec reads them.

from dataclasses import dataclass
from typing import ClassVar

from acme_conf.messages import Message


@dataclass(frozen=True, repr=False, match_args=False)
class ChallengeWrite(Message):
    """netproc -> chngproc: publish a key authorization under its token."""

    OP: ClassVar[int] = 30
    token: str
    key_authorization: str
    identifier: str = ""  # the name (or address) validated; tlsproc answers it only for a name of the domain


@dataclass(frozen=True, repr=False, match_args=False)
class ChallengeWritten(Message):
    """chngproc -> netproc: the file is in place; the CA may fetch it."""

    OP: ClassVar[int] = 31


@dataclass(frozen=True, repr=False, match_args=False)
class RecordAdd(Message):
    """netproc -> hookproc: publish the dns-01 TXT record of `name` (as ordered: "*." for a wildcard).

    hookproc computes the record's value from the key authorization itself,
    once it has checked it against the account's thumbprint; it answers
    ChallengeWritten once the record is visible, or Failure.
    """

    OP: ClassVar[int] = 32
    name: str
    token: str
    key_authorization: str
