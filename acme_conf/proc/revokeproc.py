"""revokeproc: reads the existing certificate and decides what the chain does.

It opens the certificate file before the jail (it may not exist yet) and
afterwards has neither file system nor network.  It tells netproc one of:
no certificate yet, renewal due, current (stop: nothing to do), or revoke
(with -r).  The file is read through the descriptor opened earlier.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_conf import sandbox
from acme_conf.acme.renewal import renewal_decision
from acme_conf.certnames import certificate_names, configured_names
from acme_conf.files import read_regular_file
from acme_conf.ipc import Channel
from acme_conf.messages import (
    VERDICT_CURRENT,
    VERDICT_DUE,
    VERDICT_MISSING,
    VERDICT_REVOKE,
    CertStatus,
)
from acme_conf.proc.child import run_role
from acme_conf.proc.errors import EXIT_OK, ProcessFailure
from acme_conf.proc.spec import ChildSpec, RevokeSettings

MAX_CERTIFICATE_FILE = 1024 * 1024

log = logging.getLogger("acme_conf")


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """revokeproc's channel to netproc and what it read of the certificate file."""

    net: Channel
    contents: bytes | None  # None when there is no file
    unreadable: str  # why an existing file cannot be read; "" when it was read, or is missing


def acquire(spec: ChildSpec) -> Held:
    """Read the certificate file now, while files may be opened: after the jail
    revokeproc holds no descriptor but its channel, and parses only bytes."""
    settings = spec.settings
    assert isinstance(settings, RevokeSettings)
    net = Channel.from_fd(spec.channel_fd("netproc"), "netproc")
    try:
        return Held(net, read_certificate_file(settings.certificate), "")
    except FileNotFoundError:
        return Held(net, None, "")
    except OSError as error:
        return Held(net, None, f"{settings.certificate}: {error.strerror}")


def read_certificate_file(path: str) -> bytes:
    """The file's bytes, at most one byte over the limit; a link is followed, as upstream does."""
    return read_regular_file(path, MAX_CERTIFICATE_FILE)


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(channels=(held.net.fileno(),), strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    settings = spec.settings
    assert isinstance(settings, RevokeSettings)
    try:
        status = examine(held, settings, datetime.now(timezone.utc))
        log.info("%s", status.reason)
        held.net.send(status)
    finally:
        held.net.close()
    return EXIT_OK


def examine(held: Held, settings: RevokeSettings, now: datetime) -> CertStatus:
    """The verdict on the existing certificate."""
    path = settings.certificate
    if held.unreadable:
        return _unusable(settings, held.unreadable)
    if held.contents is None:
        if settings.revoke:
            raise ProcessFailure(f"{path}: no certificate to revoke")
        return CertStatus(VERDICT_MISSING, f"{path}: no certificate yet", b"")
    try:
        leaf = parse_leaf(held.contents, path)
    except ProcessFailure as error:
        return _unusable(settings, str(error))
    der = leaf.public_bytes(serialization.Encoding.DER)
    if settings.revoke:
        return CertStatus(VERDICT_REVOKE, f"{path}: revoking serial {leaf.serial_number:x}", der)
    decision = renewal_decision(
        leaf.not_valid_before_utc,
        leaf.not_valid_after_utc,
        now,
        certificate_names(leaf),
        configured_names(settings.names),
    )
    if settings.force:
        return CertStatus(VERDICT_DUE, f"{path}: {decision.reason}; renewing as -F asks", der)
    verdict = VERDICT_DUE if decision.due else VERDICT_CURRENT
    return CertStatus(verdict, f"{path}: {decision.reason}", der)


def _unusable(settings: RevokeSettings, reason: str) -> CertStatus:
    """An existing certificate that cannot be used: replaced with -F, else an error saying so."""
    if settings.force and not settings.revoke:
        return CertStatus(VERDICT_DUE, f"{reason}; replacing it as -F asks", b"")
    if settings.revoke:
        raise ProcessFailure(reason)
    raise ProcessFailure(f"{reason}; run acme-client -F to replace it")


def parse_leaf(contents: bytes, path: str) -> x509.Certificate:
    """The first certificate in the file's contents (the leaf of a full chain)."""
    if len(contents) > MAX_CERTIFICATE_FILE:
        raise ProcessFailure(f"{path}: too large to be a certificate")
    if not contents.strip():
        raise ProcessFailure(f"{path}: certificate file is empty")
    try:
        certificate = x509.load_pem_x509_certificates(contents)[0]
        certificate_names(certificate)  # a malformed subjectAltName fails here, not later
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        raise ProcessFailure(f"{path}: not a PEM certificate") from None
    return certificate


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
