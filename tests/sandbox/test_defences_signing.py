"""acctproc, jailed as in a run, against a netproc taken over: two rules of docs/SECURITY.md's table.

- "a payload of 64 KiB" at most: a request any larger is refused unread,
  whatever it would otherwise be (here a challenge answer, `{}` padded);
- a finalize's CSR must be "for the domain key and names" and, what makes it
  a proof that the key's holder asked, carry a valid signature: a CSR for
  the right key and names whose signature does not verify is refused.

The real acctproc is started by the parent's own spawn (proc/spawner.py) (`-I -S`, empty
environment, strict sandbox) with one channel per peer; the test is its
netproc (taken over) and its domain's keyproc (trusted), and a control in
the same process shows the same kind of request, well formed, is signed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from acme_conf.acme.b64 import b64url
from acme_conf.acme.signing_rules import MAX_PAYLOAD
from acme_conf.csr import build_csr
from acme_conf.ipc import Channel
from acme_conf.messages import Failure, Message
from acme_conf.messages.account import SignRequest, Signed
from acme_conf.messages.key import DomainKey
from acme_conf.proc.spawner import child_import_path, spawn
from acme_conf.proc.spec import AccountSettings, ChildSpec

CA = "https://ca.test:14000"
ACCOUNT_URL = f"{CA}/acct/1"
NAMES = ("signing.example.test", "www.signing.example.test")
TIMEOUT = 30.0


class Acctproc:
    """The running acctproc: the test's ends of its netproc and keyproc channels."""

    def __init__(self, net: Channel, key: Channel) -> None:
        self.net = net
        self.key = key

    def ask(self, url: str, payload: bytes) -> Message:
        return self.net.request(SignRequest(url, "nonce", ACCOUNT_URL, payload), Signed, Failure)


def key_file(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    """A key as the key checks want it: root's (or ours), mode 0600, in a directory no one else may write."""
    path.parent.mkdir(mode=0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


@contextmanager
def acctproc(tmp_path: Path, domain_key: ec.EllipticCurvePrivateKey) -> Iterator[Acctproc]:
    settings = AccountSettings(
        str(key_file(tmp_path / "account" / "account.key", ec.generate_private_key(ec.SECP256R1()))),
        "ecdsa", f"{CA}/dir", "", False, (NAMES,), ("",),
    )
    pairs = {peer: socket.socketpair() for peer in ("netproc", "keyproc")}
    channels = tuple((peer, pair[1].fileno()) for peer, pair in pairs.items())
    spec = ChildSpec("acctproc", "authority test", 0, True, channels, settings)
    process = spawn(spec, child_import_path())
    for _, theirs in pairs.values():
        theirs.close()
    for ours, _ in pairs.values():
        ours.settimeout(TIMEOUT)
    role = Acctproc(Channel(pairs["netproc"][0], "acctproc"), Channel(pairs["keyproc"][0], "acctproc"))
    try:
        spki = domain_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        role.key.send(DomainKey(spki))  # the test as the domain's trusted keyproc
        yield role
    finally:
        role.net.close()
        role.key.close()
        _, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err.decode(errors="replace")


def finalize(csr_der: bytes) -> bytes:
    return json.dumps({"csr": b64url(csr_der)}).encode()


def with_a_broken_signature(csr_der: bytes) -> bytes:
    """The same request with the last byte of its signature changed: it parses, but no longer verifies."""
    broken = csr_der[:-1] + bytes([csr_der[-1] ^ 0x01])
    request = x509.load_der_x509_csr(broken)
    assert not request.is_signature_valid
    return broken


def test_a_payload_over_64_kib_is_refused_unread(tmp_path: Path) -> None:
    with acctproc(tmp_path, ec.generate_private_key(ec.SECP256R1())) as role:
        assert isinstance(role.ask(f"{CA}/chall/1", b"{}"), Signed)  # control: a challenge answer is signed
        padded = b"{" + b" " * MAX_PAYLOAD + b"}"  # the same answer, one byte at a time past the cap
        refused = role.ask(f"{CA}/chall/1", padded)
        assert isinstance(refused, Failure), "signed a payload over the cap"
        assert refused.reason.startswith(f"refusing to sign a payload of {len(padded)} bytes (at most {MAX_PAYLOAD})")


def test_a_finalize_with_a_csr_whose_signature_does_not_verify_is_refused(tmp_path: Path) -> None:
    domain_key = ec.generate_private_key(ec.SECP256R1())
    csr = build_csr(domain_key, NAMES)
    with acctproc(tmp_path, domain_key) as role:
        assert isinstance(role.ask(f"{CA}/finalize/1", finalize(csr)), Signed)  # control: the domain's own CSR
        refused = role.ask(f"{CA}/finalize/1", finalize(with_a_broken_signature(csr)))
        assert isinstance(refused, Failure), "signed a finalize whose CSR nobody signed"
        assert refused.reason.startswith("refusing to sign a finalize with a CSR whose signature is not valid")


@pytest.mark.parametrize("names", [NAMES[:1], (*NAMES, "evil.test")], ids=["fewer", "more"])
def test_a_finalize_for_other_names_is_refused(tmp_path: Path, names: tuple[str, ...]) -> None:
    domain_key = ec.generate_private_key(ec.SECP256R1())
    with acctproc(tmp_path, domain_key) as role:
        refused = role.ask(f"{CA}/finalize/1", finalize(build_csr(domain_key, names)))
        assert isinstance(refused, Failure)
        assert refused.reason.startswith("refusing to sign a finalize with a CSR for other names than the configured ones")
