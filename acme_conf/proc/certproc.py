"""certproc: checks the certificate chain the CA sent before anything is written.

The bundle comes from the network, so it is parsed here, in a process with
no file system and no network.  It must hold at least one certificate; the
first (the leaf) must carry the domain key's public key (which keyproc tells
certproc; never netproc) and exactly the configured names (from the
parent), be valid now and for no longer than MAX_LIFETIME; each
certificate must be issued by the next.  Only then are leaf, chain and full
chain handed to fileproc.

Before its jail it checks a built-in sample bundle for every signature
algorithm a CA may use, and a few bad ones (warm_up): the real check, so
that everything cryptography loads for any of them is loaded while it still
can be.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from acme_conf import samples, sandbox
from acme_conf.acme.renewal import MAX_LIFETIME
from acme_conf.acme.text import printable
from acme_conf.acme.identifiers import configured_names
from acme_conf.certnames import certificate_names
from acme_conf.ipc import Channel, ChannelClosed, close_all
from acme_conf.keys import public_key_der_of_pem
from acme_conf.messages.certificate import CertBundle, RemoveCertificate, WriteCertificate
from acme_conf.messages.key import DomainKey
from acme_conf.proc.child import run_role
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_OK
from acme_conf.proc.spec import CertSettings, ChildSpec

MAX_CERTIFICATES = 16
MAX_ALTERNATES = 4  # alternate chains netproc may send (it fetches no more)
CLOCK_SKEW = timedelta(hours=1)

log = logging.getLogger("acme_conf")


class CertificateCheckError(ProcessFailure):
    """The CA's certificate bundle is malformed or does not match the request."""


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """certproc's channels: the domain key from keyproc, requests from netproc, checked files to fileproc."""

    key: Channel
    net: Channel
    file: Channel

    def channels(self) -> tuple[Channel, ...]:
        return (self.key, self.net, self.file)


def acquire(spec: ChildSpec) -> Held:
    warm_up()
    return Held(*(Channel.from_fd(spec.channel_fd(peer), peer) for peer in ("keyproc", "netproc", "fileproc")))


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(channels=tuple(channel.fileno() for channel in held.channels()), strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    settings = spec.settings
    assert isinstance(settings, CertSettings)
    try:
        try:
            request = held.net.recv(CertBundle, RemoveCertificate)
        except ChannelClosed:
            return EXIT_OK
        if isinstance(request, RemoveCertificate):
            held.file.send(request)
        else:
            domain_key = held.key.recv(DomainKey).spki
            checked = choose_chain(request, domain_key, settings, datetime.now(timezone.utc))
            leaf = x509.load_pem_x509_certificate(checked.certificate)
            log.info("certificate checked: serial %x, valid until %s", leaf.serial_number, leaf.not_valid_after_utc)
            held.file.send(checked)
    finally:
        close_all(held.channels())
    return EXIT_OK


def check_bundle(pem: bytes, domain_key: bytes, names: tuple[str, ...], now: datetime) -> WriteCertificate:
    """The leaf, chain and full chain of a bundle that passed every check.

    `domain_key` is the domain key's DER SubjectPublicKeyInfo, from keyproc.
    """
    certificates = parse_bundle(pem)
    leaf = certificates[0]
    try:
        _check_key(leaf, domain_key)
        _check_names(leaf, names)
        _check_issuers(certificates)
    except ValueError as error:
        raise CertificateCheckError(f"CA sent a malformed certificate: {printable(error, 120)}") from None
    _check_validity(leaf, now)
    encoded = [cert.public_bytes(serialization.Encoding.PEM) for cert in certificates]
    return WriteCertificate(certificate=encoded[0], chain=b"".join(encoded[1:]), fullchain=b"".join(encoded))


def choose_chain(bundle: CertBundle, domain_key: bytes, settings: CertSettings, now: datetime) -> WriteCertificate:
    """The default chain, or the first alternate whose topmost issuer is the configured one.

    Every chain is checked in full; the default must pass, an alternate that
    does not is left out with a warning.
    """
    default = check_bundle(bundle.pem, domain_key, settings.names, now)
    if not settings.preferred_chain:
        return default
    if len(bundle.alternates) > MAX_ALTERNATES:
        raise CertificateCheckError(f"netproc sent {len(bundle.alternates)} alternate chains; at most {MAX_ALTERNATES}")
    if _from_preferred_issuer(default, settings.preferred_chain, 0):
        return default
    for number, pem in enumerate(bundle.alternates, 1):
        try:
            checked = check_bundle(pem.encode("ascii", "replace"), domain_key, settings.names, now)
        except CertificateCheckError as error:
            log.warning("alternate chain %d left out: %s", number, error)
            continue
        if _from_preferred_issuer(checked, settings.preferred_chain, number):
            return checked
    log.info("no chain from %s offered: the default chain installed", printable(settings.preferred_chain, 64))
    return default


def _from_preferred_issuer(checked: WriteCertificate, preferred: str, number: int) -> bool:
    """Whether chain `number` (0: the default) comes from the preferred issuer; said when it does."""
    if topmost_issuer(checked) != preferred:
        return False
    log.info("chain from %s chosen%s", printable(preferred, 64), f" (alternate {number})" if number else "")
    return True


def topmost_issuer(checked: WriteCertificate) -> str:
    """The Common Name of the issuer of a checked bundle's last certificate ("" if it has none)."""
    top = x509.load_pem_x509_certificates(checked.fullchain)[-1]
    names = top.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def parse_bundle(pem: bytes) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise CertificateCheckError(f"CA sent an unreadable certificate bundle: {printable(error, 120)}") from None
    if len(certificates) > MAX_CERTIFICATES:
        raise CertificateCheckError(f"CA sent {len(certificates)} certificates; at most {MAX_CERTIFICATES} expected")
    return certificates


def _check_key(leaf: x509.Certificate, domain_key: bytes) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if not domain_key or leaf.public_key().public_bytes(serialization.Encoding.DER, spki) != domain_key:
        raise CertificateCheckError("certificate's public key is not the domain key's")


def _check_validity(leaf: x509.Certificate, now: datetime) -> None:
    """Valid now (a little clock skew allowed), and not for longer than MAX_LIFETIME."""
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if start > now + CLOCK_SKEW or end <= now:
        raise CertificateCheckError(f"certificate is not valid now (valid {start} to {end})")
    if end - start > MAX_LIFETIME:
        days = (end - start).days
        raise CertificateCheckError(f"certificate is valid for {days} days, longer than {MAX_LIFETIME.days} allowed")


def _check_names(leaf: x509.Certificate, names: tuple[str, ...]) -> None:
    configured = configured_names(names)
    found = certificate_names(leaf)
    if found != configured:
        shown = ", ".join(printable(name, 80) for name in sorted(found)) or "no names"
        raise CertificateCheckError(f"certificate names ({shown}) are not the configured names")


def _check_issuers(certificates: list[x509.Certificate]) -> None:
    for index, (child, issuer) in enumerate(zip(certificates, certificates[1:])):
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateCheckError(f"certificate {index} of the bundle is not issued by certificate {index + 1}") from None


def warm_up() -> None:
    """Check every sample bundle, and refuse a few broken ones, as a real bundle is checked.

    Each CA signature algorithm takes its own path through cryptography
    (ECDSA loads the OpenSSL backend module on first use), so each is run
    once here, before the jail, where a module can still be loaded.
    """
    keys = [public_key_der_of_pem(sample.public_key) for sample in samples.SAMPLES]
    for sample, key in zip(samples.SAMPLES, keys):
        topmost_issuer(check_bundle(sample.bundle, key, samples.NAMES, samples.NOW))  # as a preferred chain is chosen
    first, second = samples.SAMPLES[0], samples.SAMPLES[1]
    leaf_of_first = x509.load_pem_x509_certificates(first.bundle)[0].public_bytes(serialization.Encoding.PEM)
    refused = (
        (b"not a certificate", keys[0], samples.NAMES, samples.NOW),
        (first.bundle, keys[1], samples.NAMES, samples.NOW),  # another key
        (first.bundle, keys[0], samples.NAMES[:1], samples.NOW),  # other names
        (leaf_of_first + second.bundle, keys[0], samples.NAMES, samples.NOW),  # another issuer
        (first.bundle, keys[0], samples.NAMES, samples.NOW + timedelta(days=3650)),  # expired
    )
    for pem, key, names, now in refused:
        try:
            check_bundle(pem, key, names, now)
        except CertificateCheckError:
            continue
        raise ProcessFailure("warm-up: a broken sample bundle passed the checks")


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
