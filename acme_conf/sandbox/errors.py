"""Typed errors of the sandbox.  Each says which role and which mechanism."""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox could not be entered; the process must not serve."""


class PolicyError(SandboxError):
    """The policy table or the grants are wrong (an unknown role or system call, a bad directory)."""


class SetupError(SandboxError):
    """A mechanism this process should be able to apply failed while being applied."""


class MechanismUnavailable(SandboxError):
    """Strict mode: a mechanism the role's policy needs is missing on this kernel or for this user."""

    def __init__(self, role: str, shortfalls: tuple[str, ...]) -> None:
        self.role = role
        self.shortfalls = shortfalls
        super().__init__(f"{role}: strict sandbox, but " + "; ".join(shortfalls))
