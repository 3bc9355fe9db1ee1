"""netproc <-> keyproc: the certificate signing request."""

# No `from __future__ import annotations` here: field types must be real
# types at run time, because the frame codec reads them.

from dataclasses import dataclass
from typing import ClassVar

from acme_conf.messages import Message


@dataclass(frozen=True, repr=False, match_args=False)
class CsrRequest(Message):
    """netproc -> keyproc: build the certificate signing request."""

    OP: ClassVar[int] = 10


@dataclass(frozen=True, repr=False, match_args=False)
class Csr(Message):
    """keyproc -> netproc: the DER CSR for every configured name."""

    OP: ClassVar[int] = 11
    der: bytes
