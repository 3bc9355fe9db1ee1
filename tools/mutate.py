#!/usr/bin/env python3
"""Remove each defence in turn from a scratch copy and check that a test fails: the mutation figure.

    .venv/bin/python tools/mutate.py              # every mutation, each with its focused tests
    .venv/bin/python tools/mutate.py --full       # each with the whole suite instead (hours)
    .venv/bin/python tools/mutate.py --list       # the table
    .venv/bin/python tools/mutate.py --only NAME  # one (repeat it for more)

Every row of MUTATIONS names a defence, the file it lives in, an exact text
that must occur there exactly once (else the row is STALE: the code moved,
and the row must follow it), what replaces it, and the tests that should
notice.  For each row the working tree as it is on disk (committed or not:
`git ls-files --cached --others --exclude-standard`) is copied to a scratch
directory, the text replaced, and pytest run there.  A test failing means
the defence is proven (CAUGHT); every test passing means it is not
(SURVIVED).  Both STALE and SURVIVED fail the run.

The scratch copy is what every process of the run imports, the test process
and every child (this checkout is installed editable in .venv, whose finder
would otherwise send `import acme_conf` back here): pytest runs with a
throw-away venv of the same interpreter whose only .pth line puts the copy,
then .venv's site-packages (for the dependencies, without their .pth files,
so without the editable finder), on sys.path.  `python -I` subprocesses
still read that .pth (-I drops PYTHONPATH, not site-packages), a child
started with `-I -S` gets the copy's directory from child_import_path(), and
the unprivileged user's interpreter (ACME_UNPRIVILEGED_PYTHON) is a second
throw-away venv made the same way.  Before the first mutation, a canary copy
checks this: a real child started by proc/spawner.py's spawn, `python -I` and
the unprivileged interpreter each print where acme_conf came from, and all
must be the copy.

Tests that fail without any mutation (work in progress, a flaky test, a
test disturbed by another run on the machine: some look for acme-client's
processes system-wide) prove nothing: a baseline run of the same selection
on an unmutated copy finds them first, and they are deselected in every
mutant; and the test that catches a mutant is run once more on an unmutated
copy: if it fails there too, it is left out and the mutant tried again.
"""

from __future__ import annotations

import argparse
import enum
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT = 10 * 60.0  # one mutant's tests; a hang past it counts as caught (a test did not pass), and says so
PTH_NAME = "acme-mutate.pth"
CANARY = "ACME-MUTATE-CANARY"
UNPRIVILEGED_USER = "nobody"  # as tests/sandbox/sandbox_harness.py


class Mutation(NamedTuple):
    """One defence removed: where, how, and which tests must notice."""

    name: str
    path: str  # relative to the repository
    find: str  # must occur exactly once in the file on disk
    replace: str
    defence: str  # what the change removes, in one line
    tests: tuple[str, ...]  # pytest node ids or paths: a focused selection that should catch it


class Status(enum.Enum):
    CAUGHT = "CAUGHT"  # a test failed (or the tests hung past the timeout): the defence is proven
    SURVIVED = "SURVIVED"  # every test passed without the defence
    STALE = "STALE"  # the text to find is not in the file exactly once: the row must follow the code
    ERROR = "ERROR"  # the row or its tests are broken (no such test file, pytest could not run them)


class Outcome(NamedTuple):
    """What happened to one mutation."""

    mutation: Mutation
    status: Status
    seconds: float
    detail: str  # the first failing test, or why STALE / ERROR


# ---------------------------------------------------------------------------
# The mutations.  Keep `find` short but unique; `tests` focused (a full run
# of the suite per mutation is `--full`).

P = "acme_conf/proc/"
S = "acme_conf/sandbox/"
MATRIX = "tests/sandbox/test_sandbox_matrix.py"
KERNEL_VIEW = "tests/sandbox/test_kernel_view.py"
HOSTILE_CA = "tests/adversarial/test_hostile_ca.py"
NEIGHBOURS = "tests/sandbox/test_subverted_neighbours.py"
SIGNING_RULES = "tests/unit/test_signing_rules.py"
HOSTILE_LIMITS = "tests/adversarial/test_hostile_ca_limits.py"
DOCUMENTED_POLICY = "tests/unit/test_defences_policy.py"
LANDLOCK_ALONE = "tests/sandbox/test_defences_landlock.py"
ARI_UNIT = "tests/unit/test_renewal_info.py"
HTTPPROC = "tests/unit/test_httpproc_answers.py"
HOOKPROC = "tests/unit/test_hookproc_records.py"
DNS_HOOK = "tests/integration/test_dns_hook.py"
RUN_HOOK_UNIT = "tests/unit/test_run_hook_parts.py"
RUN_HOOK = "tests/integration/test_run_hook.py"
TXT_LOOKUP = "tests/unit/test_txt_lookup.py"
TLSPROC = "tests/unit/test_tlsproc_answers.py"
TLS_ALPN = "tests/unit/test_tls_alpn_certificate.py"
ARI_HOSTILE = "tests/adversarial/test_hostile_renewal_info.py"
SYSTEMD_TEMPLATE = "examples/systemd/acme-client@.service"
SYSTEMD_PROBE = "tests/integration/test_systemd_units.py::test_inside_the_unit_each_hardening_setting_holds"
OUTPUT_ACCESS = "tests/unit/test_output_file_access.py"
OUTPUT_OPTIONS = "tests/config/test_output_file_options.py"
OUTPUT_FILES_TEST = "tests/integration/test_output_files.py"


def _policy_row(role: str, line: str) -> str:
    """`line` of the policy table's entry for `role`, as a unique text to find."""
    return f'        "{role}": Policy(\n            role="{role}",\n{line}'


MUTATIONS: tuple[Mutation, ...] = (
    # -- the eight that survived the whole suite (issue 12, item 11) --------------------------
    Mutation(
        "fileproc-no-directory-fsync", P + "fileproc.py",
        '        log.info("wrote %s/%s", held.directory, name)\n    _sync(held)\n',
        '        log.info("wrote %s/%s", held.directory, name)\n',
        "fileproc flushes the certificate directory after an install",
        ("tests/unit/test_fileproc_install.py", "tests/unit/test_defences_files.py"),
    ),
    Mutation(
        "netproc-revoke-verdict-in-any-run", P + "netproc.py",
        "allowed = (VERDICT_REVOKE,) if settings.revoke else (VERDICT_MISSING, VERDICT_DUE, VERDICT_CURRENT)",
        "allowed = (VERDICT_REVOKE, VERDICT_MISSING, VERDICT_DUE, VERDICT_CURRENT)",
        "netproc accepts a revocation verdict from revokeproc only in a -r run",
        (HOSTILE_CA + "::test_a_hostile_revokeproc_cannot_order_a_revocation",),
    ),
    Mutation(
        "fileproc-remove-in-any-run", P + "fileproc.py",
        "request = held.cert.recv(expected)",
        "request = held.cert.recv(WriteCertificate, RemoveCertificate)",
        "fileproc accepts a remove request only in a -r run",
        ("tests/unit/test_fileproc_install.py", "tests/unit/test_defences_files.py"),
    ),
    Mutation(
        "seccomp-sendmsg-recvmsg", S + "policy.py",
        '    Syscall("recvfrom", "socket.recv on a channel"),\n',
        '    Syscall("recvfrom", "socket.recv on a channel"),\n    Syscall("sendmsg", "mutant"),\n'
        '    Syscall("recvmsg", "mutant"),\n',
        "no role may pass or receive a descriptor (sendmsg/recvmsg kill)",
        ("tests/sandbox/test_defences_jail.py",),
    ),
    Mutation(
        "netproc-setsockopt-unrestricted", S + "policy.py",
        '        "TCP_NODELAY, and nothing else",\n        (ArgCheck(1, socket.IPPROTO_TCP), ArgCheck(2, socket.TCP_NODELAY)),\n',
        '        "TCP_NODELAY, and nothing else",\n',
        "netproc may set TCP_NODELAY and no other socket option",
        ("tests/sandbox/test_defences_jail.py",),
    ),
    Mutation(
        "jail-left-dumpable", S + "apply.py",
        "        process.set_not_dumpable()\n",
        "",
        "every role is made non-dumpable",
        (KERNEL_VIEW,),
    ),
    Mutation(
        "spawn-without-S", P + "spawner.py",
        '[sys.executable, "-I", "-S", "-c", CHILD_BOOTSTRAP',
        '[sys.executable, "-I", "-c", CHILD_BOOTSTRAP',
        "children start without site.py (python -S): no .pth file runs in them",
        ("tests/unit/test_defences_spawn.py",),
    ),
    Mutation(
        "spawn-with-parents-environment", P + "spawner.py",
        "        env={},  # nothing from the caller's environment reaches a child\n",
        "",
        "children start with an empty environment",
        ("tests/unit/test_defences_spawn.py",),
    ),
    Mutation(
        "malformed-san-read-as-no-names", "acme_conf/certnames.py",
        '        raise ValueError(f"malformed extensions: {error}") from None',
        "        return frozenset()",
        "a malformed subjectAltName is an error, not a certificate without names",
        ("tests/unit/test_defences_names.py",),
    ),
    Mutation(
        "unparsable-extensions-read-as-no-names", "acme_conf/certnames.py",
        "    except x509.ExtensionNotFound:\n",
        "    except (x509.ExtensionNotFound, ValueError):\n",
        "extensions that do not parse are an error, not a certificate without names",
        ("tests/unit/test_defences_names.py",),
    ),
    # -- one per row of the policy table -------------------------------------------------------
    Mutation(
        "policy-netproc-may-bind", S + "policy.py",
        '    Syscall("getsockname", "ssl asks whether the socket it wraps is connected"),\n',
        '    Syscall("getsockname", "ssl asks whether the socket it wraps is connected"),\n'
        '    Syscall("bind", "mutant"),\n    Syscall("listen", "mutant"),\n',
        "netproc's seccomp list has no bind or listen",
        (MATRIX,),
    ),
    Mutation(
        "policy-dnsproc-reads-shadow", S + "policy.py",
        '_RESOLVER_FILES = (\n    "/etc/hosts",\n',
        '_RESOLVER_FILES = (\n    "/etc/shadow",\n    "/etc/hosts",\n',
        "dnsproc's Landlock rules name the resolver files only",
        (DOCUMENTED_POLICY, MATRIX),
    ),
    Mutation(
        "policy-acctproc-host-network", S + "policy.py",
        _policy_row("acctproc", '            purpose="holds the account key, signs requests",\n'),
        _policy_row("acctproc", '            purpose="holds the account key, signs requests",\n            private_netns=False,\n'),
        "acctproc runs in a private, empty network namespace",
        (DOCUMENTED_POLICY, MATRIX),
    ),
    Mutation(
        "policy-keyproc-tcp-syscalls", S + "policy.py",
        _policy_row("keyproc", '            purpose="holds the domain key, builds the CSR",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL,\n"),
        _policy_row("keyproc", '            purpose="holds the domain key, builds the CSR",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + TCP_CLIENT,\n"),
        "keyproc's seccomp list has no socket call",
        (MATRIX,),
    ),
    Mutation(
        "policy-certproc-opens-files", S + "policy.py",
        _policy_row("certproc", '            purpose="parses and checks the certificate chain from the CA",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL,\n"),
        _policy_row("certproc", '            purpose="parses and checks the certificate chain from the CA",\n'
                    '            syscalls=PYTHON_RUNTIME + (Syscall("openat", "mutant", _READ_ONLY_OPEN),),\n'),
        "certproc's read-only opens fail (EPERM) in seccomp, before Landlock is asked",
        (MATRIX,),
    ),
    Mutation(
        "policy-revokeproc-may-execve", S + "policy.py",
        _policy_row("revokeproc", '            purpose="judges the current certificate, read before the jail; decides on renewal",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL,\n"),
        _policy_row("revokeproc", '            purpose="judges the current certificate, read before the jail; decides on renewal",\n'
                    '            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + (Syscall("execve", "mutant"),),\n'),
        "revokeproc's seccomp list has no execve",
        (MATRIX,),
    ),
    Mutation(
        "policy-chngproc-no-chroot", S + "policy.py",
        _policy_row("chngproc", '            purpose="writes and removes http-01 challenge files in the challenge directory",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + CREATE_AND_REMOVE,\n"
                    "            write_dir_rights=FsAccess.MAKE_REG | FsAccess.WRITE_FILE | FsAccess.REMOVE_FILE,\n"
                    "            identity=Identity.DIRECTORY_OWNER,\n            chroot_write_dir=True,\n"),
        _policy_row("chngproc", '            purpose="writes and removes http-01 challenge files in the challenge directory",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + CREATE_AND_REMOVE,\n"
                    "            write_dir_rights=FsAccess.MAKE_REG | FsAccess.WRITE_FILE | FsAccess.REMOVE_FILE,\n"
                    "            identity=Identity.DIRECTORY_OWNER,\n            chroot_write_dir=False,\n"),
        "chngproc is chrooted into the challenge directory",
        (MATRIX,),
    ),
    Mutation(
        "policy-fileproc-may-make-directories", S + "policy.py",
        _policy_row("fileproc", '            purpose="writes certificate, chain and full chain atomically in the certificate directory",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + ATOMIC_REPLACE,\n"
                    "            write_dir_rights=FsAccess.MAKE_REG | FsAccess.WRITE_FILE | FsAccess.REMOVE_FILE,\n"),
        _policy_row("fileproc", '            purpose="writes certificate, chain and full chain atomically in the certificate directory",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + ATOMIC_REPLACE,\n"
                    "            write_dir_rights=FsAccess.MAKE_REG | FsAccess.WRITE_FILE | FsAccess.REMOVE_FILE"
                    " | FsAccess.MAKE_DIR | FsAccess.MAKE_SYM,\n"),
        "fileproc's Landlock rights in its directory: make files, write, remove; no directory, no link",
        (LANDLOCK_ALONE, DOCUMENTED_POLICY),
    ),
    Mutation(
        "spawn-stdout-inherited", P + "spawner.py",
        "        stdout=subprocess.DEVNULL,  # children report on stderr only",
        "        # children report on stderr only",
        "a child's stdout is /dev/null: only the parent prints there",
        ("tests/unit/test_defences_spawn.py",),
    ),
    Mutation(
        "spawn-stderr-not-relayed", P + "spawner.py",
        "        stderr=subprocess.PIPE,  # read by the parent",
        "        stderr=None,  # read by the parent",
        "a child's stderr is a pipe the parent reads, labels and sanitises, never the terminal itself",
        ("tests/unit/test_defences_spawn.py",),
    ),
    Mutation(
        "policy-chngproc-may-make-links", S + "policy.py",
        _policy_row("chngproc", '            purpose="writes and removes http-01 challenge files in the challenge directory",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + CREATE_AND_REMOVE,\n"
                    "            write_dir_rights=FsAccess.MAKE_REG | FsAccess.WRITE_FILE | FsAccess.REMOVE_FILE,\n"),
        _policy_row("chngproc", '            purpose="writes and removes http-01 challenge files in the challenge directory",\n'
                    "            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + CREATE_AND_REMOVE,\n"
                    "            write_dir_rights=FsAccess.MAKE_REG | FsAccess.WRITE_FILE | FsAccess.REMOVE_FILE"
                    " | FsAccess.MAKE_SYM,\n"),
        "chngproc's Landlock rights in the challenge directory: make files, write, remove; no link",
        (LANDLOCK_ALONE, DOCUMENTED_POLICY),
    ),
    # -- the mechanisms of `enter` ---------------------------------------------------------------
    Mutation(
        "jail-identity-unchanged", S + "apply.py",
        "    process.become(uid, gid)\n",
        "",
        "a role started by root becomes its unprivileged user (or its directory's owner)",
        (KERNEL_VIEW,),
    ),
    Mutation(
        "jail-no-descriptor-limit", S + "apply.py",
        "    _limit_descriptors(run)\n    _seccomp(run)\n",
        "    _seccomp(run)\n",
        "RLIMIT_NOFILE just above the descriptors a role holds",
        (KERNEL_VIEW,),
    ),
    Mutation(
        "jail-descriptors-left-open", S + "apply.py",
        "    process.close_all_but(granted | frozenset(run.rule_fds))\n",
        "",
        "every descriptor not granted is closed at the jail",
        ("tests/sandbox/test_sandbox_mechanisms.py::test_descriptors_are_closed_and_stdin_is_devnull",),
    ),
    Mutation(
        "jail-keeps-capabilities", S + "apply.py",
        "        process.drop_capabilities()\n        if not process.capabilities_empty():\n"
        '            raise OSError(0, "capabilities remain after capset")\n',
        "",
        "every capability set is emptied (a root chngproc or fileproc keeps uid 0, no capability)",
        (KERNEL_VIEW,),
    ),
    Mutation(
        "jail-no-process-limit", S + "apply.py",
        "        process.set_limit(resource.RLIMIT_NPROC, 0)\n",
        "        pass\n",
        "RLIMIT_NPROC 0 in every role",
        (KERNEL_VIEW,),
    ),
    Mutation(
        "jail-stdin-kept", S + "apply.py",
        "    process.stdin_from_devnull()\n",
        "",
        "a role's stdin is /dev/null, not the terminal or a pipe of the caller",
        (KERNEL_VIEW, "tests/sandbox/test_sandbox_mechanisms.py::test_descriptors_are_closed_and_stdin_is_devnull"),
    ),
    Mutation(
        "jail-allows-threads", S + "apply.py",
        "    elif threads != 1:\n",
        "    elif False:\n",
        "a process with more than one thread is refused (Landlock and seccomp bind one thread)",
        ("tests/sandbox/test_sandbox_mechanisms.py::test_a_process_with_threads_is_refused",),
    ),
    Mutation(
        "strict-shortfall-not-fatal", S + "apply.py",
        "        if shortfall is Shortfall.POLICY and self.grants.strict:\n",
        "        if False:\n",
        "with -S, a role that would run with less than its policy stops (MechanismUnavailable)",
        ("tests/sandbox/test_sandbox_mechanisms.py::test_strict_makes_a_missing_mechanism_fatal",),
    ),
    Mutation(
        "jail-root-owned-directory-others-decide", S + "apply.py",
        "    if resolved.info.st_uid == 0 and resolved.controlled_by:\n",
        "    if False:\n",
        "no root chngproc/fileproc in a root-owned directory another user could have put on its path",
        ("tests/sandbox/test_path_defences.py", "tests/integration/test_path_attacks.py"),
    ),
    Mutation(
        "jail-without-no-new-privs", S + "apply.py",
        "        _no_new_privs(run)\n",
        "",
        "PR_SET_NO_NEW_PRIVS is set in every role",
        ("tests/sandbox/test_defences_jail.py", KERNEL_VIEW),
    ),
    Mutation(
        "landlock-connect-unhandled", S + "apply.py",
        "    handled_net = landlock.net_rights_known(abi)\n",
        "    handled_net = landlock.net_rights_known(abi) & ~landlock.NET_CONNECT_TCP\n",
        "Landlock allows TCP connect to the CA's ports only (netproc) or port 53 (dnsproc)",
        (MATRIX + "::test_every_attempt_gets_the_policys_answer",),
    ),
    Mutation(
        "landlock-reads-unhandled", S + "apply.py",
        "    handled_fs = landlock.fs_rights_known(abi)\n",
        "    handled_fs = landlock.fs_rights_known(abi) & ~landlock.FsAccess.READ_FILE\n",
        "Landlock handles reading files: dnsproc reads its resolver files and nothing else",
        (MATRIX + "::test_every_attempt_gets_the_policys_answer",),
    ),
    Mutation(
        "landlock-signals-unscoped", S + "apply.py",
        "        scoped=landlock.scopes_known(abi),\n",
        "        scoped=0,\n",
        "Landlock scopes signals (and abstract sockets) to the role's own domain",
        (LANDLOCK_ALONE,),
    ),
    Mutation(
        "seccomp-default-eperm", S + "seccomp.py",
        "    handle = _pyseccomp.SyscallFilter(kill)\n",
        "    handle = _pyseccomp.SyscallFilter(_pyseccomp.ERRNO(1))\n",
        "a system call outside a role's list kills the process",
        ("tests/sandbox/test_defences_jail.py",),
    ),
    Mutation(
        "netproc-ioctl-unrestricted", S + "policy.py",
        '    Syscall("ioctl", "FIONBIO: socket.settimeout", (ArgCheck(1, termios.FIONBIO),)),\n',
        '    Syscall("ioctl", "FIONBIO: socket.settimeout"),\n',
        "netproc's ioctl is FIONBIO only (no TIOCSTI into the terminal)",
        (MATRIX + "::test_every_attempt_gets_the_policys_answer",),
    ),
    # -- the import guard and the warm-ups ------------------------------------------------------
    Mutation(
        "import-guard-not-installed", S + "imports.py",
        "    sys.meta_path.insert(0, guard)\n",
        "",
        "the import guard is first on sys.meta_path from the jail on",
        ("tests/unit/test_import_guard.py",),
    ),
    Mutation(
        "import-guard-catchable", S + "imports.py",
        "class ImportAfterJail(BaseException):",
        "class ImportAfterJail(ImportError):",
        "ImportAfterJail is a BaseException: no library's except clause swallows it",
        ("tests/unit/test_import_guard.py",),
    ),
    Mutation(
        "import-guard-forgets-attempts", S + "imports.py",
        "        self.attempts.append(fullname)\n",
        "",
        "every import attempt after the jail is recorded, so a swallowed one still fails the role",
        ("tests/unit/test_import_guard.py",),
    ),
    Mutation(
        "import-guard-ignores-sys-modules", S + "imports.py",
        "[*self.attempts, *self.loaded_since_jail()]",
        "[*self.attempts]",
        "a module that arrived after the jail without a finder is seen at the end",
        ("tests/unit/test_import_guard.py",),
    ),
    Mutation(
        "run-role-ignores-late-imports", P + "child.py",
        "    return status if guard is None else imports_checked(logger, guard, status)\n",
        "    return status\n",
        "a role that swallowed a late import fails at its end all the same",
        ("tests/unit/test_import_guard.py",),
    ),
    Mutation(
        "certproc-no-warm-up", P + "certproc.py",
        "def acquire(spec: ChildSpec) -> Held:\n    warm_up()\n",
        "def acquire(spec: ChildSpec) -> Held:\n",
        "certproc checks a sample bundle of every algorithm before its jail",
        ("tests/sandbox/test_sandbox_hostile.py::test_certproc_in_its_jail_checks_a_bundle_signed_with_every_algorithm",),
    ),
    Mutation(
        "revokeproc-no-warm-up", P + "revokeproc.py",
        "    certstatus.warm_up()\n",
        "",
        "revokeproc judges every sample leaf before its jail",
        ("tests/sandbox/test_sandbox_hostile.py::test_revokeproc_in_its_jail_judges_a_certificate_of_every_kind",
         "tests/unit/test_defences_warm_up.py"),
    ),
    Mutation(
        "acctproc-no-warm-up", P + "acctproc.py",
        "        warm_up(key, previous)\n",
        "        pass\n",
        "acctproc signs every kind of request with its real key before its jail",
        (MATRIX, "tests/unit/test_warm_up.py"),
    ),
    Mutation(
        "netproc-no-warm-up", P + "netproc.py",
        "    warm_up()  # every parser of the CA's answers, once, while modules can still be loaded\n",
        "",
        "netproc runs every parser of a CA's answers on samples before its jail",
        ("tests/sandbox/test_sandbox_chain.py", "tests/unit/test_warm_up.py"),
    ),
    Mutation(
        "netproc-warm-up-without-idna", "acme_conf/net/warm_up.py",
        '    "ca.invalid".encode("idna")  # ssl encodes the server name for TLS with this codec\n',
        "",
        "netproc's warm-up loads the codec ssl needs for the server name",
        ("tests/sandbox/test_sandbox_chain.py",),
    ),
    Mutation(
        "ipc-no-frame-cap", "acme_conf/ipc.py",
        "        if length > MAX_FRAME:\n",
        "        if False:\n",
        "a frame over 4 MiB ends the channel before anything is read or allocated",
        ("tests/unit/test_ipc_frames.py",),
    ),
    Mutation(
        "chngproc-any-token", "acme_conf/acme/tokens.py",
        "    if not is_valid_token(token):\n        return f\"refusing challenge token",
        "    if False:\n        return f\"refusing challenge token",
        "chngproc publishes only base64url tokens (a plain name inside its directory)",
        ("tests/unit/test_chngproc_publish.py",),
    ),
    Mutation(
        "parent-never-sweeps", P + "scheduler.py",
        "                sweep_challenges(state.services[exited.group.name], state.options, state.import_path)\n",
        "                pass\n",
        "the parent has the files a chngproc that died left removed by a sweeper",
        ("tests/integration/test_failed_runs.py::test_chngproc_killed_while_the_challenge_is_published",),
    ),
    Mutation(
        "journal-any-line", P + "journal.py",
        '        if change not in ("+", "-") or not valid(token):\n',
        '        if change not in ("+", "-"):\n',
        "the parent keeps only base64url tokens from chngproc's journal",
        ("tests/unit/test_challenge_journal.py",),
    ),
    Mutation(
        "journal-no-count-cap", P + "journal.py",
        "    return tuple(present)[:most]\n",
        "    return tuple(present)\n",
        "the parent keeps no more tokens than chngproc may hold at once",
        ("tests/unit/test_challenge_journal.py",),
    ),
    Mutation(
        "sweeper-any-name", P + "chngproc.py",
        '        if not is_valid_token(token):\n            log.error("refusing to remove',
        '        if False:\n            log.error("refusing to remove',
        "the sweeper removes challenge tokens only, a plain name in its directory",
        ("tests/unit/test_challenge_journal.py",),
    ),
    Mutation(
        "chngproc-notes-before-create", P + "chngproc.py",
        "    fd = os.open(\n        token,\n        os.O_WRONLY | os.O_CREAT | os.O_EXCL",
        '    _note(held, "+", token)\n    fd = os.open(\n        token,\n        os.O_WRONLY | os.O_CREAT | os.O_EXCL',
        "a file is noted in the journal only once chngproc created it, never one in the way",
        ("tests/unit/test_challenge_journal.py",),
    ),
    Mutation(
        "keys-any-size", "acme_conf/keys.py",
        "    if size and actual_size != size:\n",
        "    if False:\n",
        "an existing key of another size than configured is refused, never used or replaced",
        ("tests/unit/test_keys.py",),
    ),
    Mutation(
        "acctproc-no-binding", P + "acctproc.py",
        '    if verdict.kind == "new account" and binding is not None:\n',
        "    if False:\n",
        "acctproc adds the configured external account binding to a new account",
        ("tests/unit/test_acctproc_binding.py",),
    ),
    Mutation(
        "netproc-asks-in-vain", P + "netproc.py",
        "    if acme.directory.external_account_required and not bound:\n",
        "    if False:\n",
        "a CA whose directory requires a binding, with none configured, is not asked for an account",
        (HOSTILE_CA,),
    ),
    Mutation(
        "netproc-unclear-binding-refusal", P + "netproc.py",
        '        if refused.problem is not None and refused.problem.short_type == "externalAccountRequired" and not bound:\n',
        "        if False:\n",
        "a CA's externalAccountRequired refusal says what to configure",
        (HOSTILE_CA,),
    ),
    Mutation(
        "certproc-alternate-unchecked", P + "certproc.py",
        'check_bundle(pem.encode("ascii", "replace"), domain_key, settings.names, now)',
        'WriteCertificate(certificate=b"", chain=b"", fullchain=pem.encode())',
        "an alternate chain is checked as the default one is before it can be chosen",
        ("tests/unit/test_certproc_chain_choice.py",),
    ),
    Mutation(
        "certproc-no-alternate-cap", P + "certproc.py",
        "    if len(bundle.alternates) > MAX_ALTERNATES:\n",
        "    if False:\n",
        "certproc takes at most 4 alternate chains",
        ("tests/unit/test_certproc_chain_choice.py",),
    ),
    Mutation(
        "signing-any-reason", "acme_conf/acme/signing_rules.py",
        '"" if given == run.reason and type(given) is int else "a revocation with another reason than asked"',
        '""',
        "acctproc signs a revocation only with the reason -R gave (none without -R)",
        (SIGNING_RULES,),
    ),
    Mutation(
        "acctproc-previous-key-signs-more", P + "acctproc.py",
        '        if verdict.refusal or verdict.kind != "account look-up":\n',
        "        if verdict.refusal:\n",
        "the previous account key signs an account look-up and nothing else",
        ("tests/unit/test_acctproc_binding.py",),
    ),
    Mutation(
        "acctproc-key-change-anywhere", P + "acctproc.py",
        "        wrong = not_the_cas(run.api_url, request.url) or not_the_cas(run.api_url, request.kid)\n",
        '        wrong = ""\n',
        "a key change goes only to the CA's host, for an account there",
        ("tests/unit/test_acctproc_binding.py",),
    ),
    Mutation(
        "acctproc-key-change-of-netprocs-payload", P + "acctproc.py",
        "        if wrong or request.payload:\n",
        "        if wrong:\n",
        "acctproc builds the key change itself; a payload of netproc's is refused",
        ("tests/unit/test_acctproc_binding.py",),
    ),
    Mutation(
        "parent-ignores-backoff", P + "scheduler.py",
        "        if until is None or until <= now:\n            continue\n        if state.options.force:",
        "        if True:\n            continue\n        if state.options.force:",
        "a domain the CA asked to be left alone (kept from an earlier run) is sent nothing before the moment",
        ("tests/integration/test_backoff.py",),
    ),
    Mutation(
        "netproc-no-backoff-report", P + "netproc.py",
        "            report_backoff(held.report_fd, error)\n",
        "            pass\n",
        "netproc tells the parent when a CA's rate limit or unavailability ends",
        (HOSTILE_CA,),
    ),
    Mutation(
        "state-unbounded-backoff", "acme_conf/state.py",
        "    return min(max(until, now), now + timedelta(seconds=MAX_BACKOFF))\n",
        "    return until\n",
        "a reported back-off is kept from now to a week ahead at most",
        ("tests/unit/test_state.py",),
    ),
    Mutation(
        "keyproc-signs-any-revocation", P + "revoke_by_key.py",
        "        if wrong or request.kid or request.signer or asked != self.payload:\n",
        "        if wrong:\n",
        "with -K, keyproc signs the revocation of the configured certificate with the -R reason, nothing else",
        ("tests/unit/test_revoke_by_key.py",),
    ),
    Mutation(
        "rollover-no-second-look-up", P + "netproc.py",
        '        return look_up_account(acme, "", "account lookup")  # changed meanwhile by another domain\'s run?\n',
        "        return None\n",
        "a previous key that names no account any more: the account is looked up again by the new key",
        (HOSTILE_CA,),
    ),
    Mutation(
        "rollover-refusal-not-looked-into", P + "netproc.py",
        '        if look_up_account(acme, "", "account lookup") != url:',
        "        if True:",
        "a refused key change: the account is looked up by the new key before the run fails",
        (HOSTILE_CA,),
    ),
    Mutation(
        "resources-any-scheme", "acme_conf/acme/resources.py",
        '    return value.startswith("https://") and len(value) <= 2048',
        "    return len(value) <= 2048",
        "every URL from the CA must be https",
        ("tests/unit/test_resources.py", HOSTILE_CA),
    ),
    Mutation(
        "resources-any-characters", "acme_conf/acme/resources.py",
        ' and all("!" <= ch <= "~" for ch in value)\n',
        "\n",
        "every URL from the CA is printable ASCII, challenge URLs included",
        ("tests/unit/test_resources.py",),
    ),
    # -- certproc and renewal: a certificate for the domain key, with a sane lifetime ---------
    Mutation(
        "certproc-any-key", P + "certproc.py",
        "        _check_key(leaf, domain_key)\n",
        "",
        "certproc installs only a leaf for the domain key keyproc told it",
        ("tests/unit/test_certproc_bundle.py", NEIGHBOURS),
    ),
    Mutation(
        "certproc-any-lifetime", P + "certproc.py",
        "    if end - start > MAX_LIFETIME:\n",
        "    if False:\n",
        "certproc refuses a lifetime beyond MAX_LIFETIME (398 days)",
        ("tests/unit/test_certproc_bundle.py", NEIGHBOURS),
    ),
    Mutation(
        "certproc-future-not-before", P + "certproc.py",
        "    if start > now + CLOCK_SKEW or end <= now:\n",
        "    if end <= now:\n",
        "certproc refuses a certificate that starts more than an hour from now",
        ("tests/unit/test_certproc_bundle.py",),
    ),
    Mutation(
        "certproc-any-names", P + "certproc.py",
        "    if found != configured:\n",
        "    if not found:\n",
        "certproc installs only a leaf for exactly the configured names",
        ("tests/unit/test_certproc_bundle.py", NEIGHBOURS),
    ),
    Mutation(
        "certproc-no-issuer-check", P + "certproc.py",
        "        _check_issuers(certificates)\n",
        "",
        "each certificate of the bundle is issued by the next",
        ("tests/unit/test_certproc_bundle.py",),
    ),
    Mutation(
        "renewal-ignores-the-key", "acme_conf/acme/renewal.py",
        "    if not key_matches:\n",
        "    if False:\n",
        "a certificate for another key than the domain key is due for renewal",
        ("tests/unit/test_renewal_names.py", "tests/unit/test_revokeproc_examine.py"),
    ),
    Mutation(
        "renewal-ignores-the-lifetime", "acme_conf/acme/renewal.py",
        "    if lifetime > MAX_LIFETIME:\n",
        "    if False:\n",
        "a certificate valid for longer than MAX_LIFETIME is due for renewal at once",
        ("tests/unit/test_renewal_names.py", "tests/unit/test_revokeproc_examine.py"),
    ),
    Mutation(
        "revokeproc-any-key-matches", "acme_conf/certstatus.py",
        "    key_matches = bool(domain_key) and spki == domain_key\n",
        "    key_matches = True\n",
        "revokeproc counts a certificate for another key as due",
        ("tests/unit/test_revokeproc_examine.py",),
    ),
    # -- acctproc's signing rules ---------------------------------------------------------------
    Mutation(
        "signing-any-host", "acme_conf/acme/signing_rules.py",
        "    if asked.hostname is None or asked.hostname != ca.hostname or not same_port:\n",
        "    if asked.hostname is None:\n",
        "acctproc signs only for URLs on the CA's host and port",
        (SIGNING_RULES, NEIGHBOURS),
    ),
    Mutation(
        "signing-any-order", "acme_conf/acme/signing_rules.py",
        '        return "new order", _new_order(run, body)\n',
        '        return "new order", ""\n',
        "acctproc signs a new order only for exactly the configured names and profile",
        (SIGNING_RULES, NEIGHBOURS),
    ),
    Mutation(
        "signing-key-change", "acme_conf/acme/signing_rules.py",
        '    return "unknown", f"{_looks_like(keys)}, which this run does not make"\n',
        '    return "unknown", ""\n',
        "acctproc refuses a key change, deactivation, update, or any kind this client never sends",
        (SIGNING_RULES, NEIGHBOURS),
    ),
    Mutation(
        "signing-revocation-in-any-run", "acme_conf/acme/signing_rules.py",
        '        if not run.revoke:\n            return "revocation", "a revocation, which only a -r run makes"\n',
        "",
        "acctproc signs a revocation only in a -r run",
        (SIGNING_RULES, NEIGHBOURS),
    ),
    Mutation(
        "signing-any-payload-size", "acme_conf/acme/signing_rules.py",
        "    if len(payload) > MAX_PAYLOAD:\n",
        "    if False:\n",
        "acctproc reads no payload over 64 KiB",
        (NEIGHBOURS, "tests/sandbox/test_defences_signing.py"),
    ),
    Mutation(
        "signing-repeated-members", "acme_conf/acme/signing_rules.py",
        "        body = json.loads(payload.decode(\"utf-8\"), object_pairs_hook=_no_repeated_keys)\n",
        "        body = json.loads(payload.decode(\"utf-8\"))\n",
        "acctproc refuses a payload naming a member twice (the CA might read the other value)",
        (SIGNING_RULES,),
    ),
    Mutation(
        "shared-roles-wait-forever", P + "child.py",
        "    for channel in channels:\n        channel.bound_waits(STALL_SECONDS)\n",
        "",
        "a shared process waits at most STALL_SECONDS for the rest of a frame or for a reply to be taken",
        ("tests/unit/test_stalls.py", "tests/sandbox/test_defences_stall.py"),
    ),
    Mutation(
        "acctproc-signs-without-the-rules", P + "acctproc.py",
        "    refused = verdict.refusal\n",
        '    refused = ""\n',
        "acctproc applies the signing rules to every request",
        (NEIGHBOURS,),
    ),
    Mutation(
        "acctproc-finalize-any-csr", P + "acctproc.py",
        '        refused = check_csr(str(verdict.body["csr"]), run.names, domain_key())\n',
        '        refused = ""\n',
        "acctproc signs a finalize only with a CSR for the domain key and names",
        (NEIGHBOURS,),
    ),
    Mutation(
        "csr-any-key", "acme_conf/csr.py",
        "    if not domain_key or spki != domain_key:\n",
        "    if False:\n",
        "a finalize's CSR must be for the domain key keyproc told acctproc",
        (NEIGHBOURS,),
    ),
    Mutation(
        "csr-any-names", "acme_conf/csr.py",
        "    if found != configured_names(names):\n",
        "    if False:\n",
        "a finalize's CSR must be for exactly the configured names",
        (NEIGHBOURS, "tests/sandbox/test_defences_signing.py"),
    ),
    Mutation(
        "csr-unsigned", "acme_conf/csr.py",
        "    if not signed:\n",
        "    if False:\n",
        "a finalize's CSR must carry a valid signature (proof of the key)",
        (NEIGHBOURS, "tests/sandbox/test_defences_signing.py"),
    ),
    Mutation(
        "acctproc-no-request-cap", P + "acctproc.py",
        "max_requests=MAX_REQUESTS,",
        "max_requests=10**9,",
        "acctproc answers at most MAX_REQUESTS requests a domain",
        (NEIGHBOURS,),
    ),
    Mutation(
        "keyproc-no-request-cap", P + "keyproc.py",
        "lambda _, __: Csr(held.csr_der), CsrRequest, max_requests=MAX_CSR_REQUESTS",
        "lambda _, __: Csr(held.csr_der), CsrRequest, max_requests=10**9",
        "keyproc hands out its CSR at most MAX_CSR_REQUESTS times",
        (NEIGHBOURS, "tests/unit/test_small_roles.py"),
    ),
    Mutation(
        "dnsproc-no-lookup-cap", P + "dnsproc.py",
        "max_requests=MAX_LOOKUPS",
        "max_requests=10**9",
        "dnsproc answers at most MAX_LOOKUPS lookups a domain",
        (NEIGHBOURS, "tests/unit/test_small_roles.py"),
    ),
    Mutation(
        "dnsproc-no-address-cap", P + "dnsproc.py",
        "addresses[:MAX_ADDRESSES]",
        "addresses",
        "dnsproc's answer holds at most MAX_ADDRESSES addresses",
        ("tests/unit/test_defences_caps.py",),
    ),
    Mutation(
        "certproc-any-number-of-certificates", P + "certproc.py",
        "    if len(certificates) > MAX_CERTIFICATES:\n",
        "    if False:\n",
        "certproc reads at most 16 certificates",
        ("tests/unit/test_certproc_bundle.py", "tests/sandbox/test_sandbox_hostile.py::test_too_many_certificates_are_refused"),
    ),
    Mutation(
        "transport-no-body-cap", "acme_conf/net/transport.py",
        "    if len(body) > MAX_BODY:\n",
        "    if False:\n",
        "netproc reads at most 1 MiB of a response",
        (HOSTILE_CA,),
    ),
    Mutation(
        "transport-trusts-content-length", "acme_conf/net/transport.py",
        "        if len(declared) > 12 or int(declared) > MAX_BODY:\n",
        "        if False:\n",
        "a response that declares more than 1 MiB is refused before it is read",
        (HOSTILE_CA,),
    ),
    Mutation(
        "chngproc-any-account", "acme_conf/acme/tokens.py",
        "    if told != thumbprint:\n",
        "    if False:\n",
        "chngproc publishes only key authorizations for the account acctproc named",
        (NEIGHBOURS, "tests/unit/test_chngproc_publish.py"),
    ),
    Mutation(
        "chngproc-trusts-netprocs-thumbprint", P + "chngproc.py",
        "    refusal = key_authorization_refusal(token, key_authorization, account_thumbprint(held.accounts, held.thumbprints, net_fd))\n",
        "    refusal = key_authorization_refusal(token, key_authorization, key_authorization.partition('.')[2])\n",
        "chngproc learns the account's thumbprint from acctproc, never from netproc",
        (NEIGHBOURS, "tests/unit/test_chngproc_publish.py"),
    ),
    # -- chngproc: bounded, create-new only ---------------------------------------------------------
    Mutation(
        "chngproc-no-file-cap", P + "chngproc.py",
        "    if len(written) >= held.most_files[net_fd]:\n",
        "    if False:\n",
        "chngproc keeps at most one file per name of the domain",
        ("tests/unit/test_chngproc_publish.py", NEIGHBOURS),
    ),
    Mutation(
        "chngproc-not-exclusive", P + "chngproc.py",
        "        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,\n        FILE_MODE,\n"
        "        dir_fd=held.directory_fd,\n    )\n    written.append(token)",
        "        os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,\n        FILE_MODE,\n"
        "        dir_fd=held.directory_fd,\n    )\n    written.append(token)",
        "chngproc creates a challenge file new (O_EXCL), never opens one that is there",
        ("tests/unit/test_chngproc_publish.py", NEIGHBOURS),
    ),
    Mutation(
        "chngproc-removes-what-is-there", P + "chngproc.py",
        '    """A new file, never one that is there (O_EXCL), never through a link (O_NOFOLLOW)."""\n',
        '    """A new file, never one that is there (O_EXCL), never through a link (O_NOFOLLOW)."""\n'
        "    _remove(held, token)\n",
        "chngproc never removes a file it did not create (an existing one is an error)",
        ("tests/unit/test_chngproc_publish.py", NEIGHBOURS),
    ),
    Mutation(
        "chngproc-no-request-cap", P + "chngproc.py",
        "            max_requests=lambda net: REQUESTS_PER_NAME * held.most_files[net.fileno()],\n",
        "            max_requests=10**9,\n",
        "chngproc answers a bounded number of requests per channel",
        ("tests/unit/test_chngproc_publish.py", NEIGHBOURS),
    ),
    Mutation(
        "answer-loop-no-request-cap", P + "child.py",
        "                    if served[fd] > cap:\n",
        "                    if False:\n",
        "every answering role drops a channel past its request cap",
        ("tests/unit/test_chngproc_publish.py", NEIGHBOURS),
    ),
    # -- netproc: the order is what was asked for -------------------------------------------------
    Mutation(
        "netproc-order-any-identifiers", P + "netproc.py",
        "    if frozenset(_normal(kind, value) for kind, value in order.identifiers) != requested(names):\n",
        "    if False:\n",
        "netproc accepts no order whose identifiers differ from those requested",
        (HOSTILE_LIMITS,),
    ),
    Mutation(
        "netproc-order-any-authorizations", P + "netproc.py",
        "    if len(order.authorizations) > len(names):\n",
        "    if False:\n",
        "netproc accepts no more authorizations than names",
        (HOSTILE_LIMITS,),
    ),
    Mutation(
        "netproc-authorization-not-ordered", P + "netproc.py",
        "        if _authorized_name(authorization) not in ours:\n",
        "        if False:\n",
        "netproc answers no authorization for an identifier it did not order",
        (HOSTILE_LIMITS,),
    ),
    # -- fileproc installs only what certproc approved ---------------------------------------------
    Mutation(
        "fileproc-no-shape-check", P + "fileproc.py",
        "    _check_shape(files)\n",
        "",
        "fileproc installs only one PEM certificate, PEM certificates, and their concatenation",
        ("tests/unit/test_fileproc_install.py",),
    ),
    Mutation(
        "fileproc-any-full-chain", P + "fileproc.py",
        "    if files.fullchain != files.certificate + files.chain:\n",
        "    if False:\n",
        "fileproc's full chain is exactly the certificate and its chain",
        ("tests/unit/test_fileproc_install.py",),
    ),
    # -- one voice ------------------------------------------------------------------------------------
    Mutation(
        "voice-unsanitised", P + "voice.py",
        '        return f"acme-client: {self.label}: {printable(text, MAX_LINE)}"\n',
        '        return f"acme-client: {self.label}: {text}"\n',
        "children's lines are sanitised (control characters escaped, length capped)",
        ("tests/unit/test_voice.py",),
    ),
    Mutation(
        "voice-unlabelled", P + "voice.py",
        '        return f"acme-client: {self.label}: {printable(text, MAX_LINE)}"\n',
        "        return printable(text, MAX_LINE)\n",
        "children's lines are labelled with the domain and role the parent started",
        ("tests/unit/test_voice.py",),
    ),
    Mutation(
        "voice-no-flood-cap", P + "voice.py",
        "        if self._heard > MAX_TOTAL:\n",
        "        if False:\n",
        "a child may write at most MAX_TOTAL bytes in a run",
        ("tests/unit/test_voice.py",),
    ),
    # -- configuration limits -----------------------------------------------------------------------
    Mutation(
        "config-no-line-cap", "acme_conf/config/lexer.py",
        "        if len(text) > MAX_LINE_LENGTH:\n",
        "        if False:\n",
        "a configuration line is at most MAX_LINE_LENGTH characters",
        ("tests/config/test_limits.py",),
    ),
    Mutation(
        "config-no-expanded-line-cap", "acme_conf/config/preprocess.py",
        "        if length + len(value) - len(reference) > MAX_EXPANDED_LINE:\n",
        "        if False:\n",
        "a line once its macros are expanded is at most MAX_EXPANDED_LINE characters",
        ("tests/config/test_limits.py",),
    ),
    Mutation(
        "config-no-expansion-cap", "acme_conf/config/preprocess.py",
        "    if reading.expanded > MAX_EXPANSION:\n",
        "    if False:\n",
        "macros put at most MAX_EXPANSION characters into one configuration",
        ("tests/config/test_limits.py",),
    ),
    Mutation(
        "config-no-include-depth", "acme_conf/config/parse.py",
        "        if len(reading.open_files) > MAX_INCLUDE_DEPTH:\n",
        "        if False:\n",
        "includes nest at most MAX_INCLUDE_DEPTH deep",
        ("tests/config/test_limits.py",),
    ),
    Mutation(
        "config-no-file-count", "acme_conf/config/parse.py",
        "        if reading.files_read >= MAX_FILES:\n",
        "        if False:\n",
        "a configuration reads at most MAX_FILES files",
        ("tests/config/test_limits.py",),
    ),
    Mutation(
        "config-no-size-cap", "acme_conf/config/parse.py",
        "    if len(data) > room:\n",
        "    if False:\n",
        "the files of a configuration are at most MAX_CONFIG_SIZE together",
        ("tests/config/test_limits.py",),
    ),
    # -- paths and keys ---------------------------------------------------------------------------------
    Mutation(
        "paths-follow-others-links", "acme_conf/paths.py",
        "                    if writer:\n",
        "                    if False:\n",
        "a symbolic link another user could have placed is not followed",
        ("tests/unit/test_paths.py",),
    ),
    Mutation(
        "paths-sticky-trusts-anyone", "acme_conf/paths.py",
        "    if mode & stat.S_ISVTX and trusted_owner(entry.st_uid):\n",
        "    if mode & stat.S_ISVTX:\n",
        "in a sticky directory only an entry of root or the running user is trusted",
        ("tests/unit/test_paths.py",),
    ),
    Mutation(
        "files-open-before-type-check", "acme_conf/files.py",
        "    require_regular(resolved.info.st_mode)\n    fd = reopen(",
        "    fd = reopen(",
        "a file is checked to be a regular one before it is opened",
        ("tests/unit/test_paths.py", "tests/unit/test_revokeproc_examine.py", "tests/config/test_reading.py"),
    ),
    Mutation(
        "keys-any-owner", "acme_conf/paths.py",
        "    problems = [owner_problem(info)] if owner_problem(info) else []\n    if info.st_mode & (stat.S_IRWXG",
        "    problems = []\n    if info.st_mode & (stat.S_IRWXG",
        "a key must belong to root or the running user",
        ("tests/unit/test_paths.py", "tests/sandbox/test_path_defences.py"),
    ),
    Mutation(
        "keys-directory-others-may-write", "acme_conf/paths.py",
        "    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):\n",
        "    if False:\n",
        "a key's directory may be written by no one but its owner",
        ("tests/unit/test_paths.py", "tests/sandbox/test_path_defences.py"),
    ),
    # -- the CA's renewal information (ARI, issue 13) -----------------------------------------------
    Mutation(
        "acctproc-replaces-for-any-domain", "acme_conf/acme/signing_rules.py",
        '    if "replaces" in body and not run.replaces:\n',
        "    if False:\n",
        "an order names what it replaces only for a domain that follows the CA's renewal information",
        (ARI_UNIT + "::test_an_order_naming_what_it_replaces_otherwise_is_refused",),
    ),
    Mutation(
        "acctproc-replaces-any-text", "acme_conf/acme/signing_rules.py",
        '    if "replaces" in body and not is_certificate_id(body["replaces"]):\n',
        "    if False:\n",
        "what an order names as replaced has a certificate identifier's syntax",
        (ARI_UNIT + "::test_an_order_naming_what_it_replaces_otherwise_is_refused",),
    ),
    Mutation(
        "netproc-ask-for-any-domain", P + "netproc.py",
        "    if settings.renewal_information and not settings.revoke:\n",
        "    if not settings.revoke:\n",
        "netproc asks the CA's renewal information only for a domain that follows it",
        (ARI_HOSTILE + "::test_a_domain_without_renewal_information_names_nothing_and_refuses_to_ask",),
    ),
    Mutation(
        "netproc-retry-after-unclamped", "acme_conf/acme/renewal_info.py",
        "    return now + min(max(wait, MIN_CHECK_INTERVAL), MAX_CHECK_INTERVAL)\n",
        "    return now + wait\n",
        "the renewal information's Retry-After is held between a minute and a day",
        (ARI_UNIT, ARI_HOSTILE + "::test_retry_after_is_clamped_to_a_minute_and_a_day"),
    ),
    Mutation(
        "netproc-window-backwards", "acme_conf/acme/renewal_info.py",
        "    if end <= start:\n",
        "    if False:\n",
        "a suggested window that ends before it starts is refused",
        (ARI_UNIT, ARI_HOSTILE),
    ),
    Mutation(
        "netproc-window-far", "acme_conf/acme/renewal_info.py",
        "    if end > now + MAX_WINDOW_SPAN or start < now - MAX_WINDOW_SPAN:\n",
        "    if False:\n",
        "a suggested window more than 400 days away is refused",
        (ARI_UNIT, ARI_HOSTILE),
    ),
    Mutation(
        "netproc-moment-redrawn", "acme_conf/acme/renewal_info.py",
        "    if kept == window and kept_moment is not None and window.start <= kept_moment <= window.end:\n",
        "    if False:\n",
        "the moment drawn in a window is kept while the window stays the same",
        (ARI_UNIT, ARI_HOSTILE + "::test_a_window_ahead_sends_nothing_more_and_keeps_its_moment"),
    ),
    Mutation(
        "netproc-replaces-retry-on-rate-limit", P + "netproc.py",
        "        if not replaces or refused.status in (429, 503) or refused.problem is None",
        "        if not replaces or refused.problem is None",
        "an order refused for the CA's rate limits, or while it is unavailable, is not sent again without `replaces`",
        (ARI_HOSTILE + "::test_a_rate_limit_or_an_outage_on_a_replacing_order_is_not_retried",),
    ),
    Mutation(
        "parent-renewal-moment-outside-window", "acme_conf/state.py",
        " or not start <= moment <= end or not start < end:\n",
        " or not start < end:\n",
        "the parent keeps a reported moment only inside its window",
        (ARI_UNIT + "::test_a_moment_outside_its_window_keeps_no_window",),
    ),
    Mutation(
        "parent-renewal-next-check-unbounded", "acme_conf/state.py",
        '    kept = KeptRenewal(str(value["certificate"]), min(check, latest))\n',
        '    kept = KeptRenewal(str(value["certificate"]), check)\n',
        "the parent believes a next check at most a day (a week without ARI) ahead",
        (ARI_UNIT + "::test_a_next_check_far_ahead_is_believed_a_day_at_most",),
    ),
    Mutation(
        "parent-renewal-any-certificate-text", "acme_conf/state.py",
        '    if not isinstance(value, dict) or not (value.get("certificate") == "" or is_certificate_id(value.get("certificate"))):\n',
        "    if not isinstance(value, dict):\n",
        "the parent keeps only a certificate identifier's syntax, never other text from netproc",
        (ARI_UNIT + "::test_a_report_that_makes_no_sense_keeps_nothing",),
    ),
    Mutation(
        "revokeproc-moment-of-another-certificate", "acme_conf/certstatus.py",
        "        ari_moment=kept[1] if kept is not None and identifier and kept[0] == identifier else None,\n",
        "        ari_moment=kept[1] if kept is not None else None,\n",
        "a kept renewal moment counts only for the certificate it was drawn for",
        (ARI_UNIT + "::test_a_moment_kept_for_another_certificate_decides_nothing",),
    ),
    Mutation(
        "parent-K-starts-acctproc", P + "settings.py",
        '        return ("dnsproc",)\n',
        "        return SHARED_ROLES\n",
        "a -K run (the account key lost) starts no acctproc, which would create a new account key",
        ("tests/integration/test_issue.py::test_revoke_with_the_domain_key_when_the_account_is_lost",),
    ),
    Mutation(
        "parent-r-starts-chngproc", P + "settings.py",
        "    if not options.installs:\n        return (\"dnsproc\", \"acctproc\")\n",
        "    if False:\n        return (\"dnsproc\", \"acctproc\")\n",
        "a run that orders nothing starts no chngproc",
        ("tests/integration/test_issue.py::test_revoke_with_a_reason",),
    ),
    # -- httpproc, the built-in http-01 responder (issue 14) ------------------------------------------
    Mutation(
        "httpproc-trusts-netprocs-thumbprint", P + "httpproc.py",
        "    refusal = key_authorization_refusal(token, key_authorization, account_thumbprint(held.accounts, held.thumbprints, net_fd))\n",
        "    refusal = key_authorization_refusal(token, key_authorization, key_authorization.partition('.')[2])\n",
        "httpproc answers only for the account acctproc named, never one netproc names",
        (HTTPPROC + "::test_a_hostile_netproc_publishes_nothing",),
    ),
    Mutation(
        "httpproc-answers-per-domain-unbounded", P + "httpproc.py",
        "    if len(owned) >= held.most_tokens[net_fd]:\n",
        "    if False:\n",
        "httpproc keeps at most one answer per name of a domain",
        (HTTPPROC + "::test_one_answer_per_name_and_a_token_held_by_one_domain_only",),
    ),
    Mutation(
        "httpproc-token-of-another-domain", P + "httpproc.py",
        "    if token in held.live:\n",
        "    if False:\n",
        "a token one domain holds cannot be taken over by another",
        (HTTPPROC + "::test_one_answer_per_name_and_a_token_held_by_one_domain_only",),
    ),
    # The responders' connections (proc/connections.py, shared by httpproc and tlsproc): each row
    # names the tests of both roles that catch it.
    Mutation(
        "responder-clients-unbounded", P + "connections.py",
        "            if len(self.clients) >= limits.most:  # the oldest makes room: idle ones cannot keep the CA out\n",
        "            if False:\n",
        "a responder holds at most its MAX_CLIENTS connections at once, the oldest making room for a new one",
        (HTTPPROC + "::test_when_full_the_oldest_connection_makes_room", TLSPROC + "::test_stalled_clients_cannot_keep_the_validator_out"),
    ),
    Mutation(
        "responder-one-address-unbounded", P + "connections.py",
        "            if sum(client.peer == peer for client in self.clients.values()) >= limits.per_peer:\n",
        "            if False:\n",
        "one address holds at most PER_PEER of a responder's connections",
        (HTTPPROC + "::test_one_address_holds_a_few_connections_at_most", TLSPROC + "::test_connections_from_one_address_are_bounded"),
    ),
    Mutation(
        "responder-no-first-byte-deadline", P + "connections.py",
        "            self.clients[connection.fileno()] = self.new_client(connection, peer, now, now + limits.first_byte)\n",
        "            self.clients[connection.fileno()] = self.new_client(connection, peer, now, now + limits.whole)\n",
        "a connection that sends nothing is closed after FIRST_BYTE_SECONDS",
        (HTTPPROC + "::test_a_client_that_sends_nothing_is_closed_soon",),  # tlsproc's test gives both deadlines time
    ),
    Mutation(
        "responder-clients-never-expire", P + "connections.py",
        "        for fd in [fd for fd, client in self.clients.items() if client.deadline <= now]:\n",
        "        for fd in []:\n",
        "a connection that does not finish its business in its time is closed",
        (HTTPPROC + "::test_a_client_that_never_finishes_its_request_is_closed_after_its_time", TLSPROC + "::test_a_silent_or_stalled_client_is_closed_after_its_time"),
    ),
    Mutation(
        "httpproc-answers-after-the-domain-is-done", P + "httpproc.py",
        "    for token in held.owned.pop(net_fd, []):\n",
        "    for token in held.owned.get(net_fd, [])[:0]:\n",
        "a domain's answers are withdrawn when its netproc is done",
        (HTTPPROC + "::test_a_domain_done_is_answered_no_more",),
    ),
    # -- dns-persist-01 and wildcards (issue 14) -----------------------------------------------------
    Mutation(
        "config-wildcard-anywhere", "acme_conf/config/names.py",
        "    if not allowed:\n        raise BadName(",
        "    if False:\n        raise BadName(",
        "a wildcard name is allowed only in a block that validates with dns-persist-01",
        ("tests/unit/test_persist_records.py", "tests/config/test_corpus.py"),
    ),
    Mutation(
        "parent-prints-any-record-line", P + "reports.py",
        "        if expected_record(line, job.names, job.authority.api_url):\n",
        "        if isinstance(line, str):\n",
        "-P prints only the records expected of the domain, never other text from netproc",
        ("tests/unit/test_persist_records.py::test_the_parent_prints_only_the_records_expected",),
    ),
    Mutation(
        "parent-prints-a-record-for-another-account", "acme_conf/acme/persist.py",
        " and asked.hostname == ca.hostname and same_port\n",
        "\n",
        "-P prints a record only with an account URL on the CA's host and port",
        ("tests/unit/test_persist_records.py::test_the_parent_prints_a_record_only_for_the_domains_names_and_its_ca",),
    ),
    Mutation(
        "netproc-wildcard-authorization-as-its-base", P + "netproc.py",
        '    if authorization.wildcard and authorization.identifier_type == "dns":\n',
        "    if False:\n",
        "an authorization for a wildcard is matched as the wildcard, not as its base name",
        ("tests/unit/test_persist_records.py::test_a_wildcard_authorization_is_for_the_wildcard_and_not_for_its_base_name",),
    ),
    Mutation(
        "netproc-asks-about-any-name", P + "netproc.py",
        "    if not is_certificate_id(certificate_id):  # from revokeproc, which parses what the CA sent: checked\n",
        "    if False:\n",
        "netproc asks the renewal information only for an identifier of the right syntax (it goes into a URL)",
        (ARI_HOSTILE + "::test_a_certificate_named_in_a_malformed_way_is_not_asked_about",),
    ),
    Mutation(
        "config-responders-overlap", "acme_conf/config/build.py",
        "        if first[0] != address and EVERY_ADDRESS & {first[0], address}:  # the second bind would fail\n",
        "        if False:\n",
        "two responders on one port cannot overlap (one on every address): the second would fail every run",
        ("tests/config/test_challenge_options.py::test_two_responders_on_one_port_must_agree_on_the_address",),
    ),
    Mutation(
        "parent-holds-back-account-actions", P + "scheduler.py",
        "    if not state.options.installs:  # nothing is ordered: nothing to hold back\n",
        "    if state.options.revoke:\n",
        "a domain's back-off holds back only what orders: never -D, -k or -P",
        ("tests/unit/test_run_checks.py::test_a_kept_back_off_holds_back_only_what_orders",),
    ),
    Mutation(
        "parent-reads-a-short-report", "acme_conf/state.py",
        "MAX_REPORT = 64 * 1024\n",
        "MAX_REPORT = 4096\n",
        "netproc's report is read up to 64 KiB: -P's records of a 100-name domain all reach the parent",
        ("tests/unit/test_persist_records.py::test_the_records_of_a_hundred_names_all_reach_the_parent",),
    ),
    # -- tlsproc, the built-in tls-alpn-01 responder ------------------------------------------------
    Mutation(
        "tlsproc-trusts-netprocs-thumbprint", P + "tlsproc.py",
        "account_thumbprint(held.accounts, held.thumbprints, net_fd))\n",
        "request.key_authorization.partition('.')[2])\n",
        "tlsproc answers only for the account acctproc named, never one netproc names",
        (TLSPROC + "::test_a_hostile_netproc_publishes_nothing",),
    ),
    Mutation(
        "tlsproc-any-identifier", P + "tlsproc.py",
        "    if identifier not in held.names[net_fd]:",
        "    if False:",
        "tlsproc answers only for a name the plan gives the netproc's domain, never one netproc names alone",
        (TLSPROC + "::test_a_hostile_netproc_publishes_nothing",),
    ),
    Mutation(
        "tlsproc-answers-per-domain-unbounded", P + "tlsproc.py",
        "    if len(owned) >= held.most_tokens[net_fd]:\n",
        "    if False:\n",
        "tlsproc keeps at most one answer per name of a domain",
        (TLSPROC + "::test_one_answer_per_name_a_token_and_a_name_held_by_one_domain_only",),
    ),
    Mutation(
        "tlsproc-token-of-another-domain", P + "tlsproc.py",
        "    if token in held.tokens:\n",
        "    if False:\n",
        "a token one domain holds cannot be taken over by another",
        (TLSPROC + "::test_one_answer_per_name_a_token_and_a_name_held_by_one_domain_only",),
    ),
    Mutation(
        "tlsproc-name-of-another-domain", P + "tlsproc.py",
        "    if name in held.live:\n",
        "    if False:\n",
        "a name live for one domain cannot be answered for another (two domains sharing a name)",
        (TLSPROC + "::test_one_answer_per_name_a_token_and_a_name_held_by_one_domain_only",),
    ),
    Mutation(
        "tlsproc-answers-after-the-domain-is-done", P + "tlsproc.py",
        "    for name in held.owned.pop(net_fd, []):\n",
        "    for name in held.owned.get(net_fd, [])[:0]:\n",
        "a domain's answers are withdrawn when its netproc is done",
        (TLSPROC + "::test_a_domain_done_is_answered_no_more",),
    ),
    Mutation(
        "tlsproc-without-acme-tls-1", P + "tlsproc.py",
        "        if ALPN not in offered:\n",
        "        if False:\n",
        "a handshake that does not offer acme-tls/1 never reaches OpenSSL, so gets no certificate",
        (TLSPROC + "::test_any_other_handshake_is_refused",),
    ),
    Mutation(
        "tlsproc-any-name-answered", P + "tlsproc.py",
        "        answer = self.held.live.get(name)\n",
        "        answer = self.held.live.get(name) or next(iter(self.held.live.values()), None)\n",
        "an SNI that names no live name gets an alert, not some other name's certificate",
        (TLSPROC + "::test_any_other_handshake_is_refused",),
    ),
    Mutation(
        "tlsproc-hello-record-unbounded", "acme_conf/acme/tls_alpn.py",
        "    if 5 + length > limit:\n        return ()\n",
        "",
        "a ClientHello record longer than MAX_INPUT is refused at once, not waited for",
        (TLS_ALPN, TLSPROC + "::test_a_client_that_sends_too_much_is_closed"),
    ),
    Mutation(
        "tlsproc-identifier-not-critical", "acme_conf/acme/tls_alpn.py",
        "acme_identifier_value(key_authorization)), critical=True)",
        "acme_identifier_value(key_authorization)), critical=False)",
        "the acmeIdentifier extension is critical (RFC 8737 section 3)",
        (TLS_ALPN, TLSPROC + "::test_a_live_name_is_answered_with_its_validation_certificate"),
    ),
    Mutation(
        "tlsproc-key-left-in-memfd", P + "tlsproc.py",
        "        os.ftruncate(held.slot, 0)  # the context holds the key now; the memfd holds nothing\n",
        "        pass\n",
        "the validation key does not stay in the memfd once ssl has loaded it",
        (TLSPROC + "::test_the_memfd_holds_no_key_once_a_certificate_is_loaded",),
    ),
    Mutation(
        "tlsproc-without-landlock", P + "tlsproc.py",
        "    if not abi_version():",
        "    if False:",
        "tlsproc does not start where Landlock cannot hold its read-only opens to its memfd",
        (TLSPROC + "::test_without_landlock_tlsproc_does_not_start",),
    ),
    Mutation(
        "tlsproc-policy-reads-anything", S + "policy.py",
        "            syscalls=PYTHON_RUNTIME + TLS_SERVER,\n",
        "            syscalls=PYTHON_RUNTIME + TLS_SERVER,\n            read_files=(\"/etc\",),\n",
        "tlsproc's read-only opens reach no path (Landlock grants it none)",
        (MATRIX + "::test_every_attempt_gets_the_policys_answer", "tests/unit/test_defences_policy.py"),
    ),
    # -- account actions: -D, -k, the kept previous key (issue 13) -----------------------------------
    Mutation(
        "acctproc-deactivate-in-any-run", "acme_conf/acme/signing_rules.py",
        '        return "account deactivation", "" if run.deactivate else "an account deactivation, which only a -D run makes"\n',
        '        return "account deactivation", ""\n',
        "acctproc signs the account's deactivation only in a -D run",
        (SIGNING_RULES + "::test_the_account_is_deactivated_in_a_d_run_only_and_at_its_own_url",),
    ),
    Mutation(
        "acctproc-deactivate-anywhere", "acme_conf/acme/signing_rules.py",
        '    if kind == "account deactivation" and url != kid:\n',
        "    if False:\n",
        "a deactivation goes to the account's own URL only",
        (SIGNING_RULES + "::test_the_account_is_deactivated_in_a_d_run_only_and_at_its_own_url",),
    ),
    Mutation(
        "acctproc-orders-in-a-d-run", "acme_conf/acme/signing_rules.py",
        '    if run.deactivate and kind in ("new account", "new order", "finalize"):\n',
        "    if False:\n",
        "a -D run creates no account and orders nothing",
        (SIGNING_RULES + "::test_a_d_run_orders_nothing_and_creates_no_account",),
    ),
    Mutation(
        "netproc-account-action-creates-account", P + "netproc.py",
        '    create = settings.account_action in ("", RECORDS)\n',
        "    create = True\n",
        "a -D or -k run looks the account up and never creates one",
        ("tests/adversarial/test_hostile_account_actions.py",),
    ),
    Mutation(
        "netproc-deactivation-unconfirmed", P + "netproc.py",
        '    if status != "deactivated":\n',
        "    if False:\n",
        "a deactivation the CA does not confirm is an error",
        ("tests/adversarial/test_hostile_account_actions.py",),
    ),
    Mutation(
        "parent-k-replaces-what-is-in-the-way", P + "accounts.py",
        "        os.link(key.name, aside.name, src_dir_fd=directory, dst_dir_fd=directory, follow_symlinks=False)\n",
        "        os.replace(key.name, aside.name, src_dir_fd=directory, dst_dir_fd=directory)\n"
        "        os.link(aside.name, key.name, src_dir_fd=directory, dst_dir_fd=directory)\n",
        "-k never replaces a file at FILE.previous",
        ("tests/unit/test_account_state.py",),
    ),
    Mutation(
        "parent-k-any-key-directory", P + "accounts.py",
        "    if problems:\n        os.close(resolved.fd)\n",
        "    if False:\n        os.close(resolved.fd)\n",
        "-k renames only in a key directory as private as a key's must be",
        ("tests/unit/test_account_state.py::test_k_refuses_a_key_directory_others_may_write",),
    ),
    Mutation(
        "parent-kept-previous-any-path", P + "accounts.py",
        "        if previous != str(aside_of(authority.account_key)):  # only what -k makes: never another key of this host\n",
        "        if False:\n",
        "a kept previous account key is only ever the account key's own FILE.previous",
        ("tests/unit/test_account_state.py::test_a_kept_previous_key_is_only_ever_the_account_keys_own_aside",),
    ),
    Mutation(
        "parent-kept-previous-gone-kept", P + "accounts.py",
        "        if not os.path.lexists(previous):\n",
        "        if False:\n",
        "a kept previous key whose file is gone is forgotten, not handed to acctproc",
        ("tests/unit/test_account_state.py",),
    ),
    # -- the no-op run's shortcut (issue 15) ----------------------------------------------------
    Mutation(
        "known-file-not-hashed", P + "known_certificates.py",
        "    if file_digest(str(inspected)) != known.sha256:\n        return None\n",
        "",
        "the parent trusts a kept record only while the file's SHA-256 matches it",
        ("tests/unit/test_known_certificates.py",),
    ),
    Mutation(
        "known-key-note-ignored", P + "known_certificates.py",
        " or known.key != key_identity(job):\n",
        ":\n",
        "a kept record is void once the domain key file or its configuration changed",
        ("tests/unit/test_known_certificates.py",),
    ),
    Mutation(
        "known-ari-never-asked", P + "known_certificates.py",
        "    if decision.due or _to_ask(job, kept, known, now):\n",
        "    if decision.due:\n",
        "a recognised file whose CA's renewal information is due to be asked goes to a chain",
        ("tests/unit/test_known_certificates.py",),
    ),
    Mutation(
        "known-any-digest-kept", "acme_conf/state.py",
        '    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):\n',
        "    if not isinstance(digest, str):\n",
        "the parent keeps only a SHA-256's syntax from revokeproc's report",
        ("tests/unit/test_known_certificates.py",),
    ),
    Mutation(
        "known-kept-after-install", P + "reports.py",
        "certificate=None if result.changed else kept.certificate)",
        "certificate=kept.certificate)",
        "what was known of a certificate is forgotten once a chain installs another",
        ("tests/unit/test_known_certificates.py",),
    ),
    # -- the status view, summary lines, syslog (issue 16) ---------------------------------------
    Mutation(
        "status-view-orders", P + "scheduler.py",
        "        if code == EXIT_OK and not group.failed and not state.stopping and not state.judge_only:\n",
        "        if code == EXIT_OK and not group.failed and not state.stopping:\n",
        "the status view's checks start no chain, whatever they find: nothing reaches the network",
        ("tests/integration/test_status_view.py::test_the_status_of_issued_expired_missing_mismatched_and_broken_certificates",),
    ),
    Mutation(
        "status-file-not-hashed", P + "status_view.py",
        "    return known if file_digest(str(inspected)) == known.sha256 else None\n",
        "    return known\n",
        "the status view trusts a kept record only while the file's SHA-256 matches it",
        ("tests/unit/test_status_gather.py",),
    ),
    Mutation(
        "status-key-note-ignored", P + "status_view.py",
        "    if known is None or inspected is None or known.key != key_identity(job):\n",
        "    if known is None or inspected is None:\n",
        "the status view's kept record is void once the domain key file changed",
        ("tests/unit/test_status_gather.py",),
    ),
    Mutation(
        "failure-reason-unsanitised", P + "voice.py",
        "            self.last_said = printable(text, MAX_LINE)\n",
        "            self.last_said = text\n",
        "why a child failed is kept and printed only escaped",
        ("tests/unit/test_status_gather.py",),
    ),
    Mutation(
        "last-run-reason-unchecked", "acme_conf/state.py",
        "    if not isinstance(reason, str) or printable(reason, MAX_REASON + 3) != reason:  # + 3: a cut line ends in ...\n",
        "    if not isinstance(reason, str):\n",
        "a last run's reason read back from a state file is one printable line",
        ("tests/unit/test_last_run_state.py",),
    ),
    Mutation(
        "syslog-blocks", P + "run_log.py",
        "socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)",
        "socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)",
        "a syslog daemon that stops reading never holds the run back",
        ("tests/unit/test_run_log.py",),
    ),
    # -- the live count (issue 16) ------------------------------------------------------------------
    Mutation(
        "progress-count-in-cron-mail", P + "progress.py",
        "        shown = total > 1 and terminal.isatty()\n",
        "        shown = total > 1\n",
        "the count of domains done is drawn on a terminal only: cron mail gets no control characters",
        ("tests/unit/test_progress.py", "tests/integration/test_progress_count.py"),
    ),
    Mutation(
        "selfcheck-any-body", "acme_conf/net/challenge_check.py",
        "    if body.strip() != key_authorization.encode():\n",
        "    if False:\n",
        "the self-check passes only the challenge file itself, not whatever page the web server answers with",
        ("tests/unit/test_challenge_check.py",),
    ),
    Mutation(
        "selfcheck-any-status", "acme_conf/net/challenge_check.py",
        "    if status != 200:\n",
        "    if False:\n",
        "the self-check fails a web server that answers with an error status",
        ("tests/unit/test_challenge_check.py", "tests/integration/test_self_check.py"),
    ),
    Mutation(
        "access-drift-ignored", P + "scheduler.py",
        "    drift = access_drift(job) if options.installs and not state.judge_only else None\n",
        "    drift = None\n",
        "an output file's declared mode, or a new output file, is applied at the next run, not the next renewal",
        ("tests/integration/test_access_drift.py",),
    ),
    Mutation(
        "hook-user-root-alias-checked", "acme_conf/config/build.py",
        "        return pwd.getpwnam(user).pw_uid != 0\n",
        "        return True\n",
        "a hook's user that is root by another name (uid 0) is refused at the check",
        ("tests/config/test_root_alias_user.py",),
    ),
    Mutation(
        "hook-user-root-alias-run", "acme_conf/sandbox/apply.py",
        "        if run.account.uid == 0:  # `toor` and the like: root by another name\n",
        "        if False:\n",
        "the roles that run programs refuse to become a user with uid 0",
        ("tests/unit/test_root_alias_refused.py",),
    ),
    Mutation(
        "last-run-overwrites-state", P + "reports.py",
        "        state = load_state(directory, result.handle)\n",
        "        state = DomainState()\n",
        "keeping how a run ended keeps what else the state file holds (a back-off another run kept)",
        ("tests/unit/test_last_run_state.py",),
    ),
    Mutation(
        "last-run-bad-record-costs-all", "acme_conf/state.py",
        "            last_run=_last_run_kept(raw.get(\"last_run\"), handle, path),\n",
        "            last_run=_last_run(raw.get(\"last_run\")),\n",
        "a last run's record that makes no sense costs only itself, not the back-off kept beside it",
        ("tests/unit/test_last_run_state.py",),
    ),
    Mutation(
        "output-backup-name-clash", "acme_conf/config/build.py",
        "        if clash:\n            self.error(",
        "        if False:\n            self.error(",
        "a file where another output file's previous version (FILE.1) is kept is refused at -n",
        ("tests/config/test_output_file_options.py",),
    ),
    # -- hookproc, the dns-01 hook (issue 14) ------------------------------------------------------
    Mutation(
        "hookproc-any-name", P + "hookproc.py",
        "    if name not in held.names[net_fd]:\n",
        "    if False:\n",
        "hookproc publishes records only for the names of the asking netproc's own domain",
        (HOOKPROC + "::test_a_hostile_netproc_has_nothing_added",),
    ),
    Mutation(
        "hookproc-trusts-netprocs-thumbprint", P + "hookproc.py",
        "    thumbprint = account_thumbprint(held.accounts, held.thumbprints, net_fd)\n",
        "    thumbprint = request.key_authorization.partition('.')[2]\n",
        "hookproc publishes only for the account acctproc named, never one netproc names",
        (HOOKPROC + "::test_a_hostile_netproc_has_nothing_added",),
    ),
    Mutation(
        "hookproc-records-per-name-unbounded", P + "hookproc.py",
        "    if any(record.name == name for record in held.added.get(net_fd, ())):\n",
        "    if False:\n",
        "one record per name of a domain",
        (HOOKPROC + "::test_one_record_per_name",),
    ),
    Mutation(
        "hookproc-requests-unbounded", P + "hookproc.py",
        "            max_requests=lambda net: REQUESTS_PER_NAME * len(held.names[net.fileno()]),\n",
        "            max_requests=10**6,\n",
        "a netproc asking more than REQUESTS_PER_NAME times per name is dropped",
        (HOOKPROC + "::test_a_netproc_asking_too_often_is_dropped",),
    ),
    Mutation(
        "hookproc-environment-inherited", P + "programs.py",
        "            env=dict(environment),\n",
        "            env={**os.environ, **environment},\n",
        "the hook program gets a clean environment, never acme-client's",
        (
            HOOKPROC + "::test_the_program_gets_a_clean_environment",
            DNS_HOOK + "::test_the_hook_sees_no_key_and_changes_no_certificate",
            RUN_HOOK_UNIT + "::test_the_program_reads_the_document_with_its_arguments_and_a_clean_environment",
        ),
    ),
    Mutation(
        "hookproc-no-timeout", P + "programs.py",
        "        output, _ = program.communicate(document, timeout=timeout)\n",
        "        output, _ = program.communicate(document)\n",
        "a hook call that overruns its timeout is killed",
        (HOOKPROC + "::test_a_program_that_overruns_is_killed_with_its_children",),
    ),
    Mutation(
        "hookproc-kills-only-the-program", P + "programs.py",
        "        os.killpg(program.pid, signal.SIGKILL)\n",
        "        program.kill()\n",
        "an overrun kills the hook's whole session, not the program alone",
        (HOOKPROC + "::test_a_program_that_overruns_is_killed_with_its_children",),
    ),
    Mutation(
        "hookproc-failed-add-not-removed", P + "hookproc.py",
        "    held.added.setdefault(net_fd, []).append(record)  # before the program runs: it may add, then fail\n"
        "    _note(held, \"+\", record)\n"
        "    run_program(held.settings, \"add\", record)\n",
        "    run_program(held.settings, \"add\", record)\n"
        "    held.added.setdefault(net_fd, []).append(record)\n"
        "    _note(held, \"+\", record)\n",
        "a record whose add failed is removed all the same (the program may have added it)",
        (HOOKPROC + "::test_a_failing_add_says_why_and_its_record_is_removed_all_the_same",),
    ),
    Mutation(
        "hookproc-records-kept-after-the-domain", P + "hookproc.py",
        "            closed=lambda net: _domain_done(held, net.fileno()),\n",
        "            closed=lambda net: None,\n",
        "a domain's records are removed as soon as its netproc is done",
        (HOOKPROC + "::test_a_record_is_added_with_the_value_computed_here_and_removed_when_the_domain_is_done",),
    ),
    Mutation(
        "hookproc-does-not-wait-for-the-record", P + "hookproc.py",
        "    wait_until_visible(held, record)\n",
        "    pass\n",
        "the CA is told to look only once the record is visible (or the run fails)",
        (DNS_HOOK + "::test_a_record_never_seen_fails_before_the_ca_looks",),
    ),
    Mutation(
        "hookproc-runs-any-program", P + "hookproc.py",
        "    check_program(settings.program)\n",
        "    pass\n",
        "hookproc refuses, at run time, a program another user may change",
        (HOOKPROC + "::test_hookproc_refuses_a_program_others_may_change_when_it_starts",),
    ),
    Mutation(
        "hook-journal-never-swept", P + "scheduler.py",
        "            if exited.role in (\"chngproc\", \"hookproc\") and exited.group.name in state.services:\n",
        "            if exited.role == \"chngproc\" and exited.group.name in state.services:\n",
        "the records a killed hookproc left are removed by a sweeper",
        (DNS_HOOK + "::test_a_hookproc_killed_mid_run_has_its_records_removed_by_a_sweeper",),
    ),
    Mutation(
        "hookproc-program-outlives-it", P + "programs.py",
        "            preexec_fn=die_with_parent,  # a hookproc killed takes the program it runs with it\n",
        "            preexec_fn=None,\n",
        "the program a killed hookproc was running dies with it",
        (DNS_HOOK + "::test_a_hookproc_killed_mid_run_has_its_records_removed_by_a_sweeper",),
    ),
    Mutation(
        "hook-sweeper-any-record", P + "hookproc.py",
        "        if not is_record_entry(entry) or name not in names:\n",
        "        if False:\n",
        "a sweeper removes only records of its hook's domains, whatever the journal says",
        (HOOKPROC + "::test_a_sweeper_removes_only_records_of_its_domains",),
    ),
    Mutation(
        "hook-program-others-may-write", "acme_conf/paths.py",
        "    if info.st_mode & 0o022:\n",
        "    if False:\n",
        "a hook program group or others may write is refused",
        ("tests/config/test_challenge_options.py::test_a_hook_others_may_change_is_refused", HOOKPROC),
    ),
    Mutation(
        "hook-sees-the-keys", S + "apply.py",
        "        _private_mounts(run)\n",
        "",
        "the hook program's view of the files hides every key and makes certificates read-only",
        (DNS_HOOK + "::test_the_hook_sees_no_key_and_changes_no_certificate", KERNEL_VIEW),
    ),
    Mutation(
        "hookproc-zone-servers-asked-with-recursion", P + "hookproc.py",
        "            waiting, recursion = list(zone_servers), False\n",
        "            waiting, recursion = list(zone_servers), True\n",
        "the zone's own servers are asked without recursion, so that no cache answers for them",
        ("tests/integration/test_zone_servers.py",),
    ),
    Mutation(
        "txt-lookup-zone-of-another-name", "acme_conf/net/txt_lookup.py",
        "        if record.kind == SOA and owner and (wanted == owner or wanted.endswith(\".\" + owner)):\n",
        "        if record.kind == SOA:\n",
        "a zone is taken only from an SOA record that holds the name asked about",
        (TXT_LOOKUP + "::test_a_zone_is_only_one_that_holds_the_name",),
    ),
    Mutation(
        "hook-view-links-unresolved", P + "hook_view.py",
        "        for directory in (str(key.parent), os.path.dirname(os.path.realpath(key))):\n",
        "        for directory in (str(key.parent),):\n",
        "a key's directory is hidden where its links lead too",
        ("tests/unit/test_hook_view.py::test_every_key_directory_is_hidden_as_named_and_where_its_links_lead",),
    ),
    Mutation(
        "hook-view-only-the-run", P + "settings.py",
        "            str(hook.program), (*jobs, *options.every_domain), options.every_authority, state_directory()\n",
        "            str(hook.program), tuple(jobs), options.every_authority, state_directory()\n",
        "the hook sees no key of the whole configuration, not only of the domains of its run",
        ("tests/unit/test_hook_view.py::test_the_whole_configuration_is_hidden_not_only_the_domains_of_the_run",),
    ),
    Mutation(
        "hook-view-key-in-a-system-directory", P + "hook_view.py",
        "            if directory in SYSTEM_DIRECTORIES:\n",
        "            if False:\n",
        "a key directly in a directory the hook must see (/etc) is refused, not left visible",
        ("tests/unit/test_hook_view.py::test_a_key_directly_in_a_directory_the_program_needs_is_refused",),
    ),
    Mutation(
        "txt-lookup-question-never-ends", "acme_conf/net/txt_lookup.py",
        "                left = deadline - time.monotonic()\n",
        "                left = timeout\n",
        "stray datagrams cannot keep a question open past its time",
        (TXT_LOOKUP + "::test_stray_datagrams_do_not_keep_a_question_open_past_its_time",),
    ),
    Mutation(
        "txt-lookup-malformed-txt-escapes", "acme_conf/net/txt_lookup.py",
        "    except MalformedAnswer:  # a TXT string cut short: not visible yet\n        return False\n",
        "    except ZeroDivisionError:\n        return False\n",
        "a malformed TXT record is \"not visible yet\", never an error that ends hookproc",
        (TXT_LOOKUP + "::test_a_txt_string_cut_short_is_not_visible_rather_than_an_error",),
    ),
    Mutation(
        "txt-lookup-asks-about-any-name", "acme_conf/net/txt_lookup.py",
        "            if _HOST.fullmatch(host):  # a name a question can carry; anything else is skipped\n",
        "            if True:\n",
        "a name server's name that no question can carry is skipped, not asked about",
        (TXT_LOOKUP + "::test_name_servers_with_names_no_question_can_carry_are_skipped",),
    ),
    Mutation(
        "txt-lookup-pointer-forward", "acme_conf/net/txt_lookup.py",
        "            if target >= offset or pointers > MAX_POINTERS:\n",
        "            if pointers > MAX_POINTERS:\n",
        "a DNS name's compression pointers may only point back",
        (TXT_LOOKUP,),
    ),
    Mutation(
        "txt-lookup-answer-from-anyone", "acme_conf/net/txt_lookup.py",
        "            sock.connect(server)  # the kernel drops datagrams from anyone else\n"
        "            sock.send(packet)\n",
        "            sock.sendto(packet, server)\n",
        "only the asked name server's answer is read, not a datagram from anyone else",
        (TXT_LOOKUP + "::test_a_spoofed_datagram_from_elsewhere_is_not_read_and_the_real_answer_is",),
    ),
    # -- output files a daemon can use (issue 16, item 3) ---------------------------------------------
    Mutation(
        "output-created-with-its-final-mode", "acme_conf/files.py",
        "os.O_NOFOLLOW | os.O_CLOEXEC, 0, dir_fd=directory_fd)",
        "os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=directory_fd)",
        "a new output file or key is created with mode 0000, given its owner and group, and only then its mode",
        (OUTPUT_ACCESS + "::test_a_new_file_is_created_exclusive_with_mode_0_then_chowned_then_chmodded",),
    ),
    Mutation(
        "output-not-exclusive", "acme_conf/files.py",
        "    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0, dir_fd=directory_fd)\n",
        "    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0, dir_fd=directory_fd)\n",
        "a new output file is created exclusively, never an existing name or through a link",
        (OUTPUT_ACCESS + "::test_an_existing_name_or_a_link_is_never_opened",),
    ),
    Mutation(
        "output-owner-not-given", "acme_conf/files.py",
        "            os.fchown(fd, uid, gid)\n",
        "            pass\n",
        "each output file gets the owner and group the configuration names",
        (OUTPUT_ACCESS, OUTPUT_FILES_TEST + "::test_each_output_file_gets_its_owner_group_and_mode_and_the_combined_file_its_key_and_chain"),
    ),
    Mutation(
        "fileproc-any-private-key", P + "fileproc.py",
        "    if _PRIVATE_KEY.fullmatch(pem) is None:\n",
        "    if False:\n",
        "fileproc takes from keyproc one PEM private key, nothing else, for the combined file",
        (OUTPUT_ACCESS + "::test_fileproc_takes_the_private_key_from_keyproc_only_in_its_shape",),
    ),
    Mutation(
        "fileproc-combined-without-key", P + "fileproc.py",
        "    if settings.combined and _PRIVATE_KEY.fullmatch(private_pem) is None:\n",
        "    if False:\n",
        "no combined file is installed without one PEM private key in front of the full chain",
        (OUTPUT_ACCESS + "::test_no_combined_file_without_one_pem_private_key",),
    ),
    Mutation(
        "key-to-fileproc-without-combined", P + "settings.py",
        "        job.combined is not None\n        and not options.revoke\n",
        "        not options.revoke\n",
        "keyproc tells fileproc the private key only for a combined file",
        ("tests/unit/test_spec_settings.py::test_only_a_run_that_may_install_a_combined_file_gives_keyproc_a_channel_to_fileproc",),
    ),
    Mutation(
        "config-private-file-readable-by-others", "acme_conf/config/file_access.py",
        "    if keyword in PRIVATE_OUTPUTS and mode & 0o007:\n",
        "    if False:\n",
        "a combined file or domain key that others may read is refused at -n",
        (OUTPUT_OPTIONS,),
    ),
    Mutation(
        "config-output-writable-by-others", "acme_conf/config/file_access.py",
        "    if mode & 0o022:\n",
        "    if False:\n",
        "an output file the group or others may write is refused at -n",
        (OUTPUT_OPTIONS,),
    ),
    Mutation(
        "config-private-file-unnamed-group", "acme_conf/config/file_access.py",
        "    if checked is not None and checked & 0o070 and group is None and keyword in PRIVATE_OUTPUTS:\n",
        "    if False:\n",
        "a group may read a private key only when the configuration names it",
        (OUTPUT_OPTIONS,),
    ),
    Mutation(
        "config-key-owner-given-away", "acme_conf/config/file_access.py",
        '    if owner is not None and keyword == "domain key":\n',
        "    if False:\n",
        "the domain key's owner stays root or the running user",
        (OUTPUT_OPTIONS,),
    ),
    Mutation(
        "key-readable-by-another-group", "acme_conf/files.py",
        "    if shared & ~access.mode or (shared and info.st_gid != access.group):\n",
        "    if shared & ~access.mode:\n",
        "a key another group than the one named may read is refused, never quietly narrowed",
        (OUTPUT_ACCESS, OUTPUT_OPTIONS),
    ),
    Mutation(
        "key-check-changes-the-key", "acme_conf/keys.py",
        "        data = _read_key_file(path, access)\n",
        "        data = _read_key_file(path, access, adjust=access is not None)\n",
        "a check's keyproc only reads the domain key; only the one that may create it gives it its group and mode",
        (OUTPUT_ACCESS + "::test_an_existing_key_is_given_the_named_group_and_mode_but_only_by_a_run_that_may_create_it",),
    ),
    Mutation(
        "policy-fileproc-may-chown", S + "policy.py",
        '    Syscall("fsync", "the new file, then its directory"),\n',
        '    Syscall("fsync", "the new file, then its directory"),\n    Syscall("fchown", "mutant"),\n',
        "fileproc gives files their owner before its jail; in it, no role may chown (probe give_file_away)",
        (MATRIX,),
    ),
    Mutation(
        "fileproc-chowns-in-its-jail", P + "fileproc.py",
        "            foreign = uid not in (-1, identity[0]) or gid not in (-1, identity[1])\n",
        "            foreign = False\n",
        "a file for another owner or group is made before fileproc's jail, which keeps no right to chown",
        (OUTPUT_ACCESS + "::test_before_the_jail_only_what_the_jail_could_not_make_is_made_and_with_its_owner_and_mode",
         OUTPUT_FILES_TEST + "::test_each_output_file_gets_its_owner_group_and_mode_and_the_combined_file_its_key_and_chain"),
    ),
    # -- the run hook, runhookproc (issue 16) -----------------------------------------------------------
    Mutation(
        "runhookproc-runs-any-program", P + "runhookproc.py",
        "    check_program(settings.program)\n",
        "    pass\n",
        "runhookproc refuses, at run time, a program another user may change",
        (RUN_HOOK_UNIT + "::test_runhookproc_refuses_a_program_others_may_change",),
    ),
    Mutation(
        "runhookproc-sees-the-keys", P + "runhookproc.py",
        "        hidden=settings.hidden,\n",
        "        hidden=(),\n",
        "the run hook sees every key's directory empty",
        (RUN_HOOK + "::test_one_run_with_a_changed_an_unchanged_and_a_failed_domain",),
    ),
    Mutation(
        "runhookproc-ignores-its-user", P + "runhookproc.py",
        "        user=settings.user,\n",
        "        user=\"\",\n",
        "the run hook runs as its configured user when acme-client runs as root",
        (RUN_HOOK + "::test_the_hook_runs_as_its_configured_user",),
    ),
    Mutation(
        "run-hook-failure-ignored", P + "run_hook.py",
        "    return EXIT_FAILED if failed else status\n",
        "    return status\n",
        "a run hook that fails makes the run's status 1",
        (
            RUN_HOOK_UNIT + "::test_a_hook_that_cannot_start_fails_the_run",
            RUN_HOOK + "::test_a_failing_hook_fails_the_run_and_leaves_the_certificate_installed",
        ),
    ),
    Mutation(
        "run-hook-after-any-run", P + "run_hook.py",
        "    if not options.installs:\n",
        "    if False:\n",
        "no run hook after -r, -K, -D, -k or -P",
        (RUN_HOOK_UNIT + "::test_no_hook_after_a_revocation_or_an_account_action",),
    ),
    Mutation(
        "run-hook-stop-kills-only-its-runner", P + "spawner.py",
        "    child.terminate()\n",
        "    child.kill()\n",
        "a run stopped during its hook stops runhookproc with SIGTERM first, so that it kills the hook's whole session",
        (RUN_HOOK + "::test_a_run_stopped_during_its_hook_stops_the_hook_with_all_it_started",),
    ),
    Mutation(
        "run-hook-sigterm-kills-the-parent", P + "run_hook.py",
        "    previous = signal.signal(signal.SIGTERM, _interrupt)  # as ^C: the hook is stopped with what it started\n",
        "    previous = signal.getsignal(signal.SIGTERM)\n",
        "SIGTERM during the run hook stops the hook and fails the run, rather than killing the parent and orphaning the hook",
        (RUN_HOOK + "::test_a_run_stopped_during_its_hook_stops_the_hook_with_all_it_started",),
    ),
    Mutation(
        "run-hook-changed-when-nothing-changed", P + "run_hook.py",
        "    changed = any(result.changed for result in results)\n",
        "    changed = True\n",
        "`hook changed` runs only after a run in which a certificate changed",
        (RUN_HOOK_UNIT + "::test_which_hooks_a_run_calls_for", RUN_HOOK + "::test_no_hook_runs_when_nothing_changed_or_failed_nor_with_n"),
    ),
    # -- examples/systemd: the units' hardening, each setting seen in force by a probe inside the unit --------
    Mutation(
        "systemd-unit-no-new-privileges", SYSTEMD_TEMPLATE,
        "NoNewPrivileges=yes\n", "NoNewPrivileges=no\n",
        "the unit sets no_new_privs for the whole run, the parent included",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-bounding-set", SYSTEMD_TEMPLATE,
        "CapabilityBoundingSet=CAP_CHOWN ", "CapabilityBoundingSet=CAP_SYS_PTRACE CAP_CHOWN ",
        "the unit's bounding set keeps no capability a run never uses",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-read-only-system", SYSTEMD_TEMPLATE,
        "ProtectSystem=strict\n", "ProtectSystem=no\n",
        "everything but ReadWritePaths= is read-only for the run",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-umask", SYSTEMD_TEMPLATE,
        "UMask=0077\n", "UMask=0022\n",
        "files the run makes without an explicit mode are its own alone",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-hidden-homes", SYSTEMD_TEMPLATE,
        "ProtectHome=yes\n", "ProtectHome=no\n",
        "the run sees no home directory",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-private-tmp", SYSTEMD_TEMPLATE,
        "PrivateTmp=yes\n", "PrivateTmp=no\n",
        "the run has a /tmp of its own",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-private-devices", SYSTEMD_TEMPLATE,
        "PrivateDevices=yes\n", "PrivateDevices=no\n",
        "the run's /dev holds only null, zero, random and the like",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-process-subset", SYSTEMD_TEMPLATE,
        "ProcSubset=pid\n", "ProcSubset=all\n",
        "the run's /proc holds processes only",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-namespaces", SYSTEMD_TEMPLATE,
        "RestrictNamespaces=net mnt\n", "RestrictNamespaces=no\n",
        "the run may make network and mount namespaces only, no user namespace",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-address-families", SYSTEMD_TEMPLATE,
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n", "",
        "the run may open Unix, IPv4 and IPv6 sockets only",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-write-execute", SYSTEMD_TEMPLATE,
        "MemoryDenyWriteExecute=yes\n", "MemoryDenyWriteExecute=no\n",
        "the run may not map writable and executable memory",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-syscall-filter", SYSTEMD_TEMPLATE,
        "SystemCallFilter=@system-service @mount", "#SystemCallFilter=@system-service @mount",
        "the whole run is held to a system-call allow-list",
        (SYSTEMD_PROBE,),
    ),
    Mutation(
        "systemd-unit-success-status", SYSTEMD_TEMPLATE,
        "SuccessExitStatus=2\n", "",
        "a run with nothing to do (exit status 2) is no failed unit",
        ("tests/integration/test_systemd_units.py::test_both_services_share_one_hardening_and_treat_2_as_success",),
    ),
)


# ---------------------------------------------------------------------------
# The scratch environment


class Scratch(NamedTuple):
    """The scratch directory, its two throw-away venvs, and the copy of the working tree."""

    root: Path
    base: Path  # the working tree as it is on disk, compiled
    python: Path  # the venv pytest runs in (the same interpreter as .venv)
    unprivileged_python: Path | None  # the venv the unprivileged user runs, if this checkout has one
    pth_files: tuple[Path, ...]  # one per venv: the first line names the copy to import


def run_text(argv: Sequence[str | Path], **options: object) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True, **options)  # type: ignore[call-overload]
    return str(done.stdout)


def working_tree_files() -> list[str]:
    """Every file git knows or would add, as it is on disk (a file deleted but not yet committed is left out)."""
    listed = run_text(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO)
    return sorted({name for name in listed.split("\0") if name and (REPO / name).is_file()})


def copy_tree(files: Iterable[str], target: Path) -> None:
    for name in files:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, destination)


def site_packages(python: Path) -> Path:
    return Path(run_text([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip())


def make_venv(base_python: Path, where: Path, dependencies: Path) -> Path:
    """A venv of `base_python` that imports the copy named in its .pth, then `dependencies`."""
    run_text([base_python, "-m", "venv", "--without-pip", where])
    python = where / "bin" / "python"
    pth = site_packages(python) / PTH_NAME
    pth.write_text(f"{where}\n{dependencies}\n")  # the first line is rewritten for each copy
    script = where / "bin" / "acme-client"  # tests find the console script beside sys.executable
    script.write_text(f"#!{python}\nimport sys\nfrom acme_conf.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return python


def base_interpreter(venv: Path) -> Path:
    """The interpreter a venv was made from (its pyvenv.cfg), so the throw-away one is the same."""
    for line in (venv / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "executable":
            return Path(value.strip())
    raise SystemExit(f"{venv}/pyvenv.cfg names no executable")


def make_scratch(keep_in: Path | None) -> Scratch:
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="acme-mutate.", dir=keep_in))
    root.chmod(0o755)  # the unprivileged user's children import from here too
    base = root / "base"
    files = working_tree_files()
    copy_tree(files, base)
    copied = time.monotonic()
    main_venv = REPO / ".venv"
    python = make_venv(base_interpreter(main_venv), root / "venv", site_packages(main_venv / "bin" / "python"))
    pth_files = [site_packages(python) / PTH_NAME]
    unprivileged: Path | None = None
    unprivileged_venv = REPO / ".testbed" / "unprivileged-venv"
    if (unprivileged_venv / "pyvenv.cfg").is_file():
        unprivileged = make_venv(
            base_interpreter(unprivileged_venv), root / "unprivileged-venv",
            site_packages(unprivileged_venv / "bin" / "python"),
        )
        pth_files.append(site_packages(unprivileged) / PTH_NAME)
    venvs = time.monotonic()
    run_text([python, "-m", "compileall", "-q", base / "acme_conf", base / "tests", base / "tools"])
    print(
        f"scratch {root}: {len(files)} files copied in {copied - started:.1f} s, venvs made in"
        f" {venvs - copied:.1f} s, compiled in {time.monotonic() - venvs:.1f} s"
    )
    return Scratch(root, base, python, unprivileged, tuple(pth_files))


def copy_for(scratch: Scratch, name: str) -> Path:
    """A fresh copy of the base, to be mutated, named after its mutation; the venvs now import it."""
    tree = scratch.root / name
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(scratch.base, tree, symlinks=True)
    import_from(scratch, tree)
    return tree


def import_from(scratch: Scratch, tree: Path) -> None:
    """Point both venvs at `tree`: the first line of their .pth."""
    for pth in scratch.pth_files:
        lines = pth.read_text().splitlines()
        pth.write_text("\n".join([str(tree), *lines[1:]]) + "\n")


def test_environment(scratch: Scratch) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")
    }
    env["PATH"] = f"{scratch.python.parent}:{env.get('PATH', '/usr/bin:/bin')}"
    testbed = REPO / ".testbed"
    if testbed.is_dir():
        env.setdefault("ACME_TESTBED_DIR", str(testbed))  # pebble, fetched once, not again per copy
    if scratch.unprivileged_python is not None:
        env["ACME_UNPRIVILEGED_PYTHON"] = str(scratch.unprivileged_python)
    return env


# ---------------------------------------------------------------------------
# The canary: where does every kind of process import acme_conf from?

_CANARY_PARENT = """
import sys, types
from acme_conf.proc import spawner
spec = types.SimpleNamespace(role="keyproc", to_json=lambda: "{}", channels=(), startup_fd=-1, settings=None)
child = spawner.spawn(spec, spawner.child_import_path())
_, err = child.communicate(timeout=60)
sys.stdout.write(err.decode(errors="replace"))
"""
_WHERE = "import acme_conf, sys; print('%s|' + sys.argv[1] + '|' + acme_conf.__file__)" % CANARY


def check_isolation(scratch: Scratch) -> None:
    """Every way the tests start Python imports the copy, never this checkout; else stop."""
    tree = copy_for(scratch, "canary")
    main_module = tree / "acme_conf" / "proc" / "__main__.py"
    text = main_module.read_text()
    hook = "def start() -> None:\n"
    if text.count(hook) != 1:
        raise SystemExit(f"canary: {hook.strip()} not found once in acme_conf/proc/__main__.py")
    main_module.write_text(
        text.replace(hook, hook + f"    sys.stderr.write('{CANARY}|a child of proc/spawner.py|' + sys.modules['acme_conf'].__file__ + '\\n')\n")
    )
    env = test_environment(scratch)
    checks: list[list[str]] = [
        [str(scratch.python), "-c", _WHERE, "pytest's interpreter"],
        [str(scratch.python), "-I", "-c", _WHERE, "python -I"],
        [str(scratch.python), "-c", _CANARY_PARENT],  # a child of proc/spawner.py: -I -S, empty environment
    ]
    if scratch.unprivileged_python is not None:
        checks.append([str(scratch.unprivileged_python), "-I", "-c", _WHERE, "the unprivileged interpreter"])
    found: list[tuple[str, str]] = []
    for argv in checks:
        # The unprivileged interpreter runs as that user, as the tests run it: the copy must be theirs to read.
        as_user = {"user": UNPRIVILEGED_USER} if argv[0] == str(scratch.unprivileged_python) and os.getuid() == 0 else {}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd="/", timeout=120, **as_user)  # type: ignore[call-overload]
        for line in done.stdout.splitlines():
            if line.startswith(CANARY):
                _, who, where = line.split("|", 2)
                found.append((who, where))
    wrong = [(who, where) for who, where in found if not Path(where).resolve().is_relative_to(tree)]
    kinds = {who for who, _ in found}
    expected = {"pytest's interpreter", "python -I", "a child of proc/spawner.py"}
    if scratch.unprivileged_python is not None:
        expected.add("the unprivileged interpreter")
    shutil.rmtree(tree)
    if wrong or kinds != expected:
        raise SystemExit(f"canary: acme_conf imported from outside the scratch copy, or not at all: {found}")
    for who, where in found:
        print(f"canary: {who}: {where}")


# ---------------------------------------------------------------------------
# Running pytest


class PytestRun(NamedTuple):
    returncode: int | None  # None: stopped at the timeout
    failed: tuple[str, ...]  # node ids, in the order pytest reported them
    seconds: float
    tail: str  # the end of the output, for an ERROR


_SUMMARY_LINE = re.compile(r"^(FAILED|ERROR) (.+?)(?: - .*)?$")  # a node id may hold spaces


def run_pytest(
    scratch: Scratch, tree: Path, tests: Sequence[str], deselect: Iterable[str], timeout: float, stop_first: bool
) -> PytestRun:
    argv = [str(scratch.python), "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "--tb=no"]
    if stop_first:
        argv.append("-x")
    for node in deselect:
        argv += ["--deselect", node]
    argv += list(tests)
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=tree, env=test_environment(scratch), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        returncode: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        returncode = None
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # nothing a test started outlives its run
        except ProcessLookupError:
            pass
    failed = tuple(
        match.group(2) for match in map(_SUMMARY_LINE.match, output.splitlines()) if match is not None
    )
    return PytestRun(returncode, failed, time.monotonic() - started, "\n".join(output.splitlines()[-15:]))


def missing_tests(tests: Iterable[str], tree: Path) -> list[str]:
    return [test for test in tests if not (tree / test.split("::")[0]).exists()]


def selection(mutations: Sequence[Mutation], full: bool, tree: Path) -> list[str]:
    """The union of the mutations' tests that exist, a node id left out when its file is in already."""
    if full:
        return ["tests"]
    tests = list(dict.fromkeys(test for mutation in mutations for test in mutation.tests))
    tests = [test for test in tests if test not in missing_tests([test], tree)]
    files = {test for test in tests if "::" not in test}
    return [test for test in tests if "::" not in test or test.split("::")[0] not in files]


# ---------------------------------------------------------------------------
# One mutation


def occurrences(mutation: Mutation, tree: Path) -> int:
    path = tree / mutation.path
    return path.read_text().count(mutation.find) if path.is_file() else 0


def apply(mutation: Mutation, tree: Path) -> None:
    path = tree / mutation.path
    path.write_text(path.read_text().replace(mutation.find, mutation.replace, 1))
    for stale in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        stale.unlink()  # never the unmutated module's bytecode, whatever the clock says


MAX_FLAKY = 3  # tests left out of one mutant because they failed on the unmutated copy too


def try_mutation(
    mutation: Mutation, scratch: Scratch, deselect: Sequence[str], timeout: float, full: bool, keep: bool
) -> Outcome:
    found = occurrences(mutation, scratch.base)
    if found != 1:
        return Outcome(mutation, Status.STALE, 0.0, f"the text to find occurs {found} times in {mutation.path}")
    if mutation.find == mutation.replace:
        return Outcome(mutation, Status.ERROR, 0.0, "the replacement changes nothing")
    missing = missing_tests(mutation.tests, scratch.base)
    if missing:
        return Outcome(mutation, Status.ERROR, 0.0, f"no such test file: {', '.join(missing)}")
    tests = ["tests"] if full else list(mutation.tests)
    tree = copy_for(scratch, mutation.name)
    left_out = list(deselect)
    flaky: list[str] = []
    seconds = 0.0
    try:
        apply(mutation, tree)
        while True:
            import_from(scratch, tree)
            run = run_pytest(scratch, tree, tests, left_out, timeout, stop_first=True)
            seconds += run.seconds
            if run.returncode != 1 or not run.failed or len(flaky) == MAX_FLAKY:
                break
            if not fails_unmutated(scratch, run.failed[0], timeout):
                break  # the mutation's doing
            flaky.append(run.failed[0])  # it fails without the mutation as well: it proves nothing
            left_out.append(run.failed[0])
    finally:
        if not keep:
            shutil.rmtree(tree, ignore_errors=True)
    note = f" (left out, failing without the mutation too: {', '.join(flaky)})" if flaky else ""
    if run.returncode is None:
        return Outcome(mutation, Status.CAUGHT, seconds, f"tests still running after {timeout:.0f} s (a hang){note}")
    if run.returncode == 0:
        unproven = [node for node in deselect if any(node.startswith(test) for test in tests)]
        if unproven:
            note += f" ({len(unproven)} of its tests were left out: they fail without the mutation)"
        return Outcome(mutation, Status.SURVIVED, seconds, f"every test passed{note}")
    if run.returncode == 1 and run.failed and run.failed[0] not in flaky:
        return Outcome(mutation, Status.CAUGHT, seconds, run.failed[0] + note)
    # 1 with only flaky failures; 2: interrupted or a collection error, 3: internal error, 4: usage, 5: nothing collected
    return Outcome(mutation, Status.ERROR, seconds, f"pytest exited {run.returncode}{note}:\n{run.tail}")


def fails_unmutated(scratch: Scratch, node: str, timeout: float) -> bool:
    """Whether test `node` fails on an unmutated copy as well (flaky, or disturbed by something else running)."""
    tree = scratch.root / "unmutated"
    if not tree.exists():
        shutil.copytree(scratch.base, tree, symlinks=True)
    import_from(scratch, tree)
    return run_pytest(scratch, tree, [node], (), timeout, stop_first=True).returncode != 0


# ---------------------------------------------------------------------------
# The command line


def print_table(mutations: Sequence[Mutation]) -> None:
    for number, mutation in enumerate(mutations, 1):
        print(f"{number:2d}. {mutation.name}  ({mutation.path})")
        print(f"    removes: {mutation.defence}")
        print(f"    tests:   {' '.join(mutation.tests)}")


def print_summary(outcomes: Sequence[Outcome]) -> None:
    width = max(len(outcome.mutation.name) for outcome in outcomes)
    print()
    print(f"{'mutation':<{width}}  {'status':<8}  {'time':>6}  caught by / why")
    for outcome in outcomes:
        detail = outcome.detail.splitlines()[0] if outcome.detail else ""
        print(f"{outcome.mutation.name:<{width}}  {outcome.status.value:<8}  {outcome.seconds:5.0f}s  {detail}")
    for outcome in outcomes:
        if outcome.status is Status.ERROR and "\n" in outcome.detail:
            print(f"\n{outcome.mutation.name}: {outcome.detail}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the table of mutations and exit")
    parser.add_argument("--only", action="append", metavar="NAME", help="run this mutation (repeatable)")
    parser.add_argument("--full", action="store_true", help="run the whole suite for each mutation")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for one mutant's tests")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory and every mutant")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run (trust the tree)")
    parser.add_argument("--scratch-in", type=Path, help="make the scratch directory here (default: the temp dir)")
    options = parser.parse_args(argv)

    names = [mutation.name for mutation in MUTATIONS]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SystemExit(f"mutation names used twice: {', '.join(duplicates)}")
    chosen = list(MUTATIONS)
    if options.only:
        unknown = sorted(set(options.only) - set(names))
        if unknown:
            raise SystemExit(f"no mutation named {', '.join(unknown)} (see --list)")
        chosen = [mutation for mutation in MUTATIONS if mutation.name in options.only]
    if options.list:
        print_table(chosen)
        return 0

    started = time.monotonic()
    scratch = make_scratch(options.scratch_in)
    try:
        checking = time.monotonic()
        check_isolation(scratch)
        print(f"canary: {time.monotonic() - checking:.1f} s")
        deselect: tuple[str, ...] = ()
        if not options.no_baseline:
            tree = copy_for(scratch, "baseline")
            tests = selection(chosen, options.full, tree)
            print(f"baseline: {len(tests)} selections on the unmutated copy ...", flush=True)
            baseline = run_pytest(scratch, tree, tests, (), options.timeout * 4, stop_first=False)
            if baseline.returncode not in (0, 1):
                raise SystemExit(f"baseline: pytest exited {baseline.returncode}:\n{baseline.tail}")
            deselect = baseline.failed
            print(f"baseline: {baseline.seconds:.0f} s, {len(deselect)} failing without a mutation (deselected):")
            for node in deselect:
                print(f"  {node}")
            if not options.keep:
                shutil.rmtree(tree, ignore_errors=True)
        outcomes: list[Outcome] = []
        for number, mutation in enumerate(chosen, 1):
            print(f"[{number}/{len(chosen)}] {mutation.name} ...", end=" ", flush=True)
            outcome = try_mutation(mutation, scratch, deselect, options.timeout, options.full, options.keep)
            print(f"{outcome.status.value} ({outcome.seconds:.0f} s) {outcome.detail.splitlines()[0]}", flush=True)
            outcomes.append(outcome)
    finally:
        if options.keep:
            print(f"kept {scratch.root}")
        else:
            shutil.rmtree(scratch.root, ignore_errors=True)
    print_summary(outcomes)
    caught = sum(outcome.status is Status.CAUGHT for outcome in outcomes)
    total = time.monotonic() - started
    print(f"\n{caught} of {len(outcomes)} mutations caught ({'whole suite' if options.full else 'focused tests'},"
          f" {total / 60:.1f} min)")
    return 0 if caught == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
