"""A malformed subjectAltName is an error, never a certificate with no names.

acme_conf/certnames.py reads the names of a leaf for certproc (is it for the
configured names?) and for revokeproc (do the names on disk differ?).  A
subjectAltName that does not parse, names a kind of name cryptography does
not support, or comes twice must be refused as malformed.  Reading it as "no
names" would still make certproc refuse (the configured names are never
empty), which is why a test that only asks "refused?" cannot tell the two
apart: these tests ask why, against a leaf that really has no names.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier

import pki
from acme_conf import certstatus
from acme_conf.errors import ProcessFailure
from acme_conf.proc.certproc import CertificateCheckError, check_bundle

NAMES = ("example.com", "www.example.com")
NOW = pki.NOW
SAN_OID = b"\x06\x03\x55\x1d\x11"  # 2.5.29.17, as DER
STAND_IN_OID = b"\x06\x03\x55\x1d\x63"  # 2.5.29.99: the same length, replaced by SAN_OID after signing


@pytest.fixture(scope="module")
def issuer() -> pki.Authority:
    return pki.root_authority().issue_ca("Test Intermediate")


@pytest.fixture(scope="module")
def domain_key():
    return pki.new_key()


def spki(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def with_raw_san(issuer: pki.Authority, key, raw: bytes) -> x509.Certificate:
    extension = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, raw)
    return issuer.issue_leaf(key.public_key(), (), extra_extensions=(extension,))


def with_two_sans(issuer: pki.Authority, key) -> x509.Certificate:
    """A leaf carrying the configured names twice, in two subjectAltName extensions.

    A builder refuses a second extension of one type, so the second is made
    under another identifier of the same length and renamed in the DER (its
    signature no longer verifies; the names are read before the issuer's
    signature is checked, and no check may get that far anyway).
    """
    names = x509.SubjectAlternativeName(pki.general_names(NAMES))
    stand_in = x509.UnrecognizedExtension(ObjectIdentifier("2.5.29.99"), names.public_bytes())
    leaf = issuer.issue_leaf(key.public_key(), NAMES, extra_extensions=(stand_in,))
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert der.count(STAND_IN_OID) == 1
    return x509.load_der_x509_certificate(der.replace(STAND_IN_OID, SAN_OID))


MALFORMED = {
    "cut short": lambda issuer, key: with_raw_san(issuer, key, b"\x30\x03\x82\x01"),
    "an x400Address": lambda issuer, key: with_raw_san(issuer, key, b"\x30\x02\xa3\x00"),
    "an ediPartyName": lambda issuer, key: with_raw_san(issuer, key, b"\x30\x02\xa5\x00"),
    "twice": with_two_sans,
}


def certproc_refusal(issuer: pki.Authority, key, leaf: x509.Certificate) -> str:
    with pytest.raises(CertificateCheckError) as refused:
        check_bundle(pki.pem(leaf, issuer.certificate), spki(key), NAMES, NOW)
    return str(refused.value)


def test_control_a_leaf_without_names_is_refused_for_its_names(issuer, domain_key) -> None:
    """What "no names" looks like: the message the malformed ones must not get."""
    nameless = issuer.issue_leaf(domain_key.public_key(), ())
    assert "certificate names (no names) are not the configured names" in certproc_refusal(issuer, domain_key, nameless)
    judged = certstatus.examine_certificate(pki.pem(nameless), "cert.pem", NAMES, spki(domain_key), NOW)
    assert judged.decision.due and "names differ" in judged.decision.reason


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_certproc_refuses_a_malformed_subject_alt_name_as_malformed(issuer, domain_key, shape: str) -> None:
    leaf = MALFORMED[shape](issuer, domain_key)
    message = certproc_refusal(issuer, domain_key, leaf)
    assert message.startswith("CA sent a malformed certificate"), message
    assert "no names" not in message and "not the configured names" not in message


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_revokeproc_cannot_judge_a_malformed_subject_alt_name(issuer, domain_key, shape: str) -> None:
    """A file it cannot read is a failure to report, not a certificate whose names merely differ."""
    leaf = MALFORMED[shape](issuer, domain_key)
    with pytest.raises(ProcessFailure, match="cert.pem: not a PEM certificate"):
        certstatus.examine_certificate(pki.pem(leaf), "cert.pem", NAMES, spki(domain_key), NOW)


def test_the_names_twice_are_the_configured_ones_each_time(issuer, domain_key) -> None:
    """The duplicate's only fault is being there twice: read once, its names would pass."""
    leaf = with_two_sans(issuer, domain_key)
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert der.count(SAN_OID) == 2
    with pytest.raises(x509.DuplicateExtension):
        leaf.extensions  # noqa: B018 (the property parses)
