"""Entry of every child: `python -I -S -c BOOTSTRAP ROLE SPEC-JSON PATH...`.

The parent starts children through acme_conf.proc.main.CHILD_BOOTSTRAP,
which puts the PATHs on sys.path and calls start().

Imports exactly one role module, chosen from a fixed list, so each child
loads only what its role uses.  Exits without interpreter teardown: the
role has closed its channels and flushed its files, and teardown after the
jail would only make system calls the sandbox need not allow.
"""

import importlib
import os
import sys

from acme_conf.proc.errors import EXIT_FAILED
from acme_conf.proc.spec import ROLES, ChildSpec


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ROLES:
        sys.stderr.write("acme-client: child processes are started by acme-client itself\n")
        return EXIT_FAILED
    role_module = importlib.import_module(f"acme_conf.proc.{sys.argv[1]}")
    spec = ChildSpec.from_json(sys.argv[2])
    if spec.role != sys.argv[1]:
        sys.stderr.write("acme-client: child role and specification disagree\n")
        return EXIT_FAILED
    return int(role_module.main(spec))


def start() -> None:
    status = main()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    start()
