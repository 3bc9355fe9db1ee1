"""Where the parent's messages go: standard error, and with --syslog the local syslog socket as well.

Every child's line reaches the user through the parent (voice.py labels
and sanitises it; process_group.say writes it), so the parent's logging is
the one place that decides where lines go.  The syslog socket is opened
here, by the command, before any child starts: nothing untrusted has run
yet, and no child ever holds it.

Levels: without -v, errors, warnings and notices (each domain's summary
line, and what children say at that level); -v adds one line per step
(INFO), -vv protocol detail (DEBUG).
"""

from __future__ import annotations

import logging
import os
import socket
import sys

log = logging.getLogger("acme_conf")
# What children said, relayed: already labelled "acme-client: HANDLE: ROLE: ...", so never through `log`'s stderr handler.
relayed = logging.getLogger("acme_conf.relayed")

NOTICE = 25  # shown without -v, as a child's notices (proc/child.py): each domain's summary line
SYSLOG_SOCKET = "/dev/log"
FACILITY_DAEMON = 3
MAX_DATAGRAM = 8192  # a line is at most a few thousand bytes (voice.MAX_LINE characters, escaped)
PREFIX = "acme-client: "


class SyslogUnavailable(Exception):
    """The syslog socket cannot be reached; the message says why."""


def configure_logging(verbosity: int, syslog_socket: str = "") -> None:
    """The parent's messages as `acme-client: ...` on stderr, and to `syslog_socket` ("": not) with children's lines too.

    SyslogUnavailable when that socket cannot be reached (stderr is set up first, so the caller can say so).
    """
    logging.addLevelName(NOTICE, "NOTICE")
    level = {0: NOTICE, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(PREFIX + "%(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(level)
    relayed.handlers[:] = []
    relayed.propagate = False  # stderr has the line already (process_group.say)
    relayed.setLevel(logging.DEBUG)  # each child says only what its own verbosity lets it
    logging.raiseExceptions = False  # a closed stderr is no reason to print tracebacks into it
    if syslog_socket:
        to_syslog = syslog_handler(syslog_socket)
        log.addHandler(to_syslog)
        relayed.addHandler(to_syslog)


class SyslogHandler(logging.Handler):
    """Each record as one datagram to the local syslog socket, RFC 3164 style: <PRIORITY>acme-client[PID]: MESSAGE.

    The socket is connected when the handler is made and never blocks: a
    syslog daemon that stops reading costs lines, never the run (the lines
    are on stderr as well).  Not logging.handlers.SysLogHandler: it connects
    again, blocking, after an error, and says nothing of a socket it cannot reach.
    """

    def __init__(self, address: str) -> None:
        super().__init__()
        self.tag = f"acme-client[{os.getpid()}]: "
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            self.sock.connect(address)
        except OSError:
            self.sock.close()
            raise

    def emit(self, record: logging.LogRecord) -> None:
        priority = FACILITY_DAEMON * 8 + _severity(record.levelno)
        try:
            self.sock.send(f"<{priority}>{self.tag}{self.format(record)}".encode("utf-8", "replace")[:MAX_DATAGRAM])
        except OSError:
            pass  # full, or the daemon is gone: the line is on stderr all the same

    def close(self) -> None:
        self.sock.close()
        super().close()


def _severity(level: int) -> int:
    """syslog's severity for a logging level: err, warning, notice, info, debug."""
    if level >= logging.ERROR:
        return 3
    if level >= logging.WARNING:
        return 4
    if level >= NOTICE:
        return 5
    return 6 if level >= logging.INFO else 7


def syslog_handler(address: str) -> logging.Handler:
    """A handler that sends each message to the syslog daemon at `address`; SyslogUnavailable when it cannot be reached."""
    try:
        handler = SyslogHandler(address)
    except OSError as error:
        raise SyslogUnavailable(f"cannot log to syslog: {address}: {error.strerror or error}") from None
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def relay(line: str) -> None:
    """A child's line, as written to stderr, to syslog too (when configured): without the program's prefix, which syslog's tag gives."""
    relayed.log(NOTICE, "%s", line.removeprefix(PREFIX))
