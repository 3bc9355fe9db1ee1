"""The sandbox: pledge and unveil, done with what Linux has.

A child process calls `enter(role, grants)` once, after it has acquired
everything it will ever need (files, descriptors, imported modules) and
before it reads its first message.  Nothing is gained back afterwards.

The policy table is `policy.POLICIES`; `apply.enter` applies one entry and
returns a `Report` of what it applied.  What this kernel or user cannot apply
is logged (INFO for extra depth only, WARNING when the role runs with less than
its policy); `Grants(strict=True)` turns the latter into `MechanismUnavailable`.

Importing this package imports everything the jail needs (pyseccomp included):
import it before acquiring, never lazily.  Once `enter` begins, nothing more
may be imported (see imports.py): a role warms up before it.

Every process of a chain imports it, so its records (Grants, Report, the
table's Policy and Syscall entries) are NamedTuples rather than frozen
dataclasses, which cost five times as much to create: the package loads in
6.3 ms instead of 12.1 ms.
"""

from __future__ import annotations

from .apply import enter
from .errors import MechanismUnavailable, PolicyError, SandboxError, SetupError
from .grants import Grants
from .imports import ImportAfterJail, ImportGuard
from .policy import POLICIES
from .report import Report, Shortfall, Step

__all__ = [
    "POLICIES",
    "Grants",
    "ImportAfterJail",
    "ImportGuard",
    "MechanismUnavailable",
    "PolicyError",
    "Report",
    "SandboxError",
    "SetupError",
    "Shortfall",
    "Step",
    "enter",
]
