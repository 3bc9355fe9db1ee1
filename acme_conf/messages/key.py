"""keyproc -> netproc: the certificate signing request; keyproc -> certproc, revokeproc: the domain key."""

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


@dataclass(frozen=True, repr=False, match_args=False)
class DomainKey(Message):
    """keyproc -> certproc and revokeproc, unasked: the domain key's public key.

    DER SubjectPublicKeyInfo; empty when the key does not exist yet (a check
    before the chain, which creates it).  certproc and revokeproc learn the
    key from here, never from netproc.
    """

    OP: ClassVar[int] = 12
    spki: bytes


@dataclass(frozen=True, repr=False, match_args=False)
class DomainPrivateKey(Message):
    """keyproc -> fileproc, unasked, only when a combined file is configured: the domain key, PEM (PKCS#8).

    fileproc puts it before the full chain in the combined file; it learns
    the key from keyproc alone, so certproc and netproc never hold it.
    """

    OP: ClassVar[int] = 13
    pem: bytes
