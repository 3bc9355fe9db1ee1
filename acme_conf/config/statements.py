"""What the parser makes of a file: blocks of options, not yet checked.

These are the parser's output and the plan builder's input; nothing else
sees them.  Every value is a string exactly as the file gave it (unquoted,
macros expanded); the plan builder checks and converts them.
"""

from __future__ import annotations


class Option:
    """One option line in a block, e.g. `domain key "/etc/x.key" ecdsa`."""

    __slots__ = ("keyword", "line", "values")

    def __init__(self, keyword: str, line: int, values: tuple[str, ...]) -> None:
        self.keyword = keyword  # canonical spelling: "domain key"
        self.line = line
        self.values = values

    def __repr__(self) -> str:
        return f"Option({self.keyword!r}, {self.line}, {self.values!r})"


class Block:
    """An `authority NAME { ... }` or `domain HANDLE { ... }` statement, or a run hook's line (a block of one option)."""

    __slots__ = ("kind", "name", "line", "end_line", "options", "file", "order")

    def __init__(
        self, kind: str, name: str, line: int, end_line: int, options: tuple[Option, ...]
    ) -> None:
        self.kind = kind  # "authority", "domain" or "hook"
        self.name = name
        self.line = line
        self.end_line = end_line  # the line of its "}"
        self.options = options
        # Set by the reader once it knows which file the block came from:
        self.file = ""
        self.order: tuple[int, ...] = ()  # reading order, see source.Source.order

    def __repr__(self) -> str:
        return f"Block({self.kind!r}, {self.name!r}, {self.line}, {self.options!r})"
