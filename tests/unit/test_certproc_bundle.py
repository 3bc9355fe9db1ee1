"""certproc.check_bundle against bundles from a CA of our own, good and bad."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from acme_conf.keys import public_key_der
from acme_conf.messages.certificate import WriteCertificate
from acme_conf.proc.certproc import MAX_CERTIFICATES, CertificateCheckError, check_bundle

import pki
from pki import NOW

NAMES = ("example.com", "www.example.com", "192.0.2.1", "2001:db8::1")


@pytest.fixture(scope="module")
def root() -> pki.Authority:
    return pki.root_authority()


@pytest.fixture(scope="module")
def intermediate(root: pki.Authority) -> pki.Authority:
    return root.issue_ca("Test Intermediate")


@pytest.fixture(scope="module")
def domain_key():
    return pki.new_key()


@pytest.fixture(scope="module")
def spki(domain_key) -> bytes:
    return public_key_der(domain_key)


@pytest.fixture(scope="module")
def leaf(intermediate: pki.Authority, domain_key) -> x509.Certificate:
    return intermediate.issue_leaf(domain_key.public_key(), NAMES)


def check(pem: bytes, spki: bytes, names=NAMES, now=NOW) -> WriteCertificate:
    return check_bundle(pem, spki, names, now)


# accepted -------------------------------------------------------------------------------


def test_good_chain_is_split_exactly(leaf, intermediate, spki) -> None:
    files = check(pki.pem(leaf, intermediate.certificate), spki)
    assert files.certificate == pki.pem(leaf)
    assert files.chain == pki.pem(intermediate.certificate)
    assert files.fullchain == pki.pem(leaf, intermediate.certificate)
    assert files.fullchain == files.certificate + files.chain


def test_chain_including_the_root(leaf, intermediate, root, spki) -> None:
    files = check(pki.pem(leaf, intermediate.certificate, root.certificate), spki)
    assert files.chain == pki.pem(intermediate.certificate, root.certificate)


def test_leaf_alone(root, domain_key, spki) -> None:
    alone = root.issue_leaf(domain_key.public_key(), NAMES)
    files = check(pki.pem(alone), spki)
    assert files.certificate == pki.pem(alone)
    assert files.chain == b""
    assert files.fullchain == pki.pem(alone)


def test_crlf_and_text_between_blocks_are_normalised(leaf, intermediate, spki) -> None:
    messy = (
        b"leading text\r\n"
        + pki.pem(leaf).replace(b"\n", b"\r\n")
        + b"\r\nsome comment between\r\n"
        + pki.pem(intermediate.certificate).replace(b"\n", b"\r\n")
        + b"\r\ntrailing"
    )
    files = check(messy, spki)
    assert files.fullchain == pki.pem(leaf, intermediate.certificate)
    assert b"\r" not in files.fullchain and b"comment" not in files.fullchain


def test_names_compare_case_insensitively_and_by_address(intermediate, domain_key) -> None:
    names = ("Example.COM", "2001:DB8:0::1")
    leaf = intermediate.issue_leaf(domain_key.public_key(), ("example.com", "2001:db8::1"))
    check(pki.pem(leaf, intermediate.certificate), public_key_der(domain_key), names=names)


def test_clock_skew_of_under_an_hour_is_tolerated(intermediate, domain_key, spki) -> None:
    early = intermediate.issue_leaf(domain_key.public_key(), NAMES, not_before=NOW + timedelta(minutes=50))
    check(pki.pem(early, intermediate.certificate), spki)


def test_sixteen_certificates_are_accepted(root, domain_key, spki) -> None:
    authorities = [root]
    for index in range(MAX_CERTIFICATES - 1):
        authorities.append(authorities[-1].issue_ca(f"CA {index}"))
    leaf = authorities[-1].issue_leaf(domain_key.public_key(), NAMES)
    bundle = [leaf, *(authority.certificate for authority in reversed(authorities[1:]))]
    assert len(bundle) == MAX_CERTIFICATES
    assert check(pki.pem(*bundle), spki).fullchain == pki.pem(*bundle)
    with pytest.raises(CertificateCheckError, match=f"17 certificates; at most {MAX_CERTIFICATES}"):
        check(pki.pem(*bundle, root.certificate), spki)


# refused ----------------------------------------------------------------------------------------


def test_leaf_with_another_public_key(intermediate, spki) -> None:
    stranger = intermediate.issue_leaf(pki.new_key().public_key(), NAMES)
    with pytest.raises(CertificateCheckError, match="public key is not the domain key's"):
        check(pki.pem(stranger, intermediate.certificate), spki)


@pytest.mark.parametrize(
    ("names_in_leaf", "shown"),
    [
        (NAMES[:-1], "(192.0.2.1, example.com, www.example.com)"),  # one missing
        ((*NAMES, "evil.example"), "evil.example"),  # one extra
        (("example.com",), "(example.com)"),
        ((), "(no names)"),
    ],
)
def test_leaf_with_other_names(intermediate, domain_key, spki, names_in_leaf, shown) -> None:
    wrong = intermediate.issue_leaf(domain_key.public_key(), names_in_leaf, common_name="example.com")
    with pytest.raises(CertificateCheckError, match="are not the configured names") as raised:
        check(pki.pem(wrong, intermediate.certificate), spki)
    assert shown in str(raised.value)


def test_hostile_name_in_leaf_is_escaped_in_the_message(intermediate, domain_key, spki) -> None:
    wrong = intermediate.issue_leaf(domain_key.public_key(), ("example.com", "x\x1b[2J\nforged"))
    with pytest.raises(CertificateCheckError) as raised:
        check(pki.pem(wrong, intermediate.certificate), spki)
    assert "\x1b" not in str(raised.value) and "\n" not in str(raised.value)


def test_wrong_order(leaf, intermediate, root, spki) -> None:
    with pytest.raises(CertificateCheckError, match="public key"):
        check(pki.pem(intermediate.certificate, leaf), spki)
    with pytest.raises(CertificateCheckError, match="certificate 0 of the bundle is not issued by certificate 1"):
        check(pki.pem(leaf, root.certificate, intermediate.certificate), spki)


def test_unrelated_issuer(leaf, spki) -> None:
    stranger = pki.root_authority("Somebody Else")
    with pytest.raises(CertificateCheckError, match="certificate 0 of the bundle is not issued by certificate 1"):
        check(pki.pem(leaf, stranger.certificate), spki)


def test_impostor_issuer_with_the_same_name(leaf, spki) -> None:
    impostor = pki.root_authority().issue_ca("Test Intermediate")  # same subject, other key
    with pytest.raises(CertificateCheckError, match="not issued by certificate 1"):
        check(pki.pem(leaf, impostor.certificate), spki)


def test_break_further_up_the_chain(leaf, intermediate, spki) -> None:
    stranger = pki.root_authority("Stranger Root")
    with pytest.raises(CertificateCheckError, match="certificate 1 of the bundle is not issued by certificate 2"):
        check(pki.pem(leaf, intermediate.certificate, stranger.certificate), spki)


def test_expired_leaf(intermediate, domain_key, spki) -> None:
    old = intermediate.issue_leaf(
        domain_key.public_key(), NAMES, not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=10)
    )
    with pytest.raises(CertificateCheckError, match="not valid now"):
        check(pki.pem(old, intermediate.certificate), spki)


def test_leaf_expiring_this_instant(intermediate, domain_key, spki) -> None:
    ending = intermediate.issue_leaf(domain_key.public_key(), NAMES, not_before=NOW - timedelta(days=1), not_after=NOW)
    with pytest.raises(CertificateCheckError, match="not valid now"):
        check(pki.pem(ending, intermediate.certificate), spki)


def test_not_yet_valid_leaf(intermediate, domain_key, spki) -> None:
    future = intermediate.issue_leaf(domain_key.public_key(), NAMES, not_before=NOW + timedelta(hours=2))
    with pytest.raises(CertificateCheckError, match="not valid now"):
        check(pki.pem(future, intermediate.certificate), spki)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"<html>500 Internal Server Error</html>",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n",
        b"\x00\xff" * 1000,
    ],
    ids=["empty", "html", "bad-der", "unterminated", "binary"],
)
def test_garbage_pem(garbage: bytes, spki) -> None:
    with pytest.raises(CertificateCheckError, match="unreadable certificate bundle"):
        check(garbage, spki)


def test_garbage_after_a_good_chain_is_refused(leaf, intermediate, spki) -> None:
    tail = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateCheckError, match="unreadable"):
        check(pki.pem(leaf, intermediate.certificate) + tail, spki)


def test_many_certificates(leaf, intermediate, spki) -> None:
    with pytest.raises(CertificateCheckError, match="at most 16"):
        check(pki.pem(leaf, *[intermediate.certificate] * 40), spki)


@pytest.mark.parametrize("told", [b"", b"not a public key"])
def test_without_the_domain_key_nothing_passes(leaf, intermediate, told: bytes) -> None:
    """No key from keyproc (or garbage) matches nothing: the check never falls open."""
    with pytest.raises(CertificateCheckError, match="not the domain key's"):
        check(pki.pem(leaf, intermediate.certificate), told)


def test_a_lifetime_past_the_ceiling_is_refused(intermediate, domain_key, spki) -> None:
    """A CA (or netproc) taken over cannot install a certificate that would never come up for renewal."""
    century = intermediate.issue_leaf(
        domain_key.public_key(), NAMES, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=36500)
    )
    with pytest.raises(CertificateCheckError, match="valid for 36501 days, longer than 398 allowed"):
        check(pki.pem(century, intermediate.certificate), spki)
    longest = intermediate.issue_leaf(
        domain_key.public_key(), NAMES, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=397)
    )
    check(pki.pem(longest, intermediate.certificate), spki)


def test_leaf_with_malformed_subject_alt_name(intermediate, domain_key, spki) -> None:
    broken_san = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x01")
    hostile = intermediate.issue_leaf(domain_key.public_key(), (), extra_extensions=(broken_san,))
    with pytest.raises(CertificateCheckError):
        check(pki.pem(hostile, intermediate.certificate), spki)
