"""The parent's gate: at most -j chains run, and the next starts once the last has started up."""

from __future__ import annotations

import os
import selectors
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from acme_conf.proc import process_group, reports, scheduler
from acme_conf.proc.process_group import ProcessGroup
from acme_conf.proc.scheduler import CHAIN_DEADLINE_SECONDS, STARTUP_WAIT_SECONDS, Chain, _next_timeout, _Run, _start_chains
from acme_conf.proc.settings import RunOptions


def chain_for(job: SimpleNamespace, started_at: float) -> Chain:
    read_end, write_end = os.pipe()
    os.close(write_end)  # its children are long gone; the pipe is only read for end of file here
    group = ProcessGroup(job.handle, {}, started_at + CHAIN_DEADLINE_SECONDS)
    return Chain(job, None, group, read_end, started_at)  # type: ignore[arg-type]


def add_running(state: _Run, chain: Chain) -> None:
    """A chain as _start_chains leaves it: running, its start-up pipe watched."""
    state.running.append(chain)
    state.selector.register(chain.startup_fd, selectors.EVENT_READ, chain)  # type: ignore[arg-type]


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Run]:
    """Three waiting jobs, -j 2; starting a chain makes one whose start-up pipe is still open."""
    jobs = [SimpleNamespace(handle=f"d{i}.example") for i in range(3)]
    run = _Run(RunOptions(max_chains=2), (), deque(jobs), {}, checks_over=True)  # type: ignore[arg-type]
    monkeypatch.setattr(scheduler, "_start_or_fail", lambda job, _: chain_for(job, time.monotonic()))
    monkeypatch.setattr(process_group, "watch", lambda selector, group: None)
    # the jobs are handles alone: no directory (preflight.py) or file (access_drift.py) to look at
    monkeypatch.setattr(scheduler, "missing_directories", lambda job: [])
    monkeypatch.setattr(scheduler, "access_drift", lambda job: None)
    yield run
    for chain in run.running:
        chain.close_startup_pipe(run.selector)
    run.selector.close()


def test_one_chain_starts_and_the_next_waits_for_its_start_up(state: _Run) -> None:
    _start_chains(state)
    assert [chain.job.handle for chain in state.running] == ["d0.example"]
    _start_chains(state)
    assert len(state.running) == 1  # d0 is still starting up
    state.running[0].close_startup_pipe(state.selector)
    _start_chains(state)
    assert [chain.job.handle for chain in state.running] == ["d0.example", "d1.example"]
    state.running[1].close_startup_pipe(state.selector)
    _start_chains(state)
    assert len(state.running) == 2  # the bound: d2 waits for a chain to finish
    assert [job.handle for job in state.waiting] == ["d2.example"]


def test_a_chain_slow_to_start_up_holds_the_next_back_only_so_long(state: _Run) -> None:
    add_running(state, chain_for(SimpleNamespace(handle="slow.example"), time.monotonic() - STARTUP_WAIT_SECONDS))
    _start_chains(state)
    assert [chain.job.handle for chain in state.running] == ["slow.example", "d0.example"]


def test_the_parent_sleeps_until_a_starting_chain_stops_holding_the_next_back(state: _Run) -> None:
    add_running(state, chain_for(SimpleNamespace(handle="d0.example"), time.monotonic()))
    timeout = _next_timeout(state, state.groups())
    assert timeout is not None and 0.9 * STARTUP_WAIT_SECONDS < timeout <= STARTUP_WAIT_SECONDS


def test_a_chain_past_its_start_up_wait_does_not_wake_the_parent(state: _Run) -> None:
    # it no longer holds anything back, so waking for it would only spin
    add_running(state, chain_for(SimpleNamespace(handle="d0.example"), time.monotonic() - 2 * STARTUP_WAIT_SECONDS))
    timeout = _next_timeout(state, state.groups())
    assert timeout is not None and timeout > 60  # the chain's own deadline, twenty minutes away


def test_only_an_existing_certificate_is_checked_first(tmp_path: Path) -> None:
    certificate = tmp_path / "example.crt"
    job = SimpleNamespace(certificate=certificate, fullchain=None)
    assert not scheduler.worth_checking_first(job, RunOptions())  # type: ignore[arg-type]  # none yet: issue
    certificate.write_text("")
    assert scheduler.worth_checking_first(job, RunOptions())  # type: ignore[arg-type]
    assert not scheduler.worth_checking_first(job, RunOptions(force=True))  # type: ignore[arg-type]
    assert not scheduler.worth_checking_first(job, RunOptions(revoke=True))  # type: ignore[arg-type]
    only_fullchain = SimpleNamespace(certificate=None, fullchain=certificate)
    assert scheduler.worth_checking_first(only_fullchain, RunOptions())  # type: ignore[arg-type]


def checked(state: _Run, handle: str, code: int, keyproc: int = 0) -> None:
    """A check of `handle` whose revokeproc has exited with `code`, its keyproc with `keyproc`."""
    group = ProcessGroup(
        handle, {"revokeproc": None, "keyproc": None},  # type: ignore[dict-item]
        time.monotonic() + CHAIN_DEADLINE_SECONDS, unchanged_ok=frozenset({"revokeproc"}),
    )
    group.status.update(revokeproc=code, keyproc=keyproc)
    state.checks[handle] = scheduler.Check(SimpleNamespace(handle=handle), group, os.memfd_create("report"), "")  # type: ignore[arg-type]


def test_a_check_decides_whether_its_domain_waits_for_a_chain(state: _Run) -> None:
    state.waiting.clear()
    checked(state, "due.example", 0)
    checked(state, "current.example", 2)
    checked(state, "broken.example", 1)
    scheduler._checks_done(state)
    assert [job.handle for job in state.waiting] == ["due.example"]
    assert state.results["current.example"] == reports.ChainResult("current.example", False, False, reason="certificate current")
    assert state.results["broken.example"] == reports.ChainResult("broken.example", True, False, reason="its check failed")
    assert state.checks == {}


def test_a_check_whose_keyproc_failed_fails_its_domain_whatever_revokeproc_said(state: _Run) -> None:
    state.waiting.clear()
    checked(state, "due.example", 0, keyproc=1)
    checked(state, "current.example", 2, keyproc=1)
    scheduler._checks_done(state)
    assert not state.waiting
    assert state.results["due.example"].failed and state.results["current.example"].failed


def test_a_check_that_finds_renewal_due_after_an_interrupt_starts_nothing(state: _Run) -> None:
    state.waiting.clear()
    state.stopping = True
    checked(state, "due.example", 0)
    scheduler._checks_done(state)
    assert not state.waiting
    assert state.results["due.example"].failed  # interrupted before it could renew
