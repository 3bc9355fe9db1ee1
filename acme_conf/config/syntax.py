"""Syntax errors: said in the user's words, and the reading goes on.

lark calls `on_syntax_error` when the parser meets a token it cannot take.
It reports the error as `syntax error: expected X after Y, found Z`, with X,
Y and Z in the words of acme-client.conf(5) (never lark's terminal names),
then puts the parser back on its feet so that the rest of the file is still
checked and every error of the file is reported in one run:

  - a block's "{" missing at the end of its first line: supplied (and a "{"
    alone on the next line is then taken as that one);
  - a block's "}" missing before the next `include`, or before an
    `authority` or `domain` line that opens a block: supplied;
  - otherwise the rest of the line is dropped (with the whole block, if the
    line opens one, and the whole `alternative names { ... }` list, if the
    line is in one) and reading resumes at the start of the next line; a
    "}" on the dropped line still closes its block.

At most one syntax error is reported per line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from lark import Token, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_interactive_parser import InteractiveParser
from lark.parsers.lalr_parser_state import ParserState

from .source import Source
from .terminals import (
    END,
    INCLUDE,
    LBRACE,
    MACRO,
    NEWLINE,
    RBRACE,
    SPELLING,
    STRING,
    UNEXPECTED,
)

AUTHORITY = "AUTHORITY"
DOMAIN = "DOMAIN"
_STATEMENT_KEYWORDS = frozenset((AUTHORITY, DOMAIN, INCLUDE))
_RUN_HOOKS = ("HOOK_CHANGED", "HOOK_FAILED")  # statements of one line


_SPELLING_ORDER = {name: index for index, name in enumerate(SPELLING)}

_AUTHORITY_OPTIONS = frozenset(("API_URL", "ACCOUNT_KEY", "CONTACT", "INSECURE", "CA_FILE", "EXTERNAL_ACCOUNT_BINDING", "PREVIOUS_ACCOUNT_KEY")
)
_DOMAIN_OPTIONS = frozenset(
    (
        "ALTERNATIVE_NAMES",
        "DOMAIN_NAME",
        "DOMAIN_KEY",
        "DOMAIN_CERTIFICATE",
        "DOMAIN_CHAIN_CERTIFICATE",
        "DOMAIN_FULL_CHAIN_CERTIFICATE",
        "SIGN_WITH",
        "CHALLENGEDIR",
        "PROFILE",
        "PREFERRED_CHAIN",
        "NO_RENEWAL_INFORMATION",
        "CHALLENGE_HTTP_LISTEN",
        "CHALLENGE_DNS_HOOK",
        "CHALLENGE_DNS_PERSIST",
        "CHALLENGE_TLS_ALPN_LISTEN",
    )
)

# What a value is called after each keyword.
_VALUE_NOUN = {
    "AUTHORITY": "an authority name",
    "DOMAIN": "a domain handle",
    "INCLUDE": "a file name",
    "API_URL": "a URL",
    "CONTACT": "a contact URL",
    "ACCOUNT_KEY": "a file name",
    "CA_FILE": "a file name",
    "EXTERNAL_ACCOUNT_BINDING": "a key identifier",
    "PREVIOUS_ACCOUNT_KEY": "a file name",
    "DOMAIN_KEY": "a file name",
    "DOMAIN_CERTIFICATE": "a file name",
    "DOMAIN_CHAIN_CERTIFICATE": "a file name",
    "DOMAIN_FULL_CHAIN_CERTIFICATE": "a file name",
    "CHALLENGEDIR": "a directory",
    "SIGN_WITH": "an authority name",
    "PROFILE": "a profile name",
    "PREFERRED_CHAIN": "an issuer name",
    "CHALLENGE_HTTP_LISTEN": "an address",
    "CHALLENGE_DNS_HOOK": "a program",
    "CHALLENGE_TLS_ALPN_LISTEN": "an address",
    "DOMAIN_NAME": "a domain name",
    "EQUALS": "a value",
}


def on_syntax_error(error: UnexpectedInput) -> bool:
    """lark's on_error hook: report, recover; False gives up on the file."""
    if not isinstance(error, UnexpectedToken) or error.interactive_parser is None:
        return False
    parser = error.interactive_parser
    source: Source = parser.lexer_thread.state.text
    token = error.token
    if not source.reading.has_error_at(source.file, token.line):
        source.error(token.line, describe(parser, token, source))
    return _recover(source, parser.parser_state, token)


# ---- Saying what went wrong -------------------------------------------------


def describe(parser: InteractiveParser, token: Token, source: Source) -> str:
    """The message for `token` arriving where the parser cannot take it.

    It may look at the tokens after `token` on its line (and leave them to
    be read again), to show a misspelled keyword or a name whole.
    """
    values = parser.parser_state.value_stack
    previous = _token_at(values, -1)
    accepts = set(parser.accepts())
    in_names = _in_alternative_names(values)
    if token.type == UNEXPECTED:
        takes_a_name = STRING in accepts and (
            in_names or (previous is not None and previous.type in _NAMED_BY)
        )
        return _unexpected_character(token, source, takes_a_name)
    before = _token_at(values, -2)
    if (
        _is_bare_word(token)
        and accepts & _KEYWORDS
        and not (token.type in (AUTHORITY, DOMAIN) and _opens_a_block(source))
    ):
        # Where a keyword could be, and not a block's start: the words as
        # written, for a misspelling of a keyword of several words ("api uri").
        found = _quoted(" ".join(map(_as_written, _words_from(token, source))))
    else:
        found = _found(token)
    expected = _expected(accepts, previous, in_names)
    return f"syntax error: expected {expected}{_after(previous, before)}, found {found}"


def _unexpected_character(token: Token, source: Source, takes_a_name: bool) -> str:
    char = str(token)
    if char in "\"'":
        return "syntax error: unterminated quoted string (a quoted string ends on its line)"
    if char == "\\":
        return 'syntax error: unexpected "\\" (outside quotes, a backslash only ends a line)'
    if char == "$":
        return 'syntax error: unexpected "$" (a macro name must follow it)'
    if char == "-" and takes_a_name:
        name = "".join(_name_from(token, source))
        return f"syntax error: {_quoted_text(name)} is not a host name or an IP address"
    return f'syntax error: unexpected character "{char}"'


# Keywords that start an option or a statement (several are more than one word).
_KEYWORDS = frozenset({AUTHORITY, DOMAIN, INCLUDE} | _AUTHORITY_OPTIONS | _DOMAIN_OPTIONS)
# Keywords whose value is a domain name.
_NAMED_BY = frozenset((DOMAIN, "DOMAIN_NAME"))
_MAX_WORDS = 6


def _is_bare_word(token: Token) -> bool:
    """Whether `token` is a word written without quotes: a value or a keyword."""
    if token.type == STRING:
        # The lexer's end_pos is where the text ends, quotes included.
        return token.end_pos is not None and token.end_pos - token.start_pos == len(token)
    spelling = SPELLING.get(token.type, "")
    return spelling[:1].isalpha()


def _as_written(token: Token) -> str:
    return str(token) if token.type == STRING else SPELLING[token.type]


def _words_from(token: Token, source: Source) -> list[Token]:
    """`token` and the bare words that follow it on its line (a few at most)."""
    return [token, *_peek(source, lambda t, taken: _is_bare_word(t) and len(taken) < _MAX_WORDS - 1)]


def _name_from(token: Token, source: Source) -> list[str]:
    """The text of a word that starts with `token` (an unexpected "-"), as written."""

    def joined(following: Token, taken: list[Token]) -> bool:
        last = taken[-1] if taken else token
        return following.start_pos == last.end_pos and (
            _is_bare_word(following) or (following.type == UNEXPECTED and str(following) == "-")
        )

    return [str(token), *map(str, _peek(source, joined))]


def _peek(source: Source, wanted: Callable[[Token, list[Token]], bool]) -> list[Token]:
    """The tokens next in the stream while `wanted` says so; all are left to be read again."""
    stream = _pushback_stream(source)
    looked_at: list[Token] = []
    taken: list[Token] = []
    for following in stream:
        looked_at.append(following)
        if not wanted(following, taken):
            break
        taken.append(following)
    stream.put_back(looked_at)
    return taken


class _Pushback:
    """The lexer's tokens, with room to put tokens back in front of them.

    One per file, however many times tokens are put back: wrapping the
    stream again at each error would make every later token pass through
    one more layer per error (slow, and deep enough to overflow the stack).
    """

    __slots__ = ("_ahead", "_rest")

    def __init__(self, rest: Iterator[Token]) -> None:
        self._ahead: list[Token] = []  # next token last
        self._rest = rest

    def __iter__(self) -> _Pushback:
        return self

    def __next__(self) -> Token:
        if self._ahead:
            return self._ahead.pop()
        return next(self._rest)

    def put_back(self, tokens: list[Token]) -> None:
        """Make `tokens` the next ones, in their order."""
        self._ahead.extend(reversed(tokens))


def _pushback_stream(source: Source) -> _Pushback:
    stream = source.stream
    assert stream is not None
    if not isinstance(stream, _Pushback):
        stream = source.stream = _Pushback(stream)
    return stream


def _expected(names: set[str], previous: Token | None, in_names: bool) -> str:
    names.discard(END)
    at_line_start = previous is None or previous.type == NEWLINE
    phrases = []
    if at_line_start and {AUTHORITY, DOMAIN, INCLUDE} <= names:
        names -= {AUTHORITY, DOMAIN, INCLUDE, STRING, NEWLINE, *_RUN_HOOKS}
        phrases.append('"authority", "domain", "hook changed", "hook failed", "include" or a macro definition')
    if _DOMAIN_OPTIONS <= names:
        names -= _DOMAIN_OPTIONS
        phrases.append("a domain option")
    if _AUTHORITY_OPTIONS <= names:
        names -= _AUTHORITY_OPTIONS
        phrases.append("an authority option")
    if STRING in names:
        names.discard(STRING)
        phrases.append(_value_noun(previous, in_names))
    has_newline = NEWLINE in names
    names.discard(NEWLINE)
    phrases.extend(f'"{SPELLING.get(name, name)}"' for name in sorted(names, key=_spelling_order))
    if has_newline:
        phrases.append("end of line")
    if not phrases:
        return "nothing more"
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _spelling_order(name: str) -> tuple[int, str]:
    return (_SPELLING_ORDER.get(name, len(_SPELLING_ORDER)), name)


def _value_noun(previous: Token | None, in_names: bool) -> str:
    if previous is not None and previous.type in _VALUE_NOUN:
        return _VALUE_NOUN[previous.type]
    if in_names:
        return "a domain name"
    return "a value"


def _in_alternative_names(values: list) -> bool:
    """Whether the parser is inside the braces of `alternative names { ... }`."""
    return _open_name_list(values) is not None


def _open_name_list(values: list) -> int | None:
    """Where the `alternative names` keyword is on the stack, if its "{" is still open."""
    closed = 0
    for index in range(len(values) - 1, 0, -1):
        value = values[index]
        if not isinstance(value, Token):
            continue
        if value.type == RBRACE:
            closed += 1
        elif value.type == LBRACE:
            if closed == 0:
                opener = values[index - 1]
                if isinstance(opener, Token) and opener.type == "ALTERNATIVE_NAMES":
                    return index - 1
                return None
            closed -= 1
    return None


def _after(previous: Token | None, before: Token | None) -> str:
    if previous is None or previous.type == NEWLINE:
        return ""
    if previous.type == STRING:
        if before is not None and before.type == AUTHORITY:
            return " after the authority name"
        if before is not None and before.type == DOMAIN:
            return " after the domain handle"
        return f" after {_quoted(previous)}"
    if previous.type in ("RSA", "ECDSA"):
        return " after the key type"
    return f' after "{SPELLING.get(previous.type, previous)}"'


def _found(token: Token) -> str:
    if token.type == NEWLINE:
        return "end of line"
    if token.type == END:
        return "end of file"
    if token.type in (STRING, MACRO):
        return _quoted(token)
    return f'"{SPELLING.get(token.type, token)}"'


def _quoted(token: Token) -> str:
    return _quoted_text(str(token))


def _quoted_text(text: str) -> str:
    if len(text) > 60:
        text = text[:57] + "..."
    return f'"{text}"'


def _token_at(values: list, index: int) -> Token | None:
    if len(values) < -index:
        return None
    value = values[index]
    return value if isinstance(value, Token) else None


# ---- Getting back on track --------------------------------------------------


def _recover(source: Source, state: ParserState, token: Token) -> bool:
    kind = token.type
    if kind == END:
        return _resume_at_end(state)
    if kind == NEWLINE and _try_feed(state, (_like(LBRACE, "{", token), token)):
        # The block's "{" is missing from the end of its line.
        _drop_leading_brace(source)
        return True
    if (
        kind in _STATEMENT_KEYWORDS
        and _first_line(state.value_stack[-1] if state.value_stack else None) < token.line
        and (kind == INCLUDE or _opens_a_block(source))
        and _try_feed(state, (_like(RBRACE, "}", token), _like(NEWLINE, "\n", token), token))
    ):
        # The previous block's "}" is missing.
        return True
    depth = _drop_line_so_far(state, token.line) + _drop_open_name_list(state)
    ending = _drop_rest_of_line(source, token, depth)
    if ending is None:
        return _resume_at_end(state)
    # A "}" closes the block the line is in; a newline ends a line that
    # still needs its end (after a "}"), and is dropped where it is not.
    _try_feed(state, (ending,))
    return True


def _opens_a_block(source: Source) -> bool:
    """Whether the rest of the line has a "{" (else `domain ...` is a bad option, not a block)."""
    rest = _peek(source, lambda following, taken: following.type != NEWLINE)
    return any(following.type == LBRACE for following in rest)


def _try_feed(state: ParserState, tokens: Iterable[Token]) -> bool:
    """Feed tokens to a copy of the parser; if all go in, the parser takes them."""
    trial = state.copy(deepcopy_values=False)
    try:
        for token in tokens:
            trial.feed_token(token)
    except UnexpectedToken:
        return False
    state.state_stack[:] = trial.state_stack
    state.value_stack[:] = trial.value_stack
    return True


def _resume_at_end(state: ParserState) -> bool:
    """Unwind the parser until the end of input is acceptable (dropping what is open)."""
    values = state.value_stack
    for keep in range(len(values), -1, -1):
        trial = state.copy(deepcopy_values=False)
        del trial.state_stack[keep + 1 :]
        del trial.value_stack[keep:]
        try:
            trial.copy(deepcopy_values=False).feed_token(Token(END, ""), True)
        except UnexpectedToken:
            continue
        state.state_stack[:] = trial.state_stack
        state.value_stack[:] = trial.value_stack
        return True
    return False


def _drop_line_so_far(state: ParserState, line: int) -> int:
    """Unwind what the parser holds of `line`; the number of "{" left open on it.

    A "}" stays: the block it closed stays closed.
    """
    values = state.value_stack
    keep = len(values)
    while keep > 0 and _first_line(values[keep - 1]) >= line and not _is_closing(values[keep - 1]):
        keep -= 1
    depth = 0
    for value in values[keep:]:
        if isinstance(value, Token):
            if value.type == LBRACE:
                depth += 1
            elif value.type == RBRACE:
                depth -= 1
    del state.state_stack[keep + 1 :]
    del values[keep:]
    return depth


def _drop_open_name_list(state: ParserState) -> int:
    """Unwind an `alternative names {` opened on an earlier line; the "{" left open (0 or 1).

    Its names on the lines before are dropped with it: the whole option goes,
    to its "}", as a bad option on one line would.
    """
    values = state.value_stack
    keep = _open_name_list(values)
    if keep is None:
        return 0
    del state.state_stack[keep + 1 :]
    del values[keep:]
    return 1


def _is_closing(value: object) -> bool:
    return isinstance(value, Token) and value.type == RBRACE


def _first_line(value: object) -> int:
    """The line a value on the parser's stack starts on (0 if it has none)."""
    while isinstance(value, Tree):
        if not value.children:
            return 0
        value = value.children[0]
    line = getattr(value, "line", 0)
    return line if isinstance(line, int) else 0


def _drop_rest_of_line(source: Source, token: Token, depth: int) -> Token | None:
    """Drop tokens to the end of the line (of a block the line opens, if it does).

    Returns the newline that ends it, or a "}" that closes the block the line
    is in, or None at the end of the file.
    """
    assert source.stream is not None
    current: Token | None = token
    while current is not None:
        kind = current.type
        if kind == NEWLINE and depth <= 0:
            return current
        if kind == LBRACE:
            depth += 1
        elif kind == RBRACE:
            depth -= 1
            if depth < 0:
                return current
        current = next(source.stream, None)
    return None


def _drop_leading_brace(source: Source) -> None:
    """Drop a "{" next in the stream (and its line's end, if it is alone on its line)."""
    stream = _pushback_stream(source)
    first = next(stream, None)
    if first is None:
        return
    if first.type != LBRACE:
        stream.put_back([first])
        return
    following = next(stream, None)
    if following is not None and following.type != NEWLINE:
        stream.put_back([following])


def _like(kind: str, text: str, where: Token) -> Token:
    return Token.new_borrow_pos(kind, text, where)
