"""acme_conf.csr.build_csr (keyproc's CSR): the names, the common name, the signature."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from acme_conf.csr import MAX_COMMON_NAME, build_csr


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def parse(der: bytes) -> x509.CertificateSigningRequest:
    return x509.load_der_x509_csr(der)


def sans(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    return list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def common_names(csr: x509.CertificateSigningRequest) -> list[str]:
    return [attribute.value for attribute in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


@pytest.mark.parametrize("key_name", ["ec_key", "rsa_key"])
def test_signature_is_valid_sha256_and_key_matches(key_name: str, request) -> None:
    key = request.getfixturevalue(key_name)
    csr = parse(build_csr(key, ("example.com",)))
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert csr.public_key().public_bytes(serialization.Encoding.DER, spki) == key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    )


def test_every_name_is_a_san_in_order_dns_and_ip(ec_key) -> None:
    names = ("example.com", "www.example.com", "192.0.2.1", "2001:db8::1")
    csr = parse(build_csr(ec_key, names))
    assert sans(csr) == [
        x509.DNSName("example.com"),
        x509.DNSName("www.example.com"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
    ]
    assert not csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_first_dns_name_is_the_common_name(ec_key) -> None:
    csr = parse(build_csr(ec_key, ("example.com", "www.example.com")))
    assert common_names(csr) == ["example.com"]


def test_ip_first_name_has_no_common_name(ec_key) -> None:
    csr = parse(build_csr(ec_key, ("192.0.2.1", "example.com")))
    assert common_names(csr) == []
    assert x509.DNSName("example.com") in sans(csr)


def test_long_first_name_has_no_common_name_but_is_a_san(ec_key) -> None:
    label = "a" * 60
    long_name = f"{label}.{label}.example.com"
    assert len(long_name) > MAX_COMMON_NAME
    csr = parse(build_csr(ec_key, (long_name, "example.com")))
    assert common_names(csr) == []
    assert sans(csr)[0] == x509.DNSName(long_name)


def test_common_name_of_exactly_64_characters(ec_key) -> None:
    name = "a" * 52 + ".example.com"
    assert len(name) == MAX_COMMON_NAME
    assert common_names(parse(build_csr(ec_key, (name,)))) == [name]


def test_wildcard_name(ec_key) -> None:
    csr = parse(build_csr(ec_key, ("*.example.com",)))
    assert sans(csr) == [x509.DNSName("*.example.com")]
