"""The configuration error type: where (file, line) and why.

`load_plan` reports every error of a configuration at once, as one
`ConfigErrors` exception holding a `ConfigError` per problem, in the order
the problems appear when the files are read top to bottom (an included file
is read where its `include` statement is).
"""

from __future__ import annotations

from dataclasses import dataclass


def printable(text: str) -> str:
    """`text` with every unprintable character shown as an escape, for terminals."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class ConfigError:
    """One problem in a configuration file.

    `line` is 0 when the problem is with the file as a whole (it cannot be read).
    """

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line:
            return printable(f"{self.file}:{self.line}: {self.message}")
        return printable(f"{self.file}: {self.message}")


class ConfigErrors(Exception):
    """A configuration that cannot be used, with every error found in it."""

    def __init__(self, errors: tuple[ConfigError, ...]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors
