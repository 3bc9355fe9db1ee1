"""Holding signals back while work must not be cut short."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def signals_held(*signums: int) -> Iterator[None]:
    """Hold `signums` for the block; a signal that arrives meanwhile takes effect right after it."""
    held = set(signums)
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
