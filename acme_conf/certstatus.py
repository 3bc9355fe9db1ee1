"""What a certificate already on disk says: parsed with cryptography.x509.

revokeproc imports this only when there is a certificate file to judge, and
always before its jail: importing cryptography.x509 costs ~40 ms of start-up
that a chain with no certificate yet (a first issuance) need not pay.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

from datetime import datetime
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_conf.acme.renewal import RenewalDecision, renewal_decision
from acme_conf.certnames import certificate_names, configured_names
from acme_conf.errors import ProcessFailure


class Examined(NamedTuple):
    """The leaf of a certificate file: its DER form, serial number, and whether renewal is due."""

    der: bytes
    serial: int
    decision: RenewalDecision


def examine_certificate(contents: bytes, path: str, names: tuple[str, ...], now: datetime) -> Examined:
    """The leaf in `contents` judged against the configured `names`; ProcessFailure when it does not parse."""
    leaf, found = parse_leaf(contents, path)
    decision = renewal_decision(
        leaf.not_valid_before_utc, leaf.not_valid_after_utc, now, found, configured_names(names)
    )
    return Examined(leaf.public_bytes(serialization.Encoding.DER), leaf.serial_number, decision)


def parse_leaf(contents: bytes, path: str) -> tuple[x509.Certificate, frozenset[str]]:
    """The first certificate in the file's contents (the leaf of a full chain), and its names."""
    if not contents.strip():
        raise ProcessFailure(f"{path}: certificate file is empty")
    try:
        certificate = x509.load_pem_x509_certificates(contents)[0]
        return certificate, certificate_names(certificate)
    except ValueError:
        raise ProcessFailure(f"{path}: not a PEM certificate") from None
