"""keyproc: holds the domain key; builds the certificate signing request.

It loads the domain key (or creates it when missing) and builds the CSR
before the jail, so after it the process only hands that CSR to netproc.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from acme_conf import sandbox
from acme_conf.acme.identifiers import is_ip
from acme_conf.ipc import Channel
from acme_conf.keys import PrivateKey, load_or_create_key
from acme_conf.messages.key import Csr, CsrRequest
from acme_conf.proc.child import answer_until_closed, run_role
from acme_conf.proc.spec import ChildSpec, KeySettings

MAX_COMMON_NAME = 64  # RFC 5280 ub-common-name

log = logging.getLogger("acme_conf")


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """keyproc's channel to netproc and the CSR built before the jail."""

    net: Channel
    csr_der: bytes


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, KeySettings)
    key, created = load_or_create_key(Path(settings.key_path), settings.keytype)
    if created:
        log.info("created domain key %s", settings.key_path)
    csr_der = build_csr(key, settings.names)
    return Held(Channel.from_fd(spec.channel_fd("netproc"), "netproc"), csr_der)


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


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(channels=(held.net.fileno(),), strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    return answer_until_closed((held.net,), lambda _, __: Csr(held.csr_der), CsrRequest)


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
