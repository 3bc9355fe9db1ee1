"""The preprocessor: macros and `include`, between the lexer and the parser.

As in OpenBSD's acme-client, both are the lexer's business, not the parser's:
  - `$name` outside quotes is replaced by the *text* of the macro's value,
    scanned again as tokens (so a value of two words gives two tokens, and a
    value with quotes in it gives a quoted string).  Text that came from a
    macro is not expanded again.  An undefined macro is an error at its line.
  - `name = value ...` at the top level defines a macro, for every line read
    after it, in this file and in the files read after it; a later definition
    replaces an earlier one.
  - `include "file"` at the top level reads the file right there, before the
    next line, so that what it defines is known below it.

The parser still sees every definition and include line and checks its
syntax; the preprocessor acts only on lines that are well formed.

Expansion is capped (limits.py): a line that its macros would make longer
than MAX_EXPANDED_LINE is an error, and where all expansions together pass
MAX_EXPANSION the reading stops.
A definition on a line that met an error defines a *failed* macro: a line
that uses it fails with it, silently, so that one mistake (or one macro that
doubles at every level) is reported once, where it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from lark import Token

from .limits import MAX_EXPANDED_LINE, MAX_EXPANSION
from .source import Macro, Source
from .terminals import EQUALS, INCLUDE, LBRACE, MACRO, NEWLINE, RBRACE, STRING

_MACRO_NAME = re.compile(r"[A-Za-z0-9_]+")

# Scanner.tokens: (text, first_line=...) -> tokens.
Scan = Callable[..., Iterator[Token]]


def needs_preprocessing(text: str) -> bool:
    """Whether `text` may use macros or include (if not, tokens go straight through)."""
    return "$" in text or "=" in text or "include" in text


def preprocess(
    tokens: Iterator[Token], source: Source, scanner: object, text: str
) -> Iterator[Token]:
    """The tokens of `source` (whose text, lines joined, is `text`), preprocessed."""
    scan: Scan = scanner.tokens  # type: ignore[attr-defined]
    return _top_level_statements(_expand_macros(tokens, source, scan, text), source)


def _expand_macros(
    tokens: Iterator[Token], source: Source, scan: Scan, text: str
) -> Iterator[Token]:
    """Replace each `$name` by the text of its value, scanned again.

    As upstream, the value's text and the rest of its line are scanned as
    one text, so `$dir/file.pem` is one word; the lexer's own tokens for the
    rest of that line are dropped.  A line that gives no token at all gives
    no end of line either (as a blank line gives none).
    """
    last = NEWLINE
    for token in tokens:
        if token.type != MACRO:
            last = token.type
            yield token
            continue
        end = token.start_pos + len(token)
        line_start = text.rfind("\n", 0, token.start_pos) + 1
        line_end = text.find("\n", end)
        line_end = line_end if line_end >= 0 else len(text)
        expanded = _expand_line(token, text[end:line_end], line_end - line_start, source, scan)
        if expanded:
            last = expanded[-1].type
            yield from expanded
        for dropped in tokens:
            if dropped.type == NEWLINE:
                if last != NEWLINE:
                    last = NEWLINE
                    yield dropped
                break


def _expand_line(
    reference: Token, rest: str, length: int, source: Source, scan: Scan
) -> list[Token]:
    """The tokens of a macro's value followed by the `rest` of its line.

    A `$name` that came from a value is not expanded again; one in `rest`
    (the file's own text) is.  `length` is the line's, as written.  The
    macro that would make the line longer than MAX_EXPANDED_LINE, and any
    after it, expand to nothing (as an undefined one does): the line keeps
    its own words and braces, so the error is reported once, at its line.
    """
    line = reference.line
    expanded: list[Token] = []
    too_long = False
    while True:
        value = "" if too_long else _value_of(reference, source)
        if length + len(value) - len(reference) > MAX_EXPANDED_LINE:
            source.error(
                line,
                f"line too long once its macros are expanded (more than {MAX_EXPANDED_LINE} characters)",
            )
            too_long, value = True, ""
        length += len(value) - len(reference)
        _count_expansion(len(value), line, source)
        text = value + rest
        further = None
        for token in scan(text, first_line=line):
            if token.type == MACRO and token.start_pos >= len(value):
                further = token
                break
            expanded.append(token)
        if further is None:
            return expanded
        rest = text[further.start_pos + len(further) :]
        reference = further


def _count_expansion(size: int, line: int, source: Source) -> None:
    """Count `size` characters put in at `line`; past MAX_EXPANSION the reading stops."""
    reading = source.reading
    reading.expanded += size
    if reading.expanded > MAX_EXPANSION:
        source.stop(line, f"macros expand to more than {MAX_EXPANSION // 2**20} MiB of text in all")


def _value_of(reference: Token, source: Source) -> str:
    name = reference[1:]
    macro = source.reading.macros.get(name)
    if macro is None:
        source.error(reference.line, f"macro '{name}' not defined")
        return ""
    macro.used = True
    if macro.failed:
        source.failed_by_earlier_error(reference.line)
    return macro.value


def _top_level_statements(tokens: Iterator[Token], source: Source) -> Iterator[Token]:
    """Pass tokens on; hold back a top-level line that may define or include."""
    depth = 0
    at_line_start = True
    held: list[Token] | None = None
    for token in tokens:
        kind = token.type
        if held is not None:
            if kind != NEWLINE:
                held.append(token)
                continue
            _act_on(held, source)
            for earlier in held:
                depth = _depth_after(earlier.type, depth)
                yield earlier
            held = None
        elif at_line_start and depth == 0 and (kind == STRING or kind == INCLUDE):
            held = [token]
            at_line_start = False
            continue
        depth = _depth_after(kind, depth)
        at_line_start = kind == NEWLINE
        yield token
    if held is not None:
        yield from held


def _depth_after(kind: str, depth: int) -> int:
    if kind == LBRACE:
        return depth + 1
    if kind == RBRACE and depth > 0:
        return depth - 1
    return depth


def _act_on(line: list[Token], source: Source) -> None:
    """Define a macro or include a file, if `line` is a well-formed one."""
    first = line[0]
    if first.type == INCLUDE:
        if len(line) == 2 and line[1].type == STRING:
            source.reading.include(source, first.line, str(line[1]))
    elif len(line) >= 2 and line[1].type == EQUALS:
        values = line[2:]
        if source.reading.has_error_within(source.file, first.line, line[-1].line):
            # Its value is not what was written (a macro in it is undefined,
            # failed, or made the line too long).
            _define(first, "", source, failed=True)
        elif values and all(token.type == STRING for token in values):
            _define(first, " ".join(values), source)


def _define(name: Token, value: str, source: Source, failed: bool = False) -> None:
    if not _MACRO_NAME.fullmatch(name):
        source.error(
            name.line,
            f"bad macro name {name}: use only letters, digits and underscores",
        )
        return
    source.reading.macros[str(name)] = Macro(
        value=value,
        file=source.file,
        order=source.order(name.line),
        line=name.line,
        used=failed,  # its error is reported: not also "not used"
        failed=failed,
    )
