#!/usr/bin/env python3
"""Write acme_conf/samples.py: the certificates the roles warm up on before their jails.

    .venv/bin/python tools/make_samples.py        # rewrites acme_conf/samples.py

One leaf-and-issuer bundle per signature algorithm a CA may sign with (RSA
PKCS#1 v1.5 and PSS, ECDSA on P-256, P-384 and P-521, Ed25519, Ed448), the
leaves covering every domain key type acme-client accepts (RSA, ECDSA P-256,
P-384, P-521) and both kinds of identifier (DNS names, IPv4 and IPv6
addresses), each with its leaf's public key (the domain key certproc
compares the leaf with) and a CSR made with the leaf's key (what acctproc
checks in a finalize).  Only public material is
written: the private keys live in this process and are thrown away.

Run it again when a new key type or signature algorithm is supported;
tests/unit/test_warm_up.py fails when the module and this list disagree.
"""

from __future__ import annotations

import base64
import ipaddress
import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

OUTPUT = Path(__file__).resolve().parent.parent / "acme_conf" / "samples.py"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the samples' "now": each is valid around it
LIFETIME = timedelta(days=90)
NAMES = ("sample.invalid", "www.sample.invalid", "192.0.2.1", "2001:db8::1")

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key(curve: ec.EllipticCurve) -> Callable[[], ec.EllipticCurvePrivateKey]:
    return lambda: ec.generate_private_key(curve)


# (name, issuer key, how it signs: hash, RSA padding), leaf key
SIGNERS: tuple[tuple[str, Callable[[], Key], hashes.HashAlgorithm | None, object, Callable[[], Key]], ...] = (
    ("rsa-pkcs1-sha256", rsa_key, hashes.SHA256(), None, rsa_key),
    ("rsa-pss-sha256", rsa_key, hashes.SHA256(), "pss", ec_key(ec.SECP256R1())),
    ("ecdsa-p256-sha256", ec_key(ec.SECP256R1()), hashes.SHA256(), None, ec_key(ec.SECP384R1())),
    ("ecdsa-p384-sha384", ec_key(ec.SECP384R1()), hashes.SHA384(), None, ec_key(ec.SECP521R1())),
    ("ecdsa-p521-sha512", ec_key(ec.SECP521R1()), hashes.SHA512(), None, rsa_key),
    ("ed25519", ed25519.Ed25519PrivateKey.generate, None, None, ec_key(ec.SECP384R1())),
    ("ed448", ed448.Ed448PrivateKey.generate, None, None, ec_key(ec.SECP256R1())),
)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _general_names() -> list[x509.GeneralName]:
    found: list[x509.GeneralName] = []
    for name in NAMES:
        try:
            found.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            found.append(x509.DNSName(name))
    return found


def _sign(builder: x509.CertificateBuilder, key: Key, algorithm: hashes.HashAlgorithm | None, pad: object) -> x509.Certificate:
    if pad == "pss":
        assert algorithm is not None
        return builder.sign(key, algorithm, rsa_padding=padding.PSS(padding.MGF1(algorithm), padding.PSS.DIGEST_LENGTH))
    return builder.sign(key, algorithm)


def sample(
    name: str,
    issuer_key: Key,
    algorithm: hashes.HashAlgorithm | None,
    pad: object,
    leaf_key: Key,
    now: datetime = NOW,
) -> tuple[str, bytes, bytes, str]:
    """(name, leaf and issuer PEM, the leaf's public key PEM, its key's CSR as base64url DER).

    The leaf is valid around `now`; tests make fresh ones.  Every leaf but the
    first names its issuer's key (an Authority Key Identifier, which ARI
    needs), so that revokeproc's warm-up takes the path with and without one.
    """
    issuer_name = _name(f"Warm-up sample issuer {name}")
    issuer = _sign(
        x509.CertificateBuilder()
        .subject_name(issuer_name)
        .issuer_name(issuer_name)
        .public_key(issuer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True),
        issuer_key,
        algorithm,
        pad,
    )
    leaf_builder = (
        x509.CertificateBuilder()
        .subject_name(_name(NAMES[0]))
        .issuer_name(issuer_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now - timedelta(days=1) + LIFETIME)
        .add_extension(x509.SubjectAlternativeName(_general_names()), critical=False)
    )
    if name != SIGNERS[0][0]:
        identifier = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())  # type: ignore[arg-type]
        leaf_builder = leaf_builder.add_extension(identifier, critical=False)
    leaf = _sign(leaf_builder, issuer_key, algorithm, pad)
    public_key = leaf_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(NAMES[0]))
        .add_extension(x509.SubjectAlternativeName(_general_names()), critical=False)
        .sign(leaf_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    csr_b64url = base64.urlsafe_b64encode(csr.public_bytes(serialization.Encoding.DER)).rstrip(b"=").decode()
    pem = leaf.public_bytes(serialization.Encoding.PEM) + issuer.public_bytes(serialization.Encoding.PEM)
    return name, pem, public_key, csr_b64url


def module_text() -> str:
    entries = []
    for name, issuer_key, algorithm, pad, leaf_key in SIGNERS:
        _, pem, public_key, csr = sample(name, issuer_key(), algorithm, pad, leaf_key())
        wrapped = "".join(f"        {csr[i:i + 96]!r}\n" for i in range(0, len(csr), 96))
        entries.append(
            f"    Sample(\n        {name!r},\n"
            f"        b\"\"\"\\\n{pem.decode()}\"\"\",\n"
            f"        b\"\"\"\\\n{public_key.decode()}\"\"\",\n"
            f"        (\n{wrapped}        ),\n    ),\n"
        )
    header = textwrap.dedent(
        f'''\
        """Certificates the roles warm up on before their jails: public material only.

        Written by tools/make_samples.py (do not edit by hand).  One bundle (a
        leaf, then its issuer) per signature algorithm a CA may sign with, the
        leaves covering every domain key type, each with its leaf's public key
        (PEM) and a CSR made with its key (base64url DER, as a finalize carries
        it).  certproc checks every bundle, revokeproc judges every leaf and
        acctproc checks every CSR before the jail, so that whatever
        cryptography loads for one algorithm is loaded before nothing more can
        be (see acme_conf/sandbox/imports.py).
        """

        # No `from __future__ import annotations`: typing.NamedTuple would compile each
        # field's annotation text at start-up.

        from datetime import datetime, timezone
        from typing import NamedTuple

        NOW = datetime({NOW.year}, {NOW.month}, {NOW.day}, tzinfo=timezone.utc)  # every sample is valid now
        NAMES = {NAMES!r}


        class Sample(NamedTuple):
            """A CA's bundle for NAMES, signed with `algorithm`, its leaf's public key, and a CSR of that key."""

            algorithm: str
            bundle: bytes
            public_key: bytes
            csr: str


        SAMPLES = (
        '''
    )
    return header + "".join(entries) + ")\n"


def main() -> None:
    OUTPUT.write_text(module_text())
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
