"""The real netproc, in-process, against a hostile CA.

`drive(...)` runs acme_conf.proc.netproc.serve -- the real Transport,
AcmeSession and protocol steps -- with its six neighbours on real
socketpairs:

- acctproc and keyproc: the real roles' serve loops in threads, holding keys
  made here;
- chngproc: a recorder that logs every ChallengeWrite and publishes it with
  the real chngproc.publish into the challenge directory (from which the
  hostile CA validates http-01);
- certproc: a recorder (tests run the real certproc.check_bundle on what it got);
- dnsproc: a stand-in that maps host names to loopback;
- revokeproc: the verdict, sent before netproc starts.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # pki.py, shared with the unit tests

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from acme_conf.ipc import Channel, ChannelClosed  # noqa: E402
from acme_conf.messages import Failure, Message
from acme_conf.messages.certificate import CertBundle, RemoveCertificate
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.messages.dns import Addresses, Resolve
from acme_conf.messages.revoke import VERDICT_MISSING, VERDICT_REVOKE, CertStatus
from acme_conf.net import transport  # noqa: E402
from acme_conf.proc import acctproc, chngproc, keyproc, netproc  # noqa: E402
from acme_conf.errors import ProcessFailure  # noqa: E402
from acme_conf.proc.spec import AccountSettings, ChildSpec, KeySettings, NetSettings  # noqa: E402
from acme_conf.acme.signing_rules import DomainRun  # noqa: E402
from acme_conf.csr import build_csr  # noqa: E402
from acme_conf.keys import public_key_der  # noqa: E402

from hostile_ca import HostileCA  # noqa: E402


@dataclass
class Outcome:
    """What one netproc run did."""

    error: BaseException | None
    challenge_writes: list[ChallengeWrite]
    to_certproc: list[Message]
    resolved: list[str]
    peer_errors: list[BaseException] = field(default_factory=list)

    def raised(self, kind: type[BaseException] = ProcessFailure) -> str:
        """The error netproc ended with, which must be a `kind`; its message."""
        assert self.error is not None, "netproc succeeded"
        if not isinstance(self.error, kind):
            raise self.error
        return str(self.error)


class _Peer(threading.Thread):
    def __init__(self, name: str, target: Callable[[], None], errors: list[BaseException]) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._errors = errors

    def run(self) -> None:
        try:
            self._target_fn()
        except ChannelClosed:
            pass
        except BaseException as error:  # noqa: BLE001 (reported to the test)
            self._errors.append(error)


@pytest.fixture
def challenge_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "acme-challenge"
    directory.mkdir()
    return directory


@pytest.fixture
def hostile_ca(tmp_path: Path, challenge_dir: Path) -> Iterator[HostileCA]:
    ca = HostileCA(tmp_path, challenge_dir).start()
    yield ca
    ca.stop()


@pytest.fixture(scope="session")
def account_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def domain_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(autouse=True)
def short_network_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung exchange fails the test in seconds, not transport.TIMEOUT's 30."""
    monkeypatch.setattr(transport, "TIMEOUT", 5.0)


Drive = Callable[..., Outcome]


@pytest.fixture
def drive(hostile_ca: HostileCA, challenge_dir: Path, account_key, domain_key) -> Drive:
    def run(
        *,
        names: tuple[str, ...] = ("example.com",),
        api_url: str | None = None,
        hosts: dict[str, str | tuple[str, ...]] | None = None,
        ca_file: str | None = None,
        ports: tuple[int, ...] | None = None,
        verdict: CertStatus | None = None,
        profile: str = "",
        report_fd: int = -1,
        alternates: bool = False,
        previous_key=None,
        renewal_information: bool = True,
        kept_window: tuple[str, ...] = (),
        account_action: str = "",
        revokeproc: bool = True,
        no_certificate: bool = False,
    ) -> Outcome:
        hosts = {"localhost": "127.0.0.1"} if hosts is None else hosts
        settings = NetSettings(
            api_url=api_url or hostile_ca.directory_url,
            ca_file=ca_file or str(hostile_ca.ca_file),
            insecure=False,
            contact="mailto:admin@example.com",
            names=names,
            profile=profile,
            revoke=verdict is not None and verdict.verdict == VERDICT_REVOKE,
            report_fd=report_fd,
            alternates=alternates,
            rollover=previous_key is not None,
            renewal_information=renewal_information,
            kept_window=kept_window,
            account_action=account_action,
            no_certificate=no_certificate,
        )
        peer_errors: list[BaseException] = []
        writes: list[ChallengeWrite] = []
        to_cert: list[Message] = []
        resolved: list[str] = []
        ends = {role: socket.socketpair() for role in ("revoke", "dns", "acct", "key", "chng", "cert")}
        ours = {role: Channel(pair[0], role) for role, pair in ends.items()}
        theirs = {role: Channel(pair[1], "netproc") for role, pair in ends.items()}

        if revokeproc:
            theirs["revoke"].send(verdict or CertStatus(VERDICT_MISSING, "no certificate yet", b""))

        def dns() -> None:
            while True:
                request = theirs["dns"].recv(Resolve)
                resolved.append(request.host)
                found = hosts.get(request.host)
                addresses = (found,) if isinstance(found, str) else tuple(found or ())
                theirs["dns"].send(Addresses(addresses) if addresses else Failure(f"cannot resolve {request.host}"))

        # the links between the real roles: the thumbprint acctproc -> chngproc, the domain key keyproc -> acctproc
        thumbprint_link, domain_key_link = socket.socketpair(), socket.socketpair()
        chng_fd = os.open(challenge_dir, os.O_RDONLY | os.O_DIRECTORY)
        chng_held = chngproc.Held(
            (theirs["chng"],), chng_fd, str(challenge_dir), {theirs["chng"].fileno(): len(names)},
            {theirs["chng"].fileno(): Channel(thumbprint_link[1], "acctproc")},
        )

        def chng() -> None:
            try:
                while True:
                    request = theirs["chng"].recv(ChallengeWrite)
                    writes.append(request)
                    chngproc.publish(chng_held, request.token, request.key_authorization, theirs["chng"].fileno())
                    theirs["chng"].send(ChallengeWritten())
            finally:
                chngproc.remove_all(chng_held)

        def cert() -> None:
            while True:
                to_cert.append(theirs["cert"].recv(CertBundle, RemoveCertificate))

        run = DomainRun(
            settings.api_url, settings.contact, names, profile, settings.revoke, replaces=renewal_information,
            deactivate=account_action == "deactivate",
        )
        acct_settings = AccountSettings("", "ecdsa", run.api_url, run.contact, run.revoke, (names,), (profile,))
        acct_spec = ChildSpec("acctproc", "test", 0, False, (), acct_settings)
        key_spec = ChildSpec("keyproc", "test", 0, False, (), KeySettings("", "ecdsa", names))
        peers = [
            _Peer("dnsproc", dns, peer_errors),
            _Peer("chngproc", chng, peer_errors),
            _Peer("certproc", cert, peer_errors),
            _Peer(
                "acctproc",
                lambda: acctproc.serve(
                    acct_spec,
                    acctproc.Held(
                        (theirs["acct"],),
                        {theirs["acct"].fileno(): acctproc.Domain(run, Channel(domain_key_link[1], "keyproc"))},
                        (Channel(thumbprint_link[0], "chngproc"),),
                        account_key,
                        {},
                        previous=previous_key,
                    ),
                ),
                peer_errors,
            ),
            _Peer(
                "keyproc",
                lambda: keyproc.serve(
                    key_spec,
                    keyproc.Held(
                        theirs["key"], (Channel(domain_key_link[0], "acctproc"),),
                        public_key_der(domain_key), build_csr(domain_key, names),
                    ),
                ),
                peer_errors,
            ),
        ]
        for peer in peers:
            peer.start()
        held = netproc.Held(
            revoke=ours["revoke"] if revokeproc else None,
            dns=ours["dns"],
            acct=ours["acct"],
            key=ours["key"],
            chng=ours["chng"],
            cert=ours["cert"],
            tls=netproc.tls_context(settings),
            ports=ports or (hostile_ca.port,),
            report_fd=settings.report_fd,
        )
        spec = ChildSpec("netproc", "test", 2, False, (), settings)
        error: BaseException | None = None
        try:
            netproc.serve(spec, held)  # closes its channel ends when done: the peers see EOF
        except Exception as raised:  # noqa: BLE001 (the outcome is examined by the test)
            error = raised
        for peer in peers:
            peer.join(timeout=10)
            assert not peer.is_alive(), f"{peer.name} stand-in still running"
        for channel in theirs.values():
            channel.close()
        os.close(chng_fd)
        return Outcome(error, writes, to_cert, resolved, peer_errors)

    return run
