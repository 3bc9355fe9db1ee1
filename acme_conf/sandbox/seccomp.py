"""seccomp-bpf, the pledge analogue, through pyseccomp (libseccomp).

pyseccomp asks `ctypes.util.find_library` for "c" and "seccomp" when it is
imported.  That imports subprocess, shutil and re and runs `ldconfig -p` twice
(15-25 ms in each of the eight processes of a chain).  The libraries' sonames
are fixed on Linux, so a stand-in `ctypes.util` that knows them is installed
for the duration of that one import and the real state restored right after.
If the sonames do not load here, pyseccomp is imported again the slow way.

Everything happens at import time: no module may load after a jail.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import contextlib
import ctypes
import sys
import types
from collections.abc import Iterator
from typing import NamedTuple

from .errors import PolicyError
from .policy import Action, Syscall

_SONAMES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}


@contextlib.contextmanager
def _library_names_known() -> Iterator[None]:
    """Make `import ctypes.util` yield a stand-in whose find_library knows _SONAMES."""
    stand_in = types.ModuleType("ctypes.util")
    stand_in.find_library = _SONAMES.get  # type: ignore[attr-defined]
    saved_module = sys.modules.get("ctypes.util")
    saved_attribute = ctypes.__dict__.get("util")
    sys.modules["ctypes.util"] = stand_in
    ctypes.util = stand_in  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if saved_module is None:
            del sys.modules["ctypes.util"]
        else:
            sys.modules["ctypes.util"] = saved_module
        if saved_attribute is None:
            del ctypes.util  # type: ignore[attr-defined]
        else:
            ctypes.util = saved_attribute  # type: ignore[attr-defined]


def _import_pyseccomp() -> tuple[types.ModuleType | None, str]:
    """pyseccomp, or None and why it cannot be loaded (libseccomp missing)."""
    module: types.ModuleType | None = None
    why = ""
    try:
        with _library_names_known():
            import pyseccomp as module
    except OSError:
        sys.modules.pop("pyseccomp", None)
        try:
            import pyseccomp as module  # slow path: ctypes.util.find_library
        except (OSError, RuntimeError) as exc:
            module, why = None, f"libseccomp cannot be loaded: {exc}"
    return module, why


_pyseccomp, UNAVAILABLE_REASON = _import_pyseccomp()


class KernelSupport(NamedTuple):
    """What this kernel and libseccomp offer."""

    available: bool
    api_level: int
    kill_process: bool  # SECCOMP_RET_KILL_PROCESS needs API level 3 (kernel 4.14)
    why_not: str


def kernel_support() -> KernelSupport:
    if _pyseccomp is None:
        return KernelSupport(False, 0, False, UNAVAILABLE_REASON)
    try:
        level = int(_pyseccomp.get_api())
    except NotImplementedError:
        level = 1
    if level < 1:
        return KernelSupport(False, level, False, "the kernel has no seccomp filter support")
    return KernelSupport(True, level, level >= 3, "")


class Filter(NamedTuple):
    """A built filter, ready to load; `rules` counts the rules it holds."""

    handle: object
    rules: int
    default_kills: str  # "process" or "thread"
    skipped: tuple[str, ...]  # portable aliases this architecture does not have


def _resolve(name: str) -> int:
    """The native number of a system call; an unknown name is an error, never skipped."""
    assert _pyseccomp is not None
    number = int(_pyseccomp.resolve_syscall(_pyseccomp.Arch.NATIVE, name))
    if number == -1:
        raise PolicyError(f"seccomp: libseccomp does not know the system call {name!r}")
    return number


def build(syscalls: tuple[Syscall, ...], support: KernelSupport) -> Filter:
    """A filter that allows `syscalls` as the policy says and kills on everything else."""
    assert _pyseccomp is not None
    kill = _pyseccomp.KILL_PROCESS if support.kill_process else _pyseccomp.KILL_THREAD
    handle = _pyseccomp.SyscallFilter(kill)
    handle.set_attr(_pyseccomp.Attr.ACT_BADARCH, kill)
    skipped: list[str] = []
    rules = 0
    for syscall in syscalls:
        number = _resolve(syscall.name)
        if number < 0:  # a pseudo number: the call does not exist on this architecture
            if not syscall.portable_alias:
                raise PolicyError(f"seccomp: {syscall.name!r} does not exist on this architecture")
            skipped.append(syscall.name)
            continue
        action = _pyseccomp.ALLOW if syscall.action is Action.ALLOW else _pyseccomp.ERRNO(syscall.errno)
        args = [_pyseccomp.Arg(check.arg_index, _pyseccomp.MASKED_EQ, check.mask, check.value) for check in syscall.when]
        handle.add_rule(action, number, *args)
        rules += 1
    return Filter(handle, rules, "process" if support.kill_process else "thread", tuple(skipped))


def load(built: Filter) -> None:
    """Install the filter on the calling process. Irreversible."""
    built.handle.load()  # type: ignore[attr-defined]
