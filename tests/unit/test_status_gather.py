"""What the status view trusts (status_view.gather): a kept record only while it vouches for the file as it is
now and for the same domain key; anything else goes to a check.  And why a domain failed, as the parent
keeps it: a failing child's last line, sanitised, never raw."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acme_conf.proc import status_view
from acme_conf.proc.known_certificates import key_identity
from acme_conf.proc.scheduler import _run_chains
from acme_conf.proc.settings import RunOptions
from acme_conf.state import DomainState, KnownCertificate, load_state, save_state

from hostile_check import checked_job
from test_spec_settings import JOB

NOW = datetime.now(timezone.utc)


@pytest.fixture
def job(tmp_path: Path):
    certificate = tmp_path / "example.com.crt"
    certificate.write_text("the bytes a check judged\n")
    key = tmp_path / "example.com.key"
    key.write_text("a key the parent never reads\n")
    return replace(JOB, names=("example.com",), domain_key=key, certificate=certificate, fullchain=None)


def kept_record(job) -> DomainState:
    digest = hashlib.sha256(job.certificate.read_bytes()).hexdigest()
    known = KnownCertificate(digest, NOW - timedelta(days=1), NOW + timedelta(days=89), ("example.com",), True, "", key_identity(job))
    return DomainState(certificate=known)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The handles sent to a check (scheduler.judge), which here keeps nothing new."""
    sent: list[str] = []

    def judge(jobs, options, state_dir):
        sent.extend(job.handle for job in jobs)
        return {job.handle: load_state(state_dir, job.handle) for job in jobs}, {job.handle: "revokeproc: why" for job in jobs}

    monkeypatch.setattr(status_view, "judge", judge)
    return sent


def test_a_record_that_vouches_for_the_file_needs_no_check(job, tmp_path: Path, checks: list[str]) -> None:
    save_state(tmp_path / "state", job.handle, kept_record(job))
    (status,) = status_view.gather([job], RunOptions(), tmp_path / "state", NOW)
    assert checks == [] and status.known is not None and status.outlook.rule == "lifetime" and not status.outlook.due


def test_a_file_changed_since_its_record_is_checked_again(job, tmp_path: Path, checks: list[str]) -> None:
    save_state(tmp_path / "state", job.handle, kept_record(job))
    job.certificate.write_text("other bytes, the same size\n")
    (status,) = status_view.gather([job], RunOptions(), tmp_path / "state", NOW)
    assert checks == [job.handle]
    assert status.known is None and status.outlook.rule == "unjudged" and status.outlook.reason.endswith(": revokeproc: why")


def test_a_domain_key_replaced_since_the_record_is_checked_again(job, tmp_path: Path, checks: list[str]) -> None:
    save_state(tmp_path / "state", job.handle, kept_record(job))
    job.domain_key.unlink()
    job.domain_key.write_text("another key\n")
    (status,) = status_view.gather([job], RunOptions(), tmp_path / "state", NOW)
    assert checks == [job.handle] and status.outlook.rule == "unjudged"


def test_a_missing_file_needs_no_check(job, tmp_path: Path, checks: list[str]) -> None:
    job.certificate.unlink()
    (status,) = status_view.gather([job], RunOptions(), tmp_path / "state", NOW)
    assert checks == [] and status.outlook.rule == "missing" and status.outlook.due


FORGED = b"\x1b[2J\x1b]0;pwned\x07acme-client: example.com: certificate updated\n"


def test_why_a_check_failed_is_its_last_line_sanitised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the parent's real loop: a check's revokeproc that fails with a forged, hostile line."""
    job = checked_job(
        tmp_path, monkeypatch,
        f"import os, sys\nos.write(2, b'first\\n' + {FORGED!r} + b'nothing imported after the jail\\n')\nsys.exit(1)\n",
    )
    (result,), _ = _run_chains([job], RunOptions(), (), state_dir=tmp_path / "state")  # type: ignore[list-item]
    assert result.failed
    assert result.reason == "revokeproc: \\x1b[2J\\x1b]0;pwned\\x07acme-client: example.com: certificate updated"
    last = load_state(tmp_path / "state", "example.com").last_run
    assert last is not None and (last.outcome, last.reason) == ("failed", result.reason)
