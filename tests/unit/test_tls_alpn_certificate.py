"""acme/tls_alpn.py: the validation certificate (RFC 8737 section 3), the SNI of an address (RFC 8738 section 6),
and the reading of a ClientHello's ALPN offer that decides whether OpenSSL sees a handshake at all."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from hypothesis import given
from hypothesis import strategies as st

from acme_conf.acme.tls_alpn import (
    ACME_IDENTIFIER,
    ALPN,
    acme_identifier_value,
    offered_protocols,
    server_name,
    validation_certificate,
)

KEY = ec.generate_private_key(ec.SECP256R1())
KEY_AUTHORIZATION = "tokenA_-0123456789abcdefghijklmnop.thumbprintThumbprint_-0123456789"
LIMIT = 16 * 1024


def made(identifier: str) -> x509.Certificate:
    pem = validation_certificate(identifier, KEY_AUTHORIZATION, KEY)
    certificate = x509.load_pem_x509_certificate(pem)
    key = load_pem_private_key(pem[pem.index(b"-----BEGIN PRIVATE KEY-----"):], None)
    assert key.public_key() == certificate.public_key() == KEY.public_key()  # one file: certificate, then its key
    return certificate


@pytest.mark.parametrize(
    ("identifier", "alternative"),
    [
        ("www.example.com", x509.DNSName("www.example.com")),
        ("192.0.2.7", x509.IPAddress(ipaddress.ip_address("192.0.2.7"))),
        ("2001:db8::7", x509.IPAddress(ipaddress.ip_address("2001:db8::7"))),
    ],
)
def test_the_certificate_names_the_identifier_alone_and_carries_the_digest(identifier: str, alternative: x509.GeneralName) -> None:
    certificate = made(identifier)
    assert list(certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [alternative]
    extension = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER)
    assert extension.critical
    digest = hashlib.sha256(KEY_AUTHORIZATION.encode()).digest()
    assert extension.value.value == bytes([0x04, 32]) + digest  # type: ignore[attr-defined]  # DER OCTET STRING
    certificate.verify_directly_issued_by(certificate)  # self-signed
    assert certificate.not_valid_before_utc < certificate.not_valid_after_utc


def test_the_extension_value_is_an_octet_string_of_the_sha256() -> None:
    value = acme_identifier_value("a.b")
    assert value[:2] == b"\x04\x20" and value[2:] == hashlib.sha256(b"a.b").digest() and len(value) == 34


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("Example.COM", "example.com"),
        ("192.0.2.7", "7.2.0.192.in-addr.arpa"),
        ("2001:db8::7", "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"),
    ],
)
def test_the_server_name_of_an_identifier(identifier: str, expected: str) -> None:
    assert server_name(identifier) == expected


def client_hello(alpn: list[str] | None, name: str | None = "a.example") -> bytes:
    """What Python's own TLS client sends first."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def test_a_real_client_hellos_offer_is_read() -> None:
    assert offered_protocols(client_hello([ALPN]), LIMIT) == (ALPN,)
    assert offered_protocols(client_hello(["h2", ALPN], None), LIMIT) == ("h2", ALPN)
    assert offered_protocols(client_hello(None), LIMIT) == ()


def test_an_incomplete_record_waits_and_anything_malformed_offers_nothing() -> None:
    hello = client_hello([ALPN])
    for cut in (0, 3, 5, len(hello) - 1):
        assert offered_protocols(hello[:cut], LIMIT) is None  # the rest of its first record is to come
    assert offered_protocols(hello + b"more", LIMIT) == (ALPN,)  # what follows the first record is not read
    assert offered_protocols(b"GET / HTTP/1.1\r\n", LIMIT) == ()  # no TLS
    assert offered_protocols(b"\x16\x03\x01\x3f\xff", LIMIT) == ()  # a record beyond the limit
    assert offered_protocols(hello, len(hello) - 1) == ()
    lying = bytearray(hello)
    lying[6:9] = b"\xff\xff\xff"  # a ClientHello said to be longer than its record
    assert offered_protocols(bytes(lying), LIMIT) == ()
    assert offered_protocols(b"\x16\x03\x01\x00\x04\x02\x00\x00\x00", LIMIT) == ()  # not a ClientHello


@given(st.binary(max_size=600))
def test_no_input_makes_the_reader_fail(data: bytes) -> None:
    result = offered_protocols(b"\x16\x03\x01" + len(data).to_bytes(2, "big") + data, LIMIT)
    assert result is None or isinstance(result, tuple)
    assert offered_protocols(data, LIMIT) is None or isinstance(offered_protocols(data, LIMIT), tuple)
