"""The grammar is the one definition of the syntax: the code's and the manual's views agree."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from lark.lexer import PatternStr

from acme_conf.config import dump, load_plan
from acme_conf.config.dump import _BARE, KEYWORDS
from acme_conf.config.lexer import Scanner
from acme_conf.config.parse import GRAMMAR, _Reader
from acme_conf.config.terminals import SPELLING

REPO = Path(__file__).resolve().parents[2]
MANUAL = REPO / "man" / "acme-client.conf.5"
EXAMPLE = REPO / "examples" / "acme-client.conf"
NOT_SPELLED = {"STRING", "_NL", "BLANKS", "COMMENT", "MACRO"}  # described, not spelled


@pytest.fixture(scope="module")
def terminals():  # noqa: ANN201
    return {t.name: t for t in _Reader().parser.terminals}


def test_the_grammar_ships_inside_the_package() -> None:
    shipped = resources.files("acme_conf") / "grammar" / "acme-client.lark"
    assert shipped.is_file()
    assert Path(GRAMMAR).resolve() == Path(str(shipped)).resolve()


def test_every_terminal_has_words_for_syntax_errors(terminals: dict) -> None:
    assert set(terminals) - NOT_SPELLED == set(SPELLING)


def test_every_keyword_spelling_matches_the_grammar(terminals: dict) -> None:
    # A keyword terminal matches its canonical spelling, which -nv prints.
    for name, spelling in SPELLING.items():
        pattern = terminals[name].pattern
        text = pattern.to_regexp()
        assert re.fullmatch(text, spelling), (name, spelling, text)


def test_dump_knows_the_reserved_words(terminals: dict) -> None:
    reserved = {
        t.pattern.value for t in terminals.values()
        if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()
    }
    assert reserved <= KEYWORDS  # every one-word keyword, and every word of the longer ones


@pytest.mark.parametrize("handle", ["name", "key", "certificate", "url", "with", "chain", "full", "domain"])
def test_a_handle_that_is_a_keyword_word_reads_back(handle: str, tmp_path: Path) -> None:
    conf = tmp_path / "words.conf"
    conf.write_text(
        'authority ca {\n\tapi url "https://ca.example/dir"\n\taccount key "/k/a.key"\n}\n'
        f'domain "{handle}" {{\n\tdomain name example.com\n\tdomain key "/k/d.key"\n'
        '\tdomain certificate "/c/d.crt"\n}\n'
    )
    text = dump(load_plan(str(conf)))
    again = tmp_path / "again.conf"
    again.write_text(text)
    assert dump(load_plan(str(again))) == text


def test_dump_bare_words_are_words_of_the_grammar(terminals: dict) -> None:
    word = re.compile(terminals["STRING"].pattern.to_regexp())
    for sample in ("example.com", "2001:db8::1", "::1", "under_score", "a-b", "10.0.0.1"):
        assert _BARE.fullmatch(sample) and word.fullmatch(sample)
    for code in range(128):
        char = chr(code)
        if _BARE.fullmatch(char):
            assert word.fullmatch(char), f"{char!r} may start a bare word but not a word"
        if _BARE.fullmatch("a" + char):
            assert word.fullmatch("a" + char), f"{char!r} may be in a bare word but not a word"


def test_multi_word_keywords_need_a_word_end(terminals: dict) -> None:
    scanner = Scanner(list(terminals.values()), ["BLANKS", "COMMENT", "MACRO"])
    kinds = [t.type for t in scanner.tokens("domain keyserver.example { domain   key x }")]
    assert kinds == ["DOMAIN", "STRING", "LBRACE", "DOMAIN_KEY", "STRING", "RBRACE"]


def test_the_manual_describes_every_keyword() -> None:
    manual = MANUAL.read_text()
    for spelling in SPELLING.values():
        if spelling.isalpha() or " " in spelling:
            assert re.search(rf"^\.(It )?Ic {re.escape(spelling)}\b", manual, re.M) or (
                f".Ic {spelling}" in manual
            ), spelling


def test_the_manual_lists_the_errors() -> None:
    manual = MANUAL.read_text()
    for message in (
        "already defined at", "no api URL specified",
        "no account key file specified", "no domain key file specified for domain",
        "at least certificate file or full certificate chain file must be specified",
        "duplicate api", "duplicate account", "duplicate contact", "duplicate insecure",
        "duplicate ca file", "duplicate domain name", "duplicate key", "duplicate cert",
        "duplicate chain", "duplicate full chain", "duplicate sign with",
        "duplicate challengedir", "duplicate profile", "not an https URL", "not a URL",
        "not an absolute path", "names a directory, not a file",
        "insecure and ca file cannot be used together", "already used Oo as Ar kind Oc at",
        "account key", "domain key", "domain cert", "domain chain", "domain full chain",
        "unknown authority", "no authorities configured", "bad domain syntax",
        "no host", "not a host name or an IP address", "bad host",
        "not a number from 1 to 65535", "a user name or password does not belong in the URL",
        "does not belong in the URL", "it holds a blank or a control character", "not ASCII",
        "contains no PEM certificate", "cannot stat ca file", "is not a host name or an IP address",
        "a link to", "acme-client: Ar file : Ar reason",
        "a wildcard name needs", "bad wildcard", "a wildcard cannot name a domain block", "not a profile name",
        "group read/writable or world read/writable", "not a regular file", "cannot stat",
        "not defined", "bad macro name", "failed to include file", "not UTF-8 text",
        "unterminated quoted string", "unexpected character",
    ):
        assert message in manual, message


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="mandoc is not installed (tools/test.sh installs it)")
@pytest.mark.parametrize("page", ["acme-client.conf.5", "acme-client.1"])
def test_the_manuals_are_clean_under_mandoc_lint(page: str) -> None:
    # From man/, where each page resolves its cross reference to the other.
    result = subprocess.run(["mandoc", "-T", "lint", page], cwd=MANUAL.parent, capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_example_is_valid_and_like_openbsds() -> None:
    plan = load_plan(EXAMPLE)
    assert [a.name for a in plan.authorities] == ["letsencrypt", "letsencrypt-staging"]
    assert [a.api_url for a in plan.authorities] == [
        "https://acme-v02.api.letsencrypt.org/directory",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ]
    assert len(plan.domains) == 1
    assert dump(plan).startswith("authority letsencrypt {")


def test_the_manuals_examples_are_valid(tmp_path: Path) -> None:
    manual = MANUAL.read_text()
    blocks = re.findall(r"^\.Bd -literal -offset indent\n(.*?)^\.Ed", manual, re.M | re.S)
    configurations = [b for b in blocks if "authority" in b and not b.startswith("{")]  # not the run hook's JSON
    assert len(configurations) >= 2
    for index, text in enumerate(configurations):
        path = tmp_path / f"{index}.conf"
        path.write_text(text.replace("\\e", "\\"))
        load_plan(path)
