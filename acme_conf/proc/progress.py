"""A live count of the domains done, on a terminal only: `acme-client: 12 of 20 domains done`.

Drawn in place (a carriage return, the line erased) while the parent waits
for its children, and erased before anything else is written, so that no
line of the run is ever mixed with it.  Nothing at all when standard error
is not a terminal (cron mail, a journal, a pipe), with -v (each step has
its line then), or for a single domain.
"""

from __future__ import annotations

from typing import TextIO

ERASE = "\r\x1b[K"  # back to the start of the line, and clear it


class Progress:
    """The count line of one run; `shown` while it is on the terminal."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self.stream = stream  # None: no progress is shown
        self.total = total
        self.shown = False

    @classmethod
    def for_run(cls, stream: TextIO, total: int, verbosity: int) -> Progress:
        return cls(stream if verbosity == 0 and total > 1 and _is_terminal(stream) else None, total)

    def show(self, done: int) -> None:
        self._write(f"{ERASE}acme-client: {done} of {self.total} domains done")
        self.shown = self.stream is not None

    def erase(self) -> None:
        if self.shown:
            self._write(ERASE)
            self.shown = False

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:
            self.stream = None  # the terminal is gone: the run goes on without it


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
