"""Entry of every child: `python -I -S -c BOOTSTRAP ROLE SPEC-JSON PATH...`.

The parent starts children through acme_conf.proc.spawner.CHILD_BOOTSTRAP,
which puts the PATHs on sys.path and calls start().

Imports exactly one role module, chosen from a fixed list, so each child
loads only what its role uses.  Exits without interpreter teardown: the
role has closed its channels and flushed its files, and teardown after the
jail would only make system calls the sandbox need not allow.
"""

import gc
import importlib
import os
import signal
import sys
import types

from acme_conf.proc.errors import EXIT_FAILED
from acme_conf.proc.spec import ROLES, ChildSpec


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ROLES:
        sys.stderr.write("acme-client: child processes are started by acme-client itself\n")
        return EXIT_FAILED
    role_module = import_role(sys.argv[1])
    spec = ChildSpec.from_json(sys.argv[2])
    if spec.role != sys.argv[1]:
        sys.stderr.write("acme-client: child role and specification disagree\n")
        return EXIT_FAILED
    return int(role_module.main(spec))


def import_role(role: str) -> types.ModuleType:
    """The role's module, imported while the cyclic collector is paused.

    The bootstrap pauses it before the first import: imports allocate tens of
    thousands of objects and hardly any garbage, and the collector would walk
    them again and again (5-8 ms of each child's start).  Afterwards they are
    frozen out of its sight and it runs as usual.
    """
    try:
        return importlib.import_module(f"acme_conf.proc.{role}")
    finally:
        gc.freeze()
        gc.enable()


def start() -> None:
    """Run the role and exit with its status, whatever happens to stderr or signals on the way."""
    # The parent spawns with ^C and SIGTERM held; a child starts with none held.
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    try:
        status = main()
    except BaseException:  # interrupted while starting, before the role could report: stay quiet
        status = EXIT_FAILED
    try:
        sys.stderr.flush()
    except OSError:
        pass  # a closed stderr must not change the status the parent computes from
    os._exit(status)


if __name__ == "__main__":
    start()
