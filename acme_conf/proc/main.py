"""The parent: one isolated process chain per domain job.

First, for each domain whose certificate exists, a revokeproc says with
its exit status whether renewal is due, told the domain key by a keyproc
beside it; most runs end there.  Then, for the domains due, it starts the
processes a run shares: each authority's dnsproc and acctproc, and each
challenge directory's chngproc, with a channel for every domain they serve.
Then, for each of those jobs, it takes the domain's lock, creates the
socketpairs and starts the chain's five children; every child is a fork
and exec of a fresh interpreter, with only its own channel descriptors and
an empty environment.  It reaps them all.
It never touches a key, the network, or anything the CA sent.

When a child fails, the rest of its chain is asked to stop (SIGTERM: they
clean up) and killed after a grace period, so no process outlives the run.
When the last chain is over, the shared processes see their channels close
and exit.

Exit status of a run: 1 if any chain failed, else 0 if any certificate
changed, else 2.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from datetime import datetime, timezone
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import NamedTuple

from acme_conf.config.plan import MAC_ALGORITHMS, AccountBinding, Authority, DnsHook, DomainJob
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PEER_GONE,
    EXIT_UNCHANGED,
)
from acme_conf.proc.accounts import forget_previous_key, move_account_key_aside, with_kept_previous_keys
from acme_conf.proc.journal import is_record_entry, left_behind, open_journal
from acme_conf.proc.hook_view import hook_view
from acme_conf.proc.listener import open_listener
from acme_conf.acme.renewal_info import DEFAULT_CHECK_INTERVAL
from acme_conf.acme.persist import expected_record
from acme_conf.state import (
    MAX_REPORT,
    account_current_reported,
    report_records,
    DomainState,
    KeptRenewal,
    backoff_reported,
    load_state,
    renewal_reported,
    save_state,
    state_directory,
)
from acme_conf.proc.locks import DomainLock, lock_directory
from acme_conf.proc.signals import signals_held
from acme_conf.proc.voice import ChildVoice
from acme_conf.proc.spec import (
    DEACTIVATE,
    RECORDS,
    ROLES,
    ROLLOVER,
    AccountSettings,
    CertSettings,
    ChildSpec,
    ChngSettings,
    DnsSettings,
    FileSettings,
    HookSettings,
    HttpSettings,
    KeySettings,
    NetSettings,
    RevokeSettings,
    TlsSettings,
    Settings,
)

# A domain's chain: its own netproc, revokeproc, keyproc, certproc and
# fileproc.  The other roles are shared in a run: one dnsproc and one
# acctproc per authority, one chngproc per challenge directory, each serving
# the netproc of every domain it concerns over a channel of its own.  A
# shared process holds nothing one of its domains could take from another:
# dnsproc holds nothing, the account key is the authority's anyway, and the
# challenge directory is the same for all of them.  Sharing saves three
# fresh interpreters per domain.
SHARED_ROLES = ("dnsproc", "acctproc", "chngproc")
# The roles a chngproc's place may hold: the built-in responders' httpproc and tlsproc, a dns-01 hook's hookproc.
SERVICE_ROLES = (*SHARED_ROLES, "httpproc", "tlsproc", "hookproc")
LISTENING = (HttpSettings, TlsSettings)  # the settings of a role given a socket the parent bound
CHAIN_ROLES = tuple(role for role in ROLES if role not in SERVICE_ROLES)
CHAIN_CHANNELS = (
    ("netproc", "revokeproc"),
    ("netproc", "keyproc"),
    ("netproc", "certproc"),
    ("certproc", "fileproc"),
    # keyproc tells certproc and revokeproc the domain key: never netproc
    ("keyproc", "certproc"),
    ("keyproc", "revokeproc"),
)
GRACE_SECONDS = 5.0
# What a run with -D or -k says of the one domain whose chain carried it.
ACCOUNT_DONE = {DEACTIVATE: "account deactivated", ROLLOVER: "account key changed", RECORDS: "records printed"}
# A chain that runs longer is stopped: the CA's polls give up after 10
# minutes, so this only ends a hang (a CA that trickles bytes, say), and
# frees the domain's lock for the next run.
CHAIN_DEADLINE_SECONDS = 20 * 60.0
NO_DEADLINE = float("inf")
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
# A sweeper chngproc removes a few files (~0.1 s): a wait this long is one
# that hangs.  The parent waits for it in place, so the other children's
# stderr waits too (their pipes hold 64 KiB) and their deadlines are
# enforced after it; a chngproc that dies is rare enough for that.
SWEEP_SECONDS = 10.0
# Descriptors the parent needs besides those allow_descriptors counts: stdio,
# the lock, and the channels and start-up pipes of the running chains.
DESCRIPTOR_HEADROOM = 64

log = logging.getLogger("acme_conf")


@dataclass(frozen=True)
class RunOptions:
    force: bool = False
    revoke: bool = False
    revoke_reason: int = -1  # -R: an RFC 5280 reason code for the revocation (-1: none)
    revoke_with_domain_key: bool = False  # -K: keyproc signs the revocation with the domain key, no account
    account_action: str = ""  # -D "deactivate", -k "rollover": the only thing the run does, in its one chain
    verbosity: int = 0
    max_chains: int = 1
    strict_sandbox: bool = False
    # The whole configuration, not only the domains of this run: what a dns-01 hook may not see (hook_view.py).
    every_domain: tuple[DomainJob, ...] = ()
    every_authority: tuple[Authority, ...] = ()


@dataclass(frozen=True)
class ChainResult:
    handle: str
    failed: bool
    changed: bool
    failed_shared: tuple[str, ...] = ()  # the shared processes serving it that failed (their names)


class _Stop(Exception):
    """The parent itself was asked to stop."""


@dataclass
class ProcessGroup:
    """Children that are stopped together: a domain's chain, or shared processes (see shared_name)."""

    name: str  # the domain's handle, or the shared processes' name: it starts every message about the group
    processes: dict[str, subprocess.Popen[bytes]]
    give_up_at: float
    status: dict[str, int] = field(default_factory=dict)
    kill_at: float | None = None
    # roles whose status 2 is an answer, not a failure: a chain's fileproc (it
    # wrote nothing), a check's revokeproc (the certificate is current)
    unchanged_ok: frozenset[str] = frozenset({"fileproc"})

    @property
    def done(self) -> bool:
        return len(self.status) == len(self.processes)

    @property
    def failed(self) -> bool:
        return any(not self.acceptable(role, code) for role, code in self.status.items())

    def acceptable(self, role: str, code: int) -> bool:
        return code == EXIT_OK or (code == EXIT_UNCHANGED and role in self.unchanged_ok)

    def reaped(self, role: str) -> None:
        process = self.processes[role]
        _, wait_status, usage = os.wait4(process.pid, 0)
        code = os.waitstatus_to_exitcode(wait_status)
        process.returncode = code  # reaped here, to read its CPU time
        self.status[role] = code
        cpu_ms = round((usage.ru_utime + usage.ru_stime) * 1000)
        log.debug("%s: %s exited %d after %d ms of CPU", self.name, role, code, cpu_ms)
        if code == EXIT_PEER_GONE:
            return  # a neighbour failed; it reports and stops the chain itself
        if not self.acceptable(role, code):
            if not (self.kill_at is not None and code in (-signal.SIGTERM, -signal.SIGKILL)):
                _report(self.name, role, code)  # not a child this parent stopped itself
            self.stop()

    def stop(self) -> None:
        """Ask every live child to stop; kill what is left after the grace period."""
        if self.kill_at is not None:
            return
        self.kill_at = time.monotonic() + GRACE_SECONDS
        self._signal_unreaped(signal.SIGTERM)

    def enforce_deadlines(self, now: float) -> None:
        if self.kill_at is None and now >= self.give_up_at:
            log.error("%s: still running at its deadline; stopping it", self.name)
            self.stop()
        elif self.kill_at is not None and now >= self.kill_at:
            self._signal_unreaped(signal.SIGKILL)

    def next_deadline(self) -> float:
        return self.kill_at if self.kill_at is not None else self.give_up_at

    def _signal_unreaped(self, signum: int) -> None:
        # Only this parent reaps its children (never Popen.poll or send_signal,
        # which reap behind its back), so an unreaped pid is still ours.
        for role, process in self.processes.items():
            if role not in self.status:
                os.kill(process.pid, signum)


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

    def result(self) -> ChainResult:
        failed = self.group.failed
        changed = not failed and self.group.status.get("fileproc") == EXIT_OK
        return ChainResult(self.job.handle, failed, changed)


class _ChildExit(NamedTuple):
    """A child's pidfd in the selector: readable once the child has exited."""

    group: ProcessGroup
    role: str
    pidfd: int
    speech: "_ChildSpeech"  # its stderr, drained before its exit is reported


@dataclass(eq=False)
class _ChildSpeech:
    """A child's stderr in the selector: every line it writes, relayed labelled and sanitised (voice.py)."""

    voice: ChildVoice
    fd: int | None  # None once its end of file has been read and the pipe closed

    def relay(self, selector: selectors.BaseSelector) -> None:
        """Pass on what the child has written; at its end of file, what is left, and close the pipe."""
        if self.fd is None:
            return
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        _say(self.voice.hear(data))
        if not data:
            selector.unregister(self.fd)
            os.close(self.fd)
            self.fd = None

    def drain(self, selector: selectors.BaseSelector) -> None:
        """The child has exited: everything it wrote, before anything is said about its end."""
        while self.fd is not None:
            os.set_blocking(self.fd, True)  # its writer is gone: end of file comes after the data
            self.relay(selector)


def _say(lines: list[str]) -> None:
    for line in lines:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except OSError:
            pass  # a closed stderr must not change the status


@dataclass(frozen=True)
class SharedPlan:
    """Processes the run shares among domains, before they start."""

    name: str  # see shared_name
    roles: tuple[str, ...]  # the shared roles under that name
    jobs: tuple[DomainJob, ...]  # the domains it serves


# The end of a channel to a shared process that a chain's child gets: (the
# chain's role, the shared role at the other end, the socket).
ChainEnd = tuple[str, str, socket.socket]


@dataclass
class SharedServices:
    """Running shared processes, and the chain ends of their channels not yet handed out."""

    group: ProcessGroup
    chain_ends: dict[str, list[ChainEnd]]  # domain handle -> the ends for its netproc (and keyproc)
    challenges: ChngSettings | HookSettings | None = None  # chngproc's or hookproc's, with the journal read once it ends

    def take_ends(self, handle: str) -> list[ChainEnd]:
        """The ends for `handle`'s chain; the caller closes them once its children have them."""
        return self.chain_ends.pop(handle, [])

    def release(self, handle: str) -> None:
        """A domain whose chain will never run: its channels close, and the services stop serving it."""
        for _, _, end in self.take_ends(handle):
            end.close()

    def release_all(self) -> None:
        for handle in list(self.chain_ends):
            self.release(handle)

    def close_journal(self) -> None:
        if self.challenges is not None and self.challenges.journal_fd >= 0:
            os.close(self.challenges.journal_fd)
            self.challenges = self.challenges._replace(journal_fd=-1)


def configure_logging(verbosity: int) -> None:
    """The parent's messages: `acme-client: ...` on stderr; -v and -vv show more."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("acme-client: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG))
    logging.raiseExceptions = False  # a closed stderr is no reason to print tracebacks into it


def run(jobs: Sequence[DomainJob], options: RunOptions) -> int:
    """Run every job's chain, at most `options.max_chains` at once; the run's exit status."""
    state_dir = state_directory()
    try:
        import_path = child_import_path()
        allow_descriptors(jobs, options.max_chains)
        if options.account_action == ROLLOVER:
            move_account_key_aside(jobs[0].authority, state_dir)
    except ProcessFailure as error:
        log.error("%s", error)
        return EXIT_FAILED
    jobs, kept_previous = with_kept_previous_keys(jobs, state_dir)
    results, services_failed = _run_chains(jobs, options, import_path, state_dir=state_dir, kept_previous=kept_previous)
    done = ACCOUNT_DONE.get(options.account_action, "certificate revoked and removed" if options.revoke else "certificate updated")
    for result in results:
        outcome = "failed" if result.failed else done if result.changed else "nothing to do"
        if result.failed and result.failed_shared:
            outcome += f" (the processes of {' and '.join(result.failed_shared)} failed)"
        log.info("%s: %s", result.handle, outcome)
    if services_failed or any(result.failed for result in results):
        return EXIT_FAILED
    if any(result.changed for result in results):
        return EXIT_OK
    return EXIT_UNCHANGED


def _hold_back(state: _Run) -> None:
    """Of the domains due, those whose CA asked to be left alone for now (a rate limit, a 503 an earlier run kept).

    Nothing is sent for them, and each fails the run so that cron mail shows
    it; -F asks all the same, and a revocation is never held back.  A domain
    that is not due (nor to ask the CA's renewal information) is not looked
    at: it has nothing to ask.
    """
    if state.options.revoke or state.options.account_action:  # nothing is ordered: nothing to hold back
        return
    now = datetime.now(timezone.utc)
    for job in list(state.waiting):
        until = state.kept.get(job.handle, DomainState()).backoff_until
        if until is None or until <= now:
            continue
        if state.options.force:
            log.warning("%s: the CA asked for no requests until %s; -F asks anyway", job.handle, _utc(until))
            continue
        log.error("%s: the CA asked for no requests until %s; not asking it before (-F asks anyway)", job.handle, _utc(until))
        state.waiting.remove(job)
        state.results[job.handle] = ChainResult(job.handle, True, False)


def keep_state(chain: Chain, result: ChainResult, directory: Path, kept: DomainState, revoked: bool = False) -> bytes:
    """Keep what netproc reported for the next run: a back-off, the CA's renewal advice; the report read.

    An old back-off is forgotten once the CA answered; the renewal advice
    kept so far stays unless netproc reported newer (it is for the
    certificate it names: revokeproc ignores it once that one is replaced).
    A certificate just installed is not asked about before
    DEFAULT_CHECK_INTERVAL has passed: its window is weeks away; one
    `revoked` and removed leaves nothing to ask about.
    """
    if chain.report_fd < 0:
        return b""
    report = os.pread(chain.report_fd, MAX_REPORT, 0)
    os.close(chain.report_fd)
    chain.report_fd = -1
    handle, now = chain.job.handle, datetime.now(timezone.utc)
    until = backoff_reported(report, now)
    renewal = renewal_reported(report, now) or kept.renewal
    if result.changed:
        renewal = None if revoked else KeptRenewal("", now + DEFAULT_CHECK_INTERVAL)
    if until is not None:
        log.error("%s: the CA asked for no requests until %s: runs before then ask nothing", handle, _utc(until))
    elif not result.failed:
        until = None  # the CA answered: an old back-off is over
    else:
        until = kept.backoff_until
    new = DomainState(backoff_until=until, renewal=renewal)
    if new != kept:
        save_state(directory, handle, new)
    return report


def print_records(report: bytes, job: DomainJob) -> None:
    """-P: the dns-persist-01 records netproc reported for `job`, on standard output: only the ones expected of it."""
    for record in report_records(report):
        line = record.get("record")
        if expected_record(line, job.names, job.authority.api_url):
            sys.stdout.write(f"{line}\n")
        else:
            log.error("%s: netproc reported a record that is not one for this domain and its CA: not printed", job.handle)
    sys.stdout.flush()


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def allow_descriptors(jobs: Sequence[DomainJob], max_chains: int) -> None:
    """Raise the soft limit on open descriptors so that every domain's channels fit.

    While it starts the shared processes the parent holds both ends of one
    socketpair per domain and shared role, and later one end for each
    domain not yet started; each shared process holds one per domain of its
    own (it inherits this limit; its sandbox lowers it again).  Each child
    alive costs the parent two more: its pidfd and its stderr, and each
    chngproc a third, its journal (proc/journal.py), and each running chain
    netproc's report (acme_conf/state.py).  The usual
    soft limit of 1024 would end a run of some 170 domains; the hard limit
    is the real bound.
    """
    domains = len(jobs)
    shared = len(shared_plans(jobs)) * len(SHARED_ROLES)  # at most: each name serves one or two roles
    at_once = max(1, max_chains) * (len(CHAIN_ROLES) + 2)  # running chains or checks
    needed = 2 * len(SHARED_ROLES) * domains + 3 * shared + 2 * at_once + max(1, max_chains) + DESCRIPTOR_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ProcessFailure(
            f"{domains} domains in one run need {needed} open descriptors, over the limit of {hard}: "
            "raise it (ulimit -n) or name fewer domains per run"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@dataclass
class _Run:
    """What the parent tracks while checks and chains run."""

    options: RunOptions
    import_path: tuple[str, ...]
    waiting: deque[DomainJob]  # due for a chain
    services: dict[str, SharedServices]  # shared_name -> the running shared processes
    unchecked: deque[DomainJob] = field(default_factory=deque)  # a certificate to check first
    checks: dict[str, tuple[DomainJob, ProcessGroup]] = field(default_factory=dict)  # handle -> its check
    checks_over: bool = False  # every check is done (or abandoned): shared processes and chains may start
    stopping: bool = False  # ^C or SIGTERM: nothing more starts
    running: list[Chain] = field(default_factory=list)
    results: dict[str, ChainResult] = field(default_factory=dict)
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    state_dir: Path = field(default_factory=state_directory)  # what runs keep for each other (acme_conf/state.py)
    kept: dict[str, DomainState] = field(default_factory=dict)  # handle -> what earlier runs kept, read once
    kept_previous: dict[str, str] = field(default_factory=dict)  # authority -> the previous account key -k kept

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
            [group for _, group in self.checks.values()]
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
) -> tuple[list[ChainResult], bool]:
    """Check certificates, start chains up to the bound, reap, and stop them all on ^C or SIGTERM.

    A domain whose certificate exists is checked first by a revokeproc of
    its own (see _start_checks); the shared processes and the chains start
    once every check is over, and only for the domains that are due.
    Children run in process groups of their own, so a ^C at the terminal
    reaches only this parent, which then stops them in order.  A job that
    did not finish (interrupted, or never started) counts as failed.  Also
    says whether a shared process failed (the chains it served fail by
    themselves; one that had finished keeps its result).
    """
    state = _Run(options, import_path, deque(), {}, state_dir=state_dir or state_directory(), kept_previous=dict(kept_previous))
    state.kept = {job.handle: load_state(state.state_dir, job.handle) for job in jobs}
    for job in jobs:
        (state.unchecked if worth_checking_first(job, options) else state.waiting).append(job)
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
        for chain in state.running:
            chain.close_startup_pipe(state.selector)
            if chain.report_fd >= 0:
                os.close(chain.report_fd)
        for key in list(state.selector.get_map().values()):
            os.close(key.fd)  # only pidfds and children's stderr are left
        state.selector.close()
    failed_shared = {name for name, services in state.services.items() if services.group.failed}
    results = [
        _with_failed_shared(state.results.get(job.handle, ChainResult(job.handle, True, False)), job, failed_shared)
        for job in jobs
    ]
    return results, bool(failed_shared)


def _with_failed_shared(result: ChainResult, job: DomainJob, failed_shared: set[str]) -> ChainResult:
    """A failed domain's result, naming the shared processes serving it that failed (they said why)."""
    if not result.failed or not failed_shared:
        return result
    serving = dict.fromkeys(shared_name(role, job) for role in job_roles(job, SHARED_ROLES))  # those not started never failed
    return replace(result, failed_shared=tuple(name for name in serving if name in failed_shared))


def _start_services(state: _Run, jobs: Sequence[DomainJob]) -> None:
    """Start the shared processes, each with one channel for every domain it serves.

    An authority's acctproc and a challenge directory's chngproc that share
    a domain get a channel of their own (shared_links).  When some cannot
    start, their domains fail, and the others started for those domains stop
    serving them.
    """
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
                        _fail_unstarted(state, job)
                continue
            state.services[plan.name] = services
            _watch(state.selector, services.group)
    finally:
        for roles in links.values():  # the shared processes have theirs
            for ends in roles.values():
                for _, end in ends:
                    end.close()


def shared_links(served: dict[str, Sequence[DomainJob]]) -> dict[str, dict[str, list[tuple[str, socket.socket]]]]:
    """name -> role -> [(peer role, end)]: a channel for each authority and challenge directory sharing a domain.

    Over it acctproc tells chngproc the account's thumbprint.  Each side lists
    its ends in the order its domains first name the other (shared_settings
    gives chngproc the same order in ChngSettings.authorities).
    """
    pairs: dict[tuple[str, str], tuple[socket.socket, socket.socket]] = {}
    links: dict[str, dict[str, list[tuple[str, socket.socket]]]] = {}
    for name, jobs in served.items():
        for job in jobs:
            if job.dns_persist:
                continue  # no chngproc to tell the thumbprint
            authority, directory = shared_name("acctproc", job), shared_name("chngproc", job)
            if name == authority and directory in served and (authority, directory) not in pairs:
                pairs[authority, directory] = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                links.setdefault(authority, {}).setdefault("acctproc", []).append(("chngproc", pairs[authority, directory][0]))
    for name, jobs in served.items():
        for authority in dict.fromkeys(shared_name("acctproc", job) for job in jobs):
            pair = pairs.get((authority, name))
            if pair is not None:
                links.setdefault(name, {}).setdefault("chngproc", []).append(("acctproc", pair[1]))
    return links


def _fail_unstarted(state: _Run, job: DomainJob) -> None:
    state.waiting.remove(job)
    state.results[job.handle] = ChainResult(job.handle, True, False)
    for services in state.services.values():
        services.release(job.handle)


def shared_roles(options: RunOptions) -> tuple[str, ...]:
    """The shared roles a run needs: no chngproc where nothing is ordered, no acctproc where no account is used.

    A role not started holds nothing and creates nothing: a -K run, made
    because the account key is lost, creates no new one.
    """
    if options.revoke_with_domain_key:
        return ("dnsproc",)
    if options.revoke or options.account_action:
        return ("dnsproc", "acctproc")
    return SHARED_ROLES


def job_roles(job: DomainJob, roles_used: Sequence[str]) -> tuple[str, ...]:
    """The shared roles serving `job`: a domain validated with dns-persist-01 publishes nothing, so has no chngproc."""
    return tuple(role for role in roles_used if not (role == "chngproc" and job.dns_persist))


def shared_plans(jobs: Sequence[DomainJob], roles_used: Sequence[str] = SHARED_ROLES) -> list[SharedPlan]:
    """The processes a run shares (`roles_used` of them), in the order they start, with the domains each serves."""
    roles: dict[str, dict[str, None]] = {}  # name -> its roles, in order
    served: dict[str, dict[str, DomainJob]] = {}  # name -> handle -> job, in the jobs' order
    for job in jobs:
        for role in job_roles(job, roles_used):
            name = shared_name(role, job)
            roles.setdefault(name, {})[role] = None
            served.setdefault(name, {})[job.handle] = job
    return [SharedPlan(name, tuple(roles[name]), tuple(served[name].values())) for name in roles]


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
            state.results[job.handle] = ChainResult(job.handle, True, False)
            continue
        state.running.append(chain)
        assert chain.startup_fd is not None  # just opened
        state.selector.register(chain.startup_fd, selectors.EVENT_READ, chain)
        _watch(state.selector, chain.group)
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
            if isinstance(key.data, _ChildSpeech):
                key.data.relay(state.selector)
                continue
            exited: _ChildExit = key.data
            state.selector.unregister(exited.pidfd)
            os.close(exited.pidfd)
            exited.speech.drain(state.selector)
            exited.group.reaped(exited.role)
            if exited.role in ("chngproc", "hookproc") and exited.group.name in state.services:
                sweep_challenges(state.services[exited.group.name], state.options, state.import_path)
        _checks_done(state)
        now = time.monotonic()
        for chain in [chain for chain in state.running if chain.group.done]:
            state.running.remove(chain)
            chain.close_startup_pipe(state.selector)
            chain.lock.release()
            result = chain.result()
            kept = state.kept.get(chain.job.handle, DomainState())
            report = keep_state(chain, result, state.state_dir, kept, state.options.revoke)
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
            group.enforce_deadlines(now)


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
        try:
            processes = spawn_check(job, options, state.import_path, state.kept.get(job.handle, DomainState()))
        except ProcessFailure as error:
            log.error("%s: cannot check the certificate: %s", job.handle, error)
            state.results[job.handle] = ChainResult(job.handle, True, False)
            continue
        deadline = time.monotonic() + CHECK_DEADLINE_SECONDS
        group = ProcessGroup(job.handle, processes, deadline, unchanged_ok=frozenset({"revokeproc"}))
        state.checks[job.handle] = (job, group)
        _watch(state.selector, group)
        log.debug("%s: checking the certificate first", job.handle)


def spawn_check(
    job: DomainJob, options: RunOptions, import_path: tuple[str, ...], kept: DomainState = DomainState()
) -> dict[str, subprocess.Popen[bytes]]:
    """A revokeproc alone, and a keyproc that tells it the domain key (and creates nothing)."""
    judge_end, key_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        specs = (
            ChildSpec(
                "revokeproc", job.handle, options.verbosity, options.strict_sandbox,
                (("keyproc", judge_end.fileno()),), revoke_settings(job, options, alone=True, kept=kept),
            ),
            ChildSpec(
                "keyproc", job.handle, options.verbosity, options.strict_sandbox,
                (("revokeproc", key_end.fileno()),),
                key_settings(job)._replace(public_only=True),
            ),
        )
        for spec in specs:
            processes[spec.role] = _spawn(spec, import_path)
    except BaseException as error:
        _kill_started(processes)
        if isinstance(error, (OSError, ProcessFailure)):
            raise ProcessFailure(str(error)) from None
        raise
    finally:
        judge_end.close()
        key_end.close()
    return processes


def _checks_done(state: _Run) -> None:
    """A check's revokeproc answers with its exit status: 0 due (the domain waits for its chain), 2 current.

    Its keyproc must have ended well too: a key it could not read fails the domain.
    """
    for handle, (job, group) in list(state.checks.items()):
        if not group.done:
            continue
        del state.checks[handle]
        code = group.status["revokeproc"]
        if code == EXIT_OK and not group.failed and not state.stopping:
            state.waiting.append(job)  # its chain's revokeproc judges again, under the lock
        else:  # current (2) is done; anything else failed, a renewal due but interrupted too
            state.results[handle] = ChainResult(handle, group.failed or code != EXIT_UNCHANGED, False)


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
        for name in names:
            if name in state.services:
                state.services[name].release(job.handle)
        return None
    chain_ends = [end for name in names for end in state.services[name].take_ends(job.handle)]
    try:
        return _start_chain(job, state, chain_ends)
    except ProcessFailure as error:
        log.error("%s: %s", job.handle, error)
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
        report = _memfd("acme-client-netproc-report")
        kept = state.kept.get(job.handle, DomainState())
        processes = spawn_chain(job, state.options, state.import_path, chain_ends, startup_write, report, kept)
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


def spawn_services(
    name: str,
    settings: dict[str, Settings],
    jobs: Sequence[DomainJob],
    options: RunOptions,
    import_path: tuple[str, ...],
    links: Mapping[str, Sequence[tuple[str, socket.socket]]] = MappingProxyType({}),
) -> SharedServices:
    """Start shared processes (`settings` names their roles) with a channel for each domain's netproc.

    acctproc also gets one from each domain's keyproc (the domain key, for
    the finalize it signs), and each role its `links` to other shared
    processes; the caller keeps those and closes them.
    """
    roles = tuple(settings)
    challenges = settings.get("chngproc")
    if isinstance(challenges, (ChngSettings, HookSettings)):
        try:
            challenges = challenges._replace(journal_fd=open_journal())
        except OSError as error:
            raise ProcessFailure(f"cannot start {' and '.join(roles)}: {error.strerror}") from None
        settings = {**settings, "chngproc": challenges}
    if isinstance(challenges, LISTENING):  # bound here: an address in use fails its domains before anything starts
        settings = {**settings, "chngproc": challenges._replace(listen_fd=open_listener(challenges.address, challenges.port))}
        challenges = settings["chngproc"]
    chain_ends: dict[str, list[ChainEnd]] = {job.handle: [] for job in jobs}
    service_ends: dict[str, list[tuple[str, socket.socket]]] = {role: [] for role in roles}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for chain_role in ("netproc", "keyproc"):
            for job in jobs:
                for role in roles:
                    if chain_role == "keyproc" and role != "acctproc":
                        continue
                    chain_end, service_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                    chain_ends[job.handle].append((chain_role, role, chain_end))
                    service_ends[role].append((chain_role, service_end))
        for role in roles:
            spec = ChildSpec(
                role=service_role(role, settings[role]),
                handle=name,
                verbosity=options.verbosity,
                strict_sandbox=options.strict_sandbox,
                channels=tuple((peer, end.fileno()) for peer, end in (*service_ends[role], *links.get(role, ()))),
                settings=settings[role],
            )
            processes[spec.role] = _spawn(spec, import_path)
    except BaseException as error:
        _kill_started(processes)
        for ends in chain_ends.values():
            for _, _, end in ends:
                end.close()
        if isinstance(challenges, (ChngSettings, HookSettings)):
            os.close(challenges.journal_fd)
        if isinstance(error, (OSError, ProcessFailure)):
            raise ProcessFailure(f"cannot start {' and '.join(roles)}: {error}") from None
        raise
    finally:
        for ends in service_ends.values():
            for _, end in ends:
                end.close()
        if isinstance(challenges, LISTENING):
            os.close(challenges.listen_fd)  # httpproc or tlsproc has its copy, or never will
    return SharedServices(
        ProcessGroup(name, processes, NO_DEADLINE), chain_ends,
        challenges if isinstance(challenges, (ChngSettings, HookSettings)) else None,
    )


def service_role(role: str, settings: Settings) -> str:
    """The role started in a shared process's place: a responder or a hookproc in chngproc's."""
    if isinstance(settings, HttpSettings):
        return "httpproc"
    if isinstance(settings, TlsSettings):
        return "tlsproc"
    if isinstance(settings, HookSettings):
        return "hookproc"
    return role


def sweep_seconds(settings: Settings) -> float:
    """How long a sweeper may take: a hookproc's runs the program once a record, each within the hook's timeout."""
    if isinstance(settings, HookSettings):
        return SWEEP_SECONDS + settings.timeout * len(settings.sweep)
    return SWEEP_SECONDS


def sweep_challenges(services: SharedServices, options: RunOptions, import_path: tuple[str, ...]) -> None:
    """chngproc (or hookproc) has ended: remove, with a sweeper of its role, what its journal says it left."""
    challenges, name = services.challenges, services.group.name
    if challenges is None or challenges.journal_fd < 0:
        return
    role = service_role("chngproc", challenges)
    settings: Settings
    if isinstance(challenges, HookSettings):
        what = "DNS record(s)"
        left = left_behind(challenges.journal_fd, sum(map(len, challenges.names)), name, is_record_entry)
        settings = challenges._replace(journal_fd=-1, sweep=left)
    else:
        what = "challenge file(s)"
        left = left_behind(challenges.journal_fd, sum(challenges.files), name)
        settings = ChngSettings(challenges.challengedir, (), (), sweep=left)
    services.close_journal()
    if not left:
        return
    log.warning("%s: %s ended with %d %s in place; removing them", name, role, len(left), what)
    spec = ChildSpec(
        role=role,
        handle=name,
        verbosity=options.verbosity,
        strict_sandbox=options.strict_sandbox,
        channels=(),
        settings=settings,
    )
    try:
        sweeper = _spawn(spec, import_path)
        try:
            _, said = sweeper.communicate(timeout=sweep_seconds(settings))
        except BaseException as stopped:  # a sweeper that hangs, or a stop: it never outlives the parent
            sweeper.kill()
            _, said = sweeper.communicate()
            if not isinstance(stopped, subprocess.TimeoutExpired):
                raise
    except OSError as error:
        log.error("%s: cannot start the %s that removes them: %s", name, role, error.strerror)
        return
    voice = ChildVoice(f"{name}: {role}")
    _say(voice.hear(said) + voice.hear(b""))
    if sweeper.returncode != EXIT_OK:
        _report(name, role, sweeper.returncode)
        log.error("%s: %s may be left", name, what)


def spawn_chain(
    job: DomainJob,
    options: RunOptions,
    import_path: tuple[str, ...],
    chain_ends: Sequence[ChainEnd],
    startup_fd: int,
    report_fd: int = -1,
    kept: DomainState = DomainState(),
) -> dict[str, subprocess.Popen[bytes]]:
    """Create the channels and start the children; each gets only its own ends.

    `chain_ends` are the ends of its children's channels to the shared
    processes (netproc's, and keyproc's to acctproc), and `startup_fd` is the
    write end of the chain's start-up pipe; the caller keeps both and closes
    them.  Every child gets a copy of
    the pipe and closes it before its jail, so the read end sees end of file
    once the whole chain has started up.  The channels made here are closed
    here once passed on.  netproc also gets `report_fd` (the caller's), to
    write what the parent keeps for the next run (acme_conf/state.py);
    `kept` is what earlier runs kept, of which netproc and revokeproc learn
    the CA's renewal advice.
    """
    ends: dict[str, list[tuple[str, socket.socket]]] = {role: [] for role in CHAIN_ROLES}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for left, right in CHAIN_CHANNELS:
            left_end, right_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            ends[left].append((right, left_end))
            ends[right].append((left, right_end))
        for role in CHAIN_ROLES:
            channels = [*ends[role], *((peer, end) for owner, peer, end in chain_ends if owner == role)]
            spec = ChildSpec(
                role=role,
                handle=job.handle,
                verbosity=options.verbosity,
                strict_sandbox=options.strict_sandbox,
                channels=tuple((peer, end.fileno()) for peer, end in channels),
                settings=_with_report(settings_for(role, job, options, kept), report_fd),
                startup_fd=startup_fd,
            )
            processes[role] = _spawn(spec, import_path)
    except BaseException as error:
        _kill_started(processes)
        if isinstance(error, (OSError, ProcessFailure)):
            raise ProcessFailure(f"cannot start the process chain: {error}") from None
        raise
    finally:
        for role_ends in ends.values():  # the children have theirs now
            for _, end in role_ends:
                end.close()
    return processes


def _kill_started(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        if process.stderr is not None:
            process.stderr.close()


# Children start with -I -S: no environment, no user site, and no site.py,
# which would run every .pth file in site-packages (arbitrary code, and
# 16 ms per process here).  sys.path gets exactly the directories holding
# acme_conf and the libraries the roles import.
# gc.disable(): see acme_conf.proc.__main__.import_role, which turns it back on.
CHILD_BOOTSTRAP = (
    "import gc; gc.disable(); import sys; sys.path[:0] = sys.argv[3:]; "
    "from acme_conf.proc.__main__ import start; start()"
)


def child_import_path() -> tuple[str, ...]:
    """Directories a child imports acme_conf, cryptography and pyseccomp from."""
    paths: list[str] = []
    for module in ("acme_conf", "cryptography", "pyseccomp"):
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ProcessFailure(f"cannot locate the {module} module for the child processes")
        origin = Path(spec.origin)
        directory = origin.parent.parent if origin.name == "__init__.py" else origin.parent
        if str(directory) not in paths:
            paths.append(str(directory))
    return tuple(paths)


def _spawn(spec: ChildSpec, import_path: tuple[str, ...]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", CHILD_BOOTSTRAP, spec.role, spec.to_json(), *import_path],
        stdout=subprocess.DEVNULL,  # children report on stderr only; the sandbox points stdin at /dev/null
        stderr=subprocess.PIPE,  # read by the parent, which labels and sanitises every line (voice.py)
        pass_fds=[fd for _, fd in spec.channels] + [fd for fd in (spec.startup_fd, _parent_record_fd(spec)) if fd >= 0],
        close_fds=True,
        env={},  # nothing from the caller's environment reaches a child
        cwd="/",
        process_group=0,  # a ^C at the terminal reaches the parent, which stops the chain in order
    )


def _memfd(name: str) -> int:
    try:
        return os.memfd_create(name, os.MFD_CLOEXEC)
    except OSError as error:
        raise ProcessFailure(f"cannot start the process chain: {error.strerror}") from None


def _parent_record_fd(spec: ChildSpec) -> int:
    """The descriptor a child gets besides its channels: chngproc's or hookproc's journal, netproc's report, a responder's socket."""
    if isinstance(spec.settings, (ChngSettings, HookSettings)):
        return spec.settings.journal_fd
    if isinstance(spec.settings, LISTENING):
        return spec.settings.listen_fd
    if isinstance(spec.settings, NetSettings):
        return spec.settings.report_fd
    return -1


def _with_report(settings: Settings, report_fd: int) -> Settings:
    return settings._replace(report_fd=report_fd) if isinstance(settings, NetSettings) else settings


def key_settings(job: DomainJob) -> KeySettings:
    """keyproc's settings in a chain that issues; a check and a -K run start from these."""
    return KeySettings(str(job.domain_key), job.keytype.value, job.names, size=job.key_size or 0)


def settings_for(role: str, job: DomainJob, options: RunOptions, kept: DomainState = DomainState()) -> Settings:
    """What one child needs to know of the job (and of what earlier runs `kept`), and nothing more."""
    authority = job.authority
    if role == "netproc":
        return NetSettings(
            api_url=authority.api_url,
            ca_file=str(authority.ca_file or ""),
            insecure=authority.insecure,
            contact=authority.contact or "",
            names=job.names,
            profile=job.profile or "",
            revoke=options.revoke,
            eab=authority.binding is not None,
            revoke_reason=options.revoke_reason,
            revoke_with_domain_key=options.revoke_with_domain_key,
            rollover=authority.previous_account_key is not None,
            alternates=job.preferred_chain is not None,
            dns_persist=job.dns_persist,
            dns_hook=job.dns_hook is not None,
            tls_alpn=job.tls_alpn is not None,
            renewal_information=job.renewal_information,
            kept_window=kept_window(kept),
            account_action=options.account_action,
        )
    if role == "keyproc" and options.revoke_with_domain_key:
        return key_settings(job)._replace(
            revoke_at=authority.api_url, certificate=str(inspected_certificate(job)), revoke_reason=options.revoke_reason
        )
    if role == "keyproc":  # an account action only tells the key, if there is one: it creates nothing
        return key_settings(job)._replace(public_only=bool(options.account_action))
    if role == "certproc":
        return CertSettings(job.names, job.preferred_chain or "")
    if role == "fileproc":
        return FileSettings(
            cert_dir=str(job.cert_dir),
            certificate=_name_in(job.cert_dir, job.certificate),
            chain=_name_in(job.cert_dir, job.chain),
            fullchain=_name_in(job.cert_dir, job.fullchain),
            revoke=options.revoke,
        )
    if role == "revokeproc":
        return revoke_settings(job, options, alone=False, kept=kept)
    raise ProcessFailure(f"unknown role {role}")


def revoke_settings(job: DomainJob, options: RunOptions, *, alone: bool, kept: DomainState = DomainState()) -> RevokeSettings:
    """revokeproc's: in a chain, or `alone`, checking before any chain starts."""
    inspected = inspected_certificate(job)
    if inspected is None:
        raise ProcessFailure("neither a certificate nor a full chain is configured")
    settings = RevokeSettings(str(inspected), job.names, options.force, options.revoke, alone, job.renewal_information)
    renewal = kept.renewal
    if renewal is None or not job.renewal_information:
        return settings
    return settings._replace(
        kept_certificate=renewal.certificate,
        kept_moment=renewal.moment.isoformat() if renewal.moment is not None else "",
        next_check=renewal.next_check.isoformat(),
    )


def kept_window(kept: DomainState) -> tuple[str, ...]:
    """netproc's view of the kept renewal advice: (certificate id, start, end, moment), or () when none."""
    renewal = kept.renewal
    if renewal is None or renewal.window is None or renewal.moment is None:
        return ()
    start, end = renewal.window
    return (renewal.certificate, start.isoformat(), end.isoformat(), renewal.moment.isoformat())


def inspected_certificate(job: DomainJob) -> Path | None:
    """The file revokeproc judges: the certificate, else the full chain (its first certificate is the leaf)."""
    return job.certificate or job.fullchain


def shared_name(role: str, job: DomainJob) -> str:
    """Which of the run's shared processes serve `job` in `role`; the name starts their messages."""
    if role in ("dnsproc", "acctproc"):
        return f"authority {job.authority.name}"
    if role == "chngproc" and job.responder is not None:  # served by an httpproc
        return f"responder {job.responder[0]} port {job.responder[1]}"
    if role == "chngproc" and job.dns_hook is not None:  # served by a hookproc: one per hook and its options
        return f"hook {job.dns_hook.program}" + hook_options(job.dns_hook)
    if role == "chngproc" and job.tls_alpn is not None:  # served by a tlsproc
        return f"tls-alpn-01 responder {job.tls_alpn[0]} port {job.tls_alpn[1]}"
    if role == "chngproc":
        return f"challengedir {job.challengedir}"
    raise ProcessFailure(f"{role} is not shared")


def shared_settings(role: str, jobs: Sequence[DomainJob], options: RunOptions) -> Settings:
    """What a shared process serving `jobs` (one channel each, in this order) needs to know.

    What is per domain (the names acctproc may order, the challenge files
    chngproc may keep) is listed in the order of the channels.
    """
    job = jobs[0]  # every job shares the authority, or the challenge directory
    if role == "dnsproc":
        return DnsSettings()
    if role == "acctproc":
        authority = job.authority
        return AccountSettings(
            key_path=str(authority.account_key),
            keytype=authority.account_keytype.value,
            api_url=authority.api_url,
            contact=authority.contact or "",
            revoke=options.revoke,
            names=tuple(each.names for each in jobs),
            profiles=tuple(each.profile or "" for each in jobs),
            key_size=authority.account_key_size or 0,
            revoke_reason=options.revoke_reason,
            previous_key_path=str(authority.previous_account_key or ""),
            replaces=tuple(each.renewal_information for each in jobs),
            deactivate=options.account_action == DEACTIVATE,
            **_binding_settings(authority.binding),
        )
    if role == "chngproc" and job.dns_hook is not None:
        hook = job.dns_hook
        hidden, read_only = hook_view(
            str(hook.program), (*jobs, *options.every_domain), options.every_authority, state_directory()
        )
        return HookSettings(
            str(hook.program),
            hook.user or "",
            hook.timeout,
            hook.resolver or (),
            hook.wait,
            tuple(each.names for each in jobs),
            authority_indices(jobs),
            hidden,
            read_only,
        )
    if role == "chngproc" and job.responder is not None:
        return HttpSettings(job.responder[0], job.responder[1], tuple(len(each.names) for each in jobs), authority_indices(jobs))
    if role == "chngproc" and job.tls_alpn is not None:
        return TlsSettings(
            job.tls_alpn[0],
            job.tls_alpn[1],
            tuple(each.names for each in jobs),  # from the plan: the only identifiers a domain's netproc may publish for
            authority_indices(jobs),
        )
    if role == "chngproc":
        return ChngSettings(str(job.challengedir), tuple(len(each.names) for each in jobs), authority_indices(jobs))
    raise ProcessFailure(f"unknown role {role}")


def authority_indices(jobs: Sequence[DomainJob]) -> tuple[int, ...]:
    """For each job, which of its publisher's acctproc links tells its account: the authorities in first-named order."""
    authorities = list(dict.fromkeys(each.authority.name for each in jobs))  # the order of shared_links
    return tuple(authorities.index(each.authority.name) for each in jobs)


def hook_options(hook: DnsHook) -> str:
    """A hook's options that differ from the defaults, as written in the configuration ("" for none)."""
    words = [f" user {hook.user}"] if hook.user else []
    if hook.timeout != DnsHook.timeout:
        words.append(f" timeout {hook.timeout}")
    if hook.resolver is not None:
        words.append(f" resolver {hook.resolver[0]} port {hook.resolver[1]}")
    if hook.wait != DnsHook.wait:
        words.append(f" wait {hook.wait}")
    return "".join(words)


def _binding_settings(binding: AccountBinding | None) -> dict[str, str]:
    """acctproc's settings for an external account binding (none: the defaults)."""
    if binding is None:
        return {}
    return {
        "eab_kid": binding.kid,
        "eab_key_path": str(binding.mac_key_file),
        "eab_algorithm": MAC_ALGORITHMS[binding.algorithm],
    }


def _name_in(directory: Path, path: Path | None) -> str:
    """The file name of `path`, which must lie directly in `directory` (fileproc writes nowhere else)."""
    if path is None:
        return ""
    if path.parent != directory:
        raise ProcessFailure(f"{path} is not in the certificate directory {directory}")
    return path.name


def _watch(selector: selectors.BaseSelector, group: ProcessGroup) -> None:
    """Watch each child of `group` for its end (a pidfd) and for what it says (its stderr)."""
    for role, process in group.processes.items():
        assert process.stderr is not None
        fd = os.dup(process.stderr.fileno())  # ours to close; the Popen's copy goes now
        process.stderr.close()
        os.set_blocking(fd, False)
        speech = _ChildSpeech(ChildVoice(f"{group.name}: {role}"), fd)
        selector.register(fd, selectors.EVENT_READ, speech)
        pidfd = os.pidfd_open(process.pid)
        selector.register(pidfd, selectors.EVENT_READ, _ChildExit(group, role, pidfd, speech))


def _next_timeout(state: _Run, groups: list[ProcessGroup]) -> float | None:
    """Until the next deadline, or until a chain starting up no longer holds a waiting one back."""
    now = time.monotonic()
    deadline = min(group.next_deadline() for group in groups)
    if state.waiting:
        deadline = min([deadline] + [chain.startup_until for chain in state.running if chain.starting(now)])
    return None if deadline == NO_DEADLINE else max(0.0, deadline - now)


def _report(handle: str, role: str, code: int) -> None:
    """Say why a child ended badly, unless it has said so itself."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-code}"
        why = " (a system call outside its sandbox)" if -code == signal.SIGSYS else ""
        log.error("%s: %s killed by %s%s", handle, role, name, why)
    elif code not in (EXIT_FAILED, EXIT_PEER_GONE):
        log.error("%s: %s exited with status %d", handle, role, code)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    del frame
    raise _Stop(f"signal {signum}")
