"""The lexer: the grammar's terminals, scanned fast.

lark's own lexer makes one Python call per ignored blank and keeps column
counts for every token; on a configuration of 10,000 domains that alone takes
most of a second.  This lexer builds one regular expression from the very
terminals lark compiled from grammar/acme-client.lark, tried in the order
lark would try them, and lets the regular expression engine skip blanks and
comments before each token.  It never decides syntax of its own: what a
keyword, a word, a quoted string or an end of line is comes from the grammar.

Like OpenBSD's lexer it also
  - joins a line that ends in a backslash with the next, before anything else
    (inside quotes and comments too), keeping line numbers right;
  - ends the last line if the file does not;
  - refuses a line longer than MAX_LINE_LENGTH (limits.py): it is reported,
    then read as an empty line, as OpenBSD's lexer skips the rest of a line
    whose word does not fit its buffer;
  - runs the preprocessor (acme_conf/config/preprocess.py) when the text uses
    macros or `include`.

A character that starts no token becomes an UNEXPECTED_CHARACTER token, which
no rule accepts: the parser's error handler then reports it in words.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence

from lark import Token
from lark.common import LexerConf
from lark.lexer import Lexer, LexerState, PatternRE, PatternStr, TerminalDef

from .limits import MAX_LINE_LENGTH
from .preprocess import needs_preprocessing, preprocess
from .source import Source
from .terminals import MACRO, NEWLINE, STRING, UNEXPECTED, unquote

_CONTINUATION = re.compile(r"\\\r?\n")
_new_str = str.__new__
_END = "END_OF_TEXT"  # not a token: where only blanks and comments are left


class Scanner:
    """Splits text into tokens of the given terminals."""

    def __init__(self, terminals: Sequence[TerminalDef], ignore: Sequence[str]) -> None:
        skipped = [t for t in terminals if t.name in ignore and t.name != MACRO]
        significant = [t for t in terminals if t.name not in ignore or t.name == MACRO]
        significant, self.keywords = _fold_keywords(significant)
        significant.sort(key=_lark_order)
        skip = "|".join(t.pattern.to_regexp() for t in skipped)
        alternatives = _alternation(significant)
        # Possessive: blanks and comments are skipped once, never given back.
        # Something always matches (at worst one unexpected character, or
        # the end of the text), so that finditer never skips text silently.
        self._regex = re.compile(
            f"(?:{skip})*+(?:{alternatives}|(?P<{UNEXPECTED}>.)|(?P<{_END}>\\Z))"
        )

    def tokens(
        self, text: str, first_line: int = 1, joins: Sequence[int] = (), end_line: bool = False
    ) -> Iterator[Token]:
        """The tokens of `text`.

        `first_line` is the line `text` starts on (all of a macro's value is on
        the line that uses it); `joins` are the offsets where joined lines met
        (each adds a line from there on); with `end_line`, a last line without
        a newline still ends with one.
        """
        keywords = self.keywords
        line = first_line
        line_start = 0
        token = None
        for match in self._regex.finditer(text):
            kind = match.lastgroup
            if kind == _END:
                break
            value = match.group(kind)
            start = match.start(kind)
            end = start + len(value)  # before unquoting: a quoted string is longer
            if kind in keywords:
                kind = keywords[kind].get(value, kind)
            if kind == STRING and (value[0] == '"' or value[0] == "'"):
                value = unquote(value)
            # Token(kind, value, start, line, column), without its two Python
            # calls: this loop runs once per token of the file.
            token = _new_str(Token, value)
            token.type = kind
            token.value = value
            token.start_pos = start
            token.line = line + bisect.bisect_right(joins, start) if joins else line
            token.column = start - line_start + 1
            token.end_pos = end
            token.end_line = token.end_column = None
            yield token
            if kind == NEWLINE:
                line += value.count("\n")
                line_start = start + value.rindex("\n") + 1
        if end_line and token is not None and token.type != NEWLINE:
            yield Token.new_borrow_pos(NEWLINE, "\n", token)


class ConfigLexer(Lexer):
    """lark's custom-lexer interface: lark hands it the `Source` to read."""

    __future_interface__ = 2

    def __init__(self, lexer_conf: LexerConf) -> None:
        self.scanner = Scanner(lexer_conf.terminals, lexer_conf.ignore)

    def lex(self, lexer_state: LexerState, parser_state: object) -> Iterator[Token]:
        # The same iterator every time: after a syntax error lark asks again,
        # and the reading goes on where it stopped.
        source: Source = lexer_state.text  # type: ignore[assignment]
        if source.stream is None:
            source.stream = self._stream(source)
        return source.stream

    def _stream(self, source: Source) -> Iterator[Token]:
        text = source.text
        joins: list[int] = []
        if "\\" in text:
            text, joins = _join_continued_lines(text)
        if len(text) > MAX_LINE_LENGTH:
            text = _blank_long_lines(text, joins, source)
        tokens = self.scanner.tokens(text, joins=joins, end_line=True)
        if needs_preprocessing(text):
            tokens = preprocess(tokens, source, self.scanner, text)
        return tokens


def _join_continued_lines(text: str) -> tuple[str, list[int]]:
    """`text` with backslash-newlines removed, and where each one was (new offsets)."""
    joins = []
    pieces = []
    last = 0
    removed = 0
    for match in _CONTINUATION.finditer(text):
        pieces.append(text[last : match.start()])
        joins.append(match.start() - removed)
        removed += match.end() - match.start()
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces), joins


def _blank_long_lines(text: str, joins: Sequence[int], source: Source) -> str:
    """`text` with each line longer than MAX_LINE_LENGTH reported and blanked.

    A blanked line keeps its length, in blanks, so that offsets and `joins`
    stay right.  A line longer than the cap holds a whole aligned piece of
    half the cap without a newline, so only those pieces are looked at: a few
    hundred `find`s in C on a large file, not a pass in Python over its lines.
    """
    step = MAX_LINE_LENGTH // 2
    pieces: list[str] = []
    done = 0  # text[:done] is in pieces
    newlines = 0  # in text[:done]
    for piece in range(0, len(text) - step + 1, step):
        if piece < done or text.find("\n", piece, piece + step) >= 0:
            continue
        start = text.rfind("\n", 0, piece) + 1
        end = text.find("\n", piece + step)
        end = len(text) if end < 0 else end
        if end - start <= MAX_LINE_LENGTH:
            continue
        newlines += text.count("\n", done, start)
        line = 1 + newlines + bisect.bisect_right(joins, start)  # as Scanner.tokens counts
        source.error(line, f"line too long (more than {MAX_LINE_LENGTH} characters)")
        pieces += (text[done:start], " " * (end - start))
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _fold_keywords(
    terminals: list[TerminalDef],
) -> tuple[list[TerminalDef], dict[str, dict[str, str]]]:
    """Keywords spelled like words are found as words, then renamed (as lark does).

    Returns the terminals left to scan for, and for each word terminal the
    keywords it stands for: {"STRING": {"domain": "DOMAIN", ...}}.
    """
    words = [t for t in terminals if isinstance(t.pattern, PatternRE)]
    literals = [t for t in terminals if isinstance(t.pattern, PatternStr)]
    keywords: dict[str, dict[str, str]] = {}
    folded = set()
    for word in words:
        regex = re.compile(word.pattern.to_regexp())
        for literal in literals:
            text = literal.pattern.value
            if literal.priority == word.priority and regex.fullmatch(text):
                keywords.setdefault(word.name, {})[text] = literal.name
                folded.add(literal.name)
    return [t for t in terminals if t.name not in folded], keywords


def _alternation(terminals: list[TerminalDef]) -> str:
    """The terminals as one regex alternation, in order, each a named group.

    The regex engine tries alternatives one after the other at every token.
    A run of terminals that can only start with a few characters (the
    keywords of several words) is put behind a look-ahead for those
    characters, so that the other tokens skip the whole run in one test.
    The order, and so what matches, stays the same.
    """
    parts = []
    run: list[str] = []  # consecutive terminals with few first characters
    run_first: set[str] = set()
    for terminal in terminals:
        regex = f"(?P<{terminal.name}>{terminal.pattern.to_regexp()})"
        first = _first_characters(terminal.pattern.to_regexp())
        if first is not None and len(run_first | first) <= _GUARD_LIMIT:
            run.append(regex)
            run_first |= first
            continue
        if run:
            parts.append(_guarded(run, run_first))
        if first is not None and len(first) <= _GUARD_LIMIT:
            run, run_first = [regex], set(first)
        else:
            parts.append(regex)
            run, run_first = [], set()
    if run:
        parts.append(_guarded(run, run_first))
    return "|".join(parts)


def _guarded(run: list[str], first: set[str]) -> str:
    if len(run) == 1:
        return run[0]
    chars = "".join(re.escape(c) for c in sorted(first))
    return f"(?=[{chars}])(?:{'|'.join(run)})"


_GUARD_LIMIT = 32


def _first_characters(regex: str) -> set[str] | None:
    """The one character a keyword's match must start with; None for other terminals.

    Keywords (`domain\\s+full\\s+chain...`) open with a literal letter, and only
    they come in runs long enough for a look-ahead guard to pay.
    """
    return {regex[0]} if regex[:2].isalpha() else None


def _lark_order(terminal: TerminalDef) -> tuple[int, int, int, str]:
    # The order lark's own lexer tries terminals in.
    pattern = terminal.pattern
    return (-terminal.priority, -pattern.max_width, -len(pattern.value), terminal.name)
