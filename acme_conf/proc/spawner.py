"""How the parent starts a child: a fresh interpreter with its channels, its settings, and nothing else.

Every child is a fork and exec of `python -I -S` with an empty environment,
only its own channel descriptors (and its journal, report or listening
socket), and its settings (settings.py) as JSON on its command line.  Here
too: the socketpairs of a chain and of the shared processes, the descriptor
limit a run needs, and the sweeper that removes what a killed chngproc or
hookproc left behind.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from acme_conf.config.plan import DomainJob
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_OK
from acme_conf.proc.journal import is_record_entry, left_behind, open_journal
from acme_conf.proc.listener import open_listener
from acme_conf.state import DomainState
from acme_conf.proc.voice import ChildVoice
from acme_conf.proc.spec import ChildSpec, ChngSettings, HookSettings, NetSettings, RevokeSettings, RunHookSettings, Settings
from acme_conf.proc.process_group import GRACE_SECONDS, NO_DEADLINE, ProcessGroup, report_end, say
from acme_conf.proc.settings import (
    CHAIN_ROLES,
    LISTENING,
    RunOptions,
    SHARED_ROLES,
    certificate_missing,
    key_settings,
    revoke_settings,
    service_role,
    settings_for,
    shared_name,
    shared_plans,
)

log = logging.getLogger("acme_conf")

CHAIN_CHANNELS = (
    ("netproc", "revokeproc"),
    ("netproc", "keyproc"),
    ("netproc", "certproc"),
    ("certproc", "fileproc"),
    # keyproc tells certproc and revokeproc the domain key: never netproc
    ("keyproc", "certproc"),
    ("keyproc", "revokeproc"),
)
# A sweeper chngproc removes a few files (~0.1 s): a wait this long is one
# that hangs.  The parent waits for it in place, so the other children's
# stderr waits too (their pipes hold 64 KiB) and their deadlines are
# enforced after it; a chngproc that dies is rare enough for that.
SWEEP_SECONDS = 10.0
# Descriptors the parent needs besides those allow_descriptors counts: stdio,
# the lock, and the channels and start-up pipes of the running chains.
DESCRIPTOR_HEADROOM = 64
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
        what = f"{domains} domains in one run need" if domains else f"checking {max(1, max_chains)} domains at a time needs"
        raise ProcessFailure(
            f"{what} {needed} open descriptors, over the limit of {hard}: "
            "raise it (ulimit -n) or name fewer domains per run"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


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


def spawn_check(
    job: DomainJob,
    options: RunOptions,
    import_path: tuple[str, ...],
    kept: DomainState = DomainState(),
    report_fd: int = -1,
) -> dict[str, subprocess.Popen[bytes]]:
    """A revokeproc alone, and a keyproc that tells it the domain key (and creates nothing).

    revokeproc tells what it found in the file on `report_fd` (known_certificates.py).
    """
    judge_end, key_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        specs = (
            ChildSpec(
                "revokeproc", job.handle, options.verbosity, options.strict_sandbox,
                (("keyproc", judge_end.fileno()),),
                revoke_settings(job, options, alone=True, kept=kept)._replace(report_fd=report_fd),
            ),
            ChildSpec(
                "keyproc", job.handle, options.verbosity, options.strict_sandbox,
                (("revokeproc", key_end.fileno()),),
                key_settings(job)._replace(public_only=True),
            ),
        )
        for spec in specs:
            processes[spec.role] = spawn(spec, import_path)
    except BaseException as error:
        kill_started(processes)
        if isinstance(error, (OSError, ProcessFailure)):
            raise ProcessFailure(str(error)) from None
        raise
    finally:
        judge_end.close()
        key_end.close()
    return processes


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
            processes[spec.role] = spawn(spec, import_path)
    except BaseException as error:
        kill_started(processes)
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
        status = run_to_end(spec, import_path, sweep_seconds(settings))
    except OSError as error:
        log.error("%s: cannot start the %s that removes them: %s", name, role, error.strerror)
        return
    if status != EXIT_OK:
        log.error("%s: %s may be left", name, what)


def run_to_end(spec: ChildSpec, import_path: tuple[str, ...], seconds: float) -> int:
    """Start a child with no channel and wait for it (killed after `seconds`); relay what it said; its exit status.

    The parent waits in place, so the other children's stderr waits too:
    for a sweeper, or the run hook once every chain is over.
    """
    child = spawn(spec, import_path)
    try:
        _, said = child.communicate(timeout=seconds)
    except BaseException as stopped:  # a child that hangs, or a stop: it never outlives the parent
        said = _stop(child)
        if not isinstance(stopped, subprocess.TimeoutExpired):
            raise
        log.error("%s: %s did not end within %d s: stopped", spec.handle, spec.role, seconds)
    voice = ChildVoice(f"{spec.handle}: {spec.role}")
    say(voice.hear(said) + voice.hear(b""))
    if child.returncode != EXIT_OK:
        report_end(spec.handle, spec.role, child.returncode)
    return child.returncode


def _stop(child: subprocess.Popen[bytes]) -> bytes:
    """SIGTERM (the child ends what it started: a program's session), SIGKILL after the grace period; what it said."""
    child.terminate()
    try:
        return child.communicate(timeout=GRACE_SECONDS)[1]
    except BaseException:  # the grace is over, or a second stop: no more waiting
        child.kill()
        return child.communicate()[1]


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
    no_certificate = certificate_missing(job, options)
    roles = tuple(role for role in CHAIN_ROLES if not (no_certificate and role == "revokeproc"))
    ends: dict[str, list[tuple[str, socket.socket]]] = {role: [] for role in roles}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for left, right in CHAIN_CHANNELS:
            if left not in ends or right not in ends:
                continue  # a revokeproc not started
            left_end, right_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            ends[left].append((right, left_end))
            ends[right].append((left, right_end))
        for role in roles:
            channels = [*ends[role], *((peer, end) for owner, peer, end in chain_ends if owner == role)]
            settings = settings_for(role, job, options, kept)
            if no_certificate and isinstance(settings, NetSettings):
                settings = settings._replace(no_certificate=True)
            spec = ChildSpec(
                role=role,
                handle=job.handle,
                verbosity=options.verbosity,
                strict_sandbox=options.strict_sandbox,
                channels=tuple((peer, end.fileno()) for peer, end in channels),
                settings=_with_report(settings, report_fd),
                startup_fd=startup_fd,
            )
            processes[role] = spawn(spec, import_path)
    except BaseException as error:
        kill_started(processes)
        if isinstance(error, (OSError, ProcessFailure)):
            raise ProcessFailure(f"cannot start the process chain: {error}") from None
        raise
    finally:
        for role_ends in ends.values():  # the children have theirs now
            for _, end in role_ends:
                end.close()
    return processes


def kill_started(processes: dict[str, subprocess.Popen[bytes]]) -> None:
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


def spawn(spec: ChildSpec, import_path: tuple[str, ...]) -> subprocess.Popen[bytes]:
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


def memfd(name: str) -> int:
    try:
        return os.memfd_create(name, os.MFD_CLOEXEC)
    except OSError as error:
        raise ProcessFailure(f"cannot start the process chain: {error.strerror}") from None


def _parent_record_fd(spec: ChildSpec) -> int:
    """The descriptor a child gets besides its channels: chngproc's or hookproc's journal, netproc's or a check's
    revokeproc's report, a responder's socket, the run hook's document."""
    if isinstance(spec.settings, (ChngSettings, HookSettings)):
        return spec.settings.journal_fd
    if isinstance(spec.settings, RunHookSettings):
        return spec.settings.document_fd
    if isinstance(spec.settings, LISTENING):
        return spec.settings.listen_fd
    if isinstance(spec.settings, (NetSettings, RevokeSettings)):
        return spec.settings.report_fd
    return -1


def _with_report(settings: Settings, report_fd: int) -> Settings:
    return settings._replace(report_fd=report_fd) if isinstance(settings, NetSettings) else settings
