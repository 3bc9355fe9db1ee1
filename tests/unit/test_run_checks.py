"""The parent's first step: a check (revokeproc, and a keyproc beside it) per certificate, its exit status the verdict.

Real processes stand in for revokeproc (`sh -c 'exit N'`, or `sleep` for
one that hangs) and for keyproc (`true`); the shared processes and chains
are only recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from acme_conf.config.plan import FileAccess
from acme_conf.proc import reports, scheduler, spawner
from acme_conf.proc.scheduler import _run_chains
from acme_conf.proc.settings import RunOptions
from acme_conf.proc.spec import ChildSpec

HANG = -1  # the stand-in revokeproc sleeps instead of answering
DUE_WHEN_STOPPED = -2  # it sleeps, and answers "due" when the parent stops it


class Recorder:
    def __init__(self) -> None:
        self.checked: list[str] = []
        self.services_for: list[list[str]] | None = None
        self.chains: list[str] = []


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    record = Recorder()

    def start_services(state: scheduler._Run, jobs: list[SimpleNamespace]) -> None:
        assert not state.checking, "the shared processes start only once every check is over"
        record.services_for = [job.handle for job in jobs]

    def start_chains(state: scheduler._Run) -> None:
        while state.checks_over and state.waiting:
            job = state.waiting.popleft()
            record.chains.append(job.handle)
            state.results[job.handle] = reports.ChainResult(job.handle, False, True)

    monkeypatch.setattr(scheduler, "_start_services", start_services)
    monkeypatch.setattr(scheduler, "_start_chains", start_chains)
    return record


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> Iterator[dict[str, int]]:
    """handle -> the stand-in revokeproc's exit status (HANG: it never answers); absent: it cannot start."""
    codes: dict[str, int] = {}

    def spawn(spec: ChildSpec, import_path: tuple[str, ...]) -> subprocess.Popen[bytes]:
        if spec.role == "keyproc":  # beside the check: tells the key, creates nothing
            assert spec.settings.public_only and [peer for peer, _ in spec.channels] == ["revokeproc"]
            return subprocess.Popen(["true"], stderr=subprocess.PIPE)
        assert spec.role == "revokeproc" and spec.settings.alone
        assert [peer for peer, _ in spec.channels] == ["keyproc"]  # and no netproc
        recorder.checked.append(spec.handle)
        if spec.handle not in codes:
            raise OSError(24, "Too many open files")
        argv = {
            HANG: ["sleep", "30"],
            DUE_WHEN_STOPPED: ["sh", "-c", "trap 'exit 0' TERM; sleep 30 & wait"],
        }.get(codes[spec.handle], ["sh", "-c", f"exit {codes[spec.handle]}"])
        # the parent spawns with SIGTERM held; a real child unblocks it first thing, as this one must
        return subprocess.Popen(
            argv, stderr=subprocess.PIPE, preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, [])
        )

    monkeypatch.setattr(spawner, "spawn", spawn)
    yield codes


def job(tmp_path: Path, handle: str, *, certificate: bool = True) -> SimpleNamespace:
    path = tmp_path / f"{handle}.crt"
    if certificate:
        path.write_text("a certificate\n")
    return SimpleNamespace(
        handle=handle, certificate=path, fullchain=None, names=(handle,), domain_key=tmp_path / f"{handle}.key",
        keytype=SimpleNamespace(value="ecdsa"), key_size=None, renewal_information=True,
        authority=SimpleNamespace(account_key=tmp_path / "account.key"), chain=None, uses_challengedir=False,
        access=lambda output: FileAccess(), combined=None,
    )


Run = Callable[..., dict[str, reports.ChainResult]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    def run(*jobs: SimpleNamespace, **options: object) -> dict[str, reports.ChainResult]:
        results, services_failed = _run_chains(jobs, RunOptions(max_chains=2, **options), (), state_dir=tmp_path / "state")  # type: ignore[arg-type]
        assert not services_failed
        return {result.handle: result for result in results}

    return run


def test_each_verdict_decides_its_domain_alone(tmp_path: Path, answers: dict[str, int], recorder: Recorder, run: Run):
    answers.update({"current": 2, "due": 0, "broken": 1})
    results = run(*(job(tmp_path, handle) for handle in answers), job(tmp_path, "new", certificate=False))

    assert sorted(recorder.checked) == ["broken", "current", "due"]  # "new" has nothing to check
    assert recorder.services_for == ["new", "due"]
    assert recorder.chains == ["new", "due"]
    assert (results["current"].failed, results["current"].changed) == (False, False)
    assert results["broken"].failed
    assert results["due"].changed and results["new"].changed


def test_nothing_else_starts_when_nothing_is_due(tmp_path: Path, answers: dict[str, int], recorder: Recorder, run: Run):
    answers.update({"one": 2, "two": 2, "three": 2})
    results = run(*(job(tmp_path, handle) for handle in answers))
    assert recorder.services_for is None and recorder.chains == []  # the run ended with the checks
    assert not any(result.failed or result.changed for result in results.values())


def test_a_check_that_cannot_start_fails_its_domain_alone(tmp_path: Path, answers: dict[str, int], run: Run):
    answers.update({"due": 0})
    results = run(job(tmp_path, "unstartable"), job(tmp_path, "due"))
    assert results["unstartable"].failed
    assert results["due"].changed


def test_force_and_revoke_check_nothing(tmp_path: Path, answers: dict[str, int], recorder: Recorder, run: Run):
    run(job(tmp_path, "forced"), force=True)
    run(job(tmp_path, "revoked"), revoke=True)
    assert recorder.checked == []
    assert recorder.chains == ["forced", "revoked"]


def test_a_check_that_hangs_is_stopped_at_its_deadline(
    tmp_path: Path, answers: dict[str, int], recorder: Recorder, run: Run, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(scheduler, "CHECK_DEADLINE_SECONDS", 0.3)
    answers.update({"stuck": HANG, "due": 0})
    results = run(job(tmp_path, "stuck"), job(tmp_path, "due"))
    assert results["stuck"].failed
    assert recorder.chains == ["due"]  # the others went on once it was stopped


def test_sigterm_during_the_checks_starts_nothing(tmp_path: Path, answers: dict[str, int], recorder: Recorder, run: Run):
    answers.update({"due": 0, "slow": HANG, "late": DUE_WHEN_STOPPED, "waiting": 0})
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        results = run(*(job(tmp_path, handle) for handle in answers))
    finally:
        timer.cancel()
    assert recorder.services_for is None and recorder.chains == []
    assert recorder.checked == ["due", "slow", "late"]  # -j 2: "waiting" never got its turn
    assert all(result.failed for result in results.values())  # "due" and "late" were due, but the run was stopped


@pytest.mark.parametrize(("options", "held"), [(RunOptions(), True), (RunOptions(account_action="deactivate"), False),
                                               (RunOptions(account_action="records"), False), (RunOptions(revoke=True), False)])
def test_a_kept_back_off_holds_back_only_what_orders(tmp_path: Path, options: RunOptions, held: bool) -> None:
    """A domain's back-off keeps its orders from the CA; -D, -k, -P and -r order nothing and go ahead."""
    from collections import deque
    from datetime import datetime, timedelta, timezone

    from acme_conf.state import DomainState

    domain = job(tmp_path, "held.example")
    state = scheduler._Run(options, (), deque([domain]), {}, state_dir=tmp_path)
    state.kept = {"held.example": DomainState(backoff_until=datetime.now(timezone.utc) + timedelta(hours=3))}
    scheduler._hold_back(state)
    assert (domain not in state.waiting) is held
    assert ("held.example" in state.results) is held
