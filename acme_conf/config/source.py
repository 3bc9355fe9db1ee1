"""The state of reading one configuration: its files, macros, findings.

A `Reading` is shared by every file read for one configuration (the top
file and what it includes): macros defined in one file are seen by the rest,
as upstream.  A `Source` is one of those files; it is what the lark parser is
given as its input, so that the lexer, the preprocessor and the syntax error
handler can all find the file's name and the shared reading through it.

Findings are ordered as the text is read: an included file's findings come
where its `include` line is.  `Source.order(line)` gives that order as a tuple
of line numbers: the include lines that led to the file, then the line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NoReturn

from lark import Token

from .errors import ConfigError
from .statements import Block


class ReadingStopped(Exception):
    """A cap on the whole configuration was reached (reported): nothing more is read."""


@dataclass
class Macro:
    """A `name = value` definition."""

    value: str
    file: str
    order: tuple[int, ...]
    line: int
    used: bool = False
    # Its line met an error (reported there), so it has no value: a line
    # that uses it is taken as failed by that error, not reported again.
    failed: bool = False


class Source:
    """One file being read: its text and where it stands in the reading."""

    def __init__(
        self, text: str, file: str, reading: Reading, include_lines: tuple[int, ...] = ()
    ) -> None:
        self.text = text
        self.file = file
        self.reading = reading
        self.include_lines = include_lines
        self.stream: Iterator[Token] | None = None  # the lexer's tokens, once started

    def order(self, line: int) -> tuple[int, ...]:
        """Sort key of something at `line` of this file, in reading order."""
        return self.include_lines + (line,)

    def error(self, line: int, message: str) -> None:
        """An error found while reading (syntax, macros, include)."""
        self.reading.add_error(self.order(line), ConfigError(self.file, line, message))
        self.reading.reading_error_lines.add((self.file, line))

    def failed_by_earlier_error(self, line: int) -> None:
        """`line` cannot be read right because of an error reported before it.

        No second message; like a line with an error of its own, it gives no
        syntax error, and its block is not checked for what it lacks.
        """
        self.reading.reading_error_lines.add((self.file, line))

    def stop(self, line: int, message: str) -> NoReturn:
        """Report that a cap on the whole configuration is reached at `line`, and read no more.

        (limits.py: the total size, the number of files, the text from
        macros.)  Past it, every later line could meet it again.
        """
        self.error(line, message)
        raise ReadingStopped

    def warning(self, line: int, message: str) -> None:
        self.reading.add_warning(self.order(line), ConfigError(self.file, line, message))


@dataclass
class Reading:
    """Everything found while reading one configuration and its includes."""

    # Reads an included file: (including source, line, path as written).
    include: Callable[[Source, int, str], None]
    macros: dict[str, Macro] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    errors: list[tuple[tuple[int, ...], ConfigError]] = field(default_factory=list)
    warnings: list[tuple[tuple[int, ...], ConfigError]] = field(default_factory=list)
    # Real paths of the files being read, outermost first (to refuse loops).
    open_files: list[str] = field(default_factory=list)
    # (file, line) of each error found while reading, before any checking.
    reading_error_lines: set[tuple[str, int]] = field(default_factory=set)
    # What has been read so far, against the caps of limits.py.
    files_read: int = 0
    bytes_read: int = 0
    expanded: int = 0  # characters of text that macros put in

    def add_error(self, order: tuple[int, ...], error: ConfigError) -> None:
        self.errors.append((order, error))

    def add_warning(self, order: tuple[int, ...], warning: ConfigError) -> None:
        self.warnings.append((order, warning))

    def has_error_at(self, file: str, line: int) -> bool:
        """Whether reading a line met an error already (one per line is enough)."""
        return (file, line) in self.reading_error_lines

    def has_error_within(self, file: str, first_line: int, last_line: int) -> bool:
        """Whether reading met an error on any line of a range (part of it was dropped)."""
        lines = self.reading_error_lines
        return any((file, line) in lines for line in range(first_line, last_line + 1))

    def sorted_errors(self) -> tuple[ConfigError, ...]:
        return tuple(error for _, error in sorted(self.errors, key=_first))

    def sorted_warnings(self) -> tuple[ConfigError, ...]:
        return tuple(warning for _, warning in sorted(self.warnings, key=_first))


def _first(item: tuple[tuple[int, ...], ConfigError]) -> tuple[int, ...]:
    return item[0]
