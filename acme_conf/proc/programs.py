"""Running an administrator's program from a role that runs programs (hookproc, runhookproc).

The program gets its argv (never a shell string), the environment it is
given and nothing else of ours, `/` as its directory, a session of its own
(so that a timeout kills everything it started), and it dies with the role
that runs it (PR_SET_PDEATHSIG).  What it prints is kept, at most
MAX_OUTPUT bytes, and only its last line, made safe to print, is said.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from acme_conf import paths
from acme_conf.acme.text import printable
from acme_conf.errors import ProcessFailure
from acme_conf.sandbox.process import die_with_parent

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_OUTPUT = 4096  # bytes of what the program printed that are kept, for the log and the error

log = logging.getLogger("acme_conf")


def check_program(program: str) -> None:
    """The program exists, may be run, and no other user may change it or what its path names (as -n checks)."""
    problem = paths.hook_program_refusal(program)
    if problem:
        raise ProcessFailure(f"hook {program}: {problem}")


def run_program(
    argv: Sequence[str], environment: Mapping[str, str], timeout: int, what: str, document: bytes | None = None
) -> None:
    """Run `argv` with `document` on its standard input (None: none); ProcessFailure unless it exits 0 in time.

    `what` starts every message about it ("hook add _acme-challenge.example.com.").
    """
    program_path = argv[0]
    started = time.monotonic()
    try:
        program = subprocess.Popen(
            tuple(argv),
            stdin=subprocess.DEVNULL if document is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(environment),
            cwd="/",
            close_fds=True,
            start_new_session=True,  # its own process group: a timeout kills everything it started
            preexec_fn=die_with_parent,  # a hookproc killed takes the program it runs with it
        )
    except OSError as error:
        raise ProcessFailure(f"{what}: cannot run {program_path}: {error.strerror}") from None
    try:
        output, _ = program.communicate(document, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_session(program)
        raise ProcessFailure(f"{what}: {program_path} did not finish within {timeout} s: killed") from None
    except BaseException:
        _kill_session(program)  # stopped: nothing it started may outlive this process
        raise
    said = last_line(output)
    log.debug("%s: exit status %d after %.1f s%s", what, program.returncode, time.monotonic() - started, said and f": {said}")
    if program.returncode != 0:
        status = f"killed by signal {-program.returncode}" if program.returncode < 0 else f"exit status {program.returncode}"
        raise ProcessFailure(f"{what}: {program_path} failed ({status}){said and ': ' + said}")


def _kill_session(program: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(program.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    program.wait()


def last_line(output: bytes | None) -> str:
    """The program's last line of output, made safe to print ("" for none)."""
    lines = (output or b"")[-MAX_OUTPUT:].decode("utf-8", "replace").strip().splitlines()
    return printable(lines[-1], 200) if lines else ""
