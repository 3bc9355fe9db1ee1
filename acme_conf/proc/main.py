"""The parent: one isolated process chain per domain job.

For each job it takes the domain's lock, creates the socketpairs, starts
the eight children (fork and exec of a fresh interpreter each, with only
their own channel descriptors and an empty environment), then reaps them.
It never touches a key, the network, or anything the CA sent.

When a child fails, the rest of its chain is asked to stop (SIGTERM: they
clean up, chngproc removes its files) and killed after a grace period, so
no process outlives the run.

Exit status of a run: 1 if any chain failed, else 0 if any certificate
changed, else 2.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from acme_conf.config.plan import DomainJob
from acme_conf.proc.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PEER_GONE,
    EXIT_UNCHANGED,
    ProcessFailure,
)
from acme_conf.proc.locks import DomainLock, lock_directory
from acme_conf.proc.signals import signals_held
from acme_conf.proc.spec import (
    ROLES,
    CertSettings,
    ChildSpec,
    ChngSettings,
    DnsSettings,
    FileSettings,
    KeySettings,
    NetSettings,
    RevokeSettings,
    Settings,
)

CHANNELS = (
    ("netproc", "revokeproc"),
    ("netproc", "dnsproc"),
    ("netproc", "acctproc"),
    ("netproc", "keyproc"),
    ("netproc", "chngproc"),
    ("netproc", "certproc"),
    ("certproc", "fileproc"),
)
GRACE_SECONDS = 5.0
# A chain that runs longer is stopped: the CA's polls give up after 10
# minutes, so this only ends a hang (a CA that trickles bytes, say), and
# frees the domain's lock for the next run.
CHAIN_DEADLINE_SECONDS = 20 * 60.0

log = logging.getLogger("acme_conf")


@dataclass(frozen=True)
class RunOptions:
    force: bool = False
    revoke: bool = False
    verbosity: int = 0
    max_chains: int = 1
    strict_sandbox: bool = False


@dataclass(frozen=True)
class ChainResult:
    handle: str
    failed: bool
    changed: bool


class _Stop(Exception):
    """The parent itself was asked to stop."""


@dataclass
class Chain:
    """The processes of one domain job while they run."""

    job: DomainJob
    lock: DomainLock
    processes: dict[str, subprocess.Popen[bytes]]
    status: dict[str, int] = field(default_factory=dict)
    kill_at: float | None = None
    give_up_at: float = field(default_factory=lambda: time.monotonic() + CHAIN_DEADLINE_SECONDS)

    @property
    def done(self) -> bool:
        return len(self.status) == len(self.processes)

    def reaped(self, role: str) -> None:
        process = self.processes[role]
        _, wait_status, usage = os.wait4(process.pid, 0)
        code = os.waitstatus_to_exitcode(wait_status)
        process.returncode = code  # reaped here, to read its CPU time
        self.status[role] = code
        cpu_ms = round((usage.ru_utime + usage.ru_stime) * 1000)
        log.debug("%s: %s exited %d after %d ms of CPU", self.job.handle, role, code, cpu_ms)
        if code == EXIT_PEER_GONE:
            return  # a neighbour failed; it reports and stops the chain itself
        if not _acceptable(role, code):
            if not (self.kill_at is not None and code in (-signal.SIGTERM, -signal.SIGKILL)):
                _report(self.job.handle, role, code)  # not a child this parent stopped itself
            self.stop()

    def stop(self) -> None:
        """Ask every live child to stop; kill what is left after the grace period."""
        if self.kill_at is not None:
            return
        self.kill_at = time.monotonic() + GRACE_SECONDS
        self._signal_unreaped(signal.SIGTERM)

    def enforce_deadlines(self, now: float) -> None:
        if self.kill_at is None and now >= self.give_up_at:
            log.error("%s: still running after %d minutes; stopping it", self.job.handle, CHAIN_DEADLINE_SECONDS // 60)
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

    def result(self) -> ChainResult:
        failed = any(not _acceptable(role, code) for role, code in self.status.items())
        changed = not failed and self.status.get("fileproc") == EXIT_OK
        return ChainResult(self.job.handle, failed, changed)


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
    try:
        import_path = child_import_path()
    except ProcessFailure as error:
        log.error("%s", error)
        return EXIT_FAILED
    results = _run_chains(jobs, options, import_path)
    done = "certificate revoked and removed" if options.revoke else "certificate updated"
    for result in results:
        outcome = "failed" if result.failed else done if result.changed else "nothing to do"
        log.info("%s: %s", result.handle, outcome)
    if any(result.failed for result in results):
        return EXIT_FAILED
    if any(result.changed for result in results):
        return EXIT_OK
    return EXIT_UNCHANGED


def _run_chains(jobs: Sequence[DomainJob], options: RunOptions, import_path: tuple[str, ...]) -> list[ChainResult]:
    """Start chains up to the bound, reap their children, and stop them all on ^C or SIGTERM.

    Children run in process groups of their own, so a ^C at the terminal
    reaches only this parent, which then stops them in order.  A job that
    did not finish (interrupted, or never started) counts as failed.
    """
    waiting = deque(jobs)
    running: list[Chain] = []
    results: dict[str, ChainResult] = {}
    selector = selectors.DefaultSelector()
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    stopping = False
    try:
        while waiting or running:
            try:
                with signals_held(signal.SIGINT, signal.SIGTERM):  # a started chain must be recorded
                    _start_chains(waiting, running, results, selector, options, import_path)
                _reap_chains(running, results, selector)
            except (KeyboardInterrupt, _Stop):
                if not stopping:
                    log.error("stopping on request")
                    stopping = True
                waiting.clear()
                for chain in running:
                    chain.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
        for key in list(selector.get_map().values()):
            os.close(key.data[2])
        selector.close()
    return [results.get(job.handle, ChainResult(job.handle, True, False)) for job in jobs]


def _start_chains(
    waiting: deque[DomainJob],
    running: list[Chain],
    results: dict[str, ChainResult],
    selector: selectors.BaseSelector,
    options: RunOptions,
    import_path: tuple[str, ...],
) -> None:
    while waiting and len(running) < max(1, options.max_chains):
        job = waiting.popleft()
        chain = _start_or_fail(job, options, import_path)
        if chain is None:
            results[job.handle] = ChainResult(job.handle, True, False)
            continue
        running.append(chain)
        _watch(selector, chain)
        log.debug("%s: chain started (%d running)", job.handle, len(running))


def _reap_chains(running: list[Chain], results: dict[str, ChainResult], selector: selectors.BaseSelector) -> None:
    if not running:
        return  # every chain so far failed to start: nothing to wait for
    events = selector.select(_next_timeout(running))  # where ^C and SIGTERM arrive
    with signals_held(signal.SIGINT, signal.SIGTERM):  # a reaped child must be recorded
        for key, _ in events:
            chain, role, pidfd = key.data
            selector.unregister(pidfd)
            os.close(pidfd)
            chain.reaped(role)
        now = time.monotonic()
        for chain in [chain for chain in running if chain.done]:
            running.remove(chain)
            chain.lock.release()
            results[chain.job.handle] = chain.result()
            log.debug("%s: chain finished", chain.job.handle)
        for chain in running:
            chain.enforce_deadlines(now)


def _start_or_fail(job: DomainJob, options: RunOptions, import_path: tuple[str, ...]) -> Chain | None:
    """The running chain of `job`, or None after saying why it could not start."""
    lock = DomainLock(lock_directory(), job.handle)
    try:
        lock.acquire()
        return Chain(job, lock, spawn_chain(job, options, import_path))
    except ProcessFailure as error:
        lock.release()
        log.error("%s: %s", job.handle, error)
        return None
    except BaseException:
        lock.release()
        raise


def spawn_chain(
    job: DomainJob, options: RunOptions, import_path: tuple[str, ...]
) -> dict[str, subprocess.Popen[bytes]]:
    """Create the channels and start the children; each gets only its own ends."""
    ends: dict[str, list[tuple[str, socket.socket]]] = {role: [] for role in ROLES}
    for left, right in CHANNELS:
        left_end, right_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ends[left].append((right, left_end))
        ends[right].append((left, right_end))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for role in ROLES:
            spec = ChildSpec(
                role=role,
                handle=job.handle,
                verbosity=options.verbosity,
                strict_sandbox=options.strict_sandbox,
                channels=tuple((peer, end.fileno()) for peer, end in ends[role]),
                settings=settings_for(role, job, options),
            )
            processes[role] = _spawn(spec, import_path)
    except BaseException as error:
        for process in processes.values():
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        if isinstance(error, (OSError, ProcessFailure)):
            raise ProcessFailure(f"cannot start the process chain: {error}") from None
        raise
    finally:
        for role_ends in ends.values():
            for _, end in role_ends:
                end.close()
    return processes


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
        pass_fds=[fd for _, fd in spec.channels],
        close_fds=True,
        env={},  # nothing from the caller's environment reaches a child
        cwd="/",
        process_group=0,  # a ^C at the terminal reaches the parent, which stops the chain in order
    )


def settings_for(role: str, job: DomainJob, options: RunOptions) -> Settings:
    """What one child needs to know of the job, and nothing more."""
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
        )
    if role == "dnsproc":
        return DnsSettings()
    if role == "acctproc":
        return KeySettings(str(authority.account_key), authority.account_keytype.value, ())
    if role == "keyproc":
        return KeySettings(str(job.domain_key), job.keytype.value, job.names)
    if role == "chngproc":
        return ChngSettings(str(job.challengedir))
    if role == "certproc":
        return CertSettings(job.names)
    if role == "fileproc":
        return FileSettings(
            cert_dir=str(job.cert_dir),
            certificate=_name_in(job.cert_dir, job.certificate),
            chain=_name_in(job.cert_dir, job.chain),
            fullchain=_name_in(job.cert_dir, job.fullchain),
            revoke=options.revoke,
        )
    if role == "revokeproc":
        inspected = job.certificate or job.fullchain
        if inspected is None:
            raise ProcessFailure("neither a certificate nor a full chain is configured")
        return RevokeSettings(str(inspected), job.names, options.force, options.revoke)
    raise ProcessFailure(f"unknown role {role}")


def _name_in(directory: Path, path: Path | None) -> str:
    """The file name of `path`, which must lie directly in `directory` (fileproc writes nowhere else)."""
    if path is None:
        return ""
    if path.parent != directory:
        raise ProcessFailure(f"{path} is not in the certificate directory {directory}")
    return path.name


def _watch(selector: selectors.BaseSelector, chain: Chain) -> None:
    for role, process in chain.processes.items():
        pidfd = os.pidfd_open(process.pid)
        selector.register(pidfd, selectors.EVENT_READ, (chain, role, pidfd))


def _next_timeout(running: list[Chain]) -> float:
    return max(0.0, min(chain.next_deadline() for chain in running) - time.monotonic())


def _acceptable(role: str, code: int) -> bool:
    return code == EXIT_OK or (role == "fileproc" and code == EXIT_UNCHANGED)


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
