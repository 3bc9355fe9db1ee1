"""The certificate signing request: built by keyproc from the domain key, checked by acctproc.

keyproc imports this in acquire, before its jail, and only when it builds a
CSR: a check before the chain only tells revokeproc the domain's public key,
and spares itself cryptography.x509 (~40 ms).  acctproc checks each
finalize's CSR with check_csr before it signs: for the domain key (which
keyproc tells it, never netproc) and exactly the configured names.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from acme_conf.acme.identifiers import configured_names, is_ip
from acme_conf.certnames import certificate_names
from acme_conf.keys import PrivateKey

MAX_COMMON_NAME = 64  # RFC 5280 ub-common-name


def build_csr(key: PrivateKey, names: tuple[str, ...]) -> bytes:
    """A DER CSR naming every name as a subjectAltName, signed with SHA-256.

    The first name is also the common name when it is a DNS name that fits.
    """
    subject = []
    if not is_ip(names[0]) and len(names[0]) <= MAX_COMMON_NAME:
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, names[0]))
    alternative_names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(name)) if is_ip(name) else x509.DNSName(name)
        for name in names
    ]
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.DER)


def check_csr(csr_b64url: str, names: tuple[str, ...], domain_key: bytes) -> str:
    """Why a finalize with this CSR (base64url DER, as RFC 8555 sends it) may not be signed; "" when it may.

    `domain_key` is the domain key's DER SubjectPublicKeyInfo from keyproc;
    empty when keyproc has not told it (nothing is then signed).
    """
    try:
        der = base64.urlsafe_b64decode(csr_b64url + "=" * (-len(csr_b64url) % 4))
        csr = x509.load_der_x509_csr(der)
        found = certificate_names(csr)  # the subjectAltName, as for a certificate
        spki = csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        signed = csr.is_signature_valid
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        return "a finalize whose CSR does not parse"
    if not domain_key or spki != domain_key:
        return "a finalize with a CSR for another key than the domain key"
    if found != configured_names(names):
        return "a finalize with a CSR for other names than the configured ones"
    if not signed:
        return "a finalize with a CSR whose signature is not valid"
    return ""
