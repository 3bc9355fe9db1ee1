"""What a finished chain leaves: its result, and what the parent keeps of netproc's report for the next run.

The report is netproc's, so anything: only checked, typed values are kept
(acme_conf/state.py): a back-off the CA asked for, its renewal advice; -P's
records are printed only when they are the ones expected of the domain.
At the end of a run every domain's result becomes its summary line and
its kept last run (state.LastRun), which the status view shows.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from acme_conf.config.plan import DomainJob
from acme_conf.acme.renewal_info import DEFAULT_CHECK_INTERVAL
from acme_conf.acme.persist import expected_record
from acme_conf.state import (
    report_records,
    DomainState,
    KeptRenewal,
    backoff_reported,
    last_run_ended,
    load_state,
    renewal_reported,
    save_state,
)

log = logging.getLogger("acme_conf")


@dataclass(frozen=True)
class ChainResult:
    handle: str
    failed: bool
    changed: bool
    failed_shared: tuple[str, ...] = ()  # the shared processes serving it that failed (their names)
    reason: str = ""  # why, in one sanitised line, for the summary, the status view and the run's hook; "": not known

    @property
    def outcome(self) -> str:
        """"changed", "unchanged" or "failed" (state.OUTCOMES)."""
        return "failed" if self.failed else "changed" if self.changed else "unchanged"


def summary_line(result: ChainResult, done: str) -> str:
    """The domain's last line of a run: what became of it (`done` when it changed), and why."""
    outcome = "failed" if result.failed else done if result.changed else "nothing to do"
    return f"{result.handle}: {outcome} ({result.reason})" if result.reason else f"{result.handle}: {outcome}"


def keep_last_runs(directory: Path, results: Sequence[ChainResult]) -> None:
    """Keep how the run ended for each domain in its state file, with what else is kept of it.

    The file is read again first: what this run kept is in it, and so is
    what another run kept since this one started (a back-off, the CA's
    renewal advice), which a copy read at the start would overwrite.
    """
    now = datetime.now(timezone.utc)
    for result in results:
        state = load_state(directory, result.handle)
        last = last_run_ended(state.last_run, result.outcome, result.reason, now)
        save_state(directory, result.handle, replace(state, last_run=last))


def keep_state(
    handle: str, report: bytes, result: ChainResult, directory: Path, kept: DomainState, revoked: bool = False
) -> DomainState:
    """Keep what netproc reported for the next run: a back-off, the CA's renewal advice; what is kept now.

    An old back-off is forgotten once the CA answered; the renewal advice
    kept so far stays unless netproc reported newer (it is for the
    certificate it names: revokeproc ignores it once that one is replaced).
    A certificate just installed is not asked about before
    DEFAULT_CHECK_INTERVAL has passed: its window is weeks away; one
    `revoked` and removed leaves nothing to ask about.
    """
    now = datetime.now(timezone.utc)
    until = backoff_reported(report, now)
    renewal = renewal_reported(report, now) or kept.renewal
    if result.changed:
        renewal = None if revoked else KeptRenewal("", now + DEFAULT_CHECK_INTERVAL)
    if until is not None:
        log.error("%s: the CA asked for no requests until %s: runs before then ask nothing", handle, utc(until))
    elif not result.failed:
        until = None  # the CA answered: an old back-off is over
    else:
        until = kept.backoff_until
    # a certificate installed is a file the next run has not seen: what was known of the last one goes
    new = replace(kept, backoff_until=until, renewal=renewal, certificate=None if result.changed else kept.certificate)
    if new != kept:
        save_state(directory, handle, new)
    return new


def print_records(report: bytes, job: DomainJob) -> None:
    """-P: the dns-persist-01 records netproc reported for `job`, on standard output: only the ones expected of it."""
    for record in report_records(report):
        line = record.get("record")
        if expected_record(line, job.names, job.authority.api_url):
            sys.stdout.write(f"{line}\n")
        else:
            log.error("%s: netproc reported a record that is not one for this domain and its CA: not printed", job.handle)
    sys.stdout.flush()


def utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
