"""The verdict on a certificate already on disk: parsed with cryptography.x509.

revokeproc imports this only when there is a certificate file to judge, and
always before its jail: importing cryptography.x509 costs ~40 ms of start-up
that a chain with no certificate yet (a first issuance) need not pay.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_conf.acme.renewal import renewal_decision
from acme_conf.certnames import certificate_names, configured_names
from acme_conf.messages.revoke import VERDICT_CURRENT, VERDICT_DUE, VERDICT_REVOKE, CertStatus
from acme_conf.proc.errors import ProcessFailure
from acme_conf.proc.spec import RevokeSettings


def judge(contents: bytes, settings: RevokeSettings, now: datetime) -> CertStatus:
    """Revoke, renew or keep the certificate in `contents`; ProcessFailure when it does not parse."""
    path = settings.certificate
    leaf, names = parse_leaf(contents, path)
    der = leaf.public_bytes(serialization.Encoding.DER)
    if settings.revoke:
        return CertStatus(VERDICT_REVOKE, f"{path}: revoking serial {leaf.serial_number:x}", der)
    decision = renewal_decision(
        leaf.not_valid_before_utc,
        leaf.not_valid_after_utc,
        now,
        names,
        configured_names(settings.names),
    )
    if settings.force:
        return CertStatus(VERDICT_DUE, f"{path}: {decision.reason}; renewing as -F asks", der)
    verdict = VERDICT_DUE if decision.due else VERDICT_CURRENT
    return CertStatus(verdict, f"{path}: {decision.reason}", der)


def parse_leaf(contents: bytes, path: str) -> tuple[x509.Certificate, frozenset[str]]:
    """The first certificate in the file's contents (the leaf of a full chain), and its names."""
    if not contents.strip():
        raise ProcessFailure(f"{path}: certificate file is empty")
    try:
        certificate = x509.load_pem_x509_certificates(contents)[0]
        return certificate, certificate_names(certificate)
    except ValueError:
        raise ProcessFailure(f"{path}: not a PEM certificate") from None
