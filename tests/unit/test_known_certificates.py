"""The no-op run's shortcut: a file the parent recognises is judged from what a check's revokeproc found in it.

What revokeproc reports (certificate_record) is read back by the parent
(state.known_reported) as a KnownCertificate, kept in the domain's state
file, and trusted (known_certificates.known_current) only while the file's
hash and the parent's note of the domain key are unchanged; the renewal
rules are applied to it as revokeproc applies them.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509

from acme_conf.keys import public_key_der
from acme_conf.proc import revokeproc
from acme_conf.proc.known_certificates import key_identity, known_current
from acme_conf.proc.reports import ChainResult, keep_state
from acme_conf.proc.revokeproc import Held, certificate_record, examine_and_keep, read_certificate_file
from acme_conf.proc.spec import RevokeSettings
from acme_conf.state import DomainState, KeptRenewal, KnownCertificate, known_reported, load_state, save_state

import pki
from test_spec_settings import JOB

NAMES = ("example.com", "www.example.com")
NOW = datetime.now(timezone.utc)  # known_current judges at the time given; the files are made for now


@pytest.fixture(scope="module")
def ca() -> pki.Authority:
    return pki.root_authority().issue_ca("Intermediate")


@pytest.fixture(scope="module")
def domain_key():
    return pki.new_key()


def write_leaf(path: Path, ca: pki.Authority, key, *, names=NAMES, age=timedelta(days=1), lifetime=timedelta(days=90)) -> None:
    named = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())  # so that ARI can name it
    leaf = ca.issue_leaf(key.public_key(), names, not_before=NOW - age, not_after=NOW - age + lifetime, extra_extensions=(named,))
    path.write_bytes(pki.pem(leaf, ca.certificate))


@pytest.fixture
def job(tmp_path: Path, ca: pki.Authority, domain_key):
    key = tmp_path / "domain.key"
    key.write_text("the parent never reads this\n")
    chain = tmp_path / "fullchain.pem"
    write_leaf(chain, ca, domain_key)
    return replace(JOB, names=NAMES, domain_key=key, cert_dir=tmp_path, certificate=None, chain=None, fullchain=chain)


def judged(job, domain_key, *, told: bytes | None = None) -> KnownCertificate:
    """What a check's revokeproc reports of the job's file, as the parent reads it back."""
    path = str(job.fullchain)
    contents = read_certificate_file(path)
    ours, theirs = socket.socketpair()
    try:
        held = Held(None, None, contents, "", revokeproc.load_judge(), revokeproc.hashlib.sha256(contents).hexdigest())
        told = public_key_der(domain_key) if told is None else told
        _, examined = examine_and_keep(held, RevokeSettings(path, job.names, False, False, alone=True), told, NOW)  # type: ignore[arg-type]
    finally:
        ours.close()
        theirs.close()
    assert examined is not None
    line = json.dumps({"certificate": certificate_record(examined, held.digest)}).encode() + b"\n"
    known = known_reported(b'{"noise": 1}\n' + line, key_identity(job))
    assert known is not None
    return known


def test_what_revokeproc_reports_is_read_back_whole_and_kept(job, domain_key, tmp_path: Path) -> None:
    known = judged(job, domain_key)
    assert known.names == NAMES and known.key_matches and known.certificate_id
    assert known.not_after - known.not_before == timedelta(days=90)
    save_state(tmp_path / "state", job.handle, DomainState(certificate=known))
    assert load_state(tmp_path / "state", job.handle).certificate == known


def asked(known: KnownCertificate) -> DomainState:
    """The state after the CA's renewal information was asked about it: nothing to ask for six hours."""
    return DomainState(renewal=KeptRenewal(known.certificate_id, NOW + timedelta(hours=6)), certificate=known)


def test_a_recognised_current_file_needs_no_process(job, domain_key) -> None:
    kept = asked(judged(job, domain_key))
    reason = known_current(job, kept, NOW)
    assert reason is not None and "renewal due from" in reason and str(job.fullchain) in reason


def test_a_file_changed_by_one_byte_is_not_recognised(job, domain_key) -> None:
    kept = asked(judged(job, domain_key))
    assert known_current(job, kept, NOW) is not None
    with open(job.fullchain, "ab") as file:
        file.write(b"\n")
    assert known_current(job, kept, NOW) is None


def test_a_file_replaced_by_another_certificate_is_not_recognised(job, domain_key, ca) -> None:
    kept = asked(judged(job, domain_key))
    assert known_current(job, kept, NOW) is not None
    write_leaf(job.fullchain, ca, domain_key)  # another serial, the same names and key
    assert known_current(job, kept, NOW) is None


def test_a_key_file_rewritten_or_configured_otherwise_voids_the_record(job, domain_key) -> None:
    kept = asked(judged(job, domain_key))
    assert known_current(job, kept, NOW) is not None
    assert known_current(replace(job, key_size=256), kept, NOW) is None  # configured otherwise
    os.utime(job.domain_key, ns=(1, 1))  # a key restored from a backup: its times change
    assert known_current(job, kept, NOW) is None


def test_a_certificate_for_another_key_is_never_current(job, domain_key) -> None:
    kept = DomainState(certificate=judged(job, domain_key, told=public_key_der(pki.new_key())))
    assert not kept.certificate.key_matches  # type: ignore[union-attr]
    assert known_current(job, kept, NOW) is None


def test_names_configured_otherwise_are_due(job, domain_key) -> None:
    kept = asked(judged(job, domain_key))
    assert known_current(job, kept, NOW) is not None
    assert known_current(replace(job, names=(*NAMES, "new.example.com")), kept, NOW) is None


def test_the_lifetime_rule_applies_to_the_kept_dates_on_every_run(job, domain_key) -> None:
    kept = DomainState(certificate=judged(job, domain_key))
    job = replace(job, renewal_information=False)  # nothing to ask the CA: the lifetime rule alone
    assert known_current(job, kept, NOW + timedelta(days=58)) is not None
    assert known_current(job, kept, NOW + timedelta(days=60)) is None  # a third of 90 days left


def test_a_record_claiming_a_lifetime_over_398_days_is_due(job, domain_key) -> None:
    known = judged(job, domain_key)
    kept = DomainState(certificate=replace(known, not_after=known.not_before + timedelta(days=3650)))
    assert known_current(job, kept, NOW) is None


def test_the_kept_renewal_moment_and_the_time_to_ask_are_honoured(job, domain_key) -> None:
    known = judged(job, domain_key)
    later = NOW + timedelta(hours=6)
    window = (NOW + timedelta(days=50), NOW + timedelta(days=55))
    asked = KeptRenewal(known.certificate_id, later, window, window[0])
    assert known_current(job, DomainState(renewal=asked, certificate=known), NOW) is not None
    assert known_current(job, DomainState(certificate=known), NOW) is None  # nothing kept: ask the CA
    past = KeptRenewal(known.certificate_id, later, (NOW - timedelta(days=1), later), NOW - timedelta(hours=1))
    assert known_current(job, DomainState(renewal=past, certificate=known), NOW) is None  # the moment has come
    assert known_current(job, DomainState(renewal=asked, certificate=known), later) is None  # time to ask again
    other = KeptRenewal("b3RoZXI.AQ", later, window, NOW - timedelta(hours=1))  # drawn for another certificate
    assert known_current(job, DomainState(renewal=other, certificate=known), NOW) is None  # so: ask about this one
    ignored = replace(job, renewal_information=False)
    assert known_current(ignored, DomainState(certificate=known), NOW) is not None


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "0" * 63},
        {"sha256": "G" * 64},
        {"names": "example.com"},
        {"names": ["example.com", "bad name"]},
        {"names": ["x" * 256]},
        {"names": ["é.example"]},
        {"key_matches": "yes"},
        {"id": "not an identifier"},
        {"not_before": None},
        {"not_after": "2026-01-01T00:00:00"},  # no offset
        {"not_before": "2030-01-01T00:00:00+00:00"},  # after not_after
    ],
)
def test_a_report_that_makes_no_sense_is_not_kept(job, domain_key, change: dict[str, object]) -> None:
    known = judged(job, domain_key)
    record = {
        "sha256": known.sha256, "not_before": known.not_before.isoformat(), "not_after": known.not_after.isoformat(),
        "names": list(known.names), "key_matches": True, "id": known.certificate_id,
    }
    assert known_reported(json.dumps({"certificate": record}).encode(), "key") is not None
    assert known_reported(json.dumps({"certificate": {**record, **change}}).encode(), "key") is None


def test_a_corrupt_record_in_the_state_file_is_a_warning_and_rebuilt(tmp_path: Path, caplog) -> None:
    (tmp_path / "example.com.json").write_text(json.dumps({"certificate": {"sha256": "x", "key": "k"}}))
    assert load_state(tmp_path, "example.com") == DomainState()
    assert "corrupt" in caplog.text


def test_a_chain_that_installs_a_certificate_forgets_what_was_known_of_the_last(job, domain_key, tmp_path: Path) -> None:
    known = judged(job, domain_key)
    kept = DomainState(certificate=known)
    keep_state(job.handle, b"", ChainResult(job.handle, failed=True, changed=False), tmp_path, kept)
    assert load_state(tmp_path, job.handle) == kept or not (tmp_path / f"{job.handle}.json").exists()  # unchanged
    keep_state(job.handle, b"", ChainResult(job.handle, failed=False, changed=True), tmp_path, kept)
    assert load_state(tmp_path, job.handle).certificate is None
