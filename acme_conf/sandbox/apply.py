"""Apply one role's policy to the calling process, strongest mechanisms last.

Order (each step needs the privileges the later ones give up):
prepare (look-ups, rule descriptors, the seccomp filter built but not loaded)
-> no more imports (imports.forbid_imports) -> close descriptors -> limits
-> private network namespace -> private mounts (hookproc) -> chroot -> identity (uid/gid, capabilities,
not dumpable) -> no_new_privs -> Landlock -> descriptor limit -> seccomp,
last, so that its list needs none of the calls above.
"""

from __future__ import annotations

import logging
import os
import resource
import stat
import time
from dataclasses import dataclass, field

from acme_conf import paths

from . import landlock, mounts, process, seccomp
from .imports import forbid_imports
from .errors import MechanismUnavailable, PolicyError, SetupError
from .grants import Grants
from .policy import POLICIES, Connect, Identity, Policy
from .report import Report, Shortfall, Step

log = logging.getLogger("acme_conf.sandbox")

_DNS_PORT = 53


@dataclass(eq=False, repr=False)  # never compared or printed; ~0.4 ms less to create at start-up
class _Run:
    """State of one `enter` call: what was prepared and what has been applied so far."""

    policy: Policy
    grants: Grants
    privileged: bool
    steps: list[Step] = field(default_factory=list)
    rule_fds: list[int] = field(default_factory=list)
    paths: list[landlock.PathRule] = field(default_factory=list)
    path_labels: list[str] = field(default_factory=list)
    write_dir_fd: int | None = None
    write_dir_owner: tuple[int, int] | None = None
    in_user_namespace: bool = False
    account: process.Account | None = None  # whom a root process becomes (looked up while NSS still works)
    filter: seccomp.Filter | None = None
    seccomp_missing: str = ""

    def record(self, mechanism: str, detail: str, shortfall: Shortfall = Shortfall.NONE) -> None:
        self.steps.append(Step(mechanism, detail, shortfall))
        if shortfall is Shortfall.POLICY and self.grants.strict:
            raise MechanismUnavailable(self.policy.role, (f"{mechanism}: {detail}",))


def enter(role: str, grants: Grants) -> Report:
    """Jail the calling process for `role`; see the package docstring."""
    started = time.perf_counter()
    policy = POLICIES.get(role)
    if policy is None:
        raise PolicyError(f"unknown role {role!r}")
    run = _Run(policy, grants, os.geteuid() == 0)
    try:
        _check_single_threaded(run)
        _prepare(run)
        guard = forbid_imports(run.policy.role)  # from here on, anything imported would be read in the jail
        run.record("imports", f"none from now on ({len(guard.at_jail)} modules loaded)")
        _close_descriptors(run)
        _limit_core_and_processes(run)
        _private_network(run)
        _private_mounts(run)
        _chroot(run)
        _identity(run)
        _no_new_privs(run)
        _landlock(run)
    finally:
        for fd in run.rule_fds:
            os.close(fd)
    _limit_descriptors(run)
    _seccomp(run)
    report = Report(role, run.privileged, tuple(run.steps), (time.perf_counter() - started) * 1000, guard)
    _announce(report)
    return report


def _check_single_threaded(run: _Run) -> None:
    # Landlock and seccomp bind the calling thread only: another thread would stay free.
    threads = process.thread_count()
    if threads is None:
        run.record("threads", "cannot be counted (/proc unavailable)", Shortfall.DEPTH)
    elif threads != 1:
        raise SetupError(f"{run.policy.role}: {threads} threads; the sandbox needs a single-threaded process")


def _prepare(run: _Run) -> None:
    """Everything that needs the file system or a look-up, while the process is still free."""
    policy, grants = run.policy, run.grants
    if grants.connect_ports and policy.connect is not Connect.GRANTED_PORTS:
        raise PolicyError(f"{policy.role} may not connect anywhere, but was granted ports {grants.connect_ports}")
    for port in grants.connect_ports:
        if not 0 < port < 65536:
            raise PolicyError(f"{policy.role}: connect port {port} out of range")
    for fd in grants.channels + grants.files:
        try:
            os.fstat(fd)
        except OSError as exc:
            raise PolicyError(f"{policy.role}: granted descriptor {fd} is not open") from exc
    _prepare_write_dir(run)
    if run.privileged and grants.user:
        try:
            run.account = process.named_account(grants.user)
        except KeyError:
            raise SetupError(f"{policy.role}: no user {grants.user} on this system") from None
        if run.account.uid == 0:  # `toor` and the like: root by another name
            raise SetupError(f"{policy.role}: user {grants.user} has uid 0: never run as root")
    elif run.privileged:
        run.account = process.unprivileged_account()
    for path in policy.read_files:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        run.rule_fds.append(fd)
        run.paths.append(landlock.PathRule(fd, landlock.FsAccess.READ_FILE, stat.S_ISDIR(os.fstat(fd).st_mode)))
        run.path_labels.append(f"{path} (read)")
    support = seccomp.kernel_support()
    if support.available and not policy.runs_programs:  # a filter would bind the programs such a role runs
        run.filter = seccomp.build(policy.syscalls, support)
    else:
        run.seccomp_missing = support.why_not
    # glibc reads the time zone on the first localtime(); do it now, not in a log line after the jail.
    time.localtime()


def _prepare_write_dir(run: _Run) -> None:
    policy, grants = run.policy, run.grants
    if grants.write_dir is None:
        return
    if not policy.write_dir_rights:
        raise PolicyError(f"{policy.role} may not write anywhere, but was granted {grants.write_dir!r}")
    try:
        resolved = paths.resolve(grants.write_dir)  # no link another user could have placed
    except OSError as exc:
        raise PolicyError(f"{policy.role}: write directory {grants.write_dir!r}: {exc.strerror}") from exc
    fd, info = resolved.fd, resolved.info
    run.rule_fds.append(fd)
    if not stat.S_ISDIR(info.st_mode):
        raise PolicyError(f"{policy.role}: write directory {resolved.real}: not a directory")
    _refuse_root_where_another_decides(run, resolved)
    held = [os.fstat(f) for f in grants.files]
    held_dirs = [(s.st_dev, s.st_ino) for s in held if stat.S_ISDIR(s.st_mode)]
    if held_dirs and (info.st_dev, info.st_ino) not in held_dirs:
        raise PolicyError(
            f"{policy.role}: {grants.write_dir!r} is not the directory whose descriptor it holds (replaced?)"
        )
    run.write_dir_fd = fd
    run.write_dir_owner = (info.st_uid, info.st_gid)
    run.paths.append(landlock.PathRule(fd, policy.write_dir_rights, True))
    run.path_labels.append(f"{grants.write_dir} ({_rights(policy.write_dir_rights)})")


def _refuse_root_where_another_decides(run: _Run, resolved: paths.Resolved) -> None:
    """No root child in a root-owned directory that another user could have put at its path.

    The role would take root as its identity from the directory's owner, but
    the user who may write a directory on the way decides what the path
    names: a root-owned directory they moved or left there would be written
    to as root.  A directory owned by that user is fine: the role runs as them.
    """
    if not run.privileged or run.policy.identity is not Identity.DIRECTORY_OWNER:
        return
    if resolved.info.st_uid == 0 and resolved.controlled_by:
        role = run.policy.role
        raise PolicyError(
            f"{role}: {resolved.real} belongs to root, but {resolved.controlled_by}, is on its path:"
            f" whoever writes there decides what the path names, so {role} will not work in it as root"
            f" (make every directory on the path root's alone, or give {resolved.real} to the user"
            " who should write in it)"
        )


def _close_descriptors(run: _Run) -> None:
    granted = frozenset((0, 1, 2, *run.grants.channels, *run.grants.files))
    stray = process.open_descriptors(besides=granted | frozenset(run.rule_fds))
    process.close_all_but(granted | frozenset(run.rule_fds))
    process.stdin_from_devnull()
    closed = "" if stray is None else f"; closed {len(stray)} others {list(stray)}"
    run.record("descriptors", f"kept {sorted(granted)}{closed}; stdin from /dev/null")


def _limit_core_and_processes(run: _Run) -> None:
    process.set_limit(resource.RLIMIT_CORE, 0)
    if not run.policy.runs_programs:
        process.set_limit(resource.RLIMIT_NPROC, 0)


def _private_network(run: _Run) -> None:
    if not run.policy.private_netns:
        run.record("network namespace", "host (the role uses the network)")
        return
    try:
        if run.privileged:
            process.unshare(process.CLONE_NEWNET)
            detail = "private (no interface but a down loopback)"
        else:
            uid, gid = os.getuid(), os.getgid()
            process.unshare(process.CLONE_NEWUSER | process.CLONE_NEWNET)
            run.in_user_namespace = True
            process.map_own_ids(uid, gid)
            detail = "private, in a user namespace of its own"
    except OSError as exc:
        if run.in_user_namespace:
            raise SetupError(f"{run.policy.role}: user namespace without an id map: {exc}") from exc
        run.record("network namespace", f"unavailable ({exc.strerror or exc})", Shortfall.POLICY)
        return
    run.record("network namespace", detail)


def _private_mounts(run: _Run) -> None:
    """A role that runs programs sees the keys' directories empty and the others it names read-only."""
    if not run.policy.runs_programs:
        return
    try:
        if run.privileged:
            process.unshare(mounts.CLONE_NEWNS)
        else:
            uid, gid = os.getuid(), os.getgid()
            process.unshare(process.CLONE_NEWUSER | mounts.CLONE_NEWNS)
            run.in_user_namespace = True
            process.map_own_ids(uid, gid)
    except OSError as exc:
        if run.in_user_namespace or run.privileged:  # root can always: something is wrong, and the keys would show
            raise SetupError(f"{run.policy.role}: a mount namespace of its own: {exc}") from exc
        run.record("mounts", f"no namespace of its own ({exc.strerror or exc}): nothing hidden", Shortfall.POLICY)
        return
    try:  # from here, a view half made is no view: fail
        mounts.make_private()
        done = [mounts.read_only(path) for path in sorted(run.grants.read_only, key=len)]
        done += [mounts.hide(path) for path in sorted(run.grants.hidden, key=len)]
    except OSError as exc:
        raise SetupError(f"{run.policy.role}: private mounts: {exc}") from exc
    run.record("mounts", "private; " + (", ".join(item for item in done if item) or "nothing to hide"))


def _chroot(run: _Run) -> None:
    if not run.policy.chroot_write_dir:
        return
    if run.write_dir_fd is None:
        run.record("chroot", "no write directory granted")
    elif run.privileged or run.in_user_namespace:
        try:
            process.chroot_into(run.write_dir_fd)
        except OSError as exc:
            raise SetupError(f"{run.policy.role}: chroot into {run.grants.write_dir!r}: {exc.strerror}") from exc
        run.record("chroot", f"into {run.grants.write_dir}")
    else:
        run.record("chroot", "not applied: needs root or a user namespace", Shortfall.DEPTH)


def _identity(run: _Run) -> None:
    try:
        if run.privileged:
            detail = _become_target(run)
        else:
            detail = f"uid {os.getuid()} (not root: unchanged)"
        process.drop_capabilities()
        if not process.capabilities_empty():
            raise OSError(0, "capabilities remain after capset")
        process.set_not_dumpable()
    except OSError as exc:
        raise SetupError(f"{run.policy.role}: privilege drop: {exc}") from exc
    run.record("identity", f"{detail}, no capabilities, not dumpable")


def _become_target(run: _Run) -> str:
    if run.policy.identity is Identity.DIRECTORY_OWNER and run.write_dir_owner is not None:
        uid, gid = run.write_dir_owner
        name = f"owner of {run.grants.write_dir}"
    else:
        assert run.account is not None
        uid, gid, name = run.account.uid, run.account.gid, run.account.name
    process.become(uid, gid)
    return f"uid {uid} gid {gid} ({name}), no supplementary groups"


def _no_new_privs(run: _Run) -> None:
    try:
        process.set_no_new_privs()
    except OSError as exc:
        run.record("no_new_privs", f"unavailable ({exc})", Shortfall.POLICY)
        return
    run.record("no_new_privs", "set")


def _landlock(run: _Run) -> None:
    if run.policy.runs_programs:
        run.record("landlock", "none: it would bind the program the role runs (its view of the files is private)")
        return
    abi = landlock.abi_version()
    if abi == 0:
        run.record("landlock", "unavailable on this kernel", Shortfall.POLICY)
        return
    policy, grants = run.policy, run.grants
    handled_fs = landlock.fs_rights_known(abi)
    handled_net = landlock.net_rights_known(abi)
    ports: tuple[int, ...] = ()
    if policy.connect is Connect.GRANTED_PORTS:
        ports = tuple(sorted(set(grants.connect_ports)))
    elif policy.connect is Connect.DNS:
        ports = (_DNS_PORT,)
    ruleset = landlock.Ruleset(
        handled_fs=handled_fs,
        handled_net=handled_net,
        scoped=landlock.scopes_known(abi),
        paths=tuple(landlock.PathRule(p.fd, p.rights & handled_fs, p.is_dir) for p in run.paths),
        connect_ports=ports if handled_net else (),
    )
    try:
        landlock.restrict_self(ruleset, abi)
    except OSError as exc:
        run.record("landlock", f"failed: {exc}", Shortfall.POLICY)
        return
    files = ", ".join(run.path_labels) or "none"
    tcp = ", ".join(map(str, ports)) if ports else "none"
    run.record("landlock", f"ABI {abi}; files: {files}; tcp connect: {tcp}; bind: none")
    if not handled_net:
        level = Shortfall.DEPTH if policy.connect is Connect.NONE else Shortfall.POLICY
        run.record("landlock", f"ABI {abi} cannot restrict TCP (needs 4)", level)
    if not ruleset.scoped:
        run.record("landlock", f"ABI {abi} cannot scope signals and abstract sockets (needs 6)", Shortfall.DEPTH)
    missing = (landlock.FsAccess.REFER | landlock.FsAccess.TRUNCATE | landlock.FsAccess.IOCTL_DEV) & ~handled_fs
    if missing:
        run.record("landlock", f"ABI {abi} cannot restrict {missing!r}", Shortfall.DEPTH)


def _rights(rights: landlock.FsAccess) -> str:
    return "+".join(flag.name.lower() for flag in landlock.FsAccess if flag in rights and flag.name)


def _limit_descriptors(run: _Run) -> None:
    kept = (0, 1, 2, *run.grants.channels, *run.grants.files)
    ceiling = max(kept) + 1 + run.policy.spare_fds
    process.set_limit(resource.RLIMIT_NOFILE, ceiling)
    processes = "" if run.policy.runs_programs else "processes 0, "
    run.record("limits", f"core 0, {processes}descriptors below {ceiling}")


def _seccomp(run: _Run) -> None:
    if run.policy.runs_programs:
        run.record("seccomp", "none: a filter would bind the program the role runs")
        return
    if run.filter is None:
        run.record("seccomp", f"unavailable ({run.seccomp_missing})", Shortfall.POLICY)
        return
    try:
        seccomp.load(run.filter)
    except OSError as exc:
        run.record("seccomp", f"load failed: {exc}", Shortfall.POLICY)
        return
    skipped = f"; not on this architecture: {', '.join(run.filter.skipped)}" if run.filter.skipped else ""
    run.record(
        "seccomp", f"{run.filter.rules} rules, anything else kills the {run.filter.default_kills}{skipped}"
    )


def _announce(report: Report) -> None:
    for step in report.shortfalls(Shortfall.POLICY):
        log.warning("sandbox %s runs with less than its policy: %s: %s", report.role, step.mechanism, step.detail)
    for step in report.shortfalls(Shortfall.DEPTH):
        log.info("sandbox %s: %s: %s", report.role, step.mechanism, step.detail)
    log.debug("%s", report.summary())
