"""After the run: the run hooks (`hook changed`, `hook failed`), each in a runhookproc of its own.

`hook changed` runs once after a run in which at least one certificate
changed, `hook failed` once after a run that failed (exit status 1), both
when both hold, `changed` first; each decided on the run's status before
any hook ran.  Neither runs after -r, -K, -D, -k or -P: those runs install
nothing a server would reload.  A hook that fails (cannot start, exits
non-zero, overruns its timeout) makes the run's status 1; the certificates
already installed stay.

The parent never runs the program itself: it would run as root, with the
parent's descriptors and view of the keys.  It writes the document
(run_document.py) to a memfd and starts a runhookproc, which reads it,
enters the jail hookproc has (the same view of the file system, from the
same plan), and runs the program; the parent waits for it in place (every
chain is over) and relays what it says.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from types import FrameType

from acme_conf.config.plan import DomainJob, RunHook
from acme_conf.errors import ProcessFailure
from acme_conf.files import write_all
from acme_conf.proc.errors import EXIT_FAILED, EXIT_OK
from acme_conf.proc.hook_view import hook_view
from acme_conf.proc.reports import ChainResult
from acme_conf.proc.run_document import run_document
from acme_conf.proc.settings import RunOptions
from acme_conf.proc.spawner import child_import_path, memfd, run_to_end
from acme_conf.proc.spec import ChildSpec, RunHookSettings
from acme_conf.state import state_directory

log = logging.getLogger("acme_conf")

HANDLE = "run"  # what the run hook's messages start with: "acme-client: run: runhookproc: ..."
# runhookproc kills the program at its timeout; past this much more, runhookproc itself hangs, and is killed.
GRACE_SECONDS = 10.0


def hooks_due(hooks: Sequence[RunHook], results: Sequence[ChainResult], options: RunOptions, status: int) -> list[RunHook]:
    """The run hooks this run calls for: `changed` if a certificate changed, `failed` if the run failed."""
    if not options.installs:
        return []
    changed = any(result.changed for result in results)
    return [hook for hook in hooks if (hook.event == "changed" and changed) or (hook.event == "failed" and status == EXIT_FAILED)]


def run_hooks_after(jobs: Sequence[DomainJob], results: Sequence[ChainResult], options: RunOptions, status: int) -> int:
    """Run the hooks the run calls for; the run's exit status: `status`, or 1 when a hook failed."""
    hooks = hooks_due(options.run_hooks, results, options, status)
    if not hooks:
        return status
    previous = signal.signal(signal.SIGTERM, _interrupt)  # as ^C: the hook is stopped with what it started
    try:
        return _run_each(hooks, jobs, results, options, status)
    except KeyboardInterrupt:
        log.error("%s: stopping on request", HANDLE)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_each(
    hooks: Sequence[RunHook], jobs: Sequence[DomainJob], results: Sequence[ChainResult], options: RunOptions, status: int
) -> int:
    failed = False
    for hook in hooks:
        try:
            code = run_hook(hook, run_document(hook.event, status, jobs, results), jobs, options)
        except ProcessFailure as error:
            log.error("%s: hook %s: %s", HANDLE, hook.event, error)
            code = EXIT_FAILED
        except OSError as error:
            log.error("%s: hook %s: cannot start runhookproc: %s", HANDLE, hook.event, error.strerror or error)
            code = EXIT_FAILED
        if code != EXIT_OK:
            log.error("%s: hook %s failed: the run fails; the certificates installed stay", HANDLE, hook.event)
            failed = True
    return EXIT_FAILED if failed else status


def run_hook_settings(hook: RunHook, jobs: Sequence[DomainJob], options: RunOptions, document_fd: int) -> RunHookSettings:
    """runhookproc's: the hook, and hookproc's view of the files for the whole configuration (hook_view.py)."""
    hidden, read_only = hook_view(str(hook.program), (*jobs, *options.every_domain), options.every_authority, state_directory())
    return RunHookSettings(hook.event, str(hook.program), hook.arguments, hook.user or "", hook.timeout, document_fd, hidden, read_only)


def run_hook(hook: RunHook, document: bytes, jobs: Sequence[DomainJob], options: RunOptions) -> int:
    """Start a runhookproc for `hook` with `document`, wait for it; its exit status."""
    document_fd = memfd("acme-client-run-hook")
    try:
        write_all(document_fd, document)
        settings = run_hook_settings(hook, jobs, options, document_fd)
        spec = ChildSpec("runhookproc", HANDLE, options.verbosity, options.strict_sandbox, (), settings)
        log.info("%s: running hook %s", HANDLE, hook.event)
        return run_to_end(spec, child_import_path(), hook.timeout + GRACE_SECONDS)
    finally:
        os.close(document_fd)  # runhookproc had its own copy


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt
