"""The parent's run: what starts when, and what the run's exit status is.

First, for each domain whose certificate exists, a check (a revokeproc told
the domain key by a keyproc beside it) says with its exit status whether
renewal is due; most runs end there.  Then, for the domains due, the
processes a run shares start (spawner.py): each authority's dnsproc and
acctproc, each challenge directory's chngproc (or the responder or hook in
its place), with a channel for every domain they serve.  Then, for each of
those domains, up to -j at a time, it takes the domain's lock and starts the
chain's five children (four while there is no certificate file: no
revokeproc), and reaps them all (process_group.py).  It never
touches a key, the network, or anything the CA sent.

When a child fails, the rest of its chain is asked to stop (SIGTERM: they
clean up) and killed after a grace period, so no process outlives the run.
When the last chain is over, the shared processes see their channels close
and exit.

Exit status of a run: 1 if any chain failed, else 0 if any certificate
changed, else 2; then the run hooks (run_hook.py) run, and one that fails
makes it 1.  Each domain ends with one summary line (changed,
unchanged or failed, and why: reports.summary_line), and how it ended is
kept in its state file for the status view (status_view.py), which runs the
checks alone (judge).
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import time
from collections import deque
from datetime import datetime, timezone
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import NamedTuple

from acme_conf.config.plan import DomainJob
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_FAILED, EXIT_OK, EXIT_PEER_GONE, EXIT_UNCHANGED
from acme_conf.proc.accounts import forget_previous_key, move_account_key_aside, with_kept_previous_keys
from acme_conf.state import (
    MAX_REPORT,
    DomainState,
    KnownCertificate,
    account_current_reported,
    known_reported,
    load_state,
    save_state,
    state_directory,
)
from acme_conf.proc.known_certificates import key_identity, known_current
from acme_conf.proc.locks import DomainLock, lock_directory
from acme_conf.proc.signals import signals_held
from acme_conf.proc.spec import DEACTIVATE, RECORDS, ROLLOVER
from acme_conf.proc.process_group import (
    ChildExit,
    ChildSpeech,
    GRACE_SECONDS,
    NO_DEADLINE,
    ProcessGroup,
    watch,
)
from acme_conf.proc.access_drift import access_drift
from acme_conf.proc.preflight import missing_directories
from acme_conf.proc.progress import LiveCount, live_count
from acme_conf.proc.renewal_outlook import judged
from acme_conf.proc.reports import ChainResult, keep_last_runs, keep_state, print_records, summary_line, utc
from acme_conf.proc.run_hook import run_hooks_after
from acme_conf.proc.run_log import NOTICE
from acme_conf.proc.settings import (
    SHARED_ROLES,
    RunOptions,
    inspected_certificate,
    job_roles,
    shared_name,
    shared_plans,
    shared_roles,
    shared_settings,
)
from acme_conf.proc.spawner import (
    ChainEnd,
    SharedServices,
    allow_descriptors,
    child_import_path,
    memfd,
    shared_links,
    spawn_chain,
    spawn_check,
    spawn_services,
    sweep_challenges,
)

log = logging.getLogger("acme_conf")

# What a run with -D or -k says of the one domain whose chain carried it.
ACCOUNT_DONE = {DEACTIVATE: "account deactivated", ROLLOVER: "account key changed", RECORDS: "records printed"}
# A chain that runs longer is stopped: the CA's polls give up after 10
# minutes, so this only ends a hang (a CA that trickles bytes, say), and
# frees the domain's lock for the next run.
CHAIN_DEADLINE_SECONDS = 20 * 60.0
# The next chain starts only when the last one has started up: its children
# have imported, loaded their keys and entered their jails.  Start-up is
# nearly all CPU, the protocol that follows mostly waits for the CA, so
# chains that start one after another overlap work with waiting instead of
# all waiting at once.  A chain slower than this to start up (an RSA key
# being generated, a slow disk) no longer holds the next one back.
STARTUP_WAIT_SECONDS = 1.0
# A check reads one file of at most 1 MB and parses it: it takes a tenth of
# a second.  Every chain waits until all checks are over, so one that hangs
# (a stuck disk, a certificate crafted to take a revokeproc over) is stopped
# long before a chain's deadline.
CHECK_DEADLINE_SECONDS = 60.0


class _Stop(Exception):
    """The parent itself was asked to stop."""


@dataclass
class Chain:
    """The processes of one domain job while they run."""

    job: DomainJob
    lock: DomainLock
    group: ProcessGroup
    startup_fd: int | None  # read end of the start-up pipe (see spawn_chain); None once it has closed
    started_at: float
    report_fd: int = -1  # netproc's report to the parent (a memfd), read once the chain is done

    def starting(self, now: float) -> bool:
        """Still starting up, and not for longer than the next chain waits for it."""
        return self.startup_fd is not None and now < self.startup_until

    @property
    def startup_until(self) -> float:
        return self.started_at + STARTUP_WAIT_SECONDS

    def close_startup_pipe(self, selector: selectors.BaseSelector) -> None:
        if self.startup_fd is None:
            return
        selector.unregister(self.startup_fd)
        os.close(self.startup_fd)
        self.startup_fd = None

    def take_report(self) -> bytes:
        """What netproc reported to the parent (acme_conf/state.py reads it), once; b"" when there is none."""
        if self.report_fd < 0:
            return b""
        report = os.pread(self.report_fd, MAX_REPORT, 0)
        os.close(self.report_fd)
        self.report_fd = -1
        return report

    def result(self, failure: str, due: str) -> ChainResult:
        """The chain's result; why: `failure` (what its first failing child said), else `due` (why it was renewed)."""
        failed = self.group.failed
        changed = not failed and self.group.status.get("fileproc") == EXIT_OK
        return ChainResult(self.job.handle, failed, changed, reason=failure if failed else due if changed else "")


def run(jobs: Sequence[DomainJob], options: RunOptions) -> int:
    """Run every job's chain, at most `options.max_chains` at once; the run's exit status."""
    state_dir = state_directory()
    try:
        import_path = child_import_path()
        if options.account_action == ROLLOVER:
            move_account_key_aside(jobs[0].authority, state_dir)
    except ProcessFailure as error:
        log.error("%s", error)
        return EXIT_FAILED
    jobs, kept_previous = with_kept_previous_keys(jobs, state_dir)
    with live_count(len(jobs)) as count:  # a count of the domains done, on a terminal only
        results, services_failed = _run_chains(
            jobs, options, import_path, state_dir=state_dir, kept_previous=kept_previous, count=count
        )
    done = ACCOUNT_DONE.get(options.account_action, "certificate revoked and removed" if options.revoke else "certificate updated")
    for result in results:
        # a domain that changed or failed always says so; one with nothing to do only with -v, so
        # that a cron run with nothing to do mails nothing (acme-client -l shows every domain)
        level = logging.ERROR if result.failed else NOTICE if result.changed else logging.INFO
        log.log(level, "%s", summary_line(result, done))  # syslog's severity: err, notice, info
    if services_failed or any(result.failed for result in results):
        status = EXIT_FAILED
    else:
        status = EXIT_OK if any(result.changed for result in results) else EXIT_UNCHANGED
    return run_hooks_after(jobs, results, options, status)  # `hook changed`, `hook failed` (run_hook.py)


def _hold_back(state: _Run) -> None:
    """Of the domains due, those whose CA asked to be left alone for now (a rate limit, a 503 an earlier run kept).

    Nothing is sent for them, and each fails the run so that cron mail shows
    it; -F asks all the same, and a revocation is never held back.  A domain
    that is not due (nor to ask the CA's renewal information) is not looked
    at: it has nothing to ask.
    """
    if not state.options.installs:  # nothing is ordered: nothing to hold back
        return
    now = datetime.now(timezone.utc)
    for job in list(state.waiting):
        until = state.kept.get(job.handle, DomainState()).backoff_until
        if until is None or until <= now:
            continue
        if state.options.force:
            log.warning("%s: the CA asked for no requests until %s; -F asks anyway", job.handle, utc(until))
            continue
        log.error("%s: the CA asked for no requests until %s; not asking it before (-F asks anyway)", job.handle, utc(until))
        state.waiting.remove(job)
        state.results[job.handle] = ChainResult(job.handle, True, False, reason=f"the CA asked for no requests until {utc(until)}")


class Check(NamedTuple):
    """A domain's certificate being judged before any chain: a revokeproc and a keyproc of its own."""

    job: DomainJob
    group: ProcessGroup
    report_fd: int  # revokeproc tells the parent what the file holds here (a memfd)
    key: str  # the parent's note of the domain key, taken before keyproc read it (known_certificates.key_identity)


@dataclass
class _Run:
    """What the parent tracks while checks and chains run."""

    options: RunOptions
    import_path: tuple[str, ...]
    waiting: deque[DomainJob]  # due for a chain
    services: dict[str, SharedServices]  # shared_name -> the running shared processes
    unchecked: deque[DomainJob] = field(default_factory=deque)  # a certificate to check first
    checks: dict[str, Check] = field(default_factory=dict)  # handle -> its check
    checks_over: bool = False  # every check is done (or abandoned): shared processes and chains may start
    stopping: bool = False  # ^C or SIGTERM: nothing more starts
    judge_only: bool = False  # the status view: checks alone, no chain whatever they find
    running: list[Chain] = field(default_factory=list)
    results: dict[str, ChainResult] = field(default_factory=dict)
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    state_dir: Path = field(default_factory=state_directory)  # what runs keep for each other (acme_conf/state.py)
    kept: dict[str, DomainState] = field(default_factory=dict)  # handle -> what earlier runs kept, read once
    kept_previous: dict[str, str] = field(default_factory=dict)  # authority -> the previous account key -k kept
    failures: dict[str, str] = field(default_factory=dict)  # group name -> why it failed, as its first failing child said
    due: dict[str, str] = field(default_factory=dict)  # handle -> why its chain runs (the reason a change gives)
    forced: set[str] = field(default_factory=set)  # handles whose chain installs again as with -F (access_drift.py)
    count: LiveCount | None = None  # the count of domains done, on a terminal (progress.py)

    @property
    def checking(self) -> bool:
        return bool(self.unchecked or self.checks)

    @property
    def finished(self) -> bool:
        return (
            not self.checking
            and not self.waiting
            and not self.running
            and all(s.group.done for s in self.services.values())
        )

    def groups(self) -> list[ProcessGroup]:
        return (
            [check.group for check in self.checks.values()]
            + [chain.group for chain in self.running]
            + [s.group for s in self.services.values() if not s.group.done]
        )


def _run_chains(
    jobs: Sequence[DomainJob],
    options: RunOptions,
    import_path: tuple[str, ...],
    *,
    state_dir: Path | None = None,
    kept_previous: Mapping[str, str] = MappingProxyType({}),
    count: LiveCount | None = None,
) -> tuple[list[ChainResult], bool]:
    """Check certificates, start chains up to the bound, reap, and stop them all on ^C or SIGTERM.

    A domain whose certificate exists is checked first by a revokeproc of
    its own (see _start_checks), unless the parent recognises the file as
    current (_sort_jobs); the shared processes and the chains start
    once every check is over, and only for the domains that are due.
    Children run in process groups of their own, so a ^C at the terminal
    reaches only this parent, which then stops them in order.  A job that
    did not finish (interrupted, or never started) counts as failed.  Also
    says whether a shared process failed (the chains it served fail by
    themselves; one that had finished keeps its result).
    """
    state = _Run(
        options, import_path, deque(), {}, state_dir=state_dir or state_directory(), kept_previous=dict(kept_previous), count=count
    )
    state.kept = {job.handle: load_state(state.state_dir, job.handle) for job in jobs}
    _sort_jobs(state, jobs)
    _drive(state)
    failed_shared = {name for name, services in state.services.items() if services.group.failed}
    unfinished = "interrupted before it was done" if state.stopping else "not started"
    results = [
        _with_failed_shared(state.results.get(job.handle, ChainResult(job.handle, True, False, reason=unfinished)), job, failed_shared)
        for job in jobs
    ]
    if not options.account_action:  # an account action is no news of a certificate
        keep_last_runs(state.state_dir, results)
    return results, bool(failed_shared)


def judge(jobs: Sequence[DomainJob], options: RunOptions, state_dir: Path) -> tuple[dict[str, DomainState], dict[str, str]]:
    """The status view's checks: each job's certificate judged as a run judges it first, by a check
    (a jailed revokeproc with a keyproc beside it), and nothing else started.  What is kept for each
    job afterwards (a check that succeeded keeps what it found: a later run recognises the file),
    and why each check that failed did."""
    state = _Run(options, (), deque(), {}, state_dir=state_dir, judge_only=True)
    state.kept = {job.handle: load_state(state_dir, job.handle) for job in jobs}
    try:
        state.import_path = child_import_path()
    except ProcessFailure as error:
        return state.kept, {job.handle: str(error) for job in jobs}
    state.unchecked.extend(jobs)
    _drive(state)
    failed = {handle: result.reason for handle, result in state.results.items() if result.failed}
    return state.kept, failed


def _drive(state: _Run) -> None:
    """Run checks, then the shared processes and chains, until every one is over; stop them all on ^C or SIGTERM."""
    try:
        if state.unchecked:  # the checks' descriptors now; the shared processes' when they start, for the domains due
            allow_descriptors((), state.options.max_chains)
    except ProcessFailure as error:
        log.error("%s", error)
        for job in list(state.unchecked) + list(state.waiting):  # nothing starts: every domain not recognised fails
            state.results[job.handle] = ChainResult(job.handle, True, False, reason=str(error))
        state.unchecked.clear()
        state.waiting.clear()
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        while not state.finished:
            try:
                with signals_held(signal.SIGINT, signal.SIGTERM):  # a started process must be recorded
                    _start_checks(state)
                    if not state.checking and not state.checks_over:
                        state.checks_over = True
                        _hold_back(state)  # a domain due whose CA asked to be left alone for now
                        _start_services(state, list(state.waiting))  # only for the domains due
                    _start_chains(state)
                _reap(state)
                if state.count is not None:
                    state.count.update(state.results)
            except (KeyboardInterrupt, _Stop):
                if not state.stopping:
                    log.error("stopping on request")
                    state.stopping = True
                state.unchecked.clear()
                state.waiting.clear()  # their channels close with the others, below
                state.checks_over = True  # abandoned: nothing more starts
                for group in state.groups():
                    group.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
        for services in state.services.values():
            services.release_all()
            services.close_journal()
        for check in state.checks.values():
            os.close(check.report_fd)
        for chain in state.running:
            chain.close_startup_pipe(state.selector)
            if chain.report_fd >= 0:
                os.close(chain.report_fd)
        for key in list(state.selector.get_map().values()):
            os.close(key.fd)  # only pidfds and children's stderr are left
        state.selector.close()


def _sort_jobs(state: _Run, jobs: Sequence[DomainJob]) -> None:
    """Each job to a chain (no certificate yet; -F, -r, -D, -k), to a check first, or done at once: a
    certificate file the parent recognises and finds current needs no process (known_certificates.py);
    one for a chain that misses a directory it would write in has failed already (preflight.py)."""
    now = datetime.now(timezone.utc)
    for job in jobs:
        if not worth_checking_first(job, state.options):
            _to_chain(state, job, _why_due(job, state.options))
            continue
        reason = known_current(job, state.kept[job.handle], now)
        if reason is None:
            state.unchecked.append(job)
            continue
        log.info("%s: %s", job.handle, reason)
        _current(state, job, reason)


def _with_failed_shared(result: ChainResult, job: DomainJob, failed_shared: set[str]) -> ChainResult:
    """A failed domain's result, naming the shared processes serving it that failed (they said why)."""
    if not result.failed or not failed_shared:
        return result
    serving = dict.fromkeys(shared_name(role, job) for role in job_roles(job, SHARED_ROLES))  # those not started never failed
    names = tuple(name for name in serving if name in failed_shared)
    if not names:
        return result
    return replace(result, failed_shared=names, reason=f"the processes of {' and '.join(names)} failed")


def _start_services(state: _Run, jobs: Sequence[DomainJob]) -> None:
    """Start the shared processes, each with one channel for every domain it serves.

    An authority's acctproc and a challenge directory's chngproc that share
    a domain get a channel of their own (shared_links).  When some cannot
    start, their domains fail, and the others started for those domains stop
    serving them.  The descriptors they need are counted for the domains due
    only: a run of thousands of current certificates needs none of them.
    """
    try:
        allow_descriptors(jobs, state.options.max_chains)
    except ProcessFailure as error:
        log.error("%s", error)
        for job in list(state.waiting):
            _fail_unstarted(state, job, str(error))
        return
    waiting = {job.handle for job in state.waiting}
    plans = [
        (plan, served)
        for plan in shared_plans(jobs, shared_roles(state.options))
        if (served := tuple(j for j in plan.jobs if j.handle in waiting))
    ]
    links = shared_links({plan.name: served for plan, served in plans})
    try:
        for plan, served in plans:
            try:
                settings = {role: shared_settings(role, served, state.options) for role in plan.roles}
                services = spawn_services(
                    plan.name, settings, served, state.options, state.import_path, links.get(plan.name, {})
                )
            except ProcessFailure as error:
                log.error("%s: %s", plan.name, error)
                for job in served:
                    if job in state.waiting:
                        _fail_unstarted(state, job, f"{plan.name}: {error}")
                continue
            state.services[plan.name] = services
            watch(state.selector, services.group)
    finally:
        for roles in links.values():  # the shared processes have theirs
            for ends in roles.values():
                for _, end in ends:
                    end.close()


def _fail_unstarted(state: _Run, job: DomainJob, reason: str) -> None:
    state.waiting.remove(job)
    state.results[job.handle] = ChainResult(job.handle, True, False, reason=reason)
    for services in state.services.values():
        services.release(job.handle)


def _start_chains(state: _Run) -> None:
    """Start waiting chains while fewer than the bound run and none is still starting up."""
    now = time.monotonic()
    while (
        state.checks_over
        and state.waiting
        and len(state.running) < max(1, state.options.max_chains)
        and not any(chain.starting(now) for chain in state.running)
    ):
        job = state.waiting.popleft()
        chain = _start_or_fail(job, state)
        if chain is None:
            reason = state.failures.get(job.handle, "its processes could not start")
            state.results[job.handle] = ChainResult(job.handle, True, False, reason=reason)
            continue
        state.running.append(chain)
        assert chain.startup_fd is not None  # just opened
        state.selector.register(chain.startup_fd, selectors.EVENT_READ, chain)
        watch(state.selector, chain.group)
        log.debug("%s: chain started (%d running)", job.handle, len(state.running))


def _reap(state: _Run) -> None:
    groups = state.groups()
    if not groups:
        return  # every chain so far failed to start: nothing to wait for
    events = state.selector.select(_next_timeout(state, groups))  # where ^C and SIGTERM arrive
    with signals_held(signal.SIGINT, signal.SIGTERM):  # a reaped child must be recorded
        for key, _ in events:
            if isinstance(key.data, Chain):
                _startup_pipe_readable(key.data, key.fd, state.selector)
                continue
            if isinstance(key.data, ChildSpeech):
                key.data.relay(state.selector)
                continue
            exited: ChildExit = key.data
            state.selector.unregister(exited.pidfd)
            os.close(exited.pidfd)
            exited.speech.drain(state.selector)
            stopped_by_us = exited.group.kill_at is not None
            exited.group.reaped(exited.role)
            if not stopped_by_us:
                _note_failure(state, exited)
            if exited.role in ("chngproc", "hookproc") and exited.group.name in state.services:
                sweep_challenges(state.services[exited.group.name], state.options, state.import_path)
        _checks_done(state)
        now = time.monotonic()
        for chain in [chain for chain in state.running if chain.group.done]:
            state.running.remove(chain)
            chain.close_startup_pipe(state.selector)
            chain.lock.release()
            handle = chain.job.handle
            unexplained = "interrupted" if state.stopping else "a process of its chain failed"
            result = chain.result(state.failures.get(handle, unexplained), state.due.get(handle, ""))
            kept = state.kept.get(handle, DomainState())
            report = chain.take_report()
            state.kept[handle] = keep_state(handle, report, result, state.state_dir, kept, state.options.revoke)
            if not (result.failed or result.changed):
                result = replace(result, reason=_current_reason(chain.job, state.kept[handle], "its chain found nothing to do"))
            authority = chain.job.authority.name
            if authority in state.kept_previous and account_current_reported(report):
                forget_previous_key(authority, state.state_dir)
                del state.kept_previous[authority]
            if state.options.account_action:  # the account action was all the chain did
                result = replace(result, changed=not result.failed)
            if state.options.account_action == RECORDS:
                print_records(report, chain.job)
            state.results[chain.job.handle] = result
            log.debug("%s: chain finished", chain.job.handle)
        if state.checks_over and not state.waiting and not state.running:
            _services_wind_down(state, now)
        for group in state.groups():
            stopping = group.kill_at is not None
            group.enforce_deadlines(now)
            if not stopping and group.kill_at is not None:  # it said so
                state.failures.setdefault(group.name, "still running at its deadline")


def _note_failure(state: _Run, exited: ChildExit) -> None:
    """Remember why a group failed, from its first child that failed by itself: what it said last
    (sanitised, voice.py), else how it ended.  A child that ended because a neighbour did says nothing new."""
    group, role = exited.group, exited.role
    code = group.status[role]
    if group.acceptable(role, code) or code == EXIT_PEER_GONE or group.name in state.failures:
        return
    said = exited.speech.voice.last_said
    if said:
        state.failures[group.name] = f"{role}: {said}"
    elif code < 0:
        state.failures[group.name] = f"{role} killed by signal {-code}"
    else:
        state.failures[group.name] = f"{role} exited with status {code}"


def _current_reason(job: DomainJob, kept: DomainState, otherwise: str) -> str:
    """Why a certificate needs nothing (or why it is due), from the record a check kept; `otherwise` without one."""
    if kept.certificate is None:
        return otherwise
    inspected = inspected_certificate(job)
    if inspected is None:
        return otherwise
    return judged(job, str(inspected), kept.certificate, kept, datetime.now(timezone.utc)).reason


def _why_due(job: DomainJob, options: RunOptions) -> str:
    """Why a chain runs for `job` without a check first (worth_checking_first said no)."""
    if not options.installs:
        return ""  # the summary's outcome says what was done
    if options.force:
        return "renewal forced (-F)"
    inspected = inspected_certificate(job)
    return f"{inspected}: no certificate yet" if inspected is not None else "no certificate yet"


def worth_checking_first(job: DomainJob, options: RunOptions) -> bool:
    """A certificate to renew only when due: check it before starting a chain (not with -F, -r, -D or -k)."""
    inspected = inspected_certificate(job)
    # os.path.exists: a file it may not see goes to the chain, whose revokeproc says why
    asked = options.force or options.revoke or options.account_action
    return not asked and inspected is not None and os.path.exists(inspected)


def _start_checks(state: _Run) -> None:
    """Start a check (a revokeproc and a keyproc of its own) for each domain with a certificate, up to the bound."""
    options = state.options
    while state.unchecked and len(state.checks) < max(1, options.max_chains):
        job = state.unchecked.popleft()
        key = key_identity(job)  # before keyproc reads the key: one replaced after reads differently
        report = -1
        try:
            report = memfd("acme-client-revokeproc-report")
            processes = spawn_check(job, options, state.import_path, state.kept.get(job.handle, DomainState()), report)
        except ProcessFailure as error:
            log.error("%s: cannot check the certificate: %s", job.handle, error)
            state.results[job.handle] = ChainResult(job.handle, True, False, reason=f"cannot check the certificate: {error}")
            if report >= 0:
                os.close(report)
            continue
        deadline = time.monotonic() + CHECK_DEADLINE_SECONDS
        group = ProcessGroup(job.handle, processes, deadline, unchanged_ok=frozenset({"revokeproc"}))
        state.checks[job.handle] = Check(job, group, report, key)
        watch(state.selector, group)
        log.debug("%s: checking the certificate first", job.handle)


def _checks_done(state: _Run) -> None:
    """A check's revokeproc answers with its exit status: 0 due (the domain waits for its chain), 2 current.

    Its keyproc must have ended well too: a key it could not read fails the domain.  What revokeproc
    found in the file is kept for the next run (known_certificates.py).
    """
    for handle, (job, group, report_fd, key) in list(state.checks.items()):
        if not group.done:
            continue
        del state.checks[handle]
        code = group.status["revokeproc"]
        report = os.pread(report_fd, MAX_REPORT, 0)
        os.close(report_fd)
        if code in (EXIT_OK, EXIT_UNCHANGED) and not group.failed:
            _keep_known(state, handle, known_reported(report, key))
        kept = state.kept.get(handle, DomainState())
        if code == EXIT_OK and not group.failed and not state.stopping and not state.judge_only:
            _to_chain(state, job, _current_reason(job, kept, "renewal due"))  # its revokeproc judges again, locked
        elif code == EXIT_UNCHANGED and not group.failed and not state.stopping:
            _current(state, job, _current_reason(job, kept, "certificate current"))
        elif code == EXIT_UNCHANGED and not group.failed or state.judge_only and code == EXIT_OK and not group.failed:
            state.results[handle] = ChainResult(handle, False, False, reason=_current_reason(job, kept, "certificate current"))
        else:  # anything else failed, a renewal due but interrupted too
            why = "interrupted" if state.stopping else "its check failed"
            state.results[handle] = ChainResult(handle, True, False, reason=state.failures.get(handle, why))


def _to_chain(state: _Run, job: DomainJob, why: str) -> bool:
    """`job` waits for its chain, `why` it runs; unless a directory it would write in is missing: then it
    fails with one line for each, and nothing starts for it (preflight.py).  Whether it waits."""
    missing = missing_directories(job) if state.options.installs else []
    for line in missing:
        log.error("%s: %s", job.handle, line)
    if missing:
        state.results[job.handle] = ChainResult(job.handle, True, False, reason=missing[0])
        return False
    state.waiting.append(job)
    state.due[job.handle] = why
    return True


def _current(state: _Run, job: DomainJob, reason: str) -> None:
    """A current certificate: nothing to do, unless a file is not as the configuration now declares it.

    Then its chain runs as with -F, once (access_drift.py); never in the
    status view, nor in a run that installs nothing.
    """
    options = state.options
    drift = access_drift(job) if options.installs and not state.judge_only else None
    if drift is None:
        state.results[job.handle] = ChainResult(job.handle, False, False, reason=reason)
        return
    log.info("%s: %s", job.handle, drift)
    if _to_chain(state, job, drift):
        state.forced.add(job.handle)


def _keep_known(state: _Run, handle: str, known: KnownCertificate | None) -> None:
    """Keep what a check's revokeproc found in the file, for the next run to recognise it."""
    kept = state.kept.get(handle, DomainState())
    if known is None or known == kept.certificate:
        return
    state.kept[handle] = replace(kept, certificate=known)
    save_state(state.state_dir, handle, state.kept[handle])


def _startup_pipe_readable(chain: Chain, fd: int, selector: selectors.BaseSelector) -> None:
    """End of file: every child of the chain has started up (or died) and closed its end."""
    if os.read(fd, 64):
        return  # no child writes to it; nothing but end of file counts
    chain.close_startup_pipe(selector)
    log.debug("%s: chain started up in %d ms", chain.job.handle, (time.monotonic() - chain.started_at) * 1000)


def _services_wind_down(state: _Run, now: float) -> None:
    """Every chain is over: the services see their last channel close and exit; a grace period bounds that."""
    for services in state.services.values():
        services.release_all()
        if services.group.give_up_at == NO_DEADLINE:
            services.group.give_up_at = now + GRACE_SECONDS


def _start_or_fail(job: DomainJob, state: _Run) -> Chain | None:
    """The running chain of `job`, or None after saying why it could not start."""
    names = tuple(dict.fromkeys(shared_name(role, job) for role in job_roles(job, shared_roles(state.options))))
    stopped = [name for name in names if name not in state.services or state.services[name].group.kill_at is not None]
    if stopped:
        log.error("%s: the processes of %s are not running", job.handle, " and ".join(stopped))
        state.failures[job.handle] = f"the processes of {' and '.join(stopped)} are not running"
        for name in names:
            if name in state.services:
                state.services[name].release(job.handle)
        return None
    chain_ends = [end for name in names for end in state.services[name].take_ends(job.handle)]
    try:
        return _start_chain(job, state, chain_ends)
    except ProcessFailure as error:
        log.error("%s: %s", job.handle, error)
        state.failures[job.handle] = str(error)
        return None
    finally:
        for _, _, end in chain_ends:  # the chain's children have their copies, or never will
            end.close()


def _start_chain(job: DomainJob, state: _Run, chain_ends: Sequence[ChainEnd]) -> Chain:
    """Take the domain's lock and start its chain, with a start-up pipe whose read end the chain keeps."""
    try:
        startup_read, startup_write = os.pipe()
    except OSError as error:
        raise ProcessFailure(f"cannot start the process chain: {error.strerror}") from None
    lock = DomainLock(lock_directory(), job.handle)
    report = -1
    try:
        lock.acquire()
        report = memfd("acme-client-netproc-report")
        kept = state.kept.get(job.handle, DomainState())
        options = replace(state.options, force=True) if job.handle in state.forced else state.options
        processes = spawn_chain(job, options, state.import_path, chain_ends, startup_write, report, kept)
    except BaseException:
        lock.release()
        os.close(startup_read)
        if report >= 0:
            os.close(report)
        raise
    finally:
        os.close(startup_write)  # the children have theirs
    now = time.monotonic()
    group = ProcessGroup(job.handle, processes, now + CHAIN_DEADLINE_SECONDS)
    return Chain(job, lock, group, startup_read, now, report)


def _next_timeout(state: _Run, groups: list[ProcessGroup]) -> float | None:
    """Until the next deadline, or until a chain starting up no longer holds a waiting one back."""
    now = time.monotonic()
    deadline = min(group.next_deadline() for group in groups)
    if state.waiting:
        deadline = min([deadline] + [chain.startup_until for chain in state.running if chain.starting(now)])
    return None if deadline == NO_DEADLINE else max(0.0, deadline - now)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    del frame
    raise _Stop(f"signal {signum}")
