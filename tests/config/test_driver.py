"""The compiled parser loop (config/driver.py) reads every text as lark's own loop does.

Same blocks, same options at the same lines, same errors and warnings in the
same words: on every corpus file, and on random soups of the language's
tokens, which put the syntax error handler's recovery through its paces.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acme_conf.config import parse
from acme_conf.config.driver import _FastParser
from acme_conf.config.source import Reading

from config_testing import CORPUS

CORPUS_FILES = sorted(CORPUS.glob("*/*.conf"))


def outcome(reading: Reading) -> tuple[list[str], list[str], list[str]]:
    blocks = [f"{block!r} {block.file} {block.order} {block.end_line}" for block in reading.blocks]
    return (
        blocks,
        [str(error) for error in reading.sorted_errors()],
        [str(warning) for warning in reading.sorted_warnings()],
    )


def both_ways(monkeypatch: pytest.MonkeyPatch, text: str) -> tuple[tuple, tuple]:
    """What the compiled loop reads of `text`, and what lark's own loop reads."""
    compiled = outcome(parse.read_config_text(text, "t.conf"))
    with monkeypatch.context() as patched:
        patched.setattr(parse, "use_fast_loop", lambda parser: None)
        plain = outcome(parse.read_config_text(text, "t.conf"))
    return compiled, plain


def test_the_reader_runs_the_compiled_loop() -> None:
    reader = parse._Reader()
    assert isinstance(reader.parser.parser.parser.parser, _FastParser)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_reads_the_same(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    compiled, plain = both_ways(monkeypatch, path.read_text())
    assert compiled == plain


PIECES = [
    "authority", "domain", "include", "ca", "{", "}", ",", "=", "\n", "\n", "\n",
    "api url", "account key", "alternative names", "domain key", "domain name",
    "domain full chain certificate", "sign with", "challengedir", "rsa", "ecdsa",
    "p256", '"/x/y.pem"', "'q'", "a.example", "$m", "m", "#c", "\\\n", '"open',
    "-", "!", '""',
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_token_soup_reads_the_same(monkeypatch: pytest.MonkeyPatch, pieces: list[str]) -> None:
    text = " ".join(pieces)
    compiled, plain = both_ways(monkeypatch, text)
    assert compiled == plain
