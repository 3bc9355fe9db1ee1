"""Children watched and stopped together: a domain's chain, a check, or shared processes.

The parent watches each child's pidfd for its end and its stderr for what
it says (relayed labelled and sanitised, voice.py); a group whose child
fails is asked to stop (SIGTERM), and killed after a grace period.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from acme_conf.proc.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PEER_GONE,
    EXIT_UNCHANGED,
)
from acme_conf.proc.run_log import relay
from acme_conf.proc.voice import ChildVoice

log = logging.getLogger("acme_conf")

GRACE_SECONDS = 5.0
NO_DEADLINE = float("inf")


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
                report_end(self.name, role, code)  # not a child this parent stopped itself
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


class ChildExit(NamedTuple):
    """A child's pidfd in the selector: readable once the child has exited."""

    group: ProcessGroup
    role: str
    pidfd: int
    speech: "ChildSpeech"  # its stderr, drained before its exit is reported


@dataclass(eq=False)
class ChildSpeech:
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
        say(self.voice.hear(data))
        if not data:
            selector.unregister(self.fd)
            os.close(self.fd)
            self.fd = None

    def drain(self, selector: selectors.BaseSelector) -> None:
        """The child has exited: everything it wrote, before anything is said about its end."""
        while self.fd is not None:
            os.set_blocking(self.fd, True)  # its writer is gone: end of file comes after the data
            self.relay(selector)


def say(lines: list[str]) -> None:
    for line in lines:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except OSError:
            pass  # a closed stderr must not change the status
        relay(line)  # and to syslog, when asked (run_log.py)


def watch(selector: selectors.BaseSelector, group: ProcessGroup) -> None:
    """Watch each child of `group` for its end (a pidfd) and for what it says (its stderr)."""
    for role, process in group.processes.items():
        assert process.stderr is not None
        fd = os.dup(process.stderr.fileno())  # ours to close; the Popen's copy goes now
        process.stderr.close()
        os.set_blocking(fd, False)
        speech = ChildSpeech(ChildVoice(f"{group.name}: {role}"), fd)
        selector.register(fd, selectors.EVENT_READ, speech)
        pidfd = os.pidfd_open(process.pid)
        selector.register(pidfd, selectors.EVENT_READ, ChildExit(group, role, pidfd, speech))


def report_end(handle: str, role: str, code: int) -> None:
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
