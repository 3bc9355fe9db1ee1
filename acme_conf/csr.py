"""The certificate signing request keyproc builds from the domain key.

keyproc imports this in acquire, before its jail, and only when it builds a
CSR: a check before the chain only tells revokeproc the domain's public key,
and spares itself cryptography.x509 (~40 ms).
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from acme_conf.acme.identifiers import is_ip
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
