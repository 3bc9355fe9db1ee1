"""What `enter` applied, and what it could not: the sandbox is never silent."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Shortfall(enum.Enum):
    """How much a missing piece matters."""

    NONE = "none"
    DEPTH = "depth"  # extra depth only (e.g. chroot for a non-root user): one line at -v
    POLICY = "policy"  # the role runs with less than its policy: a warning; fatal when strict


@dataclass(frozen=True)
class Step:
    mechanism: str
    detail: str
    shortfall: Shortfall = Shortfall.NONE


@dataclass(frozen=True)
class Report:
    role: str
    privileged: bool
    steps: tuple[Step, ...]
    elapsed_ms: float

    def shortfalls(self, level: Shortfall) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.shortfall is level)

    def summary(self) -> str:
        applied = "; ".join(f"{step.mechanism}: {step.detail}" for step in self.steps)
        who = "root" if self.privileged else "unprivileged"
        return f"sandbox {self.role} ({who}, {self.elapsed_ms:.2f} ms): {applied}"
