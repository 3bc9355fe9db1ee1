"""netproc <-> chngproc (or httpproc, tlsproc in its place): key authorizations to publish; netproc <-> hookproc: dns-01 TXT records."""

# No `from __future__ import annotations` here: field types must be real
# types at run time, because the frame codec reads them.

from dataclasses import dataclass
from typing import ClassVar

from acme_conf.messages import Message


@dataclass(frozen=True, repr=False, match_args=False)
class ChallengeWrite(Message):
    """netproc -> chngproc (or httpproc, tlsproc, hookproc in its place): publish a key authorization.

    hookproc publishes the dns-01 TXT record of `identifier`, whose value it
    computes from the key authorization once it has checked it.
    """

    OP: ClassVar[int] = 30
    token: str
    key_authorization: str
    identifier: str = ""  # the name (or address) validated, as ordered ("*." for a wildcard); tlsproc and hookproc
    # publish only for a name of the domain


@dataclass(frozen=True, repr=False, match_args=False)
class ChallengeWritten(Message):
    """chngproc -> netproc: the file is in place; the CA may fetch it."""

    OP: ClassVar[int] = 31

