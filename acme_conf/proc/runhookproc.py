"""runhookproc: runs the configured run hook once, after the run, with the run's account on its standard input.

The parent starts one for `hook changed` after a run in which a certificate
changed, and one for `hook failed` after a run in which a domain failed
(proc/run_hook.py).  It runs

    PROGRAM [ARGUMENT ...]

with the JSON document the parent wrote (proc/run_document.py) on its
standard input, a clean environment (PATH, and ACME_CLIENT_HOOK naming the
event), `/` as its directory, in a session of its own killed whole when the
program overruns its timeout (proc/programs.py).

The program is the administrator's and may need anything (a service
manager, a shell, another host), so, as hookproc, this role has no seccomp
filter and no Landlock rules, which the program would inherit.  Its jail is
hookproc's view of the file system (sandbox/mounts.py: every key's
directory empty, the certificate, challenge and state directories
read-only), the hook's user (never root) when started as root, no
capabilities, no_new_privs, and no descriptor of ours.  The program is
checked first: no other user may change it or a directory on its path.
"""

from __future__ import annotations

import logging
import os

from acme_conf import sandbox
from acme_conf.errors import ProcessFailure
from acme_conf.proc.child import run_role
from acme_conf.proc.errors import EXIT_OK
from acme_conf.proc.programs import PATH, check_program, run_program
from acme_conf.proc.spec import ChildSpec, RunHookSettings

MAX_DOCUMENT = 64 * 2**20  # the parent's document: some 500 bytes a domain

log = logging.getLogger("acme_conf")


def acquire(spec: ChildSpec) -> bytes:
    settings = spec.settings
    assert isinstance(settings, RunHookSettings)
    check_program(settings.program)
    return read_document(settings.document_fd)


def read_document(fd: int) -> bytes:
    """The whole document the parent wrote to its memfd, which is then closed."""
    try:
        chunks, size = [], 0
        while chunk := os.pread(fd, 1 << 20, size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_DOCUMENT:
                raise ProcessFailure(f"the run's document is over {MAX_DOCUMENT} bytes")
        return b"".join(chunks)
    except OSError as error:
        raise ProcessFailure(f"cannot read the run's document: {error.strerror}") from None
    finally:
        os.close(fd)


def grants(spec: ChildSpec, document: bytes) -> sandbox.Grants:
    del document
    settings = spec.settings
    assert isinstance(settings, RunHookSettings)
    return sandbox.Grants(
        channels=(),
        strict=spec.strict_sandbox,
        hidden=settings.hidden,
        read_only=settings.read_only,
        user=settings.user,
    )


def serve(spec: ChildSpec, document: bytes) -> int:
    settings = spec.settings
    assert isinstance(settings, RunHookSettings)
    environment = {"PATH": PATH, "ACME_CLIENT_HOOK": settings.event}
    argv = (settings.program, *settings.arguments)
    run_program(argv, environment, settings.timeout, f"hook {settings.event}", document)
    log.info("hook %s: %s ran", settings.event, settings.program)
    return EXIT_OK


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
