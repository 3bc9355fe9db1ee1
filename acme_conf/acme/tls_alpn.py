"""tls-alpn-01 (RFC 8737; RFC 8738 for addresses): the validation certificate, the name a validator asks for,
and what a ClientHello offers.

No I/O: tlsproc uses these with what netproc published and what a client sent.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ALPN = "acme-tls/1"
ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # id-pe-acmeIdentifier
LIFETIME = timedelta(days=7)  # the certificate lives in memory for one run; a validator checks no dates anyway
_HANDSHAKE = 0x16
_CLIENT_HELLO = 1
_ALPN_EXTENSION = 16


def server_name(identifier: str) -> str:
    """The SNI a validator sends for `identifier`: the name itself, or an address's reverse DNS name (RFC 8738 section 6)."""
    try:
        return ipaddress.ip_address(identifier).reverse_pointer
    except ValueError:
        return identifier.lower()


def acme_identifier_value(key_authorization: str) -> bytes:
    """The acmeIdentifier extension's value: the DER OCTET STRING of SHA-256 of the key authorization."""
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    return bytes((0x04, len(digest))) + digest


def validation_certificate(identifier: str, key_authorization: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    """PEM of the self-signed certificate that answers for `identifier`, followed by `key`'s PEM (ssl reads both from one file).

    Its only subject alternative name is the identifier (a DNS name, or an IP
    address for an address), and its critical acmeIdentifier extension holds
    the key authorization's digest (RFC 8737 section 3).
    """
    try:
        alternative: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(identifier))
    except ValueError:
        alternative = x509.DNSName(identifier)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-client tls-alpn-01")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.SubjectAlternativeName([alternative]), critical=False)
        .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER, acme_identifier_value(key_authorization)), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM) + key_pem


class _Reader:
    """Bounded reads of a TLS structure; IndexError when it ends too soon."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise IndexError("truncated")
        part = self.data[self.at:self.at + size]
        self.at += size
        return part

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> bytes:
        return self.take(self.number(length_size))


def offered_protocols(data: bytes, limit: int) -> tuple[str, ...] | None:
    """The ALPN protocols offered by the ClientHello that `data` starts with; None while its first record is incomplete.

    () when the client offers none, or sends no ClientHello, or one that does
    not fit one record of at most `limit` bytes (real ones are 0.3-2 KB).
    Only the lengths the client gives are followed, each checked against
    what is there: a short or lying length ends the reading with ().
    """
    if len(data) < 5:
        return None
    if data[0] != _HANDSHAKE or data[1] != 3:
        return ()
    length = int.from_bytes(data[3:5], "big")
    if 5 + length > limit:
        return ()
    if len(data) < 5 + length:
        return None
    try:
        return _alpn_of(_Reader(data[5:5 + length]))
    except (IndexError, UnicodeDecodeError):
        return ()


def _alpn_of(record: _Reader) -> tuple[str, ...]:
    if record.number(1) != _CLIENT_HELLO:
        return ()
    hello = _Reader(record.vector(3))  # a hello longer than its record raises: one record only
    hello.take(2 + 32)  # legacy version, random
    hello.vector(1)  # session id
    hello.vector(2)  # cipher suites
    hello.vector(1)  # compression methods
    extensions = _Reader(hello.vector(2))
    while extensions.at < len(extensions.data):
        kind, body = extensions.number(2), extensions.vector(2)
        if kind == _ALPN_EXTENSION:
            names = _Reader(_Reader(body).vector(2))
            protocols = []
            while names.at < len(names.data):
                protocols.append(names.vector(1).decode("ascii"))
            return tuple(protocols)
    return ()
