"""A netproc taken over, played by the test against the real roles it talks to, each under its real jail.

Each role is started exactly as the parent starts it (acme_conf.proc.spawner
`spawn` (proc/spawner.py): a fresh interpreter with `-I -S`, the real bootstrap, an empty
environment, the strict sandbox), with a socketpair for every channel its
spec names.  The test holds the other ends and plays every neighbour: the
subverted netproc that asks for what a real run never needs, and the
trusted keyproc or acctproc that tell the role what it may rely on (the
domain key, the account's thumbprint).

What each test shows is refused (issue 12):

- certproc: a certificate for another key, one valid for 100 years, one for
  other names; nothing reaches fileproc (item 1);
- acctproc: a key change, a deactivation, an account update, an order for
  other names, a request to another host or port, a revocation outside -r,
  a finalize for another key, and more requests than MAX_REQUESTS, while
  another domain's channel is served after each (item 2);
- chngproc: more files than names, a token naming a file that is there, an
  answer for another account, a flood of requests (items 3 and 4);
- keyproc and dnsproc: more requests than their caps (item 3).

Each also has a control in the same run, so that a refusal is the defence's
doing and not a harness that cannot succeed.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # pki.py, shared with the unit tests

import pki  # noqa: E402

from acme_conf.acme import jws  # noqa: E402
from acme_conf.acme.b64 import b64url  # noqa: E402
from acme_conf.acme.renewal import MAX_LIFETIME  # noqa: E402
from acme_conf.csr import build_csr  # noqa: E402
from acme_conf.ipc import Channel, ChannelClosed, ChannelError  # noqa: E402
from acme_conf.keys import public_key_der  # noqa: E402
from acme_conf.messages import Failure, Message  # noqa: E402
from acme_conf.messages.account import SignRequest, Signed, Thumbprint  # noqa: E402
from acme_conf.messages.certificate import CertBundle, WriteCertificate  # noqa: E402
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten  # noqa: E402
from acme_conf.messages.dns import Addresses, Resolve  # noqa: E402
from acme_conf.messages.key import Csr, CsrRequest, DomainKey  # noqa: E402
from acme_conf.proc import acctproc, chngproc, dnsproc, keyproc  # noqa: E402
from acme_conf.proc.spawner import child_import_path, spawn  # noqa: E402
from acme_conf.proc.spec import (  # noqa: E402
    AccountSettings,
    CertSettings,
    ChildSpec,
    ChngSettings,
    DnsSettings,
    KeySettings,
    Settings,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the roles' strict jails need root")

# Generous: the machine is shared.  A role that hangs fails the test after this, never the suite.
ROLE_TIMEOUT = 60.0
CA = "https://ca.test:14000"
API_URL = f"{CA}/dir"
ACCOUNT_URL = f"{CA}/acct/1"
CONTACT = "mailto:admin@a.test"
NAMES_A = ("a.test", "www.a.test")  # the domain whose netproc is taken over
NAMES_B = ("b.test",)  # another domain served by the same shared process


# ---- the real role, started as the parent starts it --------------------------------------------


class RunningRole:
    """A role's process and the test's ends of its channels, in the order of its spec."""

    def __init__(self, process: subprocess.Popen[bytes], ends: list[tuple[str, Channel]]) -> None:
        self.process = process
        self.ends = ends
        self._stderr: list[bytes] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)  # a full pipe must never block the role
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def end(self, peer: str, index: int = 0) -> Channel:
        """The test's end of the role's `index`th channel to `peer`."""
        return [channel for name, channel in self.ends if name == peer][index]

    def status(self, field: str) -> str:
        """A field of /proc/PID/status: what the kernel says of the role, not what the role says of itself."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == field:
                return value.strip()
        raise AssertionError(f"no {field} in /proc/{self.process.pid}/status")

    def rss_kib(self) -> int:
        return int(self.status("VmRSS").split()[0])

    def wait_until_jailed(self) -> None:
        """Until the kernel shows the role's seccomp filter and no_new_privs: it is past acquire and serving."""
        deadline = time.monotonic() + ROLE_TIMEOUT
        while not (self.status("Seccomp") == "2" and self.status("NoNewPrivs") == "1"):
            if self.process.poll() is not None:
                code, said = self.finish()
                raise AssertionError(f"{self.process.args[5]} ended with {code} before its jail: {said}")
            assert time.monotonic() < deadline, "the role never entered its jail"
            time.sleep(0.005)

    def finish(self) -> tuple[int, str]:
        """Close every end the test still holds; the role's exit status and what it said."""
        for _, channel in self.ends:
            channel.close()
        try:
            code = self.process.wait(timeout=ROLE_TIMEOUT)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=ROLE_TIMEOUT)
        return code, b"".join(self._stderr).decode(errors="replace")


@contextmanager
def running(role: str, settings: Settings, peers: tuple[str, ...]) -> Iterator[RunningRole]:
    """`role` started by the parent's own spawn (proc/spawner.py), strict sandbox, one socketpair per entry of `peers`."""
    pairs = [(peer, *socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)) for peer in peers]
    spec = ChildSpec(role, "subverted", 0, True, tuple((peer, theirs.fileno()) for peer, _, theirs in pairs), settings)
    try:
        process = spawn(spec, child_import_path())
    finally:
        for _, _, theirs in pairs:
            theirs.close()  # the role has its copies
    for _, ours, _ in pairs:
        ours.settimeout(ROLE_TIMEOUT)  # a role that never answers fails the test instead of hanging it
    started = RunningRole(process, [(peer, Channel(ours, role)) for peer, ours, _ in pairs])
    try:
        started.wait_until_jailed()
        yield started
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
        for _, channel in started.ends:
            channel.close()


def dropped(channel: Channel) -> bool:
    """The role has closed this channel (end of file, or a reset when requests were left unread)."""
    try:
        channel.recv(Message)
    except ChannelClosed:
        return True
    except ChannelError:
        return False  # a message came instead
    return False


def private_key_file(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    """`key` at `path`, as the key checks want it: root's, mode 0600, in a directory only root may write."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.parent.chmod(0o700)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    return path


DER, SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return public_key_der(key)


# ---- item 1: certproc judges with the key keyproc tells it and the configured names --------------


def self_signed(key: ec.EllipticCurvePrivateKey, names: tuple[str, ...], days: int) -> x509.Certificate:
    """What a netproc taken over can make alone: a certificate of its own key, signed by itself."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    start = pki.NOW - timedelta(hours=1)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(pki.general_names(names)), critical=False)
        .sign(key, hashes.SHA256())
    )


def run_certproc(domain_key: ec.EllipticCurvePrivateKey, pem: bytes) -> tuple[int, str, Message | None]:
    """certproc told `domain_key` by the test as keyproc and sent `pem` by the test as netproc.

    Returns its exit status, what it said, and what reached the fileproc end (None: nothing).
    """
    with running("certproc", CertSettings(NAMES_A), ("keyproc", "netproc", "fileproc")) as certproc:
        certproc.end("keyproc").send(DomainKey(spki(domain_key)))
        certproc.end("netproc").send(CertBundle(pem))
        try:
            installed: Message | None = certproc.end("fileproc").recv(WriteCertificate)
        except ChannelClosed:
            installed = None
        code, said = certproc.finish()
    return code, said, installed


@pytest.fixture(scope="module")
def domain_key() -> ec.EllipticCurvePrivateKey:
    return pki.new_key()


@pytest.fixture(scope="module")
def issuer() -> pki.Authority:
    """A CA the netproc's controller runs: certproc trusts no root, only the key and names it is told."""
    return pki.root_authority("Attacker Root").issue_ca("Attacker Issuer")


def test_certproc_passes_on_the_right_key_and_names_for_90_days(domain_key, issuer: pki.Authority) -> None:
    # The control: the harness can succeed, so every refusal below is certproc's check.
    leaf = issuer.issue_leaf(domain_key.public_key(), NAMES_A)
    code, said, installed = run_certproc(domain_key, pki.pem(leaf, issuer.certificate))
    assert code == 0, said
    assert isinstance(installed, WriteCertificate)
    assert installed.certificate == pki.pem(leaf) and installed.chain == issuer.pem


ATTACKS_ON_CERTPROC = {
    # Defence: certproc checks the leaf's key against the domain key keyproc told it (issue 12 item 1),
    # never against what netproc sends.  Judged by the key netproc's certificate carries, this one
    # is refused for its lifetime instead, with another message, and the next one passes.
    "self-signed, another key, 100 years": (
        lambda key, issuer: pki.pem(self_signed(pki.new_key(), NAMES_A, 36525)),
        "certificate's public key is not the domain key's",
    ),
    # Defence: the same key check, alone: a CA-issued 90-day certificate whose only fault is its key.
    "issued, another key, 90 days": (
        lambda key, issuer: pki.pem(issuer.issue_leaf(pki.new_key().public_key(), NAMES_A), issuer.certificate),
        "certificate's public key is not the domain key's",
    ),
    # Defence: the lifetime ceiling (MAX_LIFETIME): a certificate "never due" for renewal is refused.
    "the domain key, 100 years": (
        lambda key, issuer: pki.pem(
            issuer.issue_leaf(key.public_key(), NAMES_A, not_after=pki.NOW + timedelta(days=36525)), issuer.certificate
        ),
        f"longer than {MAX_LIFETIME.days} allowed",
    ),
    # Defence: the names come from the parent (CertSettings), and the leaf must carry exactly them.
    "the domain key, other names": (
        lambda key, issuer: pki.pem(issuer.issue_leaf(key.public_key(), ("evil.test",)), issuer.certificate),
        "certificate names (evil.test) are not the configured names",
    ),
}


@pytest.mark.parametrize("attack", ATTACKS_ON_CERTPROC)
def test_certproc_refuses_what_a_subverted_netproc_sends(domain_key, issuer: pki.Authority, attack: str) -> None:
    make, why = ATTACKS_ON_CERTPROC[attack]
    code, said, installed = run_certproc(domain_key, make(domain_key, issuer))
    assert code == 1, said
    assert why in said
    assert installed is None  # fileproc was sent nothing: it installs only what certproc approved


# ---- item 2: acctproc signs only what this run needs --------------------------------------------


def account_settings(key_path: Path, *, revoke: bool = False, reason: int = -1) -> AccountSettings:
    return AccountSettings(
        str(key_path), "ecdsa", API_URL, CONTACT, revoke, (NAMES_A, NAMES_B), ("", ""), revoke_reason=reason
    )


ACCTPROC_PEERS = ("netproc", "netproc", "keyproc", "keyproc", "chngproc")  # as spawn_services and shared_links lay them


def verify_signed(reply: Message, account: ec.EllipticCurvePrivateKey, url: str) -> None:
    """`reply` is a JWS signed with the account key, for `url`."""
    assert isinstance(reply, Signed), reply
    body = json.loads(reply.jws)
    protected = json.loads(base64.urlsafe_b64decode(body["protected"] + "=" * (-len(body["protected"]) % 4)))
    assert protected["url"] == url
    raw = base64.urlsafe_b64decode(body["signature"] + "=" * (-len(body["signature"]) % 4))
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        account.public_key().verify(
            signature, f"{body['protected']}.{body['payload']}".encode(), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise AssertionError("not signed with the account key") from None


def csr_b64(key: ec.EllipticCurvePrivateKey, names: tuple[str, ...]) -> str:
    return b64url(build_csr(key, names))


def identifiers(*names: str) -> list[dict[str, str]]:
    return [{"type": "dns", "value": name} for name in names]


def key_change_payload(account: ec.EllipticCurvePrivateKey, attacker: ec.EllipticCurvePrivateKey) -> bytes:
    """RFC 8555 7.3.5: the inner JWS, signed by the new key (the attacker's), naming the account and its old key."""
    inner = {"account": ACCOUNT_URL, "oldKey": jws.public_jwk(account)}
    return jws.sign(attacker, f"{CA}/key-change", "", "", json.dumps(inner).encode())


def test_acctproc_signs_only_what_the_run_needs_and_serves_the_other_domain(tmp_path: Path) -> None:
    account = pki.new_key()
    key_path = private_key_file(tmp_path / "account" / "ca.key", account)
    domain_a, domain_b, attacker = pki.new_key(), pki.new_key(), pki.new_key()
    subverted_requests = 0

    with running("acctproc", account_settings(key_path), ACCTPROC_PEERS) as acct:
        subverted, other = acct.end("netproc", 0), acct.end("netproc", 1)
        acct.end("keyproc", 0).send(DomainKey(spki(domain_a)))  # the test as each domain's trusted keyproc
        acct.end("keyproc", 1).send(DomainKey(spki(domain_b)))

        # Defence: the thumbprint goes to chngproc from acctproc itself, from the account key file.
        told = acct.end("chngproc").recv(Thumbprint)
        assert told.value == jws.thumbprint(serialization.load_pem_private_key(key_path.read_bytes(), None))

        def ask(url: str, payload: bytes, kid: str = ACCOUNT_URL) -> Message:
            nonlocal subverted_requests
            subverted_requests += 1
            return subverted.request(SignRequest(url, "nonce", kid, payload), Signed, Failure)

        def other_domain_still_served() -> None:
            url = f"{CA}/order/{subverted_requests}"
            verify_signed(other.request(SignRequest(url, "nonce", ACCOUNT_URL, b""), Signed, Failure), account, url)

        # Controls on the subverted channel itself: what its domain's run really sends is signed.
        for url, payload, kid in (
            (f"{CA}/acct/new", json.dumps({"termsOfServiceAgreed": True, "contact": [CONTACT]}).encode(), ""),
            (f"{CA}/order/new", json.dumps({"identifiers": identifiers(*NAMES_A)}).encode(), ACCOUNT_URL),
            (f"{CA}/finalize/1", json.dumps({"csr": csr_b64(domain_a, NAMES_A)}).encode(), ACCOUNT_URL),
        ):
            verify_signed(ask(url, payload, kid), account, url)

        attacks = [
            # Defence: signing_rules refuses a key change (item 2): the account is never handed to another key.
            (f"{CA}/key-change", key_change_payload(account, attacker), "an account key change"),
            # Defence: signing_rules refuses a status change: the account cannot be deactivated (only a -D run may).
            (ACCOUNT_URL, b'{"status": "deactivated"}', "an account deactivation, which only a -D run makes"),
            (ACCOUNT_URL, b'{"status": "valid"}', "an account deactivation or status change"),
            # Defence: signing_rules refuses an account update: the contact stays the configured one.
            (ACCOUNT_URL, b'{"contact": ["mailto:attacker@evil.test"]}', "an account update"),
            # Defence: a new order only for exactly the domain's own names (per channel: not domain B's either).
            (f"{CA}/order/new", json.dumps({"identifiers": identifiers("evil.test")}).encode(), "a new order for other names"),
            (f"{CA}/order/new", json.dumps({"identifiers": identifiers(*NAMES_B)}).encode(), "a new order for other names"),
            (f"{CA}/order/new", json.dumps({"identifiers": identifiers(*NAMES_A, "evil.test")}).encode(),
             "a new order for other names"),
            # Defence: only URLs on the CA's host and port, from the configured api url.
            ("https://evil.test:14000/acct/1", b"", "a URL that is not on the CA's host and port"),
            ("https://ca.test:14001/acct/1", b"", "a URL that is not on the CA's host and port"),
            ("https://ca.test/acct/1", b"", "a URL that is not on the CA's host and port"),  # port 443
            # Defence: a revocation only in a -r run.
            (f"{CA}/revoke", json.dumps({"certificate": "MIIB", "reason": 1}).encode(), "a revocation, which only a -r run"),
            # Defence: a finalize's CSR must be for the domain key keyproc told acctproc (csr.check_csr).
            (f"{CA}/finalize/1", json.dumps({"csr": csr_b64(attacker, NAMES_A)}).encode(),
             "a finalize with a CSR for another key than the domain key"),
            (f"{CA}/finalize/1", json.dumps({"csr": csr_b64(domain_b, NAMES_A)}).encode(),  # another domain's key
             "a finalize with a CSR for another key than the domain key"),
            (f"{CA}/finalize/1", json.dumps({"csr": csr_b64(domain_a, ("evil.test",))}).encode(),
             "a finalize with a CSR for other names than the configured ones"),
        ]
        for url, payload, why in attacks:
            reply = ask(url, payload)
            assert isinstance(reply, Failure), f"signed: {url} {payload[:80]!r}"
            assert reply.reason.startswith("refusing to sign " + why), reply.reason
            other_domain_still_served()

        # Defence: MAX_REQUESTS per channel (child.answer_until_closed): a flood of plain POST-as-GET
        # requests, each of which alone would be signed, ends with the channel dropped.
        # 10,000 take 1.5 s here, so the real cap is tested, not a smaller one patched in.
        flood = SignRequest(f"{CA}/order/1", "nonce", ACCOUNT_URL, b"")
        while subverted_requests < acctproc.MAX_REQUESTS:
            subverted_requests += 1
            assert isinstance(subverted.request(flood, Signed, Failure), Signed)
        subverted.send(flood)
        assert dropped(subverted), f"request {acctproc.MAX_REQUESTS + 1} was answered"
        other_domain_still_served()
        code, said = acct.finish()
    assert code == 1, said  # a channel that misbehaved fails the shared process at the end
    assert f"bad message from netproc: more than {acctproc.MAX_REQUESTS} requests" in said


def test_acctproc_signs_a_revocation_in_a_revoking_run(tmp_path: Path) -> None:
    # The control for the revocation refused above: the same request, in a -r run, is signed.
    account = pki.new_key()
    key_path = private_key_file(tmp_path / "account" / "ca.key", account)
    with running("acctproc", account_settings(key_path, revoke=True, reason=1), ACCTPROC_PEERS) as acct:
        acct.end("chngproc").recv(Thumbprint)
        url = f"{CA}/revoke"
        request = SignRequest(url, "nonce", ACCOUNT_URL, json.dumps({"certificate": "MIIB", "reason": 1}).encode())
        verify_signed(acct.end("netproc", 0).request(request, Signed, Failure), account, url)
        order = SignRequest(f"{CA}/order/new", "nonce", ACCOUNT_URL, json.dumps({"identifiers": identifiers(*NAMES_A)}).encode())
        refused = acct.end("netproc", 0).request(order, Signed, Failure)
        assert isinstance(refused, Failure) and "a new order in a -r run" in refused.reason
        code, said = acct.finish()
    assert code == 0, said


# ---- items 3 and 4: chngproc keeps one file per name, creates only, for this account only --------

THUMBPRINT = jws.thumbprint(pki.new_key())  # the account's, as the test (acctproc) tells chngproc
CHNGPROC_PEERS = ("netproc", "netproc", "acctproc")  # domain A (2 names), domain B (1 name), the authority
FILES_A = len(NAMES_A)


def token(label: str) -> str:
    """A well-formed token (43 base64url characters), readable in a failure."""
    return f"{label:_<43}"[:43]


def publish(net: Channel, name: str, thumbprint: str = THUMBPRINT) -> Message:
    return net.request(ChallengeWrite(name, f"{name}.{thumbprint}"), ChallengeWritten, Failure)


def eventually(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for `condition` (something the role does after a channel closes); no tight timing."""
    deadline = time.monotonic() + ROLE_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.fixture
def webroot(tmp_path: Path) -> Path:
    """root's challenge directory: chngproc works in it as root, which is what makes a token dangerous."""
    directory = tmp_path / "acme"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    return directory


@contextmanager
def chngproc_serving(webroot: Path) -> Iterator[RunningRole]:
    settings = ChngSettings(str(webroot), (FILES_A, len(NAMES_B)), (0, 0))
    with running("chngproc", settings, CHNGPROC_PEERS) as chng:
        chng.end("acctproc").send(Thumbprint(THUMBPRINT))
        chng.end("acctproc").close()  # as acctproc does once it has told it
        yield chng


def test_chngproc_keeps_at_most_one_file_per_name(webroot: Path) -> None:
    # Defence: ChngSettings.files, one outstanding file per name of the domain (issue 12 item 3).
    with chngproc_serving(webroot) as chng:
        subverted, other = chng.end("netproc", 0), chng.end("netproc", 1)
        assert isinstance(publish(subverted, token("first")), ChallengeWritten)
        assert isinstance(publish(subverted, token("second")), ChallengeWritten)
        refused = publish(subverted, token("third"))
        assert isinstance(refused, Failure)
        assert refused.reason == f"refusing a challenge file: the domain has {FILES_A} already, one per name"
        assert sorted(os.listdir(webroot)) == [token("first"), token("second")]
        assert (webroot / token("first")).read_text() == f"{token('first')}.{THUMBPRINT}"
        # The other domain has a file of its own all the same.
        assert isinstance(publish(other, token("other")), ChallengeWritten)
        subverted.close()
        eventually(lambda: os.listdir(webroot) == [token("other")], "the closed channel's files were not removed")
        code, said = chng.finish()
    assert code == 0, said
    assert os.listdir(webroot) == []


def test_chngproc_never_replaces_nor_removes_a_file_it_did_not_create(webroot: Path) -> None:
    # Defence: O_EXCL|O_NOFOLLOW creation, and removal of its own tokens only (issue 12 item 4).
    victim = webroot / token("victim")
    victim.write_bytes(b"root's secret\n")
    victim.chmod(0o600)
    before = victim.stat()
    with chngproc_serving(webroot) as chng:
        subverted = chng.end("netproc", 0)
        refused = publish(subverted, victim.name)
        assert isinstance(refused, Failure)
        assert refused.reason == f"{webroot}/{victim.name} exists already: not overwritten, not removed"
        assert isinstance(publish(subverted, token("mine")), ChallengeWritten)  # the control: a new name is written
        code, said = chng.finish()
    assert code == 0, said
    assert os.listdir(webroot) == [victim.name]  # its own file removed, the other left
    after = victim.stat()
    assert victim.read_bytes() == b"root's secret\n"
    assert (after.st_ino, after.st_mode, after.st_uid, after.st_mtime_ns) == (
        before.st_ino, before.st_mode, before.st_uid, before.st_mtime_ns
    )


def test_chngproc_publishes_for_the_account_acctproc_named_only(webroot: Path) -> None:
    # Defence: the thumbprint comes from acctproc, never from netproc (issue 12 item 2 and Deliver 1):
    # a netproc taken over cannot have a challenge of its own account answered for the domain's names.
    theirs = jws.thumbprint(pki.new_key())
    with chngproc_serving(webroot) as chng:
        subverted = chng.end("netproc", 0)
        refused = publish(subverted, token("theirs"), theirs)
        assert isinstance(refused, Failure)
        assert refused.reason == "refusing a key authorization for another account than the configured one"
        assert os.listdir(webroot) == []
        assert isinstance(publish(subverted, token("ours")), ChallengeWritten)  # the control: the told one
        assert os.listdir(webroot) == [token("ours")]
        code, said = chng.finish()
    assert code == 0, said


FLOOD = 60_000


def test_chngproc_drops_a_flood_and_removes_what_it_wrote(webroot: Path) -> None:
    # Defence: REQUESTS_PER_NAME * names requests per channel (issue 12 item 3: 60,000 files in 7.5 s
    # and chngproc's memory doubling), with the files cap and the clean-up when a channel closes.
    cap = chngproc.REQUESTS_PER_NAME * FILES_A
    with chngproc_serving(webroot) as chng:
        subverted, other = chng.end("netproc", 0), chng.end("netproc", 1)
        assert isinstance(publish(other, token("other")), ChallengeWritten)  # served, and jailed by now
        start_rss = chng.rss_kib()
        rss: list[int] = []
        files: list[int] = []
        sent = 0
        flooding = threading.Event()
        flooding.set()

        def flood() -> None:
            nonlocal sent
            try:
                for index in range(FLOOD):
                    name = token(f"flood{index}")
                    subverted.send(ChallengeWrite(name, f"{name}.{THUMBPRINT}"))
                    sent += 1
            except ChannelClosed:
                pass
            finally:
                flooding.clear()

        def watch() -> None:
            while flooding.is_set():
                try:
                    rss.append(chng.rss_kib())
                    files.append(len(os.listdir(webroot)))
                except OSError:
                    return
                time.sleep(0.001)

        threads = [threading.Thread(target=flood, daemon=True), threading.Thread(target=watch, daemon=True)]
        for thread in threads:
            thread.start()
        replies: list[Message] = []
        try:
            while flooding.is_set() or len(replies) < sent:  # without the cap, every request is answered
                replies.append(subverted.recv(ChallengeWritten, Failure))
        except ChannelClosed:
            pass  # dropped
        for thread in threads:
            thread.join(timeout=ROLE_TIMEOUT)
            assert not thread.is_alive()
        rss.append(chng.rss_kib())
        print(f"sent {sent}, {len(rss)} samples of VmRSS, {start_rss} kB at the start, {max(rss)} kB at most")
        assert sent < FLOOD, "every request was taken"
        assert len(replies) == cap  # answered up to the cap, then dropped
        assert [type(reply) for reply in replies] == [ChallengeWritten] * FILES_A + [Failure] * (cap - FILES_A)
        assert max(files, default=0) <= FILES_A + 1  # its two, and the other domain's one
        assert max(rss) < 2 * start_rss, (start_rss, max(rss))
        # The channel is closed: every file written for it is gone, the other domain's is still there.
        assert os.listdir(webroot) == [token("other")]
        assert isinstance(publish(other, token("other2")), Failure)  # one name: its cap holds too
        code, said = chng.finish()
    assert code == 1, said
    assert f"bad message from netproc: more than {cap} requests" in said
    assert os.listdir(webroot) == []


# ---- item 3: keyproc and dnsproc answer a bounded number of requests ------------------------------


def test_keyproc_drops_a_netproc_that_asks_for_the_csr_too_often(tmp_path: Path) -> None:
    # Defence: keyproc.MAX_CSR_REQUESTS per channel.
    key = pki.new_key()
    key_path = private_key_file(tmp_path / "keys" / "a.key", key)
    with running("keyproc", KeySettings(str(key_path), "ecdsa", NAMES_A), ("netproc", "certproc", "revokeproc", "acctproc")) as kp:
        for taker in keyproc.KEY_TAKERS:  # the control: it tells the trusted roles the real key
            assert kp.end(taker).recv(DomainKey).spki == spki(key)
        net = kp.end("netproc")
        for _ in range(keyproc.MAX_CSR_REQUESTS):
            csr = x509.load_der_x509_csr(net.request(CsrRequest(), Csr).der)
            assert csr.public_key().public_bytes(DER, SPKI) == spki(key)
        net.send(CsrRequest())
        assert dropped(net), f"CSR request {keyproc.MAX_CSR_REQUESTS + 1} was answered"
        code, said = kp.finish()
    assert code == 1, said
    assert f"bad message from netproc: more than {keyproc.MAX_CSR_REQUESTS} requests" in said


def test_dnsproc_drops_a_netproc_that_looks_up_too_often() -> None:
    # Defence: dnsproc.MAX_LOOKUPS per channel; another domain's channel is still served.
    with running("dnsproc", DnsSettings(), ("netproc", "netproc")) as dns:
        subverted, other = dns.end("netproc", 0), dns.end("netproc", 1)
        for _ in range(dnsproc.MAX_LOOKUPS):
            answer = subverted.request(Resolve("localhost"), Addresses, Failure)
            assert isinstance(answer, Addresses) and "127.0.0.1" in answer.addresses
        subverted.send(Resolve("localhost"))
        assert dropped(subverted), f"lookup {dnsproc.MAX_LOOKUPS + 1} was answered"
        assert isinstance(other.request(Resolve("localhost"), Addresses, Failure), Addresses)
        code, said = dns.finish()
    assert code == 1, said
    assert f"bad message from netproc: more than {dnsproc.MAX_LOOKUPS} requests" in said
