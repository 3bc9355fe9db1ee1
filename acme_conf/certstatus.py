"""What a certificate already on disk says: parsed with cryptography.x509.

revokeproc imports this only when there is a certificate file to judge, and
always before its jail: importing cryptography.x509 costs ~40 ms of start-up
that a chain with no certificate yet (a first issuance) need not pay.  Then
it calls warm_up, which judges a sample leaf of every key type and a file
that is no certificate, so that whatever cryptography loads on the way is
loaded before the jail.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

from datetime import datetime
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_conf import samples
from acme_conf.acme.renewal import RenewalDecision, renewal_decision
from acme_conf.acme.renewal_info import certificate_id
from acme_conf.acme.identifiers import configured_names
from acme_conf.certnames import certificate_names
from acme_conf.errors import ProcessFailure


class Examined(NamedTuple):
    """The leaf of a certificate file: its DER form, serial number, ARI identifier, and whether renewal is due;
    and what the decision was drawn from, for the parent to keep (known_certificates.py)."""

    der: bytes
    serial: int
    decision: RenewalDecision
    certificate_id: str  # what the CA's renewal information calls it (RFC 9773); "" when it cannot be named
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]  # its names, sorted, as certnames.certificate_names gives them
    key_matches: bool  # it is for the domain key keyproc told


# The moment drawn in the CA's renewal window, and the certificate (its ARI identifier) it was drawn for.
KeptMoment = tuple[str, datetime]


def examine_certificate(
    contents: bytes,
    path: str,
    names: tuple[str, ...],
    domain_key: bytes,
    now: datetime,
    kept: KeptMoment | None = None,
) -> Examined:
    """The leaf in `contents` judged against the configured `names`, the domain key, and the kept renewal moment.

    `domain_key` is the key's DER SubjectPublicKeyInfo from keyproc (empty:
    no key yet, so no certificate can be for it).  The `kept` moment counts
    only for the certificate it was drawn for.  ProcessFailure when the file
    does not parse.
    """
    leaf, found = parse_leaf(contents, path)
    spki = leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    identifier = certificate_id(authority_key_id(leaf), leaf.serial_number)
    key_matches = bool(domain_key) and spki == domain_key
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    decision = renewal_decision(
        not_before,
        not_after,
        now,
        found,
        configured_names(names),
        key_matches=key_matches,
        ari_moment=kept[1] if kept is not None and identifier and kept[0] == identifier else None,
    )
    der = leaf.public_bytes(serialization.Encoding.DER)
    return Examined(der, leaf.serial_number, decision, identifier, not_before, not_after, tuple(sorted(found)), key_matches)


def authority_key_id(leaf: x509.Certificate) -> bytes:
    """The key identifier of the leaf's Authority Key Identifier; b"" when it has none (or a malformed one)."""
    try:
        value = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        return b""
    return value.key_identifier or b""


def parse_leaf(contents: bytes, path: str) -> tuple[x509.Certificate, frozenset[str]]:
    """The first certificate in the file's contents (the leaf of a full chain), and its names."""
    if not contents.strip():
        raise ProcessFailure(f"{path}: certificate file is empty")
    try:
        certificate = x509.load_pem_x509_certificates(contents)[0]
        return certificate, certificate_names(certificate)
    except ValueError:
        raise ProcessFailure(f"{path}: not a PEM certificate") from None


def warm_up() -> None:
    """Judge every sample leaf, and a file that is no certificate, as a real file is judged."""
    for sample in samples.SAMPLES:
        examine_certificate(sample.bundle, "sample", samples.NAMES, b"", samples.NOW, ("sample.id", samples.NOW))
    try:
        examine_certificate(b"not a certificate", "sample", samples.NAMES, b"", samples.NOW)
    except ProcessFailure:
        return
    raise ProcessFailure("warm-up: a file that is no certificate was judged")
