"""How the last run ended for a domain, kept in its state file (state.LastRun): typed, checked, and optional."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acme_conf.proc.reports import ChainResult, keep_last_runs, summary_line
from acme_conf.state import DomainState, LastRun, last_run_ended, load_state, save_state

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def test_a_last_run_is_written_and_read_back(tmp_path: Path) -> None:
    last = LastRun(NOW, "failed", "netproc: order https://ca/order/1: invalid", NOW - timedelta(days=1))
    save_state(tmp_path, "example.com", DomainState(last_run=last))
    assert load_state(tmp_path, "example.com") == DomainState(last_run=last)


def test_a_state_file_from_before_last_runs_were_kept_still_loads(tmp_path: Path) -> None:
    (tmp_path / "example.com.json").write_text('{"backoff_until": null, "renewal": null, "certificate": null}')
    assert load_state(tmp_path, "example.com") == DomainState()


@pytest.mark.parametrize(
    "record",
    [
        "yesterday", {"at": "2026-12-07T12:00:00+00:00", "outcome": "renewed", "reason": ""},
        {"at": "2026-12-07T12:00:00", "outcome": "changed", "reason": ""},
        {"at": "2026-12-07T12:00:00+00:00", "outcome": "changed", "reason": "line\nforged"},
        {"at": "2026-12-07T12:00:00+00:00", "outcome": "changed", "reason": "\x1b[2J"},
        {"at": "2026-12-07T12:00:00+00:00", "outcome": "changed", "reason": "x" * 700},
        {"at": "2026-12-07T12:00:00+00:00", "outcome": "changed", "reason": 5},
        {"at": "2026-12-07T12:00:00+00:00", "outcome": "failed", "reason": "", "last_success": "never"},
    ],
)
def test_a_last_run_that_makes_no_sense_is_said_with_its_file_and_costs_only_itself(tmp_path: Path, record: object, caplog) -> None:
    path = tmp_path / "example.com.json"
    until = datetime.now(timezone.utc) + timedelta(hours=1)
    path.write_text(json.dumps({"backoff_until": until.isoformat(), "last_run": record}))
    with caplog.at_level(logging.WARNING, "acme_conf"):
        kept = load_state(tmp_path, "example.com")
    assert kept.last_run is None
    assert kept.backoff_until == until  # what else the file keeps stays
    assert f"state file {path}: its last run is ignored (last_run" in caplog.text


def test_a_failure_keeps_the_last_success() -> None:
    first = last_run_ended(None, "changed", "no certificate yet", NOW)
    assert first == LastRun(NOW, "changed", "no certificate yet", NOW)
    later = NOW + timedelta(hours=12)
    failed = last_run_ended(first, "failed", "netproc: \x1b[31mno", later)
    assert failed == LastRun(later, "failed", "netproc: \\x1b[31mno", NOW)  # printable, and the success kept
    assert last_run_ended(None, "failed", "", later).last_success is None
    long = last_run_ended(None, "failed", "y" * 1000, later)
    assert long.reason.endswith("...") and LastRun is type(long)
    with pytest.raises(ValueError):
        last_run_ended(None, "renewed", "", NOW)


def test_a_cut_reason_reads_back(tmp_path: Path) -> None:
    long = last_run_ended(None, "failed", "y" * 1000, NOW)
    save_state(tmp_path, "example.com", DomainState(last_run=long))
    assert load_state(tmp_path, "example.com").last_run == long


def test_each_result_is_kept_with_what_else_is_kept(tmp_path: Path) -> None:
    # a back-off kept in the file after this run read it (another run's): it stays
    save_state(tmp_path, "a.example", DomainState(backoff_until=NOW + timedelta(days=1)))
    results = [ChainResult("a.example", True, False, reason="the CA asked"), ChainResult("b.example", False, True, reason="new")]
    keep_last_runs(tmp_path, results)
    a, b = load_state(tmp_path, "a.example"), load_state(tmp_path, "b.example")
    assert a.backoff_until == NOW + timedelta(days=1) and a.last_run is not None and a.last_run.outcome == "failed"
    assert a.last_run.reason == "the CA asked" and a.last_run.last_success is None
    assert b.last_run is not None and (b.last_run.outcome, b.last_run.reason) == ("changed", "new")
    assert b.last_run.last_success == b.last_run.at


def test_the_summary_line_says_what_became_of_a_domain_and_why() -> None:
    done = "certificate updated"
    assert summary_line(ChainResult("a", False, True, reason="/c: no certificate yet"), done) == "a: certificate updated (/c: no certificate yet)"
    assert summary_line(ChainResult("a", False, False, reason="/c: valid"), done) == "a: nothing to do (/c: valid)"
    assert summary_line(ChainResult("a", True, False, reason="netproc: refused"), done) == "a: failed (netproc: refused)"
    assert summary_line(ChainResult("a", True, False), done) == "a: failed"
    assert [ChainResult("a", *flags).outcome for flags in ((True, False), (False, True), (False, False))] == [
        "failed", "changed", "unchanged"]
