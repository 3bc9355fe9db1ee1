"""The policy table: what each process of the chain may do once it is jailed.

One entry per role.  Everything not listed is denied: by Landlock for files and
TCP, by seccomp (which kills the process) for system calls, by a private
network namespace for the roles that have no business on the network.

A few system calls a library makes as a harmless probe get EPERM instead of the
kill; each is an `Action.EPERM` entry below with the reason written next to it.

The lists are for Linux on 64-bit architectures as libseccomp names them.
Calls that exist only on some architectures (aarch64 and riscv64 have no
`poll`, riscv64 no `renameat`) are marked `portable_alias` and skipped where
they do not exist; their replacement (`ppoll`, `renameat2`) is listed too. Any
other name libseccomp does not know is an error.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import enum
import errno
import mmap
import os
import socket
import termios
from types import MappingProxyType
from typing import NamedTuple

from .landlock import FsAccess

_ALL_BITS = 0xFFFF_FFFF_FFFF_FFFF


class Action(enum.Enum):
    ALLOW = "allow"
    EPERM = "EPERM"  # a named, harmless probe: fails softly instead of killing


class ArgCheck(NamedTuple):
    """Argument number `arg_index` satisfies (arg & mask) == value."""

    arg_index: int  # not `index`: that would hide tuple.index
    value: int
    mask: int = _ALL_BITS


class Syscall(NamedTuple):
    """One rule: a system call, the arguments it is allowed with, and why the role needs it."""

    name: str
    why: str
    when: tuple[ArgCheck, ...] = ()  # all must hold; several rules for one name are alternatives
    action: Action = Action.ALLOW
    portable_alias: bool = False

    @property
    def errno(self) -> int:
        return errno.EPERM


class Connect(enum.Enum):
    """Outgoing TCP a role may open (Landlock); bind is denied to every role."""

    NONE = "none"
    GRANTED_PORTS = "the CA's ports (Grants.connect_ports)"
    DNS = "port 53"
    ANYWHERE = "anywhere (no Landlock: the program a role runs reaches what it must)"


class Identity(enum.Enum):
    """Whom the process runs as, when started as root."""

    UNPRIVILEGED_USER = "unprivileged user"  # _acme-client when it exists, else nobody
    DIRECTORY_OWNER = "owner of its directory"  # keeps write access there, and nothing more


class Policy(NamedTuple):
    """One role's entry in the table."""

    role: str
    purpose: str
    syscalls: tuple[Syscall, ...]
    read_files: tuple[str, ...] = ()  # Landlock READ_FILE on these paths (symlinks followed)
    write_dir_rights: FsAccess = FsAccess(0)  # Landlock rights beneath Grants.write_dir
    connect: Connect = Connect.NONE
    private_netns: bool = True
    identity: Identity = Identity.UNPRIVILEGED_USER
    chroot_write_dir: bool = False
    spare_fds: int = 0  # new descriptors the role may open after the jail (RLIMIT_NOFILE)
    # Runs a program the administrator named: no seccomp filter, no Landlock file rules and no
    # process limit (the program would inherit them); a private file-system view instead (mounts.py).
    runs_programs: bool = False


# ---------------------------------------------------------------------------
# System-call groups

_NO_EXEC = (ArgCheck(2, 0, mmap.PROT_EXEC),)
_EXEC = (ArgCheck(2, mmap.PROT_EXEC, mmap.PROT_EXEC),)


#: Every role: the Python runtime, its allocator and signals, its channels and stderr.
PYTHON_RUNTIME: tuple[Syscall, ...] = (
    Syscall("read", "channels, a descriptor acquired before the jail"),
    Syscall("write", "channels, stderr"),
    # Not recvmsg/sendmsg: nothing uses them, and they would let two roles pass descriptors.
    Syscall("recvfrom", "socket.recv on a channel"),
    Syscall("sendto", "socket.send on a channel"),
    Syscall("poll", "socket timeouts", portable_alias=True),
    Syscall("ppoll", "socket timeouts (poll() where there is no poll system call: aarch64, riscv64)"),
    Syscall("close", "descriptors"),
    Syscall("fstat", "Python io on a descriptor"),
    Syscall("newfstatat", "glibc's fstat; stat of a path reveals existence and metadata only"),
    Syscall("lseek", "Python io"),
    Syscall("brk", "allocator"),
    Syscall("mmap", "allocator, never executable memory", _NO_EXEC),
    Syscall("mprotect", "allocator, never executable memory", _NO_EXEC),
    Syscall("munmap", "allocator"),
    Syscall("mremap", "allocator (large buffers)"),
    Syscall("madvise", "allocator (returning memory)"),
    Syscall("futex", "the GIL and locks"),
    Syscall("rt_sigaction", "interpreter exit restores signal handlers"),
    Syscall("rt_sigprocmask", "signal delivery"),
    Syscall("rt_sigreturn", "signal delivery"),
    Syscall("getrandom", "OpenSSL's RNG, random, temporary names"),
    Syscall("getpid", "OpenSSL checks for fork on every signature; logging"),
    Syscall("gettid", "logging, locks"),
    Syscall("clock_gettime", "time, when the vDSO cannot answer"),
    Syscall("clock_getres", "time"),
    Syscall("gettimeofday", "time, when the vDSO cannot answer"),
    Syscall("sched_yield", "locks"),
    Syscall("restart_syscall", "a call interrupted by a signal"),
    Syscall("exit", "exit"),
    Syscall("exit_group", "exit"),
    # Named soft denials.
    Syscall(
        "ioctl",
        "isatty() from io.open: EPERM reads as 'not a terminal'; every other ioctl (TIOCSTI!) kills",
        (ArgCheck(1, termios.TCGETS),),
        Action.EPERM,
    ),
    Syscall(
        "mmap",
        "executable memory: nothing is loaded after the jail; a late dlopen fails with an error "
        "that reaches the log instead of a SIGSYS that hides its cause",
        _EXEC,
        Action.EPERM,
    ),
    Syscall(
        "mprotect",
        "making memory executable: EPERM, for the same reason as mmap; an exploit cannot stage code this way",
        _EXEC,
        Action.EPERM,
    ),
)


# O_TMPFILE includes O_DIRECTORY; only its own bit marks a temporary file.
_O_TMPFILE_BIT = os.O_TMPFILE & ~os.O_DIRECTORY

_READ_ONLY_OPEN = (
    ArgCheck(
        2,
        os.O_RDONLY,
        os.O_ACCMODE | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_PATH | _O_TMPFILE_BIT,
    ),
)

#: Every role but dnsproc (which may read its resolver files): read-only opens fail softly.
QUIET_READ_DENIAL: tuple[Syscall, ...] = (
    Syscall(
        "openat",
        "read-only open: a traceback reads source lines, a late import looks for its file; "
        "EPERM lets the error reach the log instead of a SIGSYS that hides it. Any other open kills",
        _READ_ONLY_OPEN,
        Action.EPERM,
    ),
)


def _socket(family: int, kind: int, protocol: int, why: str) -> Syscall:
    # The type carries SOCK_CLOEXEC / SOCK_NONBLOCK, so only its low bits are compared.
    return Syscall("socket", why, (ArgCheck(0, family), ArgCheck(1, kind, 0xF), ArgCheck(2, protocol)))


#: netproc: TCP to addresses dnsproc resolved, TLS over it, socket timeouts, polling delays.
TCP_CLIENT: tuple[Syscall, ...] = (
    *(
        _socket(family, socket.SOCK_STREAM, 0, "a TCP connection to the CA")
        for family in (socket.AF_INET, socket.AF_INET6)
    ),
    Syscall("connect", "to the CA's address; Landlock allows only the CA's ports"),
    Syscall("getsockopt", "SO_ERROR after a connect with a timeout"),
    Syscall(
        "setsockopt",
        "TCP_NODELAY, and nothing else",
        (ArgCheck(1, socket.IPPROTO_TCP), ArgCheck(2, socket.TCP_NODELAY)),
    ),
    Syscall("getsockname", "ssl asks whether the socket it wraps is connected"),
    Syscall("getpeername", "ssl asks whether the socket it wraps is connected"),
    Syscall("ioctl", "FIONBIO: socket.settimeout", (ArgCheck(1, termios.FIONBIO),)),
    Syscall("clock_nanosleep", "time.sleep between polls of the CA"),
)

#: dnsproc: glibc's getaddrinfo (files, then DNS over UDP with a TCP fallback).
RESOLVER: tuple[Syscall, ...] = (
    *(
        _socket(family, kind, 0, "a DNS query (UDP, TCP fallback)")
        for family in (socket.AF_INET, socket.AF_INET6)
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)
    ),
    Syscall(
        "socket",
        "glibc's probe for nscd's unix socket: EPERM makes it resolve by itself",
        (ArgCheck(0, socket.AF_UNIX),),
        Action.EPERM,
    ),
    Syscall("connect", "the name server; Landlock allows TCP to port 53 only"),
    Syscall("sendmmsg", "glibc sends the A and AAAA queries together"),
    Syscall("writev", "glibc's TCP fallback sends a query as length + message"),
    Syscall("getsockopt", "socket state"),
    Syscall("setsockopt", "socket options"),
    Syscall("ioctl", "FIONREAD: glibc sizes a UDP answer", (ArgCheck(1, termios.FIONREAD),)),
    Syscall("openat", "/etc/hosts, resolv.conf, nsswitch.conf ... read-only; Landlock names them", _READ_ONLY_OPEN),
    Syscall("uname", "glibc's resolver asks for the host name"),
)

_CREATE_EXCLUSIVE = (
    ArgCheck(
        2,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL,
        os.O_ACCMODE | os.O_CREAT | os.O_EXCL | os.O_TRUNC | os.O_APPEND | os.O_DIRECTORY | os.O_PATH | os.O_TMPFILE,
    ),
)

#: chngproc: create a challenge file that did not exist, remove it later.
CREATE_AND_REMOVE: tuple[Syscall, ...] = (
    Syscall("openat", "a new file only: O_WRONLY|O_CREAT|O_EXCL, never an existing one", _CREATE_EXCLUSIVE),
    Syscall("fchmod", "mode of a file it created"),
    Syscall("unlinkat", "remove a file it created (os.unlink with dir_fd)"),
)

#: fileproc: write a temporary file, fsync, rename over the target, keep a .1 backup.
ATOMIC_REPLACE: tuple[Syscall, ...] = (
    *CREATE_AND_REMOVE,
    Syscall("fsync", "the new file, then its directory"),
    Syscall("linkat", "FILE.1 backup (os.link with dir_fd)"),
    Syscall("renameat", "temporary file over the target (os.rename with dir_fd)", portable_alias=True),
    Syscall("renameat2", "the same, where there is no renameat (riscv64) or libc prefers it"),
)

#: httpproc: accept connections on the socket it bound before the jail; answer each and close it.
HTTP_SERVER: tuple[Syscall, ...] = (
    Syscall("accept4", "a connection to the listening socket bound before the jail"),
    Syscall("getsockname", "Python's socket object checks that an accepted descriptor is a socket"),
    Syscall("ioctl", "FIONBIO: a connection made non-blocking", (ArgCheck(1, termios.FIONBIO),)),
)

#: tlsproc: httpproc's calls, and ssl reading each validation certificate back from its own memfd.
TLS_SERVER: tuple[Syscall, ...] = (
    *HTTP_SERVER,
    Syscall(
        "openat",
        "read-only: ssl loads a certificate from a file only, /proc/self/fd/N of its memfd; "
        "Landlock grants no path, so only kernel-internal objects (that memfd) open",
        _READ_ONLY_OPEN,
    ),
    Syscall("ftruncate", "empties its memfd before and after each certificate"),
)

# ---------------------------------------------------------------------------
# The table

_RESOLVER_FILES = (
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
)

POLICIES: MappingProxyType[str, Policy] = MappingProxyType(
    {
        "netproc": Policy(
            role="netproc",
            purpose="speaks HTTPS to the CA, at addresses dnsproc resolved",
            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + TCP_CLIENT,
            connect=Connect.GRANTED_PORTS,
            private_netns=False,
            spare_fds=8,
        ),
        "dnsproc": Policy(
            role="dnsproc",
            purpose="resolves the CA's host name for netproc",
            syscalls=PYTHON_RUNTIME + RESOLVER,
            read_files=_RESOLVER_FILES,
            connect=Connect.DNS,
            private_netns=False,
            spare_fds=8,
        ),
        "acctproc": Policy(
            role="acctproc",
            purpose="holds the account key, signs requests",
            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL,
        ),
        "keyproc": Policy(
            role="keyproc",
            purpose="holds the domain key, builds the CSR",
            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL,
        ),
        "certproc": Policy(
            role="certproc",
            purpose="parses and checks the certificate chain from the CA",
            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL,
        ),
        "revokeproc": Policy(
            role="revokeproc",
            purpose="judges the current certificate, read before the jail; decides on renewal",
            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL,
        ),
        "chngproc": Policy(
            role="chngproc",
            purpose="writes and removes http-01 challenge files in the challenge directory",
            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + CREATE_AND_REMOVE,
            write_dir_rights=FsAccess.MAKE_REG | FsAccess.WRITE_FILE | FsAccess.REMOVE_FILE,
            identity=Identity.DIRECTORY_OWNER,
            chroot_write_dir=True,
            spare_fds=2,
        ),
        "httpproc": Policy(
            role="httpproc",
            purpose="answers http-01 challenges from memory on the address it bound before the jail",
            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + HTTP_SERVER,
            spare_fds=34,  # MAX_CLIENTS connections at once, and room to accept one more and close it
        ),
        "hookproc": Policy(
            role="hookproc",
            purpose="runs the configured dns-01 hook program; keys hidden, certificates read-only",
            syscalls=(),  # none checked: a filter would bind the hook program too
            connect=Connect.ANYWHERE,
            private_netns=False,  # the hook program reaches the DNS provider
            runs_programs=True,
            spare_fds=256,  # what the hook program may open, beyond its inherited descriptors
        ),
        "runhookproc": Policy(
            role="runhookproc",
            purpose="runs the configured run hook once after the run; keys hidden, certificates read-only",
            syscalls=(),  # none checked: a filter would bind the hook program too
            connect=Connect.ANYWHERE,
            private_netns=False,  # the hook may tell another host (a load balancer, a monitor)
            runs_programs=True,
            spare_fds=256,  # what the hook program may open, beyond its inherited descriptors
        ),
        "tlsproc": Policy(
            role="tlsproc",
            purpose="answers tls-alpn-01 handshakes with validation certificates made in memory, on the address bound before the jail",
            syscalls=PYTHON_RUNTIME + TLS_SERVER,
            spare_fds=67,  # MAX_CLIENTS connections, one to accept and close, one for ssl to open its memfd again
        ),
        "fileproc": Policy(
            role="fileproc",
            purpose="writes certificate, chain and full chain atomically in the certificate directory",
            syscalls=PYTHON_RUNTIME + QUIET_READ_DENIAL + ATOMIC_REPLACE,
            write_dir_rights=FsAccess.MAKE_REG | FsAccess.WRITE_FILE | FsAccess.REMOVE_FILE,
            identity=Identity.DIRECTORY_OWNER,
            chroot_write_dir=True,
            spare_fds=4,
        ),
    }
)
