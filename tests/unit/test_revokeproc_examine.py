"""revokeproc: the verdict on the existing certificate."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from acme_conf.ipc import Channel
from acme_conf.keys import public_key_der
from acme_conf.messages.key import DomainKey
from acme_conf.messages.revoke import VERDICT_CURRENT, VERDICT_DUE, VERDICT_MISSING, VERDICT_REVOKE, CertStatus
from acme_conf.proc import revokeproc
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_OK, EXIT_UNCHANGED
from acme_conf.files import MAX_CERTIFICATE_FILE
from acme_conf.proc.revokeproc import Held, examine, read_certificate_file
from acme_conf.proc.spec import ChildSpec, RevokeSettings

import pki
from pki import NOW

NAMES = ("example.com", "www.example.com")


@pytest.fixture(scope="module")
def ca() -> pki.Authority:
    return pki.root_authority().issue_ca("Intermediate")


@pytest.fixture(scope="module")
def domain_key():
    return pki.new_key()


@pytest.fixture
def channel() -> Iterator[Channel]:
    ours, theirs = socket.socketpair()
    yield Channel(ours, "netproc")
    ours.close()
    theirs.close()


Examine = Callable[..., CertStatus]


@pytest.fixture
def run(tmp_path: Path, channel: Channel, domain_key) -> Iterator[Examine]:
    """examine() on a file with the given content (None: no file), as revokeproc reads it.

    `key` is what keyproc told it: the domain key's public half unless a test says otherwise.
    """

    def run(content: bytes | None, *, names=NAMES, force=False, revoke=False, key: bytes | None = None) -> CertStatus:
        path = tmp_path / "fullchain.pem"
        if content is not None:
            path.write_bytes(content)
        read = read_certificate_file(str(path)) if content is not None else None
        judge = revokeproc.load_judge() if read is not None else None
        told = public_key_der(domain_key) if key is None else key
        held = Held(channel, channel, read, "", judge)
        return examine(held, RevokeSettings(str(path), names, force, revoke), told, NOW)

    yield run


def fullchain(ca: pki.Authority, domain_key, *, names=NAMES, age=timedelta(days=1), lifetime=timedelta(days=90)) -> tuple[bytes, bytes]:
    leaf = ca.issue_leaf(domain_key.public_key(), names, not_before=NOW - age, not_after=NOW - age + lifetime)
    return pki.pem(leaf, ca.certificate), leaf.public_bytes(serialization.Encoding.DER)


# no certificate -------------------------------------------------------------------------------


def test_missing_certificate_means_issue(run: Examine) -> None:
    status = run(None)
    assert status.verdict == VERDICT_MISSING
    assert status.certificate_der == b""
    assert "no certificate yet" in status.reason


def test_missing_certificate_with_force_still_issues(run: Examine) -> None:
    assert run(None, force=True).verdict == VERDICT_MISSING


def test_revoke_without_a_certificate_is_an_error(run: Examine, tmp_path: Path) -> None:
    with pytest.raises(ProcessFailure, match=f"{tmp_path}/fullchain.pem: no certificate to revoke"):
        run(None, revoke=True)


# unreadable certificate -------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_unparsable_certificate_is_an_error_without_force(run: Examine, content: bytes, tmp_path: Path) -> None:
    message = f"{tmp_path}/fullchain.pem: not a PEM certificate; run acme-client -F to replace it"
    with pytest.raises(ProcessFailure, match=message):
        run(content)


def test_empty_certificate_file_says_so(run: Examine, tmp_path: Path) -> None:
    message = f"{tmp_path}/fullchain.pem: certificate file is empty; run acme-client -F to replace it"
    with pytest.raises(ProcessFailure, match=message):
        run(b"")


def test_unparsable_certificate_is_replaced_with_force(run: Examine) -> None:
    status = run(b"garbage", force=True)
    assert status.verdict == VERDICT_DUE
    assert "not a PEM certificate; replacing it as -F asks" in status.reason
    assert status.certificate_der == b""


def test_unparsable_certificate_cannot_be_revoked_even_with_force(run: Examine) -> None:
    with pytest.raises(ProcessFailure, match="not a PEM certificate"):
        run(b"garbage", force=True, revoke=True)


def test_huge_file_is_refused(run: Examine, ca, domain_key) -> None:
    good, _ = fullchain(ca, domain_key)
    with pytest.raises(ProcessFailure, match="too large to be a certificate"):
        run(good + b"#" * MAX_CERTIFICATE_FILE)


def test_error_message_is_sanitised(run: Examine) -> None:
    with pytest.raises(ProcessFailure) as raised:
        run(b"-----BEGIN CERTIFICATE-----\n\x1b[2J\n-----END CERTIFICATE-----\n")
    assert "\x1b" not in str(raised.value)


def test_read_error_is_a_clear_failure(run: Examine, channel: Channel, tmp_path: Path) -> None:
    directory = tmp_path / "cert-is-a-directory"
    directory.mkdir()
    ours, theirs = socket.socketpair()
    held = revokeproc.acquire(_spec(str(directory), theirs.detach()))  # opening a directory succeeds
    try:
        with pytest.raises(ProcessFailure, match="cert-is-a-directory"):
            examine(held, RevokeSettings(str(directory), NAMES, False, False), b"", NOW)
    finally:
        _close(held)
        ours.close()


# the verdicts -----------------------------------------------------------------------------------------------


def test_fresh_certificate_is_current(run: Examine, ca, domain_key) -> None:
    content, der = fullchain(ca, domain_key)
    status = run(content)
    assert status.verdict == VERDICT_CURRENT
    assert status.certificate_der == der  # the leaf, the first certificate of the file
    assert "valid until" in status.reason


def test_old_certificate_is_due(run: Examine, ca, domain_key) -> None:
    content, der = fullchain(ca, domain_key, age=timedelta(days=70))
    status = run(content)
    assert status.verdict == VERDICT_DUE
    assert status.certificate_der == der
    assert "renewal is due" in status.reason


def test_expired_certificate_is_due(run: Examine, ca, domain_key) -> None:
    content, _ = fullchain(ca, domain_key, age=timedelta(days=100))
    status = run(content)
    assert status.verdict == VERDICT_DUE
    assert "expired" in status.reason


def test_names_differ_makes_it_due(run: Examine, ca, domain_key) -> None:
    content, _ = fullchain(ca, domain_key, names=("example.com",))
    status = run(content)
    assert status.verdict == VERDICT_DUE
    assert "missing www.example.com" in status.reason


def test_names_compare_case_insensitively_and_deduplicated(run: Examine, ca, domain_key) -> None:
    content, _ = fullchain(ca, domain_key)
    assert run(content, names=("EXAMPLE.com", "www.Example.com", "example.com")).verdict == VERDICT_CURRENT


def test_force_renews_a_current_certificate(run: Examine, ca, domain_key) -> None:
    content, der = fullchain(ca, domain_key)
    status = run(content, force=True)
    assert status.verdict == VERDICT_DUE
    assert status.certificate_der == der
    assert "renewing as -F asks" in status.reason


def test_revoke_hands_over_the_leaf(run: Examine, ca, domain_key) -> None:
    content, der = fullchain(ca, domain_key)
    status = run(content, revoke=True)
    assert status.verdict == VERDICT_REVOKE
    assert status.certificate_der == der
    assert "revoking serial" in status.reason


def test_revoke_wins_over_renewal(run: Examine, ca, domain_key) -> None:
    content, _ = fullchain(ca, domain_key, age=timedelta(days=100))
    assert run(content, revoke=True, force=True).verdict == VERDICT_REVOKE


def test_a_certificate_for_another_key_is_due(run: Examine, ca, domain_key) -> None:
    """Installed by other means (or by a netproc taken over): renewed, however long it is valid."""
    content, _ = fullchain(ca, pki.new_key())
    status = run(content)
    assert status.verdict == VERDICT_DUE
    assert "not for the domain key" in status.reason
    assert run(content, key=b"").verdict == VERDICT_DUE  # no key yet (a check): nothing can be for it


def test_a_certificate_valid_for_a_century_is_due_at_once(run: Examine, ca, domain_key) -> None:
    content, _ = fullchain(ca, domain_key, lifetime=timedelta(days=36500))
    status = run(content)
    assert status.verdict == VERDICT_DUE
    assert "valid for 36500 days, longer than 398" in status.reason


# acquire --------------------------------------------------------------------------------------------------


def _spec(path: str, fd: int) -> ChildSpec:
    """revokeproc in a chain, its channels to netproc and to keyproc both on `fd` (the tests hold the other end)."""
    channels = (("netproc", fd), ("keyproc", os.dup(fd)))
    return ChildSpec("revokeproc", "test", 0, False, channels, RevokeSettings(path, NAMES, False, False))


def _close(held: Held) -> None:
    held.key.close()
    if held.net is not None:
        held.net.close()


def test_acquire_of_a_missing_certificate(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair()
    held = revokeproc.acquire(_spec(str(tmp_path / "none.pem"), theirs.detach()))
    try:
        assert held.contents is None
    finally:
        _close(held)
        ours.close()


def test_acquire_reports_a_file_it_may_not_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    ours, theirs = socket.socketpair()
    monkeypatch.setattr(os, "open", denied)
    held = revokeproc.acquire(_spec(str(tmp_path / "cert.pem"), theirs.detach()))
    try:
        assert held.contents is None
        with pytest.raises(ProcessFailure, match=f"{tmp_path}/cert.pem: Permission denied; run acme-client -F"):
            examine(held, RevokeSettings(str(tmp_path / "cert.pem"), NAMES, False, False), b"", NOW)
        status = examine(held, RevokeSettings(str(tmp_path / "cert.pem"), NAMES, True, False), b"", NOW)
        assert status.verdict == VERDICT_DUE
    finally:
        _close(held)
        ours.close()


def test_a_fifo_in_place_of_the_certificate_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "cert.pem"
    os.mkfifo(fifo)
    ours, theirs = socket.socketpair()
    held = revokeproc.acquire(_spec(str(fifo), theirs.detach()))
    try:
        assert held.contents is None and "not a regular file" in held.unreadable
    finally:
        _close(held)
        ours.close()


# alone: checked before any chain starts, the verdict as exit status --------------------------------------


@pytest.fixture
def keyproc_end() -> Iterator[tuple[Channel, int]]:
    """The test as the keyproc beside a check: its end, and revokeproc's descriptor."""
    ours, theirs = socket.socketpair()
    yield Channel(ours, "revokeproc"), theirs.detach()
    ours.close()


def _alone(path: Path, key_fd: int) -> ChildSpec:
    settings = RevokeSettings(str(path), NAMES, False, False, alone=True)
    return ChildSpec("revokeproc", "test", 0, False, (("keyproc", key_fd),), settings)


@pytest.mark.parametrize(
    ("age", "status"),
    [(timedelta(days=1), EXIT_UNCHANGED), (timedelta(days=80), EXIT_OK)],
    ids=["current", "due"],
)
def test_alone_it_answers_with_its_exit_status(
    tmp_path: Path, ca, domain_key, keyproc_end, age: timedelta, status: int
) -> None:
    path = tmp_path / "fullchain.pem"
    path.write_bytes(fullchain(ca, domain_key, age=age)[0])
    keyproc, fd = keyproc_end
    spec = _alone(path, fd)
    held = revokeproc.acquire(spec)
    assert held.net is None  # no channel to a netproc
    assert revokeproc.grants(spec, held).channels == (fd,)
    keyproc.send(DomainKey(public_key_der(domain_key)))
    assert revokeproc.serve(spec, held) == status


def test_alone_a_certificate_for_another_key_is_due(tmp_path: Path, ca, domain_key, keyproc_end) -> None:
    path = tmp_path / "fullchain.pem"
    path.write_bytes(fullchain(ca, domain_key)[0])  # current, but not for the key keyproc holds
    keyproc, fd = keyproc_end
    spec = _alone(path, fd)
    held = revokeproc.acquire(spec)
    keyproc.send(DomainKey(public_key_der(pki.new_key())))
    assert revokeproc.serve(spec, held) == EXIT_OK


def test_alone_without_a_certificate_it_says_due_without_waiting_for_the_key(tmp_path: Path, keyproc_end) -> None:
    spec = _alone(tmp_path / "gone.pem", keyproc_end[1])  # removed since the parent saw it
    assert revokeproc.serve(spec, revokeproc.acquire(spec)) == EXIT_OK


def test_alone_a_certificate_it_cannot_judge_is_a_failure_not_an_answer(tmp_path: Path, keyproc_end) -> None:
    path = tmp_path / "fullchain.pem"
    path.write_text("not a certificate\n")
    keyproc, fd = keyproc_end
    spec = _alone(path, fd)
    keyproc.send(DomainKey(b""))
    with pytest.raises(ProcessFailure, match="not a PEM certificate; run acme-client -F"):
        revokeproc.serve(spec, revokeproc.acquire(spec))


def test_alone_no_verdict_but_due_or_current_has_an_exit_status() -> None:
    with pytest.raises(ProcessFailure, match="no exit status"):
        revokeproc.verdict_as_status(CertStatus(VERDICT_REVOKE, "revoke", b""))
