"""The serve loops of acctproc and keyproc over real socketpairs, dnsproc's answers, and the domain lock.

(run_role is not called here: it enters the sandbox, which would jail the test process.)
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from acme_conf.acme import jws
from acme_conf.acme.signing_rules import DomainRun
from acme_conf.ipc import Channel, ChannelClosed
from acme_conf.messages import Failure
from acme_conf.messages.account import SignRequest, Signed, Thumbprint, ThumbprintRequest
from acme_conf.messages.dns import Addresses
from acme_conf.messages.key import Csr, CsrRequest, DomainKey
from acme_conf.csr import build_csr
from acme_conf.keys import load_existing_key, public_key_der
from acme_conf.proc import acctproc, dnsproc, keyproc
from acme_conf.errors import ProcessFailure
from acme_conf.proc.locks import DomainLock, LockBusy
from acme_conf.proc.spec import AccountSettings, ChildSpec, KeySettings

KEY = ec.generate_private_key(ec.SECP256R1())
RUN = DomainRun("https://ca.example/dir", "", ("example.com",), "", False)
ACCOUNT_SETTINGS = AccountSettings("", "ecdsa", RUN.api_url, "", False, (RUN.names,), ("",))


def serving(serve: Callable[[Channel], int]) -> tuple[Channel, threading.Thread, dict[str, object]]:
    """Start a role's serve loop on one end of a socketpair; return the other end."""
    ours, theirs = socket.socketpair()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["status"] = serve(Channel(theirs, "netproc"))
        except BaseException as error:  # noqa: BLE001
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return Channel(ours, "role"), thread, outcome


def acct_serve(channel: Channel) -> int:
    spec = ChildSpec("acctproc", "t", 0, False, (), ACCOUNT_SETTINGS)
    return acctproc.serve(spec, acctproc.Held((channel,), {channel.fileno(): acctproc.Domain(RUN, None)}, (), KEY, {}))


def test_acctproc_signs_and_gives_the_thumbprint_until_end_of_file() -> None:
    channel, thread, outcome = serving(acct_serve)
    assert channel.request(ThumbprintRequest(), Thumbprint).value == jws.thumbprint(KEY)
    signed = channel.request(SignRequest("https://ca.example/x", "nonce1", "", b'{"onlyReturnExisting":true}'), Signed)
    body = json.loads(signed.jws)
    header = json.loads(base64.urlsafe_b64decode(body["protected"] + "=="))
    assert header["url"] == "https://ca.example/x" and header["nonce"] == "nonce1" and "jwk" in header
    channel.close()
    thread.join(timeout=5)
    assert outcome == {"status": 0}


@pytest.mark.parametrize("url", ["http://ca.example/x", "file:///etc/passwd", "", "ftp://x"])
def test_acctproc_refuses_to_sign_for_a_non_https_url(url: str) -> None:
    channel, thread, _ = serving(acct_serve)
    reply = channel.request(SignRequest(url, "n", "kid", b""), Signed, Failure)
    assert isinstance(reply, Failure)
    assert reply.reason.startswith("refusing to sign a URL that is not plain https")
    channel.close()
    thread.join(timeout=5)


def test_acctproc_drops_a_netproc_that_sends_an_unexpected_message(caplog: pytest.LogCaptureFixture) -> None:
    # One acctproc serves every domain of an authority: a confused or hostile
    # netproc loses its own channel, the others are still served, and the
    # process fails at the end so that the run says so.
    ours = [socket.socketpair() for _ in range(2)]
    spec = ChildSpec("acctproc", "t", 0, False, (), ACCOUNT_SETTINGS)
    channels = tuple(Channel(theirs, "netproc") for _, theirs in ours)
    held = acctproc.Held(channels, {channel.fileno(): acctproc.Domain(RUN, None) for channel in channels}, (), KEY, {})
    outcome: dict[str, object] = {}
    thread = threading.Thread(target=lambda: outcome.update(status=acctproc.serve(spec, held)), daemon=True)
    thread.start()
    bad, good = (Channel(mine, "acctproc") for mine, _ in ours)
    bad.send(CsrRequest())
    with pytest.raises(ChannelClosed):
        bad.recv(Thumbprint)  # dropped: its channel is closed, nothing is answered
    assert good.request(ThumbprintRequest(), Thumbprint).value == jws.thumbprint(KEY)
    good.close()
    thread.join(timeout=5)
    assert outcome == {"status": 1}
    assert "bad message from netproc" in caplog.text and f"sent message op {CsrRequest.OP}" in caplog.text
    bad.close()


def test_keyproc_tells_the_domain_key_then_hands_out_its_csr_until_end_of_file() -> None:
    csr = build_csr(KEY, ("example.com",))
    spki = public_key_der(KEY)
    spec = ChildSpec("keyproc", "t", 0, False, (), KeySettings("", "ecdsa", ("example.com",)))
    told = [socket.socketpair() for _ in range(2)]
    takers = tuple(Channel(theirs, peer) for (_, theirs), peer in zip(told, ("certproc", "revokeproc")))
    channel, thread, outcome = serving(lambda c: keyproc.serve(spec, keyproc.Held(c, takers, spki, csr)))
    for mine, _ in told:
        assert Channel(mine, "keyproc").recv(DomainKey).spki == spki
        mine.close()
    for _ in range(2):
        der = channel.request(CsrRequest(), Csr).der
        assert der == csr
        assert x509.load_der_x509_csr(der).is_signature_valid
    channel.close()
    thread.join(timeout=5)
    assert outcome == {"status": 0}


def test_keyproc_acquire_creates_the_key_and_builds_the_csr(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair()
    path = tmp_path / "domain.key"
    spec = ChildSpec("keyproc", "t", 0, False, (("netproc", theirs.detach()),), KeySettings(str(path), "ecdsa", ("a.example",)))
    held = keyproc.acquire(spec)
    try:
        assert path.exists()
        assert held.spki == public_key_der(load_existing_key(path, "ecdsa"))
        csr = x509.load_der_x509_csr(held.csr_der)
        assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        ) == ["a.example"]
    finally:
        assert held.net is not None
        held.net.close()
        ours.close()


def test_keyproc_beside_a_check_tells_the_key_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "domain.key"
    spec = ChildSpec("keyproc", "t", 0, False, (), KeySettings(str(path), "ecdsa", ("a.example",), public_only=True))
    held = keyproc.acquire(spec)
    assert held == keyproc.Held(None, (), b"", b"")  # no key yet: nothing to tell but that
    assert not path.exists()


def test_acctproc_acquire_accepts_a_p521_account_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "account.key"
    key = ec.generate_private_key(ec.SECP521R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    ours, theirs = socket.socketpair()
    key_ours, key_theirs = socket.socketpair()
    settings = ACCOUNT_SETTINGS._replace(key_path=str(path))
    channels = (("netproc", theirs.fileno()), ("keyproc", key_theirs.fileno()))
    spec = ChildSpec("acctproc", "t", 0, False, channels, settings)
    try:
        # P-521 passes the key checks and signs as ES512.
        held = acctproc.acquire(spec)
        assert held.key.curve.name == "secp521r1"
        assert [domain.keyproc.fileno() for domain in held.domains.values()] == [key_theirs.fileno()]
    finally:
        for end in (ours, theirs, key_ours, key_theirs):
            end.close()


def finalize(csr_der: bytes) -> SignRequest:
    return SignRequest("https://ca.example/finalize/1", "n", "https://ca.example/acct/1",
                       json.dumps({"csr": base64.urlsafe_b64encode(csr_der).rstrip(b"=").decode()}).encode())


def test_acctproc_signs_a_finalize_only_for_the_domain_key_keyproc_told_it() -> None:
    """A netproc taken over cannot have a certificate for the domain's names issued to a key of its own."""
    domain_key = ec.generate_private_key(ec.SECP256R1())
    stranger = ec.generate_private_key(ec.SECP256R1())
    keyproc_end, acctproc_end = socket.socketpair()
    Channel(keyproc_end, "acctproc").send(DomainKey(public_key_der(domain_key)))
    spec = ChildSpec("acctproc", "t", 0, False, (), ACCOUNT_SETTINGS)
    told = Channel(acctproc_end, "keyproc")

    def serve(channel: Channel) -> int:
        return acctproc.serve(spec, acctproc.Held((channel,), {channel.fileno(): acctproc.Domain(RUN, told)}, (), KEY, {}))

    channel, thread, outcome = serving(serve)
    try:
        for wrong, why in (
            (build_csr(stranger, RUN.names), "for another key than the domain key"),
            (build_csr(domain_key, ("example.com", "evil.example")), "for other names than the configured ones"),
            (b"\x30\x03\x02\x01\x00", "whose CSR does not parse"),
        ):
            reply = channel.request(finalize(wrong), Signed, Failure)
            assert isinstance(reply, Failure) and why in reply.reason, reply
        assert isinstance(channel.request(finalize(build_csr(domain_key, RUN.names)), Signed, Failure), Signed)
    finally:
        channel.close()
        thread.join(timeout=5)
        keyproc_end.close()
    assert outcome == {"status": 0}


def test_acctproc_tells_every_chngproc_the_thumbprint_first() -> None:
    links = [socket.socketpair() for _ in range(2)]
    spec = ChildSpec("acctproc", "t", 0, False, (), ACCOUNT_SETTINGS)
    chngprocs = tuple(Channel(theirs, "chngproc") for _, theirs in links)
    channel, thread, outcome = serving(
        lambda c: acctproc.serve(spec, acctproc.Held((c,), {c.fileno(): acctproc.Domain(RUN, None)}, chngprocs, KEY, {}))
    )
    for ours, _ in links:
        assert Channel(ours, "acctproc").recv(Thumbprint).value == jws.thumbprint(KEY)
        ours.close()
    channel.close()
    thread.join(timeout=5)
    assert outcome == {"status": 0}


# dnsproc ----------------------------------------------------------------------------------------------


def test_dnsproc_resolves_localhost_to_loopback() -> None:
    reply = dnsproc.answer("localhost")
    assert isinstance(reply, Addresses)
    assert set(reply.addresses) & {"127.0.0.1", "::1"}
    assert len(reply.addresses) == len(set(reply.addresses))


@pytest.mark.parametrize(
    "host",
    ["", ".", "a..b", "-a.example", "a-.example", "a_b.example", "x" * 64 + ".example", "a." * 127 + "a",
     "exa mple.com", "example.com/", "localhost\x00", "\x1b[2J", "127.0.0.1:80", "[::1]", "é.example"],
)
def test_dnsproc_refuses_what_is_not_a_host_name(host: str) -> None:
    reply = dnsproc.answer(host)
    assert isinstance(reply, Failure)
    assert "is not a host name" in reply.reason
    assert reply.reason.isprintable() and reply.reason.isascii()


# the domain lock ------------------------------------------------------------------------------------------


def test_second_lock_on_the_same_domain_is_busy(tmp_path: Path) -> None:
    directory = tmp_path / "locks"
    first = DomainLock(directory, "example.com")
    first.acquire()
    try:
        assert (os.stat(directory).st_mode & 0o777) == 0o700
        with pytest.raises(LockBusy, match="another acme-client run holds"):
            DomainLock(directory, "example.com").acquire()
        DomainLock(directory, "other.example").acquire()  # another domain is independent
    finally:
        first.release()
    again = DomainLock(directory, "example.com")
    again.acquire()
    again.release()


def test_lock_directory_writable_by_others_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "locks"
    directory.mkdir()
    os.chmod(directory, 0o777)
    with pytest.raises(ProcessFailure, match="is not private to this user"):
        DomainLock(directory, "example.com").acquire()


def test_lock_file_symlink_is_not_followed(tmp_path: Path) -> None:
    directory = tmp_path / "locks"
    directory.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (directory / "example.com.lock").symlink_to(victim)
    with pytest.raises(ProcessFailure, match="cannot create lock"):
        DomainLock(directory, "example.com").acquire()
    assert victim.read_text() == "keep"
