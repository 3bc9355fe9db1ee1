"""The least CPU our process chain can cost: each role's unavoidable imports, measured, beside ours.

    .venv/bin/python bench/start_floor.py [--runs N] [--floor-a S] [--floor-c S]

Every role is a fork and exec of a fresh `python -I -S` (issue 15 keeps that
for every role that touches a key or what the CA sent: all of a chain's).
A fresh interpreter that does the role's job needs at least the libraries
the job is done with: TLS and HTTP for netproc, cryptography for the roles
that sign, build a CSR or parse a certificate.  This measures, in fresh
processes like the children, the CPU of

  - that minimum per role (nothing of ours: no logging, no dataclasses,
    no sandbox, no messages), and
  - the role's real import, as the child bootstrap does it,

minimum of N each, and adds them up for issue 15's scenarios: (a) one
certificate and (c) ten, first issuances (no revokeproc), with the parent's
start-up measured the same way.  Divided by the machine's cores, the sums are
a lower bound for the wall time: the processes could at best overlap
perfectly.  With --floor-a/--floor-c (bench/floor.py's wall times, seconds,
from bench/peers.py) it prints what that bound is as a multiple of the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path

from acme_conf.proc.spawner import child_import_path


# What each role's job cannot be done without, in a fresh interpreter.
CRYPTO = (
    "import cryptography.x509, cryptography.hazmat.primitives.serialization, "
    "cryptography.hazmat.primitives.asymmetric.ec, cryptography.hazmat.primitives.asymmetric.rsa"
)
UNAVOIDABLE = {
    "netproc": "import ssl, http.client, json",  # the CA over HTTPS, its JSON
    "acctproc": CRYPTO + "; import json",  # signs JWS with the account key
    "keyproc": CRYPTO,  # the domain key, the CSR
    "certproc": "import cryptography.x509",  # parses what the CA sent
    "fileproc": "pass",  # writes bytes
    "dnsproc": "import socket",  # getaddrinfo
    "chngproc": "pass",  # writes challenge files
}
CHAIN = ("netproc", "keyproc", "certproc", "fileproc")  # one per domain; a first issuance has no revokeproc
SHARED = ("acctproc", "dnsproc", "chngproc")  # one per run
PARENT_UNAVOIDABLE = "import lark"  # reads the configuration


def cpu_ms(code: str, *args: str) -> float:
    """CPU time (user + system) of one fresh `python -I -S -c code`, in milliseconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-I", "-S", "-c", code, *args], env={}, check=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def least(code: str, runs: int, *args: str) -> float:
    return min(cpu_ms(code, *args) for _ in range(runs))


def import_path() -> list[str]:
    """Where the children import from (spawner.child_import_path), and lark's directory for the parent's floor."""
    import lark

    paths = list(child_import_path())
    lark_directory = str(Path(lark.__file__).parent.parent)
    return paths if lark_directory in paths else [*paths, lark_directory]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--floor-a", type=float, default=0.0, help="bench/floor.py's wall time for (a), seconds")
    parser.add_argument("--floor-c", type=float, default=0.0, help="bench/floor.py's wall time for (c), seconds")
    args = parser.parse_args()
    paths = import_path()
    on_path = f"import sys; sys.path[:0] = {paths!r}; "
    ours_code = on_path + "import gc; gc.disable(); import importlib; importlib.import_module('acme_conf.proc.' + sys.argv[1])"

    bare = least("pass", args.runs)
    floor: dict[str, float] = {}
    ours: dict[str, float] = {}
    print(f"CPU of a fresh `python -I -S`, minimum of {args.runs}: bare {bare:.1f} ms")
    print("| role | unavoidable imports | ours (the role's import) |")
    print("|---|---|---|")
    for role, code in UNAVOIDABLE.items():
        floor[role] = least(on_path + code, args.runs)
        ours[role] = least(ours_code, args.runs, role)
        print(f"| {role} | {floor[role]:.1f} ms | {ours[role]:.1f} ms |")
    parent_floor = least(on_path + PARENT_UNAVOIDABLE, args.runs)
    print(f"| the parent (lark; ours: its whole start-up is in bench/issue.py's breakdown) | {parent_floor:.1f} ms | |")

    cores = os.cpu_count() or 1
    for label, domains, floor_wall in (("(a) 1 certificate", 1, args.floor_a), ("(c) 10 certificates", 10, args.floor_c)):
        least_cpu = parent_floor + sum(floor[r] for r in SHARED) + domains * sum(floor[r] for r in CHAIN)
        ours_cpu = parent_floor + sum(ours[r] for r in SHARED) + domains * sum(ours[r] for r in CHAIN)
        line = (
            f"{label}: starting the processes costs at least {least_cpu:.0f} ms of CPU "
            f"(ours: {ours_cpu:.0f} ms), so at least {least_cpu / cores:.0f} ms of wall time on {cores} cores "
            f"(ours: {ours_cpu / cores:.0f} ms), before any work"
        )
        if floor_wall > 0:
            line += f"; that bound alone is {least_cpu / cores / 1000 / floor_wall:.2f} times the floor's whole run"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
