"""A live count of the domains done, on a terminal only: cron mail stays as it was.

While a run with more than one domain goes on and standard error is a
terminal, its last line reads `acme-client: 12 of 200 domains done (1
failed)`, redrawn in place.  Whatever else the parent writes to standard
error (its own messages, every child's line it relays) first erases that
line and then draws it again below, so the count never breaks a message.
When standard error is not a terminal (cron, a pipe, a file), nothing
changes: no count, no control characters.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from acme_conf.proc.reports import ChainResult

ERASE_LINE = "\r\x1b[K"  # back to the start of the line, then clear it
REDRAW_SECONDS = 0.1  # a count redrawn more often is not read, and counting the failed is a walk over every result


class LiveCount:
    """Standard error with a count line kept at the bottom: writes go above it."""

    def __init__(self, terminal: TextIO, total: int) -> None:
        self._terminal = terminal
        self._total = total
        self._line = ""  # the count as drawn now; "" when none is shown
        self._drawn_at = float("-inf")

    def update(self, results: Mapping[str, ChainResult]) -> None:
        """Show how many of the domains have a result, and how many failed: at most every REDRAW_SECONDS."""
        now = time.monotonic()
        if now - self._drawn_at < REDRAW_SECONDS:
            return
        self._drawn_at = now
        failed = sum(result.failed for result in results.values())
        line = f"acme-client: {len(results)} of {self._total} domains done" + (f" ({failed} failed)" if failed else "")
        if line != self._line:
            self._draw(line)

    def write(self, text: str) -> int:
        """Write `text` above the count line (TextIO's write, for logging and the relay of children's lines)."""
        if self._line:
            self._terminal.write(ERASE_LINE)
        self._terminal.write(text)
        if self._line and text.endswith("\n"):
            self._terminal.write(self._line)
        self._terminal.flush()
        return len(text)

    def flush(self) -> None:
        self._terminal.flush()

    def clear(self) -> None:
        if self._line:
            self._terminal.write(ERASE_LINE)
            self._terminal.flush()
            self._line = ""

    def _draw(self, line: str) -> None:
        self._terminal.write(ERASE_LINE + line)
        self._terminal.flush()
        self._line = line


@contextmanager
def live_count(total: int) -> Iterator[LiveCount | None]:
    """A LiveCount standing in for sys.stderr while the run goes on, or None when there is nothing to show.

    None unless standard error is a terminal and more than one domain runs.
    Inside, sys.stderr and the parent's logging handlers that wrote to it
    write through the count; both are put back, and the count erased, on the
    way out, whatever happens.
    """
    terminal = sys.stderr
    try:
        shown = total > 1 and terminal.isatty()
    except (OSError, ValueError):  # closed
        shown = False
    if not shown:
        yield None
        return
    count = LiveCount(terminal, total)
    handlers = [
        handler
        for handler in logging.getLogger("acme_conf").handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is terminal
    ]
    sys.stderr = count  # type: ignore[assignment]  # TextIO's write and flush are what the writers use
    for handler in handlers:
        handler.setStream(count)  # type: ignore[arg-type]
    try:
        yield count
    finally:
        try:
            count.clear()
        except OSError:
            pass  # a terminal gone is no reason to fail the run
        for handler in handlers:
            handler.setStream(terminal)
        sys.stderr = terminal
