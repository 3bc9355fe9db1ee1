"""netproc -> certproc -> fileproc: the certificate, checked and installed (or removed)."""

# No `from __future__ import annotations` here: field types must be real
# types at run time, because the frame codec reads them.

from dataclasses import dataclass
from typing import ClassVar

from acme_conf.messages import Message


@dataclass(frozen=True, repr=False, match_args=False)
class CertBundle(Message):
    """netproc -> certproc: the PEM the CA returned (certproc checks it against keyproc's key)."""

    OP: ClassVar[int] = 50
    pem: bytes
    alternates: tuple[str, ...] = ()  # the CA's alternate chains (PEM), fetched when a chain is preferred


@dataclass(frozen=True, repr=False, match_args=False)
class RemoveCertificate(Message):
    """netproc -> certproc -> fileproc: the certificate was revoked; remove its files."""

    OP: ClassVar[int] = 51


@dataclass(frozen=True, repr=False, match_args=False)
class WriteCertificate(Message):
    """certproc -> fileproc: the checked certificate, its chain, and both together (PEM)."""

    OP: ClassVar[int] = 60
    certificate: bytes
    chain: bytes
    fullchain: bytes
