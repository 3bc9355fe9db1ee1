"""The life every child shares: log setup, acquire, jail, serve, exit status.

    held = acquire(spec)                      # open files, load keys, import
    sandbox.enter(role, grants(spec, held))   # drop every right not needed
    return serve(spec, held)                  # read, dispatch, reply

Failures become one line on stderr and an exit status; a neighbour's death
(end of file mid-exchange) is not reported as this process's failure.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Protocol, TypeVar

from acme_conf import sandbox
from acme_conf.acme.text import printable
from acme_conf.ipc import Channel, ChannelClosed, ChannelError, close_all
from acme_conf.messages import Message
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PEER_GONE,
    Terminated,
)
from acme_conf.proc.spec import ChildSpec

H = TypeVar("H")
M = TypeVar("M", bound=Message)

LOGGER_NAME = "acme_conf"
log = logging.getLogger(LOGGER_NAME)
NOTICE = 25  # shown without -v: an account created, a certificate revoked


def setup_logging(spec: ChildSpec) -> logging.Logger:
    """Bare messages on stderr: the parent reads them and labels each with the domain and role (proc/voice.py)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel({0: NOTICE, 1: logging.INFO}.get(spec.verbosity, logging.DEBUG))
    logging.raiseExceptions = False  # a closed stderr is no reason to print tracebacks into it
    return logger


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    del frame
    raise Terminated(f"stopped by signal {signum}")


def run_role(
    spec: ChildSpec,
    acquire: Callable[[ChildSpec], H],
    grants: Callable[[ChildSpec, H], sandbox.Grants],
    serve: Callable[[ChildSpec, H], int],
) -> int:
    """Acquire (and warm up), jail, serve; the exit status, a failure said in one line.

    Once jailed, nothing may be imported (sandbox/imports.py): an attempt
    fails the role, and so does a module found loaded at the end.
    """
    logger = setup_logging(spec)
    signal.signal(signal.SIGTERM, _raise_terminated)
    guard: sandbox.ImportGuard | None = None
    try:
        held = acquire(spec)
        if spec.startup_fd >= 0:
            os.close(spec.startup_fd)  # started up: the parent may start the next chain
        guard = sandbox.enter(spec.role, grants(spec, held)).imports
        status = serve(spec, held)
    except BaseException as error:
        # The work is over: a stop request must not cut the report short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        status = report_failure(logger, error)
        if isinstance(error, sandbox.ImportAfterJail):
            return status  # said: the first late import is the cause
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return status if guard is None else imports_checked(logger, guard, status)


def imports_checked(logger: logging.Logger, guard: sandbox.ImportGuard, status: int) -> int:
    """`status`, unless a module was tried or loaded after the jail (an attempt something swallowed)."""
    late = guard.violations()
    if late:
        logger.error("internal error: %s imported %s after its jail", guard.role, ", ".join(late))
        return EXIT_FAILED
    logger.debug("nothing imported after the jail")
    return status


def report_failure(logger: logging.Logger, error: BaseException) -> int:
    """Say why the role failed, in one line, and give its exit status."""
    if isinstance(error, (Terminated, KeyboardInterrupt)):
        logger.debug("stopped on request")
        return EXIT_FAILED
    if isinstance(error, ChannelClosed):
        logger.debug("%s", error)
        return EXIT_PEER_GONE
    if not isinstance(error, (ProcessFailure, ChannelError, sandbox.SandboxError)) and logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s", _frames(error.__traceback__))  # before the line that says why: the parent keeps that one
    if isinstance(error, ChannelError):
        logger.error("bad message: %s", printable(error))
    elif isinstance(error, ProcessFailure):
        logger.error("%s", error)
    elif isinstance(error, sandbox.SandboxError):
        logger.error("sandbox: %s", error)
    elif isinstance(error, sandbox.ImportAfterJail):  # a warm-up missed it: ours to fix, never the input's fault
        logger.error("internal error: %s", error)
    else:  # the last line of defence: report, never hang
        logger.error("internal error: %s: %s", type(error).__name__, printable(error))
    return EXIT_FAILED


def _frames(tb: TracebackType | None) -> str:
    """Where an error happened, without reading source files (the jail forbids it)."""
    return " <- ".join(
        f"{frame.f_code.co_filename}:{lineno} {frame.f_code.co_name}"
        for frame, lineno in reversed(list(traceback.walk_tb(tb)))
    )


# How long a shared process waits for the rest of a frame, or for a netproc to
# take its reply: a request is a few hundred bytes sent at once, so a wait
# this long is a netproc that stalls, and every other domain would wait too.
STALL_SECONDS = 10.0


def netproc_channels(spec: ChildSpec) -> tuple[Channel, ...]:
    """A shared role's channels: one to the netproc of each domain it serves, none allowed to stall it."""
    channels = tuple(Channel.from_fd(fd, "netproc") for fd in spec.channel_fds("netproc"))
    for channel in channels:
        channel.bound_waits(STALL_SECONDS)
    return channels


class SideServer(Protocol):
    """Descriptors a role serves beside its channels (httpproc's listening socket and its clients)."""

    def start(self, poller: "select.poll") -> None:
        """Register its descriptors."""

    def ready(self, poller: "select.poll", fd: int, events: int) -> bool:
        """Handle an event on `fd` if it is one of its own; False if it is not."""

    def timeout_ms(self) -> int | None:
        """How long the loop may wait for the next event (None: as long as it likes)."""

    def expire(self, poller: "select.poll") -> None:
        """Drop what has waited too long."""

    def close(self) -> None:
        """Close every descriptor of its own."""


def answer_until_closed(
    channels: Sequence[Channel],
    answer: Callable[[Channel, M], Message],
    *expected: type[M],
    max_requests: int | Callable[[Channel], int],
    closed: Callable[[Channel], None] | None = None,
    side: SideServer | None = None,
) -> int:
    """The serve loop of a role that only answers: reply to each request until every peer closes.

    End of file between requests is the normal end of a conversation.  The
    roles a run shares (an authority's dnsproc and acctproc, a challenge
    directory's chngproc) serve several netprocs, one per domain: a channel
    that sends what it may not, or more requests than `max_requests` allows
    it (a number, or one per channel), is dropped without disturbing the
    others, and the role fails at the end.  `closed` hears of every channel
    dropped, for the clean-up that belongs to its domain.  A request is
    answered whole before the next is read.  A `side` server's descriptors
    are served in the same loop, until the last channel closes.
    """
    open_channels = {channel.fileno(): channel for channel in channels}
    served = dict.fromkeys(open_channels, 0)
    poller = select.poll()
    for fd in open_channels:
        poller.register(fd, select.POLLIN)
    if side is not None:
        side.start(poller)
    misbehaved = 0
    try:
        while open_channels:
            events = poller.poll(side.timeout_ms() if side is not None else None)
            if side is not None:
                side.expire(poller)
            for fd, event in events:
                if side is not None and side.ready(poller, fd, event):
                    continue
                if fd not in open_channels:
                    continue  # dropped earlier in this round
                channel = open_channels[fd]
                try:
                    request = channel.recv(*expected)
                    served[fd] += 1
                    cap = max_requests if isinstance(max_requests, int) else max_requests(channel)
                    if served[fd] > cap:
                        raise ChannelError(f"more than {cap} requests")
                    channel.send(answer(channel, request))
                    continue
                except ChannelClosed:
                    pass
                except ChannelError as error:
                    log.error("bad message from %s: %s", channel.peer, printable(error))
                    misbehaved += 1
                poller.unregister(fd)
                del open_channels[fd]
                if closed is not None:
                    closed(channel)
                channel.close()
    finally:
        close_all(open_channels.values())
        if side is not None:
            side.close()
    return EXIT_FAILED if misbehaved else EXIT_OK


def report_to_parent(report_fd: int, record: dict[str, object], what: str) -> None:
    """One line of JSON to the parent's report memfd (a few hundred bytes: written whole), if there is one.

    The parent reads it once the process has ended, and keeps only checked,
    typed values of it (acme_conf/state.py).
    """
    if report_fd < 0:
        return
    try:
        os.write(report_fd, json.dumps(record).encode("ascii") + b"\n")
    except OSError as error:
        log.warning("cannot tell the parent %s: %s", what, error.strerror)
