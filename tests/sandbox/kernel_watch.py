"""Watch a real acme-client run from outside: what the kernel says about each child, once it is jailed.

`watch(client, deadline)` traces every process the client starts (ptrace,
from this process, which must be root or the client's user with ptrace
rights) and reads, for each child, from /proc and never from the child:

- /proc/PID/status: Seccomp, Seccomp_filters, NoNewPrivs, the capability
  sets, Uid, Gid, Groups;
- /proc/PID/limits: core, processes, open files;
- /proc/PID/ns/net, ns/user and ns/mnt, and the interfaces of its network namespace
  (/proc/PID/net/dev); its root directory (/proc/PID/root: chroot);
- its descriptors (/proc/PID/fd: number, target, kind);
- whether it is dumpable (see `may_read_environ`: the status file has no
  such field).

A role is read once it is past its jail: seccomp is the last step of
sandbox.enter, so the first time its status shows more seccomp filters than
its parent has, every other step is in force.  Most roles are caught that way
while they serve.  revokeproc sends its verdict and exits a few milliseconds
after its jail, too soon for any polling: every child is therefore traced with
PTRACE_O_TRACEEXIT, which stops it on its way out before the kernel releases
its memory, descriptors, credentials and namespaces, and a role not yet read
is read there.  The same stop means a child can never vanish half-way
through a reading.  Roles are told apart by their command line, which
carries the role and its specification (acme_conf.proc.spawner.spawn).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from acme_conf.sandbox.policy import POLICIES

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
_libc.ptrace.restype = ctypes.c_long

_PTRACE_CONT = 7
_PTRACE_SEIZE = 0x4206
# Roles without a seccomp filter: their jail is known to be over by its last step, the descriptor limit.
PROGRAM_RUNNERS = frozenset(role for role, policy in POLICIES.items() if policy.runs_programs)
_PTRACE_O_TRACEEXIT = 0x40
_PTRACE_O_EXITKILL = 0x100000  # should this test die, its tracees die with it
_PTRACE_EVENT_EXIT = 6
_WAIT_ALL = 0x40000000  # __WALL: wait for traced processes that are not our own children
_POLL_SECONDS = 0.002

_CHILD_ENTRY = "acme_conf.proc.__main__"  # in the bootstrap of every child (acme_conf.proc.spawner.CHILD_BOOTSTRAP)
_LIMIT_LINE = re.compile(r"^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)")


class Descriptor(NamedTuple):
    target: str  # the readlink of /proc/PID/fd/N
    kind: str  # "socket", "directory", "file", "pipe", "device" or "other"


class KernelView(NamedTuple):
    """What the kernel says about one child at one moment."""

    pid: int
    role: str
    spec: dict[str, object]  # the child's specification, from its command line
    moment: str  # "serving": read while it ran; "exiting": stopped at PTRACE_EVENT_EXIT
    status: dict[str, str]
    limits: dict[str, tuple[str, str]]  # "Max open files" -> (soft, hard)
    net_namespace: str
    user_namespace: str
    mount_namespace: str
    interfaces: tuple[str, ...]  # of its network namespace
    root: str  # its root directory, as this process sees the path (/proc/PID/root)
    descriptors: dict[int, Descriptor]
    status_owner: int  # owner of /proc/PID/status
    same_ids_may_read: bool  # see may_read_environ
    uid_at_start: str  # the Uid line first read after it executed its interpreter, before its jail

    def ids(self, field: str) -> list[int]:
        """The Uid or Gid line: real, effective, saved, file system."""
        return [int(value) for value in self.status[field].split()]

    def channel_fds(self) -> set[int]:
        return {int(fd) for _, fd in self.spec["channels"]}  # type: ignore[attr-defined]


class Exit(NamedTuple):
    pid: int
    role: str | None  # None: a process the client started that is no role (none does today)
    status: int  # as os.waitpid gives it


class Watched(NamedTuple):
    views: list[KernelView]
    exits: list[Exit]
    parent_status: dict[str, str]  # the client's, as the watch began: the seccomp filters its children inherit
    own_net_namespace: str  # this test's: the host's
    own_user_namespace: str
    own_mount_namespace: str


class WatchError(Exception):
    """The run could not be watched: a child got away untraced, or the deadline passed."""


@dataclass
class _Traced:
    pid: int
    role: str | None = None
    spec: dict[str, object] | None = None
    uid_at_start: str = ""
    read: bool = False


def watch(client: subprocess.Popen[bytes], deadline: float) -> Watched:
    """Trace every child `client` starts until they and the client have exited; read each once jailed."""
    parent_status = _status(client.pid)
    parent_filters = int(parent_status.get("Seccomp_filters", "0"))
    parent_nofile = _limits(client.pid)["Max open files"][0]
    traced: dict[int, _Traced] = {}
    views: list[KernelView] = []
    exits: list[Exit] = []
    untraceable: set[int] = set()  # exited before they could be traced; the client reaps them
    try:
        while client.poll() is None or traced:
            if time.monotonic() > deadline:
                raise WatchError(f"the run did not end in time; still traced: {sorted(traced)}")
            if client.returncode is None:
                for pid in _children(client.pid) - traced.keys() - untraceable:
                    child = _seize(pid)
                    if child is None:
                        untraceable.add(pid)
                    else:
                        traced[pid] = child
            for child in list(traced.values()):
                _identify(child)
                if not child.read and child.role is not None and _jailed(child, parent_filters, parent_nofile):
                    views.append(_read(child, "serving"))
                    child.read = True
                exited = _take_stops(child, views)
                if exited is not None:
                    exits.append(Exit(child.pid, child.role, exited))
                    del traced[child.pid]
            time.sleep(_POLL_SECONDS)
    finally:
        for pid in traced:  # only after a failure: nothing may stay stopped
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, _WAIT_ALL)
    return Watched(
        views, exits, parent_status, os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/user"),
        os.readlink("/proc/self/ns/mnt"),
    )


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.update(int(child) for child in (task / "children").read_text().split())
    except (FileNotFoundError, ProcessLookupError):
        pass  # the client has just exited
    return found


def _seize(pid: int) -> _Traced | None:
    """The child, traced from now on; None when it has already exited (it was never read)."""
    options = _PTRACE_O_TRACEEXIT | _PTRACE_O_EXITKILL
    if _libc.ptrace(_PTRACE_SEIZE, pid, None, ctypes.c_void_p(options)) == 0:
        return _Traced(pid)
    code = ctypes.get_errno()
    try:
        state = _status(pid).get("State", "")
    except (FileNotFoundError, ProcessLookupError):
        return None
    if state.startswith(("Z", "X")):
        return None
    raise WatchError(f"cannot trace child {pid} of the client ({state}): {os.strerror(code)}")


def _identify(child: _Traced) -> None:
    """Role and specification from the command line, once the child has executed its interpreter."""
    if child.role is not None:
        return
    try:
        argv = [arg.decode() for arg in Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0")]
        uid_line = _status(child.pid)["Uid"]  # after the command line: no earlier than the exec
    except (FileNotFoundError, ProcessLookupError):
        return
    # python -I -S -c BOOTSTRAP ROLE SPEC-JSON PATH...
    if "-c" not in argv:
        return
    at = argv.index("-c")
    if len(argv) < at + 4 or _CHILD_ENTRY not in argv[at + 1]:
        return
    spec = json.loads(argv[at + 3])
    if spec.get("role") != argv[at + 2]:
        raise WatchError(f"child {child.pid}: role {argv[at + 2]!r} but specification {spec.get('role')!r}")
    child.role, child.spec, child.uid_at_start = argv[at + 2], spec, uid_line


def _jailed(child: _Traced, parent_filters: int, parent_nofile: str) -> bool:
    """Past its jail: its seccomp filter loaded; for the role with none (hookproc), its last step, the descriptor limit."""
    try:
        status = _status(child.pid)
        if child.role in PROGRAM_RUNNERS:
            return status.get("NoNewPrivs") == "1" and _limits(child.pid)["Max open files"][0] != parent_nofile
    except (FileNotFoundError, ProcessLookupError, KeyError):
        return False
    return int(status.get("Seccomp_filters", "0")) > parent_filters and status.get("Seccomp") == "2"


def _take_stops(child: _Traced, views: list[KernelView]) -> int | None:
    """Handle every stop the child reported; its wait status once it has exited."""
    while True:
        pid, wait_status = os.waitpid(child.pid, os.WNOHANG | _WAIT_ALL)
        if pid == 0:
            return None
        if os.WIFEXITED(wait_status) or os.WIFSIGNALED(wait_status):
            return wait_status
        assert os.WIFSTOPPED(wait_status)
        event, stop_signal = wait_status >> 16, os.WSTOPSIG(wait_status)
        forward = 0
        if stop_signal == signal.SIGTRAP and event == _PTRACE_EVENT_EXIT:
            _identify(child)
            if not child.read and child.role is not None:
                views.append(_read(child, "exiting"))
                child.read = True
        elif event == 0:
            forward = stop_signal  # a signal on its way to the child: deliver it
        _libc.ptrace(_PTRACE_CONT, child.pid, None, ctypes.c_void_p(forward))


def _status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {name: value.strip() for name, _, value in (line.partition(":") for line in text.splitlines())}


def _limits(pid: int) -> dict[str, tuple[str, str]]:
    found = {}
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        match = _LIMIT_LINE.match(line)
        if match:
            found[match[1]] = (match[2], match[3])
    return found


def _descriptors(pid: int) -> dict[int, Descriptor]:
    found = {}
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(entry)
            mode = os.stat(entry).st_mode  # follows the magic link to the open file itself
        except FileNotFoundError:
            continue  # closed while we looked
        found[int(entry.name)] = Descriptor(target, _kind(mode))
    return found


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISREG, "file"),
        (stat.S_ISFIFO, "pipe"),
        (stat.S_ISCHR, "device"),
    ):
        if test(mode):
            return kind
    return "other"


def _interfaces(pid: int) -> tuple[str, ...]:
    lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]  # two header lines
    return tuple(sorted(line.split(":", 1)[0].strip() for line in lines))


def _read(child: _Traced, moment: str) -> KernelView:
    assert child.role is not None and child.spec is not None
    pid = child.pid
    status = _status(pid)
    uid, gid = int(status["Uid"].split()[1]), int(status["Gid"].split()[1])
    return KernelView(
        pid=pid,
        role=child.role,
        spec=child.spec,
        moment=moment,
        status=status,
        limits=_limits(pid),
        net_namespace=os.readlink(f"/proc/{pid}/ns/net"),
        user_namespace=os.readlink(f"/proc/{pid}/ns/user"),
        mount_namespace=os.readlink(f"/proc/{pid}/ns/mnt"),
        interfaces=_interfaces(pid),
        root=os.readlink(f"/proc/{pid}/root"),
        descriptors=_descriptors(pid),
        status_owner=os.stat(f"/proc/{pid}/status").st_uid,
        same_ids_may_read=may_read_environ(pid, uid, gid),
        uid_at_start=child.uid_at_start,
    )


# ---------------------------------------------------------------------------
# Dumpable, as the kernel enforces it
#
# /proc/PID/status has no "dumpable" field, and prctl(PR_GET_DUMPABLE) answers
# only for the caller.  What the flag does is kernel-visible, though: for a
# process that is not dumpable, ptrace_may_access() refuses PTRACE_MODE_READ
# (opening /proc/PID/environ, mem, ...) to every caller without CAP_SYS_PTRACE,
# even one with exactly its uid and gid; for a dumpable one it grants it to
# such a caller (Yama governs attaching only, and Landlock never stops a
# process outside the sandbox).  So a prober with the child's uid and gid,
# no supplementary groups and no capabilities at all (securebits noroot: even
# uid 0 gets none at exec) opens /proc/PID/environ: refused = not dumpable.
# The caps check needs the child's permitted set to be empty too, which the
# tests assert first.  `control_may_read` shows the same prober does read a
# dumpable process of the same ids, so a refusal means what it says.  (For a
# uid other than 0 the kernel also gives /proc/PID/* of a non-dumpable process
# to root: the tests check that as a second signal.)


def _prober(uid: int, gid: int) -> list[str]:
    return [
        "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
        "--securebits=+noroot,+noroot_locked",
    ]


def may_read_environ(pid: int, uid: int, gid: int) -> bool:
    """Whether a capability-less process with `uid` and `gid` may open /proc/PID/environ."""
    done = subprocess.run(
        [*_prober(uid, gid), "cat", f"/proc/{pid}/environ"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30, check=False,
    )
    if done.returncode != 0 and b"Permission denied" not in done.stderr:
        raise WatchError(f"the dumpable probe of {pid} failed: {done.stderr.decode(errors='replace')}")
    return done.returncode == 0


def control_may_read(uid: int, gid: int) -> bool:
    """The probe against a dumpable process of the same ids and no capabilities (started the same way)."""
    control = subprocess.Popen(
        [*_prober(uid, gid), "sleep", "60"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{control.pid}/comm").read_text().strip() != "sleep":  # until setpriv has exec'd it
            if time.monotonic() > deadline:
                raise WatchError("the control process did not start")
            time.sleep(0.01)
        return may_read_environ(control.pid, uid, gid)
    finally:
        control.kill()
        control.wait()
