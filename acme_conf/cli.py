"""acme-client(1): the command line.

    acme-client [-FKnrSv] [-f configfile] [-j jobs] [-R reason] [--syslog] [handle ...]
    acme-client [-Sv] [-f configfile] [--syslog] -D authority | -k authority
    acme-client [-Sv] [-f configfile] [--syslog] -P [handle ...]
    acme-client -l [-Sv] [-f configfile] [-j jobs] [--json] [--prometheus file] [handle ...]

Exit status: 0 a certificate changed (with -n: the configuration is good),
2 nothing changed, 1 failure; with -l, 0 every certificate current, 3 one
missing or due, 1 one that cannot be judged or a failure.  Errors go to
standard error; only `-nv` and `-l` write to standard output (the
configuration in canonical form; the status view).
"""

from __future__ import annotations

import getopt
import os
import sys
from dataclasses import dataclass

from platformdirs import user_config_dir

from acme_conf.config import ConfigErrors, dump, load_plan
from acme_conf.config.plan import DomainJob, Plan
from acme_conf.proc.spec import DEACTIVATE, RECORDS, ROLLOVER

SYSTEM_CONFIG = "/etc/acme-client.conf"
USAGE = (
    "usage: acme-client [-FKnrSv] [-f configfile] [-j jobs] [-R reason] [--syslog] [handle ...]\n"
    "       acme-client [-Sv] [-f configfile] [--syslog] -D authority | -k authority\n"
    "       acme-client [-Sv] [-f configfile] [--syslog] -P [handle ...]\n"
    "       acme-client -l [-Sv] [-f configfile] [-j jobs] [--json] [--prometheus file] [handle ...]"
)
LONG_OPTIONS = ("json", "prometheus=", "syslog")


# RFC 5280 section 5.3.1: the reasons a certificate's subscriber may give
# (the CA/Browser Forum's Baseline Requirements, section 4.9.1.1), by name.
REVOCATION_REASONS = {
    "unspecified": 0,
    "keyCompromise": 1,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
}


@dataclass(frozen=True)
class Options:
    """What the command line asks for, as the executor receives it."""

    config_path: str
    handles: tuple[str, ...]  # empty: every domain block
    force: bool  # -F: renew even if it is not due
    revoke: bool  # -r: revoke the certificates and remove their files
    verbose: int  # -v count
    jobs: int  # -j: at most this many domain chains at once
    check_only: bool  # -n
    strict_sandbox: bool = False  # -S: a sandbox mechanism that cannot be applied is fatal
    revoke_reason: int = -1  # -R: the RFC 5280 reason code to revoke with (implies -r); -1: none
    revoke_with_domain_key: bool = False  # -K: revoke signing with the domain key, not the account's (implies -r)
    account_action: str = ""  # -D: DEACTIVATE, -k: ROLLOVER the account of `authority`; -P: print RECORDS; "": none
    authority: str = ""  # the authority -D or -k names
    status: bool = False  # -l: show each certificate's status; order nothing
    json: bool = False  # --json: the status view as JSON (implies -l)
    prometheus: str = ""  # --prometheus FILE: also write the status view's metrics there, whole (implies -l)
    syslog: bool = False  # --syslog: also send every line to the local syslog socket


class UsageError(Exception):
    """The command line is wrong; the message says how."""


def main(argv: list[str] | None = None) -> int:
    """Run acme-client with `argv` (default: sys.argv[1:]); the exit status.

    Interrupted (^C) before any certificate work starts: 1.  A closed
    standard error does not change the status (cron pipes it to mail).
    """
    try:
        status = _run(argv)
    except KeyboardInterrupt:
        status = 1
    _flush_stderr()
    return status


def _flush_stderr() -> None:
    try:
        sys.stderr.flush()
    except OSError:
        # Nobody reads stderr any more: point it at /dev/null so that the
        # interpreter's own flush at exit cannot turn the status into 120.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())
        os.close(devnull)


def _run(argv: list[str] | None) -> int:
    try:
        options = parse_arguments(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        _say(f"acme-client: {error}" if str(error) else "")
        _say(USAGE)
        return 1
    try:
        plan = load_plan(options.config_path)
    except ConfigErrors as errors:
        for error in errors.errors:
            # "file:line: why" as upstream; about a whole file, "acme-client: file: why".
            _say(str(error) if error.line else f"acme-client: {error}")
        return 1
    for warning in plan.warnings:
        _say(f"warning: {warning}")
    if options.account_action in (DEACTIVATE, ROLLOVER):
        jobs = select_account_job(plan, options.authority)
    else:
        jobs = select_jobs(plan, options.handles)
    if jobs is not None and options.account_action == RECORDS:
        jobs = select_persist_jobs(jobs, plan.source)
    if jobs is None:
        return 1
    if options.check_only:
        if options.verbose:
            sys.stdout.write(dump(_only(plan, jobs) if options.handles else plan))
        return 0
    if options.status:
        return _show_status(plan, jobs, options)
    return _execute(plan, jobs, options)


def parse_arguments(argv: list[str]) -> Options:
    """Options from the command line; UsageError if it is wrong."""
    try:
        flags, handles = getopt.getopt(argv, "D:Ff:j:Kk:lnPR:rSv", LONG_OPTIONS)
    except getopt.GetoptError as error:
        raise UsageError(error.msg) from None
    config_path = None
    force = revoke = check_only = strict_sandbox = False
    verbose = 0
    reason = -1
    by_domain_key = False
    jobs = os.cpu_count() or 1
    account_action = authority = prometheus = ""
    status = as_json = syslog = False
    for flag, value in flags:
        if flag in ("-D", "-k", "-P"):
            if account_action:
                raise UsageError("-D, -k and -P: one at a time")
            account_action, authority = {"-D": DEACTIVATE, "-k": ROLLOVER, "-P": RECORDS}[flag], value
        elif flag == "-F":
            force = True
        elif flag == "-f":
            config_path = value
        elif flag == "-j":
            jobs = _positive_number(value)
        elif flag == "-n":
            check_only = True
        elif flag == "-r":
            revoke = True
        elif flag == "-K":
            by_domain_key = revoke = True
        elif flag == "-R":
            reason = _revocation_reason(value)
            revoke = True
        elif flag == "-S":
            strict_sandbox = True
        elif flag == "-v":
            verbose += 1
        elif flag == "-l":
            status = True
        elif flag == "--json":
            status = as_json = True
        elif flag == "--prometheus":
            if not value:
                raise UsageError("--prometheus: a file to write is needed")
            status, prometheus = True, value
        elif flag == "--syslog":
            syslog = True
    if status and (force or revoke or check_only or account_action or syslog):
        raise UsageError("-l shows the status: none of -D, -F, -K, -k, -n, -P, -R, -r, --syslog")
    if account_action == RECORDS and (force or revoke or check_only):
        raise UsageError("-P prints records: none of -F, -K, -n, -R, -r")
    if account_action and account_action != RECORDS and (handles or force or revoke or check_only):
        raise UsageError("-D and -k act on an authority's account: no handle, and none of -F, -K, -n, -R, -r")
    return Options(
        config_path=config_path if config_path is not None else default_config_path(),
        handles=tuple(handles),
        force=force,
        revoke=revoke,
        verbose=verbose,
        jobs=jobs,
        check_only=check_only,
        strict_sandbox=strict_sandbox,
        revoke_reason=reason,
        revoke_with_domain_key=by_domain_key,
        account_action=account_action,
        authority=authority,
        status=status,
        json=as_json,
        prometheus=prometheus,
        syslog=syslog,
    )


def _revocation_reason(name: str) -> int:
    """The RFC 5280 code of a reason given by name (any case)."""
    for known, code in REVOCATION_REASONS.items():
        if name.lower() == known.lower():
            return code
    raise UsageError(f"-R {name}: not a revocation reason ({', '.join(REVOCATION_REASONS)})")


def default_config_path() -> str:
    """/etc/acme-client.conf for root; for others their own, if they have one."""
    if os.geteuid() == 0:
        return SYSTEM_CONFIG
    own = os.path.join(user_config_dir("acme-client"), "acme-client.conf")
    if os.path.exists(own):
        return own
    return SYSTEM_CONFIG


def select_jobs(plan: Plan, handles: tuple[str, ...]) -> tuple[DomainJob, ...] | None:
    """The jobs the handles name (all without handles); None after saying which are unknown."""
    if not handles:
        return plan.domains
    jobs = []
    unknown = False
    for handle in dict.fromkeys(handles):
        job = plan.domain(handle)
        if job is None:
            _say(f"acme-client: domain {handle} not found in {plan.source}")
            unknown = True
        else:
            jobs.append(job)
    return None if unknown else tuple(jobs)


def select_account_job(plan: Plan, authority: str) -> tuple[DomainJob, ...] | None:
    """The first domain block signed with `authority`: its chain carries the account action; None after saying why."""
    if not any(each.name == authority for each in plan.authorities):
        known = ", ".join(each.name for each in plan.authorities) or "none"
        _say(f"acme-client: authority {authority} not found in {plan.source} (authorities: {known})")
        return None
    for job in plan.domains:
        if job.authority.name == authority:
            return (job,)
    _say(f"acme-client: authority {authority}: no domain block signs with it, so it has no account to act on")
    return None


def select_persist_jobs(jobs: tuple[DomainJob, ...], source: str) -> tuple[DomainJob, ...] | None:
    """-P: the domain blocks that validate with dns-persist-01 (the others have no record); None after saying none does."""
    chosen = tuple(job for job in jobs if job.dns_persist)
    if not chosen:
        _say(f"acme-client: -P: no domain block {'named ' if jobs else ''}in {source} has challenge dns-persist-01")
        return None
    return chosen


def _configure_logging(options: Options) -> bool:
    """The parent's logging, with syslog's socket opened now, before any child runs; False after saying why not."""
    from acme_conf.proc import run_log  # the parent only; -n never loads it

    try:
        run_log.configure_logging(options.verbose, run_log.SYSLOG_SOCKET if options.syslog else "")
    except run_log.SyslogUnavailable as error:
        _say(f"acme-client: {error}")
        return False
    return True


def _show_status(plan: Plan, jobs: tuple[DomainJob, ...], options: Options) -> int:
    """-l: each certificate's status on standard output (a table, or JSON), and the Prometheus file; the exit status."""
    from datetime import datetime, timezone
    from pathlib import Path

    from acme_conf.proc import status_report, status_view
    from acme_conf.proc.settings import RunOptions
    from acme_conf.state import state_directory

    if not _configure_logging(options):
        return 1
    now = datetime.now(timezone.utc)
    run = RunOptions(verbosity=options.verbose, max_chains=options.jobs, strict_sandbox=options.strict_sandbox,
                     every_domain=plan.domains, every_authority=plan.authorities)
    statuses = status_view.gather(jobs, run, state_directory(), now)
    try:
        sys.stdout.write(status_report.document(statuses, now) if options.json else status_report.table(statuses, now))
        sys.stdout.flush()
    except OSError as error:
        _say(f"acme-client: cannot write the status: {error.strerror}")
        return status_report.EXIT_ERROR
    if options.prometheus:
        try:
            status_report.write_whole(Path(options.prometheus), status_report.prometheus(statuses))
        except OSError as error:
            _say(f"acme-client: {options.prometheus}: cannot write the metrics: {error.strerror}")
            return status_report.EXIT_ERROR
    return status_report.exit_status(statuses)


def _execute(plan: Plan, jobs: tuple[DomainJob, ...], options: Options) -> int:
    """Keep the certificates of `jobs` current; the exit status (0, 1 or 2)."""
    from acme_conf.proc import scheduler  # the parent only; -n never loads it
    from acme_conf.proc.settings import RunOptions

    if not _configure_logging(options):
        return 1
    return scheduler.run(
        jobs,
        RunOptions(
            force=options.force,
            revoke=options.revoke,
            revoke_reason=options.revoke_reason,
            revoke_with_domain_key=options.revoke_with_domain_key,
            account_action=options.account_action,
            verbosity=options.verbose,
            max_chains=options.jobs,
            strict_sandbox=options.strict_sandbox,
            every_domain=plan.domains,
            every_authority=plan.authorities,
            run_hooks=plan.run_hooks,
        ),
    )


def _only(plan: Plan, jobs: tuple[DomainJob, ...]) -> Plan:
    """`plan` reduced to `jobs` (and every authority, so it reads back)."""
    return Plan(plan.source, plan.authorities, jobs, plan.warnings, plan.run_hooks)


def _positive_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"-j {text}: not a positive number")
    return int(text)


def _say(line: str) -> None:
    if line:
        try:
            sys.stderr.write(line + "\n")
        except OSError:
            pass  # stderr closed: the exit status still tells
