#!/usr/bin/env python3
"""Apply a systemd service's sandbox settings to this process, then exec its ExecStart.

    python systemd_unit_emulation.py UNIT_FILE [INSTANCE]

There is no running systemd on the test machines (PID 1 is not systemd), so
`systemd-run` cannot start examples/systemd/ units there. This stands in for
it: it reads the unit's [Service] section and applies each setting the way
systemd 252 does (src/core/namespace.c, src/shared/seccomp-util.c), as far
as a setting can touch what acme-client's own sandbox does (mounts, the
capability bounding set, no_new_privs, seccomp filters stacked under the
children's own, namespaces), then execs the command. Test-only; root only.

A [Service] key it does not know is an error, never skipped, so the unit
and what the test proves cannot drift apart. Where it differs from systemd,
it is stricter or says so here:
- ProtectSystem=strict: every mount but /proc, /sys and /dev read-only.
- ProtectKernelTunables: /proc/sys and /sys read-only (systemd also hides a
  few /proc files: not reproduced). ProtectKernelLogs, ProtectKernelModules,
  ProtectClock, ProtectHostname: their capabilities dropped; their system
  calls are outside the unit's SystemCallFilter allow-list anyway.
- LockPersonality: every personality() but a query refused (systemd allows
  setting the current one again).
- RestrictSUIDSGID: chmod, fchmod, fchmodat and openat(O_CREAT) with set-id
  bits refused (systemd also covers open, creat, mknod).
- CacheDirectory and RuntimeDirectory are made on the host, as systemd would.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyseccomp

_libc = ctypes.CDLL(None, use_errno=True)

# mount(2), mount_setattr(2), unshare(2), prctl(2) constants (x86_64 and others alike)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY = 1
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
SYS_MOUNT_SETATTR = 442
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
NAMESPACE_FLAGS = {
    "cgroup": CLONE_NEWCGROUP, "ipc": CLONE_NEWIPC, "net": CLONE_NEWNET, "mnt": CLONE_NEWNS,
    "pid": CLONE_NEWPID, "user": CLONE_NEWUSER, "uts": CLONE_NEWUTS,
}
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
ADDRESS_FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17}
AF_MAX = 46
PROT_WRITE, PROT_EXEC, SHM_EXEC = 2, 4, 0o100000
SCHED_FIFO, SCHED_RR, SCHED_DEADLINE = 1, 2, 6
O_CREAT = 0o100
CAPABILITIES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT "
    "SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE "
    "AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ "
    "PERFMON BPF CHECKPOINT_RESTORE"
).split()
# What a Protect*/Private* setting takes from the bounding set besides its mounts (systemd's unit docs).
IMPLIED_CAPABILITY_DROPS = {
    "PrivateDevices": ("MKNOD", "SYS_RAWIO"),
    "ProtectKernelModules": ("SYS_MODULE",),
    "ProtectKernelLogs": ("SYSLOG",),
    "ProtectClock": ("SYS_TIME", "WAKE_ALARM"),
}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
# Keys that set up what runs, not a restriction: read elsewhere or not at all.
NOT_RESTRICTIONS = frozenset({"Type", "ExecStart", "SuccessExitStatus", "Environment"})


class UnitError(Exception):
    """The unit asks for something this emulation does not do."""


@dataclass
class Service:
    """The [Service] section: each key's values, in order."""

    settings: dict[str, list[str]] = field(default_factory=dict)

    def values(self, key: str) -> list[str]:
        return self.settings.get(key, [])

    def last(self, key: str, default: str = "") -> str:
        values = self.values(key)
        return values[-1] if values else default

    def words(self, key: str) -> list[str]:
        return [word for value in self.values(key) for word in value.split()]

    def enabled(self, key: str) -> bool:
        return self.last(key).lower() in ("yes", "true", "1", "on")


def read_service(text: str) -> Service:
    service = Service()
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            service.settings.setdefault(key.strip(), []).append(value.strip())
    return service


# -- system calls ------------------------------------------------------------


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)), f"mount {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _set_read_only(path: str, read_only: bool, recursive: bool) -> None:
    attr = _MountAttr(MOUNT_ATTR_RDONLY if read_only else 0, 0 if read_only else MOUNT_ATTR_RDONLY, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    result = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(),
                           ctypes.c_uint(flags), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(result, f"mount_setattr {path}")


def _bind(source: str, target: str) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        points.append(point.encode().decode("unicode_escape"))  # \040 and friends
    return points


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


# -- the file system ------------------------------------------------------------


@dataclass
class MountPlan:
    """What the unit mounts, in systemd's order: shallow paths first."""

    binds: list[tuple[str, int, bool]] = field(default_factory=list)  # target, source fd, read-only
    writable: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)


def _paths(values: list[str]) -> list[tuple[str, bool]]:
    """(path, optional) for each space-separated entry; "-" makes a missing path no error."""
    return [(word[1:], True) if word.startswith("-") else (word, False) for value in values for word in value.split()]


def plan_mounts(service: Service) -> MountPlan:
    plan = MountPlan()
    for key, read_only in (("BindReadOnlyPaths", True), ("BindPaths", False)):
        for path, optional in _paths(service.values(key)):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)  # opened now: a later mount may hide it
            except FileNotFoundError:
                if optional:
                    continue
                raise UnitError(f"{key}: {path} does not exist")
            os.set_inheritable(fd, False)
            plan.binds.append((path, fd, read_only))
    for path, optional in _paths(service.values("ReadWritePaths")):
        if not os.path.exists(path) and not optional:
            raise UnitError(f"ReadWritePaths: {path} does not exist (systemd refuses to start the unit)")
        plan.writable.append(path)
    if service.last("ProtectHome") == "yes":
        plan.hidden += [path for path in ("/home", "/root", "/run/user") if os.path.isdir(path)]
    elif service.last("ProtectHome") not in ("", "no"):
        raise UnitError(f"ProtectHome={service.last('ProtectHome')}: only yes is emulated")
    if service.enabled("PrivateTmp"):
        plan.temporary += ["/tmp", "/var/tmp"]
    return plan


def make_service_directories(service: Service) -> dict[str, str]:
    """RuntimeDirectory= and CacheDirectory=: made as systemd makes them; their environment variables."""
    made: dict[str, str] = {}
    for key, root, variable in (("RuntimeDirectory", "/run", "RUNTIME_DIRECTORY"),
                                ("CacheDirectory", "/var/cache", "CACHE_DIRECTORY")):
        names = service.words(key)
        if not names:
            continue
        mode = int(service.last(f"{key}Mode", "0755"), 8)
        paths = []
        for name in names:
            path = os.path.join(root, name)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
            paths.append(path)
        made[variable] = ":".join(paths)
    return made


def apply_mounts(service: Service, service_directories: Iterable[str]) -> list[str]:
    """Set up the unit's view of the file system in a new mount namespace; what was done."""
    _check(_libc.unshare(ctypes.c_int(CLONE_NEWNS)), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # Sources opened in the new namespace (a mount of another one cannot be bound), before anything covers them.
    plan = plan_mounts(service)
    device_fds = {name: os.open(f"/dev/{name}", os.O_PATH | os.O_CLOEXEC) for name in DEVICES if os.path.exists(f"/dev/{name}")}
    done = ["PrivateMounts: a mount namespace of its own"] if service.enabled("PrivateMounts") else []
    done += _read_only_system(service) + _new_proc(service) + _kernel_tunables(service)
    if service.enabled("PrivateDevices"):
        _private_dev(device_fds)
        done.append(f"PrivateDevices: /dev holds only {', '.join(sorted(device_fds))}")
    for fd in device_fds.values():
        os.close(fd)
    return done + _apply_path_entries(plan, service_directories)


def _read_only_system(service: Service) -> list[str]:
    protect_system = service.last("ProtectSystem")
    if protect_system in ("", "no"):
        return []
    if protect_system != "strict":
        raise UnitError(f"ProtectSystem={protect_system}: only strict is emulated")
    for point in _mount_points():
        if not _under(point, ("/proc", "/sys", "/dev")):
            try:
                _set_read_only(point, True, recursive=False)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.EINVAL):  # hidden or gone: nothing to do
                    raise
    return ["ProtectSystem=strict: every mount but /proc, /sys, /dev read-only"]


def _new_proc(service: Service) -> list[str]:
    """ProtectProc= and ProcSubset=: a /proc instance of its own with those options."""
    options = []
    if service.last("ProtectProc") not in ("", "default"):
        options.append(f"hidepid={service.last('ProtectProc')}")
    if service.last("ProcSubset") not in ("", "all"):
        options.append(f"subset={service.last('ProcSubset')}")
    if not options:
        return []
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ",".join(options))
    return [f"/proc: a new instance, {','.join(options)}"]


def _kernel_tunables(service: Service) -> list[str]:
    done = []
    if service.enabled("ProtectKernelTunables"):
        if os.path.isdir("/proc/sys"):  # not with ProcSubset=pid
            _bind("/proc/sys", "/proc/sys")
            _set_read_only("/proc/sys", True, recursive=True)
        _set_read_only("/sys", True, recursive=True)
        done.append("ProtectKernelTunables: /proc/sys and /sys read-only")
    if service.enabled("ProtectControlGroups") and os.path.isdir("/sys/fs/cgroup"):
        _set_read_only("/sys/fs/cgroup", True, recursive=True)
        done.append("ProtectControlGroups: /sys/fs/cgroup read-only")
    return done


def _private_dev(device_fds: dict[str, int]) -> None:
    _mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=4m")
    for name, fd in device_fds.items():
        target = f"/dev/{name}"
        Path(target).touch(mode=0o600)
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
    os.mkdir("/dev/shm", 0o1777)
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.symlink("/run/systemd/journal/dev-log", "/dev/log")


def _apply_path_entries(plan: MountPlan, service_directories: Iterable[str]) -> list[str]:
    """Temporary, hidden, bound and writable paths, shallow ones first as systemd sorts them."""
    entries: list[tuple[str, str, Callable[[], None]]] = []
    hidden_later: list[str] = []

    def temporary(path: str) -> Callable[[], None]:
        return lambda: _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")

    def hide(path: str) -> Callable[[], None]:
        def run() -> None:
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0000,size=4k")
            hidden_later.append(path)  # read-only once the binds below it have their mount points
        return run

    def bind(path: str, fd: int, read_only: bool) -> Callable[[], None]:
        def run() -> None:
            source = f"/proc/self/fd/{fd}"
            if not os.path.exists(path):
                if stat.S_ISDIR(os.stat(source).st_mode):
                    os.makedirs(path, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    Path(path).touch()
            _bind(source, path)
            _set_read_only(path, read_only, recursive=True)
            os.close(fd)
        return run

    def writable(path: str) -> Callable[[], None]:
        def run() -> None:
            _bind(path, path)
            _set_read_only(path, False, recursive=False)
        return run

    entries += [(path, "PrivateTmp: empty", temporary(path)) for path in plan.temporary]
    entries += [(path, "ProtectHome: empty, read-only", hide(path)) for path in plan.hidden]
    entries += [(path, f"Bind{'ReadOnly' if ro else ''}Paths", bind(path, fd, ro)) for path, fd, ro in plan.binds]
    entries += [(path, "writable", writable(path)) for path in [*service_directories, *plan.writable]]
    done = []
    for path, what, run in sorted(entries, key=lambda entry: Path(entry[0]).parts):
        run()
        done.append(f"{path}: {what}")
    for path in hidden_later:
        _mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0000,size=4k")
    return done


# -- namespaces, capabilities, seccomp -----------------------------------------


def apply_namespaces(service: Service) -> list[str]:
    done = []
    for key, flag in (("PrivateIPC", CLONE_NEWIPC), ("ProtectHostname", CLONE_NEWUTS)):
        if service.enabled(key):
            _check(_libc.unshare(ctypes.c_int(flag)), f"unshare for {key}")
            done.append(f"{key}: a namespace of its own")
    return done


def bounding_set(service: Service) -> set[str]:
    words = service.words("CapabilityBoundingSet")
    if not words:
        raise UnitError("no CapabilityBoundingSet: nothing to emulate (every capability kept)")
    if words[0].startswith("~"):
        raise UnitError("CapabilityBoundingSet=~...: only a list of capabilities to keep is emulated")
    kept = {word.removeprefix("CAP_") for word in words}
    unknown = kept - set(CAPABILITIES)
    if unknown:
        raise UnitError(f"CapabilityBoundingSet: unknown {sorted(unknown)}")
    for key, dropped in IMPLIED_CAPABILITY_DROPS.items():
        if service.enabled(key):
            kept -= set(dropped)
    return kept


def apply_capabilities(kept: set[str], last: int) -> str:
    """Drop from the bounding set every capability up to `last` (the kernel's) not in `kept`."""
    for number in range(last + 1):
        name = CAPABILITIES[number] if number < len(CAPABILITIES) else ""
        if name not in kept:
            _check(_libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(number), 0, 0, 0), f"drop capability {number}")
    return f"CapabilityBoundingSet: {' '.join(sorted(kept))}"


def expand_syscall_groups(names: list[str]) -> set[str]:
    """System call names behind @groups, as systemd-analyze of this machine's systemd lists them."""
    found: set[str] = set()
    pending = list(names)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if not name.startswith("@"):
            found.add(name)
            continue
        listing = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name], check=True,
                                 capture_output=True, text=True, timeout=30).stdout
        for line in listing.splitlines():
            word = line.strip()
            if word and not word.startswith("#") and line.startswith(" "):
                pending.append(word)
    return found


def _known(name: str) -> bool:
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)) >= 0


Built = tuple[pyseccomp.SyscallFilter, str] | None  # a filter and what it does, or None when the unit does not ask


def _new_filter(default: object) -> pyseccomp.SyscallFilter:
    """A filter that leaves no_new_privs alone: systemd sets it only for NoNewPrivileges= (or a unit
    without CAP_SYS_ADMIN), and libseccomp would set it on every load."""
    built = pyseccomp.SyscallFilter(defaction=default)
    built.set_attr(pyseccomp.Attr.CTL_NNP, 0)
    return built


def _refusing(rules: Iterable[tuple[int, str, tuple[pyseccomp.Arg, ...]]]) -> pyseccomp.SyscallFilter:
    """A filter that allows everything but calls matching `rules` (errno, name, argument tests)."""
    built = _new_filter(pyseccomp.ALLOW)
    for code, name, arguments in rules:
        built.add_rule(pyseccomp.ERRNO(code), name, *arguments)
    return built


def _masked(argument: int, bits: int) -> pyseccomp.Arg:
    return pyseccomp.Arg(argument, pyseccomp.MASKED_EQ, bits, bits)


def system_call_filter(service: Service) -> Built:
    words = service.words("SystemCallFilter")
    if not words:
        return None
    if words[0].startswith("~"):
        raise UnitError("SystemCallFilter=~...: only an allow-list is emulated")
    error_name = service.last("SystemCallErrorNumber")
    if error_name and not hasattr(errno, error_name):
        raise UnitError(f"SystemCallErrorNumber={error_name}: unknown")
    if service.last("SystemCallArchitectures") not in ("", "native"):
        raise UnitError("SystemCallArchitectures: only native is emulated (libseccomp's default)")
    default = pyseccomp.ERRNO(getattr(errno, error_name)) if error_name else pyseccomp.KILL_PROCESS
    allowed = sorted(name for name in expand_syscall_groups(words) if _known(name))
    built = _new_filter(default)
    for name in allowed:
        built.add_rule(pyseccomp.ALLOW, name)
    return built, f"SystemCallFilter: {len(allowed)} system calls allowed, others {error_name or 'kill'}"


def address_families(service: Service) -> Built:
    families = service.words("RestrictAddressFamilies")
    if not families:
        return None
    allowed = {ADDRESS_FAMILIES[name] for name in families}
    rules = [(errno.EAFNOSUPPORT, "socket", (pyseccomp.Arg(0, pyseccomp.EQ, family),))
             for family in range(AF_MAX) if family not in allowed]
    rules.append((errno.EAFNOSUPPORT, "socket", (pyseccomp.Arg(0, pyseccomp.GE, AF_MAX),)))
    return _refusing(rules), f"RestrictAddressFamilies: {' '.join(families)}"


def namespaces(service: Service) -> Built:
    kinds = service.words("RestrictNamespaces")
    if not kinds or kinds == ["no"]:
        return None
    if kinds[0].startswith("~"):
        raise UnitError("RestrictNamespaces=~...: only a list of kinds to allow, or yes, is emulated")
    allowed = [] if kinds == ["yes"] else kinds
    unknown = set(allowed) - set(NAMESPACE_FLAGS)
    if unknown:
        raise UnitError(f"RestrictNamespaces: unknown {sorted(unknown)}")
    refused = [flag for name, flag in NAMESPACE_FLAGS.items() if name not in allowed]
    rules = [(errno.EPERM, call, (_masked(argument, flag),))
             for flag in refused for call, argument in (("unshare", 0), ("clone", 0), ("setns", 1))]
    rules.append((errno.ENOSYS, "clone3", ()))  # its flags are out of a filter's reach: glibc falls back to clone
    return _refusing(rules), f"RestrictNamespaces: {' '.join(kinds)}"


def write_execute(service: Service) -> Built:
    if not service.enabled("MemoryDenyWriteExecute"):
        return None
    rules = [(errno.EPERM, "mmap", (_masked(2, PROT_WRITE | PROT_EXEC),)),
             (errno.EPERM, "mprotect", (_masked(2, PROT_EXEC),)),
             (errno.EPERM, "pkey_mprotect", (_masked(2, PROT_EXEC),)),
             (errno.EPERM, "shmat", (_masked(2, SHM_EXEC),))]
    return _refusing(rules), "MemoryDenyWriteExecute: no writable and executable memory"


def personality(service: Service) -> Built:
    if not service.enabled("LockPersonality"):
        return None
    rules = [(errno.EPERM, "personality", (pyseccomp.Arg(0, pyseccomp.NE, 0xFFFFFFFF),))]
    return _refusing(rules), "LockPersonality: personality() only queried"


def realtime(service: Service) -> Built:
    if not service.enabled("RestrictRealtime"):
        return None
    rules = [(errno.EPERM, "sched_setscheduler", (pyseccomp.Arg(1, pyseccomp.EQ, policy),))
             for policy in (SCHED_FIFO, SCHED_RR, SCHED_DEADLINE)]
    return _refusing(rules), "RestrictRealtime: no real-time scheduling"


def set_id_bits(service: Service) -> Built:
    if not service.enabled("RestrictSUIDSGID"):
        return None
    rules = []
    for bit in (stat.S_ISUID, stat.S_ISGID):
        rules += [(errno.EPERM, call, (_masked(argument, bit),)) for call, argument in (("chmod", 1), ("fchmod", 1), ("fchmodat", 2))]
        rules.append((errno.EPERM, "openat", (_masked(2, O_CREAT), _masked(3, bit))))
    return _refusing(rules), "RestrictSUIDSGID: no set-id bits on new or changed files"


def build_filters(service: Service) -> tuple[list[pyseccomp.SyscallFilter], list[str]]:
    """One filter per setting, as systemd loads them; they stack, and the strictest answer wins.

    The allow-list comes last, as in systemd: after it, loading another filter may be refused.
    """
    builders = (address_families, namespaces, write_execute, personality, realtime, set_id_bits, system_call_filter)
    built = [each for each in (builder(service) for builder in builders) if each is not None]
    return [item[0] for item in built], [item[1] for item in built]


# -- the whole --------------------------------------------------------------------


def command(service: Service, instance: str) -> list[str]:
    lines = service.values("ExecStart")
    if len(lines) != 1:
        raise UnitError(f"{len(lines)} ExecStart lines: one expected (Type=oneshot with one command)")
    if lines[0][:1] in "-+@!:":
        raise UnitError(f"ExecStart={lines[0]}: prefixes are not emulated")
    return [word.replace("%i", instance) for word in shlex.split(lines[0])]


def environment(service: Service, directories: dict[str, str]) -> dict[str, str]:
    env = {"PATH": SERVICE_PATH, **directories}
    for value in service.values("Environment"):
        for assignment in shlex.split(value):
            name, _, setting = assignment.partition("=")
            env[name] = setting
    return env


HANDLED = frozenset({
    "UMask", "NoNewPrivileges", "CapabilityBoundingSet", "ProtectSystem", "ReadWritePaths", "BindPaths",
    "BindReadOnlyPaths", "RuntimeDirectory", "RuntimeDirectoryMode", "RuntimeDirectoryPreserve", "CacheDirectory",
    "CacheDirectoryMode", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateIPC", "PrivateMounts",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
    "ProtectHostname", "ProtectProc", "ProcSubset", "RestrictNamespaces", "RestrictAddressFamilies",
    "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute", "SystemCallArchitectures",
    "SystemCallFilter", "SystemCallErrorNumber",
})


def enter_unit(service: Service, instance: str) -> tuple[list[str], dict[str, str], list[str]]:
    """Apply every setting to this process; the command, its environment, and what was done."""
    unknown = set(service.settings) - HANDLED - NOT_RESTRICTIONS
    if unknown:
        raise UnitError(f"not emulated, so not proven: {', '.join(sorted(unknown))}")
    if os.geteuid() != 0:
        raise UnitError("the unit runs as root: emulating it needs root")
    argv = command(service, instance)
    kept = bounding_set(service)
    last_capability = int(Path("/proc/sys/kernel/cap_last_cap").read_text())  # before /proc may lose sys/
    filters, filter_notes = build_filters(service)  # systemd-analyze runs now, while the file system is whole
    directories = make_service_directories(service)
    env = environment(service, directories)
    done = apply_mounts(service, [path for value in directories.values() for path in value.split(":")])
    done += apply_namespaces(service)
    done.append(apply_capabilities(kept, last_capability))
    os.umask(int(service.last("UMask", "0022"), 8))
    # systemd implies NoNewPrivileges= for seccomp settings in a unit without CAP_SYS_ADMIN
    if service.enabled("NoNewPrivileges") or (filters and "SYS_ADMIN" not in kept):
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        done.append("NoNewPrivileges")
    for built in filters:
        built.load()
    return argv, env, done + filter_notes


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 64
    unit = Path(argv[1])
    try:
        command_line, env, done = enter_unit(read_service(unit.read_text()), argv[2] if len(argv) == 3 else "")
    except (UnitError, OSError) as exc:
        print(f"systemd_unit_emulation: {unit.name}: {exc}", file=sys.stderr)
        return 70
    for note in done:
        print(f"systemd_unit_emulation: {note}", file=sys.stderr)
    sys.stderr.flush()
    fd = os.open("/dev/null", os.O_RDONLY)  # as systemd gives a service
    os.dup2(fd, 0)
    os.execve(command_line[0], command_line, env)
    return 70  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
