"""The kernel confirms every role's jail, in a real run: /proc, never the roles' own reports.

A real acme-client run against pebble (real http-01; the CA's validation waits
2 s, so the chain and the shared processes stay alive mid-protocol), once
started by root and once by an ordinary user from exec.  kernel_watch traces
each child the client starts and reads, once the child is past its jail, what
the kernel says about it; every role of the policy table must be seen, and
each must match its entry (acme_conf/sandbox/policy.py) and docs/SECURITY.md:

- seccomp in filter mode (Seccomp 2) with a filter of its own, no_new_privs;
- no capability in the effective, permitted, inheritable or ambient set;
- the uid and gid of its Identity (root run: `_acme-client` or nobody; the
  owner of its directory for chngproc and fileproc; unprivileged run: the
  user), no supplementary groups;
- not dumpable (see kernel_watch: a prober with its ids may not read it);
- a private network namespace with nothing but a loopback, unless the policy
  gives it the host's (netproc, dnsproc); for an ordinary user, inside a user
  namespace of its own; chngproc and fileproc chrooted into their directory;
- core and process limits 0, and RLIMIT_NOFILE just above the highest
  descriptor it held at the jail plus the role's spare_fds;
- descriptors: stdin and stdout /dev/null, stderr, its channels, its
  directory, and nothing else but what its job opens after the jail.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

import kernel_watch
import sandbox_harness
from acme_conf.sandbox.policy import POLICIES, Identity, Policy

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from testbed import Testbed, fetch_pebble  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="tracing a run and switching users need root")

HANDLE = "kernel-view.example.test"
# A second domain, of a second authority whose validator fetches from the built-in responder: httpproc.
RESPONDED = "kernel-view-responder.example.test"
# A third, of the first authority, validated with dns-01 through a hook program: hookproc.
HOOKED = "kernel-view-hook.example.test"
HOOK = Path(__file__).resolve().parents[2] / "examples" / "hooks" / "challtestsrv"
# After the chains, a run hook that takes its time, so that its runhookproc is seen jailed while it waits.
RUN_HOOK_SECONDS = 2
# A third domain, of that second authority, validated by tls-alpn-01 from the built-in TLS responder: tlsproc.
ALPN_RESPONDED = "kernel-view-tls-alpn.example.test"
# tlsproc's memfd, which it made before its jail and ssl reads certificates from (proc/tlsproc.py).
TLS_ALPN_MEMFD = "/memfd:acme-client-tls-alpn-01"
RUN_SECONDS = 150
# Seconds the http-01 responder waits: every role is up and jailed while pebble validates.
# Well below pebble's own timeout, which a loaded machine must not reach either.
ANSWER_DELAY = 2
NO_CAPABILITIES = "0000000000000000"
# Whom a role without a directory of its own becomes when started by root (acme_conf.sandbox.process).
DEDICATED_USERS = ("_acme-client", "nobody")
UNPRIVILEGED_USER = "nobody"
# Owner of the challenge directory in the root run: the web server's user, so that
# "owner of its directory" is seen to be someone other than root or the dedicated user.
WEB_SERVER_USER = "www-data"
# The directory each role of Identity.DIRECTORY_OWNER writes in, under the run's root.
DIRECTORY_OF_ROLE = {"chngproc": "www", "fileproc": "certs"}


class Account(NamedTuple):
    uid: int
    gid: int


def account(name: str) -> Account:
    entry = pwd.getpwnam(name)
    return Account(entry.pw_uid, entry.pw_gid)


def dedicated_account() -> Account:
    for name in DEDICATED_USERS:
        try:
            return account(name)
        except KeyError:
            continue
    pytest.skip(f"none of {DEDICATED_USERS} exists")


class Setup(NamedTuple):
    """One run: where its files are and who started it."""

    root: Path
    unprivileged: bool

    @property
    def challenge_dir(self) -> Path:
        return self.directory_of("chngproc")

    @property
    def cert_dir(self) -> Path:
        return self.directory_of("fileproc")

    def directory_of(self, role: str) -> Path:
        return self.root / DIRECTORY_OF_ROLE[role]


def make_setup(unprivileged: bool) -> Setup:
    """A tree like a real installation: keys private, certificates and challenges public."""
    root = Path(tempfile.mkdtemp(prefix="acme-kernel-view."))
    root.chmod(0o755)
    setup = Setup(root, unprivileged)
    layout = {root / "account": 0o700, root / "private": 0o700, setup.cert_dir: 0o755, setup.challenge_dir: 0o755}
    for path, mode in layout.items():
        path.mkdir(mode=mode)
    if unprivileged:
        user = account(UNPRIVILEGED_USER)
        for path in [root, *layout]:
            os.chown(path, user.uid, user.gid)
    else:
        try:
            web = account(WEB_SERVER_USER)
        except KeyError:
            web = Account(0, 0)  # then the directory owner is root, which must still have no capability
        os.chown(setup.challenge_dir, web.uid, web.gid)
    return setup


def write_conf(setup: Setup, testbed: Testbed, responded: Testbed) -> Path:
    conf = setup.root / "acme-client.conf"
    conf.write_text(
        testbed.authority_block("pebble", setup.root / "account" / "pebble.key", "ecdsa")
        + responded.authority_block("responded", setup.root / "account" / "responded.key", "ecdsa")
        + f"""
hook changed "{write_run_hook(setup)}" timeout 60

domain {HANDLE} {{
\tdomain key "{setup.root}/private/{HANDLE}.key" ecdsa
\tdomain certificate "{setup.cert_dir}/{HANDLE}.crt"
\tdomain full chain certificate "{setup.cert_dir}/{HANDLE}.fullchain.pem"
\tsign with pebble
\tchallengedir "{setup.challenge_dir}"
}}

domain {RESPONDED} {{
\tdomain key "{setup.root}/private/{RESPONDED}.key" ecdsa
\tdomain full chain certificate "{setup.cert_dir}/{RESPONDED}.fullchain.pem"
\tsign with responded
\tchallenge http-01 listen on 127.0.0.1 port {responded.http_port}
}}

domain {HOOKED} {{
\tdomain key "{setup.root}/private/{HOOKED}.key" ecdsa
\tdomain full chain certificate "{setup.cert_dir}/{HOOKED}.fullchain.pem"
\tsign with pebble
\tchallenge dns-01 hook "{write_hook(setup, testbed)}" resolver {testbed.dns_address[0]} port {testbed.dns_address[1]}
}}

domain {ALPN_RESPONDED} {{
\tdomain key "{setup.root}/private/{ALPN_RESPONDED}.key" ecdsa
\tdomain full chain certificate "{setup.cert_dir}/{ALPN_RESPONDED}.fullchain.pem"
\tsign with responded
\tchallenge tls-alpn-01 listen on 127.0.0.1 port {responded.ports["tlsalpn01"]}
}}
"""
    )
    if setup.unprivileged:
        user = account(UNPRIVILEGED_USER)
        os.chown(conf, user.uid, user.gid)
    return conf


def write_run_hook(setup: Setup) -> Path:
    """A run hook that reads its document and waits: runhookproc serves meanwhile."""
    hook = setup.root / "reload"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\nsleep {RUN_HOOK_SECONDS}\n")
    hook.chmod(0o755)
    return hook


def write_hook(setup: Setup, testbed: Testbed) -> Path:
    """The shipped challtestsrv hook, for `testbed`; root's, as the hook of a root install would be."""
    hook = setup.root / "hook"
    hook.write_text(f"#!/bin/sh\nCHALLTESTSRV_URL={testbed.challtestsrv_url} exec /usr/bin/python3 {HOOK} \"$@\"\n")
    hook.chmod(0o755)
    return hook


def start_client(setup: Setup, conf: Path) -> subprocess.Popen[bytes]:
    """acme-client -vv, as a real run: by root, or by the user from exec on (setpriv, as test_unprivileged)."""
    # HANDLE has a certificate file already (not one: any bytes), and -F renews it: its chain has a
    # revokeproc, which a first issuance no longer starts, and it takes the path that parses a file.
    planted = setup.cert_dir / f"{HANDLE}.crt"
    planted.write_bytes(b"not a certificate\n")
    planted.chmod(0o644)
    if setup.unprivileged:
        owner = account(UNPRIVILEGED_USER)
        os.chown(planted, owner.uid, owner.gid)
    args = ["-m", "acme_conf", "-vv", "-F", "-f", str(conf), HANDLE, RESPONDED, ALPN_RESPONDED, HOOKED]
    if setup.unprivileged:
        user = account(UNPRIVILEGED_USER)
        argv = [
            "setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups",
            str(sandbox_harness.unprivileged_python()), *args,
        ]
        env = {"HOME": str(setup.root), "PATH": "/usr/bin:/bin"}
        groups: dict[str, list[int]] = {}
    else:
        argv = [sys.executable, *args]
        env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
        # root's groups as a login gives them: the jail must shed them (setgroups)
        groups = {"extra_groups": os.getgrouplist("root", 0)}
    # stdin a pipe, as a terminal would be: the jail must replace it with /dev/null
    return subprocess.Popen(
        argv, cwd=setup.root, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        **groups,  # type: ignore[arg-type]
    )


class Run(NamedTuple):
    setup: Setup
    watched: kernel_watch.Watched
    returncode: int
    stderr: str


def watched_run(unprivileged: bool) -> Iterator[Run]:
    setup = make_setup(unprivileged)
    try:
        with (
            Testbed(binaries=fetch_pebble(), challenge_dir=setup.challenge_dir, answer_delay=ANSWER_DELAY) as testbed,
            Testbed(binaries=fetch_pebble(), serve_challenges=False) as responded,
        ):
            client = start_client(setup, write_conf(setup, testbed, responded))
            lines: list[bytes] = []
            assert client.stderr is not None
            reader = threading.Thread(target=lambda: lines.extend(client.stderr), daemon=True)  # type: ignore[arg-type]
            reader.start()
            try:
                watched = kernel_watch.watch(client, time.monotonic() + RUN_SECONDS)
            except BaseException:
                client.send_signal(signal.SIGKILL)
                raise
            finally:
                assert client.stdin is not None
                client.stdin.close()
                client.wait(timeout=60)
                reader.join(timeout=10)
            yield Run(setup, watched, client.returncode, b"".join(lines).decode(errors="replace"))
    finally:
        shutil.rmtree(setup.root, ignore_errors=True)


@pytest.fixture(scope="module")
def root_run() -> Iterator[Run]:
    yield from watched_run(unprivileged=False)


@pytest.fixture(scope="module")
def unprivileged_run() -> Iterator[Run]:
    try:
        account(UNPRIVILEGED_USER)
    except KeyError:
        pytest.skip(f"no user {UNPRIVILEGED_USER}")
    yield from watched_run(unprivileged=True)


# ---------------------------------------------------------------------------
# Expectations, from the policy table


def expected_ids(run: Run, policy: Policy) -> Account:
    if run.setup.unprivileged:
        return account(UNPRIVILEGED_USER)  # an ordinary user stays who it is
    if policy.identity is Identity.DIRECTORY_OWNER:
        info = run.setup.directory_of(policy.role).stat()
        return Account(info.st_uid, info.st_gid)
    return dedicated_account()


def held_at_jail(view: kernel_watch.KernelView) -> set[int]:
    """What the role kept through its jail: stdio, its channels (from its command line), its directory,
    and what its settings name (a responder's listening socket, chngproc's journal, netproc's report), and
    tlsproc's memfd."""
    directories = {fd for fd, descriptor in view.descriptors.items() if descriptor.kind == "directory"}
    settings = view.spec["settings"]  # type: ignore[attr-defined]
    named = {settings[key] for key in ("listen_fd", "journal_fd", "report_fd") if settings.get(key, -1) >= 0}
    memfd = {fd for fd, descriptor in view.descriptors.items() if descriptor.target.startswith(TLS_ALPN_MEMFD)}
    if view.role != "tlsproc":
        memfd = set()
    return {0, 1, 2} | view.channel_fds() | directories | (named & set(view.descriptors)) | memfd


def opened_after_jail(view: kernel_watch.KernelView) -> set[int]:
    return set(view.descriptors) - held_at_jail(view)


def problems(run: Run, view: kernel_watch.KernelView) -> list[str]:
    """Every way the kernel's view of one role differs from its policy."""
    policy = POLICIES[view.role]
    status = view.status
    found: list[str] = []

    def check(condition: bool, what: str) -> None:
        if not condition:
            found.append(what)

    # seccomp (none of its own for a role that runs programs: they would inherit it) and no_new_privs
    parent_filters = int(run.watched.parent_status.get("Seccomp_filters", "0"))
    if policy.runs_programs:
        check(int(status.get("Seccomp_filters", "0")) == parent_filters, "a seccomp filter its programs would inherit")
        check(view.mount_namespace != run.watched.own_mount_namespace, "shares the host's mount namespace: sees the keys")
    else:
        check(status.get("Seccomp") == "2", f"Seccomp {status.get('Seccomp')}, not 2 (filter mode)")
        check(int(status.get("Seccomp_filters", "0")) >= parent_filters + 1, "no seccomp filter of its own")
        check(view.mount_namespace == run.watched.own_mount_namespace, "a mount namespace of its own")
    check(status.get("NoNewPrivs") == "1", f"NoNewPrivs {status.get('NoNewPrivs')}")
    # capabilities (the bounding set is left as it is: with no_new_privs, no execve and
    # nothing permitted, nothing can be raised from it)
    for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        check(status.get(field) == NO_CAPABILITIES, f"{field} {status.get(field)}")
    # identity
    ids = expected_ids(run, policy)
    check(view.ids("Uid") == [ids.uid] * 4, f"Uid {status['Uid']!r}, expected {ids.uid} four times")
    check(view.ids("Gid") == [ids.gid] * 4, f"Gid {status['Gid']!r}, expected {ids.gid} four times")
    check(status.get("Groups", "") == "", f"supplementary groups {status.get('Groups')!r}")
    # not dumpable: refused to a prober with its own ids (and, unless it is uid 0, /proc/PID owned by root)
    check(not view.same_ids_may_read, "dumpable: a process with its uid and gid and no capability may read it")
    if ids.uid != 0:
        check(view.status_owner == 0, f"/proc/{view.pid} owned by {view.status_owner}: dumpable")
    # namespaces
    if policy.private_netns:
        check(view.net_namespace != run.watched.own_net_namespace, "shares the host's network namespace")
        check(view.interfaces == ("lo",), f"interfaces in its network namespace: {view.interfaces}")
    else:
        check(view.net_namespace == run.watched.own_net_namespace, "not in the host's network namespace")
    needs_user_namespace = (policy.private_netns or policy.runs_programs) and run.setup.unprivileged
    check(
        (view.user_namespace != run.watched.own_user_namespace) == needs_user_namespace,
        f"user namespace {view.user_namespace}, the host's is {run.watched.own_user_namespace}",
    )
    if policy.chroot_write_dir:
        own = str(run.setup.directory_of(policy.role))
        check(view.root == own, f"root directory {view.root}, expected a chroot into {own}")
    else:
        check(view.root == "/", f"root directory {view.root}")
    # limits
    check(view.limits.get("Max core file size") == ("0", "0"), f"core limit {view.limits.get('Max core file size')}")
    if not policy.runs_programs:  # a hook program may start processes of its own
        check(view.limits.get("Max processes") == ("0", "0"), f"process limit {view.limits.get('Max processes')}")
    ceiling = str(max(held_at_jail(view)) + 1 + policy.spare_fds)
    check(
        view.limits.get("Max open files") == (ceiling, ceiling),
        f"open files limit {view.limits.get('Max open files')}, expected {ceiling} "
        f"(highest descriptor held {max(held_at_jail(view))} + 1 + spare {policy.spare_fds})",
    )
    # descriptors
    check(view.descriptors.get(0, kernel_watch.Descriptor("", "")).target == "/dev/null", "stdin is not /dev/null")
    for fd in sorted(view.channel_fds() & set(view.descriptors)):
        check(view.descriptors[fd].kind == "socket", f"channel {fd} is {view.descriptors[fd]}")
    pipes = sorted(fd for fd, descriptor in view.descriptors.items() if descriptor.kind == "pipe" and fd != 2)
    if view.role == "runhookproc":
        # read as soon as it is jailed, while it starts or waits for its program (it does nothing
        # else): the program's standard input and output, and subprocess's pipe that reports a
        # failed exec, both ends of each until the program has started
        check(len(pipes) <= 6, f"holds pipes {pipes} besides stderr: more than its program's")
    else:
        check(not pipes, f"holds pipes {pipes} besides stderr (stdin must be /dev/null, the start-up pipe closed)")
    extra = opened_after_jail(view)
    check(len(extra) <= policy.spare_fds, f"descriptors beyond its jail: {[view.descriptors[fd] for fd in extra]}")
    directories = [d for d in view.descriptors.values() if d.kind == "directory"]
    if policy.write_dir_rights:
        own = str(run.setup.directory_of(policy.role))
        check([d.target for d in directories] == [own], f"directories held: {directories}, expected {own}")
    else:
        check(not directories, f"holds directories {directories}")
    memfds = [d.target for d in view.descriptors.values() if d.target.startswith(TLS_ALPN_MEMFD)]
    # tlsproc holds its one memfd (certificates pass through it to ssl); no other role holds one
    check(len(memfds) == (view.role == "tlsproc"), f"memfds for certificates: {memfds}")
    return found


def run_problems(run: Run) -> list[str]:
    """Everything wrong with the run, the kernel's view of each role first."""
    watched = run.watched
    found = [
        f"{view.role} (pid {view.pid}, read {view.moment}): {problem}"
        for view in watched.views
        for problem in problems(run, view)
    ]
    roles_read = {view.role for view in watched.views}
    if roles_read != set(POLICIES):
        found.append(f"roles read {sorted(roles_read)}, the policy table has {sorted(POLICIES)}")
    # Every role but revokeproc (it exits right after its verdict) was read while it served.
    exiting = sorted(view.role for view in watched.views if view.moment == "exiting")
    if not set(exiting) <= {"revokeproc"}:
        found.append(f"never seen jailed while serving, read only on their way out: {exiting}")
    # The kernel's exit statuses: no role killed (SIGSYS: a call outside its sandbox) or failed.
    found += [
        f"{exit.role} (pid {exit.pid}) ended with wait status {exit.status:#x}"
        for exit in watched.exits
        if exit.role is not None and exit.status
    ]
    # A refused prober means "not dumpable" only if it reads a dumpable process with the same ids.
    for uid, gid in sorted({(view.ids("Uid")[0], view.ids("Gid")[0]) for view in watched.views}):
        if not kernel_watch.control_may_read(uid, gid):
            found.append(f"the dumpable probe cannot read even a dumpable process of uid {uid} gid {gid}")
    if run.returncode != 0:
        found.append(f"acme-client exited {run.returncode}")
    elif not all((run.setup.cert_dir / f"{handle}.fullchain.pem").exists() for handle in (HANDLE, RESPONDED, ALPN_RESPONDED, HOOKED)):
        found.append("acme-client exited 0 but installed no certificate")
    return found


def assert_every_role_jailed(run: Run) -> None:
    found = run_problems(run)
    assert not found, "\n".join(found) + "\n\nacme-client's output (-vv):\n" + run.stderr


def test_the_directory_owners_of_the_policy_table_are_the_ones_given_a_directory() -> None:
    """The expectations name chngproc's and fileproc's directories; the table must agree."""
    owners = {role for role, policy in POLICIES.items() if policy.identity is Identity.DIRECTORY_OWNER}
    assert owners == set(DIRECTORY_OF_ROLE)
    assert {role for role, policy in POLICIES.items() if policy.write_dir_rights} == owners


def test_the_kernel_confirms_every_roles_jail_in_a_run_started_by_root(root_run: Run) -> None:
    assert_every_role_jailed(root_run)


def test_the_kernel_confirms_every_roles_jail_in_a_run_started_by_an_ordinary_user(unprivileged_run: Run) -> None:
    assert_every_role_jailed(unprivileged_run)
    # Each child was the user from its exec on, before anything of its role ran: never root.
    user = account(UNPRIVILEGED_USER).uid
    at_start = {view.role: view.uid_at_start for view in unprivileged_run.watched.views}
    assert {role: uids for role, uids in at_start.items() if uids.split() != [str(user)] * 4} == {}
