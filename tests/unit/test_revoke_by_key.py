"""-K: keyproc signs, with the domain key, the revocation of the configured certificate and nothing else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from acme_conf.acme.b64 import b64url
from acme_conf.errors import ProcessFailure
from acme_conf.messages import Failure
from acme_conf.messages.account import SignRequest, Signed
from acme_conf.proc.revoke_by_key import first_certificate_der, prepare
from acme_conf.proc.spec import KeySettings

import pki

CA = "https://ca.example:14000"
NAMES = ("example.com",)


@pytest.fixture
def files(tmp_path: Path):
    directory = tmp_path / "private"
    directory.mkdir(mode=0o700)
    key = pki.new_key()
    key_path = directory / "example.com.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    authority = pki.root_authority()
    certificate = authority.issue_leaf(key.public_key(), NAMES)
    cert_path = tmp_path / "example.com.crt"
    cert_path.write_bytes(pki.pem(certificate, authority.certificate))
    return key_path, cert_path, certificate


def settings(key_path: Path, cert_path: Path, reason: int = -1) -> KeySettings:
    return KeySettings(str(key_path), "ecdsa", NAMES, revoke_at=f"{CA}/dir", certificate=str(cert_path), revoke_reason=reason)


def request(payload: dict[str, object], url: str = f"{CA}/revoke", kid: str = "", signer: str = "") -> SignRequest:
    return SignRequest(url, "nonce", kid, json.dumps(payload).encode(), signer)


def test_only_the_configured_revocation_is_signed(files) -> None:
    key_path, cert_path, certificate = files
    signer = prepare(settings(key_path, cert_path, reason=1))
    der = b64url(certificate.public_bytes(Encoding.DER))
    assert isinstance(signer.answer(request({"certificate": der, "reason": 1})), Signed)
    refused = [
        request({"certificate": der}),  # another reason (none) than -R gave
        request({"certificate": der, "reason": 4}),
        request({"certificate": b64url(b"another certificate"), "reason": 1}),
        request({"certificate": der, "reason": 1}, url="https://elsewhere.example/revoke"),
        request({"certificate": der, "reason": 1}, kid=f"{CA}/acct/1"),
        request({"certificate": der, "reason": 1}, signer="previous"),
        request({"identifiers": [{"type": "dns", "value": "example.com"}]}),
        SignRequest(f"{CA}/revoke", "nonce", "", b"not json"),
    ]
    for each in refused:
        assert isinstance(signer.answer(each), Failure), each


def test_without_the_domain_key_or_the_certificate_there_is_nothing_to_sign(files, tmp_path: Path) -> None:
    key_path, cert_path, _ = files
    with pytest.raises(ProcessFailure, match="no domain key to revoke with"):
        prepare(settings(key_path.parent / "missing.key", cert_path))
    with pytest.raises(ProcessFailure, match="no certificate to revoke"):
        prepare(settings(key_path, tmp_path / "missing.crt"))


def test_the_first_certificate_of_the_file_is_the_one_revoked() -> None:
    assert first_certificate_der(b"junk\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n") == b"\x00\x01\x02"
    for broken in (b"", b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"):
        with pytest.raises(ProcessFailure):
            first_certificate_der(broken)
