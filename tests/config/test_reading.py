"""Reading files: lines, characters, includes and macros."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from acme_conf.config import load_plan

from acme_conf.config.plan import Plan

from config_testing import AUTHORITY, domain, errors_of, plan_of


def macro_warnings(plan: Plan) -> list[str]:
    return [warning for warning in plan.warnings if "macro" in warning]


# ---- lines and characters ----------------------------------------------------


def test_line_numbers_count_continued_lines() -> None:
    text = AUTHORITY + "domain a.example {\\\n\tdomain key \\\n\t\t\"/x/a.key\"\n\tbogus\n}\n"
    assert errors_of(text) == [
        'test.conf:8: syntax error: expected a domain option or "}", found "bogus"'
    ]


def test_continuation_joins_words_and_quoted_strings() -> None:
    text = AUTHORITY + (
        'domain a.ex\\\nample {\n\tdomain key "/nonexistent-acme-test/k/\\\na.key"\n'
        '\tdomain certificate "/nonexistent-acme-test/c/a.crt"\n}\n'
    )
    job = plan_of(text).domains[0]
    assert job.handle == "a.example"
    assert str(job.domain_key) == "/nonexistent-acme-test/k/a.key"
    assert job.location.line == 5


def test_a_comment_ending_in_a_backslash_goes_on_to_the_next_line() -> None:
    # As upstream: the comment takes the next line with it.
    text = AUTHORITY + "# not used \\\n" + domain("a.example")
    assert errors_of(text)[0] == (
        'test.conf:7: syntax error: expected "authority", "domain", "hook changed", "hook failed", "include" or a macro'
        ' definition, found "domain key"'
    )


def test_crlf_line_ends_are_accepted() -> None:
    text = (AUTHORITY + domain("a.example")).replace("\n", "\r\n")
    assert plan_of(text).domains[0].handle == "a.example"


def test_last_line_without_newline() -> None:
    text = AUTHORITY + domain("a.example").rstrip("\n")
    assert plan_of(text).domains[0].handle == "a.example"


def test_error_on_last_line_without_newline_has_its_line() -> None:
    assert errors_of(AUTHORITY + "domain") == [
        'test.conf:5: syntax error: expected a domain handle after "domain", found end of line'
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment", "  \t\n# c\n\n   # c2\n"])
def test_empty_configurations_are_valid(text: str) -> None:
    plan = plan_of(text)
    assert plan.authorities == () and plan.domains == ()


def test_non_ascii_is_allowed_in_quotes_only() -> None:
    plan = plan_of(AUTHORITY + domain("a.example", 'profile "prüfung"'))
    assert plan.domains[0].profile == "prüfung"
    assert errors_of(AUTHORITY + domain("a.example", "profile prüfung")) == [
        'test.conf:8: syntax error: unexpected character "ü"'
    ]


def test_control_characters_are_refused_and_shown_escaped() -> None:
    errors = errors_of(AUTHORITY + domain("a.example", 'profile "a\x1bb"'))
    assert errors == [
        "test.conf:8: syntax error: unterminated quoted string (a quoted string ends on its line)"
    ]
    errors = errors_of(AUTHORITY + domain("a.example", "profile a\x07"))
    assert errors == ['test.conf:8: syntax error: unexpected character "\\x07"']


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conf"
    path.write_bytes(AUTHORITY.encode() + b"# caf\xe9\n")
    assert errors_of(path) == [f"{path}:5: not UTF-8 text (byte 0xe9)"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.conf"
    assert errors_of(path) == [f"{path}: No such file or directory"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert errors_of(tmp_path) == [f"{tmp_path}: Is a directory"]


# ---- include -------------------------------------------------------------------


def test_include_reads_the_file_in_place(tmp_path: Path) -> None:
    (tmp_path / "authorities.conf").write_text(AUTHORITY)
    main = tmp_path / "main.conf"
    main.write_text(f'include "{tmp_path}/authorities.conf"\n' + domain("a.example", "sign with ca"))
    plan = load_plan(main)
    assert [a.name for a in plan.authorities] == ["ca"]
    assert plan.authorities[0].location.file == f"{tmp_path}/authorities.conf"
    assert plan.domains[0].authority.name == "ca"


def test_include_relative_path_is_read_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "authorities.conf").write_text(AUTHORITY)
    main = tmp_path / "main.conf"
    main.write_text('include "sub/authorities.conf"\n' + domain("a.example"))
    monkeypatch.chdir(tmp_path)
    plan = load_plan(main)
    assert plan.domains[0].authority.name == "ca"
    assert plan.warnings[0] == (
        f"{main}:1: include sub/authorities.conf: a relative path is read from the current directory"
    )
    monkeypatch.chdir(tmp_path / "sub")
    assert errors_of(main) == [
        f"{main}:1: failed to include file sub/authorities.conf: No such file or directory",
        f"{main}:2: no authorities configured",
    ]


def test_errors_in_included_files_come_in_reading_order(tmp_path: Path) -> None:
    inner = tmp_path / "inner.conf"
    inner.write_text("authority x {\n\tbogus\n}\n")
    main = tmp_path / "main.conf"
    main.write_text(f'bad1\ninclude "{inner}"\nbad2\n')
    assert errors_of(main) == [
        f'{main}:1: syntax error: expected "=" after "bad1", found end of line',
        f'{inner}:2: syntax error: expected an authority option or "}}", found "bogus"',
        f'{main}:3: syntax error: expected "=" after "bad2", found end of line',
    ]


def test_macros_cross_include_boundaries_in_order(tmp_path: Path) -> None:
    inner = tmp_path / "inner.conf"
    inner.write_text('keys = "/nonexistent-acme-test/k"\n')
    main = tmp_path / "main.conf"
    main.write_text(
        AUTHORITY
        + f'include "{inner}"\n'
        + "domain a.example {\n\tdomain key $keys/a.key\n"
        + '\tdomain certificate "/nonexistent-acme-test/c/a.crt"\n}\n'
    )
    assert str(load_plan(main).domains[0].domain_key) == "/nonexistent-acme-test/k/a.key"


def test_include_loop_is_an_error(tmp_path: Path) -> None:
    first, second = tmp_path / "first.conf", tmp_path / "second.conf"
    first.write_text(f'include "{second}"\n')
    second.write_text(f'# loop\ninclude "{first}"\n')
    assert errors_of(first) == [
        f"{second}:2: failed to include file {first}: it is already being read"
    ]


def test_include_of_a_missing_file_is_an_error_at_its_line(tmp_path: Path) -> None:
    main = tmp_path / "main.conf"
    main.write_text(f'# first\ninclude "{tmp_path}/nowhere.conf"\n')
    assert errors_of(main) == [
        f"{main}:2: failed to include file {tmp_path}/nowhere.conf: No such file or directory"
    ]


def test_include_of_an_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    secret = tmp_path / "secret.conf"
    secret.write_text(AUTHORITY)
    secret.chmod(0)
    main = tmp_path / "main.conf"
    main.write_text(f'include "{secret}"\n')
    assert errors_of(main) == [f"{main}:1: failed to include file {secret}: Permission denied"]


def test_include_nesting_is_limited(tmp_path: Path) -> None:
    for level in range(20):
        (tmp_path / f"{level}.conf").write_text(f'include "{tmp_path}/{level + 1}.conf"\n')
    (tmp_path / "20.conf").write_text("")
    errors = errors_of(tmp_path / "0.conf")
    assert len(errors) == 1 and errors[0].endswith("includes nested too deeply")


def test_include_needs_a_file_name() -> None:
    assert errors_of("include\n") == [
        'test.conf:1: syntax error: expected a file name after "include", found end of line'
    ]


# ---- macros ----------------------------------------------------------------------


def test_macro_used_before_its_definition_is_undefined() -> None:
    text = AUTHORITY + domain("a.example", "profile $p") + 'p = "x"\n'
    assert errors_of(text) == ["test.conf:8: macro 'p' not defined"]


def test_later_definition_wins_from_there_on() -> None:
    text = (
        AUTHORITY + 'p = "first"\n' + domain("a.example", "profile $p")
        + 'p = "second"\n' + domain("b.example", "profile $p")
    )
    assert [job.profile for job in plan_of(text).domains] == ["first", "second"]


def test_unused_macro_is_a_warning_at_its_definition() -> None:
    plan = plan_of('unused = "x"\n' + AUTHORITY)
    assert macro_warnings(plan) == ["test.conf:1: macro 'unused' not used"]


def test_macro_value_of_several_words_is_joined_by_one_space() -> None:
    text = 'names = www.a.example    "mail.a.example"\n' + AUTHORITY
    text += domain("a.example", "alternative names { $names }")
    assert plan_of(text).domains[0].names == ("a.example", "www.a.example", "mail.a.example")


def test_macros_are_not_expanded_in_quotes() -> None:
    text = 'p = "x"\n' + AUTHORITY + domain("a.example", 'profile "$p"')
    plan = plan_of(text)
    assert plan.domains[0].profile == "$p"
    assert macro_warnings(plan) == ["test.conf:1: macro 'p' not used"]


def test_text_from_a_macro_is_not_expanded_again() -> None:
    text = 'a = "$b"\nb = "x"\n' + AUTHORITY + domain("a.example", "profile $a")
    assert errors_of(text) == [
        'test.conf:10: syntax error: expected a profile name after "profile", found "$b"'
    ]


def test_a_macro_can_hold_keywords_and_braces() -> None:
    text = 'open = "domain b.example {"\n' + AUTHORITY + "$open\n"
    text += '\tdomain key "/nonexistent-acme-test/k/b.key"\n'
    text += '\tdomain certificate "/nonexistent-acme-test/c/b.crt"\n}\n'
    assert plan_of(text).domains[0].handle == "b.example"


def test_macro_definition_inside_a_block_is_a_syntax_error() -> None:
    text = AUTHORITY + domain("a.example", "x = 1")
    assert errors_of(text) == [
        'test.conf:8: syntax error: expected a domain option or "}", found "x"'
    ]


def test_keyword_cannot_be_a_macro_name() -> None:
    assert errors_of('profile = "x"\n') == [
        'test.conf:1: syntax error: expected "authority", "domain", "hook changed", "hook failed", "include" or a macro'
        ' definition, found "profile"'
    ]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_include_of_a_device_is_refused(tmp_path: Path, device: str) -> None:
    main = tmp_path / "main.conf"
    main.write_text(f'include "{device}"\n')
    assert errors_of(main) == [f"{main}:1: failed to include file {device}: not a regular file (a character device)"]


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)
    assert errors_of(fifo) == [f"{fifo}: not a regular file (a FIFO)"]


# ---- messages that say what and where ---------------------------------------------


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ('api uri "https://acme.example/dir"', "api uri"),
        ("api   uri https://acme.example/dir", "api uri https://acme.example/dir"),
        ('api \\\n\turi "https://acme.example/dir"', "api uri"),  # continued line
        ('account keys "/nonexistent-acme-test/a/ca.pem"', "account keys"),
        ('ca "/x.pem"', "ca"),
    ],
)
def test_misspelled_keyword_is_shown_as_written(line: str, found: str) -> None:
    text = AUTHORITY.replace("}\n", f"\t{line}\n}}\n")
    assert errors_of(text) == [
        f'test.conf:4: syntax error: expected an authority option or "}}", found "{found}"'
    ]


def test_misspelled_domain_keyword_is_a_bad_option_not_a_new_block() -> None:
    # Without a "{" on its line, "domain ..." is not taken for the next
    # block (which would make every later option of the block an error).
    text = AUTHORITY + domain("a.example", 'domain chain cert "chain.pem"', 'profile "x"')
    assert errors_of(text) == [
        'test.conf:8: syntax error: expected a domain option or "}", found "domain chain cert"'
    ]


def test_block_without_its_close_is_still_closed_by_the_next_block() -> None:
    text = AUTHORITY + domain("a.example").removesuffix("}\n") + domain("b.example")
    assert errors_of(text) == [
        'test.conf:8: syntax error: expected a domain option or "}", found "domain"'
    ]


def test_misspelling_inside_a_macro_value_is_shown_expanded() -> None:
    text = 'bad = "api uri"\n' + AUTHORITY.replace("}\n", '\t$bad "https://x.example/"\n}\n')
    assert errors_of(text) == [
        'test.conf:5: syntax error: expected an authority option or "}", found "api uri"'
    ]


@pytest.mark.parametrize(
    ("block", "line", "name"),
    [
        (domain("-a.example"), 5, "-a.example"),
        (domain("a.example", "domain name -b.example"), 8, "-b.example"),
        (domain("a.example", "alternative names { b.example, -c.example }"), 8, "-c.example"),
        (domain("a.example", "alternative names {\n\t\tb.example\n\t\t--c-d.example\n\t}"), 10, "--c-d.example"),
    ],
)
def test_name_starting_with_a_dash_is_named(block: str, line: int, name: str) -> None:
    assert errors_of(AUTHORITY + block) == [
        f'test.conf:{line}: syntax error: "{name}" is not a host name or an IP address'
    ]


@pytest.mark.parametrize(
    ("names", "line"),
    [
        ("{\n\t\tb.example,\n\t\tc!.example\n\t}", 10),
        ("{\n\t\tb.example,\n\t\tc!.example }", 10),
        ("{\n\t\tb.example\n\t\t!c.example\n\t}", 10),
        ("{\n\t\t!c.example\n\t\tb.example\n\t}", 9),
        ("{\n\t\t!c.example\n\t}", 9),  # nothing left of the list: its "}" came too early
        ("{ b.example,\n\t\t!c.example\n\t}", 9),
    ],
)
def test_error_in_a_list_of_names_over_several_lines_drops_the_list(names: str, line: int) -> None:
    # One error: not the "}" that ends the list, nor the block's, nor the end of the file.
    text = AUTHORITY + domain("a.example", f"alternative names {names}") + domain("d.example")
    assert errors_of(text) == [f'test.conf:{line}: syntax error: unexpected character "!"']


def test_other_values_starting_with_a_dash_are_unexpected_characters() -> None:
    text = AUTHORITY + domain("a.example", "challengedir -www")
    assert errors_of(text) == ['test.conf:8: syntax error: unexpected character "-"']


def test_first_definitions_in_another_file_are_named_with_their_file(tmp_path: Path) -> None:
    inner = tmp_path / "inner.conf"
    inner.write_text(AUTHORITY + domain("a.example"))
    main = tmp_path / "main.conf"
    main.write_text(
        f'include "{inner}"\n'
        + AUTHORITY
        + domain("a.example").replace("/a.example.", "/other.")
        + domain("b.example").replace("k/b.example", "k/a.example")
        + domain("c.example", "sign with later")
        + AUTHORITY.replace("authority ca", "authority later").replace("a/ca", "a/later")
    )
    assert errors_of(main) == [
        f"{main}:2: authority ca already defined at {inner}:1",
        f"{main}:6: domain a.example already defined at {inner}:5",
        f"{main}:11: domain key file /nonexistent-acme-test/k/a.example.key already used at {inner}:6",
        (
            f"{main}:17: sign with later: unknown authority (authority later is defined below,"
            " at line 19; define it before the domains that use it)"
        ),
    ]


@pytest.mark.parametrize(
    "block",
    [
        # The "{" on the next line: supplied, and the "{" there dropped, at each block.
        'domain d{i}.example\n{{\n\tdomain key "/k/{i}"\n\tdomain certificate "/c/{i}"\n}}\n',
        # A misspelled keyword: the words after it looked at, at each block.
        'domain d{i}.example {{\n\tapi uri "/k/{i}"\n\tdomain key "/k/{i}"\n}}\n',
    ],
)
def test_thousands_of_errors_are_each_reported(block: str) -> None:
    # Recovering from one error must not slow down or deepen the reading of
    # the rest (it once wrapped the token stream once more per error).
    count = 3000
    errors = errors_of(AUTHORITY + "".join(block.format(i=i) for i in range(count)))
    assert len(errors) == count
