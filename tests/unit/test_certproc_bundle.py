"""certproc.check_bundle against bundles from a CA of our own, good and bad."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

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
def csr(domain_key) -> bytes:
    return pki.csr_der(domain_key, NAMES)


@pytest.fixture(scope="module")
def leaf(intermediate: pki.Authority, domain_key) -> x509.Certificate:
    return intermediate.issue_leaf(domain_key.public_key(), NAMES)


def check(pem: bytes, csr: bytes, names=NAMES, now=NOW) -> WriteCertificate:
    return check_bundle(pem, csr, names, now)


# accepted -------------------------------------------------------------------------------


def test_good_chain_is_split_exactly(leaf, intermediate, csr) -> None:
    files = check(pki.pem(leaf, intermediate.certificate), csr)
    assert files.certificate == pki.pem(leaf)
    assert files.chain == pki.pem(intermediate.certificate)
    assert files.fullchain == pki.pem(leaf, intermediate.certificate)
    assert files.fullchain == files.certificate + files.chain


def test_chain_including_the_root(leaf, intermediate, root, csr) -> None:
    files = check(pki.pem(leaf, intermediate.certificate, root.certificate), csr)
    assert files.chain == pki.pem(intermediate.certificate, root.certificate)


def test_leaf_alone(root, domain_key, csr) -> None:
    alone = root.issue_leaf(domain_key.public_key(), NAMES)
    files = check(pki.pem(alone), csr)
    assert files.certificate == pki.pem(alone)
    assert files.chain == b""
    assert files.fullchain == pki.pem(alone)


def test_crlf_and_text_between_blocks_are_normalised(leaf, intermediate, csr) -> None:
    messy = (
        b"leading text\r\n"
        + pki.pem(leaf).replace(b"\n", b"\r\n")
        + b"\r\nsome comment between\r\n"
        + pki.pem(intermediate.certificate).replace(b"\n", b"\r\n")
        + b"\r\ntrailing"
    )
    files = check(messy, csr)
    assert files.fullchain == pki.pem(leaf, intermediate.certificate)
    assert b"\r" not in files.fullchain and b"comment" not in files.fullchain


def test_names_compare_case_insensitively_and_by_address(intermediate, domain_key) -> None:
    names = ("Example.COM", "2001:DB8:0::1")
    leaf = intermediate.issue_leaf(domain_key.public_key(), ("example.com", "2001:db8::1"))
    check(pki.pem(leaf, intermediate.certificate), pki.csr_der(domain_key, names), names=names)


def test_clock_skew_of_under_an_hour_is_tolerated(intermediate, domain_key, csr) -> None:
    early = intermediate.issue_leaf(domain_key.public_key(), NAMES, not_before=NOW + timedelta(minutes=50))
    check(pki.pem(early, intermediate.certificate), csr)


def test_sixteen_certificates_are_accepted(root, domain_key, csr) -> None:
    authorities = [root]
    for index in range(MAX_CERTIFICATES - 1):
        authorities.append(authorities[-1].issue_ca(f"CA {index}"))
    leaf = authorities[-1].issue_leaf(domain_key.public_key(), NAMES)
    bundle = [leaf, *(authority.certificate for authority in reversed(authorities[1:]))]
    assert len(bundle) == MAX_CERTIFICATES
    assert check(pki.pem(*bundle), csr).fullchain == pki.pem(*bundle)
    with pytest.raises(CertificateCheckError, match=f"17 certificates; at most {MAX_CERTIFICATES}"):
        check(pki.pem(*bundle, root.certificate), csr)


# refused ----------------------------------------------------------------------------------------


def test_leaf_with_another_public_key(intermediate, csr) -> None:
    stranger = intermediate.issue_leaf(pki.new_key().public_key(), NAMES)
    with pytest.raises(CertificateCheckError, match="public key is not the domain key's"):
        check(pki.pem(stranger, intermediate.certificate), csr)


@pytest.mark.parametrize(
    ("names_in_leaf", "shown"),
    [
        (NAMES[:-1], "(192.0.2.1, example.com, www.example.com)"),  # one missing
        ((*NAMES, "evil.example"), "evil.example"),  # one extra
        (("example.com",), "(example.com)"),
        ((), "(no names)"),
    ],
)
def test_leaf_with_other_names(intermediate, domain_key, csr, names_in_leaf, shown) -> None:
    wrong = intermediate.issue_leaf(domain_key.public_key(), names_in_leaf, common_name="example.com")
    with pytest.raises(CertificateCheckError, match="are not the configured names") as raised:
        check(pki.pem(wrong, intermediate.certificate), csr)
    assert shown in str(raised.value)


def test_hostile_name_in_leaf_is_escaped_in_the_message(intermediate, domain_key, csr) -> None:
    wrong = intermediate.issue_leaf(domain_key.public_key(), ("example.com", "x\x1b[2J\nforged"))
    with pytest.raises(CertificateCheckError) as raised:
        check(pki.pem(wrong, intermediate.certificate), csr)
    assert "\x1b" not in str(raised.value) and "\n" not in str(raised.value)


def test_wrong_order(leaf, intermediate, root, csr) -> None:
    with pytest.raises(CertificateCheckError, match="public key"):
        check(pki.pem(intermediate.certificate, leaf), csr)
    with pytest.raises(CertificateCheckError, match="certificate 0 of the bundle is not issued by certificate 1"):
        check(pki.pem(leaf, root.certificate, intermediate.certificate), csr)


def test_unrelated_issuer(leaf, csr) -> None:
    stranger = pki.root_authority("Somebody Else")
    with pytest.raises(CertificateCheckError, match="certificate 0 of the bundle is not issued by certificate 1"):
        check(pki.pem(leaf, stranger.certificate), csr)


def test_impostor_issuer_with_the_same_name(leaf, csr) -> None:
    impostor = pki.root_authority().issue_ca("Test Intermediate")  # same subject, other key
    with pytest.raises(CertificateCheckError, match="not issued by certificate 1"):
        check(pki.pem(leaf, impostor.certificate), csr)


def test_break_further_up_the_chain(leaf, intermediate, csr) -> None:
    stranger = pki.root_authority("Stranger Root")
    with pytest.raises(CertificateCheckError, match="certificate 1 of the bundle is not issued by certificate 2"):
        check(pki.pem(leaf, intermediate.certificate, stranger.certificate), csr)


def test_expired_leaf(intermediate, domain_key, csr) -> None:
    old = intermediate.issue_leaf(
        domain_key.public_key(), NAMES, not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=10)
    )
    with pytest.raises(CertificateCheckError, match="not valid now"):
        check(pki.pem(old, intermediate.certificate), csr)


def test_leaf_expiring_this_instant(intermediate, domain_key, csr) -> None:
    ending = intermediate.issue_leaf(domain_key.public_key(), NAMES, not_before=NOW - timedelta(days=1), not_after=NOW)
    with pytest.raises(CertificateCheckError, match="not valid now"):
        check(pki.pem(ending, intermediate.certificate), csr)


def test_not_yet_valid_leaf(intermediate, domain_key, csr) -> None:
    future = intermediate.issue_leaf(domain_key.public_key(), NAMES, not_before=NOW + timedelta(hours=2))
    with pytest.raises(CertificateCheckError, match="not valid now"):
        check(pki.pem(future, intermediate.certificate), csr)


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
def test_garbage_pem(garbage: bytes, csr) -> None:
    with pytest.raises(CertificateCheckError, match="unreadable certificate bundle"):
        check(garbage, csr)


def test_garbage_after_a_good_chain_is_refused(leaf, intermediate, csr) -> None:
    tail = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateCheckError, match="unreadable"):
        check(pki.pem(leaf, intermediate.certificate) + tail, csr)


def test_many_certificates(leaf, intermediate, csr) -> None:
    with pytest.raises(CertificateCheckError, match="at most 16"):
        check(pki.pem(leaf, *[intermediate.certificate] * 40), csr)


def test_unreadable_csr(leaf, intermediate) -> None:
    with pytest.raises(CertificateCheckError, match="request passed along is unreadable"):
        check(pki.pem(leaf, intermediate.certificate), b"not a csr")


def test_leaf_with_malformed_subject_alt_name(intermediate, domain_key, csr) -> None:
    broken_san = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x01")
    hostile = intermediate.issue_leaf(domain_key.public_key(), (), extra_extensions=(broken_san,))
    with pytest.raises(CertificateCheckError):
        check(pki.pem(hostile, intermediate.certificate), csr)
