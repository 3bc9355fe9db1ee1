"""The LALR parser's main loop: lark's tables and errors, fewer steps per token.

lark's loop calls ParserState.feed_token once per token, which looks up five
attributes, checks the token for a terminal callback, and on each reduction
finds the rule's callback in a dict keyed by lark Rule objects, whose
equality test is Python code.  On 10,000 domain blocks (220,000 tokens)
lark's loop took about 0.33 s of the 0.58 s that reading takes; this one
takes 0.16 s, callbacks included.  It does the same shifts and reductions over
the same parse table, compiled once per parser into plain dicts: a shift is
the state to go to, a reduction (size, callback, rule name).

It works in place on lark's own ParserState, so nothing else changes: where
the table has no action for a token, the token goes to lark's feed_token,
which raises lark's UnexpectedToken from that very state; the syntax error
handler (syntax.py) recovers on that state, and lark resumes the parse
through parse_from_state, this loop again.  The end of the input also goes
through lark's feed_token (once per file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Union

from lark import Lark, Token
from lark.exceptions import UnexpectedInput
from lark.parsers.lalr_analysis import Shift
from lark.parsers.lalr_interactive_parser import InteractiveParser
from lark.parsers.lalr_parser import _Parser
from lark.parsers.lalr_parser_state import ParserState

# A state's actions: the next state for a shift (or the goto after a
# reduction), or (how many values it takes, its callback, the rule's name).
_Reduction = tuple[int, Callable[[list], Any], str]
_Table = dict[int, dict[str, Union[int, _Reduction]]]


def use_fast_loop(parser: Lark) -> None:
    """Make `parser` (an LALR parser, as built or loaded from the cache) run this loop.

    This reaches into lark's parser objects, which are not its public
    interface: where a lark release has moved them, lark's own loop stays
    (slower, and the same reading), never an error.  pyproject.toml keeps
    lark below 2, and CI reads the corpus both ways with the newest release.
    """
    try:
        lalr = parser.parser.parser  # ParsingFrontend -> LALR_Parser
        slow = lalr.parser
        if not isinstance(slow, _FastParser):
            lalr.parser = _FastParser(slow.parse_table, slow.callbacks, slow.debug)
    except (AttributeError, TypeError):
        return


class _FastParser(_Parser):
    """lark's _Parser with parse_from_state's loop compiled."""

    def __init__(self, parse_table: Any, callbacks: dict, debug: bool = False) -> None:
        super().__init__(parse_table, callbacks, debug)
        # A terminal callback (a transformer method named after a terminal)
        # would have to run on every shift; ours has none, but lark's own
        # loop stays for a parser that has them.
        plain = (
            callbacks
            and not any(isinstance(key, str) for key in callbacks)
            and all(isinstance(state, int) for state in parse_table.states)
        )
        self._table = _compile(parse_table.states, callbacks) if plain else None

    def parse_from_state(self, state: ParserState, last_token: Token | None = None) -> Any:
        if self._table is None:
            return super().parse_from_state(state, last_token)
        try:
            token = _feed(state, state.lexer.lex(state), self._table)
            token = last_token if token is None else token
            if token is None:
                end = Token("$END", "", 0, 1, 1)
            else:
                end = Token.new_borrow_pos("$END", "", token)
            return state.feed_token(end, True)
        except UnexpectedInput as error:
            error.interactive_parser = InteractiveParser(self, state, state.lexer)
            raise


def _compile(states: dict, callbacks: dict) -> _Table:
    table: _Table = {}
    for state, actions in states.items():
        row: dict[str, int | _Reduction] = {}
        for symbol, (action, argument) in actions.items():
            if action is Shift:
                row[symbol] = argument
            else:  # Reduce: argument is the rule
                row[symbol] = (len(argument.expansion), callbacks[argument], argument.origin.name)
        table[state] = row
    return table


def _feed(state: ParserState, tokens: Iterable[Token], table: _Table) -> Token | None:
    """Feed `tokens` to `state` as ParserState.feed_token would; the last one fed."""
    states = state.state_stack
    values = state.value_stack
    token = None
    for token in tokens:
        kind = token.type
        while True:
            action = table[states[-1]].get(kind)
            if action.__class__ is int:  # shift, and on to the next token
                states.append(action)  # type: ignore[arg-type]
                values.append(token)
                break
            if action is None:
                state.feed_token(token)  # raises lark's UnexpectedToken here
                break
            size, callback, origin = action  # type: ignore[misc]
            if size:
                children = values[-size:]
                del states[-size:]
                del values[-size:]
            else:
                children = []
            values.append(callback(children))
            states.append(table[states[-1]][origin])  # type: ignore[arg-type]
    return token
