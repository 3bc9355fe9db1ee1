"""What `enter` applied, and what it could not: the sandbox is never silent."""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import enum
from typing import NamedTuple

from .imports import ImportGuard


class Shortfall(enum.Enum):
    """How much a missing piece matters."""

    NONE = "none"
    DEPTH = "depth"  # extra depth only (e.g. chroot for a non-root user): one line at -v
    POLICY = "policy"  # the role runs with less than its policy: a warning; fatal when strict


class Step(NamedTuple):
    """One mechanism's line in the report."""

    mechanism: str
    detail: str
    shortfall: Shortfall = Shortfall.NONE


class Report(NamedTuple):
    """Everything `enter` applied for one role, in order, and how long it took."""

    role: str
    privileged: bool
    steps: tuple[Step, ...]
    elapsed_ms: float
    imports: ImportGuard  # what was imported after the jail: nothing, unless a warm-up missed it

    def shortfalls(self, level: Shortfall) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.shortfall is level)

    def summary(self) -> str:
        applied = "; ".join(f"{step.mechanism}: {step.detail}" for step in self.steps)
        who = "root" if self.privileged else "unprivileged"
        return f"sandbox {self.role} ({who}, {self.elapsed_ms:.2f} ms): {applied}"
